//! The one JSON log line per request.

use crate::http::HttpResponse;
use serde_json::json;

/// The one JSON log line for a request: what was asked, who answered, how it went. Built from
/// the response's own headers, so it never holds a secret or a prompt.
pub fn log_line(method: &str, path: &str, resp: &HttpResponse, latency_ms: f64) -> String {
    let path_only = path.split('?').next().unwrap_or(path);
    let h = |k: &str| resp.header(k).map(str::to_string);
    let num = |k: &str| resp.header(k).and_then(|v| v.parse::<f64>().ok());
    let count = |k: &str| resp.header(k).and_then(|v| v.parse::<u64>().ok());
    json!({
        "event": "request",
        "method": method,
        "path": path_only,
        "status": resp.status,
        "latency_ms": (latency_ms * 10.0).round() / 10.0,
        "call_id": h("x-litellm-call-id"),
        "model_group": h("x-litellm-model-group"),
        "deployment": h("x-litellm-model-id"),
        "retries": count("x-litellm-attempted-retries"),
        "fallbacks": count("x-litellm-attempted-fallbacks"),
        "hedged": resp.header("x-switchyard-hedged").is_some(),
        "cost_usd": num("x-litellm-response-cost"),
        "cache": h("x-switchyard-cache"),
        "stream": resp.header("content-type").is_some_and(|c| c.starts_with("text/event-stream")),
        "failed": resp.trace.failed,
    })
    .to_string()
}
