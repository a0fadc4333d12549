//! Anthropic's Messages API (`POST /v1/messages`) in front of any provider: its request as a
//! chat request, a chat answer as its message, chat chunks as its event stream (event by event,
//! nothing buffered), errors in its shape.

use crate::error::Error;
use crate::sse::SseDecoder;
use serde_json::{json, Map, Value};

pub use super::parse;
use super::{field, sse_event as event, ChunkEvents};

/// Shorter spellings of a Claude model name as Claude Code and the Anthropic SDKs send it, to
/// try in turn when the name itself is no group: without Claude Code's context-window suffix
/// (`[1m]`), then without the snapshot date (`claude-sonnet-4-5-20250929` ->
/// `claude-sonnet-4-5`) or `-latest`.
pub fn shorter_names(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bare = name.split_once('[').map_or(name, |(b, _)| b);
    if bare != name {
        out.push(bare.to_string());
    }
    let undated = match bare.rsplit_once('-') {
        Some((head, date)) if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) => head,
        Some((head, "latest")) => head,
        _ => bare,
    };
    if undated != bare {
        out.push(undated.to_string());
    }
    out
}

/// The chat request for a Messages request body.
pub fn to_chat(body: &[u8]) -> Result<Value, Error> {
    chat_request(&parse(body)?).map(Value::Object)
}

/// The chat request for a parsed Messages request.
pub fn chat_request(m: &Map<String, Value>) -> Result<Map<String, Value>, Error> {
    let model = m
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| field("model", "Field required"))?;
    let max_tokens = m
        .get("max_tokens")
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
        .ok_or_else(|| field("max_tokens", "Field required (a whole number > 0)"))?;
    let mut messages: Vec<Value> = Vec::new();
    match m.get("system") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => messages.push(json!({"role": "system", "content": s})),
        Some(Value::Array(blocks)) => {
            let text = texts(blocks, "system")?;
            messages.push(json!({"role": "system", "content": text}));
        }
        Some(_) => return Err(field("system", "must be a string or text blocks")),
    }
    let Some(Value::Array(turns)) = m.get("messages") else {
        return Err(field("messages", "Field required (a list)"));
    };
    for (i, turn) in turns.iter().enumerate() {
        message(turn, i, &mut messages)?;
    }
    let mut chat = Map::new();
    chat.insert("model".into(), Value::from(model));
    chat.insert("messages".into(), Value::Array(messages));
    chat.insert("max_tokens".into(), Value::from(max_tokens));
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("stop_sequences", "stop"),
    ] {
        if let Some(v) = m.get(from).filter(|v| !v.is_null()) {
            chat.insert(to.into(), v.clone());
        }
    }
    if let Some(user) = m
        .get("metadata")
        .and_then(|x| x.get("user_id"))
        .and_then(Value::as_str)
    {
        chat.insert("user".into(), Value::from(user));
    }
    if let Some(Value::Array(tools)) = m.get("tools") {
        let tools: Result<Vec<Value>, Error> = tools.iter().map(tool).collect();
        chat.insert("tools".into(), Value::Array(tools?));
    }
    if let Some(choice) = m.get("tool_choice").filter(|v| !v.is_null()) {
        chat.insert("tool_choice".into(), tool_choice(choice)?);
    }
    if m.get("stream").and_then(Value::as_bool) == Some(true) {
        chat.insert("stream".into(), Value::Bool(true));
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(chat)
}

/// The text of `blocks` that must all be text (a system prompt).
fn texts(blocks: &[Value], at: &str) -> Result<String, Error> {
    let mut out = String::new();
    for b in blocks {
        match (b.get("type").and_then(Value::as_str), b.get("text")) {
            (Some("text"), Some(Value::String(t))) => {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(t);
            }
            _ => return Err(field(at, "only text blocks are allowed here")),
        }
    }
    Ok(out)
}

/// One Messages turn as chat messages (a user turn's tool results become `tool` messages).
fn message(turn: &Value, i: usize, out: &mut Vec<Value>) -> Result<(), Error> {
    let at = format!("messages.{i}");
    let role = turn.get("role").and_then(Value::as_str);
    let role = match role {
        Some(r @ ("user" | "assistant")) => r,
        _ => {
            return Err(field(
                &format!("{at}.role"),
                "must be \"user\" or \"assistant\"",
            ))
        }
    };
    let blocks = match turn.get("content") {
        Some(Value::String(s)) => {
            out.push(json!({"role": role, "content": s}));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        _ => {
            return Err(field(
                &format!("{at}.content"),
                "must be a string or blocks",
            ))
        }
    };
    let mut parts: Vec<Value> = Vec::new();
    let mut calls: Vec<Value> = Vec::new();
    for (j, b) in blocks.iter().enumerate() {
        let here = format!("{at}.content.{j}");
        match b.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = b.get("text").and_then(Value::as_str).unwrap_or("");
                parts.push(json!({"type": "text", "text": text}));
            }
            Some("image") if role == "user" => parts.push(image(b, &here)?),
            Some("tool_use") if role == "assistant" => {
                let id = b.get("id").and_then(Value::as_str).unwrap_or("");
                let name = b.get("name").and_then(Value::as_str).unwrap_or("");
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(json!({"id": id, "type": "function",
                    "function": {"name": name, "arguments": input.to_string()}}));
            }
            Some("tool_result") if role == "user" => {
                let id = b.get("tool_use_id").and_then(Value::as_str).unwrap_or("");
                let content = match b.get("content") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Array(c)) => c
                        .iter()
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    _ => String::new(),
                };
                out.push(json!({"role": "tool", "tool_call_id": id, "content": content}));
            }
            // Extended thinking is the model's own; it is not sent back to other providers.
            Some("thinking" | "redacted_thinking") if role == "assistant" => {}
            other => {
                return Err(field(
                    &format!("{here}.type"),
                    &format!(
                        "a {role} turn cannot hold a {} block",
                        other.unwrap_or("typeless")
                    ),
                ))
            }
        }
    }
    if parts.is_empty() && calls.is_empty() {
        return Ok(());
    }
    let mut msg = Map::new();
    msg.insert("role".into(), Value::from(role));
    let only_text = parts.iter().all(|p| p["type"] == "text");
    let content = if role == "assistant" || only_text {
        let text: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
        Value::from(text.join(""))
    } else {
        Value::Array(parts)
    };
    msg.insert("content".into(), content);
    if !calls.is_empty() {
        msg.insert("tool_calls".into(), Value::Array(calls));
    }
    out.push(Value::Object(msg));
    Ok(())
}

fn image(b: &Value, at: &str) -> Result<Value, Error> {
    let src = b.get("source");
    let url = match src.and_then(|s| s.get("type")).and_then(Value::as_str) {
        Some("base64") => {
            let mt = src
                .and_then(|s| s.get("media_type"))
                .and_then(Value::as_str);
            let data = src.and_then(|s| s.get("data")).and_then(Value::as_str);
            match (mt, data) {
                (Some(mt), Some(data)) => format!("data:{mt};base64,{data}"),
                _ => return Err(field(&format!("{at}.source"), "needs media_type and data")),
            }
        }
        Some("url") => match src.and_then(|s| s.get("url")).and_then(Value::as_str) {
            Some(u) => u.to_string(),
            None => return Err(field(&format!("{at}.source.url"), "Field required")),
        },
        _ => return Err(field(&format!("{at}.source.type"), "must be base64 or url")),
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

fn tool(t: &Value) -> Result<Value, Error> {
    let name = t
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| field("tools.name", "Field required"))?;
    let mut f = Map::new();
    f.insert("name".into(), Value::from(name));
    if let Some(d) = t.get("description").filter(|d| !d.is_null()) {
        f.insert("description".into(), d.clone());
    }
    let schema = t
        .get("input_schema")
        .cloned()
        .unwrap_or_else(|| json!({"type": "object"}));
    f.insert("parameters".into(), schema);
    Ok(json!({"type": "function", "function": f}))
}

fn tool_choice(c: &Value) -> Result<Value, Error> {
    Ok(match c.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("");
            json!({"type": "function", "function": {"name": name}})
        }
        _ => return Err(field("tool_choice.type", "must be auto, any, tool or none")),
    })
}

/// Anthropic's `stop_reason` for a chat `finish_reason`.
fn stop_reason(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// A message id for an answer whose chat id is `id`.
fn message_id(id: Option<&str>) -> String {
    match id {
        Some(id) if id.starts_with("msg_") => id.to_string(),
        Some(id) => format!("msg_{id}"),
        None => "msg_switchyard".to_string(),
    }
}

/// The Messages answer for a chat answer.
pub fn from_chat(answer: &[u8]) -> Result<Vec<u8>, Error> {
    let v: Value = serde_json::from_slice(answer)
        .map_err(|e| crate::adapter::common::unreadable("The upstream", e))?;
    let choice = &v["choices"][0];
    let msg = &choice["message"];
    // Extended thinking (from an Anthropic deployment) first, with its signatures.
    let mut content: Vec<Value> = msg["thinking_blocks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if let Some(t) = msg["content"].as_str().filter(|t| !t.is_empty()) {
        content.push(json!({"type": "text", "text": t}));
    }
    for call in msg["tool_calls"].as_array().into_iter().flatten() {
        let args = call["function"]["arguments"].as_str().unwrap_or("{}");
        let input: Value = serde_json::from_str(args).unwrap_or_else(|_| json!({}));
        content.push(json!({"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": input}));
    }
    let out = json!({
        "id": message_id(v["id"].as_str()),
        "type": "message",
        "role": "assistant",
        "model": v["model"],
        "content": content,
        "stop_reason": stop_reason(choice["finish_reason"].as_str()),
        "stop_sequence": null,
        "usage": {
            "input_tokens": v["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
            "output_tokens": v["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        },
    });
    Ok(out.to_string().into_bytes())
}

/// Anthropic's error type for an HTTP status.
fn error_type(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// An OpenAI-shaped error body as Anthropic's: `{"type":"error","error":{"type","message"}}`.
pub fn error_body(status: u16, openai: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(openai).unwrap_or(Value::Null);
    let message = v["error"]["message"]
        .as_str()
        .unwrap_or("The request failed.");
    json!({"type": "error", "error": {"type": error_type(status), "message": message}})
        .to_string()
        .into_bytes()
}

/// What a content block holds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Block {
    Text,
    Tool,
    Thinking,
}

/// Chat chunks (OpenAI SSE bytes) in, Anthropic's events out, as each chunk arrives.
#[derive(Default)]
pub struct StreamTranslator {
    decoder: SseDecoder,
    started: bool,
    /// The index and kind of the open content block.
    open: Option<(u64, Block)>,
    next_index: u64,
    stop_reason: Option<&'static str>,
    output_tokens: u64,
    ended: bool,
}

impl super::ChunkEvents for StreamTranslator {
    fn decoder(&mut self) -> &mut SseDecoder {
        &mut self.decoder
    }
    fn ended(&self) -> bool {
        self.ended
    }
    fn finished(&self) -> bool {
        self.stop_reason.is_some()
    }
    fn chunk(&mut self, chunk: &Value, out: &mut Vec<u8>) {
        StreamTranslator::chunk(self, chunk, out);
    }
    fn complete(&mut self, out: &mut Vec<u8>) {
        self.finish(out);
    }
    fn broken(&mut self, message: &str, out: &mut Vec<u8>) {
        self.error("api_error", message, out);
    }
}

impl StreamTranslator {
    pub fn new() -> Self {
        Self::default()
    }

    /// The events for these bytes of the chat stream.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.events(bytes)
    }

    /// The stream ended: the events that close it.
    pub fn end(&mut self) -> Vec<u8> {
        self.last_events()
    }

    fn chunk(&mut self, c: &Value, out: &mut Vec<u8>) {
        if let Some(e) = c.get("error").filter(|e| !e.is_null()) {
            let message = e["message"]
                .as_str()
                .unwrap_or("The upstream stream failed.");
            self.error("api_error", message, out);
            return;
        }
        if !self.started {
            self.started = true;
            let start = json!({"type": "message_start", "message": {
                "id": message_id(c["id"].as_str()), "type": "message", "role": "assistant",
                "model": c["model"], "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0}}});
            event(out, "message_start", &start);
        }
        if let Some(n) = c
            .pointer("/usage/completion_tokens")
            .and_then(Value::as_u64)
        {
            self.output_tokens = n;
        }
        let Some(choice) = c.pointer("/choices/0") else {
            return;
        };
        let delta = &choice["delta"];
        for block in delta["thinking_blocks"].as_array().into_iter().flatten() {
            self.thinking(block, out);
        }
        if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            if !matches!(self.open, Some((_, Block::Text))) {
                self.close(out);
                let i = self.open_block(Block::Text);
                event(
                    out,
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}),
                );
            }
            let i = self.open.map_or(0, |(i, _)| i);
            event(
                out,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": text}}),
            );
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            if let Some(id) = call["id"].as_str() {
                self.close(out);
                let i = self.open_block(Block::Tool);
                let name = call["function"]["name"].as_str().unwrap_or("");
                event(
                    out,
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": i, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
                );
            }
            if let Some(args) = call["function"]["arguments"]
                .as_str()
                .filter(|a| !a.is_empty())
            {
                let i = self.open.map_or(0, |(i, _)| i);
                event(
                    out,
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": args}}),
                );
            }
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            self.stop_reason = Some(stop_reason(Some(f)));
        }
    }

    fn open_block(&mut self, kind: Block) -> u64 {
        let i = self.next_index;
        self.next_index += 1;
        self.open = Some((i, kind));
        i
    }

    /// A piece of extended thinking: its text, its signature, or a redacted block whole.
    fn thinking(&mut self, block: &Value, out: &mut Vec<u8>) {
        if block["type"] == "redacted_thinking" {
            self.close(out);
            let i = self.open_block(Block::Thinking);
            event(
                out,
                "content_block_start",
                &json!({"type": "content_block_start", "index": i, "content_block": block}),
            );
            self.close(out);
            return;
        }
        if !matches!(self.open, Some((_, Block::Thinking))) {
            self.close(out);
            let i = self.open_block(Block::Thinking);
            event(
                out,
                "content_block_start",
                &json!({"type": "content_block_start", "index": i, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
            );
        }
        let i = self.open.map_or(0, |(i, _)| i);
        if let Some(t) = block["thinking"].as_str().filter(|t| !t.is_empty()) {
            let delta = json!({"type": "thinking_delta", "thinking": t});
            event(
                out,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": i, "delta": delta}),
            );
        }
        if let Some(sig) = block["signature"].as_str().filter(|s| !s.is_empty()) {
            let delta = json!({"type": "signature_delta", "signature": sig});
            event(
                out,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": i, "delta": delta}),
            );
        }
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some((i, _)) = self.open.take() {
            event(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": i}),
            );
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.close(out);
        let delta = json!({"type": "message_delta",
            "delta": {"stop_reason": self.stop_reason.unwrap_or("end_turn"), "stop_sequence": null},
            "usage": {"output_tokens": self.output_tokens}});
        event(out, "message_delta", &delta);
        event(out, "message_stop", &json!({"type": "message_stop"}));
        self.ended = true;
    }

    fn error(&mut self, kind: &str, message: &str, out: &mut Vec<u8>) {
        event(
            out,
            "error",
            &json!({"type": "error", "error": {"type": kind, "message": message}}),
        );
        self.ended = true;
    }
}

#[cfg(test)]
#[path = "messages_tests.rs"]
mod tests;
