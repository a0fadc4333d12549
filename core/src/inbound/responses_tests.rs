use super::*;
use crate::inbound::responses_stream::StreamTranslator;
use serde_json::json;

fn chat(req: Value) -> Result<Translated, Error> {
    let Value::Object(m) = req else {
        panic!("not an object")
    };
    to_chat(&m, Vec::new(), &Ids::new("abc"))
}

#[test]
fn input_items_become_chat_messages() {
    let t = chat(json!({"model": "g", "input": [
        {"role": "developer", "content": "rules"},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "look: "},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me check."}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{\"a\":1}"},
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "two"}]},
    ]}))
    .unwrap();
    let m = t.chat["messages"].as_array().unwrap();
    assert_eq!(m[0], json!({"role": "system", "content": "rules"}));
    assert_eq!(
        m[1]["content"][1],
        json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}})
    );
    assert_eq!(m[2]["content"], "Let me check.");
    let calls = m[2]["tool_calls"].as_array().unwrap();
    assert_eq!(
        (calls.len(), calls[1]["function"]["arguments"].as_str()),
        (2, Some("{\"a\":1}"))
    );
    assert_eq!(
        m[3],
        json!({"role": "tool", "tool_call_id": "c1", "content": "one"})
    );
    assert_eq!(m[4]["content"], "two");
    assert_eq!(m.len(), 5, "the reasoning item is not sent on");
    // Every input item is listed, each with an id.
    assert_eq!(t.input_items.len(), 8);
    assert!(t.input_items.iter().all(|i| i["id"].is_string()));
    assert_eq!(t.input_items[2]["id"], "rs_1", "an item's own id is kept");
    assert_eq!(
        t.input_items[0]["content"][0],
        json!({"type": "input_text", "text": "rules"})
    );
}

#[test]
fn a_function_call_with_no_assistant_turn_before_it_opens_one() {
    let t = chat(json!({"model": "g", "input": [
        {"role": "user", "content": "go"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}]}))
    .unwrap();
    let m = t.chat["messages"].as_array().unwrap();
    assert_eq!(m[1]["role"], "assistant");
    assert!(m[1]["content"].is_null());
    assert_eq!(m[1]["tool_calls"][0]["id"], "c1");
}

#[test]
fn text_format_reasoning_and_limits_map_to_chat_fields() {
    let t = chat(json!({"model": "g", "input": "x",
        "text": {"format": {"type": "json_schema", "name": "person", "strict": true,
            "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}},
        "reasoning": {"effort": "low"}, "max_output_tokens": 64, "temperature": 0.2,
        "safety_identifier": "u-1", "stream": true}))
    .unwrap();
    let c = &t.chat;
    assert_eq!(c["response_format"]["type"], "json_schema");
    assert_eq!(c["response_format"]["json_schema"]["name"], "person");
    assert_eq!(c["response_format"]["json_schema"]["strict"], true);
    assert_eq!(c["reasoning_effort"], "low");
    assert_eq!(c["max_completion_tokens"], 64);
    assert_eq!(c["temperature"], 0.2);
    assert_eq!(c["user"], "u-1");
    assert_eq!(c["stream_options"]["include_usage"], true);
    let t =
        chat(json!({"model": "g", "input": "x", "text": {"format": {"type": "text"}}})).unwrap();
    assert!(!t.chat.contains_key("response_format"));
    for bad in [
        json!({"model": "g", "input": "x", "max_output_tokens": 0}),
        json!({"model": "g", "input": "x", "tool_choice": "sometimes"}),
        json!({"model": "g", "input": "x", "background": true}),
        json!({"model": "g", "input": [{"role": "tool", "content": "x"}]}),
        json!({"model": "g", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]}),
    ] {
        assert!(chat(bad.clone()).is_err(), "{bad}");
    }
}

fn translate(chunks: &[&str]) -> (Vec<Value>, StreamTranslator) {
    let shell = shell(&Map::new(), &Ids::new("abc"), 1);
    let mut t = StreamTranslator::new(shell, Ids::new("abc"));
    let mut out = Vec::new();
    for c in chunks {
        out.extend(t.push(c.as_bytes()));
    }
    out.extend(t.end());
    let text = String::from_utf8(out).unwrap();
    let events = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    (events, t)
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[test]
fn streamed_tool_calls_are_function_call_items_with_their_arguments() {
    // No [DONE]; the arguments come split, the second call's id starts a new item.
    let (events, t) = translate(&[
        r#"data: {"model":"m","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
        "\n\n",
        "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n",
        "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]}}]}\n\n",
        r#"data: {"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"c2","type":"function","function":{"name":"g","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
        "\n\n",
    ]);
    assert_eq!(
        kinds(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(events[5]["arguments"], "{\"a\":1}");
    let done = t.finished().unwrap();
    assert_eq!(done["output"][0]["call_id"], "c1");
    assert_eq!(done["output"][1]["name"], "g");
    assert_eq!(events[7]["output_index"], 1);
}

#[test]
fn a_stream_that_breaks_or_errors_ends_in_response_failed() {
    let (events, t) = translate(&[
        "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
    ]);
    let k = kinds(&events);
    assert_eq!(&k[k.len() - 2..], ["error", "response.failed"]);
    assert_eq!(events.last().unwrap()["response"]["status"], "failed");
    assert!(t.finished().is_none(), "a failed response is not stored");
    let (events, _) = translate(&[
        "data: {\"error\":{\"message\":\"upstream broke\",\"type\":\"server_error\"}}\n\n",
    ]);
    assert_eq!(
        kinds(&events),
        [
            "response.created",
            "response.in_progress",
            "error",
            "response.failed"
        ]
    );
    assert_eq!(events[2]["message"], "upstream broke");
    // A length stop is an incomplete response.
    let (events, t) = translate(&["data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n"]);
    assert_eq!(kinds(&events).last(), Some(&"response.incomplete"));
    assert_eq!(
        t.finished().unwrap()["incomplete_details"]["reason"],
        "max_output_tokens"
    );
}

#[test]
fn output_messages_are_the_next_turns_history() {
    let r = json!({"output": [
        {"type": "message", "content": [{"type": "output_text", "text": "Checking"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}]});
    let m = output_messages(&r);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["content"], "Checking");
    assert_eq!(m[0]["tool_calls"][0]["id"], "c1");
    assert!(output_messages(&json!({"output": []})).is_empty());
}
