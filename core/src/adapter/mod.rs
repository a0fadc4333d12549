//! Provider adapters: pure translation between the OpenAI API the clients speak and each
//! provider's wire format, one file per provider behind the one [`Adapter`] trait, dispatched
//! once by the deployment's wire ([`for_wire`]). No I/O here: an adapter writes the upstream
//! request, reads a complete answer, makes a provider's error OpenAI-shaped, and translates a
//! stream event by event.

/// What every translating adapter writes the same way: its answers, errors and stream come
/// from its own module's `response`, `error_body` and stream translator.
macro_rules! translated_answers {
    ($stream:ident) => {
        fn response(
            &self,
            _d: &Deployment,
            req: &ModelRequest,
            body: Vec<u8>,
        ) -> Result<Vec<u8>, Error> {
            response(&body, &req.model)
        }

        fn error_body(&self, status: u16, body: Vec<u8>) -> Vec<u8> {
            error_body(status, &body)
        }

        fn stream(&self, _d: &Deployment, req: &ModelRequest) -> Box<dyn StreamTranslator> {
            Box::new($stream::new(&req.model))
        }
    };
}

mod anthropic;
mod bedrock;
pub(crate) mod common;
mod gemini;
pub mod openai;
mod text_completion;
mod vertex;

use crate::config::Deployment;
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorClass};
use crate::ports::UpstreamRequest;
use crate::provider::Wire;
use crate::relay::StreamTranslator;
use crate::request::ModelRequest;
use serde_json::{json, Value};

pub use anthropic::{AnthropicStream, ANTHROPIC_DEFAULT_MAX_TOKENS, ANTHROPIC_VERSION};
pub use bedrock::BedrockStream;
pub use gemini::GeminiStream;
pub use openai::OpenAiStream;

/// One provider's wire format.
pub trait Adapter {
    /// The endpoints it serves (routing skips deployments that serve none of the request's).
    fn serves(&self, endpoint: Endpoint) -> bool {
        endpoint == Endpoint::Chat
    }
    /// The URL and body of the call for `req`, its auth headers pushed onto `headers`.
    fn request(
        &self,
        d: &Deployment,
        req: &ModelRequest,
        now_ms: f64,
        headers: &mut Vec<(&'static str, String)>,
    ) -> Result<(String, Vec<u8>), Error>;
    /// A complete 2xx answer as the OpenAI JSON the client expects.
    fn response(
        &self,
        _d: &Deployment,
        _req: &ModelRequest,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, Error> {
        Ok(body)
    }
    /// A provider's error body, OpenAI-shaped (`{"error":{message,type,param,code}}`), keeping
    /// the words the router classifies by (context length, content policy).
    fn error_body(&self, _status: u16, body: Vec<u8>) -> Vec<u8> {
        body
    }
    /// The class of its error (`body` as [`Adapter::error_body`] made it): what decides
    /// retries, cooldowns and which fallbacks apply. The words each provider uses for an
    /// over-long prompt or a content-policy refusal live with its adapter.
    fn error_class(&self, status: u16, body: &[u8]) -> ErrorClass {
        common::classify(status, body, &[], &[])
    }
    /// The translator of its stream events into OpenAI chunks.
    fn stream(&self, d: &Deployment, req: &ModelRequest) -> Box<dyn StreamTranslator>;
    /// Whether it streams in AWS event-stream frames rather than SSE.
    fn event_stream_framing(&self) -> bool {
        false
    }
    /// The OpenAI chat parameters it translates; `None`: it takes OpenAI's body as it is.
    /// Any other OpenAI parameter in a request is refused, or dropped with `drop_params`.
    fn takes(&self) -> Option<&'static [&'static str]> {
        None
    }
}

/// OpenAI's chat parameters (besides `model` and `messages`): what a translating provider is
/// checked against. Fields outside this list are not OpenAI's and are left alone.
const OPENAI_CHAT_PARAMS: &[&str] = &[
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "presence_penalty",
    "response_format",
    "seed",
    "service_tier",
    "stop",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "user",
    "functions",
    "function_call",
    "reasoning_effort",
    "modalities",
    "audio",
    "prediction",
    "store",
    "web_search_options",
];

/// The OpenAI parameters of `req` that `d`'s provider does not take, unless dropping them is
/// allowed (`drop_params` on the deployment, in `litellm_settings` or in the request).
fn refused_params(d: &Deployment, req: &ModelRequest) -> Result<(), Error> {
    let Some(takes) = of(d).takes() else {
        return Ok(());
    };
    if d.drop_params || req.drops_params() {
        return Ok(());
    }
    let refused: Vec<&str> = req
        .body
        .iter()
        .filter(|(k, v)| !v.is_null() && OPENAI_CHAT_PARAMS.contains(&k.as_str()))
        .map(|(k, _)| k.as_str())
        .filter(|k| !takes.contains(k))
        .collect();
    match refused.first() {
        None => Ok(()),
        Some(first) => Err(Error::InvalidRequest {
            message: format!(
                "{} deployments do not take {}. Set `drop_params: true` (in litellm_settings, the deployment's litellm_params, or this request) to drop them.",
                d.provider.name,
                refused.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            ),
            param: Some((*first).to_string()),
            code: Some("unsupported_params"),
        }),
    }
}

/// The adapter for a wire format: the one place a provider is dispatched.
pub fn for_wire(wire: Wire) -> &'static dyn Adapter {
    match wire {
        Wire::OpenAi => &openai::OpenAi,
        Wire::Azure => &openai::Azure,
        Wire::Anthropic => &anthropic::Anthropic,
        Wire::Gemini => &gemini::Gemini,
        Wire::Bedrock => &bedrock::Bedrock,
        Wire::TextCompletion => &text_completion::TextCompletion,
        Wire::Vertex => &vertex::Vertex,
    }
}

fn of(d: &Deployment) -> &'static dyn Adapter {
    for_wire(d.provider.wire)
}

/// Whether `d` can serve `endpoint`: its provider offers it and its wire's adapter writes it.
pub fn serves(d: &Deployment, endpoint: Endpoint) -> bool {
    d.provider.serves(endpoint) && of(d).serves(endpoint)
}

/// The HTTP call for `req` on deployment `d`, at `now_ms` (Bedrock signs the time).
pub fn build(d: &Deployment, req: &ModelRequest, now_ms: f64) -> Result<UpstreamRequest, Error> {
    refused_params(d, req)?;
    // Parameters this deployment must never get (`additional_drop_params`).
    let trimmed;
    let req = if d.additional_drop_params.is_empty() {
        req
    } else {
        let mut r = req.clone();
        r.body.retain(|k, _| !d.additional_drop_params.contains(k));
        trimmed = r;
        &trimmed
    };
    let mut headers: Vec<(&'static str, String)> = Vec::with_capacity(5);
    let content_type = req
        .upload
        .as_ref()
        .map_or("application/json", |u| u.content_type.as_str());
    headers.push(("content-type", content_type.to_string()));
    if req.stream {
        headers.push(("accept", "text/event-stream".to_string()));
    }
    let (url, body) = of(d).request(d, req, now_ms, &mut headers)?;
    Ok(UpstreamRequest {
        method: "POST",
        url,
        headers,
        body,
        // Speech comes back as audio, streamed through as it arrives.
        stream: req.stream || req.endpoint == Endpoint::Speech,
    })
}

/// A complete 2xx answer as the OpenAI JSON the client expects.
pub fn response(d: &Deployment, req: &ModelRequest, body: Vec<u8>) -> Result<Vec<u8>, Error> {
    of(d).response(d, req, body)
}

/// A provider's error body, OpenAI-shaped.
pub fn error_body(d: &Deployment, status: u16, body: Vec<u8>) -> Vec<u8> {
    of(d).error_body(status, body)
}

/// The error for a non-2xx answer from `d`: its body OpenAI-shaped, classified once by the
/// adapter, with the wait the provider asked for.
pub fn upstream_error(
    d: &Deployment,
    status: u16,
    body: Vec<u8>,
    retry_after_ms: Option<u64>,
) -> Error {
    let adapter = of(d);
    let body = adapter.error_body(status, body);
    Error::Upstream {
        status,
        class: adapter.error_class(status, &body),
        body,
        retry_after_ms,
    }
}

/// The stream translator for `d`.
pub fn stream(d: &Deployment, req: &ModelRequest) -> Box<dyn StreamTranslator> {
    of(d).stream(d, req)
}

/// Whether `d` streams in AWS event-stream frames rather than SSE.
pub fn event_stream_framing(d: &Deployment) -> bool {
    of(d).event_stream_framing()
}

/// An OpenAI error object.
pub(crate) fn openai_error(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

#[cfg(test)]
mod tests;
