//! Anthropic's Messages API (`POST /v1/messages`, `x-api-key`, `anthropic-version`) <-> OpenAI
//! chat completions: system messages, multi-turn, images (base64 and URL), tools, tool choice
//! and tool results, stop sequences, sampling, usage, stop reasons, and the streaming events.

use super::common::{param, push_turn, stop_sequences, unreadable, unsupported_part};
use super::openai_error;
use crate::chat::{self, Image, Message, Part, Role};
use crate::config::Deployment;
use crate::error::Error;
use crate::relay::{Piece, StreamTranslator};
use crate::request::{ModelRequest, NativeBody};
use crate::sse::SseEvent;
use serde_json::{json, Map, Value};

pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The tool a `response_format` with a JSON schema becomes (LiteLLM's name and method): the
/// model is made to call it, and its input is the answer's JSON text.
const JSON_TOOL: &str = "json_tool_call";
/// Anthropic requires `max_tokens`; OpenAI does not. Used when the request and the deployment
/// set neither `max_tokens` nor `max_completion_tokens`.
pub const ANTHROPIC_DEFAULT_MAX_TOKENS: u64 = 4096;

/// A message's text and image parts as Anthropic blocks.
fn content_blocks(m: &Message<'_>, i: usize) -> Result<Vec<Value>, Error> {
    m.parts()
        .enumerate()
        .map(|(j, part)| match part {
            Part::Text(text) => Ok(json!({"type": "text", "text": text})),
            Part::Image(Image::Data { mime, data }) => Ok(
                json!({"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}),
            ),
            Part::Image(Image::Url(url)) => {
                Ok(json!({"type": "image", "source": {"type": "url", "url": url}}))
            }
            Part::Other(_) => Err(unsupported_part(
                i,
                j,
                "Anthropic deployments take `text` and `image_url` parts",
            )),
        })
        .collect()
}

pub fn request_body(d: &Deployment, req: &ModelRequest) -> Result<Vec<u8>, Error> {
    let get = |k: &str| param(d, req, k);
    let mut system = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for (i, m) in chat::messages(&req.body).enumerate() {
        match m.role {
            Role::System => system.extend(content_blocks(&m, i)?),
            Role::Assistant => {
                let mut blocks = content_blocks(&m, i)?;
                for call in m.tool_calls() {
                    blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.input()}));
                }
                push_turn(&mut messages, "assistant", "content", blocks);
            }
            Role::Tool => {
                let id = m.tool_call_id().or(m.name()).unwrap_or("");
                push_turn(
                    &mut messages,
                    "user",
                    "content",
                    vec![json!({"type": "tool_result", "tool_use_id": id, "content": m.text()})],
                );
            }
            Role::User => push_turn(&mut messages, "user", "content", content_blocks(&m, i)?),
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(d.model));
    out.insert("messages".into(), Value::Array(messages));
    let max_tokens = get("max_tokens")
        .or_else(|| get("max_completion_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(ANTHROPIC_DEFAULT_MAX_TOKENS);
    out.insert("max_tokens".into(), json!(max_tokens));
    if !system.is_empty() {
        out.insert("system".into(), Value::Array(system));
    }
    if let Some(t) = get("temperature").and_then(Value::as_f64) {
        // OpenAI's range is 0-2, Anthropic's 0-1.
        out.insert("temperature".into(), json!(t.min(1.0)));
    }
    if let Some(p) = get("top_p") {
        out.insert("top_p".into(), p.clone());
    }
    if let Some(stop) = stop_sequences(get("stop")) {
        out.insert("stop_sequences".into(), stop);
    }
    if let Some(Value::Array(tools)) = get("tools") {
        let converted: Vec<Value> = tools
            .iter()
            .filter_map(|t| t.get("function"))
            .map(|f| {
                json!({
                    "name": f.get("name").cloned().unwrap_or(json!("")),
                    "description": f.get("description").cloned().unwrap_or(json!("")),
                    "input_schema": f.get("parameters").cloned().unwrap_or(json!({"type": "object", "properties": {}})),
                })
            })
            .collect();
        out.insert("tools".into(), Value::Array(converted));
    }
    if let Some(schema) = get("response_format").and_then(json_schema) {
        let tool = json!({"name": JSON_TOOL, "description": "Answer with JSON that fits this schema.",
            "input_schema": schema});
        match out.get_mut("tools") {
            Some(Value::Array(tools)) => tools.push(tool),
            _ => {
                out.insert("tools".into(), json!([tool]));
            }
        }
        out.insert(
            "tool_choice".into(),
            json!({"type": "tool", "name": JSON_TOOL}),
        );
    } else if let Some(choice) = get("tool_choice") {
        let mapped = match choice {
            Value::String(s) if s == "required" => Some(json!({"type": "any"})),
            Value::String(s) if s == "none" => Some(json!({"type": "none"})),
            Value::String(_) => Some(json!({"type": "auto"})),
            Value::Object(_) => choice
                .pointer("/function/name")
                .map(|n| json!({"type": "tool", "name": n})),
            _ => None,
        };
        if let Some(m) = mapped {
            out.insert("tool_choice".into(), m);
        }
    }
    if let Some(user) = get("user") {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    if req.stream {
        out.insert("stream".into(), json!(true));
    }
    serde_json::to_vec(&Value::Object(out)).map_err(|e| Error::Internal {
        message: format!("could not write the Anthropic request: {e}"),
    })
}

/// The schema of a `response_format` that asks for JSON (`json_object`: any object).
fn json_schema(format: &Value) -> Option<Value> {
    match format.get("type").and_then(Value::as_str) {
        Some("json_schema") => Some(
            format
                .pointer("/json_schema/schema")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"})),
        ),
        Some("json_object") => Some(json!({"type": "object"})),
        _ => None,
    }
}

/// A client's own Messages body for deployment `d`: its model, and `stream` as routed.
fn passthrough_body(
    d: &Deployment,
    req: &ModelRequest,
    body: &Map<String, Value>,
) -> Result<Vec<u8>, Error> {
    let mut out = body.clone();
    out.insert("model".into(), json!(d.model));
    if req.stream {
        out.insert("stream".into(), json!(true));
    } else {
        out.remove("stream");
    }
    serde_json::to_vec(&out).map_err(|e| Error::Internal {
        message: format!("could not write the Anthropic request: {e}"),
    })
}

fn finish_reason(stop: Option<&str>) -> &'static str {
    match stop {
        Some("max_tokens") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

pub fn response(body: &[u8], requested_model: &str) -> Result<Vec<u8>, Error> {
    let v: Value = serde_json::from_slice(body).map_err(|e| unreadable("Anthropic", e))?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    let mut structured = false;
    // Extended thinking, as LiteLLM carries it: the text as `reasoning_content`, the blocks
    // (with their signatures, which Anthropic wants back) as `thinking_blocks`.
    let mut reasoning = String::new();
    let mut thinking: Vec<Value> = Vec::new();
    for block in v
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            // The structured answer: its input is the JSON text asked for.
            Some("tool_use") if block.get("name").and_then(Value::as_str) == Some(JSON_TOOL) => {
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                text = input.to_string();
                structured = true;
            }
            Some("thinking" | "redacted_thinking") => {
                reasoning.push_str(block.get("thinking").and_then(Value::as_str).unwrap_or(""));
                thinking.push(block.clone());
            }
            Some("tool_use") => tool_calls.push(json!({
                "id": block.get("id").cloned().unwrap_or(json!("")),
                "type": "function",
                "function": {
                    "name": block.get("name").cloned().unwrap_or(json!("")),
                    "arguments": block.get("input").map(Value::to_string).unwrap_or_else(|| "{}".into()),
                },
            })),
            _ => {}
        }
    }
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { json!(text) }});
    if !thinking.is_empty() {
        message["reasoning_content"] = Value::from(reasoning);
        message["thinking_blocks"] = Value::Array(thinking);
    }
    let called = !tool_calls.is_empty();
    if called {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    let input = v
        .pointer("/usage/input_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let output = v
        .pointer("/usage/output_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let out = json!({
        "id": v.get("id").cloned().unwrap_or(json!("")),
        "object": "chat.completion",
        "created": 0,
        "model": v.get("model").cloned().unwrap_or(json!(requested_model)),
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": match v.get("stop_reason").and_then(Value::as_str) {
                Some("tool_use") if structured && !called => "stop",
                stop => finish_reason(stop),
            },
        }],
        "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output},
    });
    Ok(out.to_string().into_bytes())
}

/// Anthropic's `{"type":"error","error":{"type","message"}}` as an OpenAI error.
pub fn error_body(status: u16, body: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let kind = v
        .pointer("/error/type")
        .and_then(Value::as_str)
        .unwrap_or("api_error");
    let message = v
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "Anthropic error {status}: {}",
                String::from_utf8_lossy(body)
            )
        });
    openai_error(&message, openai_type(kind), code_for(&message))
        .to_string()
        .into_bytes()
}

fn openai_type(kind: &str) -> &'static str {
    match kind {
        "invalid_request_error" => "invalid_request_error",
        "authentication_error" => "authentication_error",
        "permission_error" => "permission_error",
        "not_found_error" => "not_found_error",
        "rate_limit_error" => "rate_limit_error",
        _ => "server_error",
    }
}

fn code_for(message: &str) -> Option<&'static str> {
    let m = message.to_ascii_lowercase();
    if m.contains("prompt is too long") || m.contains("context window") {
        Some("context_length_exceeded")
    } else {
        None
    }
}

/// Anthropic's stream events -> OpenAI chunks.
pub struct AnthropicStream {
    id: String,
    model: String,
    input_tokens: u64,
    output_tokens: u64,
    /// Anthropic content block index -> OpenAI tool call index.
    tool_index: Vec<(u64, usize)>,
    /// The content block that is the structured answer ([`JSON_TOOL`]): its input streams as
    /// text.
    json_block: Option<u64>,
}

impl AnthropicStream {
    pub fn new(model: &str) -> Self {
        AnthropicStream {
            id: String::new(),
            model: model.to_string(),
            input_tokens: 0,
            output_tokens: 0,
            tool_index: Vec::new(),
            json_block: None,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Piece {
        Piece::Data(
            json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": 0,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            })
            .to_string()
            .into_bytes(),
        )
    }
}

impl StreamTranslator for AnthropicStream {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<Piece>) {
        let Ok(v) = serde_json::from_slice::<Value>(&ev.data) else {
            return;
        };
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(ev.event.as_deref())
            .unwrap_or("");
        match kind {
            "message_start" => {
                if let Some(id) = v.pointer("/message/id").and_then(Value::as_str) {
                    self.id = id.to_string();
                }
                if let Some(m) = v.pointer("/message/model").and_then(Value::as_str) {
                    self.model = m.to_string();
                }
                self.input_tokens = v
                    .pointer("/message/usage/input_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                out.push(self.chunk(json!({"role": "assistant", "content": ""}), None));
            }
            "content_block_start" => {
                let block = v.get("content_block").cloned().unwrap_or(Value::Null);
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                if block.get("name").and_then(Value::as_str) == Some(JSON_TOOL) {
                    self.json_block = Some(index);
                } else if block.get("type").and_then(Value::as_str) == Some("redacted_thinking") {
                    out.push(self.chunk(json!({"thinking_blocks": [block]}), None));
                } else if block.get("type").and_then(Value::as_str) == Some("tool_use") {
                    let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                    let n = self.tool_index.len();
                    self.tool_index.push((index, n));
                    out.push(self.chunk(
                        json!({"tool_calls": [{"index": n, "id": block.get("id"), "type": "function",
                               "function": {"name": block.get("name"), "arguments": ""}}]}),
                        None,
                    ));
                } else if let Some(t) = block
                    .get("text")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    out.push(self.chunk(json!({"content": t}), None));
                }
            }
            "content_block_delta" => {
                match v.pointer("/delta/type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        let t = v.pointer("/delta/text").cloned().unwrap_or(json!(""));
                        out.push(self.chunk(json!({"content": t}), None));
                    }
                    Some("thinking_delta") => {
                        let t = v.pointer("/delta/thinking").cloned().unwrap_or(json!(""));
                        let delta = json!({"reasoning_content": t,
                            "thinking_blocks": [{"type": "thinking", "thinking": t}]});
                        out.push(self.chunk(delta, None));
                    }
                    Some("signature_delta") => {
                        let sig = v.pointer("/delta/signature").cloned().unwrap_or(json!(""));
                        let delta = json!({"thinking_blocks":
                            [{"type": "thinking", "thinking": "", "signature": sig}]});
                        out.push(self.chunk(delta, None));
                    }
                    Some("input_json_delta")
                        if v.get("index").and_then(Value::as_u64) == self.json_block =>
                    {
                        let t = v.pointer("/delta/partial_json").cloned();
                        out.push(self.chunk(json!({"content": t.unwrap_or(json!(""))}), None));
                    }
                    Some("input_json_delta") => {
                        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                        let n = self
                            .tool_index
                            .iter()
                            .find(|(i, _)| *i == index)
                            .map_or(0, |(_, n)| *n);
                        let partial = v
                            .pointer("/delta/partial_json")
                            .cloned()
                            .unwrap_or(json!(""));
                        out.push(self.chunk(json!({"tool_calls": [{"index": n, "function": {"arguments": partial}}]}), None));
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                self.output_tokens = v
                    .pointer("/usage/output_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(self.output_tokens);
                let stop = v.pointer("/delta/stop_reason").and_then(Value::as_str);
                let finish = match stop {
                    Some("tool_use") if self.json_block.is_some() && self.tool_index.is_empty() => {
                        "stop"
                    }
                    stop => finish_reason(stop),
                };
                out.push(self.chunk(json!({}), Some(finish)));
            }
            "message_stop" => {
                let usage = json!({
                    "id": self.id, "object": "chat.completion.chunk", "created": 0, "model": self.model, "choices": [],
                    "usage": {"prompt_tokens": self.input_tokens, "completion_tokens": self.output_tokens,
                              "total_tokens": self.input_tokens + self.output_tokens},
                });
                out.push(Piece::Data(usage.to_string().into_bytes()));
                out.push(Piece::Done);
            }
            "error" => {
                let body = error_body(500, &ev.data);
                out.push(Piece::Error(body));
            }
            _ => {} // ping, content_block_stop
        }
    }
}

/// Anthropic's Messages API.
pub struct Anthropic;

impl super::Adapter for Anthropic {
    fn request(
        &self,
        d: &Deployment,
        req: &ModelRequest,
        _now_ms: f64,
        headers: &mut Vec<(&'static str, String)>,
    ) -> Result<(String, Vec<u8>), Error> {
        if let Some(key) = &d.api_key {
            headers.push(("x-api-key", key.clone()));
        }
        headers.push(("anthropic-version", ANTHROPIC_VERSION.to_string()));
        let url = crate::provider::endpoint_url(&d.api_base, "/v1/messages");
        if let Some(NativeBody::AnthropicMessages { body, beta }) = req.native.as_deref() {
            // The client spoke Anthropic's protocol: its body goes as it is (cache_control,
            // thinking, top_k, beta features), for this deployment's model.
            if let Some(beta) = beta {
                headers.push(("anthropic-beta", beta.clone()));
            }
            return Ok((url, passthrough_body(d, req, body)?));
        }
        Ok((url, request_body(d, req)?))
    }

    fn error_class(&self, status: u16, body: &[u8]) -> crate::error::ErrorClass {
        super::common::classify(status, body, &["prompt is too long", "context window"], &[])
    }

    fn takes(&self) -> Option<&'static [&'static str]> {
        Some(&[
            "max_tokens",
            "max_completion_tokens",
            "temperature",
            "top_p",
            "stop",
            "stream",
            "stream_options",
            "tools",
            "tool_choice",
            "response_format",
            "user",
        ])
    }

    translated_answers!(AnthropicStream);
}
