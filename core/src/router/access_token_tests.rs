//! Vertex AI through the router: the token exchange, its cache and single flight, refused
//! credentials, and the bearer on every call (health checks included).

use super::*;
use crate::ports::{TransportError, UpstreamRequest, UpstreamResponse};
use crate::testing::{Fixture, Reply, ScriptedUpstream};
use futures::executor::block_on;
use serde_json::{json, Value};

const SA: &str = include_str!("../../../tests/fixtures/google-service-account.json");
const TOKEN: &str = "https://oauth2.googleapis.com/token";
const VERTEX: &str = "https://us-central1-aiplatform.googleapis.com/v1/projects/switchyard-test/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent";
const ANSWER: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hi from vertex"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4}}"#;
const START_MS: f64 = 1_767_225_600_000.0;

fn config(extra: &str) -> String {
    format!(
        r#"{{"model_list":[
            {{"model_name":"gem","litellm_params":{{"model":"vertex_ai/gemini-2.0-flash","vertex_credentials":"os.environ/VERTEX_SA"{extra}}},"model_info":{{"id":"vx"}}}},
            {{"model_name":"backup","litellm_params":{{"model":"openai/gpt-4o-mini","api_base":"http://b.test/v1","api_key":"sk-b"}}}}
        ],"router_settings":{{"fallbacks":[{{"gem":["backup"]}}]}}}}"#
    )
}

fn fixture() -> Fixture {
    Fixture::at(START_MS).secret("VERTEX_SA", SA)
}

fn token(name: &str, expires_in: u64) -> Reply {
    Reply::json(
        200,
        &json!({"access_token": name, "expires_in": expires_in, "token_type": "Bearer"})
            .to_string(),
    )
}

fn ask(r: &Router) -> Result<Routed, Error> {
    let req = ModelRequest::parse(
        json!({"model": "gem", "messages": [{"role": "user", "content": "hi"}]})
            .to_string()
            .as_bytes(),
    )?;
    block_on(r.completion(&req))
}

fn bearers(up: &ScriptedUpstream, url: &str) -> Vec<String> {
    up.calls
        .borrow()
        .iter()
        .filter(|c| c.url == url)
        .filter_map(|c| {
            c.headers
                .iter()
                .find(|(k, _)| *k == "authorization")
                .map(|(_, v)| v.clone())
        })
        .collect()
}

#[test]
fn one_exchange_serves_every_call_until_the_token_nears_its_end() {
    let f = fixture();
    f.up.push(TOKEN, token("ya29.first", 3600));
    f.up.push(TOKEN, token("ya29.second", 3600));
    f.up.push(VERTEX, Reply::json(200, ANSWER));
    let r = f.router(&config(""));
    for _ in 0..3 {
        let routed = ask(&r).unwrap();
        let RoutedBody::Json(body) = routed.body else {
            panic!("expected JSON")
        };
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "hi from vertex");
    }
    assert_eq!(f.up.calls_to(TOKEN), 1);
    // The exchange is the JWT-bearer grant, signed at the router's clock.
    let form = String::from_utf8(f.up.calls.borrow()[0].body.clone()).unwrap();
    assert!(form.starts_with(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=eyJ"
    ));
    // Still good for more than five minutes: kept.
    f.clock
        .advance(3_600_000.0 - access_token::RENEW_BEFORE_MS - 1_000.0);
    ask(&r).unwrap();
    assert_eq!(f.up.calls_to(TOKEN), 1);
    // Within five minutes of its end: renewed before the call.
    f.clock.advance(2_000.0);
    ask(&r).unwrap();
    assert_eq!(f.up.calls_to(TOKEN), 2);
    let sent = bearers(&f.up, VERTEX);
    assert_eq!(sent.len(), 5);
    assert!(
        sent[..4].iter().all(|b| b == "Bearer ya29.first"),
        "{sent:?}"
    );
    assert_eq!(sent[4], "Bearer ya29.second");
    // The Gemini key header never goes to Vertex.
    assert!(f
        .up
        .calls
        .borrow()
        .iter()
        .all(|c| c.headers.iter().all(|(k, _)| *k != "x-goog-api-key")));
}

/// Holds the token endpoint's answer until the test lets it through.
struct Gated {
    inner: Rc<ScriptedUpstream>,
    gate: RefCell<Option<futures::channel::oneshot::Receiver<()>>>,
}

impl Upstream for Gated {
    fn send(
        &self,
        req: UpstreamRequest,
    ) -> crate::ports::LocalFuture<Result<UpstreamResponse, TransportError>> {
        let gate = if req.url == TOKEN {
            self.gate.borrow_mut().take()
        } else {
            None
        };
        let call = self.inner.send(req);
        Box::pin(async move {
            if let Some(g) = gate {
                let _ = g.await;
            }
            call.await
        })
    }
}

/// A clock whose timers never fire: a call held at the gate stays in flight (the manual clock
/// would time it out at once).
struct Frozen(f64);

impl crate::ports::Clock for Frozen {
    fn now_ms(&self) -> f64 {
        self.0
    }
    fn sleep(&self, _ms: u64) -> crate::ports::LocalFuture<()> {
        Box::pin(futures::future::pending())
    }
}

#[test]
fn requests_that_need_a_token_at_once_share_one_exchange() {
    let f = fixture();
    f.up.push(TOKEN, token("ya29.shared", 3600));
    f.up.push(VERTEX, Reply::json(200, ANSWER));
    let (open, gate) = futures::channel::oneshot::channel();
    let gated = Rc::new(Gated {
        inner: f.up.clone(),
        gate: RefCell::new(Some(gate)),
    });
    let mut rt = Runtime::new(gated, Rc::new(Frozen(START_MS)), 1);
    rt.secrets = Some(Rc::new(|n: &str| {
        (n == "VERTEX_SA").then(|| SA.to_string())
    }));
    let r = Router::new(f.config(&config("")).unwrap(), rt);
    let req = ModelRequest::parse(
        json!({"model": "gem", "messages": [{"role": "user", "content": "hi"}]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let (a, b, ()) = block_on(async {
        futures::join!(r.completion(&req), r.completion(&req), async {
            let _ = open.send(());
        })
    });
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(f.up.calls_to(TOKEN), 1, "one exchange for both");
    assert_eq!(
        bearers(&f.up, VERTEX),
        vec!["Bearer ya29.shared".to_string(); 2]
    );
}

#[test]
fn refused_credentials_fail_over_and_are_tried_again_later() {
    let f = fixture();
    f.up.push(
        TOKEN,
        Reply::json(
            400,
            r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
        ),
    );
    f.up.push(
        "http://b.test/v1/chat/completions",
        Reply::json(
            200,
            r#"{"id":"b","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"backup"},"finish_reason":"stop"}]}"#,
        ),
    );
    let r = f.router(&config(""));
    let routed = ask(&r).unwrap();
    assert_eq!(routed.group, "backup", "the fallback answered");
    assert_eq!(f.up.calls_to(VERTEX), 0, "no call without a token");
    // Without a fallback, the client is told why: the router's credentials were refused (a
    // 502, as for any provider that refuses the router's key: the client's own key is fine).
    let alone = f.router(&config("").replace(r#"[{"gem":["backup"]}]"#, "[]"));
    let Err(e) = ask(&alone) else {
        panic!("expected the exchange's failure")
    };
    let body: Value = serde_json::from_slice(&e.body()).unwrap();
    assert_eq!(e.status(), 502, "{body}");
    assert_eq!(body["error"]["code"], "upstream_authentication_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(TOKEN) && message.contains("Invalid JWT Signature."));
    // A failed exchange is not kept: once the cooldown is over, the next request asks again
    // (refused once more here: the scripted endpoint still holds that answer first) ...
    f.up.push(TOKEN, token("ya29.late", 3600));
    f.up.push(VERTEX, Reply::json(200, ANSWER));
    let before = f.up.calls_to(TOKEN);
    f.clock.advance(120_000.0);
    assert!(ask(&alone).is_err());
    assert_eq!(f.up.calls_to(TOKEN), before + 1);
    // ... and the one after gets its token.
    f.clock.advance(120_000.0);
    assert_eq!(ask(&alone).unwrap().group, "gem");
    assert_eq!(f.up.calls_to(TOKEN), before + 2);
    assert_eq!(bearers(&f.up, VERTEX), vec!["Bearer ya29.late".to_string()]);
}

#[test]
fn a_token_vertex_refuses_is_dropped_and_the_next_call_gets_a_new_one() {
    let f = fixture();
    f.up.push(TOKEN, token("ya29.revoked", 3600));
    f.up.push(TOKEN, token("ya29.fresh", 3600));
    f.up.push(
        VERTEX,
        Reply::json(
            401,
            r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#,
        ),
    );
    f.up.push(VERTEX, Reply::json(200, ANSWER));
    f.up.push(
        "http://b.test/v1/chat/completions",
        Reply::json(
            200,
            r#"{"id":"b","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"backup"},"finish_reason":"stop"}]}"#,
        ),
    );
    let r = f.router(&config(r#","num_retries":0"#));
    assert_eq!(ask(&r).unwrap().group, "backup");
    f.clock.advance(120_000.0);
    assert_eq!(ask(&r).unwrap().group, "gem");
    assert_eq!(
        bearers(&f.up, VERTEX),
        vec![
            "Bearer ya29.revoked".to_string(),
            "Bearer ya29.fresh".to_string()
        ]
    );
}

#[test]
fn a_stream_and_a_health_check_carry_the_token_too() {
    let f = fixture();
    f.up.push(TOKEN, token("ya29.t", 3600));
    let stream_url = VERTEX.replace(":generateContent", ":streamGenerateContent?alt=sse");
    f.up.push(
        &stream_url,
        Reply::Stream(vec![Ok(format!("data: {ANSWER}\r\n\r\n").into_bytes())]),
    );
    f.up.push(VERTEX, Reply::json(200, ANSWER));
    let r = f.router(&config(""));
    let req = ModelRequest::parse(
        json!({"model": "gem", "stream": true, "messages": [{"role": "user", "content": "hi"}]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let routed = block_on(r.completion(&req)).unwrap();
    let RoutedBody::Stream(s) = routed.body else {
        panic!("expected a stream")
    };
    let text: Vec<u8> = block_on(futures::StreamExt::collect::<Vec<_>>(s))
        .into_iter()
        .flatten()
        .collect();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("hi from vertex") && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );
    let health = block_on(r.health_check(None)).unwrap();
    assert_eq!(health["healthy_count"], 1, "{health}");
    assert_eq!(
        bearers(&f.up, &stream_url),
        vec!["Bearer ya29.t".to_string()]
    );
    assert_eq!(bearers(&f.up, VERTEX), vec!["Bearer ya29.t".to_string()]);
    assert_eq!(f.up.calls_to(TOKEN), 1);
}
