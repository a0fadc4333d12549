//! Pieces the translating adapters share.

use super::openai_error;
use crate::config::Deployment;
use crate::error::{Error, ErrorClass};
use crate::request::ModelRequest;
use serde_json::{json, Value};

/// A 400 for a content part (message `i`, part `j`) a provider does not take.
pub fn unsupported_part(i: usize, j: usize, what: &str) -> Error {
    Error::invalid_value(&format!("messages[{i}].content[{j}].type"), what)
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

/// A request parameter: the client's, else the deployment's default; `null` counts as unset.
pub fn param<'a>(d: &'a Deployment, req: &'a ModelRequest, key: &str) -> Option<&'a Value> {
    req.body
        .get(key)
        .or_else(|| d.body_defaults.get(key))
        .filter(|v| !v.is_null())
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
