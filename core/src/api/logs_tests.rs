//! The request log through the HTTP surface: what a record holds (and never holds), which
//! requests are logged, the routes that read it.

use super::tests::{body_json, req, AUTH};
use super::*;
use crate::testing::{Fixture, Reply, ScriptedUpstream};
use futures::executor::block_on;
use serde_json::Value;
use std::rc::Rc;

const CONFIG: &str = r#"{"model_list":[
    {"model_name":"g","litellm_params":{"model":"openai/m","api_base":"http://a.test/v1","api_key":"sk-upstream-secret","order":1,"input_cost_per_token":0.000001,"output_cost_per_token":0.000002},"model_info":{"id":"g-a"}},
    {"model_name":"g","litellm_params":{"model":"openai/m","api_base":"http://b.test/v1","api_key":"sk-upstream-secret","order":2},"model_info":{"id":"g-b"}}],
    "router_settings":{"num_retries":1,"routing_strategy":"simple-shuffle"},
    "general_settings":{"master_key":"sk-master"}}"#;

/// A fixture at a real time (2026-12-01), so the history has its whole window.
fn fixture() -> Fixture {
    Fixture::at(1_764_547_200_000.0).seed(5)
}

const SECRET_PROMPT: &str = "the launch code is 0000";

fn chat(stream: bool) -> String {
    format!(
        r#"{{"model":"g","stream":{stream},"messages":[{{"role":"user","content":"{SECRET_PROMPT}"}}]}}"#
    )
}

fn run(app: &App, r: HttpRequest) -> HttpResponse {
    let mut resp = block_on(app.handle(r));
    for job in std::mem::take(&mut resp.background) {
        block_on(job);
    }
    resp
}

fn log(app: &App, query: &str) -> Value {
    let r = run(
        app,
        req("GET", &format!("/request/log{query}"), &[AUTH], ""),
    );
    assert_eq!(r.status, 200);
    body_json(&r)
}

const ANSWER: &str = r#"{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"secret answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"#;

#[test]
fn a_retried_call_is_logged_with_its_attempts_and_never_the_prompt_or_a_key() {
    let up = Rc::new(ScriptedUpstream::default());
    // The first deployment (order 1) fails with an upstream message echoing the prompt; the
    // second serves.
    let echo = format!(r#"{{"error":{{"message":"bad: {SECRET_PROMPT}"}}}}"#);
    up.push("http://a.test/v1/chat/completions", Reply::json(500, &echo));
    up.push(
        "http://b.test/v1/chat/completions",
        Reply::json(200, ANSWER),
    );
    let app = fixture().upstream(&up).app(CONFIG);
    let r = run(
        &app,
        req("POST", "/v1/chat/completions", &[AUTH], &chat(false)),
    );
    assert_eq!(r.status, 200);
    let listed = log(&app, "");
    assert_eq!(listed["matched"], 1, "{listed}");
    let rec = &listed["records"][0];
    assert_eq!(rec["status"], 200);
    assert_eq!(rec["group"], "g");
    assert_eq!(rec["key"], "master");
    assert_eq!(rec["retries"], 1);
    assert_eq!(rec["prompt_tokens"], 7);
    assert_eq!(rec["completion_tokens"], 3);
    assert_eq!(rec["path"], "/v1/chat/completions");
    let steps = rec["steps"].as_array().unwrap();
    let called: Vec<(&str, &str)> = steps
        .iter()
        .filter(|s| s["kind"] != "skipped")
        .map(|s| {
            (
                s["kind"].as_str().unwrap(),
                s["deployment"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(called, [("failed", "g-a"), ("served", "g-b")], "{steps:?}");
    let failed = steps.iter().find(|s| s["kind"] == "failed").unwrap();
    assert_eq!(failed["detail"], "internal_server 500");
    assert!(failed["ms"].is_number());
    let skipped = steps.iter().find(|s| s["kind"] == "skipped").unwrap();
    assert_eq!(
        (skipped["deployment"].as_str(), skipped["detail"].as_str()),
        (Some("g-b"), Some("a lower priority (order)"))
    );
    assert_eq!(rec["deployment"], "g-b");
    // One record, by its id, the same.
    let id = rec["id"].as_str().unwrap();
    let one = run(&app, req("GET", &format!("/request/log/{id}"), &[AUTH], ""));
    assert_eq!(&body_json(&one), rec);
    let text = listed.to_string();
    for secret in [
        SECRET_PROMPT,
        "secret answer",
        "sk-upstream-secret",
        "sk-master",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let missing = run(&app, req("GET", "/request/log/nope", &[AUTH], ""));
    assert_eq!(missing.status, 404);
}

#[test]
fn refused_calls_are_logged_and_the_api_around_them_is_not() {
    let up = Rc::new(ScriptedUpstream::default());
    let app = fixture().upstream(&up).app(CONFIG);
    let wrong = ("authorization", "Bearer sk-wrong");
    assert_eq!(
        run(
            &app,
            req("POST", "/v1/chat/completions", &[wrong], &chat(false))
        )
        .status,
        401
    );
    assert_eq!(
        run(
            &app,
            req(
                "POST",
                "/v1/chat/completions",
                &[AUTH],
                r#"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#
            )
        )
        .status,
        400
    );
    run(&app, req("GET", "/v1/models", &[AUTH], ""));
    run(&app, req("GET", "/usage", &[AUTH], ""));
    let listed = log(&app, "");
    assert_eq!(listed["matched"], 2, "{listed}");
    let newest = &listed["records"][0];
    assert_eq!(newest["status"], 400);
    assert_eq!(newest["error_class"], "model_not_found");
    assert!(
        newest["error"].as_str().unwrap().contains("nope"),
        "{newest}"
    );
    assert!(newest.get("deployment").is_none());
    let oldest = &listed["records"][1];
    assert_eq!(oldest["key"], "unauthorized");
    assert_eq!(oldest["status"], 401);
    let id = oldest["id"].as_str().unwrap();
    assert_eq!(id.len(), 32, "a refused request gets an id of its own");
    assert_ne!(id, newest["id"].as_str().unwrap());
    assert_eq!(
        log(&app, "?status=4xx&limit=1")["records"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(log(&app, "?status=401")["matched"], 1);
    assert_eq!(log(&app, "?key=master")["matched"], 1);
    // Only the master key reads the log.
    let r = run(&app, req("GET", "/request/log", &[wrong], ""));
    assert_eq!(r.status, 401);
    let bad = run(&app, req("GET", "/request/log?limit=x", &[AUTH], ""));
    assert_eq!(bad.status, 400);
    assert_eq!(body_json(&bad)["error"]["param"], "limit");
}

#[test]
fn a_streams_record_is_written_when_it_ends_with_its_first_token_and_usage() {
    let up = Rc::new(ScriptedUpstream::default());
    let chunk = |c: &str| {
        format!("data: {{\"id\":\"s\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{c}\"}}}}]}}\n\n").into_bytes()
    };
    let usage = br#"data: {"id":"s","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}

data: [DONE]

"#
    .to_vec();
    for base in [
        "http://a.test/v1/chat/completions",
        "http://b.test/v1/chat/completions",
    ] {
        up.push(
            base,
            Reply::Stream(vec![Ok(chunk("He")), Ok(chunk("y")), Ok(usage.clone())]),
        );
    }
    let app = fixture().upstream(&up).app(CONFIG);
    let mut r = run(
        &app,
        req("POST", "/v1/chat/completions", &[AUTH], &chat(true)),
    );
    assert_eq!(r.status, 200);
    assert_eq!(log(&app, "")["matched"], 0, "not before the stream ends");
    let HttpBody::Stream(s) = std::mem::replace(&mut r.body, HttpBody::Bytes(Vec::new())) else {
        panic!("a stream")
    };
    let text =
        String::from_utf8(block_on(futures::StreamExt::collect::<Vec<_>>(s)).concat()).unwrap();
    assert!(text.contains("[DONE]"));
    block_on(r.stream_log.take().expect("the stream's log work"));
    let listed = log(&app, "");
    let rec = &listed["records"][0];
    assert_eq!(rec["stream"], true);
    assert_eq!(rec["tokens"], 7, "{rec}");
    assert!(rec["ttft_ms"].is_number(), "{rec}");
    assert_eq!(rec["client_closed"], false);
}

#[test]
fn history_counts_the_calls_per_deployment() {
    let up = Rc::new(ScriptedUpstream::default());
    for base in [
        "http://a.test/v1/chat/completions",
        "http://b.test/v1/chat/completions",
    ] {
        for _ in 0..3 {
            up.push(base, Reply::json(200, ANSWER));
        }
    }
    let app = fixture().upstream(&up).app(CONFIG);
    for _ in 0..4 {
        assert_eq!(
            run(
                &app,
                req("POST", "/v1/chat/completions", &[AUTH], &chat(false))
            )
            .status,
            200
        );
    }
    let h = run(&app, req("GET", "/stats/history?window=1h", &[AUTH], ""));
    let h = body_json(&h);
    let points = h["points"].as_array().unwrap();
    assert_eq!(points.len(), 60);
    assert_eq!(points.last().unwrap()["requests"], 4);
    let totals = h["totals"].as_array().unwrap();
    let sum: u64 = totals.iter().map(|t| t["requests"].as_u64().unwrap()).sum();
    assert_eq!(sum, 4);
    assert!(totals.iter().all(|t| t["group"] == "g"));
    let a = run(
        &app,
        req(
            "GET",
            "/stats/history?window=24h&deployment=g-a",
            &[AUTH],
            "",
        ),
    );
    let a = body_json(&a);
    let from_a: u64 = a["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["requests"].as_u64().unwrap())
        .sum();
    let listed_a = log(&app, "?deployment=g-a")["matched"].as_u64().unwrap();
    assert_eq!(from_a, listed_a);
    let bad = run(&app, req("GET", "/stats/history?window=7d", &[AUTH], ""));
    assert_eq!(bad.status, 400);
}

#[test]
fn disable_spend_logs_keeps_no_log() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(
        "http://a.test/v1/chat/completions",
        Reply::json(200, ANSWER),
    );
    let config = CONFIG.replace(
        r#""general_settings":{"master_key":"sk-master"}"#,
        r#""general_settings":{"master_key":"sk-master","disable_spend_logs":true}"#,
    );
    assert_ne!(config, CONFIG);
    let app = fixture().upstream(&up).app(&config);
    let r = run(
        &app,
        req("POST", "/v1/chat/completions", &[AUTH], &chat(false)),
    );
    assert_eq!(r.status, 200);
    assert_eq!(log(&app, "")["matched"], 0);
}

#[test]
fn filter_values_are_decoded_as_browsers_encode_them() {
    use super::routes::query_param;
    // URLSearchParams writes a space as `+` and a `+` as `%2B`; encodeURIComponent a space as `%20`.
    assert_eq!(
        query_param("group=a+b%2Bc&x=1", "group").as_deref(),
        Some("a b+c")
    );
    assert_eq!(
        query_param("key=team%20%3Cb%3E", "key").as_deref(),
        Some("team <b>")
    );
    assert_eq!(
        query_param("groups=x&group=y", "group").as_deref(),
        Some("y")
    );
    assert_eq!(query_param("group", "group"), None);
}
