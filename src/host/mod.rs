//! The host: what runs the core's futures without a JavaScript promise per await. JavaScript
//! calls a synchronous export (a request starts, an operation's result arrives, a timer fires,
//! the client goes away); the executor moves every task it can and answers with one buffer of
//! instructions (`wire`) for JavaScript to carry out.

pub mod executor;
pub mod wire;
