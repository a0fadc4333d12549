//! Pieces the translating adapters share.

use super::openai_error;
use crate::config::Deployment;
use crate::error::{Error, ErrorClass};
use crate::request::ModelRequest;
use serde_json::{json, Value};

/// A 400 naming the field an adapter cannot translate.
pub fn bad(param: String, what: &str) -> Error {
    Error::InvalidRequest {
        message: format!("Invalid value for '{param}': {what}."),
        param: Some(param),
        code: Some("invalid_value"),
    }
}

/// Appends a turn's blocks under `key` (`content` or `parts`), merging with the previous turn
/// when it has the same role: these APIs want user and assistant turns to alternate.
pub fn push_turn(turns: &mut Vec<Value>, role: &str, key: &str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    if let Some(last) = turns.last_mut() {
        if last["role"] == role {
            if let Some(Value::Array(c)) = last.get_mut(key) {
                c.extend(blocks);
                return;
            }
        }
    }
    turns.push(json!({"role": role, key: blocks}));
}

/// `data:<mime>;base64,<data>` -> (mime, data).
pub fn data_url(url: &str) -> Option<(&str, &str)> {
    let (meta, data) = url.strip_prefix("data:")?.split_once(',')?;
    Some((meta.strip_suffix(";base64").unwrap_or(meta), data))
}

/// A request parameter: the client's, else the deployment's default; `null` counts as unset.
pub fn param<'a>(d: &'a Deployment, req: &'a ModelRequest, key: &str) -> Option<&'a Value> {
    req.body
        .get(key)
        .or_else(|| d.body_defaults.get(key))
        .filter(|v| !v.is_null())
}

/// The chat messages, borrowed (an attempt must not copy them: they may hold images).
pub fn chat_messages(req: &ModelRequest) -> &[Value] {
    req.body
        .get("messages")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// An assistant message's tool calls: (id, function name, parsed arguments).
pub fn tool_calls(message: &Value) -> Vec<(Value, Value, Value)> {
    message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|call| {
            let args = call
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .unwrap_or("{}");
            (
                call.get("id").cloned().unwrap_or(json!("")),
                call.pointer("/function/name").cloned().unwrap_or(json!("")),
                serde_json::from_str(args).unwrap_or_else(|_| json!({})),
            )
        })
        .collect()
}

/// OpenAI's `stop` (a string or a list) as a list of stop sequences.
pub fn stop_sequences(stop: Option<&Value>) -> Option<Value> {
    match stop? {
        Value::String(s) => Some(json!([s])),
        Value::Array(a) => Some(Value::Array(a.clone())),
        _ => None,
    }
}

/// A 2xx answer that is not the JSON the provider documents.
pub fn unreadable(provider: &str, e: serde_json::Error) -> Error {
    Error::upstream(
        502,
        openai_error(
            &format!("{provider} sent an unreadable answer: {e}"),
            "server_error",
            None,
        )
        .to_string()
        .into_bytes(),
    )
}

/// The class of an upstream error from its status, then the OpenAI-shaped body's `code`, then
/// the words a provider uses for a prompt over the context window (`context`) or a refusal
/// under a content policy (`policy`).
pub fn classify(status: u16, body: &[u8], context: &[&str], policy: &[&str]) -> ErrorClass {
    if let Some(class) = ErrorClass::of_status(status) {
        return class;
    }
    let code = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        v.pointer("/error/code")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    match code.as_deref() {
        Some("context_length_exceeded") => return ErrorClass::ContextWindowExceeded,
        Some("content_policy_violation" | "content_filter") => {
            return ErrorClass::ContentPolicyViolation
        }
        _ => {}
    }
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if has(context) {
        ErrorClass::ContextWindowExceeded
    } else if has(policy) {
        ErrorClass::ContentPolicyViolation
    } else {
        ErrorClass::BadRequest
    }
}
