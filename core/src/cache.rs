//! The response cache: identical requests to a model group (or a caching group) are answered
//! from a stored completion, as JSON or, for a streaming request, as an SSE stream made from it.
//! Only complete (non-streaming) answers are stored: a stream's pieces are not kept.
//!
//! Per request, the body's `cache` field controls it, with LiteLLM's names: `no-cache` (do not
//! read), `no-store` (do not write), `ttl` (seconds to keep this answer), `s-maxage` (accept only
//! answers younger than this many seconds).

use crate::config::CacheSettings;
use crate::error::Error;
use crate::request::ModelRequest;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What the cache does for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct CachePlan {
    pub key: String,
    pub read: bool,
    pub write: bool,
    pub ttl_secs: u64,
    /// Oldest acceptable answer, in ms (`s-maxage`).
    pub max_age_ms: Option<f64>,
}

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    pub created_ms: f64,
    pub ttl_ms: f64,
    pub group: String,
    pub deployment_id: String,
    pub body: Value,
}

fn bad(what: &str) -> Error {
    Error::invalid_value("cache", what)
}

/// Whose answers a request may read: a virtual key's own (by its hash), the master key's,
/// or (no master key configured) everyone's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scope<'a> {
    Key(&'a str),
    Master,
    Open,
}

/// The plan for `req` from a caller in `scope`, or `None` when caching is off.
pub fn plan(
    settings: Option<&CacheSettings>,
    req: &ModelRequest,
    scope: Scope<'_>,
) -> Result<Option<CachePlan>, Error> {
    let Some(s) = settings else { return Ok(None) };
    if !s.endpoints.contains(&req.endpoint) {
        return Ok(None);
    }
    let control = match req.router_fields.get("cache") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(bad("must be an object")),
    };
    let flag = |k: &str| -> Result<bool, Error> {
        match control.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(bad(&format!("{k} must be a boolean"))),
        }
    };
    let secs = |k: &str| -> Result<Option<f64>, Error> {
        match control.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .map(Some)
                .ok_or_else(|| bad(&format!("{k} must be a number of seconds"))),
        }
    };
    let ttl_secs = match secs("ttl")? {
        Some(t) if t > s.max_ttl_secs as f64 => {
            return Err(bad(&format!(
                "ttl must be at most {} seconds (router_settings.max_cache_ttl)",
                s.max_ttl_secs
            )))
        }
        Some(t) => t.ceil() as u64,
        None => s.ttl_secs.min(s.max_ttl_secs),
    };
    // A stream is made from a cached chat completion; other streams are not served from cache.
    let servable = !req.stream || req.endpoint == crate::request::Endpoint::Chat;
    Ok(Some(CachePlan {
        key: key(s, req, scope),
        read: !flag("no-cache")? && servable,
        write: !flag("no-store")? && ttl_secs > 0,
        ttl_secs,
        max_age_ms: secs("s-maxage")?.map(|a| a * 1000.0),
    }))
}

/// `namespace:sha256(cache group, body)`. The body is the client's request without the fields
/// that do not change the answer (`stream`, `stream_options`) or that only steer the router;
/// its keys are in a fixed order, so the same request always has the same key.
pub fn key(s: &CacheSettings, req: &ModelRequest, scope: Scope<'_>) -> String {
    let group = s
        .caching_groups
        .iter()
        .find(|g| g.contains(&req.model))
        .map(|g| g.join(","))
        .unwrap_or_else(|| req.model.clone());
    let mut h = Sha256::new();
    // Each key's answers are its own unless the config shares them: another tenant must not
    // read them, nor learn which prompts were sent.
    if !s.shared {
        match scope {
            Scope::Key(hash) => h.update(hash.as_bytes()),
            Scope::Master => h.update(b"master"),
            Scope::Open => h.update(b"open"),
        }
    }
    h.update([0u8]);
    h.update(req.endpoint.path().as_bytes());
    h.update([0u8]);
    h.update(group.as_bytes());
    h.update([0u8]);
    for (k, v) in req.body.iter() {
        if k == "stream" || k == "stream_options" {
            continue;
        }
        h.update(k.as_bytes());
        h.update([0u8]);
        h.update(v.to_string().as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}:{hex}", s.namespace)
}

/// Reads a stored answer that is still fresh for this plan.
pub fn fresh(bytes: &[u8], plan: &CachePlan, now_ms: f64) -> Option<Stored> {
    let stored: Stored = serde_json::from_slice(bytes).ok()?;
    let age = now_ms - stored.created_ms;
    if age > stored.ttl_ms || plan.max_age_ms.is_some_and(|max| age > max) {
        return None;
    }
    Some(stored)
}

/// Where a stored answer came from, and when.
pub struct Origin<'a> {
    pub group: &'a str,
    pub deployment_id: &'a str,
    pub now_ms: f64,
}

/// A complete answer (`body`: with `choices`, or an embeddings `data` list, or rerank
/// `results`) as the bytes to store under `plan`; `None` for anything else (an error body, a
/// non-JSON answer), which is never stored.
pub fn stored(plan: &CachePlan, at: &Origin<'_>, body: &[u8]) -> Option<Vec<u8>> {
    let value: Value = serde_json::from_slice(body).ok()?;
    ["choices", "data", "results"]
        .iter()
        .find_map(|k| value.get(*k).filter(|v| v.is_array()))?;
    let stored = Stored {
        created_ms: at.now_ms,
        ttl_ms: plan.ttl_secs as f64 * 1000.0,
        group: at.group.to_string(),
        deployment_id: at.deployment_id.to_string(),
        body: value,
    };
    serde_json::to_vec(&stored).ok()
}

/// The SSE stream a streaming client gets for a cached completion: the role and content (and
/// tool calls) of each choice in one chunk, its finish reason in another, the usage chunk if
/// asked for, then `[DONE]`.
pub fn as_sse(completion: &Value, include_usage: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let base = |choices: Value| {
        let mut c = json!({
            "id": completion.get("id").cloned().unwrap_or(Value::Null),
            "object": "chat.completion.chunk",
            "created": completion.get("created").cloned().unwrap_or(json!(0)),
            "model": completion.get("model").cloned().unwrap_or(Value::Null),
            "choices": choices,
        });
        if include_usage {
            c["usage"] = Value::Null;
        }
        c
    };
    let mut push = |v: Value| {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(v.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
    };
    let choices = completion
        .get("choices")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, choice) in choices.iter().enumerate() {
        let index = choice.get("index").cloned().unwrap_or(json!(i));
        let msg = choice.get("message").cloned().unwrap_or(json!({}));
        let mut delta = json!({"role": msg.get("role").cloned().unwrap_or(json!("assistant"))});
        if let Some(c) = msg.get("content") {
            delta["content"] = c.clone();
        }
        if let Some(Value::Array(calls)) = msg.get("tool_calls") {
            let indexed: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(j, call)| {
                    let mut c = call.clone();
                    c["index"] = json!(j);
                    c
                })
                .collect();
            delta["tool_calls"] = Value::Array(indexed);
        }
        push(base(
            json!([{"index": index, "delta": delta, "finish_reason": null}]),
        ));
        let finish = choice
            .get("finish_reason")
            .cloned()
            .unwrap_or(json!("stop"));
        push(base(
            json!([{"index": index, "delta": {}, "finish_reason": finish}]),
        ));
    }
    if include_usage {
        let mut last = base(json!([]));
        last["usage"] = completion.get("usage").cloned().unwrap_or(Value::Null);
        push(last);
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::CacheStore;
    use crate::stores::MemoryCache;
    use serde_json::json;
    use std::rc::Rc;

    fn settings(groups: Vec<Vec<&str>>) -> CacheSettings {
        CacheSettings {
            ttl_secs: 600,
            namespace: "ns".into(),
            caching_groups: groups
                .into_iter()
                .map(|g| g.into_iter().map(str::to_string).collect())
                .collect(),
            shared: false,
            max_ttl_secs: 3_600,
            endpoints: vec![
                crate::request::Endpoint::Chat,
                crate::request::Endpoint::Completions,
                crate::request::Endpoint::Embeddings,
            ],
        }
    }

    #[test]
    fn answers_are_scoped_per_key_unless_shared() {
        let mut s = settings(vec![]);
        let r = req(base());
        let a = key(&s, &r, Scope::Key("hash-a"));
        assert_ne!(
            a,
            key(&s, &r, Scope::Key("hash-b")),
            "another key, another entry"
        );
        assert_ne!(a, key(&s, &r, Scope::Master));
        assert_ne!(key(&s, &r, Scope::Master), key(&s, &r, Scope::Open));
        assert_eq!(a, key(&s, &r, Scope::Key("hash-a")));
        s.shared = true;
        assert_eq!(
            key(&s, &r, Scope::Key("hash-a")),
            key(&s, &r, Scope::Key("hash-b"))
        );
    }

    #[test]
    fn a_client_ttl_above_the_cap_is_refused() {
        let s = settings(vec![]);
        for ttl in [json!(1e300), json!(3_601)] {
            let mut b = base();
            b["cache"] = json!({ "ttl": ttl });
            let e = plan(Some(&s), &req(b), Scope::Open).unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.message().contains("at most 3600"), "{}", e.message());
        }
        let mut b = base();
        b["cache"] = json!({"ttl": 3_600});
        assert_eq!(
            plan(Some(&s), &req(b), Scope::Open)
                .unwrap()
                .unwrap()
                .ttl_secs,
            3_600
        );
    }

    fn req(v: Value) -> ModelRequest {
        ModelRequest::parse(v.to_string().as_bytes()).unwrap()
    }

    fn base() -> Value {
        json!({"model":"gpt-4","messages":[{"role":"user","content":"2+2?"}],"temperature":0})
    }

    #[test]
    fn same_request_same_key_whatever_the_order_or_streaming() {
        let s = settings(vec![]);
        let a = key(&s, &req(base()), Scope::Open);
        let reordered = req(
            json!({"temperature":0,"messages":[{"role":"user","content":"2+2?"}],"model":"gpt-4","stream":true,"stream_options":{"include_usage":true}}),
        );
        assert_eq!(a, key(&s, &reordered, Scope::Open));
        assert!(a.starts_with("ns:"));
        let mut other = base();
        other["temperature"] = json!(1);
        assert_ne!(a, key(&s, &req(other), Scope::Open));
        let mut other_model = base();
        other_model["model"] = json!("gpt-4o");
        assert_ne!(a, key(&s, &req(other_model), Scope::Open));
        let mut routed = base();
        routed["fallbacks"] = json!(["x"]);
        routed["cache"] = json!({"ttl": 5});
        assert_eq!(
            a,
            key(&s, &req(routed), Scope::Open),
            "router-only fields do not change the answer"
        );
    }

    #[test]
    fn caching_groups_share_keys() {
        let s = settings(vec![vec!["gpt-4", "gpt-4-azure"]]);
        let mut azure = base();
        azure["model"] = json!("gpt-4-azure");
        assert_eq!(
            key(&s, &req(base()), Scope::Open),
            key(&s, &req(azure), Scope::Open)
        );
    }

    #[test]
    fn per_request_controls() {
        let s = settings(vec![]);
        let p = plan(Some(&s), &req(base()), Scope::Open).unwrap().unwrap();
        assert!(p.read && p.write);
        assert_eq!(p.ttl_secs, 600);
        let mut b = base();
        b["cache"] = json!({"no-cache": true, "ttl": 5, "s-maxage": 2});
        let p = plan(Some(&s), &req(b), Scope::Open).unwrap().unwrap();
        assert!(!p.read && p.write);
        assert_eq!(p.ttl_secs, 5);
        assert_eq!(p.max_age_ms, Some(2_000.0));
        let mut b = base();
        b["cache"] = json!({"no-store": true});
        assert!(!plan(Some(&s), &req(b), Scope::Open).unwrap().unwrap().write);
        let mut b = base();
        b["cache"] = json!({"no-store": "yes"});
        assert_eq!(
            plan(Some(&s), &req(b), Scope::Open).unwrap_err().status(),
            400
        );
        assert!(plan(None, &req(base()), Scope::Open).unwrap().is_none());
    }

    #[test]
    fn freshness_by_ttl_and_max_age() {
        let s = settings(vec![]);
        let p = plan(Some(&s), &req(base()), Scope::Open).unwrap().unwrap();
        let stored = Stored {
            created_ms: 1_000.0,
            ttl_ms: 10_000.0,
            group: "g".into(),
            deployment_id: "d".into(),
            body: json!({}),
        };
        let bytes = serde_json::to_vec(&stored).unwrap();
        assert!(fresh(&bytes, &p, 5_000.0).is_some());
        assert!(fresh(&bytes, &p, 12_000.0).is_none(), "past its ttl");
        let strict = CachePlan {
            max_age_ms: Some(1_000.0),
            ..p.clone()
        };
        assert!(
            fresh(&bytes, &strict, 5_000.0).is_none(),
            "older than s-maxage"
        );
        assert!(fresh(b"garbage", &p, 0.0).is_none());
    }

    #[test]
    fn cached_completion_as_a_stream() {
        let completion = json!({"id":"c1","created":5,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"4","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}});
        let text = String::from_utf8(as_sse(&completion, true)).unwrap();
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 4);
        let first: Value = serde_json::from_str(&events[0][6..]).unwrap();
        assert_eq!(first["object"], "chat.completion.chunk");
        assert_eq!(first["choices"][0]["delta"]["content"], "4");
        assert_eq!(first["choices"][0]["delta"]["tool_calls"][0]["index"], 0);
        assert_eq!(first["usage"], Value::Null);
        let usage: Value = serde_json::from_str(&events[2][6..]).unwrap();
        assert_eq!(usage["usage"]["prompt_tokens"], 3);
        assert_eq!(events[3], "data: [DONE]");
        let plain = String::from_utf8(as_sse(&completion, false)).unwrap();
        assert!(!plain.contains("usage"));
    }

    #[test]
    fn memory_cache_expires() {
        let clock = crate::testing::ManualClock::default();
        let c = MemoryCache::new(Rc::new(clock.clone()), 2);
        futures::executor::block_on(c.put("k", b"v".to_vec(), 1));
        assert_eq!(futures::executor::block_on(c.get("k")), Some(b"v".to_vec()));
        clock.advance(1_500.0);
        assert_eq!(futures::executor::block_on(c.get("k")), None);
    }
}
