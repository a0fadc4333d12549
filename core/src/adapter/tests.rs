use super::*;
use crate::config::Config;
use crate::error::ErrorClass;
use crate::relay::Piece;
use crate::request::Endpoint;
use crate::sse::SseDecoder;
use serde_json::json;

fn deployment(params: &str) -> Deployment {
    let text = format!(r#"{{"model_list":[{{"model_name":"g","litellm_params":{{{params}}}}}]}}"#);
    Config::from_text(&text, &|_: &str| None)
        .unwrap()
        .deployments
        .remove(0)
}

fn chat(v: Value) -> ModelRequest {
    ModelRequest::parse(v.to_string().as_bytes()).unwrap()
}

fn body_of(r: &UpstreamRequest) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

fn header<'a>(r: &'a UpstreamRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn azure_url_version_and_key() {
    let d = deployment(
        r#""model":"azure/my-gpt4o","api_base":"https://res.openai.azure.com/","api_key":"az-key""#,
    );
    let req = chat(json!({"model":"g","messages":[{"role":"user","content":"hi"}]}));
    let r = build(&d, &req, 0.0).unwrap();
    assert_eq!(r.url, "https://res.openai.azure.com/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21");
    assert_eq!(header(&r, "api-key"), Some("az-key"));
    assert_eq!(header(&r, "authorization"), None);
    let emb =
        ModelRequest::parse_for(Endpoint::Embeddings, br#"{"model":"g","input":"x"}"#).unwrap();
    assert!(build(&d, &emb, 0.0)
        .unwrap()
        .url
        .contains("/my-gpt4o/embeddings?api-version="));
    let ad = deployment(
        r#""model":"azure/d","api_base":"https://r.example","azure_ad_token":"tok","api_version":"2025-01-01-preview""#,
    );
    let r = build(&ad, &req, 0.0).unwrap();
    assert_eq!(header(&r, "authorization"), Some("Bearer tok"));
    assert!(r.url.ends_with("api-version=2025-01-01-preview"));
}

#[test]
fn azure_content_filter_is_a_content_policy_error() {
    let body = br#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400}}"#;
    let azure = deployment(r#""model":"azure/gpt-4o","api_base":"https://x.openai.azure.com""#);
    let e = upstream_error(&azure, 400, body.to_vec(), None);
    assert_eq!(e.class(), Some(ErrorClass::ContentPolicyViolation));
}

#[test]
fn openai_endpoints_go_to_their_paths() {
    let d = deployment(
        r#""model":"openai/text-embedding-3-small","api_base":"http://o.test/v1","api_key":"k""#,
    );
    for (e, body, path) in [
        (
            Endpoint::Embeddings,
            r#"{"model":"g","input":"x"}"#,
            "/v1/embeddings",
        ),
        (
            Endpoint::Completions,
            r#"{"model":"g","prompt":"x"}"#,
            "/v1/completions",
        ),
        (
            Endpoint::Moderations,
            r#"{"model":"g","input":"x"}"#,
            "/v1/moderations",
        ),
        (
            Endpoint::ImageGenerations,
            r#"{"model":"g","prompt":"x"}"#,
            "/v1/images/generations",
        ),
    ] {
        let r = build(
            &d,
            &ModelRequest::parse_for(e, body.as_bytes()).unwrap(),
            0.0,
        )
        .unwrap();
        assert_eq!(r.url, format!("http://o.test{path}"));
        assert_eq!(body_of(&r)["model"], "text-embedding-3-small");
    }
}

fn anthropic() -> Deployment {
    deployment(r#""model":"anthropic/claude-3-5-sonnet-20240620","api_key":"ant-key""#)
}

#[test]
fn anthropic_request_translation() {
    let req = chat(json!({
        "model": "g",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
            ]},
            {"role": "user", "content": "And the weather?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
        ],
        "tools": [{"type": "function", "function": {"name": "weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "stop": "END",
        "temperature": 1.5,
        "top_p": 0.9,
        "stream": true
    }));
    let r = build(&anthropic(), &req, 0.0).unwrap();
    assert_eq!(r.url, "https://api.anthropic.com/v1/messages");
    assert_eq!(header(&r, "x-api-key"), Some("ant-key"));
    assert_eq!(header(&r, "anthropic-version"), Some("2023-06-01"));
    let b = body_of(&r);
    assert_eq!(b["model"], "claude-3-5-sonnet-20240620");
    assert_eq!(b["system"], json!([{"type": "text", "text": "Be brief."}]));
    assert_eq!(
        b["max_tokens"], 4096,
        "Anthropic requires it: the documented default"
    );
    assert_eq!(b["temperature"], 1.0, "clamped to Anthropic's range");
    assert_eq!(b["stop_sequences"], json!(["END"]));
    assert_eq!(b["stream"], true);
    let msgs = b["messages"].as_array().unwrap();
    assert_eq!(
        msgs.len(),
        3,
        "consecutive user turns merged: user, assistant, user"
    );
    assert_eq!(msgs[0]["role"], "user");
    let parts = msgs[0]["content"].as_array().unwrap();
    assert_eq!(parts.len(), 4);
    assert_eq!(
        parts[1]["source"],
        json!({"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="})
    );
    assert_eq!(
        parts[2]["source"],
        json!({"type": "url", "url": "https://example.com/cat.jpg"})
    );
    assert_eq!(
        msgs[1]["content"][0],
        json!({"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}})
    );
    assert_eq!(
        msgs[2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"})
    );
    assert_eq!(
        b["tools"][0]["input_schema"]["properties"]["city"]["type"],
        "string"
    );
    assert_eq!(b["tool_choice"], json!({"type": "tool", "name": "weather"}));
}

#[test]
fn anthropic_tool_choice_and_max_tokens() {
    let d = anthropic();
    for (choice, expected) in [
        (json!("auto"), json!({"type":"auto"})),
        (json!("required"), json!({"type":"any"})),
        (json!("none"), json!({"type":"none"})),
    ] {
        let req = chat(
            json!({"model":"g","messages":[{"role":"user","content":"x"}],"tool_choice":choice,"max_completion_tokens":77}),
        );
        let b = body_of(&build(&d, &req, 0.0).unwrap());
        assert_eq!(b["tool_choice"], expected);
        assert_eq!(b["max_tokens"], 77);
    }
    let bad = chat(
        json!({"model":"g","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}),
    );
    let e = build(&d, &bad, 0.0).unwrap_err();
    assert_eq!(e.param(), Some("messages[0].content[0].type"));
}

#[test]
fn anthropic_response_translation() {
    let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-sonnet-20240620",
        "content":[{"type":"text","text":"Let me check. "},{"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Paris"}}],
        "stop_reason":"tool_use","usage":{"input_tokens":25,"output_tokens":12}}"#;
    let req = chat(json!({"model":"g","messages":[{"role":"user","content":"x"}]}));
    let out: Value =
        serde_json::from_slice(&response(&anthropic(), &req, body.to_vec()).unwrap()).unwrap();
    assert_eq!(out["object"], "chat.completion");
    assert_eq!(out["choices"][0]["message"]["content"], "Let me check. ");
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(
        out["usage"],
        json!({"prompt_tokens":25,"completion_tokens":12,"total_tokens":37})
    );
    for (stop, finish) in [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("stop_sequence", "stop"),
    ] {
        let b = format!(
            r#"{{"id":"m","content":[{{"type":"text","text":"x"}}],"stop_reason":"{stop}","usage":{{"input_tokens":1,"output_tokens":1}}}}"#
        );
        let out: Value =
            serde_json::from_slice(&response(&anthropic(), &req, b.into_bytes()).unwrap()).unwrap();
        assert_eq!(out["choices"][0]["finish_reason"], finish);
    }
    assert!(response(&anthropic(), &req, b"not json".to_vec()).is_err());
}

#[test]
fn anthropic_errors_become_openai_errors_and_classes() {
    let d = anthropic();
    let too_long = br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#;
    let body = error_body(&d, 400, too_long.to_vec());
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let e = upstream_error(&d, 400, too_long.to_vec(), None);
    assert_eq!(e.body(), body, "the same OpenAI-shaped body");
    assert_eq!(e.class(), Some(ErrorClass::ContextWindowExceeded));
    let overloaded =
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let e = upstream_error(&d, 529, overloaded.to_vec(), None);
    assert_eq!(
        e.class(),
        Some(ErrorClass::InternalServer),
        "529 is retryable"
    );
    assert!(e.client_should_retry());
}

fn translate(stream: &[u8]) -> Vec<Piece> {
    let mut dec = SseDecoder::new();
    let mut events = Vec::new();
    dec.push(stream, &mut events);
    let mut t = AnthropicStream::new("g");
    let mut out = Vec::new();
    for ev in events {
        t.event(ev, &mut out);
    }
    out
}

fn data(p: &Piece) -> Value {
    match p {
        Piece::Data(d) | Piece::Error(d) => serde_json::from_slice(d).unwrap(),
        Piece::Done => Value::Null,
    }
}

const STREAM: &[u8] = b"event: message_start
data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-3-5-sonnet-20240620\",\"content\":[],\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}

event: content_block_start
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}

event: ping
data: {\"type\": \"ping\"}

event: content_block_delta
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}

event: content_block_stop
data: {\"type\":\"content_block_stop\",\"index\":0}

event: content_block_start
data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"weather\",\"input\":{}}}

event: content_block_delta
data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \\\"Pa\"}}

event: content_block_delta
data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"ris\\\"}\"}}

event: message_delta
data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}

event: message_stop
data: {\"type\":\"message_stop\"}

";

#[test]
fn anthropic_stream_translation() {
    let out = translate(STREAM);
    let v: Vec<Value> = out.iter().map(data).collect();
    assert_eq!(v[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(v[0]["id"], "msg_1");
    assert_eq!(v[1]["choices"][0]["delta"]["content"], "Hello");
    assert_eq!(
        v[2]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "weather"
    );
    assert_eq!(v[2]["choices"][0]["delta"]["tool_calls"][0]["index"], 0);
    let args: String = v[3..5]
        .iter()
        .map(|c| {
            c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(args, "{\"city\": \"Paris\"}");
    assert_eq!(v[5]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        v[6]["usage"],
        json!({"prompt_tokens":25,"completion_tokens":15,"total_tokens":40})
    );
    assert_eq!(v[6]["choices"], json!([]));
    assert_eq!(out.last(), Some(&Piece::Done));
    assert_eq!(out.len(), 8);
}

#[test]
fn anthropic_stream_error_event() {
    let out = translate(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n");
    assert_eq!(out.len(), 1);
    let Piece::Error(body) = &out[0] else {
        panic!("{out:?}")
    };
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["error"]["message"], "Overloaded");
}

fn gemini() -> Deployment {
    deployment(r#""model":"gemini/gemini-1.5-flash","api_key":"g-key""#)
}

#[test]
fn gemini_request_translation() {
    let req = chat(json!({
        "model": "g",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type":"text","text":"Look"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AA="}},{"type":"image_url","image_url":{"url":"https://x.example/a.png"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id":"call_9","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Rome\"}"}}]},
            {"role": "tool", "tool_call_id": "call_9", "content": "rainy"}
        ],
        "tools": [{"type":"function","function":{"name":"weather","description":"W","parameters":{"type":"object"}}}],
        "tool_choice": "required",
        "temperature": 0.3, "max_tokens": 64, "stop": ["X"], "top_p": 0.5
    }));
    let r = build(&gemini(), &req, 0.0).unwrap();
    assert_eq!(
        r.url,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-1.5-flash:generateContent"
    );
    assert_eq!(header(&r, "x-goog-api-key"), Some("g-key"));
    let b = body_of(&r);
    assert_eq!(
        b["systemInstruction"],
        json!({"parts":[{"text":"Be brief."}]})
    );
    let c = b["contents"].as_array().unwrap();
    assert_eq!(c.len(), 3);
    assert_eq!(
        c[0]["parts"][1],
        json!({"inline_data":{"mime_type":"image/jpeg","data":"/9j/4AA="}})
    );
    assert_eq!(c[0]["parts"][2]["file_data"]["mime_type"], "image/png");
    assert_eq!(c[1]["role"], "model");
    assert_eq!(
        c[1]["parts"][0],
        json!({"functionCall":{"name":"weather","args":{"city":"Rome"}}})
    );
    assert_eq!(
        c[2]["parts"][0]["functionResponse"]["name"], "weather",
        "resolved from the call id"
    );
    assert_eq!(
        b["generationConfig"],
        json!({"temperature":0.3,"topP":0.5,"maxOutputTokens":64,"stopSequences":["X"]})
    );
    assert_eq!(b["tools"][0]["functionDeclarations"][0]["name"], "weather");
    assert_eq!(b["toolConfig"]["functionCallingConfig"]["mode"], "ANY");
    let mut s = chat(json!({"model":"g","messages":[{"role":"user","content":"x"}],"stream":true}));
    s.stream = true;
    assert!(build(&gemini(), &s, 0.0)
        .unwrap()
        .url
        .ends_with(":streamGenerateContent?alt=sse"));
}

#[test]
fn vertex_writes_gemini_to_the_project_and_region_or_to_the_written_url() {
    let sa = include_str!("../../../tests/fixtures/google-service-account.json");
    let sa = serde_json::to_string(sa).unwrap();
    let vertex = |extra: &str| {
        deployment(&format!(
            r#""model":"vertex_ai/gemini-2.0-flash","vertex_credentials":{sa},"vertex_location":"europe-west4","api_key":"ignored"{extra}"#
        ))
    };
    let req = chat(
        json!({"model": "g", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}),
    );
    let r = build(&vertex(""), &req, 0.0).unwrap();
    assert_eq!(
        r.url,
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/switchyard-test/locations/europe-west4/publishers/google/models/gemini-2.0-flash:generateContent"
    );
    // The same body as Gemini's; no key header (the router adds the bearer token).
    assert_eq!(
        body_of(&r),
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 5}})
    );
    assert_eq!(header(&r, "x-goog-api-key"), None);
    assert_eq!(header(&r, "authorization"), None);
    let mut s = req.clone();
    s.stream = true;
    let proxied = vertex(
        r#","api_base":"https://gw.example/v1/projects/p/locations/l/publishers/google/models/gemini-2.0-flash/""#,
    );
    assert_eq!(
        build(&proxied, &s, 0.0).unwrap().url,
        "https://gw.example/v1/projects/p/locations/l/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    );
    // OpenAI parameters Gemini does not take are refused (or dropped) as for Gemini.
    let logprobs = chat(
        json!({"model": "g", "messages": [{"role": "user", "content": "hi"}], "logprobs": true}),
    );
    let e = build(&vertex(""), &logprobs, 0.0).unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(build(&vertex(r#","drop_params":true"#), &logprobs, 0.0).is_ok());
}

#[test]
fn gemini_response_and_errors() {
    let req = chat(json!({"model":"g","messages":[{"role":"user","content":"x"}]}));
    let body = br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi "},{"functionCall":{"name":"f","args":{"a":1}}}]},"finishReason":"STOP","index":0}],
        "usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":3,"totalTokenCount":10},"modelVersion":"gemini-1.5-flash-002"}"#;
    let out: Value =
        serde_json::from_slice(&response(&gemini(), &req, body.to_vec()).unwrap()).unwrap();
    assert_eq!(out["choices"][0]["message"]["content"], "Hi ");
    assert_eq!(
        out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"a\":1}"
    );
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(out["usage"]["total_tokens"], 10);
    assert_eq!(out["model"], "gemini-1.5-flash-002");
    let safety = br#"{"candidates":[{"content":{"parts":[]},"finishReason":"SAFETY"}]}"#;
    let out: Value =
        serde_json::from_slice(&response(&gemini(), &req, safety.to_vec()).unwrap()).unwrap();
    assert_eq!(out["choices"][0]["finish_reason"], "content_filter");
    let quota = br#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}"#;
    let v: Value = serde_json::from_slice(&error_body(&gemini(), 429, quota.to_vec())).unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    let long = br#"{"error":{"code":400,"message":"The input token count (2000000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#;
    let e = upstream_error(&gemini(), 400, long.to_vec(), None);
    assert_eq!(e.class(), Some(ErrorClass::ContextWindowExceeded));
}

fn translate_with(
    t: &mut dyn crate::relay::StreamTranslator,
    stream: &[u8],
    end: bool,
) -> Vec<Piece> {
    let mut dec = SseDecoder::new();
    let mut events = Vec::new();
    dec.push(stream, &mut events);
    let mut out = Vec::new();
    for ev in events {
        t.event(ev, &mut out);
    }
    if end {
        t.end(&mut out);
    }
    out
}

#[test]
fn gemini_stream_translation() {
    let stream = b"data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hel\"}]}}]}\r\n\r\n\
data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"lo\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":2}}\r\n\r\n";
    let out = translate_with(&mut GeminiStream::new("g"), stream, true);
    let v: Vec<Value> = out.iter().map(data).collect();
    assert_eq!(
        v[0]["choices"][0]["delta"],
        json!({"role":"assistant","content":"Hel"})
    );
    assert_eq!(v[1]["choices"][0]["delta"], json!({"content":"lo"}));
    assert_eq!(v[2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v[3]["usage"],
        json!({"prompt_tokens":5,"completion_tokens":2,"total_tokens":7})
    );
    assert_eq!(out.last(), Some(&Piece::Done));
    let cut = translate_with(&mut GeminiStream::new("g"), &stream[..90], true);
    assert!(
        !cut.contains(&Piece::Done),
        "no finish reason seen: not complete"
    );
}

fn bedrock() -> Deployment {
    deployment(
        r#""model":"bedrock/anthropic.claude-3-haiku-20240307-v1:0","aws_access_key_id":"AKIDEXAMPLE","aws_secret_access_key":"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY","aws_region_name":"eu-west-1""#,
    )
}

#[test]
fn bedrock_request_is_converse_and_signed() {
    let req = chat(json!({
        "model": "g",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"data:image/jpg;base64,AAAA"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id":"t1","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "ok"}
        ],
        "tools": [{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
        "tool_choice": "required", "max_tokens": 100, "temperature": 0.2, "stop": "Z"
    }));
    let now = 1_440_938_160_000.0; // 2015-08-30T12:36:00Z
    let r = build(&bedrock(), &req, now).unwrap();
    assert_eq!(r.url, "https://bedrock-runtime.eu-west-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse");
    assert_eq!(header(&r, "x-amz-date"), Some("20150830T123600Z"));
    let auth = header(&r, "authorization").unwrap();
    assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="), "{auth}");
    let b = body_of(&r);
    assert_eq!(b["system"], json!([{"text":"Be brief."}]));
    assert_eq!(
        b["messages"][0]["content"][1],
        json!({"image":{"format":"jpeg","source":{"bytes":"AAAA"}}})
    );
    assert_eq!(
        b["messages"][1]["content"][0]["toolUse"]["input"],
        json!({"x":1})
    );
    assert_eq!(
        b["messages"][2]["content"][0]["toolResult"]["toolUseId"],
        "t1"
    );
    assert_eq!(
        b["inferenceConfig"],
        json!({"maxTokens":100,"temperature":0.2,"stopSequences":["Z"]})
    );
    assert_eq!(b["toolConfig"]["toolChoice"], json!({"any":{}}));
    let url_image = chat(
        json!({"model":"g","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}),
    );
    assert_eq!(
        build(&bedrock(), &url_image, now).unwrap_err().status(),
        400
    );
    let missing = Config::from_text(
        r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"bedrock/x"}}]}"#,
        &|_: &str| None,
    );
    assert!(missing.unwrap_err().message().contains("aws_access_key_id"));
}

#[test]
fn bedrock_response_errors_and_stream() {
    let req = chat(json!({"model":"g","messages":[{"role":"user","content":"x"}]}));
    let body = br#"{"output":{"message":{"role":"assistant","content":[{"text":"Hi"},{"toolUse":{"toolUseId":"t","name":"f","input":{"a":2}}}]}},"stopReason":"tool_use","usage":{"inputTokens":8,"outputTokens":5,"totalTokens":13}}"#;
    let out: Value =
        serde_json::from_slice(&response(&bedrock(), &req, body.to_vec()).unwrap()).unwrap();
    assert_eq!(out["choices"][0]["message"]["content"], "Hi");
    assert_eq!(
        out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"a\":2}"
    );
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(out["usage"]["total_tokens"], 13);
    let too_long = br#"{"message":"Input is too long for requested model."}"#;
    let e = upstream_error(&bedrock(), 400, too_long.to_vec(), None);
    assert_eq!(e.class(), Some(ErrorClass::ContextWindowExceeded));

    use crate::eventstream::encode;
    let frame = |ev: &str, payload: &str| {
        encode(
            &[(":event-type", ev), (":message-type", "event")],
            payload.as_bytes(),
        )
    };
    let mut stream = frame("messageStart", r#"{"role":"assistant"}"#);
    stream.extend(frame(
        "contentBlockDelta",
        r#"{"contentBlockIndex":0,"delta":{"text":"Hel"}}"#,
    ));
    stream.extend(frame(
        "contentBlockDelta",
        r#"{"contentBlockIndex":0,"delta":{"text":"lo"}}"#,
    ));
    stream.extend(frame(
        "contentBlockStart",
        r#"{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"t","name":"f"}}}"#,
    ));
    stream.extend(frame(
        "contentBlockDelta",
        r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"a\":"}}}"#,
    ));
    stream.extend(frame("messageStop", r#"{"stopReason":"tool_use"}"#));
    stream.extend(frame("metadata", r#"{"usage":{"inputTokens":8,"outputTokens":5,"totalTokens":13},"metrics":{"latencyMs":100}}"#));
    let mut dec = crate::eventstream::EventStreamDecoder::new();
    let mut events = Vec::new();
    dec.push(&stream, &mut events);
    let mut t = BedrockStream::new("g");
    let mut out = Vec::new();
    for ev in events {
        t.event(ev, &mut out);
    }
    let v: Vec<Value> = out.iter().map(data).collect();
    assert_eq!(v[1]["choices"][0]["delta"]["content"], "Hel");
    assert_eq!(
        v[3]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "f"
    );
    assert_eq!(
        v[4]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
        "{\"a\":"
    );
    assert_eq!(v[5]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v[6]["usage"]["prompt_tokens"], 8);
    assert_eq!(out.last(), Some(&Piece::Done));
}

/// A tool result whose content is a list of text parts (as LangChain sends it) reaches every
/// translating provider as its text, not as nothing.
#[test]
fn tool_results_given_as_parts_arrive_as_text() {
    let req = chat(json!({
        "model": "g",
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id":"t1","type":"function","function":{"name":"weather","arguments":"{}"}}]},
            {"role": "tool", "tool_call_id": "t1", "content": [{"type":"text","text":"sun"},{"type":"text","text":"ny"}]}
        ]
    }));
    let b = body_of(&build(&bedrock(), &req, 0.0).unwrap());
    assert_eq!(
        b["messages"][2]["content"][0]["toolResult"]["content"],
        json!([{"text": "sunny"}])
    );
    let b = body_of(&build(&anthropic(), &req, 0.0).unwrap());
    assert_eq!(b["messages"][2]["content"][0]["content"], "sunny");
    let b = body_of(&build(&gemini(), &req, 0.0).unwrap());
    let response = &b["contents"][2]["parts"][0]["functionResponse"];
    assert_eq!(response["name"], "weather");
    assert_eq!(response["response"]["content"], "sunny");
}

#[test]
fn provider_quirks_ollama_path_azure_ai_headers_default_keys() {
    let d = deployment(r#""model":"ollama/llama3""#);
    let req = chat(json!({"model":"g","messages":[{"role":"user","content":"hi"}]}));
    assert_eq!(
        build(&d, &req, 0.0).unwrap().url,
        "http://localhost:11434/v1/chat/completions",
        "Ollama's OpenAI API is under /v1 of the server LiteLLM names"
    );
    let d = deployment(
        r#""model":"azure_ai/mistral-large","api_base":"https://x.services.ai.azure.com/models","api_key":"k1""#,
    );
    let r = build(&d, &req, 0.0).unwrap();
    assert_eq!(
        r.url,
        "https://x.services.ai.azure.com/models/chat/completions"
    );
    assert_eq!(header(&r, "authorization"), Some("Bearer k1"));
    assert_eq!(header(&r, "api-key"), Some("k1"));
    // No api_key: the provider's variable, only on its own endpoint.
    let env = |n: &str| (n == "GROQ_API_KEY").then(|| "gsk-env".to_string());
    let text = r#"{"model_list":[
        {"model_name":"a","litellm_params":{"model":"groq/llama3"}},
        {"model_name":"b","litellm_params":{"model":"groq/llama3","api_base":"https://elsewhere.example/v1"}}]}"#;
    let c = Config::from_text(text, &env).unwrap();
    assert_eq!(c.deployments[0].api_key.as_deref(), Some("gsk-env"));
    assert_eq!(
        c.deployments[1].api_key, None,
        "never sent to another server"
    );
}

fn rerank(body: Value) -> ModelRequest {
    ModelRequest::parse_for(Endpoint::Rerank, body.to_string().as_bytes()).unwrap()
}

#[test]
fn rerank_in_cohere_shape_and_voyage_translated() {
    let req = rerank(
        json!({"model":"g","query":"q","documents":["a",{"text":"b"}],"top_n":1,"return_documents":true}),
    );
    let cohere = deployment(r#""model":"cohere/rerank-v3.5","api_key":"co""#);
    let r = build(&cohere, &req, 0.0).unwrap();
    assert_eq!(
        r.url, "https://api.cohere.com/v2/rerank",
        "Cohere's own rerank API"
    );
    assert_eq!(body_of(&r)["top_n"], 1);
    assert_eq!(body_of(&r)["model"], "rerank-v3.5");
    let custom = deployment(r#""model":"cohere/rerank-v3.5","api_base":"http://127.0.0.1:9/v1""#);
    assert_eq!(
        build(&custom, &req, 0.0).unwrap().url,
        "http://127.0.0.1:9/v1/rerank"
    );

    let voyage = deployment(r#""model":"voyage/rerank-2","api_key":"vo""#);
    let r = build(&voyage, &req, 0.0).unwrap();
    assert_eq!(r.url, "https://api.voyageai.com/v1/rerank");
    let b = body_of(&r);
    assert_eq!(b["top_k"], 1);
    assert!(b.get("top_n").is_none() && b.get("return_documents").is_none());
    assert_eq!(b["documents"], json!(["a", "b"]));
    let answer = br#"{"object":"list","data":[{"relevance_score":0.9,"index":1,"document":"b"}],"model":"rerank-2","usage":{"total_tokens":12}}"#;
    let out: Value =
        serde_json::from_slice(&response(&voyage, &req, answer.to_vec()).unwrap()).unwrap();
    assert_eq!(
        out["results"],
        json!([{"index":1,"relevance_score":0.9,"document":{"text":"b"}}])
    );
    assert_eq!(out["meta"]["billed_units"]["total_tokens"], 12);
    // Cohere's answer passes through as it is.
    let same = response(&cohere, &req, br#"{"results":[]}"#.to_vec()).unwrap();
    assert_eq!(same, br#"{"results":[]}"#.to_vec());
}

#[test]
fn a_deployment_serves_only_its_providers_endpoints() {
    let voyage = deployment(r#""model":"voyage/voyage-3""#);
    assert!(serves(&voyage, Endpoint::Embeddings));
    assert!(serves(&voyage, Endpoint::Rerank));
    assert!(!serves(&voyage, Endpoint::Chat));
    let groq = deployment(r#""model":"groq/whisper-large-v3""#);
    assert!(serves(&groq, Endpoint::Transcriptions));
    assert!(!serves(&groq, Endpoint::Embeddings));
    let anthropic = deployment(r#""model":"anthropic/claude-3-haiku""#);
    assert!(!serves(&anthropic, Endpoint::Rerank));
}

/// LiteLLM's drop_params: an OpenAI parameter a translating provider does not take is a 400
/// naming it, unless dropping is allowed; `additional_drop_params` never reach a deployment.
#[test]
fn unsupported_params_are_refused_unless_dropped() {
    let req = chat(
        json!({"model":"g","messages":[{"role":"user","content":"hi"}],"logit_bias":{"1":2},"seed":3,"x_custom":1}),
    );
    let e = build(&anthropic(), &req, 0.0).unwrap_err();
    assert_eq!(e.status(), 400);
    assert_eq!(e.param(), Some("logit_bias"));
    assert!(
        e.message().contains("`logit_bias`, `seed`"),
        "{}",
        e.message()
    );
    assert!(e.message().contains("drop_params"));
    assert_eq!(e.code(), Some("unsupported_params"));
    let gemini_e = build(&gemini(), &req, 0.0).unwrap_err();
    assert_eq!(
        gemini_e.param(),
        Some("logit_bias"),
        "Gemini takes seed, not logit_bias"
    );
    assert!(
        build(&deployment(r#""model":"openai/gpt-4o""#), &req, 0.0).is_ok(),
        "OpenAI takes them all"
    );

    let dropped = deployment(r#""model":"anthropic/claude-3-haiku","drop_params":true"#);
    let b = body_of(&build(&dropped, &req, 0.0).unwrap());
    assert!(b.get("logit_bias").is_none() && b.get("seed").is_none());
    let mut asked = req.clone();
    asked
        .router_fields
        .insert("drop_params".into(), json!(true));
    assert!(
        build(&anthropic(), &asked, 0.0).is_ok(),
        "the request may ask for it"
    );
    let global = Config::from_text(
        r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"anthropic/claude-3-haiku"}}],"litellm_settings":{"drop_params":true}}"#,
        &|_: &str| None,
    )
    .unwrap();
    assert!(
        build(&global.deployments[0], &req, 0.0).is_ok(),
        "litellm_settings.drop_params"
    );

    let trimmed =
        deployment(r#""model":"openai/o1","additional_drop_params":["seed","logit_bias"]"#);
    let b = body_of(&build(&trimmed, &req, 0.0).unwrap());
    assert!(b.get("seed").is_none() && b.get("logit_bias").is_none());
    assert_eq!(b["x_custom"], 1);
}

/// `text-completion-openai/`: a chat request becomes a completion and its answer a chat
/// answer, streams too; a completion request passes through.
#[test]
fn text_completion_models_answer_chat_requests() {
    let d = deployment(
        r#""model":"text-completion-openai/gpt-3.5-turbo-instruct","api_key":"k","organization":"org-7""#,
    );
    let req = chat(
        json!({"model":"g","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hi"}],"max_completion_tokens":5,"temperature":0}),
    );
    let r = build(&d, &req, 0.0).unwrap();
    assert_eq!(r.url, "https://api.openai.com/v1/completions");
    // The key and the organization, as for OpenAI's chat endpoint.
    assert_eq!(header(&r, "authorization"), Some("Bearer k"));
    assert_eq!(header(&r, "openai-organization"), Some("org-7"));
    let b = body_of(&r);
    assert_eq!(b["prompt"], "Be brief.\n\nSay hi");
    assert_eq!(
        (b["max_tokens"].clone(), b["temperature"].clone()),
        (json!(5), json!(0))
    );
    assert!(b.get("messages").is_none());
    let answer = br#"{"id":"cmpl-1","object":"text_completion","created":7,"model":"gpt-3.5-turbo-instruct","choices":[{"text":" hi","index":0,"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#;
    let out: Value = serde_json::from_slice(&response(&d, &req, answer.to_vec()).unwrap()).unwrap();
    assert_eq!(out["object"], "chat.completion");
    assert_eq!(
        out["choices"][0]["message"],
        json!({"role":"assistant","content":" hi"})
    );
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    assert_eq!(out["usage"]["total_tokens"], 6);

    let mut streamed = req.clone();
    streamed.stream = true;
    let mut t = stream(&d, &streamed);
    let mut pieces = Vec::new();
    for data in [
        r#"{"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"text":"hel","index":0,"finish_reason":null}]}"#,
        r#"{"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"text":"lo","index":0,"finish_reason":"stop"}]}"#,
        "[DONE]",
    ] {
        t.event(
            crate::sse::SseEvent {
                event: None,
                data: data.as_bytes().to_vec(),
            },
            &mut pieces,
        );
    }
    let chunks: Vec<Value> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Data(d) => serde_json::from_slice(d).ok(),
            _ => None,
        })
        .collect();
    assert_eq!(chunks[0]["object"], "chat.completion.chunk");
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role":"assistant","content":"hel"})
    );
    assert_eq!(chunks[1]["choices"][0]["delta"], json!({"content":"lo"}));
    assert_eq!(chunks[1]["choices"][0]["finish_reason"], "stop");
    assert!(matches!(pieces.last(), Some(Piece::Done)));

    let text =
        ModelRequest::parse_for(Endpoint::Completions, br#"{"model":"g","prompt":"x"}"#).unwrap();
    let r = build(&d, &text, 0.0).unwrap();
    assert_eq!(body_of(&r)["prompt"], "x");
    assert!(
        serves(&d, Endpoint::Chat)
            && serves(&d, Endpoint::Completions)
            && !serves(&d, Endpoint::Embeddings)
    );
}

#[test]
fn anthropic_structured_output_is_a_forced_json_tool_and_its_input_the_answer() {
    let d = anthropic();
    let schema = json!({"type":"object","properties":{"name":{"type":"string"}}});
    let req = chat(
        json!({"model":"g","messages":[{"role":"user","content":"x"}],
        "response_format":{"type":"json_schema","json_schema":{"name":"person","schema":schema}}}),
    );
    let b = body_of(&build(&d, &req, 0.0).unwrap());
    assert_eq!(b["tools"][0]["name"], "json_tool_call");
    assert_eq!(b["tools"][0]["input_schema"], schema);
    assert_eq!(
        b["tool_choice"],
        json!({"type":"tool","name":"json_tool_call"})
    );
    let answer = br#"{"id":"m","content":[{"type":"tool_use","id":"t","name":"json_tool_call","input":{"name":"Ann"}}],
        "stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":4}}"#;
    let out: Value = serde_json::from_slice(&response(&d, &req, answer.to_vec()).unwrap()).unwrap();
    let msg = &out["choices"][0]["message"];
    assert_eq!(msg["content"], r#"{"name":"Ann"}"#);
    assert!(msg.get("tool_calls").is_none());
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    // Streamed: the tool's input arrives as text.
    let stream = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":3}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"json_tool_call\",\"input\":{}}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"name\\\":\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Ann\\\"}\"}}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":4}}\n\n";
    let v: Vec<Value> = translate(stream).iter().map(data).collect();
    let text: String = v
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, r#"{"name":"Ann"}"#);
    assert!(v
        .iter()
        .all(|c| c["choices"][0]["delta"].get("tool_calls").is_none()));
    assert_eq!(v.last().unwrap()["choices"][0]["finish_reason"], "stop");
}

#[test]
fn anthropic_streamed_thinking_is_reasoning_content_and_thinking_blocks() {
    let stream = b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Hmm\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig\"}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"opaque\"}}\n\n";
    let v: Vec<Value> = translate(stream).iter().map(data).collect();
    let deltas: Vec<&Value> = v.iter().map(|c| &c["choices"][0]["delta"]).collect();
    assert_eq!(deltas[0]["reasoning_content"], "Hmm");
    assert_eq!(deltas[0]["thinking_blocks"][0]["thinking"], "Hmm");
    assert_eq!(deltas[1]["thinking_blocks"][0]["signature"], "sig");
    assert_eq!(
        deltas[2]["thinking_blocks"][0],
        json!({"type":"redacted_thinking","data":"opaque"})
    );
    assert_eq!(v.len(), 3, "the empty thinking start is no chunk");
}

#[test]
fn the_responses_api_goes_to_openai_and_azure_as_it_is() {
    let body =
        json!({"model":"g","input":"hi","stream":true,"tools":[{"type":"web_search_preview"}]});
    let req = ModelRequest::parse_for(Endpoint::Responses, body.to_string().as_bytes()).unwrap();
    let azure = deployment(
        r#""model":"azure/my-gpt4o","api_base":"https://res.openai.azure.com/","api_key":"az-key""#,
    );
    let r = build(&azure, &req, 0.0).unwrap();
    assert_eq!(
        r.url,
        "https://res.openai.azure.com/openai/responses?api-version=2025-04-01-preview"
    );
    assert_eq!(header(&r, "api-key"), Some("az-key"));
    let sent = body_of(&r);
    assert_eq!(
        sent["model"], "my-gpt4o",
        "Azure names its deployment in the body"
    );
    assert_eq!(sent["tools"][0]["type"], "web_search_preview");
    assert!(sent.get("stream_options").is_none());
    let openai =
        deployment(r#""model":"openai/gpt-4o","api_base":"https://api.example/v1","api_key":"k""#);
    assert_eq!(
        build(&openai, &req, 0.0).unwrap().url,
        "https://api.example/v1/responses"
    );
    let anthropic = anthropic();
    assert!(!serves(&anthropic, Endpoint::Responses) && serves(&openai, Endpoint::Responses));
    // Its stream: each event passed on, the last one followed by the usage the relay counts.
    let mut t = of(&openai).stream(&openai, &req);
    let mut out = Vec::new();
    let mut dec = SseDecoder::new();
    let mut evs = Vec::new();
    dec.push(b"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":4,\"output_tokens\":2}}}\n\n", &mut evs);
    for ev in evs {
        t.event(ev, &mut out);
    }
    assert_eq!(out.len(), 4);
    assert_eq!(
        data(&out[2]),
        json!({"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}})
    );
    assert_eq!(out[3], Piece::Done);
}
