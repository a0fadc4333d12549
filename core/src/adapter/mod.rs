//! Provider adapters: pure translation between the OpenAI API the clients speak and each
//! provider's wire format. No I/O here: `build` writes the upstream request, `response` reads a
//! complete answer, `error_body` makes a provider's error OpenAI-shaped, `stream` translates
//! a stream event by event.

mod anthropic;
mod bedrock;
pub(crate) mod common;
mod gemini;

use crate::config::Deployment;
use crate::error::Error;
use crate::ports::UpstreamRequest;
use crate::provider::{endpoint_url, Wire};
use crate::relay::{OpenAiStream, StreamTranslator};
use crate::request::ModelRequest;
use serde_json::{json, Value};

pub use anthropic::{AnthropicStream, ANTHROPIC_DEFAULT_MAX_TOKENS, ANTHROPIC_VERSION};
pub use bedrock::BedrockStream;
pub use gemini::GeminiStream;

/// The HTTP call for `req` on deployment `d`, at `now_ms` (Bedrock signs the time).
pub fn build(d: &Deployment, req: &ModelRequest, now_ms: f64) -> Result<UpstreamRequest, Error> {
    let mut headers: Vec<(&'static str, String)> = Vec::with_capacity(5);
    let content_type = req
        .upload
        .as_ref()
        .map_or("application/json", |u| u.content_type.as_str());
    headers.push(("content-type", content_type.to_string()));
    if req.stream {
        headers.push(("accept", "text/event-stream".to_string()));
    }
    let (url, body) = match d.provider.wire {
        Wire::OpenAi => {
            if let Some(key) = &d.api_key {
                headers.push(("authorization", format!("Bearer {key}")));
            }
            if let Some(org) = &d.organization {
                headers.push(("openai-organization", org.clone()));
            }
            (
                endpoint_url(&d.api_base, req.endpoint.path()),
                req.upstream_body(d),
            )
        }
        Wire::Azure => {
            match (&d.azure_ad_token, &d.api_key) {
                (Some(token), _) => headers.push(("authorization", format!("Bearer {token}"))),
                (None, Some(key)) => headers.push(("api-key", key.clone())),
                (None, None) => {}
            }
            let version = d
                .api_version
                .as_deref()
                .unwrap_or(crate::provider::AZURE_DEFAULT_API_VERSION);
            let url = format!(
                "{}/openai/deployments/{}{}?api-version={}",
                d.api_base.trim_end_matches('/'),
                d.model,
                req.endpoint.path(),
                version
            );
            (url, req.upstream_body(d))
        }
        Wire::Anthropic => {
            if let Some(key) = &d.api_key {
                headers.push(("x-api-key", key.clone()));
            }
            headers.push(("anthropic-version", ANTHROPIC_VERSION.to_string()));
            (
                endpoint_url(&d.api_base, "/v1/messages"),
                anthropic::request_body(d, req)?,
            )
        }
        Wire::Bedrock => {
            let url = endpoint_url(&d.api_base, &bedrock::path(d, req.stream));
            let body = bedrock::request_body(d, req)?;
            if let Some(aws) = &d.aws {
                headers.extend(bedrock::signed_headers(aws, &url, &body, now_ms));
            }
            (url, body)
        }
        Wire::Gemini => {
            if let Some(key) = &d.api_key {
                headers.push(("x-goog-api-key", key.clone()));
            }
            (
                endpoint_url(&d.api_base, &gemini::path(d, req.stream)),
                gemini::request_body(d, req)?,
            )
        }
    };
    Ok(UpstreamRequest {
        method: "POST",
        url,
        headers,
        body,
        // Speech comes back as audio, streamed through as it arrives.
        stream: req.stream || req.endpoint == crate::request::Endpoint::Speech,
    })
}

/// A complete 2xx answer as the OpenAI JSON the client expects.
pub fn response(d: &Deployment, req: &ModelRequest, body: Vec<u8>) -> Result<Vec<u8>, Error> {
    match d.provider.wire {
        Wire::OpenAi | Wire::Azure => Ok(body),
        Wire::Anthropic => anthropic::response(&body, &req.model),
        Wire::Gemini => gemini::response(&body, &req.model),
        Wire::Bedrock => bedrock::response(&body, &req.model),
    }
}

/// A provider's error body, OpenAI-shaped (`{"error":{message,type,param,code}}`), keeping the
/// words the router classifies by (context length, content policy).
pub fn error_body(d: &Deployment, status: u16, body: Vec<u8>) -> Vec<u8> {
    match d.provider.wire {
        Wire::OpenAi | Wire::Azure => body,
        Wire::Anthropic => anthropic::error_body(status, &body),
        Wire::Gemini => gemini::error_body(status, &body),
        Wire::Bedrock => bedrock::error_body(status, &body),
    }
}

/// The stream translator for `d`.
pub fn stream(d: &Deployment, req: &ModelRequest) -> Box<dyn StreamTranslator> {
    match d.provider.wire {
        Wire::OpenAi | Wire::Azure => Box::new(OpenAiStream),
        Wire::Anthropic => Box::new(AnthropicStream::new(&req.model)),
        Wire::Gemini => Box::new(GeminiStream::new(&req.model)),
        Wire::Bedrock => Box::new(BedrockStream::new(&req.model)),
    }
}

/// Whether `d` streams in AWS event-stream frames rather than SSE.
pub fn event_stream_framing(d: &Deployment) -> bool {
    d.provider.wire == Wire::Bedrock
}

/// An OpenAI error object.
pub(crate) fn openai_error(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

#[cfg(test)]
mod tests;
