//! `text-completion-openai/`: a model that only has OpenAI's `/completions` (the `-instruct`
//! models). A completion request passes through; a chat request is turned into a completion,
//! as LiteLLM does: the messages' text becomes the prompt, the completion's text the
//! assistant's message, each stream chunk's `text` a chunk's `delta.content`.

use super::openai::{body, OpenAiStream};
use super::Adapter;
use crate::chat;
use crate::config::Deployment;
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorClass};
use crate::provider::endpoint_url;
use crate::relay::{Piece, StreamTranslator};
use crate::request::ModelRequest;
use crate::sse::SseEvent;
use serde_json::{json, Map, Value};

pub struct TextCompletion;

/// The chat parameters a completion takes (`max_completion_tokens` as `max_tokens`).
const TAKES: &[&str] = &[
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "seed",
    "user",
    "stream",
    "stream_options",
];

impl Adapter for TextCompletion {
    fn serves(&self, endpoint: Endpoint) -> bool {
        matches!(endpoint, Endpoint::Chat | Endpoint::Completions)
    }

    fn request(
        &self,
        d: &Deployment,
        req: &ModelRequest,
        _now_ms: f64,
        headers: &mut Vec<(&'static str, String)>,
    ) -> Result<(String, Vec<u8>), Error> {
        super::openai::auth_headers(d, headers);
        let url = endpoint_url(&d.api_base, Endpoint::Completions.path());
        if req.endpoint == Endpoint::Completions {
            return Ok((url, body(req, d)));
        }
        let mut out = Map::new();
        out.insert("model".into(), json!(d.model));
        out.insert("prompt".into(), json!(prompt(req)));
        for key in TAKES.iter().filter(|k| **k != "max_completion_tokens") {
            let value = req
                .body
                .get(*key)
                .or_else(|| d.body_defaults.get(*key))
                .filter(|v| !v.is_null());
            if let Some(v) = value {
                out.insert((*key).to_string(), v.clone());
            }
        }
        if let Some(v) = req
            .body
            .get("max_completion_tokens")
            .filter(|v| !v.is_null())
        {
            out.entry("max_tokens").or_insert_with(|| v.clone());
        }
        if req.stream {
            out.insert("stream_options".into(), json!({"include_usage": true}));
        }
        Ok((url, Value::Object(out).to_string().into_bytes()))
    }

    fn response(
        &self,
        _d: &Deployment,
        req: &ModelRequest,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, Error> {
        if req.endpoint == Endpoint::Completions {
            return Ok(body);
        }
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| super::common::unreadable("OpenAI", e))?;
        let choices: Vec<Value> = v
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                json!({
                    "index": c.get("index").cloned().unwrap_or(json!(0)),
                    "message": {"role": "assistant", "content": c.get("text").cloned().unwrap_or(json!(""))},
                    "finish_reason": c.get("finish_reason").cloned().unwrap_or(Value::Null),
                })
            })
            .collect();
        let answer = json!({
            "id": v.get("id").cloned().unwrap_or(Value::Null),
            "object": "chat.completion",
            "created": v.get("created").cloned().unwrap_or(json!(0)),
            "model": v.get("model").cloned().unwrap_or(Value::Null),
            "choices": choices,
            "usage": v.get("usage").cloned().unwrap_or(Value::Null),
        });
        Ok(answer.to_string().into_bytes())
    }

    fn error_class(&self, status: u16, body: &[u8]) -> ErrorClass {
        super::openai::openai_class(status, body)
    }

    fn stream(&self, _d: &Deployment, req: &ModelRequest) -> Box<dyn StreamTranslator> {
        match req.endpoint {
            Endpoint::Completions => Box::new(OpenAiStream),
            _ => Box::new(AsChatStream::default()),
        }
    }

    fn takes(&self) -> Option<&'static [&'static str]> {
        Some(TAKES)
    }
}

/// The messages as one prompt: each message's text on its own lines, in order.
fn prompt(req: &ModelRequest) -> String {
    chat::messages(&req.body)
        .map(|m| m.text())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// A completion stream as chat chunks: `text` becomes `delta.content` (the first with the
/// assistant's role), the usage chunk and `[DONE]` pass on.
#[derive(Default)]
pub struct AsChatStream {
    started: bool,
}

impl StreamTranslator for AsChatStream {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<Piece>) {
        if ev.data.trim_ascii() == b"[DONE]" {
            out.push(Piece::Done);
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&ev.data) else {
            // Not JSON: the relay ends the stream with an error for it.
            out.push(Piece::Data(ev.data));
            return;
        };
        if v.get("error").is_some() {
            out.push(Piece::Error(ev.data));
            return;
        }
        let choices: Vec<Value> = v
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                let mut delta = Map::new();
                if !self.started {
                    delta.insert("role".into(), json!("assistant"));
                }
                if let Some(t) = c
                    .get("text")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    delta.insert("content".into(), json!(t));
                }
                json!({
                    "index": c.get("index").cloned().unwrap_or(json!(0)),
                    "delta": delta,
                    "finish_reason": c.get("finish_reason").cloned().unwrap_or(Value::Null),
                })
            })
            .collect();
        if !choices.is_empty() {
            self.started = true;
        }
        let mut chunk = json!({
            "id": v.get("id").cloned().unwrap_or(Value::Null),
            "object": "chat.completion.chunk",
            "created": v.get("created").cloned().unwrap_or(json!(0)),
            "model": v.get("model").cloned().unwrap_or(Value::Null),
            "choices": choices,
        });
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            chunk["usage"] = u.clone();
        }
        out.push(Piece::Data(chunk.to_string().into_bytes()));
    }
}
