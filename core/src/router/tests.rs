use super::*;
use crate::testing::{Fixture, Reply, ScriptedUpstream};
use futures::executor::block_on;
use futures::StreamExt;
use serde_json::{json, Value};

const A: &str = "http://a.test/v1/chat/completions";
const B: &str = "http://b.test/v1/chat/completions";

fn config_text(extra: &str) -> String {
    format!(
        r#"{{"model_list":[
            {{"model_name":"g","litellm_params":{{"model":"openai/model-a","api_base":"http://a.test/v1","api_key":"sk-a","timeout":5{extra}}},"model_info":{{"id":"dep-a"}}}},
            {{"model_name":"solo","litellm_params":{{"model":"model-b","api_base":"http://b.test/v1/","organization":"org-1"}},"model_info":{{"id":"dep-b"}}}}
        ]}}"#
    )
}

fn router(up: &Rc<ScriptedUpstream>, extra: &str) -> Router {
    Fixture::default().upstream(up).router(&config_text(extra))
}

fn chat(v: Value) -> ModelRequest {
    ModelRequest::parse(v.to_string().as_bytes()).unwrap()
}

fn hello(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

const COMPLETION: &str = r#"{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;

#[test]
fn non_stream_call_is_shaped_for_the_deployment() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(A, Reply::json(200, COMPLETION));
    let r = router(&up, "");
    let mut body = hello("g");
    body["api_base"] = json!("http://evil.test");
    let routed = block_on(r.completion(&chat(body))).unwrap();
    assert_eq!(routed.deployment_id, "dep-a");
    assert_eq!(routed.group, "g");
    let RoutedBody::Json(bytes) = routed.body else {
        panic!("expected JSON")
    };
    assert_eq!(bytes, COMPLETION.as_bytes());

    let calls = up.calls.borrow();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.url, A, "client api_base is ignored");
    assert!(call
        .headers
        .contains(&("authorization", "Bearer sk-a".to_string())));
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(sent["model"], "model-a");
    assert!(sent.get("api_base").is_none());
    assert!(!call.stream);
}

#[test]
fn organization_header_and_no_key() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(B, Reply::json(200, COMPLETION));
    block_on(router(&up, "").completion(&chat(hello("solo")))).unwrap();
    let calls = up.calls.borrow();
    assert!(calls[0]
        .headers
        .contains(&("openai-organization", "org-1".to_string())));
    assert!(!calls[0].headers.iter().any(|(k, _)| *k == "authorization"));
}

#[test]
fn unknown_model_never_calls_upstream() {
    let up = Rc::new(ScriptedUpstream::default());
    let e = block_on(router(&up, "").completion(&chat(hello("nope"))))
        .err()
        .unwrap();
    assert_eq!(
        e,
        Error::ModelNotFound {
            model: "nope".into()
        }
    );
    assert!(up.calls.borrow().is_empty());
}

#[test]
fn upstream_error_is_passed_through_with_retry_after() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(
        A,
        Reply::Full {
            status: 429,
            headers: vec![("retry-after".into(), "7".into())],
            body: br#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#.to_vec(),
        },
    );
    let e = block_on(router(&up, "").completion(&chat(hello("g"))))
        .err()
        .unwrap();
    assert_eq!(e.status(), 429);
    assert_eq!(
        e.body(),
        br#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#.to_vec()
    );
    let Error::Upstream { retry_after_ms, .. } = e else {
        panic!()
    };
    assert_eq!(retry_after_ms, Some(7_000));
}

#[test]
fn unreachable_is_502_and_hang_is_504_after_timeout() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(A, Reply::Refused("connection refused".into()));
    let e = block_on(router(&up, "").completion(&chat(hello("g"))))
        .err()
        .unwrap();
    assert_eq!(e.status(), 502);
    assert!(e.message().contains("connection refused"));

    let up = Rc::new(ScriptedUpstream::default());
    up.push(A, Reply::Hang);
    let e = block_on(router(&up, "").completion(&chat(hello("g"))))
        .err()
        .unwrap();
    assert_eq!(e, Error::UpstreamTimeout { after_ms: 5000 });
}

#[test]
fn stream_is_relayed_and_requested_as_stream() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(
        A,
        Reply::Stream(vec![
            Ok(b"data: {\"choices\":[{\"delta\":{\"content\":\"he\"}}]}\n\n".to_vec()),
            Ok(
                b"data: {\"choices\":[{\"delta\":{\"content\":\"llo\"}}]}\n\ndata: [DONE]\n\n"
                    .to_vec(),
            ),
        ]),
    );
    let mut body = hello("g");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let routed = block_on(router(&up, "").completion(&chat(body))).unwrap();
    let RoutedBody::Stream(s) = routed.body else {
        panic!("expected a stream")
    };
    let chunks: Vec<Vec<u8>> = block_on(s.collect());
    assert_eq!(chunks.len(), 2, "one client chunk per upstream chunk");
    let text = String::from_utf8(chunks.concat()).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert!(text.contains("\"he\"") && text.contains("\"llo\""));
    let call = &up.calls.borrow()[0];
    assert!(call.stream);
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(sent["stream_options"]["include_usage"], json!(true));
}

#[test]
fn stream_that_dies_before_first_event_is_an_error() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(A, Reply::Stream(vec![Err("reset".into())]));
    let mut body = hello("g");
    body["stream"] = json!(true);
    let e = block_on(router(&up, "").completion(&chat(body)))
        .err()
        .unwrap();
    assert_eq!(e.status(), 502);
}

#[test]
fn call_ids_are_unique() {
    let up = Rc::new(ScriptedUpstream::default());
    let r = router(&up, "");
    let a = r.call_id();
    assert_eq!(a.len(), 32);
    assert_ne!(a, r.call_id());
}
