//! Streams that break after the client saw tokens, finished by another deployment.

use super::*;
use crate::testing::{Fixture, Reply, ScriptedUpstream};
use futures::executor::block_on;
use futures::StreamExt;
use serde_json::{json, Value};

fn url(name: &str) -> String {
    format!("http://{name}.test/v1/chat/completions")
}

fn dep(group: &str, name: &str, info: &str) -> String {
    format!(
        r#"{{"model_name":"{group}","litellm_params":{{"model":"openai/model-{name}","api_base":"http://{name}.test/v1","api_key":"k-{name}","order":{order}}},"model_info":{{"id":"{name}"{info}}}}}"#,
        order = if name == "a" { 1 } else { 2 }
    )
}

/// An OpenAI chunk of `name`'s with this content.
fn text(name: &str, content: &str) -> Result<Vec<u8>, String> {
    let c = json!({"id": format!("chatcmpl-{name}"), "object": "chat.completion.chunk", "model": format!("model-{name}"),
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]});
    Ok(format!("data: {c}\n\n").into_bytes())
}

fn role(name: &str) -> Result<Vec<u8>, String> {
    let c = json!({"id": format!("chatcmpl-{name}"), "model": format!("model-{name}"),
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]});
    Ok(format!("data: {c}\n\n").into_bytes())
}

fn end(name: &str, usage: Option<(u64, u64)>) -> Vec<Result<Vec<u8>, String>> {
    let stop = json!({"id": format!("chatcmpl-{name}"), "model": format!("model-{name}"),
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    let mut out = vec![Ok(format!("data: {stop}\n\n").into_bytes())];
    if let Some((p, c)) = usage {
        let u = json!({"id": format!("chatcmpl-{name}"), "model": format!("model-{name}"), "choices": [],
            "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}});
        out.push(Ok(format!("data: {u}\n\n").into_bytes()));
    }
    out.push(Ok(b"data: [DONE]\n\n".to_vec()));
    out
}

/// `a` first, then `b`, which takes a prefill.
fn prefill_on_b() -> Run {
    run(
        &[
            dep("g", "a", ""),
            dep("g", "b", r#","supports_assistant_prefill":true"#),
        ],
        "",
    )
}

struct Run {
    up: Rc<ScriptedUpstream>,
    clock: crate::testing::ManualClock,
    router: Router,
}

fn run(deployments: &[String], settings: &str) -> Run {
    let text = format!(
        r#"{{"model_list":[{}],"router_settings":{{"num_retries":0{settings}}}}}"#,
        deployments.join(",")
    );
    let f = Fixture::mid_minute();
    let router = f.router(&text);
    Run {
        up: f.up,
        clock: f.clock,
        router,
    }
}

/// What the client read: the content, the chunks (as JSON), and whether it ended with `[DONE]`.
struct Read {
    text: String,
    chunks: Vec<Value>,
    done: bool,
    error: Option<Value>,
    routed_usage: Option<(u64, f64)>,
    continued: u32,
}

impl Run {
    fn reply(&self, name: &str, r: Reply) {
        self.up.push(&url(name), r);
    }
    fn bodies(&self, name: &str) -> Vec<Value> {
        self.up
            .calls
            .borrow()
            .iter()
            .filter(|c| c.url == url(name))
            .map(|c| serde_json::from_slice(&c.body).unwrap())
            .collect()
    }
    fn stream(&self, extra: Value) -> Read {
        let mut body = json!({"model": "g", "stream": true, "messages": [{"role": "user", "content": "say hello world"}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let req = ModelRequest::parse(body.to_string().as_bytes()).unwrap();
        let routed = block_on(self.router.completion(&req)).unwrap();
        let usage = routed.stream_usage.clone().unwrap();
        let continued = routed.continued.clone().unwrap();
        let RoutedBody::Stream(s) = routed.body else {
            panic!("not a stream")
        };
        let bytes: Vec<Vec<u8>> = block_on(s.collect());
        let all = String::from_utf8(bytes.concat()).unwrap();
        let mut read = Read {
            text: String::new(),
            chunks: Vec::new(),
            done: false,
            error: None,
            routed_usage: usage.get(),
            continued: continued.get(),
        };
        for line in all.lines().filter_map(|l| l.strip_prefix("data: ")) {
            if line == "[DONE]" {
                read.done = true;
                continue;
            }
            let v: Value = serde_json::from_str(line).unwrap();
            if v.get("error").is_some() {
                read.error = Some(v);
                continue;
            }
            if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
                read.text.push_str(c);
            }
            read.chunks.push(v);
        }
        read
    }
    fn fails(&self, id: &str) -> u32 {
        self.router
            .state
            .snapshot(id, self.clock.now_ms())
            .fails_this_minute
    }
}

#[test]
fn a_cut_stream_is_regenerated_elsewhere_and_joined_after_the_text_already_sent() {
    let r = run(&[dep("g", "a", ""), dep("g", "b", "")], "");
    r.reply(
        "a",
        Reply::Stream(vec![
            role("a"),
            text("a", "Hello "),
            text("a", "wor"),
            Err("connection reset".into()),
        ]),
    );
    let mut b = vec![
        role("b"),
        text("b", "Hel"),
        text("b", "lo wo"),
        text("b", "rld!"),
    ];
    b.extend(end("b", None));
    r.reply("b", Reply::Stream(b));
    let read = r.stream(json!({}));
    assert_eq!(read.text, "Hello world!");
    assert!(read.done && read.error.is_none(), "{:?}", read.error);
    for c in &read.chunks {
        assert_eq!(c["id"], "chatcmpl-a", "{c}");
        assert_eq!(c["model"], "model-a", "{c}");
    }
    let roles = read
        .chunks
        .iter()
        .filter(|c| c["choices"][0]["delta"].get("role").is_some())
        .count();
    assert_eq!(roles, 1, "one role delta");
    // b (OpenAI's wire) takes no prefill: asked the client's own messages.
    let asked = r.bodies("b");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["messages"].as_array().unwrap().len(), 1);
    assert_eq!(read.continued, 1);
    assert_eq!((r.fails("a"), r.fails("b")), (1, 0));
    assert_eq!(r.router.tallies()[0].1.continued, 1);
}

#[test]
fn a_regenerated_answer_that_begins_differently_is_never_stitched_on() {
    let r = run(&[dep("g", "a", ""), dep("g", "b", "")], "");
    r.reply(
        "a",
        Reply::Stream(vec![role("a"), text("a", "Hello "), Err("reset".into())]),
    );
    let mut b = vec![role("b"), text("b", "Goodbye, "), text("b", "world")];
    b.extend(end("b", None));
    r.reply("b", Reply::Stream(b));
    let read = r.stream(json!({}));
    assert_eq!(read.text, "Hello ");
    assert!(!read.done);
    let e = read.error.expect("the in-band error");
    assert_eq!(e["error"]["code"], "stream_interrupted");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("began differently"),
        "{e}"
    );
}

#[test]
fn a_deployment_that_takes_a_prefill_goes_on_from_the_text_relayed() {
    let r = prefill_on_b();
    r.reply(
        "a",
        Reply::Stream(vec![
            role("a"),
            text("a", "Hello "),
            Ok(b"data: {\"choices\":[{\"delta\":{\"content\":\"wo\n\n".to_vec()),
        ]),
    );
    let mut b = vec![role("b"), text("b", " world!")];
    b.extend(end("b", None));
    r.reply("b", Reply::Stream(b));
    let read = r.stream(json!({}));
    // The malformed event is not relayed; the prefill was "Hello" (no trailing space), and the
    // space the client already has is not sent twice.
    assert_eq!(read.text, "Hello world!");
    assert!(read.done);
    let asked = &r.bodies("b")[0]["messages"];
    assert_eq!(asked[1], json!({"role": "assistant", "content": "Hello"}));
}

#[test]
fn a_prefill_refused_with_a_400_is_answered_afresh_on_the_same_deployment() {
    let r = prefill_on_b();
    r.reply(
        "a",
        Reply::Stream(vec![role("a"), text("a", "Hello "), Err("reset".into())]),
    );
    r.reply(
        "b",
        Reply::json(
            400,
            r#"{"error":{"message":"This model does not support assistant message prefill.","type":"invalid_request_error"}}"#,
        ),
    );
    let mut b = vec![role("b"), text("b", "Hello world")];
    b.extend(end("b", None));
    r.reply("b", Reply::Stream(b));
    let read = r.stream(json!({}));
    assert_eq!(read.text, "Hello world");
    assert!(read.done && read.error.is_none());
    let asked = r.bodies("b");
    assert_eq!(asked.len(), 2);
    assert_eq!(
        asked[0]["messages"].as_array().unwrap().len(),
        2,
        "with the prefill"
    );
    assert_eq!(asked[1]["messages"].as_array().unwrap().len(), 1, "afresh");
}

#[test]
fn the_fallback_finishes_when_the_group_has_no_other_deployment_and_usage_sums_every_call() {
    let r = run(
        &[dep("g", "a", ""), dep("fb", "f", "")],
        r#","fallbacks":[{"g":["fb"]}]"#,
    );
    r.reply(
        "a",
        Reply::Stream(vec![role("a"), text("a", "Hello "), Err("reset".into())]),
    );
    let mut f = vec![role("f"), text("f", "Hello world")];
    f.extend(end("f", Some((7, 3))));
    r.reply("f", Reply::Stream(f));
    let read = r.stream(json!({"stream_options": {"include_usage": true}}));
    assert_eq!(read.text, "Hello world");
    let usage = read
        .chunks
        .iter()
        .find_map(|c| c.get("usage").filter(|u| !u.is_null()))
        .expect("a usage chunk");
    // a's part: the prompt estimated (~4 characters a token) and "Hello " (2 tokens).
    let prompt_a = crate::tokens::estimate_request_tokens(
        json!({"messages": [{"role": "user", "content": "say hello world"}]})
            .as_object()
            .unwrap(),
    );
    assert_eq!(usage["prompt_tokens"], 7 + prompt_a);
    assert_eq!(usage["completion_tokens"], 3 + 2);
    assert_eq!(usage["total_tokens"], 10 + prompt_a + 2);
    assert_eq!(
        read.routed_usage.unwrap().0,
        10 + prompt_a + 2,
        "the key pays for both"
    );
    assert_eq!(read.chunks[0]["model"], "model-a");
}

#[test]
fn a_break_inside_a_tool_call_is_not_continued() {
    let r = run(&[dep("g", "a", ""), dep("g", "b", "")], "");
    let tool = json!({"id": "chatcmpl-a", "model": "model-a", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"ci"}}]}}]});
    r.reply(
        "a",
        Reply::Stream(vec![
            role("a"),
            Ok(format!("data: {tool}\n\n").into_bytes()),
            Err("reset".into()),
        ]),
    );
    let read = r.stream(json!({}));
    assert!(read.error.is_some() && !read.done);
    assert_eq!(r.bodies("b").len(), 0);
    assert_eq!(read.continued, 0);
}

#[test]
fn with_nowhere_to_go_the_stream_ends_with_its_error_as_before() {
    let r = run(&[dep("g", "a", "")], "");
    r.reply(
        "a",
        Reply::Stream(vec![role("a"), text("a", "Hello "), Err("reset".into())]),
    );
    let read = r.stream(json!({}));
    assert_eq!(read.text, "Hello ");
    let e = read.error.expect("the in-band error");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("reset"),
        "{e}"
    );
}

#[test]
fn a_continuation_that_breaks_in_turn_is_continued_by_the_next() {
    let r = run(
        &[dep("g", "a", ""), dep("g", "b", ""), dep("g", "c", "")],
        "",
    );
    r.reply(
        "a",
        Reply::Stream(vec![role("a"), text("a", "One "), Err("reset".into())]),
    );
    r.reply(
        "b",
        Reply::Stream(vec![role("b"), text("b", "One two "), Err("reset".into())]),
    );
    let mut c = vec![role("c"), text("c", "One two three")];
    c.extend(end("c", None));
    r.reply("c", Reply::Stream(c));
    let read = r.stream(json!({}));
    assert_eq!(read.text, "One two three");
    assert!(read.done);
    assert_eq!(read.continued, 2);
}

#[test]
fn the_text_of_the_first_event_is_part_of_what_a_continuation_goes_on_from() {
    // Gemini's and Bedrock's first events carry text: it counts as relayed.
    let r = prefill_on_b();
    r.reply(
        "a",
        Reply::Stream(vec![
            text("a", "Hello "),
            text("a", "big"),
            Err("reset".into()),
        ]),
    );
    let mut b = vec![text("b", " world")];
    b.extend(end("b", None));
    r.reply("b", Reply::Stream(b));
    let read = r.stream(json!({}));
    assert_eq!(read.text, "Hello big world");
    assert_eq!(
        r.bodies("b")[0]["messages"][1],
        json!({"role": "assistant", "content": "Hello big"})
    );
    assert!(read.chunks.iter().all(|c| c["id"] == "chatcmpl-a"));
}
