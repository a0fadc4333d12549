//! A cheap prompt-size estimate for limits and pre-call checks: about four characters a token
//! (OpenAI's rule of thumb for English), plus a few tokens of framing per message. It runs on
//! every request, so it counts characters instead of tokenizing.

use serde_json::Value;

/// The estimate for any endpoint's body: `messages` (chat), else `prompt` / `input`.
pub fn estimate_request_tokens(body: &serde_json::Map<String, Value>) -> u64 {
    if body.contains_key("messages") {
        return estimate_prompt_tokens(body.get("messages"));
    }
    let text = body.get("prompt").or_else(|| body.get("input"));
    let chars = match text {
        Some(Value::String(s)) => s.len(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.len(),
                Value::Array(tokens) => tokens.len() * 4,
                _ => 4,
            })
            .sum(),
        _ => 0,
    };
    (chars as u64).div_ceil(4)
}

fn estimate_prompt_tokens(messages: Option<&Value>) -> u64 {
    let Some(Value::Array(list)) = messages else {
        return 0;
    };
    let mut chars = 0usize;
    for m in list {
        chars += match m.get("content") {
            Some(Value::String(s)) => s.len(),
            Some(Value::Array(parts)) => parts
                .iter()
                .map(|p| match p.get("text") {
                    Some(Value::String(t)) => t.len(),
                    // an image part: OpenAI bills a low-detail image at 85 tokens
                    _ => 85 * 4,
                })
                .sum(),
            _ => 0,
        };
        if let Some(Value::Array(calls)) = m.get("tool_calls") {
            chars += calls.iter().map(|c| c.to_string().len()).sum::<usize>();
        }
    }
    (chars as u64).div_ceil(4) + 3 * list.len() as u64 + 3
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn grows_with_the_text() {
        let short = estimate_prompt_tokens(Some(&json!([{"role":"user","content":"hi"}])));
        let long =
            estimate_prompt_tokens(Some(&json!([{"role":"user","content":"x".repeat(4000)}])));
        assert!(short < 10);
        assert!((1000..1020).contains(&long), "{long}");
        let parts = estimate_prompt_tokens(Some(
            &json!([{"role":"user","content":[{"type":"text","text":"abcd"},{"type":"image_url"}]}]),
        ));
        assert!(parts >= 86, "{parts}");
        assert_eq!(estimate_prompt_tokens(None), 0);
    }
}
