//! OpenAI and Azure OpenAI (and every OpenAI-compatible server): the client's own wire format,
//! so the body is written from the request's parts with the deployment's model and defaults,
//! answers and errors pass through, and the stream is relayed as it is.

use super::Adapter;
use crate::config::Deployment;
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorClass};
use crate::provider::endpoint_url;
use crate::provider::{Auth, RerankShape};
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

pub(super) fn openai_class(status: u16, body: &[u8]) -> ErrorClass {
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

        fn stream(&self, _d: &Deployment, req: &ModelRequest) -> Box<dyn StreamTranslator> {
            if req.endpoint == crate::endpoint::Endpoint::Responses {
                Box::new(ResponsesEvents)
            } else {
                Box::new(OpenAiStream)
            }
        }
    };
}

/// The key (as its provider takes it) and the organization, for OpenAI's API and its copies.
pub(super) fn auth_headers(d: &Deployment, headers: &mut Vec<(&'static str, String)>) {
    if let Some(key) = &d.api_key {
        headers.push(("authorization", format!("Bearer {key}")));
        if d.provider.auth == Auth::BearerAndApiKey {
            headers.push(("api-key", key.clone()));
        }
    }
    if let Some(org) = &d.organization {
        headers.push(("openai-organization", org.clone()));
    }
}

impl Adapter for OpenAi {
    fn request(
        &self,
        d: &Deployment,
        req: &ModelRequest,
        _now_ms: f64,
        headers: &mut Vec<(&'static str, String)>,
    ) -> Result<(String, Vec<u8>), Error> {
        auth_headers(d, headers);
        if req.endpoint == Endpoint::Rerank {
            return Ok((rerank_url(d), rerank_body(req, d)));
        }
        let url = match d.provider.path_prefix {
            "" => endpoint_url(&d.api_base, req.endpoint.path()),
            prefix => endpoint_url(&d.api_base, &format!("{prefix}{}", req.endpoint.path())),
        };
        Ok((url, body(req, d)))
    }

    fn response(
        &self,
        d: &Deployment,
        req: &ModelRequest,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, Error> {
        match (req.endpoint, d.provider.rerank) {
            (Endpoint::Rerank, RerankShape::Voyage) => voyage_rerank_answer(&body),
            _ => Ok(body),
        }
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
        if req.endpoint == Endpoint::Responses {
            // Azure serves Responses once per resource, the deployment named in the body; the
            // GA chat version (the default) predates it.
            let version = d
                .api_version
                .as_deref()
                .filter(|v| *v != crate::provider::AZURE_DEFAULT_API_VERSION)
                .unwrap_or(AZURE_RESPONSES_API_VERSION);
            let base = d.api_base.trim_end_matches('/');
            let url = format!("{base}/openai/responses?api-version={version}");
            return Ok((url, body(req, d)));
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

/// Azure's `api-version` for the Responses API when the deployment sets none (its GA
/// chat version predates it).
const AZURE_RESPONSES_API_VERSION: &str = "2025-04-01-preview";

/// The JSON body for one deployment: its model name first, then the client's fields, then
/// the deployment's defaults for fields the client left out.
pub fn body(req: &ModelRequest, deployment: &Deployment) -> Vec<u8> {
    if let Some(u) = &req.upload {
        return crate::multipart::with_model(&u.body, &u.form, &deployment.model);
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"model\":");
    write_json(&mut out, &Value::String(deployment.model.clone()));
    // Chat asks for the usage chunk; a Responses stream reports usage in its last event.
    let usage_chunk = req.stream && req.endpoint != Endpoint::Responses;
    for (k, v) in req.body.iter() {
        if usage_chunk && k == "stream_options" {
            continue;
        }
        write_entry(&mut out, k, v);
    }
    if usage_chunk {
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

/// Where a rerank call goes: `{api_base}/rerank`, or the provider's own rerank API when the
/// deployment is on the provider's default base.
fn rerank_url(d: &Deployment) -> String {
    match d.provider.rerank_url {
        Some(url) if Some(d.api_base.as_str()) == d.provider.default_api_base => url.to_string(),
        _ => endpoint_url(&d.api_base, Endpoint::Rerank.path()),
    }
}

/// A rerank body in the provider's shape: Cohere's as the client sent it; Voyage's with
/// `top_k` for `top_n` and the documents as plain strings.
fn rerank_body(req: &ModelRequest, d: &Deployment) -> Vec<u8> {
    if d.provider.rerank != RerankShape::Voyage {
        return body(req, d);
    }
    let mut out = Map::new();
    out.insert("model".into(), Value::String(d.model.clone()));
    for (k, v) in req.body.iter() {
        match k.as_str() {
            "top_n" => {
                out.insert("top_k".into(), v.clone());
            }
            "documents" => {
                let docs = v.as_array().map_or(Vec::new(), |docs| {
                    docs.iter()
                        .map(|doc| doc.get("text").unwrap_or(doc).clone())
                        .collect()
                });
                out.insert("documents".into(), Value::Array(docs));
            }
            // Cohere's fields Voyage does not take.
            "return_documents" | "max_chunks_per_doc" | "rank_fields" => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out).to_string().into_bytes()
}

/// Voyage's rerank answer (`data`, `usage.total_tokens`) in Cohere's shape (`results`,
/// `meta`), which `/v1/rerank` answers.
fn voyage_rerank_answer(body: &[u8]) -> Result<Vec<u8>, Error> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| super::common::unreadable("Voyage", e))?;
    let results: Vec<Value> = v
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            let mut out = Map::new();
            out.insert(
                "index".into(),
                r.get("index").cloned().unwrap_or(Value::Null),
            );
            out.insert(
                "relevance_score".into(),
                r.get("relevance_score").cloned().unwrap_or(Value::Null),
            );
            if let Some(doc) = r.get("document") {
                out.insert("document".into(), serde_json::json!({ "text": doc }));
            }
            Value::Object(out)
        })
        .collect();
    let tokens = v
        .pointer("/usage/total_tokens")
        .cloned()
        .unwrap_or(Value::Null);
    let answer = serde_json::json!({
        "id": v.get("id").cloned().unwrap_or(Value::Null),
        "results": results,
        "meta": {"billed_units": {"total_tokens": tokens}},
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    });
    Ok(answer.to_string().into_bytes())
}

/// OpenAI's own stream: passed on as it is.
/// OpenAI's Responses event stream, passed on event by event. Its last event ends it for the
/// relay: after it, a usage-only chunk (counted, never shown to the client) and `[DONE]`.
pub struct ResponsesEvents;

impl StreamTranslator for ResponsesEvents {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<Piece>) {
        #[derive(serde::Deserialize)]
        struct Last {
            #[serde(rename = "type")]
            kind: String,
            #[serde(default)]
            response: Option<LastResponse>,
        }
        #[derive(serde::Deserialize)]
        struct LastResponse {
            #[serde(default)]
            usage: Option<crate::cost::Usage>,
        }
        let last = serde_json::from_slice::<Last>(&ev.data).ok().filter(|l| {
            matches!(
                l.kind.as_str(),
                "response.completed" | "response.incomplete" | "response.failed"
            )
        });
        out.push(Piece::Data(ev.data));
        if let Some(last) = last {
            let u = last.response.and_then(|r| r.usage).unwrap_or_default();
            let usage = serde_json::json!({"choices": [], "usage":
                {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens}});
            out.push(Piece::Data(usage.to_string().into_bytes()));
            out.push(Piece::Done);
        }
    }
}

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
