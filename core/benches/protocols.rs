//! What a translated call costs: the whole HTTP surface (auth, parse, translation, routing, the
//! scripted instant upstream, the answer's translation back, storing), natively, per request,
//! for Chat Completions and for the same call through the Messages and Responses APIs, whole
//! and streamed (ten chunks). Run with `cargo bench -p switchyard-core --bench protocols`.

// Test code: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::executor::block_on;
use futures::StreamExt;
use std::time::Instant;
use switchyard_core::api::{HttpBody, HttpRequest};
use switchyard_core::testing::{Fixture, Reply};

const CONFIG: &str = r#"{"model_list":[
    {"model_name":"chat","litellm_params":{"model":"hosted_vllm/m","api_base":"http://c.test/v1"}},
    {"model_name":"native","litellm_params":{"model":"openai/gpt-4o-mini","api_base":"http://n.test/v1","api_key":"sk-n"}}],
    "general_settings":{"master_key":"sk-bench","request_log":false}}"#;
const CHAT_URL: &str = "http://c.test/v1/chat/completions";
const NATIVE_URL: &str = "http://n.test/v1/responses";

const ANSWER: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Packets find their way"},"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":9,"total_tokens":33}}"#;
const NATIVE_ANSWER: &str = r#"{"id":"resp_1","object":"response","created_at":1,"status":"completed","model":"gpt-4o-mini","output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Packets find their way","annotations":[]}]}],"usage":{"input_tokens":24,"output_tokens":9,"total_tokens":33}}"#;

fn chunks() -> Vec<Result<Vec<u8>, String>> {
    let mut out: Vec<Result<Vec<u8>, String>> = (0..10)
        .map(|i| Ok(format!("data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"word{i} \"}},\"finish_reason\":null}}]}}\n\n").into_bytes()))
        .collect();
    out.push(Ok(b"data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: {\"id\":\"c\",\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":24,\"completion_tokens\":10}}\n\ndata: [DONE]\n\n".to_vec()));
    out
}

const SYSTEM: &str = "You are helpful.";
const USER: &str = "Write a haiku about routers.";

fn main() {
    let fx = Fixture::at(1.0e12);
    fx.up.push(CHAT_URL, Reply::json(200, ANSWER));
    fx.up.push(NATIVE_URL, Reply::json(200, NATIVE_ANSWER));
    let app = fx.app(CONFIG);
    let chat = format!(
        r#"{{"model":"chat","messages":[{{"role":"system","content":"{SYSTEM}"}},{{"role":"user","content":"{USER}"}}],"max_tokens":64}}"#
    );
    let messages = format!(
        r#"{{"model":"chat","system":"{SYSTEM}","messages":[{{"role":"user","content":"{USER}"}}],"max_tokens":64}}"#
    );
    let responses = |model: &str, store: bool| {
        format!(
            r#"{{"model":"{model}","instructions":"{SYSTEM}","input":"{USER}","max_output_tokens":64,"store":{store}}}"#
        )
    };
    let cases: Vec<(&str, &str, String, bool)> = vec![
        (
            "chat completions",
            "/v1/chat/completions",
            chat.clone(),
            false,
        ),
        (
            "messages, translated",
            "/v1/messages",
            messages.clone(),
            false,
        ),
        (
            "responses, translated, store false",
            "/v1/responses",
            responses("chat", false),
            false,
        ),
        (
            "responses, translated, stored",
            "/v1/responses",
            responses("chat", true),
            false,
        ),
        (
            "responses, passed through, stored",
            "/v1/responses",
            responses("native", true),
            false,
        ),
        (
            "chat completions, streamed",
            "/v1/chat/completions",
            chat.replace("\"max_tokens\"", "\"stream\":true,\"max_tokens\""),
            true,
        ),
        (
            "messages, streamed",
            "/v1/messages",
            messages.replace("\"max_tokens\"", "\"stream\":true,\"max_tokens\""),
            true,
        ),
        (
            "responses, streamed, store false",
            "/v1/responses",
            responses("chat", false).replace("\"store\"", "\"stream\":true,\"store\""),
            true,
        ),
    ];
    let run = |path: &str, body: &str, stream: bool, n: u32| {
        for _ in 0..n {
            if stream {
                fx.up.push(CHAT_URL, Reply::Stream(chunks()));
            }
            let req = HttpRequest {
                method: "POST".into(),
                path: path.into(),
                headers: vec![("authorization".into(), "Bearer sk-bench".into())],
                body: body.as_bytes().to_vec(),
            };
            let mut resp = block_on(app.handle(req));
            assert_eq!(resp.status, 200, "{path}");
            if let HttpBody::Stream(s) =
                std::mem::replace(&mut resp.body, HttpBody::Bytes(Vec::new()))
            {
                std::hint::black_box(block_on(s.collect::<Vec<_>>()));
            }
            for job in std::mem::take(&mut resp.background) {
                block_on(job);
            }
            fx.up.calls.borrow_mut().clear();
            fx.clock.advance(0.01);
        }
    };
    let n = 20_000;
    let mut base = [0.0f64; 2];
    for (label, path, body, stream) in &cases {
        run(path, body, *stream, 2_000); // warm up
        let t0 = Instant::now();
        run(path, body, *stream, n);
        let ns = t0.elapsed().as_nanos() as f64 / f64::from(n);
        let k = usize::from(*stream);
        if base[k] == 0.0 {
            base[k] = ns;
            println!("protocols: {label}: {:.1} µs/request", ns / 1000.0);
        } else {
            println!(
                "protocols: {label}: {:.1} µs/request ({:+.1} µs)",
                ns / 1000.0,
                (ns - base[k]) / 1000.0
            );
        }
    }
}
