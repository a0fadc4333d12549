use super::auth::constant_time_eq;
use super::*;
use crate::testing::{Fixture, Reply, ScriptedUpstream};
use futures::executor::block_on;
use serde_json::Value;
use std::rc::Rc;

pub(super) const UP: &str = "http://up.test/v1/chat/completions";
const COMPLETION: &str = r#"{"id":"c1","object":"chat.completion","choices":[]}"#;

fn app_with(config: &str, up: &Rc<ScriptedUpstream>) -> App {
    Fixture::default().upstream(up).seed(3).app(config)
}

pub(super) fn app(up: &Rc<ScriptedUpstream>) -> App {
    app_with(
        r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"m","api_base":"http://up.test/v1"}},
                          {"model_name":"h","litellm_params":{"model":"m","api_base":"http://up.test/v1"}}],
            "general_settings":{"master_key":"sk-master","cors_allowed_origins":["https://ok.example"]}}"#,
        up,
    )
}

pub(super) fn req(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

pub(super) const AUTH: (&str, &str) = ("authorization", "Bearer sk-master");
const CHAT: &str = r#"{"model":"g","messages":[{"role":"user","content":"hi"}]}"#;

pub(super) fn body_json(r: &HttpResponse) -> Value {
    match &r.body {
        HttpBody::Bytes(b) => serde_json::from_slice(b).unwrap(),
        HttpBody::Stream(_) => panic!("unexpected stream"),
    }
}

#[test]
fn authorized_chat_gets_the_upstream_answer_and_headers() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, Reply::json(200, COMPLETION));
    let r = block_on(app(&up).handle(req("POST", "/v1/chat/completions", &[AUTH], CHAT)));
    assert_eq!(r.status, 200);
    assert_eq!(body_json(&r)["id"], "c1");
    assert_eq!(r.header("x-litellm-model-group"), Some("g"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-litellm-call-id").map(str::len), Some(32));
    assert!(r.header("x-litellm-model-id").is_some());
}

#[test]
fn api_key_header_and_unprefixed_path_work() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, Reply::json(200, COMPLETION));
    let r = block_on(app(&up).handle(req(
        "POST",
        "/chat/completions",
        &[("api-key", "sk-master")],
        CHAT,
    )));
    assert_eq!(r.status, 200);
}

#[test]
fn missing_or_wrong_key_is_401_and_upstream_untouched() {
    let up = Rc::new(ScriptedUpstream::default());
    let a = app(&up);
    for headers in [
        vec![],
        vec![("authorization", "Bearer nope")],
        vec![("authorization", "Bearer ")],
    ] {
        let r = block_on(a.handle(req("POST", "/v1/chat/completions", &headers, CHAT)));
        assert_eq!(r.status, 401);
        assert_eq!(body_json(&r)["error"]["type"], "authentication_error");
        assert_eq!(r.header("x-should-retry"), Some("false"));
    }
    let r = block_on(a.handle(req("GET", "/v1/models", &[], "")));
    assert_eq!(r.status, 401);
    assert!(up.calls.borrow().is_empty());
}

#[test]
fn no_master_key_means_open() {
    let up = Rc::new(ScriptedUpstream::default());
    let a = app_with(
        r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"m"}}]}"#,
        &up,
    );
    let r = block_on(a.handle(req("GET", "/v1/models", &[], "")));
    assert_eq!(r.status, 200);
}

#[test]
fn models_lists_groups_in_order() {
    let up = Rc::new(ScriptedUpstream::default());
    let r = block_on(app(&up).handle(req("GET", "/v1/models", &[AUTH], "")));
    let v = body_json(&r);
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["g", "h"]);
}

#[test]
fn bad_requests_are_openai_shaped_400s() {
    let up = Rc::new(ScriptedUpstream::default());
    let a = app(&up);
    for (body, param) in [
        ("{oops", Value::Null),
        (r#"{"model":"g"}"#, Value::from("messages")),
        (
            r#"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#,
            Value::from("model"),
        ),
    ] {
        let r = block_on(a.handle(req("POST", "/v1/chat/completions", &[AUTH], body)));
        assert_eq!(r.status, 400, "{body}");
        let v = body_json(&r);
        assert_eq!(v["error"]["param"], param, "{body}");
        for k in ["message", "type", "param", "code"] {
            assert!(v["error"].get(k).is_some(), "{k} in {v}");
        }
    }
    assert!(up.calls.borrow().is_empty());
}

#[test]
fn unknown_route_is_404_and_wrong_method_405() {
    let up = Rc::new(ScriptedUpstream::default());
    let a = app(&up);
    let r = block_on(a.handle(req("GET", "/v2/nothing", &[AUTH], "")));
    assert_eq!(r.status, 404);
    assert_eq!(body_json(&r)["error"]["code"], "unknown_url");
    let r = block_on(a.handle(req("GET", "/v1/chat/completions", &[AUTH], "")));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST, OPTIONS"));
}

#[test]
fn oversized_body_is_413() {
    let up = Rc::new(ScriptedUpstream::default());
    let a = app_with(
        r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"m"}}],"general_settings":{"max_request_size_mb":0.0001}}"#,
        &up,
    );
    assert_eq!(a.max_body_bytes(), 104);
    let big = format!(
        r#"{{"model":"g","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(200)
    );
    let r = block_on(a.handle(req("POST", "/v1/chat/completions", &[], &big)));
    assert_eq!(r.status, 413);
    assert!(up.calls.borrow().is_empty());
}

#[test]
fn invalid_config_answers_500_with_the_reason() {
    let up = Rc::new(ScriptedUpstream::default());
    let a = app_with(
        r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"bogus/x"}}]}"#,
        &up,
    );
    let r = block_on(a.handle(req("POST", "/v1/chat/completions", &[], CHAT)));
    assert_eq!(r.status, 500);
    let msg = body_json(&r)["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("model_list[0].litellm_params.model"), "{msg}");
    let r = block_on(a.handle(req("GET", "/health/liveliness", &[], "")));
    assert_eq!(r.status, 200);
}

#[test]
fn upstream_500_passes_through() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(
        UP,
        Reply::json(
            500,
            r#"{"error":{"message":"boom","type":"server_error","param":null,"code":null}}"#,
        ),
    );
    let r = block_on(app(&up).handle(req("POST", "/v1/chat/completions", &[AUTH], CHAT)));
    assert_eq!(r.status, 500);
    assert_eq!(body_json(&r)["error"]["message"], "boom");
    assert_eq!(r.header("x-should-retry"), None);
}

#[test]
fn cors_only_for_allowed_origins() {
    let up = Rc::new(ScriptedUpstream::default());
    let a = app(&up);
    let pre = |origin: &str| {
        block_on(a.handle(req(
            "OPTIONS",
            "/v1/chat/completions",
            &[
                ("origin", origin),
                (
                    "access-control-request-headers",
                    "authorization, content-type",
                ),
            ],
            "",
        )))
    };
    let ok = pre("https://ok.example");
    assert_eq!(ok.status, 204);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://ok.example")
    );
    assert_eq!(
        ok.header("access-control-allow-headers"),
        Some("authorization, content-type")
    );
    let bad = pre("https://evil.example");
    assert_eq!(bad.status, 204);
    assert_eq!(bad.header("access-control-allow-origin"), None);

    let r = block_on(a.handle(req(
        "GET",
        "/v1/models",
        &[AUTH, ("origin", "https://ok.example")],
        "",
    )));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://ok.example")
    );
    assert!(r
        .header("access-control-expose-headers")
        .unwrap()
        .contains("x-litellm-model-id"));
}

#[test]
fn constant_time_compare() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
}

#[test]
fn routing_headers_report_retries_fallbacks_and_cost() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, Reply::json(500, r#"{"error":{"message":"x"}}"#));
    up.push(
        UP,
        Reply::json(
            200,
            r#"{"id":"c","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":0}}"#,
        ),
    );
    let a = app_with(
        r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"m","api_base":"http://up.test/v1","input_cost_per_token":0.5}}]}"#,
        &up,
    );
    let r = block_on(a.handle(req("POST", "/v1/chat/completions", &[], CHAT)));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-litellm-attempted-retries"), Some("1"));
    assert_eq!(r.header("x-litellm-attempted-fallbacks"), Some("0"));
    assert_eq!(r.header("x-litellm-response-cost"), Some("500"));
}

#[test]
fn no_deployment_available_is_429_with_retry_after() {
    let up = Rc::new(ScriptedUpstream::default());
    let a = app_with(
        r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"m","api_base":"http://up.test/v1"},"model_info":{"id":"x"}},
                          {"model_name":"g","litellm_params":{"model":"m","api_base":"http://up.test/v1"},"model_info":{"id":"y"}}]}"#,
        &up,
    );
    let router = a.router().unwrap();
    router.state().cool_down("x", 4_200.0);
    router.state().cool_down("y", 9_000.0);
    let r = block_on(a.handle(req("POST", "/v1/chat/completions", &[], CHAT)));
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(r.header("retry-after-ms"), Some("4200"));
    assert_eq!(body_json(&r)["error"]["code"], "no_deployment_available");
    assert_eq!(
        r.header("x-should-retry"),
        None,
        "SDKs may retry a 429 after retry-after"
    );
}

#[test]
fn admin_reporting_routes_need_the_master_key() {
    let up = Rc::new(ScriptedUpstream::default());
    let a = app(&up);
    for (method, path) in [
        ("GET", "/usage"),
        ("GET", "/metrics"),
        ("GET", "/model/cost_map"),
        ("POST", "/cost/reset"),
        ("GET", "/metrics/deployments"),
        ("GET", "/health"),
    ] {
        let r = block_on(a.handle(req(method, path, &[], "")));
        assert_eq!(r.status, 401, "{path}");
        let r = block_on(a.handle(req(method, path, &[AUTH], "")));
        assert_eq!(r.status, 200, "{path}");
    }
    let r = block_on(a.handle(req("GET", "/metrics", &[AUTH], "")));
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
}

#[test]
fn readiness_reports_the_config() {
    let up = Rc::new(ScriptedUpstream::default());
    let r = block_on(app(&up).handle(req("GET", "/health/readiness", &[], "")));
    assert_eq!(r.status, 200);
    assert_eq!(body_json(&r)["status"], "healthy");
    let broken = app_with(
        r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"bogus/x"}}]}"#,
        &up,
    );
    let r = block_on(broken.handle(req("GET", "/health/readiness", &[], "")));
    assert_eq!(r.status, 503);
    assert!(body_json(&r)["config"].as_str().unwrap().contains("bogus"));
}

#[test]
fn health_takes_a_model_from_the_query() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, Reply::json(200, COMPLETION));
    let r = block_on(app(&up).handle(req("GET", "/health?model=g", &[AUTH], "")));
    assert_eq!(r.status, 200);
    assert_eq!(body_json(&r)["healthy_count"], 1);
    let r = block_on(app(&up).handle(req("GET", "/health?model=nope", &[AUTH], "")));
    assert_eq!(r.status, 400);
}

#[test]
fn log_line_says_what_happened_and_nothing_secret() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, Reply::json(200, COMPLETION));
    let r = block_on(app(&up).handle(req("POST", "/v1/chat/completions?x=1", &[AUTH], CHAT)));
    let line = log_line("POST", "/v1/chat/completions?x=1", &r, 12.34);
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["status"], 200);
    assert_eq!(v["model_group"], "g");
    assert_eq!(v["path"], "/v1/chat/completions");
    assert_eq!(v["retries"], 0);
    assert!(v["retries"].is_u64(), "a count, not a float: {line}");
    assert_eq!(v["latency_ms"], 12.3);
    assert!(v["deployment"].is_string());
    assert!(
        !line.contains("sk-master") && !line.contains("hi"),
        "{line}"
    );
    let err = HttpResponse::from_error(&Error::Unauthorized {
        message: "x".into(),
    });
    let v: Value = serde_json::from_str(&log_line("GET", "/v1/models", &err, 1.0)).unwrap();
    assert_eq!(v["status"], 401);
    assert!(v["model_group"].is_null());
}

#[test]
fn virtual_keys_are_generated_limited_and_kept_off_admin_routes() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(
        UP,
        Reply::json(
            200,
            r#"{"id":"c","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":5}}"#,
        ),
    );
    let a = app(&up);
    let gen = block_on(a.handle(req(
        "POST",
        "/key/generate",
        &[AUTH],
        r#"{"models":["g"],"rpm_limit":2,"key_alias":"team-a"}"#,
    )));
    assert_eq!(gen.status, 200);
    let key = body_json(&gen)["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("sk-") && key.len() > 40);
    let auth = format!("Bearer {key}");
    let with_key = |method: &str, path: &str, body: &str| {
        block_on(a.handle(req(method, path, &[("authorization", auth.as_str())], body)))
    };
    assert_eq!(with_key("POST", "/v1/chat/completions", CHAT).status, 200);
    let other = r#"{"model":"h","messages":[{"role":"user","content":"hi"}]}"#;
    assert_eq!(
        with_key("POST", "/v1/chat/completions", other).status,
        403,
        "not an allowed model"
    );
    assert_eq!(with_key("POST", "/v1/chat/completions", CHAT).status, 200);
    let limited = with_key("POST", "/v1/chat/completions", CHAT);
    assert_eq!(limited.status, 429, "rpm_limit 2");
    assert!(limited.header("retry-after").is_some());
    for (m, p) in [
        ("GET", "/usage"),
        ("GET", "/metrics"),
        ("POST", "/key/generate"),
    ] {
        assert_eq!(
            with_key(m, p, "{}").status,
            403,
            "{p}: a virtual key is not the master key"
        );
    }
    let info = block_on(a.handle(req("GET", &format!("/key/info?key={key}"), &[AUTH], "")));
    let v = body_json(&info);
    assert_eq!(v["info"]["key_alias"], "team-a");
    let text = serde_json::to_string(&v).unwrap();
    assert!(!text.contains(&key), "the key itself is never shown again");
    let del = block_on(a.handle(req(
        "POST",
        "/key/delete",
        &[AUTH],
        &format!(r#"{{"keys":["{key}"]}}"#),
    )));
    assert_eq!(body_json(&del)["deleted"], 1);
    assert_eq!(with_key("POST", "/v1/chat/completions", CHAT).status, 401);
}

#[test]
fn a_virtual_key_budget_is_enforced() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(
        UP,
        Reply::json(
            200,
            r#"{"id":"c","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":0}}"#,
        ),
    );
    let a = app_with(
        r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"m","api_base":"http://up.test/v1","input_cost_per_token":0.001}}],
            "general_settings":{"master_key":"sk-master"}}"#,
        &up,
    );
    let gen = block_on(a.handle(req(
        "POST",
        "/key/generate",
        &[AUTH],
        r#"{"max_budget":1.5}"#,
    )));
    let auth = format!("Bearer {}", body_json(&gen)["key"].as_str().unwrap());
    let call = || {
        let mut r = block_on(a.handle(req(
            "POST",
            "/v1/chat/completions",
            &[("authorization", auth.as_str())],
            CHAT,
        )));
        for job in std::mem::take(&mut r.background) {
            block_on(job);
        }
        r
    };
    assert_eq!(call().status, 200);
    assert_eq!(call().status, 200, "spend 1.0 < 1.5");
    let over = call();
    assert_eq!(over.status, 400);
    assert_eq!(body_json(&over)["error"]["code"], "budget_exceeded");
}

#[test]
fn a_streamed_answer_is_charged_to_the_key_when_it_ends() {
    use futures::StreamExt;
    let up = Rc::new(ScriptedUpstream::default());
    up.push(
        UP,
        Reply::Stream(vec![Ok(b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":0}}\n\ndata: [DONE]\n\n".to_vec())]),
    );
    let a = app_with(
        r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"m","api_base":"http://up.test/v1","input_cost_per_token":0.01}}],
            "general_settings":{"master_key":"sk-master"}}"#,
        &up,
    );
    let gen = block_on(a.handle(req(
        "POST",
        "/key/generate",
        &[AUTH],
        r#"{"max_budget":0.5}"#,
    )));
    let key = body_json(&gen)["key"].as_str().unwrap().to_string();
    let auth = format!("Bearer {key}");
    let stream_req = r#"{"model":"g","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = block_on(a.handle(req(
        "POST",
        "/v1/chat/completions",
        &[("authorization", auth.as_str())],
        stream_req,
    )));
    let HttpBody::Stream(s) = r.body else {
        panic!("expected a stream")
    };
    // The charge waits in the background for the end of the stream.
    let mut charge = futures::future::join_all(r.background);
    assert!(
        block_on(async { futures::poll!(&mut charge) }).is_pending(),
        "not before the end"
    );
    block_on(s.collect::<Vec<_>>());
    block_on(charge);
    let info = block_on(a.handle(req("GET", &format!("/key/info?key={key}"), &[AUTH], "")));
    assert_eq!(body_json(&info)["info"]["spend"], 1.0, "100 tokens at 0.01");
    let again = block_on(a.handle(req(
        "POST",
        "/v1/chat/completions",
        &[("authorization", auth.as_str())],
        stream_req,
    )));
    assert_eq!(again.status, 400, "over budget after a stream");
}

#[test]
fn a_stream_the_client_abandons_is_charged_what_was_relayed() {
    use futures::StreamExt;
    let up = Rc::new(ScriptedUpstream::default());
    up.push(
        UP,
        Reply::Stream(vec![
            Ok(
                b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"abcd\"}}]}\n\n"
                    .to_vec(),
            ),
            Ok(
                b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"efgh\"}}]}\n\n"
                    .to_vec(),
            ),
        ]),
    );
    let a = app_with(
        r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"m","api_base":"http://up.test/v1","input_cost_per_token":0.01}}],
            "general_settings":{"master_key":"sk-master"}}"#,
        &up,
    );
    let gen = block_on(a.handle(req("POST", "/key/generate", &[AUTH], "{}")));
    let key = body_json(&gen)["key"].as_str().unwrap().to_string();
    let auth = format!("Bearer {key}");
    let r = block_on(a.handle(req(
        "POST",
        "/v1/chat/completions",
        &[("authorization", auth.as_str())],
        r#"{"model":"g","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
    )));
    let HttpBody::Stream(mut s) = r.body else {
        panic!("expected a stream")
    };
    let first = block_on(s.next()).unwrap();
    assert!(String::from_utf8(first).unwrap().contains("abcd"));
    drop(s); // the client hangs up
    block_on(futures::future::join_all(r.background));
    let info = block_on(a.handle(req("GET", &format!("/key/info?key={key}"), &[AUTH], "")));
    let spend = body_json(&info)["info"]["spend"].as_f64().unwrap();
    // "hi" is estimated at 7 prompt tokens, "abcd" at 1: 8 tokens at 0.01.
    assert!((spend - 0.08).abs() < 1e-9, "spend {spend}");
}

#[test]
fn no_secure_random_source_means_no_key() {
    let up = Rc::new(ScriptedUpstream::default());
    let a = Fixture::default()
        .upstream(&up)
        .key_minter(Rc::new(|| None))
        .app(
            r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"m","api_base":"http://up.test/v1"}}],
            "general_settings":{"master_key":"sk-master"}}"#,
        );
    let r = block_on(a.handle(req("POST", "/key/generate", &[AUTH], "{}")));
    assert_eq!(r.status, 500);
    assert!(body_json(&r)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("No secure random source"));
}

#[test]
fn the_log_line_names_how_each_group_failed_never_what_it_said() {
    let fresh = || {
        let up = Rc::new(ScriptedUpstream::default());
        let a = app_with(
            r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"m","api_base":"http://up.test/v1"}},
                              {"model_name":"h","litellm_params":{"model":"m","api_base":"http://other.test/v1"}}],
                "router_settings":{"num_retries":0,"fallbacks":[{"g":["h"]}]}}"#,
            &up,
        );
        (up, a)
    };
    let (up, a) = fresh();
    up.push(
        UP,
        Reply::json(500, r#"{"error":{"message":"the prompt was: secret plans","type":"x","param":null,"code":null}}"#),
    );
    up.push(
        "http://other.test/v1/chat/completions",
        Reply::json(
            429,
            r#"{"error":{"message":"slow","type":"x","param":null,"code":null}}"#,
        ),
    );
    let r = block_on(a.handle(req("POST", "/v1/chat/completions", &[], CHAT)));
    assert_eq!(r.status, 500);
    let line = log_line("POST", "/v1/chat/completions", &r, 1.0);
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        v["failed"],
        serde_json::json!(["g: internal_server 500", "h: rate_limit 429"])
    );
    assert!(!line.contains("secret plans"), "{line}");
    // After a fallback that served, the failed group is still named (h cooled down above: a
    // fresh router).
    let (up, a) = fresh();
    up.push(UP, Reply::json(503, "{}"));
    up.push(
        "http://other.test/v1/chat/completions",
        Reply::json(200, COMPLETION),
    );
    let r = block_on(a.handle(req("POST", "/v1/chat/completions", &[], CHAT)));
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_str(&log_line("POST", "/x", &r, 1.0)).unwrap();
    assert_eq!(v["failed"], serde_json::json!(["g: internal_server 503"]));
}

#[test]
fn a_key_without_limits_is_charged_after_the_answer_one_with_a_budget_before() {
    let up = Rc::new(ScriptedUpstream::default());
    let a = app_with(
        r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"m","api_base":"http://up.test/v1","input_cost_per_token":0.01}}],
            "general_settings":{"master_key":"sk-master"}}"#,
        &up,
    );
    let spend = |key: &str| {
        let info = block_on(a.handle(req("GET", &format!("/key/info?key={key}"), &[AUTH], "")));
        body_json(&info)["info"]["spend"].as_f64().unwrap()
    };
    let answer = r#"{"id":"c","object":"chat.completion","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":0}}"#;
    for (fields, inline) in [("{}", false), (r#"{"max_budget":5}"#, true)] {
        let gen = block_on(a.handle(req("POST", "/key/generate", &[AUTH], fields)));
        let key = body_json(&gen)["key"].as_str().unwrap().to_string();
        up.push(UP, Reply::json(200, answer));
        let auth = format!("Bearer {key}");
        let r = block_on(a.handle(req(
            "POST",
            "/v1/chat/completions",
            &[("authorization", auth.as_str())],
            CHAT,
        )));
        assert_eq!(r.status, 200);
        // No hold to let go of: the charge waits for the background, off the critical path.
        assert_eq!(spend(&key) > 0.0, inline, "{fields}");
        block_on(futures::future::join_all(r.background));
        assert!(
            (spend(&key) - 0.1).abs() < 1e-9,
            "{fields}: {}",
            spend(&key)
        );
    }
}

/// A config with an alias (and a hidden one), a deployment with its own retries, and two
/// groups a key may or may not use.
fn alias_app(up: &Rc<ScriptedUpstream>) -> App {
    app_with(
        r#"{"model_list":[
              {"model_name":"g","litellm_params":{"model":"m","api_base":"http://up.test/v1","num_retries":0},"model_info":{"id":"g-1"}},
              {"model_name":"h","litellm_params":{"model":"m","api_base":"http://up.test/v1"},"model_info":{"id":"h-1"}}],
            "router_settings":{"num_retries":2,"model_group_alias":{"gpt-4":"g","secret":{"model":"h","hidden":true}}},
            "general_settings":{"master_key":"sk-master"}}"#,
        up,
    )
}

fn key_for(a: &App, models: &str) -> String {
    let gen = block_on(a.handle(req(
        "POST",
        "/key/generate",
        &[AUTH],
        &format!(r#"{{"models":{models}}}"#),
    )));
    assert_eq!(gen.status, 200);
    body_json(&gen)["key"].as_str().unwrap().to_string()
}

fn ids(r: &HttpResponse) -> Vec<String> {
    body_json(r)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_alias_routes_to_its_group_and_a_hidden_one_is_not_listed() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, Reply::json(200, COMPLETION));
    let a = alias_app(&up);
    let r = block_on(a.handle(req(
        "POST",
        "/v1/chat/completions",
        &[AUTH],
        r#"{"model":"gpt-4","messages":[{"role":"user","content":"hi"}]}"#,
    )));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-litellm-model-group"), Some("g"));
    let sent: Value = serde_json::from_slice(&up.calls.borrow()[0].body).unwrap();
    assert_eq!(sent["model"], "m", "the deployment's model goes upstream");
    let listed = block_on(a.handle(req("GET", "/v1/models", &[AUTH], "")));
    assert_eq!(ids(&listed), ["g", "h", "gpt-4"]);
    let hidden = block_on(a.handle(req("GET", "/v1/models/secret", &[AUTH], "")));
    assert_eq!(hidden.status, 404);
    assert_eq!(body_json(&hidden)["error"]["code"], "model_not_found");
    let found = block_on(a.handle(req("GET", "/v1/models/gpt-4", &[AUTH], "")));
    assert_eq!(body_json(&found)["id"], "gpt-4");
}

#[test]
fn a_key_sees_and_calls_only_its_models_by_either_name() {
    let up = Rc::new(ScriptedUpstream::default());
    for _ in 0..3 {
        up.push(UP, Reply::json(200, COMPLETION));
    }
    let a = alias_app(&up);
    let by_alias = key_for(&a, r#"["gpt-4"]"#);
    let by_group = key_for(&a, r#"["g"]"#);
    let call = |key: &str, model: &str| {
        let auth = format!("Bearer {key}");
        block_on(a.handle(req(
            "POST",
            "/v1/chat/completions",
            &[("authorization", &auth)],
            &format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"hi"}}]}}"#),
        )))
        .status
    };
    assert_eq!(call(&by_alias, "gpt-4"), 200);
    assert_eq!(
        call(&by_group, "gpt-4"),
        200,
        "the group's key may use its alias"
    );
    assert_eq!(
        call(&by_alias, "g"),
        403,
        "an alias opens its own name only"
    );
    assert_eq!(call(&by_group, "h"), 403);
    assert_eq!(
        call(&by_group, "secret"),
        403,
        "a hidden alias of another group"
    );
    let get = |key: &str, path: &str| {
        let auth = format!("Bearer {key}");
        block_on(a.handle(req("GET", path, &[("authorization", &auth)], "")))
    };
    assert_eq!(ids(&get(&by_group, "/v1/models")), ["g", "gpt-4"]);
    assert_eq!(get(&by_group, "/v1/models/h").status, 404);
    let info = get(&by_group, "/model/info");
    assert_eq!(info.status, 200);
    let groups: Vec<String> = body_json(&info)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["model_name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(groups, ["g"], "a key sees only the deployments it may use");
    let one = block_on(a.handle(req("GET", "/model/info?litellm_model_id=h-1", &[AUTH], "")));
    let data = body_json(&one)["data"].clone();
    assert_eq!(data.as_array().unwrap().len(), 1);
    assert_eq!(data[0]["model_info"]["id"], "h-1");
}

#[test]
fn a_deployment_with_its_own_num_retries_is_not_retried() {
    let up = Rc::new(ScriptedUpstream::default());
    for _ in 0..3 {
        up.push(UP, Reply::json(500, r#"{"error":{"message":"boom"}}"#));
    }
    let a = alias_app(&up);
    let call = |model: &str| {
        block_on(a.handle(req(
            "POST",
            "/v1/chat/completions",
            &[AUTH],
            &format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"hi"}}]}}"#),
        )))
    };
    assert_eq!(call("g").status, 500);
    assert_eq!(
        up.calls.borrow().len(),
        1,
        "g's deployment says num_retries: 0"
    );
    up.calls.borrow_mut().clear();
    for _ in 0..3 {
        up.push(UP, Reply::json(500, r#"{"error":{"message":"boom"}}"#));
    }
    assert_eq!(call("h").status, 500);
    assert_eq!(
        up.calls.borrow().len(),
        3,
        "h keeps the router's num_retries: 2"
    );
}

#[test]
fn litellm_control_headers_set_timeout_and_retries() {
    let up = Rc::new(ScriptedUpstream::default());
    for _ in 0..3 {
        up.push(UP, Reply::json(500, r#"{"error":{"message":"boom"}}"#));
    }
    let a = alias_app(&up);
    let r = block_on(a.handle(req(
        "POST",
        "/v1/chat/completions",
        &[AUTH, ("x-litellm-num-retries", "0")],
        r#"{"model":"h","messages":[{"role":"user","content":"hi"}]}"#,
    )));
    assert_eq!(r.status, 500);
    assert_eq!(
        up.calls.borrow().len(),
        1,
        "the header asked for no retries"
    );
    for (header, value) in [
        ("x-litellm-num-retries", "lots"),
        ("x-litellm-timeout", "-1"),
        ("x-litellm-timeout", "soon"),
    ] {
        let r = block_on(a.handle(req(
            "POST",
            "/v1/chat/completions",
            &[AUTH, (header, value)],
            CHAT,
        )));
        assert_eq!(r.status, 400, "{header}: {value}");
        assert_eq!(body_json(&r)["error"]["param"], header);
    }
}

#[test]
fn control_headers_are_capped_and_the_body_wins() {
    // x-litellm-timeout is the call's deadline, held to max_request_timeout.
    let f = Fixture::default();
    let config = r#"{"model_list":[{"model_name":"h","litellm_params":{"model":"m","api_base":"http://up.test/v1"}}],
        "router_settings":{"num_retries":0,"max_request_timeout":5,"max_request_num_retries":1}}"#;
    for (value, waited) in [("2", 2_000), ("3600", 5_000)] {
        f.up.push(UP, Reply::Hang);
        f.clock.slept.borrow_mut().clear();
        let r = block_on(f.app(config).handle(req(
            "POST",
            "/v1/chat/completions",
            &[("x-litellm-timeout", value)],
            r#"{"model":"h","messages":[{"role":"user","content":"hi"}]}"#,
        )));
        assert_eq!(r.status, 504, "{value}");
        assert_eq!(
            *f.clock.slept.borrow(),
            [waited],
            "x-litellm-timeout: {value}"
        );
    }
    // x-litellm-num-retries is capped too, and a body's num_retries wins over it.
    let up = f.up.clone();
    up.calls.borrow_mut().clear();
    for _ in 0..4 {
        up.push(UP, Reply::json(500, r#"{"error":{"message":"boom"}}"#));
    }
    let a = f.app(config);
    let call = |headers: &[(&str, &str)], body: &str| {
        let before = up.calls.borrow().len();
        block_on(a.handle(req("POST", "/v1/chat/completions", headers, body)));
        up.calls.borrow().len() - before
    };
    let plain = r#"{"model":"h","messages":[{"role":"user","content":"hi"}]}"#;
    assert_eq!(
        call(&[("x-litellm-num-retries", "9")], plain),
        2,
        "capped at 1 retry"
    );
    let with_body = r#"{"model":"h","messages":[{"role":"user","content":"hi"}],"num_retries":0}"#;
    assert_eq!(
        call(&[("x-litellm-num-retries", "1")], with_body),
        1,
        "the body wins"
    );
    // A deployment's own num_retries holds where the router's is 0.
    let own = r#"{"model_list":[{"model_name":"h","litellm_params":{"model":"m","api_base":"http://up.test/v1","num_retries":1}}],
        "router_settings":{"num_retries":0}}"#;
    for _ in 0..2 {
        up.push(UP, Reply::json(500, r#"{"error":{"message":"boom"}}"#));
    }
    let before = up.calls.borrow().len();
    block_on(
        f.app(own)
            .handle(req("POST", "/v1/chat/completions", &[], plain)),
    );
    assert_eq!(
        up.calls.borrow().len() - before,
        2,
        "one retry, the deployment's"
    );
}

#[test]
fn azure_style_paths_take_the_model_from_the_path() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, Reply::json(200, COMPLETION));
    up.push(
        "http://up.test/v1/embeddings",
        Reply::json(200, r#"{"object":"list","data":[]}"#),
    );
    let a = alias_app(&up);
    let r = block_on(a.handle(req(
        "POST",
        "/openai/deployments/gpt-4/chat/completions?api-version=2024-10-21",
        &[("api-key", "sk-master")],
        r#"{"messages":[{"role":"user","content":"hi"}]}"#,
    )));
    assert_eq!(r.status, 200, "{:?}", body_json(&r));
    assert_eq!(r.header("x-litellm-model-group"), Some("g"));
    let r = block_on(a.handle(req(
        "POST",
        "/openai/deployments/h/embeddings?api-version=2024-10-21",
        &[("api-key", "sk-master")],
        r#"{"input":"hello","model":"ignored"}"#,
    )));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-litellm-model-group"), Some("h"));
}

#[test]
fn the_providers_request_id_reaches_the_client() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(
        UP,
        Reply::Full {
            status: 200,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-request-id".into(), "req_abc123".into()),
            ],
            body: COMPLETION.as_bytes().to_vec(),
        },
    );
    up.push(UP, Reply::json(200, COMPLETION));
    let a = app(&up);
    let r = block_on(a.handle(req("POST", "/v1/chat/completions", &[AUTH], CHAT)));
    assert_eq!(r.header("x-request-id"), Some("req_abc123"));
    let r = block_on(a.handle(req("POST", "/v1/chat/completions", &[AUTH], CHAT)));
    assert_eq!(r.header("x-request-id"), None, "none invented");
}

#[test]
fn a_continued_stream_is_logged_when_it_ends_and_counted_in_metrics() {
    let up = Rc::new(ScriptedUpstream::default());
    let config = r#"{"model_list":[
        {"model_name":"g","litellm_params":{"model":"m","api_base":"http://a.test/v1","order":1},"model_info":{"id":"a"}},
        {"model_name":"g","litellm_params":{"model":"m","api_base":"http://b.test/v1","order":2},"model_info":{"id":"b"}}],
        "general_settings":{"master_key":"sk-master"}}"#;
    let chunk = |c: &str| {
        Ok(format!("data: {{\"id\":\"x\",\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{c}\"}}}}]}}\n\n").into_bytes())
    };
    let stop = Ok(b"data: {\"id\":\"y\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n".to_vec());
    up.push(
        "http://a.test/v1/chat/completions",
        Reply::Stream(vec![chunk("Hi "), Err("reset".into())]),
    );
    up.push(
        "http://b.test/v1/chat/completions",
        Reply::Stream(vec![chunk("Hi there"), stop]),
    );
    let app = app_with(config, &up);
    let body = r#"{"model":"g","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut r = block_on(app.handle(req("POST", "/v1/chat/completions", &[AUTH], body)));
    assert_eq!(r.status, 200);
    let log = r.stream_log.take().expect("a stream that may be continued");
    let HttpBody::Stream(s) = std::mem::replace(&mut r.body, HttpBody::Bytes(Vec::new())) else {
        panic!("not a stream")
    };
    let text =
        String::from_utf8(block_on(futures::StreamExt::collect::<Vec<_>>(s)).concat()).unwrap();
    assert!(
        text.contains("there") && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );
    let line: Value = serde_json::from_str(&block_on(log).expect("a log line")).unwrap();
    assert_eq!(line["event"], "stream_continued");
    assert_eq!(line["broken_deployment"], "a");
    assert_eq!(line["continuations"], 1);
    let metrics = block_on(app.handle(req("GET", "/metrics", &[AUTH], "")));
    let HttpBody::Bytes(m) = &metrics.body else {
        panic!()
    };
    let m = String::from_utf8_lossy(m);
    assert!(
        m.contains("switchyard_stream_continuations_total{model_group=\"g\"} 1"),
        "{m}"
    );
}

#[test]
fn the_messages_api_is_served_through_the_chat_route_in_anthropics_shapes() {
    let up = Rc::new(ScriptedUpstream::default());
    let answer = r#"{"id":"c9","model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hi back"}}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#;
    up.push(UP, Reply::json(200, answer));
    let app = app(&up);
    let key = ("x-api-key", "sk-master");
    let body = r#"{"model":"g","max_tokens":20,"system":"be brief","messages":[{"role":"user","content":"hi"}]}"#;
    let r = block_on(app.handle(req("POST", "/v1/messages", &[key], body)));
    assert_eq!(r.status, 200);
    let m = body_json(&r);
    assert_eq!(m["type"], "message");
    assert_eq!(m["content"][0]["text"], "hi back");
    assert_eq!(m["usage"]["output_tokens"], 2);
    let sent: Value = serde_json::from_slice(&up.calls.borrow()[0].body).unwrap();
    assert_eq!(sent["messages"][0]["role"], "system");
    // Errors in Anthropic's shape: a missing max_tokens, a wrong key, an unknown model.
    for (headers, body, status, kind) in [
        (
            vec![key],
            r#"{"model":"g","messages":[]}"#,
            400,
            "invalid_request_error",
        ),
        (
            vec![("x-api-key", "wrong")],
            body,
            401,
            "authentication_error",
        ),
        (
            vec![key],
            r#"{"model":"nope","max_tokens":5,"messages":[{"role":"user","content":"x"}]}"#,
            400,
            "invalid_request_error",
        ),
    ] {
        let r = block_on(app.handle(req("POST", "/v1/messages", &headers, body)));
        assert_eq!(r.status, status, "{body}");
        let e = body_json(&r);
        assert_eq!(
            (e["type"].as_str(), e["error"]["type"].as_str()),
            (Some("error"), Some(kind)),
            "{e}"
        );
    }
    let r = block_on(app.handle(req(
        "POST",
        "/v1/messages/count_tokens",
        &[key],
        r#"{"model":"g","messages":[{"role":"user","content":"hello there, how are you"}]}"#,
    )));
    assert_eq!(r.status, 200);
    assert!(body_json(&r)["input_tokens"].as_u64().unwrap() > 0);
}

#[test]
fn a_messages_stream_is_anthropics_events() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, Reply::Stream(vec![
        Ok(b"data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"}}]}\n\n".to_vec()),
        Ok(b"data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n".to_vec()),
    ]));
    let app = app(&up);
    let body = r#"{"model":"g","max_tokens":20,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut r = block_on(app.handle(req("POST", "/v1/messages", &[AUTH], body)));
    assert_eq!(r.status, 200);
    let HttpBody::Stream(s) = std::mem::replace(&mut r.body, HttpBody::Bytes(Vec::new())) else {
        panic!("not a stream")
    };
    let text =
        String::from_utf8(block_on(futures::StreamExt::collect::<Vec<_>>(s)).concat()).unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ],
        "{text}"
    );
    assert!(!text.contains("[DONE]"));
}

#[test]
fn claude_code_model_names_reach_their_group() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, Reply::json(200, r#"{"id":"c","model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"ok"}}]}"#));
    let app = app_with(
        r#"{"model_list":[{"model_name":"claude-sonnet-4-5","litellm_params":{"model":"m","api_base":"http://up.test/v1"}},
                          {"model_name":"claude-sonnet-4-5-20250929","litellm_params":{"model":"dated","api_base":"http://up.test/v1"}}],
            "general_settings":{"master_key":"sk-master"}}"#,
        &up,
    );
    let ask = |model: &str| {
        let body = format!(
            r#"{{"model":"{model}","max_tokens":9,"messages":[{{"role":"user","content":"hi"}}]}}"#
        );
        let r = block_on(app.handle(req(
            "POST",
            "/v1/messages?beta=true",
            &[("x-api-key", "sk-master")],
            &body,
        )));
        (
            r.status,
            r.header("x-litellm-model-group").map(str::to_string),
        )
    };
    assert_eq!(
        ask("claude-sonnet-4-5-20250929[1m]"),
        (200, Some("claude-sonnet-4-5-20250929".into()))
    );
    assert_eq!(
        ask("claude-sonnet-4-5-latest"),
        (200, Some("claude-sonnet-4-5".into()))
    );
    assert_eq!(
        ask("claude-sonnet-4-5-20991231"),
        (200, Some("claude-sonnet-4-5".into()))
    );
    assert_eq!(
        ask("claude-opus-4-1-20250805").0,
        400,
        "no group by any spelling"
    );
}

#[test]
fn an_anthropic_deployment_gets_the_clients_own_messages_body_and_its_thinking_back() {
    let up = Rc::new(ScriptedUpstream::default());
    let ant = "http://ant.test/v1/messages";
    up.push(ant, Reply::json(200, r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x",
        "content":[{"type":"thinking","thinking":"Let me think.","signature":"sig-1"},{"type":"text","text":"42"}],
        "stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":7}}"#));
    up.push(UP, Reply::json(200, r#"{"id":"c","model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"translated"}}]}"#));
    let app = app_with(
        r#"{"model_list":[{"model_name":"claude","litellm_params":{"model":"anthropic/claude-x","api_base":"http://ant.test","api_key":"k"}},
                          {"model_name":"gpt","litellm_params":{"model":"m","api_base":"http://up.test/v1"}}],
            "general_settings":{"master_key":"sk-master"}}"#,
        &up,
    );
    let body = r#"{"model":"claude","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"top_k":5,
        "system":[{"type":"text","text":"long rules","cache_control":{"type":"ephemeral"}}],
        "messages":[{"role":"user","content":"What is 6 x 7?"}]}"#;
    let headers = [
        ("x-api-key", "sk-master"),
        ("anthropic-beta", "interleaved-thinking-2025-05-14"),
    ];
    let r = block_on(app.handle(req("POST", "/v1/messages", &headers, body)));
    assert_eq!(r.status, 200);
    let call = up.calls.borrow()[0].clone();
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    let mut expected: Value = serde_json::from_str(body).unwrap();
    expected["model"] = Value::from("claude-x");
    assert_eq!(sent, expected, "passed through as the client wrote it");
    assert!(call
        .headers
        .iter()
        .any(|(k, v)| *k == "anthropic-beta" && v == "interleaved-thinking-2025-05-14"));
    let m = body_json(&r);
    assert_eq!(
        m["content"][0],
        serde_json::json!({"type":"thinking","thinking":"Let me think.","signature":"sig-1"})
    );
    assert_eq!(m["content"][1]["text"], "42");
    // Any other provider gets the translation (Anthropic's own fields are not chat's).
    let other = body.replace(r#""model":"claude""#, r#""model":"gpt""#);
    let r = block_on(app.handle(req("POST", "/v1/messages", &headers, &other)));
    assert_eq!(r.status, 200);
    let sent: Value = serde_json::from_slice(&up.calls.borrow()[1].body).unwrap();
    assert!(
        sent.get("thinking").is_none() && sent.get("top_k").is_none(),
        "{sent}"
    );
    assert_eq!(sent["messages"][0]["content"], "long rules");
}
