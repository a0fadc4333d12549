use super::super::tests::{body_json, req, AUTH, UP};
use crate::api::{App, HttpBody, HttpResponse};
use crate::testing::{Fixture, Reply, ScriptedUpstream};
use futures::executor::block_on;
use serde_json::Value;
use std::rc::Rc;

fn answer(content: &str) -> Reply {
    Reply::json(
        200,
        &serde_json::json!({"id": "c1", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}})
        .to_string(),
    )
}

fn sent(up: &ScriptedUpstream, n: usize) -> Value {
    serde_json::from_slice(&up.calls.borrow()[n].body).unwrap()
}

fn post(app: &App, auth: &str, body: &str) -> HttpResponse {
    let mut r = block_on(app.handle(req(
        "POST",
        "/v1/responses",
        &[("authorization", auth)],
        body,
    )));
    for job in std::mem::take(&mut r.background) {
        block_on(job);
    }
    r
}

fn get(app: &App, auth: &str, path: &str) -> HttpResponse {
    block_on(app.handle(req("GET", path, &[("authorization", auth)], "")))
}

fn stream_text(mut r: HttpResponse) -> String {
    let HttpBody::Stream(s) = std::mem::replace(&mut r.body, HttpBody::Bytes(Vec::new())) else {
        panic!("not a stream")
    };
    String::from_utf8(block_on(futures::StreamExt::collect::<Vec<_>>(s)).concat()).unwrap()
}

const MASTER: &str = "Bearer sk-master";

/// Group `g` is served by a self-hosted OpenAI-compatible server (chat only: the Responses
/// API is translated), group `o` by OpenAI itself (passed through), both at `up.test`.
const CONFIG: &str = r#"{"model_list":[
    {"model_name":"g","litellm_params":{"model":"hosted_vllm/m","api_base":"http://up.test/v1"}},
    {"model_name":"o","litellm_params":{"model":"openai/gpt-4o","api_base":"http://up.test/v1","api_key":"sk-up","input_cost_per_token":0.001,"output_cost_per_token":0.002}}],
    "general_settings":{"master_key":"sk-master"}}"#;

const NATIVE: &str = "http://up.test/v1/responses";

fn app(up: &Rc<ScriptedUpstream>) -> App {
    Fixture::default().upstream(up).seed(3).app(CONFIG)
}

#[test]
fn a_response_is_its_chat_answer_in_the_responses_shape_and_is_stored() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, answer("Hello back"));
    let app = app(&up);
    let r = post(
        &app,
        MASTER,
        r#"{"model":"g","instructions":"be brief","input":"Hello","max_output_tokens":50,"metadata":{"k":"v"}}"#,
    );
    assert_eq!(r.status, 200);
    let v = body_json(&r);
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["instructions"], "be brief");
    assert_eq!(v["metadata"]["k"], "v");
    assert_eq!(v["output"][0]["type"], "message");
    assert_eq!(v["output"][0]["content"][0]["type"], "output_text");
    assert_eq!(v["output"][0]["content"][0]["text"], "Hello back");
    assert_eq!(v["usage"]["input_tokens"], 7);
    assert_eq!(v["usage"]["output_tokens"], 3);
    assert_eq!(v["usage"]["total_tokens"], 10);
    let id = v["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("resp_"), "{id}");
    // What went upstream: a chat request.
    let s = sent(&up, 0);
    assert_eq!(
        s["messages"][0],
        serde_json::json!({"role": "system", "content": "be brief"})
    );
    assert_eq!(
        s["messages"][1],
        serde_json::json!({"role": "user", "content": "Hello"})
    );
    assert_eq!(s["max_completion_tokens"], 50);
    assert!(
        s.get("input").is_none() && s.get("instructions").is_none(),
        "{s}"
    );
    // Stored: read back, its input items listed, deleted.
    let got = get(&app, MASTER, &format!("/v1/responses/{id}"));
    assert_eq!(got.status, 200);
    assert_eq!(body_json(&got), v);
    let items = body_json(&get(
        &app,
        MASTER,
        &format!("/v1/responses/{id}/input_items"),
    ));
    assert_eq!(items["object"], "list");
    assert_eq!(items["data"][0]["role"], "user");
    assert_eq!(items["data"][0]["content"][0]["text"], "Hello");
    assert_eq!(items["has_more"], false);
    let del = block_on(app.handle(req("DELETE", &format!("/v1/responses/{id}"), &[AUTH], "")));
    assert_eq!(del.status, 200);
    assert_eq!(body_json(&del)["deleted"], true);
    let gone = get(&app, MASTER, &format!("/v1/responses/{id}"));
    assert_eq!(gone.status, 404);
    assert_eq!(body_json(&gone)["error"]["type"], "invalid_request_error");
    let again = block_on(app.handle(req("DELETE", &format!("/v1/responses/{id}"), &[AUTH], "")));
    assert_eq!(again.status, 404);
}

#[test]
fn previous_response_id_carries_the_conversation_but_not_the_instructions() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, answer("Paris"));
    up.push(UP, answer("About two million"));
    let app = app(&up);
    let first = body_json(&post(
        &app,
        MASTER,
        r#"{"model":"g","instructions":"geography","input":"Capital of France?"}"#,
    ));
    let body = serde_json::json!({"model": "g", "instructions": "numbers", "input": "Its population?",
        "previous_response_id": first["id"]});
    let second = post(&app, MASTER, &body.to_string());
    assert_eq!(second.status, 200);
    assert_eq!(body_json(&second)["previous_response_id"], first["id"]);
    let s = sent(&up, 1);
    let roles: Vec<(&str, &str)> = s["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            ("system", "numbers"),
            ("user", "Capital of France?"),
            ("assistant", "Paris"),
            ("user", "Its population?")
        ]
    );
    // An id that was never stored (or was not stored: store false) is the caller's mistake.
    let unstored = body_json(&post(
        &app,
        MASTER,
        r#"{"model":"g","input":"x","store":false}"#,
    ));
    assert_eq!(
        get(
            &app,
            MASTER,
            &format!("/v1/responses/{}", unstored["id"].as_str().unwrap())
        )
        .status,
        404
    );
    let body =
        serde_json::json!({"model": "g", "input": "y", "previous_response_id": unstored["id"]});
    let r = post(&app, MASTER, &body.to_string());
    assert_eq!(r.status, 400);
    assert_eq!(body_json(&r)["error"]["param"], "previous_response_id");
}

#[test]
fn a_key_never_reads_or_deletes_another_keys_responses() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, answer("secret plans"));
    let app = app(&up);
    let mint = |alias: &str| {
        let gen = block_on(app.handle(req(
            "POST",
            "/key/generate",
            &[AUTH],
            &format!(r#"{{"key_alias":"{alias}"}}"#),
        )));
        format!("Bearer {}", body_json(&gen)["key"].as_str().unwrap())
    };
    let (a, b) = (mint("a"), mint("b"));
    let mine = body_json(&post(&app, &a, r#"{"model":"g","input":"my plans"}"#));
    let id = mine["id"].as_str().unwrap();
    assert_eq!(get(&app, &a, &format!("/v1/responses/{id}")).status, 200);
    for (who, label) in [(&b, "another key"), (&MASTER.to_string(), "the master key")] {
        assert_eq!(
            get(&app, who, &format!("/v1/responses/{id}")).status,
            404,
            "{label}"
        );
        assert_eq!(
            get(&app, who, &format!("/v1/responses/{id}/input_items")).status,
            404,
            "{label}"
        );
        let del = block_on(app.handle(req(
            "DELETE",
            &format!("/v1/responses/{id}"),
            &[("authorization", who.as_str())],
            "",
        )));
        assert_eq!(del.status, 404, "{label}");
        let body = serde_json::json!({"model": "g", "input": "what were they?", "previous_response_id": id});
        assert_eq!(post(&app, who, &body.to_string()).status, 400, "{label}");
    }
    assert_eq!(
        up.calls.borrow().len(),
        1,
        "no other call reached the upstream"
    );
    assert_eq!(
        get(&app, &a, &format!("/v1/responses/{id}")).status,
        200,
        "still there for its owner"
    );
}

#[test]
fn a_stored_response_expires_after_responses_ttl() {
    let fx = Fixture::at(1_000_000.0);
    fx.up.push(UP, answer("short-lived"));
    let app = fx.app(r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"hosted_vllm/m","api_base":"http://up.test/v1"}}],
        "general_settings":{"master_key":"sk-master","responses_ttl":60}}"#);
    let id = body_json(&post(&app, MASTER, r#"{"model":"g","input":"hi"}"#))["id"]
        .as_str()
        .unwrap()
        .to_string();
    fx.clock.advance(59_000.0);
    assert_eq!(
        get(&app, MASTER, &format!("/v1/responses/{id}")).status,
        200
    );
    fx.clock.advance(2_000.0);
    assert_eq!(
        get(&app, MASTER, &format!("/v1/responses/{id}")).status,
        404
    );
}

#[test]
fn a_tool_call_round_trip() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, Reply::json(200, r#"{"id":"c","model":"m","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Oslo\"}"}}]}}],"usage":{"prompt_tokens":9,"completion_tokens":4}}"#));
    up.push(UP, answer("It is cold in Oslo."));
    let app = app(&up);
    let tools = r#"[{"type":"function","name":"weather","description":"the weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true}]"#;
    let first = body_json(&post(
        &app,
        MASTER,
        &format!(
            r#"{{"model":"g","input":"Weather in Oslo?","tools":{tools},"tool_choice":{{"type":"function","name":"weather"}}}}"#
        ),
    ));
    let s = sent(&up, 0);
    assert_eq!(s["tools"][0]["function"]["name"], "weather");
    assert_eq!(s["tools"][0]["function"]["strict"], true);
    assert_eq!(s["tool_choice"]["function"]["name"], "weather");
    let call = &first["output"][0];
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["call_id"], "call_1");
    assert_eq!(call["arguments"], r#"{"city":"Oslo"}"#);
    let body = serde_json::json!({"model": "g", "previous_response_id": first["id"], "tools": serde_json::from_str::<Value>(tools).unwrap(),
        "input": [{"type": "function_call_output", "call_id": "call_1", "output": "-5C"}]});
    let second = body_json(&post(&app, MASTER, &body.to_string()));
    assert_eq!(
        second["output"][0]["content"][0]["text"],
        "It is cold in Oslo."
    );
    let s = sent(&up, 1);
    let m = s["messages"].as_array().unwrap();
    assert_eq!(m[1]["role"], "assistant");
    assert_eq!(m[1]["tool_calls"][0]["id"], "call_1");
    assert_eq!(
        m[2],
        serde_json::json!({"role": "tool", "tool_call_id": "call_1", "content": "-5C"})
    );
}

#[test]
fn a_response_stream_is_the_responses_events_and_is_stored_before_it_completes() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, Reply::Stream(vec![
        Ok(b"data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n".to_vec()),
        Ok(b"data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n".to_vec()),
        Ok(b"data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n".to_vec()),
    ]));
    let app = app(&up);
    let r = post(&app, MASTER, r#"{"model":"g","input":"hi","stream":true}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let text = stream_text(r);
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ],
        "{text}"
    );
    let seq: Vec<u64> = events
        .iter()
        .map(|e| e["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(seq, (0..10).collect::<Vec<u64>>());
    let done = &events[9]["response"];
    assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
    assert_eq!(done["usage"]["output_tokens"], 2);
    assert!(!text.contains("[DONE]"));
    let id = done["id"].as_str().unwrap();
    assert_eq!(
        body_json(&get(&app, MASTER, &format!("/v1/responses/{id}"))),
        *done
    );
}

#[test]
fn bad_responses_requests_are_refused_by_name() {
    let up = Rc::new(ScriptedUpstream::default());
    let app = app(&up);
    for (body, param) in [
        (r#"{"model":"g","input":"x","temprature":1}"#, "temprature"),
        (r#"{"input":"x"}"#, "model"),
        (r#"{"model":"g"}"#, "input"),
        (r#"{"model":"g","input":5}"#, "input"),
        (
            r#"{"model":"g","input":"x","tools":[{"type":"web_search_preview"}]}"#,
            "tools[0].type",
        ),
        (
            r#"{"model":"g","input":[{"type":"item_reference","id":"x"}]}"#,
            "input[0]",
        ),
        (
            r#"{"model":"g","input":[{"type":"computer_call_output","id":"x"}]}"#,
            "input[0].type",
        ),
        (
            r#"{"model":"g","input":"x","previous_response_id":"resp_nope"}"#,
            "previous_response_id",
        ),
        (
            r#"{"model":"g","input":"x","text":{"format":{"type":"json_schema","name":"n"}}}"#,
            "text.format.schema",
        ),
        (r#"{"model":"g","input":"x","store":"yes"}"#, "store"),
    ] {
        let r = post(&app, MASTER, body);
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(body_json(&r)["error"]["param"], param, "{body}");
    }
    assert!(up.calls.borrow().is_empty());
    let r = get(&app, MASTER, "/v1/responses/resp_x/input_items?limit=0");
    assert_eq!(r.status, 404, "an unknown id before a bad limit");
}

#[test]
fn item_references_are_the_callers_own_stored_items() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, Reply::json(200, r#"{"id":"c","model":"m","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":"Looking.","tool_calls":[{"id":"call_9","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}"#));
    up.push(UP, answer("done"));
    let app = app(&up);
    let first = body_json(&post(
        &app,
        MASTER,
        r#"{"model":"g","input":"go","tools":[{"type":"function","name":"f"}]}"#,
    ));
    let (msg, call) = (&first["output"][0]["id"], &first["output"][1]["id"]);
    // As the Vercel AI SDK sends a second step: the earlier items by reference.
    let body = serde_json::json!({"model": "g", "input": [
        {"role": "user", "content": "go"},
        {"type": "item_reference", "id": msg},
        {"type": "item_reference", "id": call},
        {"type": "function_call_output", "call_id": "call_9", "output": "ok"}]});
    let r = post(&app, MASTER, &body.to_string());
    assert_eq!(r.status, 200, "{}", body_json(&r));
    let m = sent(&up, 1)["messages"].as_array().unwrap().clone();
    assert_eq!(m[1]["content"], "Looking.");
    assert_eq!(m[1]["tool_calls"][0]["id"], "call_9");
    assert_eq!(m[2]["role"], "tool");
    // Another caller's reference (or one to nothing) finds nothing.
    let gen = block_on(app.handle(req("POST", "/key/generate", &[AUTH], "{}")));
    let other = format!("Bearer {}", body_json(&gen)["key"].as_str().unwrap());
    for (who, id) in [
        (other.as_str(), call.clone()),
        (MASTER, Value::from("fc_nothing00")),
    ] {
        let body =
            serde_json::json!({"model": "g", "input": [{"type": "item_reference", "id": id}]});
        let r = post(&app, who, &body.to_string());
        assert_eq!(r.status, 400);
        assert_eq!(body_json(&r)["error"]["param"], "input[0]");
    }
    assert_eq!(up.calls.borrow().len(), 2);
}

fn native_answer(id: &str, text: &str) -> Reply {
    Reply::json(
        200,
        &serde_json::json!({"id": id, "object": "response", "created_at": 1, "status": "completed",
            "model": "gpt-4o-2024-08-06", "output": [
                {"type": "web_search_call", "id": "ws_1", "status": "completed"},
                {"type": "message", "id": format!("msg_{id}"), "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": text, "annotations": [{"type": "url_citation", "url": "https://x.example"}]}]}],
            "usage": {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}})
        .to_string(),
    )
}

#[test]
fn an_openai_group_gets_the_request_as_it_is_and_its_answer_untouched() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(NATIVE, native_answer("resp_up1", "It is sunny."));
    up.push(NATIVE, native_answer("resp_up2", "Still sunny."));
    let app = app(&up);
    let body = r#"{"model":"o","input":"Weather in Oslo?","tools":[{"type":"web_search_preview"}],"include":["web_search_call.action.sources"],"metadata":{"k":"v"}}"#;
    let r = post(&app, MASTER, body);
    assert_eq!(r.status, 200, "{}", body_json(&r));
    let v = body_json(&r);
    assert_eq!(v["id"], "resp_up1", "the provider's own response");
    assert_eq!(v["output"][0]["type"], "web_search_call");
    assert_eq!(
        v["output"][1]["content"][0]["annotations"][0]["type"],
        "url_citation"
    );
    let call = up.calls.borrow()[0].clone();
    assert_eq!(call.url, NATIVE);
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(sent["model"], "gpt-4o");
    assert_eq!(sent["tools"][0]["type"], "web_search_preview");
    assert_eq!(sent["include"][0], "web_search_call.action.sources");
    assert_eq!(sent["metadata"]["k"], "v");
    assert!(sent.get("messages").is_none());
    // Charged from the Responses usage: 100 * 0.001 + 20 * 0.002.
    let cost: f64 = r
        .header("x-litellm-response-cost")
        .unwrap()
        .parse()
        .unwrap();
    assert!((cost - 0.14).abs() < 1e-9, "{cost}");
    // Stored for its owner; continued upstream by the provider's own id.
    assert_eq!(body_json(&get(&app, MASTER, "/v1/responses/resp_up1")), v);
    let next = post(
        &app,
        MASTER,
        r#"{"model":"o","input":"And tomorrow?","previous_response_id":"resp_up1"}"#,
    );
    assert_eq!(next.status, 200);
    let sent: Value = serde_json::from_slice(&up.calls.borrow()[1].body).unwrap();
    assert_eq!(sent["previous_response_id"], "resp_up1");
    assert_eq!(sent["input"], "And tomorrow?");
    // The same id from another key is not found here, and never reaches the provider.
    let gen = block_on(app.handle(req("POST", "/key/generate", &[AUTH], "{}")));
    let other = format!("Bearer {}", body_json(&gen)["key"].as_str().unwrap());
    let r = post(
        &app,
        &other,
        r#"{"model":"o","input":"x","previous_response_id":"resp_up1"}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(up.calls.borrow().len(), 2);
}

#[test]
fn a_translated_response_continued_in_an_openai_group_becomes_its_input_items() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, answer("Paris"));
    up.push(NATIVE, native_answer("resp_up3", "About two million."));
    let app = app(&up);
    let first = body_json(&post(
        &app,
        MASTER,
        r#"{"model":"g","input":"Capital of France?"}"#,
    ));
    let body = serde_json::json!({"model": "o", "input": "Its population?", "previous_response_id": first["id"]});
    let r = post(&app, MASTER, &body.to_string());
    assert_eq!(r.status, 200);
    let sent: Value = serde_json::from_slice(&up.calls.borrow()[1].body).unwrap();
    assert!(
        sent.get("previous_response_id").is_none(),
        "OpenAI never saw it"
    );
    let input = sent["input"].as_array().unwrap();
    assert_eq!(
        input[0]["content"][0],
        serde_json::json!({"type": "input_text", "text": "Capital of France?"})
    );
    assert_eq!(input[1]["role"], "assistant");
    assert_eq!(input[1]["content"][0]["text"], "Paris");
    assert_eq!(input[2]["content"][0]["text"], "Its population?");
    // And a passed-through response continued by a translated group: its conversation.
    up.push(UP, answer("ok"));
    let r = post(
        &app,
        MASTER,
        r#"{"model":"g","input":"Sure?","previous_response_id":"resp_up3"}"#,
    );
    assert_eq!(r.status, 200);
    let m = sent_messages(&up, 2);
    assert_eq!(m.last().unwrap()["content"], "Sure?");
    assert!(
        m.iter().any(|x| x["content"] == "About two million."),
        "{m:?}"
    );
}

fn sent_messages(up: &ScriptedUpstream, n: usize) -> Vec<Value> {
    sent(up, n)["messages"].as_array().unwrap().clone()
}

#[test]
fn a_passed_through_stream_is_the_providers_events_and_is_stored() {
    let up = Rc::new(ScriptedUpstream::default());
    let ev =
        |v: Value| format!("event: {}\ndata: {}\n\n", v["type"].as_str().unwrap(), v).into_bytes();
    let done = serde_json::json!({"type": "response.completed", "sequence_number": 2, "response": {
        "id": "resp_up9", "object": "response", "status": "completed", "output": [
            {"type": "message", "id": "msg_9", "role": "assistant", "content": [{"type": "output_text", "text": "Hi"}]}],
        "usage": {"input_tokens": 3, "output_tokens": 1}}});
    up.push(NATIVE, Reply::Stream(vec![
        Ok(ev(serde_json::json!({"type": "response.created", "sequence_number": 0, "response": {"id": "resp_up9", "status": "in_progress"}}))),
        Ok(ev(serde_json::json!({"type": "response.output_text.delta", "sequence_number": 1, "item_id": "msg_9", "output_index": 0, "content_index": 0, "delta": "Hi"}))),
        Ok(ev(done.clone())),
    ]));
    let app = app(&up);
    let r = post(&app, MASTER, r#"{"model":"o","input":"hi","stream":true}"#);
    assert_eq!(r.status, 200);
    let sent: Value = serde_json::from_slice(&up.calls.borrow()[0].body).unwrap();
    assert_eq!(sent["stream"], true);
    assert!(
        sent.get("stream_options").is_none(),
        "Responses takes no stream_options"
    );
    let text = stream_text(r);
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(
        events.len(),
        3,
        "the usage the router counted is not shown: {text}"
    );
    assert_eq!(events[2], done);
    let stored = body_json(&get(&app, MASTER, "/v1/responses/resp_up9"));
    assert_eq!(stored, done["response"]);
}

#[test]
fn an_openai_group_with_a_fallback_that_is_not_is_translated() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(UP, answer("translated"));
    let app = app(&up);
    let r = post(
        &app,
        MASTER,
        r#"{"model":"o","input":"x","fallbacks":["g"]}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        up.calls.borrow()[0].url,
        UP,
        "chat, so the fallback to g can serve"
    );
    assert_eq!(
        body_json(&r)["output"][0]["content"][0]["text"],
        "translated"
    );
    // A hosted tool needs the provider itself: refused rather than dropped.
    let r = post(
        &app,
        MASTER,
        r#"{"model":"o","input":"x","fallbacks":["g"],"tools":[{"type":"web_search_preview"}]}"#,
    );
    assert_eq!(r.status, 400);
}

#[test]
fn a_wildcard_openai_group_passes_through_with_the_model_asked_for() {
    let fx = Fixture::default();
    fx.up.push(NATIVE, native_answer("resp_w", "hi"));
    let app = fx.app(
        r#"{"model_list":[{"model_name":"openai/*","litellm_params":{"model":"openai/*","api_base":"http://up.test/v1","api_key":"k"}}],
            "general_settings":{"master_key":"sk-master"}}"#,
    );
    let r = post(&app, MASTER, r#"{"model":"openai/gpt-4.1","input":"hi"}"#);
    assert_eq!(r.status, 200, "{}", body_json(&r));
    let call = fx.up.calls.borrow()[0].clone();
    assert_eq!(call.url, NATIVE);
    assert_eq!(
        serde_json::from_slice::<Value>(&call.body).unwrap()["model"],
        "gpt-4.1"
    );
}

#[test]
fn a_passed_through_item_reference_must_be_the_callers_own() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(NATIVE, native_answer("resp_up5", "Mine."));
    let app = app(&up);
    let gen = block_on(app.handle(req("POST", "/key/generate", &[AUTH], "{}")));
    let other = format!("Bearer {}", body_json(&gen)["key"].as_str().unwrap());
    post(&app, MASTER, r#"{"model":"o","input":"secret"}"#);
    let reference = r#"{"model":"o","input":[{"type":"item_reference","id":"msg_resp_up5"},{"role":"user","content":"go on"}]}"#;
    // Another key (or an id nobody stored) is refused here; the provider would have resolved it.
    for who in [other.as_str(), MASTER] {
        let body = if who == MASTER {
            reference.replace("msg_resp_up5", "msg_unknown")
        } else {
            reference.to_string()
        };
        let r = post(&app, who, &body);
        assert_eq!(r.status, 400, "{who}");
        assert_eq!(body_json(&r)["error"]["param"], "input[0]");
    }
    assert_eq!(
        up.calls.borrow().len(),
        1,
        "no reference reached the provider"
    );
    // The owner's reference to the provider's own item goes on as a reference.
    let r = post(&app, MASTER, reference);
    assert_eq!(r.status, 200);
    let sent: Value = serde_json::from_slice(&up.calls.borrow()[1].body).unwrap();
    assert_eq!(
        sent["input"][0],
        serde_json::json!({"type": "item_reference", "id": "msg_resp_up5"})
    );
}
