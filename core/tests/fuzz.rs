//! Property-based fuzzing of everything that reads untrusted bytes: the config parser, the
//! request parser (alone and behind the whole HTTP surface), the SSE and AWS event-stream
//! decoders, the stream relay, multipart forms and providers' answers. Inputs are random bytes,
//! random JSON built from the real field names, and valid inputs with random damage.
//!
//! Properties: nothing panics; every rejection is a clean error of the right kind (a config
//! error, an OpenAI-shaped 4xx that never reached the upstream, a 5xx for an upstream's garbage);
//! decoders give the same events however the bytes are split; a relayed stream ends either with
//! `[DONE]` or with an error event, never as a silent success.
//!
//! Each target runs for `FUZZ_SECONDS` (default 2) of wall time: `FUZZ_SECONDS=120 cargo test
//! -p switchyard-core --test fuzz --release` for a longer run by hand.

// Test code: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(not(target_arch = "wasm32"))]

use futures::executor::block_on;
use futures::StreamExt;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use std::rc::Rc;
use std::time::{Duration, Instant};
use switchyard_core::api::Services;
use switchyard_core::config::Config;
use switchyard_core::eventstream::{encode, EventStreamDecoder};
use switchyard_core::multipart;
use switchyard_core::ports::{ByteStream, Clock, TransportError};
use switchyard_core::relay::Relay;
use switchyard_core::request::{Endpoint, ModelRequest};
use switchyard_core::router::{Router, Runtime};
use switchyard_core::sse::{SseDecoder, SseEvent};
use switchyard_core::testing::{ManualClock, Reply, ScriptedUpstream};
use switchyard_core::{App, Error, HttpBody, HttpRequest};

fn budget() -> Duration {
    let secs = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

/// Runs `check` on values of `strategy` until the time budget is spent; a failure is shrunk by
/// proptest, reported with its smallest input, and its seed kept in
/// `core/tests/fuzz-regressions/<name>.txt` (commit it): every later run replays it first.
fn fuzz<S: Strategy>(name: &str, strategy: S, check: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let deadline = Instant::now() + budget();
    let mut cases = 0u32;
    let seeds: &'static str = Box::leak(
        format!(
            "{}/tests/fuzz-regressions/{name}.txt",
            env!("CARGO_MANIFEST_DIR")
        )
        .into_boxed_str(),
    );
    loop {
        let mut runner = TestRunner::new(RunnerConfig {
            cases: 64,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(seeds))),
            ..RunnerConfig::default()
        });
        if let Err(e) = runner.run(&strategy, &check) {
            panic!("fuzz target `{name}` failed after {cases} cases: {e}");
        }
        cases += 64;
        if Instant::now() >= deadline {
            break;
        }
    }
    eprintln!("fuzz {name}: {cases} cases, no failure");
}

/// `base` with up to 8 random edits: bytes replaced, removed, inserted or a slice repeated.
fn damaged(base: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    let edit = (
        any::<usize>(),
        0u8..4,
        proptest::collection::vec(any::<u8>(), 1..8),
    );
    proptest::collection::vec(edit, 0..8).prop_map(move |edits| {
        let mut v = base.to_vec();
        for (at, op, bytes) in edits {
            let i = if v.is_empty() { 0 } else { at % v.len() };
            match op {
                0 if !v.is_empty() => v[i] = bytes[0],
                1 if !v.is_empty() => {
                    let end = (i + bytes.len()).min(v.len());
                    v.drain(i..end);
                }
                2 => {
                    v.splice(i..i, bytes);
                }
                _ => {
                    let end = (i + bytes.len()).min(v.len());
                    let slice = v[i..end].to_vec();
                    v.splice(i..i, slice);
                }
            }
        }
        v
    })
}

/// Random JSON whose keys are the fields the parsers look at, with values of every type.
fn json_value() -> impl Strategy<Value = Value> {
    let keys = prop_oneof![
        Just("model"),
        Just("messages"),
        Just("role"),
        Just("content"),
        Just("type"),
        Just("text"),
        Just("image_url"),
        Just("url"),
        Just("tool_calls"),
        Just("function"),
        Just("arguments"),
        Just("name"),
        Just("stream"),
        Just("stream_options"),
        Just("include_usage"),
        Just("temperature"),
        Just("n"),
        Just("max_tokens"),
        Just("stop"),
        Just("tools"),
        Just("tool_choice"),
        Just("input"),
        Just("prompt"),
        Just("fallbacks"),
        Just("num_retries"),
        Just("metadata"),
        Just("cache"),
        Just("ttl"),
        Just("user"),
        Just("seed"),
        Just("response_format"),
        "[a-z_]{1,8}".prop_map(|s| Box::leak(s.into_boxed_str()) as &str),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just("g".to_string()),
            Just("user".to_string()),
            Just("system".to_string()),
            Just("assistant".to_string()),
            Just("tool".to_string()),
            ".{0,12}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// A chat body: mostly well-formed around the edges, with random values inside.
fn chat_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (json_value(), json_value(), json_value()).prop_map(|(content, extra, value)| {
            let mut body =
                json!({"model": "g", "messages": [{"role": "user", "content": content}]});
            if let (Value::Object(b), Value::Object(x)) = (&mut body, extra) {
                for (k, v) in x {
                    b.insert(k, v);
                }
                b.insert("temperature".into(), value);
            }
            body.to_string().into_bytes()
        }),
        damaged(
            br#"{"model":"g","messages":[{"role":"user","content":"hi"}],"stream":false,"n":1}"#
        ),
        proptest::collection::vec(any::<u8>(), 0..256),
    ]
}

fn openai_error_shape(body: &[u8]) -> Result<(), TestCaseError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| TestCaseError::fail(format!("error body is not JSON: {e}")))?;
    let err = &v["error"];
    prop_assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    prop_assert!(err["type"].is_string(), "{v}");
    prop_assert!(
        err.get("param").is_some() && err.get("code").is_some(),
        "{v}"
    );
    Ok(())
}

#[test]
fn fuzz_config_parser() {
    const VALID: &[u8] = br#"
model_list:
  - model_name: g
    litellm_params: { model: openai/m, api_base: "http://up.test/v1", api_key: os.environ/KEY, rpm: 10 }
    model_info: { id: a, input_cost_per_token: 0.1 }
  - model_name: g
    litellm_params: { model: anthropic/claude, weight: 2, timeout: 5 }
router_settings:
  routing_strategy: usage-based-routing-v2
  num_retries: 2
  fallbacks: [{ g: [h] }]
  retry_policy: { RateLimitErrorRetries: 3 }
general_settings: { master_key: sk-1, max_request_size_mb: 2 }
litellm_settings: { cache: true, cache_params: { ttl: 60 } }
"#;
    let text = prop_oneof![
        damaged(VALID),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..200),
    ];
    fuzz("config", text, |bytes| {
        let text = String::from_utf8_lossy(&bytes);
        match Config::from_text(&text, &|_: &str| Some("secret".into())) {
            Ok(_) => Ok(()),
            Err(e @ Error::Config { .. }) => {
                prop_assert_eq!(e.status(), 500);
                prop_assert!(!e.message().is_empty());
                Ok(())
            }
            Err(e) => Err(TestCaseError::fail(format!("not a config error: {e:?}"))),
        }
    });
}

#[test]
fn fuzz_request_parser_every_endpoint() {
    let endpoints = [
        Endpoint::Chat,
        Endpoint::Completions,
        Endpoint::Embeddings,
        Endpoint::Moderations,
        Endpoint::ImageGenerations,
        Endpoint::Speech,
    ];
    fuzz(
        "request",
        (0..endpoints.len(), chat_body()),
        |(i, body)| match ModelRequest::parse_for(endpoints[i], &body) {
            Ok(req) => {
                prop_assert!(!req.model.is_empty());
                Ok(())
            }
            Err(e) => {
                prop_assert_eq!(e.status(), 400, "{:?}", e);
                openai_error_shape(&e.body())
            }
        },
    );
}

fn test_app(up: &Rc<ScriptedUpstream>, config: &str) -> App {
    let router = Config::from_text(config, &|_: &str| None).map(|c| {
        Router::new(
            c,
            Runtime::new(up.clone(), Rc::new(ManualClock::default()), 5),
        )
    });
    App::new(router, Services::in_memory(Rc::new(ManualClock::default())))
}

fn body_bytes(body: HttpBody) -> Vec<u8> {
    match body {
        HttpBody::Bytes(b) => b,
        HttpBody::Stream(s) => block_on(s.collect::<Vec<_>>()).concat(),
    }
}

const OK_COMPLETION: &str = r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#;

#[test]
fn fuzz_http_surface_bad_requests_never_reach_the_upstream() {
    let paths = [
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/moderations",
        "/v1/images/generations",
        "/v1/audio/speech",
        "/v1/models",
        "/model/new",
        "/key/generate",
        "/v1/../admin",
    ];
    let methods = ["POST", "GET", "PUT", "OPTIONS"];
    fuzz(
        "http",
        (0..paths.len(), 0..methods.len(), chat_body(), any::<bool>()),
        |(p, m, body, authorized)| {
            let up = Rc::new(ScriptedUpstream::default());
            for path in [
                "chat/completions",
                "completions",
                "embeddings",
                "moderations",
            ] {
                up.push(
                    &format!("http://up.test/v1/{path}"),
                    Reply::json(200, OK_COMPLETION),
                );
            }
            let app = test_app(
                &up,
                r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"openai/m","api_base":"http://up.test/v1"}}],
                    "general_settings":{"master_key":"sk-master"}}"#,
            );
            let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
            if authorized {
                headers.push(("authorization".into(), "Bearer sk-master".into()));
            }
            let resp = block_on(app.handle(HttpRequest {
                method: methods[m].into(),
                path: paths[p].into(),
                headers,
                body: body.clone(),
            }));
            let status = resp.status;
            let bytes = body_bytes(resp.body);
            prop_assert!((200..600).contains(&status));
            if status >= 400 {
                openai_error_shape(&bytes)?;
            }
            if (400..500).contains(&status) {
                prop_assert_eq!(
                    up.calls.borrow().len(),
                    0,
                    "a rejected request reached the upstream"
                );
            }
            if !authorized && paths[p] != "/v1/models" && methods[m] != "OPTIONS" {
                prop_assert!(
                    status == 401 || status == 404 || status == 405,
                    "status {}",
                    status
                );
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_upstream_garbage_becomes_a_clean_error() {
    // What each provider's deployment calls, found by asking once.
    let providers = [
        ("openai/m", "http://up.test/v1"),
        ("anthropic/claude-x", "http://up.test/anthropic"),
        ("gemini/gemini-x", "http://up.test/gemini"),
    ];
    let answers = prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        damaged(OK_COMPLETION.as_bytes()),
        damaged(br#"{"id":"m","type":"message","role":"assistant","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}"#),
        damaged(br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":1}}"#),
        proptest::collection::vec(any::<u8>(), 0..128),
    ];
    let statuses = prop_oneof![Just(200u16), Just(400), Just(429), Just(500), 100u16..600];
    fuzz(
        "upstream answers",
        (0..providers.len(), answers, statuses, any::<bool>()),
        |(i, answer, status, stream)| {
            let (model, base) = providers[i];
            let config = json!({"model_list":[{"model_name":"g","litellm_params":{"model":model,"api_base":base,"api_key":"k"}}],
                                "router_settings":{"num_retries":0}})
            .to_string();
            let probe = Rc::new(ScriptedUpstream::default());
            let req = |stream: bool| HttpRequest {
                method: "POST".into(),
                path: "/v1/chat/completions".into(),
                headers: vec![],
                body:
                    json!({"model":"g","stream":stream,"messages":[{"role":"user","content":"hi"}]})
                        .to_string()
                        .into_bytes(),
            };
            let _ = block_on(test_app(&probe, &config).handle(req(stream)));
            let url = probe.calls.borrow()[0].url.clone();

            let up = Rc::new(ScriptedUpstream::default());
            up.push(
                &url,
                Reply::Full {
                    status,
                    headers: vec![("content-type".into(), "application/json".into())],
                    body: answer,
                },
            );
            let resp = block_on(test_app(&up, &config).handle(req(stream)));
            let status_out = resp.status;
            let bytes = body_bytes(resp.body);
            if status_out >= 400 {
                openai_error_shape(&bytes)?;
            } else {
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(v) => prop_assert!(v.is_object(), "a 2xx that is not an object: {}", v),
                    // JSON's grammar allows a lone surrogate escape (JavaScript reads it); only
                    // serde_json's Value refuses it.
                    Err(e) if e.to_string().contains("unicode code point") => {}
                    Err(e) => {
                        return Err(TestCaseError::fail(format!("a 2xx that is not JSON: {e}")))
                    }
                }
            }
            Ok(())
        },
    );
}

fn sse_events(chunks: &[&[u8]]) -> Vec<SseEvent> {
    let mut d = SseDecoder::new();
    let mut out = Vec::new();
    for c in chunks {
        d.push(c, &mut out);
    }
    out
}

/// Cuts `bytes` at the given points (taken modulo its length).
fn split<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for a in at {
        pieces.push(&bytes[start..a]);
        start = a;
    }
    pieces.push(&bytes[start..]);
    pieces
}

#[test]
fn fuzz_sse_decoder_any_split_gives_the_same_events() {
    let stream = prop_oneof![
        damaged(b"event: message_start\ndata: {\"a\":1}\n\n: ping\r\ndata: x\r\ndata: y\r\n\r\nid: 3\ndata: [DONE]\n\n"),
        proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'\r'), Just(b':'), Just(b' '), Just(b'd'), any::<u8>()],
            0..200
        ),
    ];
    let cuts = proptest::collection::vec(any::<usize>(), 0..12);
    fuzz("sse", (stream, cuts), |(bytes, cuts)| {
        let whole = sse_events(&[&bytes]);
        let pieces = split(&bytes, &cuts);
        prop_assert_eq!(sse_events(&pieces), whole);
        Ok(())
    });
}

#[test]
fn fuzz_event_stream_decoder() {
    let frame = (
        proptest::collection::vec(("[a-z:-]{1,12}", ".{0,16}"), 0..4),
        proptest::collection::vec(any::<u8>(), 0..64),
    );
    let frames = proptest::collection::vec(frame, 1..5);
    let cuts = proptest::collection::vec(any::<usize>(), 0..10);
    let damage = proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3);
    fuzz(
        "event-stream",
        (frames, cuts, damage),
        |(frames, cuts, damage)| {
            let mut bytes = Vec::new();
            for (headers, payload) in &frames {
                let h: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                bytes.extend(encode(&h, payload));
            }
            let decode = |pieces: &[&[u8]]| {
                let mut d = EventStreamDecoder::new();
                let mut out = Vec::new();
                for p in pieces {
                    d.push(p, &mut out);
                }
                (out, d.corrupt)
            };
            let (whole, corrupt) = decode(&[&bytes]);
            prop_assert!(!corrupt);
            prop_assert_eq!(whole.len(), frames.len());
            prop_assert_eq!(decode(&split(&bytes, &cuts)), (whole, false));
            // Damaged bytes: a CRC catches them (corrupt) or they still decode; never a panic.
            let mut bad = bytes.clone();
            for (at, b) in damage {
                let i = at % bad.len();
                bad[i] ^= b | 1;
            }
            let _ = decode(&split(&bad, &cuts));
            Ok(())
        },
    );
}

#[test]
fn fuzz_relay_never_ends_a_broken_stream_as_a_success() {
    let chunk = prop_oneof![
        Just(Ok(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n".to_vec()
        )),
        Just(Ok(b"data: [DONE]\n\n".to_vec())),
        Just(Ok(b"data: {\"error\":{\"message\":\"x\"}}\n\n".to_vec())),
        Just(Err("reset".to_string())),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Ok),
        damaged(b"data: {\"choices\":[]}\n\n").prop_map(Ok),
    ];
    fuzz("relay", proptest::collection::vec(chunk, 0..8), |chunks| {
        let upstream: ByteStream = Box::pin(futures::stream::iter(
            chunks
                .clone()
                .into_iter()
                .map(|c| c.map_err(|message| TransportError { message })),
        ));
        let clock: Rc<dyn Clock> = Rc::new(ManualClock::default());
        let mut relay = Relay::new(
            upstream,
            clock,
            1_000,
            Box::new(switchyard_core::adapter::OpenAiStream),
        );
        let out = block_on(async move {
            match relay.first_frame(1_000).await {
                Ok(first) => Some(
                    relay
                        .into_client_stream(first)
                        .collect::<Vec<_>>()
                        .await
                        .concat(),
                ),
                Err(_) => None, // a failure before the first event: the router fails over
            }
        });
        if let Some(out) = out {
            let text = String::from_utf8_lossy(&out);
            let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
            prop_assert!(events.iter().all(|e| e.starts_with("data: ")), "{}", text);
            let last = events.last().copied().unwrap_or("");
            prop_assert!(
                last == "data: [DONE]" || last.starts_with("data: {\"error\""),
                "a stream ended without [DONE] or an error: {}",
                text
            );
            for e in &events[..events.len().saturating_sub(1)] {
                prop_assert!(*e != "data: [DONE]", "[DONE] before the end");
                prop_assert!(
                    serde_json::from_str::<Value>(&e[6..]).is_ok(),
                    "not JSON: {}",
                    e
                );
            }
        }
        Ok(())
    });
}

#[test]
fn fuzz_multipart_forms() {
    const FORM: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF....\r\n--XyZ--\r\n";
    fuzz("multipart", damaged(FORM), |body| {
        match multipart::parse("multipart/form-data; boundary=XyZ", &body) {
            Ok(form) => {
                let _ = multipart::with_model(&body, &form, "other");
                Ok(())
            }
            Err(e) => {
                prop_assert_eq!(e.status(), 400);
                Ok(())
            }
        }
    });
}
