use super::*;

fn chat(body: Value) -> Value {
    to_chat(body.to_string().as_bytes()).unwrap()
}

#[test]
fn a_messages_request_becomes_the_chat_request_every_adapter_takes() {
    let c = chat(json!({
        "model": "claude-sonnet-4-5", "max_tokens": 300, "system": [{"type": "text", "text": "be brief"}],
        "stop_sequences": ["END"], "temperature": 0.3, "metadata": {"user_id": "u-1"},
        "tools": [{"name": "weather", "description": "the weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": {"type": "any"},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}]},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm"}, {"type": "text", "text": "Checking."}, {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}]}]},
        ],
    }));
    assert_eq!(c["model"], "claude-sonnet-4-5");
    assert_eq!(c["max_tokens"], 300);
    assert_eq!(c["stop"], json!(["END"]));
    assert_eq!(c["user"], "u-1");
    assert_eq!(c["tool_choice"], "required");
    assert_eq!(
        c["tools"][0]["function"]["parameters"]["properties"]["city"]["type"],
        "string"
    );
    let m = c["messages"].as_array().unwrap();
    assert_eq!(m[0], json!({"role": "system", "content": "be brief"}));
    assert_eq!(
        m[1]["content"][1],
        json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}})
    );
    assert_eq!(m[2]["content"], "Checking.", "thinking is not sent on");
    assert_eq!(
        m[2]["tool_calls"][0]["function"]["arguments"],
        r#"{"city":"Oslo"}"#
    );
    assert_eq!(
        m[3],
        json!({"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"})
    );
    assert!(c.get("stream").is_none());
    let s = chat(
        json!({"model": "m", "max_tokens": 5, "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(
        s["stream_options"],
        json!({"include_usage": true}),
        "usage for message_delta"
    );
}

#[test]
fn what_anthropic_refuses_is_refused_with_the_field_named() {
    for (body, param) in [
        (json!({"model": "m", "messages": []}), "max_tokens"),
        (json!({"max_tokens": 5, "messages": []}), "model"),
        (json!({"model": "m", "max_tokens": 5}), "messages"),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}),
            "messages.0.role",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "assistant", "content": [{"type": "image", "source": {}}]}]}),
            "messages.0.content.0.type",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "tool_choice": {"type": "maybe"}, "messages": []}),
            "tool_choice.type",
        ),
    ] {
        let e = to_chat(body.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.message().starts_with(param), "{param}: {}", e.message());
    }
    assert_eq!(to_chat(b"{nope").unwrap_err().status(), 400);
}

#[test]
fn a_chat_answer_becomes_a_message_with_text_and_tool_use_blocks() {
    let answer = json!({"id": "chatcmpl-9", "model": "gpt-4o", "choices": [{"index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": "Let me check.", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}]}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7}});
    let m: Value =
        serde_json::from_slice(&from_chat(answer.to_string().as_bytes()).unwrap()).unwrap();
    assert_eq!(m["id"], "msg_chatcmpl-9");
    assert_eq!(m["type"], "message");
    assert_eq!(m["stop_reason"], "tool_use");
    assert_eq!(
        m["content"][0],
        json!({"type": "text", "text": "Let me check."})
    );
    assert_eq!(
        m["content"][1],
        json!({"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Oslo"}})
    );
    assert_eq!(m["usage"], json!({"input_tokens": 12, "output_tokens": 7}));
}

#[test]
fn errors_take_anthropics_shape_and_types() {
    let body =
        br#"{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":null}}"#;
    let e: Value = serde_json::from_slice(&error_body(429, body)).unwrap();
    assert_eq!(
        e,
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    );
    let e: Value = serde_json::from_slice(&error_body(401, b"")).unwrap();
    assert_eq!(e["error"]["type"], "authentication_error");
}

fn events(out: &[u8]) -> Vec<(String, Value)> {
    let text = String::from_utf8(out.to_vec()).unwrap();
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, data) = e.split_once('\n').unwrap();
            let name = name.strip_prefix("event: ").unwrap().to_string();
            (
                name,
                serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn chat_chunks_become_anthropics_events_as_they_arrive_split_anywhere() {
    let chunks = [
        r#"{"id":"c1","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
        r#"{"id":"c1","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
        r#"{"id":"c1","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"lo"}}]}"#,
        r#"{"id":"c1","model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
        r#"{"id":"c1","model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]}}]}"#,
        r#"{"id":"c1","model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"id":"c1","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9}}"#,
    ];
    let mut sse: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    sse.push_str("data: [DONE]\n\n");
    for split in [1, 7, 50, sse.len()] {
        let mut t = StreamTranslator::new();
        let mut out = Vec::new();
        for part in sse.as_bytes().chunks(split) {
            out.extend(t.push(part));
        }
        out.extend(t.end());
        let evs = events(&out);
        let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ],
            "split {split}"
        );
        assert_eq!(evs[0].1["message"]["id"], "msg_c1");
        assert_eq!(
            evs[2].1["delta"],
            json!({"type": "text_delta", "text": "Hel"})
        );
        assert_eq!(
            evs[5].1["content_block"],
            json!({"type": "tool_use", "id": "call_1", "name": "f", "input": {}})
        );
        assert_eq!(evs[5].1["index"], 1);
        assert_eq!(
            evs[6].1["delta"],
            json!({"type": "input_json_delta", "partial_json": "{\"a\":1}"})
        );
        assert_eq!(evs[8].1["delta"]["stop_reason"], "tool_use");
        assert_eq!(evs[8].1["usage"]["output_tokens"], 9);
    }
}

#[test]
fn an_in_band_error_or_an_early_end_becomes_an_error_event_never_a_message_stop() {
    let mut t = StreamTranslator::new();
    let mut out = t.push(b"data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"error\":{\"message\":\"cut\",\"type\":\"api_error\"}}\n\n");
    out.extend(t.end());
    let evs = events(&out);
    assert_eq!(evs.last().unwrap().0, "error");
    assert_eq!(evs.last().unwrap().1["error"]["message"], "cut");
    assert!(!evs.iter().any(|(n, _)| n == "message_stop"));
    let mut t = StreamTranslator::new();
    let mut out = t.push(b"data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n");
    out.extend(t.end());
    assert_eq!(
        events(&out).last().unwrap().0,
        "error",
        "no finish_reason, no [DONE]"
    );
}

#[test]
fn claude_code_model_names_have_shorter_spellings() {
    assert_eq!(
        shorter_names("claude-sonnet-4-5-20250929[1m]"),
        ["claude-sonnet-4-5-20250929", "claude-sonnet-4-5"]
    );
    assert_eq!(
        shorter_names("claude-3-5-haiku-20241022"),
        ["claude-3-5-haiku"]
    );
    assert_eq!(
        shorter_names("claude-3-7-sonnet-latest"),
        ["claude-3-7-sonnet"]
    );
    assert!(shorter_names("claude-opus-4-1").is_empty());
    assert!(
        shorter_names("gpt-4o-2024-08-06").is_empty(),
        "not an 8-digit date"
    );
}

#[test]
fn streamed_thinking_becomes_thinking_blocks_with_their_signature() {
    let mut t = StreamTranslator::new();
    let mut out = Vec::new();
    for chunk in [
        r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"reasoning_content":"Hmm","thinking_blocks":[{"type":"thinking","thinking":"Hmm"}]}}]}"#,
        r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"thinking_blocks":[{"type":"thinking","thinking":"","signature":"sig"}]}}]}"#,
        r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"Yes"},"finish_reason":"stop"}]}"#,
    ] {
        out.extend(t.push(format!("data: {chunk}\n\n").as_bytes()));
    }
    out.extend(t.push(b"data: [DONE]\n\n"));
    let text = String::from_utf8(out).unwrap();
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(events[1]["content_block"]["type"], "thinking");
    assert_eq!(
        events[2]["delta"],
        json!({"type": "thinking_delta", "thinking": "Hmm"})
    );
    assert_eq!(
        events[3]["delta"],
        json!({"type": "signature_delta", "signature": "sig"})
    );
    assert_eq!(events[4]["type"], "content_block_stop");
    assert_eq!(
        (
            events[5]["index"].as_u64(),
            events[5]["content_block"]["type"].as_str()
        ),
        (Some(1), Some("text"))
    );
}
