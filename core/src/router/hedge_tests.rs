//! The hedged first token, on a timed clock: timers and slow answers race as they would in
//! real time, in virtual milliseconds.

use super::*;
use crate::testing::{Fixture, ManualClock, Reply, ScriptedUpstream};
use futures::StreamExt;
use serde_json::{json, Value};

const START: f64 = 10.0 * 60_000.0 + 1_000.0;
const OK: &str = r#"{"id":"ok","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}"#;

fn url(name: &str) -> String {
    format!("http://{name}.test/v1/chat/completions")
}

fn dep(group: &str, name: &str) -> String {
    format!(
        r#"{{"model_name":"{group}","litellm_params":{{"model":"openai/{name}","api_base":"http://{name}.test/v1","api_key":"k"}},"model_info":{{"id":"{name}"}}}}"#
    )
}

/// A deployment of `group` with LiteLLM's `order` (the lowest is picked first).
fn ordered(group: &str, name: &str, order: u32) -> String {
    dep(group, name).replace(
        r#""api_key":"k""#,
        &format!(r#""api_key":"k","order":{order}"#),
    )
}

/// A stream of one content chunk `text` and `[DONE]`.
fn chunks(text: &str) -> Vec<Result<Vec<u8>, String>> {
    vec![
        Ok(format!(
            "data: {{\"id\":\"c\",\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}},\"finish_reason\":\"stop\"}}]}}\n\n"
        )
        .into_bytes()),
        Ok(b"data: [DONE]\n\n".to_vec()),
    ]
}

const FALLBACK: &str = r#","fallbacks":[{"g":["fb"]}]"#;

struct Timed {
    up: Rc<ScriptedUpstream>,
    clock: ManualClock,
    router: Router,
}

fn timed(deployments: &[String], settings: &str) -> Timed {
    let text = format!(
        r#"{{"model_list":[{}],"router_settings":{{"num_retries":0,"timeout":30,"stream_timeout":30{settings}}}}}"#,
        deployments.join(",")
    );
    let f = Fixture::timed_at(START).seed(3);
    let router = f.router(&text);
    Timed {
        up: f.up,
        clock: f.clock,
        router,
    }
}

impl Timed {
    fn reply(&self, name: &str, r: Reply) {
        self.up.push(&url(name), r);
    }
    fn calls(&self, name: &str) -> usize {
        self.up.calls_to(&url(name))
    }
    /// The call and, for a stream, its text read to the end; with the virtual ms it took.
    fn ask(&self, body: Value) -> (Result<(Routed, String), Error>, f64) {
        let req = ModelRequest::parse(body.to_string().as_bytes()).unwrap();
        let started = self.clock.now_ms();
        let out = self
            .clock
            .run(async {
                let mut routed = self.router.completion(&req).await?;
                let text = match std::mem::replace(&mut routed.body, RoutedBody::Json(Vec::new())) {
                    RoutedBody::Stream(s) => {
                        let all: Vec<Vec<u8>> = s.collect().await;
                        String::from_utf8(all.concat()).unwrap()
                    }
                    RoutedBody::Json(b) => String::from_utf8(b).unwrap(),
                    RoutedBody::Binary { .. } => String::new(),
                };
                Ok((routed, text))
            })
            .expect("the call hung");
        (out, self.clock.now_ms() - started)
    }
    fn stream(&self, model: &str) -> (Result<(Routed, String), Error>, f64) {
        self.ask(json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
    }
    fn in_flight(&self, id: &str) -> u32 {
        self.router
            .state
            .snapshot(id, self.clock.now_ms())
            .in_flight
    }
    fn tally(&self, group: &str) -> usage::GroupTally {
        self.router
            .tallies()
            .into_iter()
            .find(|(g, _)| g == group)
            .map(|(_, t)| t)
            .unwrap_or_default()
    }
}

#[test]
fn a_stream_silent_past_the_hedge_point_is_answered_by_another_deployment() {
    // `order` makes `slow` the first pick; its first token comes after 20 s (headers at
    // once), the other's at once. Unmeasured, the hedge point is 10 s.
    let t = timed(&[ordered("g", "slow", 1), ordered("g", "fast", 2)], "");
    t.reply("slow", Reply::StreamAfter(20_000, chunks("slow")));
    t.reply("fast", Reply::Stream(chunks("fast")));
    let (out, ms) = t.stream("g");
    let (routed, text) = out.unwrap();
    assert!(routed.hedged);
    assert_eq!(routed.deployment_id, "fast", "the hedge answered first");
    assert!(text.contains("fast") && !text.contains("slow"), "{text}");
    assert_eq!(ms, 10_000.0, "hedged at 10 s, answered at once");
    assert_eq!((t.calls("slow"), t.calls("fast")), (1, 1));
    assert_eq!(t.in_flight("slow"), 0, "the loser's slot is freed");
    assert_eq!(t.in_flight("fast"), 0);
    let now = t.clock.now_ms();
    let loser = t.router.state.snapshot("slow", now);
    assert!(!loser.cooling(now), "losing a race is not a failure");
    assert_eq!(loser.fails_this_minute, 0);
    assert_eq!(t.tally("g").hedges, 1);
    assert_eq!(t.tally("g").hedge_wins, 1);
}

#[test]
fn a_slow_first_attempt_that_answers_first_still_wins() {
    let t = timed(&[dep("g", "a"), dep("fb", "f")], FALLBACK);
    t.reply("a", Reply::StreamAfter(12_000, chunks("primary")));
    t.reply("f", Reply::StreamAfter(5_000, chunks("fallback")));
    let (out, ms) = t.stream("g");
    let (routed, text) = out.unwrap();
    assert!(routed.hedged, "the hedge went to the fallback at 10 s");
    assert_eq!(t.calls("f"), 1);
    assert_eq!(
        routed.deployment_id, "a",
        "the primary's first token came at 12 s"
    );
    assert_eq!(routed.attempted_fallbacks, 0);
    assert!(text.contains("primary"), "{text}");
    assert_eq!(ms, 12_000.0);
    assert_eq!(t.in_flight("f"), 0, "the losing hedge's slot is freed");
    assert_eq!(t.tally("g").hedges, 1);
    assert_eq!(t.tally("g").hedge_wins, 0);
}

#[test]
fn a_hedge_to_the_fallback_counts_as_a_fallback_and_names_the_group_that_served() {
    let t = timed(&[dep("g", "a"), dep("fb", "f")], FALLBACK);
    t.reply("a", Reply::StreamAfter(20_000, chunks("primary")));
    t.reply("f", Reply::Stream(chunks("fallback")));
    let (out, ms) = t.stream("g");
    let (routed, text) = out.unwrap();
    assert!(routed.hedged);
    assert_eq!(
        (routed.group.as_str(), routed.deployment_id.as_str()),
        ("fb", "f")
    );
    assert_eq!(routed.attempted_fallbacks, 1);
    assert!(text.contains("fallback"), "{text}");
    assert_eq!(ms, 10_000.0);
    assert_eq!(t.in_flight("a"), 0);
}

#[test]
fn without_hedge_after_a_non_streaming_call_is_not_hedged() {
    // Its first byte comes with its last: a long answer is not a stall.
    let t = timed(&[ordered("g", "a", 1), ordered("g", "b", 2)], "");
    t.reply("a", Reply::After(20_000, Box::new(Reply::json(200, OK))));
    t.reply("b", Reply::json(200, OK));
    let (out, ms) = t.ask(json!({"model": "g", "messages": [{"role": "user", "content": "hi"}]}));
    let (routed, _) = out.unwrap();
    assert!(!routed.hedged);
    assert_eq!(routed.deployment_id, "a");
    assert_eq!((ms, t.calls("b")), (20_000.0, 0));
}

#[test]
fn hedge_after_in_seconds_hedges_non_streaming_calls_too() {
    let t = timed(
        &[ordered("g", "a", 1), ordered("g", "b", 2)],
        r#","hedge_after":1.5"#,
    );
    t.reply("a", Reply::After(20_000, Box::new(Reply::json(200, OK))));
    t.reply("b", Reply::After(100, Box::new(Reply::json(200, OK))));
    let (out, ms) = t.ask(json!({"model": "g", "messages": [{"role": "user", "content": "hi"}]}));
    let (routed, body) = out.unwrap();
    assert!(routed.hedged);
    assert_eq!(routed.deployment_id, "b");
    assert_eq!(ms, 1_600.0);
    assert!(body.contains("\"hi\""));
    assert_eq!(t.in_flight("a"), 0);
}

#[test]
fn the_adaptive_hedge_point_follows_the_measured_time_to_first_token() {
    let t = timed(&[ordered("g", "a", 1), ordered("g", "b", 2)], "");
    // Five streams with a 1.4 s first token: p95 x 2 = 2.8 s.
    for _ in 0..5 {
        t.reply("a", Reply::StreamAfter(1_400, chunks("a")));
    }
    t.reply("a", Reply::StreamAfter(9_000, chunks("a")));
    for _ in 0..5 {
        let (out, ms) = t.stream("g");
        assert!(!out.unwrap().0.hedged);
        assert_eq!(ms, 1_400.0);
    }
    let p95 = t.router.state.snapshot("a", t.clock.now_ms()).ttft_p95_ms;
    assert_eq!(p95, Some(1_400.0));
    t.reply("b", Reply::Stream(chunks("b")));
    let (out, ms) = t.stream("g");
    let (routed, _) = out.unwrap();
    assert_eq!((routed.deployment_id.as_str(), ms), ("b", 2_800.0));
    // A fast first token: the floor of 2 s holds.
    let t = timed(&[ordered("g", "a", 1), ordered("g", "b", 2)], "");
    for _ in 0..3 {
        t.reply("a", Reply::StreamAfter(10, chunks("a")));
    }
    t.reply("a", Reply::StreamAfter(9_000, chunks("a")));
    for _ in 0..3 {
        t.stream("g").0.unwrap();
    }
    t.reply("b", Reply::Stream(chunks("b")));
    assert_eq!(t.stream("g").1, 2_000.0);
}

#[test]
fn no_hedge_when_switched_off_or_when_the_provider_stores_the_completion() {
    for (settings, body_extra) in [
        (r#","hedge_after":false"#, json!({})),
        (r#","hedge_after":"off""#, json!({})),
        ("", json!({"store": true})),
    ] {
        let t = timed(&[ordered("g", "a", 1), ordered("g", "b", 2)], settings);
        t.reply("a", Reply::StreamAfter(20_000, chunks("a")));
        t.reply("b", Reply::Stream(chunks("b")));
        let mut body =
            json!({"model": "g", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
        body.as_object_mut()
            .unwrap()
            .extend(body_extra.as_object().unwrap().clone());
        let (out, ms) = t.ask(body);
        let (routed, _) = out.unwrap();
        assert!(!routed.hedged, "{settings} {body_extra}");
        assert_eq!((routed.deployment_id.as_str(), ms), ("a", 20_000.0));
        assert_eq!(t.calls("b"), 0);
    }
}

#[test]
fn when_both_fail_the_request_retries_and_no_second_hedge_goes_out() {
    let t = timed(
        &[ordered("g", "a", 1), ordered("g", "b", 2)],
        r#","hedge_after":1,"num_retries":1,"retry_policy":{"base_delay":0}"#,
    );
    t.reply("a", Reply::After(3_000, Box::new(Reply::json(500, "{}"))));
    t.reply("a", Reply::After(5_000, Box::new(Reply::json(200, OK))));
    t.reply("b", Reply::json(500, "{}"));
    t.reply("b", Reply::After(5_000, Box::new(Reply::json(200, OK))));
    let (out, _) = t.ask(json!({"model": "g", "messages": [{"role": "user", "content": "hi"}]}));
    let (routed, _) = out.unwrap();
    assert!(routed.hedged);
    assert_eq!(routed.attempted_retries, 1);
    assert_eq!(
        t.calls("a") + t.calls("b"),
        3,
        "a, its hedge on b, then one retry without a hedge"
    );
    assert_eq!(t.tally("g").hedges, 1);
}

#[test]
fn n_greater_than_one_is_hedged_like_any_chat_call() {
    let t = timed(&[ordered("g", "a", 1), ordered("g", "b", 2)], "");
    t.reply("a", Reply::StreamAfter(20_000, chunks("a")));
    t.reply("b", Reply::Stream(chunks("b")));
    let (out, _) = t.ask(json!({"model": "g", "n": 2, "stream": true, "messages": [{"role": "user", "content": "hi"}]}));
    assert_eq!(out.unwrap().0.deployment_id, "b");
}

#[test]
fn a_deployment_with_its_own_hedge_after_false_is_never_hedged() {
    let slow =
        ordered("g", "a", 1).replace(r#""api_key":"k""#, r#""api_key":"k","hedge_after":false"#);
    let t = timed(&[slow, ordered("g", "b", 2)], "");
    t.reply("a", Reply::StreamAfter(20_000, chunks("a")));
    t.reply("b", Reply::Stream(chunks("b")));
    let (out, ms) = t.stream("g");
    let (routed, _) = out.unwrap();
    assert!(!routed.hedged);
    assert_eq!((routed.deployment_id.as_str(), ms), ("a", 20_000.0));
}
