//! Client protocols other than Chat Completions, translated to and from the one internal
//! representation the router and every provider adapter speak (an OpenAI chat request, its
//! answer and its chunks). Pure mappers: no I/O.

pub mod messages;
