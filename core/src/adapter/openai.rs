//! OpenAI and Azure OpenAI (and every OpenAI-compatible server): the client's own wire format,
//! so the body is written from the request's parts with the deployment's model and defaults,
//! answers and errors pass through, and the stream is relayed as it is.

use super::Adapter;
use crate::config::Deployment;
use crate::error::{Error, ErrorClass};
use crate::provider::endpoint_url;
use crate::relay::{Piece, StreamTranslator};
use crate::request::ModelRequest;
use crate::sse::SseEvent;
use serde_json::{Map, Value};

/// OpenAI and any server that speaks its API at an `api_base`.
pub struct OpenAi;

/// How OpenAI and the servers that copy its API (vLLM, Ollama, LiteLLM...) word an over-long
/// prompt, and how OpenAI and Azure word a content-policy refusal.
const CONTEXT_WORDS: &[&str] = &[
    "context_length_exceeded",
    "maximum context length",
    "context window",
    "prompt is too long",
    "too many tokens",
    "input is too long",
];
const POLICY_WORDS: &[&str] = &[
    "content_policy_violation",
    "content_filter",
    "content management policy",
    "responsibleaipolicyviolation",
];

fn openai_class(status: u16, body: &[u8]) -> ErrorClass {
    super::common::classify(status, body, CONTEXT_WORDS, POLICY_WORDS)
}

/// What OpenAI and Azure share: every endpoint, OpenAI's error words, OpenAI's stream.
macro_rules! openai_wire {
    () => {
        fn serves(&self, _endpoint: crate::endpoint::Endpoint) -> bool {
            true
        }

        fn error_class(&self, status: u16, body: &[u8]) -> ErrorClass {
            openai_class(status, body)
        }

        fn stream(&self, _d: &Deployment, _req: &ModelRequest) -> Box<dyn StreamTranslator> {
            Box::new(OpenAiStream)
        }
    };
}

impl Adapter for OpenAi {
    fn request(
        &self,
        d: &Deployment,
        req: &ModelRequest,
        _now_ms: f64,
        headers: &mut Vec<(&'static str, String)>,
    ) -> Result<(String, Vec<u8>), Error> {
        if let Some(key) = &d.api_key {
            headers.push(("authorization", format!("Bearer {key}")));
        }
        if let Some(org) = &d.organization {
            headers.push(("openai-organization", org.clone()));
        }
        Ok((endpoint_url(&d.api_base, req.endpoint.path()), body(req, d)))
    }

    openai_wire!();
}

/// Azure OpenAI: OpenAI's body and stream at a per-deployment URL, with `api-key` (or an AD
/// token) and an `api-version`.
pub struct Azure;

impl Adapter for Azure {
    fn request(
        &self,
        d: &Deployment,
        req: &ModelRequest,
        _now_ms: f64,
        headers: &mut Vec<(&'static str, String)>,
    ) -> Result<(String, Vec<u8>), Error> {
        match (&d.azure_ad_token, &d.api_key) {
            (Some(token), _) => headers.push(("authorization", format!("Bearer {token}"))),
            (None, Some(key)) => headers.push(("api-key", key.clone())),
            (None, None) => {}
        }
        let version = d
            .api_version
            .as_deref()
            .unwrap_or(crate::provider::AZURE_DEFAULT_API_VERSION);
        let url = format!(
            "{}/openai/deployments/{}{}?api-version={}",
            d.api_base.trim_end_matches('/'),
            d.model,
            req.endpoint.path(),
            version
        );
        Ok((url, body(req, d)))
    }

    openai_wire!();
}

/// The JSON body for one deployment: its model name first, then the client's fields, then
/// the deployment's defaults for fields the client left out.
pub fn body(req: &ModelRequest, deployment: &Deployment) -> Vec<u8> {
    if let Some(u) = &req.upload {
        return crate::multipart::with_model(&u.body, &u.form, &deployment.model);
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"model\":");
    write_json(&mut out, &Value::String(deployment.model.clone()));
    for (k, v) in req.body.iter() {
        if req.stream && k == "stream_options" {
            continue;
        }
        write_entry(&mut out, k, v);
    }
    if req.stream {
        let mut opts = match req.body.get("stream_options") {
            Some(Value::Object(o)) => o.clone(),
            _ => Map::new(),
        };
        opts.insert("include_usage".into(), Value::Bool(true));
        write_entry(&mut out, "stream_options", &Value::Object(opts));
    }
    for (k, v) in deployment.body_defaults.iter() {
        if !req.body.contains_key(k) {
            write_entry(&mut out, k, v);
        }
    }
    out.push(b'}');
    out
}

fn write_entry(out: &mut Vec<u8>, k: &str, v: &Value) {
    out.push(b',');
    write_json(out, &Value::String(k.to_string()));
    out.push(b':');
    write_json(out, v);
}

fn write_json(out: &mut Vec<u8>, v: &Value) {
    // Writing a `Value` into a Vec cannot fail: no I/O and every key is a string.
    if let Err(e) = serde_json::to_writer(&mut *out, v) {
        out.extend_from_slice(format!("null /* {e} */").as_bytes());
    }
}

/// OpenAI's own stream: passed on as it is.
pub struct OpenAiStream;

impl StreamTranslator for OpenAiStream {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<Piece>) {
        // The relay parses every chunk: one that is not JSON ends the stream with a clear
        // error instead of reaching the client (before the first event it fails over).
        if ev.data.trim_ascii() == b"[DONE]" {
            out.push(Piece::Done);
        } else {
            out.push(Piece::Data(ev.data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;

    fn with(key: &str, v: Value) -> Value {
        let mut b = json!({"model": "g", "messages": [{"role": "user", "content": "hi"}]});
        b[key] = v;
        b
    }

    fn parse(v: Value) -> Result<ModelRequest, Error> {
        ModelRequest::parse(v.to_string().as_bytes())
    }

    #[test]
    fn upstream_body_renames_model_and_fills_defaults() {
        let cfg = Config::from_text(
            r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"openai/real-name","temperature":0.1,"seed":9}}]}"#,
            &|_: &str| None,
        )
        .unwrap();
        let mut b = with("temperature", json!(0.7));
        b["stream"] = json!(true);
        let r = parse(b).unwrap();
        assert!(!r.include_usage);
        let out: Value = serde_json::from_slice(&body(&r, &cfg.deployments[0])).unwrap();
        assert_eq!(out["model"], "real-name");
        assert_eq!(out["temperature"], json!(0.7), "client wins over defaults");
        assert_eq!(out["seed"], json!(9), "defaults fill gaps");
        assert_eq!(out["stream"], json!(true));
        assert_eq!(
            out["stream_options"]["include_usage"],
            json!(true),
            "always asked upstream"
        );
        assert_eq!(out["messages"][0]["content"], "hi");
        let mut b = with("stream", json!(true));
        b["stream_options"] = json!({"include_usage": true});
        assert!(parse(b).unwrap().include_usage);
    }
}
