//! Amazon Bedrock's Converse API (`POST /model/{modelId}/converse`, and `/converse-stream`
//! answering in AWS event-stream frames), signed with SigV4 <-> OpenAI chat completions:
//! system, multi-turn, base64 images, tools, tool choice and results, stop sequences, sampling,
//! usage, stop reasons, and the stream.

use super::common::{param, push_turn, stop_sequences, unreadable, unsupported_part};
use super::openai_error;
use crate::chat::{self, Image, Message, Part, Role};
use crate::config::{AwsCredentials, Deployment};
use crate::error::Error;
use crate::relay::{Piece, StreamTranslator};
use crate::request::ModelRequest;
use crate::sigv4::{self, Credentials};
use crate::sse::SseEvent;
use serde_json::{json, Map, Value};

/// The URL path (encoded: model ids hold `:`).
pub fn path(d: &Deployment, stream: bool) -> String {
    let model = sigv4::uri_encode(&d.model, false);
    format!(
        "/model/{model}/{}",
        if stream {
            "converse-stream"
        } else {
            "converse"
        }
    )
}

/// The signed headers for a call to `url` with `body` at `now_ms`.
pub fn signed_headers(
    aws: &AwsCredentials,
    url: &str,
    body: &[u8],
    now_ms: f64,
) -> Vec<(&'static str, String)> {
    let without_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let (host, rest) = without_scheme
        .split_once('/')
        .unwrap_or((without_scheme, ""));
    let full_path = format!("/{rest}");
    let (path, query) = full_path
        .split_once('?')
        .unwrap_or((full_path.as_str(), ""));
    let date = sigv4::amz_date(now_ms);
    let mut to_sign: Vec<(&str, &str)> = vec![
        ("host", host),
        ("x-amz-date", &date),
        ("content-type", "application/json"),
    ];
    if let Some(t) = &aws.session_token {
        to_sign.push(("x-amz-security-token", t));
    }
    let creds = Credentials {
        access_key_id: &aws.access_key_id,
        secret_access_key: &aws.secret_access_key,
        session_token: aws.session_token.as_deref(),
    };
    let auth = sigv4::authorization(
        "POST",
        path,
        query,
        &to_sign,
        body,
        &creds,
        &aws.region,
        "bedrock",
        &date,
    );
    let mut headers = vec![("x-amz-date", date.clone()), ("authorization", auth)];
    if let Some(t) = &aws.session_token {
        headers.push(("x-amz-security-token", t.clone()));
    }
    headers
}

/// A message's text and image parts as Converse content blocks.
fn content(m: &Message<'_>, i: usize) -> Result<Vec<Value>, Error> {
    m.parts()
        .enumerate()
        .map(|(j, part)| match part {
            Part::Text(text) => Ok(json!({"text": text})),
            Part::Image(Image::Data { mime, data }) => {
                let format = mime
                    .rsplit('/')
                    .next()
                    .unwrap_or("png")
                    .replace("jpg", "jpeg");
                Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
            }
            Part::Image(Image::Url(_)) => Err(Error::invalid_value(
                &format!("messages[{i}].content[{j}].image_url"),
                "Bedrock takes images as base64 data: URLs",
            )),
            Part::Other(_) => Err(unsupported_part(
                i,
                j,
                "Bedrock deployments take `text` and `image_url` parts",
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
            Role::System => system.extend(content(&m, i)?),
            Role::Assistant => {
                let mut blocks = content(&m, i)?;
                for call in m.tool_calls() {
                    blocks.push(json!({"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.input()}}));
                }
                push_turn(&mut messages, "assistant", "content", blocks);
            }
            Role::Tool => push_turn(
                &mut messages,
                "user",
                "content",
                vec![json!({"toolResult": {
                    "toolUseId": m.tool_call_id().unwrap_or(""),
                    "content": [{"text": m.text()}],
                }})],
            ),
            Role::User => push_turn(&mut messages, "user", "content", content(&m, i)?),
        }
    }
    let mut out = Map::new();
    out.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        out.insert("system".into(), Value::Array(system));
    }
    let mut inference = Map::new();
    if let Some(v) = get("max_tokens").or_else(|| get("max_completion_tokens")) {
        inference.insert("maxTokens".into(), v.clone());
    }
    if let Some(v) = get("temperature") {
        inference.insert("temperature".into(), v.clone());
    }
    if let Some(v) = get("top_p") {
        inference.insert("topP".into(), v.clone());
    }
    if let Some(stop) = stop_sequences(get("stop")) {
        inference.insert("stopSequences".into(), stop);
    }
    if !inference.is_empty() {
        out.insert("inferenceConfig".into(), Value::Object(inference));
    }
    if let Some(Value::Array(tools)) = get("tools") {
        let specs: Vec<Value> = tools
            .iter()
            .filter_map(|t| t.get("function"))
            .map(|f| json!({"toolSpec": {
                "name": f.get("name").cloned().unwrap_or(json!("")),
                "description": f.get("description").cloned().unwrap_or(json!("")),
                "inputSchema": {"json": f.get("parameters").cloned().unwrap_or(json!({"type": "object"}))},
            }}))
            .collect();
        let mut config = json!({"tools": specs});
        match get("tool_choice") {
            Some(Value::String(s)) if s == "required" => config["toolChoice"] = json!({"any": {}}),
            Some(c @ Value::Object(_)) => {
                if let Some(n) = c.pointer("/function/name") {
                    config["toolChoice"] = json!({"tool": {"name": n}});
                }
            }
            Some(Value::String(s)) if s == "auto" => config["toolChoice"] = json!({"auto": {}}),
            _ => {}
        }
        out.insert("toolConfig".into(), config);
    }
    serde_json::to_vec(&Value::Object(out)).map_err(|e| Error::Internal {
        message: format!("could not write the Bedrock request: {e}"),
    })
}

fn finish_reason(stop: Option<&str>) -> &'static str {
    match stop {
        Some("tool_use") => "tool_calls",
        Some("max_tokens") => "length",
        Some("content_filtered") | Some("guardrail_intervened") => "content_filter",
        _ => "stop",
    }
}

fn usage(u: Option<&Value>) -> Value {
    let i = u
        .and_then(|u| u.get("inputTokens"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let o = u
        .and_then(|u| u.get("outputTokens"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    json!({"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o})
}

pub fn response(body: &[u8], requested_model: &str) -> Result<Vec<u8>, Error> {
    let v: Value = serde_json::from_slice(body).map_err(|e| unreadable("Bedrock", e))?;
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in v
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = block.get("text").and_then(Value::as_str) {
            text.push_str(t);
        }
        if let Some(u) = block.get("toolUse") {
            calls.push(json!({"id": u.get("toolUseId"), "type": "function",
                "function": {"name": u.get("name"), "arguments": u.get("input").map(Value::to_string).unwrap_or_else(|| "{}".into())}}));
        }
    }
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    Ok(json!({
        "id": "bedrock", "object": "chat.completion", "created": 0, "model": requested_model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(v.get("stopReason").and_then(Value::as_str))}],
        "usage": usage(v.get("usage")),
    })
    .to_string()
    .into_bytes())
}

/// Bedrock's `{"message": ...}` errors as OpenAI errors.
pub fn error_body(status: u16, body: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = v
        .get("message")
        .or_else(|| v.get("Message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("Bedrock error {status}: {}", String::from_utf8_lossy(body)));
    let kind = match status {
        400 => "invalid_request_error",
        401 | 403 => "authentication_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        _ => "server_error",
    };
    let lower = message.to_ascii_lowercase();
    let code = (lower.contains("input is too long")
        || lower.contains("too many input tokens")
        || lower.contains("prompt is too long"))
    .then_some("context_length_exceeded");
    openai_error(&message, kind, code).to_string().into_bytes()
}

/// ConverseStream events -> OpenAI chunks. The stream ends with `metadata` (the usage).
pub struct BedrockStream {
    model: String,
    /// Bedrock content block index -> OpenAI tool call index.
    tools: Vec<(u64, usize)>,
    finish: Option<&'static str>,
}

impl BedrockStream {
    pub fn new(model: &str) -> Self {
        BedrockStream {
            model: model.to_string(),
            tools: Vec::new(),
            finish: None,
        }
    }

    fn chunk(&self, choices: Value) -> Piece {
        Piece::Data(
            json!({"id": "bedrock", "object": "chat.completion.chunk", "created": 0, "model": self.model, "choices": choices})
                .to_string()
                .into_bytes(),
        )
    }
}

impl StreamTranslator for BedrockStream {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<Piece>) {
        let v: Value = serde_json::from_slice(&ev.data).unwrap_or(Value::Null);
        let index = v
            .get("contentBlockIndex")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        match ev.event.as_deref().unwrap_or("") {
            "messageStart" => out.push(self.chunk(json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]))),
            "contentBlockStart" => {
                if let Some(t) = v.pointer("/start/toolUse") {
                    let n = self.tools.len();
                    self.tools.push((index, n));
                    out.push(self.chunk(json!([{"index": 0, "finish_reason": null, "delta": {"tool_calls": [{
                        "index": n, "id": t.get("toolUseId"), "type": "function",
                        "function": {"name": t.get("name"), "arguments": ""}}]}}])));
                }
            }
            "contentBlockDelta" => {
                if let Some(t) = v.pointer("/delta/text") {
                    out.push(self.chunk(json!([{"index": 0, "delta": {"content": t}, "finish_reason": null}])));
                } else if let Some(input) = v.pointer("/delta/toolUse/input") {
                    let n = self.tools.iter().find(|(i, _)| *i == index).map_or(0, |(_, n)| *n);
                    out.push(self.chunk(json!([{"index": 0, "finish_reason": null,
                        "delta": {"tool_calls": [{"index": n, "function": {"arguments": input}}]}}])));
                }
            }
            "messageStop" => {
                let f = finish_reason(v.get("stopReason").and_then(Value::as_str));
                self.finish = Some(f);
                out.push(self.chunk(json!([{"index": 0, "delta": {}, "finish_reason": f}])));
            }
            "metadata" => {
                let mut last = json!({"id": "bedrock", "object": "chat.completion.chunk", "created": 0, "model": self.model, "choices": []});
                last["usage"] = usage(v.get("usage"));
                out.push(Piece::Data(last.to_string().into_bytes()));
                out.push(Piece::Done);
            }
            "exception" => {
                let message = v.get("message").and_then(Value::as_str).unwrap_or("Bedrock stream error");
                let kind = if v.get("type").and_then(Value::as_str).is_some_and(|t| t.contains("hrottling")) {
                    "rate_limit_error"
                } else {
                    "server_error"
                };
                out.push(Piece::Error(openai_error(message, kind, None).to_string().into_bytes()));
            }
            _ => {}
        }
    }

    fn end(&mut self, out: &mut Vec<Piece>) {
        // Some models send no metadata: a stream that stopped cleanly is still complete.
        if self.finish.is_some() {
            out.push(Piece::Done);
        }
    }
}

/// Amazon Bedrock's Converse API, signed with SigV4, streaming in AWS event-stream frames.
pub struct Bedrock;

impl super::Adapter for Bedrock {
    fn request(
        &self,
        d: &Deployment,
        req: &ModelRequest,
        now_ms: f64,
        headers: &mut Vec<(&'static str, String)>,
    ) -> Result<(String, Vec<u8>), Error> {
        let url = crate::provider::endpoint_url(&d.api_base, &path(d, req.stream));
        let body = request_body(d, req)?;
        if let Some(aws) = &d.aws {
            headers.extend(signed_headers(aws, &url, &body, now_ms));
        }
        Ok((url, body))
    }

    fn error_class(&self, status: u16, body: &[u8]) -> crate::error::ErrorClass {
        super::common::classify(
            status,
            body,
            &["input is too long", "too many tokens", "context window"],
            &["content filter"],
        )
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
        ])
    }

    translated_answers!(BedrockStream);

    fn event_stream_framing(&self) -> bool {
        true
    }
}
