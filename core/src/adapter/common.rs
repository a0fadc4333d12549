//! Pieces the translating adapters share.

use crate::error::Error;
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
