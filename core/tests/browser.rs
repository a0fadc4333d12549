//! The core compiled to wasm32 and run in headless Chromium (`wasm-pack test --headless --chrome
//! core`): the same code the Worker runs, with real JS timers instead of the virtual clock.

// Test code: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(target_arch = "wasm32")]

use futures::StreamExt;
use std::rc::Rc;
use switchyard_core::config::Config;
use switchyard_core::ports::{ByteStream, Clock};
use switchyard_core::relay::Relay;
use switchyard_core::request::ModelRequest;
use switchyard_core::rng::Rng;
use switchyard_core::router::{RoutedBody, Router, Runtime};
use switchyard_core::routing::simple_shuffle;
use switchyard_core::sse::SseDecoder;
use switchyard_core::testing::{Reply, ScriptedUpstream};
use switchyard_core::Error;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const YAML: &str = r#"
model_list:
  - model_name: g
    litellm_params: {model: openai/a, api_base: "http://a.test/v1", api_key: os.environ/KEY, weight: 4}
  - model_name: g
    litellm_params: {model: openai/b, api_base: "http://b.test/v1", weight: 1, timeout: 0.05}
router_settings: {num_retries: 0}
"#;

fn config() -> Config {
    Config::from_text(YAML, &|n: &str| (n == "KEY").then(|| "sk-1".to_string())).unwrap()
}

/// The browser's clock: `Date.now()` and `setTimeout` (the Worker has its own, the same way).
struct JsClock;

impl switchyard_core::ports::Clock for JsClock {
    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }

    fn sleep(&self, ms: u64) -> switchyard_core::ports::LocalFuture<()> {
        let ms = u32::try_from(ms)
            .unwrap_or(i32::MAX as u32)
            .min(i32::MAX as u32);
        Box::pin(gloo_timers::future::TimeoutFuture::new(ms))
    }
}

#[wasm_bindgen_test]
fn config_parser_reads_yaml_and_secrets() {
    let c = config();
    assert_eq!(c.deployments.len(), 2);
    assert_eq!(c.deployments[0].api_key.as_deref(), Some("sk-1"));
    assert_eq!(c.deployments[1].timeout_ms, 50);
    // A deployment whose secret is not set is left out; the other serves.
    let partial = Config::from_text(YAML, &|_: &str| None).unwrap();
    assert_eq!(partial.deployments.len(), 1);
    assert!(partial.left_out[0].reason.contains("`KEY`"));
}

#[wasm_bindgen_test]
fn weighted_selection_ratio() {
    let c = config();
    let ds: Vec<_> = c.deployments.iter().collect();
    let mut rng = Rng::seeded(11);
    let mut first = 0;
    for _ in 0..10_000 {
        if simple_shuffle(&ds, &mut rng) == Some(0) {
            first += 1;
        }
    }
    assert!((7_850..=8_150).contains(&first), "{first}");
}

#[wasm_bindgen_test]
fn sse_decoder_across_splits() {
    let input = b"data: {\"a\":1}\r\n\r\ndata: [DONE]\n\n";
    for cut in 0..input.len() {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        d.push(&input[..cut], &mut out);
        d.push(&input[cut..], &mut out);
        assert_eq!(out.len(), 2, "cut at {cut}");
        assert_eq!(out[1].data, b"[DONE]");
    }
}

#[wasm_bindgen_test]
async fn gloo_timer_really_waits() {
    let start = js_sys::Date::now();
    gloo_timers::future::TimeoutFuture::new(30).await;
    let waited = js_sys::Date::now() - start;
    assert!(waited >= 25.0, "waited {waited} ms");
    let clock = JsClock;
    let t0 = clock.now_ms();
    clock.sleep(20).await;
    assert!(clock.now_ms() - t0 >= 15.0);
}

#[wasm_bindgen_test]
async fn relay_times_out_a_stalled_stream_with_real_timers() {
    let first = futures::stream::iter(vec![Ok(b"data: {\"id\":1}\n\n".to_vec())]);
    let upstream: ByteStream = Box::pin(first.chain(futures::stream::pending()));
    let mut relay = Relay::new(
        upstream,
        Rc::new(JsClock),
        40,
        Box::new(switchyard_core::adapter::OpenAiStream),
    );
    let frame = relay.first_frame(1_000).await.unwrap();
    let start = js_sys::Date::now();
    let rest: Vec<Vec<u8>> = relay.into_client_stream(frame).collect().await;
    let text = String::from_utf8(rest.concat()).unwrap();
    assert!(text.contains("\"code\":\"timeout\""), "{text}");
    assert!(js_sys::Date::now() - start >= 35.0);
}

#[wasm_bindgen_test]
async fn router_call_and_timeout_in_wasm() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(
        "http://a.test/v1/chat/completions",
        Reply::json(200, r#"{"id":"ok"}"#),
    );
    up.push("http://b.test/v1/chat/completions", Reply::Hang);
    let router = Router::new(config(), Runtime::new(up.clone(), Rc::new(JsClock), 5));
    let req = ModelRequest::parse(br#"{"model":"g","messages":[{"role":"user","content":"x"}]}"#)
        .unwrap();
    let mut ok = 0;
    let mut timeouts = 0;
    for _ in 0..20 {
        match router.completion(&req).await {
            Ok(r) => {
                assert!(matches!(r.body, RoutedBody::Json(ref b) if b == br#"{"id":"ok"}"#));
                ok += 1;
            }
            Err(Error::UpstreamTimeout { after_ms }) => {
                assert_eq!(after_ms, 50);
                timeouts += 1;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok + timeouts, 20);
    // Without retries a pick of the silent deployment surfaces: the wasm timer really fired.
    assert!(timeouts > 0, "no timeout in 20 calls");
    assert!(
        ok > timeouts,
        "weight 4:1 favours the healthy one: {ok} vs {timeouts}"
    );
}

fn router_for(text: &str, up: &Rc<ScriptedUpstream>) -> Router {
    Router::new(
        Config::from_text(text, &|_: &str| None).unwrap(),
        Runtime::new(up.clone(), Rc::new(JsClock), 21),
    )
}

fn chat(model: &str) -> ModelRequest {
    ModelRequest::parse(
        format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"x"}}]}}"#).as_bytes(),
    )
    .unwrap()
}

const OK: &str = r#"{"id":"ok","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#;

#[wasm_bindgen_test]
async fn retries_back_off_on_real_timers_then_fall_back() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push("http://a.test/v1/chat/completions", Reply::json(503, "{}"));
    up.push("http://f.test/v1/chat/completions", Reply::json(200, OK));
    let router = router_for(
        r#"{"model_list":[
            {"model_name":"g","litellm_params":{"model":"openai/m","api_base":"http://a.test/v1"}},
            {"model_name":"f","litellm_params":{"model":"openai/m","api_base":"http://f.test/v1"}}],
           "router_settings":{"num_retries":2,"fallbacks":["f"],"retry_policy":{"base_delay":0.02,"backoff_factor":2,"jitter":false}}}"#,
        &up,
    );
    let start = js_sys::Date::now();
    let r = router.completion(&chat("g")).await.unwrap();
    let took = js_sys::Date::now() - start;
    assert_eq!(r.group, "f");
    assert_eq!(r.attempted_fallbacks, 1);
    assert_eq!(up.calls_to("http://a.test/v1/chat/completions"), 3);
    // 20 ms + 40 ms of backoff really elapsed
    assert!(took >= 55.0, "took {took} ms");
}

#[wasm_bindgen_test]
async fn cooldown_moves_traffic_in_wasm() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(
        "http://bad.test/v1/chat/completions",
        Reply::json(500, "{}"),
    );
    up.push("http://good.test/v1/chat/completions", Reply::json(200, OK));
    let router = router_for(
        r#"{"model_list":[
            {"model_name":"g","litellm_params":{"model":"openai/m","api_base":"http://bad.test/v1"},"model_info":{"id":"bad"}},
            {"model_name":"g","litellm_params":{"model":"openai/m","api_base":"http://good.test/v1"},"model_info":{"id":"good"}}],
           "router_settings":{"allowed_fails":0,"cooldown_time":60}}"#,
        &up,
    );
    for _ in 0..20 {
        assert_eq!(
            router.completion(&chat("g")).await.unwrap().deployment_id,
            "good"
        );
    }
    assert_eq!(
        up.calls_to("http://bad.test/v1/chat/completions"),
        1,
        "cooled after its first failure"
    );
    assert_eq!(router.get_usage_stats()["total_tokens"], 100);
}

#[wasm_bindgen_test]
fn strategies_pick_by_their_rule_in_wasm() {
    use switchyard_core::config::RoutingStrategy;
    use switchyard_core::routing::{pick, Candidate};
    use switchyard_core::state::Snapshot;
    let c = config();
    let snaps = [
        Snapshot {
            in_flight: 5,
            tokens_this_minute: 10,
            latency_ms: Some(9.0),
            ..Default::default()
        },
        Snapshot {
            in_flight: 1,
            tokens_this_minute: 90,
            latency_ms: Some(3.0),
            ..Default::default()
        },
    ];
    let cands: Vec<Candidate> = c
        .deployments
        .iter()
        .zip(snaps)
        .map(|(d, snap)| Candidate { d, snap })
        .collect();
    let mut rng = Rng::seeded(1);
    let args = c.router.strategy_args.clone();
    assert_eq!(pick(RoutingStrategy::LeastBusy, &cands, &args, &mut rng), 1);
    assert_eq!(
        pick(RoutingStrategy::UsageBased, &cands, &args, &mut rng),
        0
    );
    assert_eq!(
        pick(RoutingStrategy::LatencyBased, &cands, &args, &mut rng),
        1
    );
}

/// Shards in this process, as their Durable Objects would be.
struct Loopback(
    std::cell::RefCell<std::collections::HashMap<String, switchyard_core::stores::ShardStore>>,
);

impl switchyard_core::ports::StateBackend for Loopback {
    fn exchange(
        &self,
        shard: &str,
        req: switchyard_core::state::ShardRequest,
    ) -> switchyard_core::ports::LocalFuture<Result<switchyard_core::state::ShardReply, Error>>
    {
        let reply = self
            .0
            .borrow_mut()
            .entry(shard.to_string())
            .or_insert_with(|| switchyard_core::stores::ShardStore::new(1e12, 10))
            .handle(req, js_sys::Date::now());
        Box::pin(async move { Ok(reply) })
    }
}

#[wasm_bindgen_test]
async fn shared_view_merges_and_syncs_in_wasm() {
    use switchyard_core::ports::RouterState;
    use switchyard_core::stores::SharedView;
    let backend = Rc::new(Loopback(Default::default()));
    let a = SharedView::new(backend.clone(), Rc::new(JsClock), 1e12, 10).with_timing(20.0, 50.0);
    let b = SharedView::new(backend, Rc::new(JsClock), 1e12, 10).with_timing(20.0, 50.0);
    for v in [&a, &b] {
        v.set_shards([("d".to_string(), "g".to_string())]);
    }
    let now = js_sys::Date::now();
    a.call_started("d", now);
    a.cool_down("d", now + 60_000.0);
    assert!(a.snapshot("d", now).cooling(now));
    assert!(!b.snapshot("d", now).cooling(now));
    let start = js_sys::Date::now();
    a.sync_job(0).expect("a has outcomes to report").await;
    gloo_timers::future::TimeoutFuture::new(60).await;
    b.sync_job(0).expect("b's view is stale").await;
    assert!(
        js_sys::Date::now() - start >= 15.0,
        "the batch window really waited"
    );
    let s = b.snapshot("d", js_sys::Date::now());
    assert!(s.cooling(js_sys::Date::now()));
    assert_eq!(s.in_flight, 1);
    assert_eq!(a.unacknowledged(), 0);
}

#[wasm_bindgen_test]
fn provider_adapters_in_wasm() {
    use switchyard_core::adapter::{build, response, AnthropicStream, GeminiStream};
    use switchyard_core::relay::{Piece, StreamTranslator};
    let c = Config::from_text(
        r#"{"model_list":[
            {"model_name":"c","litellm_params":{"model":"anthropic/claude-3-haiku-20240307","api_key":"k"}},
            {"model_name":"g","litellm_params":{"model":"gemini/gemini-1.5-flash","api_key":"k"}},
            {"model_name":"a","litellm_params":{"model":"azure/dep","api_base":"https://r.example","api_key":"k"}}]}"#,
        &|_: &str| None,
    )
    .unwrap();
    let req = ModelRequest::parse(br#"{"model":"c","messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}]}"#).unwrap();
    let ant: serde_json::Value =
        serde_json::from_slice(&build(&c.deployments[0], &req, 0.0).unwrap().body).unwrap();
    assert_eq!(ant["system"][0]["text"], "s");
    assert_eq!(ant["max_tokens"], 4096);
    assert!(build(&c.deployments[2], &req, 0.0)
        .unwrap()
        .url
        .contains("/openai/deployments/dep/chat/completions?api-version="));
    let out = response(
        &c.deployments[1],
        &req,
        br#"{"candidates":[{"content":{"parts":[{"text":"yo"}]},"finishReason":"STOP"}]}"#.to_vec(),
    )
    .unwrap();
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("\"content\":\"yo\""));

    let mut dec = SseDecoder::new();
    let mut events = Vec::new();
    dec.push(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":3}}}\n\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\ndata: {\"type\":\"message_stop\"}\n\n", &mut events);
    let mut t = AnthropicStream::new("c");
    let mut pieces = Vec::new();
    for e in events {
        t.event(e, &mut pieces);
    }
    assert_eq!(pieces.last(), Some(&Piece::Done));
    assert_eq!(pieces.len(), 4);
    let mut g = GeminiStream::new("g");
    let mut dec = SseDecoder::new();
    let mut events = Vec::new();
    dec.push(b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},\"finishReason\":\"STOP\"}]}\n\n", &mut events);
    let mut pieces = Vec::new();
    for e in events {
        g.event(e, &mut pieces);
    }
    g.end(&mut pieces);
    assert_eq!(pieces.last(), Some(&Piece::Done));
}

#[wasm_bindgen_test]
fn sigv4_and_event_stream_in_wasm() {
    use switchyard_core::eventstream::{crc32, encode, EventStreamDecoder};
    use switchyard_core::sigv4::{authorization, Credentials};
    let creds = Credentials {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token: None,
    };
    let headers = [
        ("host", "example.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
    ];
    let a = authorization(
        "GET",
        "/",
        "Param2=value2&Param1=value1",
        &headers,
        b"",
        &creds,
        "us-east-1",
        "service",
        "20150830T123600Z",
    );
    assert!(
        a.ends_with("Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        "{a}"
    );
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    let f = encode(
        &[(":event-type", "messageStop"), (":message-type", "event")],
        br#"{"stopReason":"end_turn"}"#,
    );
    let mut out = Vec::new();
    EventStreamDecoder::new().push(&f, &mut out);
    assert_eq!(out[0].event.as_deref(), Some("messageStop"));
}

/// Vertex AI's RSA signer in wasm32 gives the signature OpenSSL gives (tests/fixtures/README.md).
#[wasm_bindgen_test]
async fn the_google_jwt_signer_agrees_with_openssl_in_wasm() {
    use switchyard_core::google_auth::{default_signer, GoogleCredentials};
    let sa = include_str!("../../tests/fixtures/google-service-account.json");
    let expected = include_str!("../../tests/fixtures/google-jwt-1767225600.txt");
    let c = GoogleCredentials::parse(&serde_json::Value::String(sa.to_string())).unwrap();
    assert_eq!(
        c.assertion(1_767_225_600_000.0, &*default_signer())
            .await
            .unwrap(),
        expected.trim()
    );
}
