//! The router's LiteLLM behaviours, one scenario each, against a scripted upstream and a virtual
//! clock (no real waiting: every sleep is recorded instead).

use super::*;
use crate::testing::{Fixture, ManualClock, Reply, ScriptedUpstream};
use futures::executor::block_on;
use futures::StreamExt;
use serde_json::{json, Value};

const OK: &str = r#"{"id":"ok","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}"#;

fn url(name: &str) -> String {
    format!("http://{name}.test/v1/chat/completions")
}

/// A deployment on `http://<name>.test/v1` with id `<name>`, in group `group`.
fn dep(group: &str, name: &str, extra: &str) -> String {
    format!(
        r#"{{"model_name":"{group}","litellm_params":{{"model":"openai/{name}","api_base":"http://{name}.test/v1"{extra}}},"model_info":{{"id":"{name}"}}}}"#
    )
}

struct Setup {
    up: Rc<ScriptedUpstream>,
    clock: ManualClock,
    router: Router,
}

fn setup(deployments: &[String], settings: &str) -> Setup {
    let text = format!(
        r#"{{"model_list":[{}],"router_settings":{{{settings}}}}}"#,
        deployments.join(",")
    );
    // Mid-minute, so a test's failures stay inside one minute unless it moves on.
    let f = Fixture::mid_minute().seed(7);
    let router = f.router(&text);
    Setup {
        up: f.up,
        clock: f.clock,
        router,
    }
}

impl Setup {
    fn reply(&self, name: &str, r: Reply) {
        self.up.push(&url(name), r);
    }
    fn calls(&self, name: &str) -> usize {
        self.up.calls_to(&url(name))
    }
    fn ask(&self, body: Value) -> Result<Routed, Error> {
        let req = ModelRequest::parse(body.to_string().as_bytes()).unwrap();
        block_on(self.router.completion(&req))
    }
    fn chat(&self, model: &str) -> Result<Routed, Error> {
        self.ask(json!({"model": model, "messages": [{"role": "user", "content": "hello"}]}))
    }
    fn cooling(&self, id: &str) -> bool {
        self.router
            .state
            .snapshot(id, self.clock.now_ms())
            .cooling(self.clock.now_ms())
    }
}

fn err(status: u16) -> Reply {
    Reply::json(
        status,
        &format!(
            r#"{{"error":{{"message":"status {status}","type":"x","param":null,"code":null}}}}"#
        ),
    )
}

fn ctx_err() -> Reply {
    Reply::json(
        400,
        r#"{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
    )
}

fn policy_err() -> Reply {
    Reply::json(
        400,
        r#"{"error":{"message":"Your request was rejected as a result of our safety system.","type":"invalid_request_error","param":null,"code":"content_policy_violation"}}"#,
    )
}

// ---- retries ----

#[test]
fn retry_then_success_on_the_same_group() {
    let s = setup(&[dep("g", "a", "")], "");
    s.reply("a", err(500));
    s.reply("a", Reply::json(200, OK));
    let r = s.chat("g").unwrap();
    assert_eq!(r.attempted_retries, 1);
    assert_eq!(s.calls("a"), 2);
}

#[test]
fn retries_go_to_another_deployment_without_waiting() {
    for seed_round in 0..20 {
        let s = setup(&[dep("g", "bad", ""), dep("g", "good", "")], "");
        s.reply("bad", err(503));
        s.reply("good", Reply::json(200, OK));
        let r = s
            .chat("g")
            .unwrap_or_else(|e| panic!("round {seed_round}: {e:?}"));
        assert_eq!(r.deployment_id, "good");
        assert!(
            s.calls("bad") <= 1,
            "never re-picks the failed one while another is healthy"
        );
        assert_eq!(s.calls("good"), 1);
        assert!(
            s.clock.slept.borrow().is_empty(),
            "no backoff when another deployment is ready"
        );
        // make the next round's first pick vary
        s.router.rng.replace(Rng::seeded(seed_round));
    }
}

#[test]
fn backoff_follows_the_retry_policy_without_jitter() {
    let s = setup(
        &[dep("g", "a", "")],
        r#""retry_policy":{"max_retries":3,"base_delay":1,"backoff_factor":3,"max_delay":5,"jitter":false}"#,
    );
    for _ in 0..3 {
        s.reply("a", err(500));
    }
    s.reply("a", Reply::json(200, OK));
    let r = s.chat("g").unwrap();
    assert_eq!(r.attempted_retries, 3);
    assert_eq!(*s.clock.slept.borrow(), vec![1_000, 3_000, 5_000]);
}

#[test]
fn default_backoff_has_jitter_between_half_and_full() {
    let s = setup(&[dep("g", "a", "")], "");
    s.reply("a", err(500));
    s.reply("a", err(500));
    s.reply("a", Reply::json(200, OK));
    s.chat("g").unwrap();
    let slept = s.clock.slept.borrow().clone();
    assert_eq!(slept.len(), 2);
    assert!((250..=500).contains(&slept[0]), "{slept:?}");
    assert!((500..=1_000).contains(&slept[1]), "{slept:?}");
}

#[test]
fn retry_after_from_the_provider_sets_the_wait() {
    let s = setup(&[dep("g", "a", "")], "");
    s.reply(
        "a",
        Reply::Full {
            status: 429,
            headers: vec![("retry-after".into(), "3".into())],
            body: b"{}".to_vec(),
        },
    );
    s.reply("a", Reply::json(200, OK));
    s.chat("g").unwrap();
    assert_eq!(*s.clock.slept.borrow(), vec![3_000]);
}

#[test]
fn auth_and_bad_request_errors_are_not_retried() {
    for (status, name) in [(401, "a"), (403, "b"), (400, "c"), (404, "d")] {
        let s = setup(&[dep("g", name, "")], r#""num_retries":3"#);
        s.reply(name, err(status));
        let e = s.chat("g").err().unwrap();
        assert_eq!(s.calls(name), 1, "{status} must not be retried");
        assert!(e.status() >= 400);
    }
}

#[test]
fn rate_limits_server_errors_and_timeouts_are_retried_per_num_retries() {
    for (reply, name) in [
        (err(429), "a"),
        (err(500), "b"),
        (Reply::Hang, "c"),
        (Reply::Refused("down".into()), "d"),
    ] {
        let s = setup(&[dep("g", name, r#","timeout":1"#)], r#""num_retries":2"#);
        s.reply(name, reply);
        assert!(s.chat("g").is_err());
        assert_eq!(s.calls(name), 3, "{name}: 1 call + 2 retries");
    }
}

#[test]
fn per_class_retry_policy_and_group_policy() {
    let s = setup(
        &[dep("g", "a", ""), dep("h", "b", "")],
        r#""num_retries":4,"retry_policy":{"RateLimitErrorRetries":1,"InternalServerErrorRetries":0,"AuthenticationErrorRetries":2},
           "model_group_retry_policy":{"h":{"InternalServerErrorRetries":3}}"#,
    );
    s.reply("a", err(429));
    s.chat("g").err().unwrap();
    assert_eq!(s.calls("a"), 2, "RateLimitErrorRetries: 1");
    s.reply("b", err(500));
    s.chat("h").err().unwrap();
    assert_eq!(s.calls("b"), 4, "group policy: 3 retries");
    let s = setup(
        &[dep("g", "a", "")],
        r#""retry_policy":{"AuthenticationErrorRetries":2,"InternalServerErrorRetries":0}"#,
    );
    s.reply("a", err(401));
    s.chat("g").err().unwrap();
    assert_eq!(s.calls("a"), 3, "auth retries when the policy says so");
    let s = setup(
        &[dep("g", "a", "")],
        r#""retry_policy":{"InternalServerErrorRetries":0}"#,
    );
    s.reply("a", err(502));
    s.chat("g").err().unwrap();
    assert_eq!(s.calls("a"), 1);
}

#[test]
fn client_num_retries_in_the_body() {
    let s = setup(&[dep("g", "a", "")], "");
    s.reply("a", err(500));
    s.ask(json!({"model":"g","messages":[{"role":"user","content":"x"}],"num_retries":0}))
        .err()
        .unwrap();
    assert_eq!(s.calls("a"), 1);
}

#[test]
fn deployment_max_retries_caps_attempts_at_it() {
    let s = setup(
        &[dep("g", "a", r#","max_retries":1"#)],
        r#""num_retries":5"#,
    );
    s.reply("a", err(500));
    s.chat("g").err().unwrap();
    assert_eq!(s.calls("a"), 2);
}

// ---- fallbacks ----

#[test]
fn generic_fallbacks_in_order_each_with_its_own_retries() {
    let s = setup(
        &[dep("g", "a", ""), dep("f1", "b", ""), dep("f2", "c", "")],
        r#""num_retries":1,"fallbacks":[{"g":["f1","f2"]}]"#,
    );
    s.reply("a", err(500));
    s.reply("b", err(503));
    s.reply("c", Reply::json(200, OK));
    let r = s.chat("g").unwrap();
    assert_eq!(r.group, "f2");
    assert_eq!(r.attempted_fallbacks, 2);
    assert_eq!((s.calls("a"), s.calls("b"), s.calls("c")), (2, 2, 1));
    assert_eq!(r.attempted_retries, 2);
}

#[test]
fn max_fallbacks_caps_the_list() {
    let s = setup(
        &[dep("g", "a", ""), dep("f1", "b", ""), dep("f2", "c", "")],
        r#""num_retries":0,"max_fallbacks":1,"fallbacks":[{"g":["f1","f2"]}]"#,
    );
    s.reply("a", err(500));
    s.reply("b", err(500));
    s.reply("c", Reply::json(200, OK));
    let e = s.chat("g").err().unwrap();
    assert_eq!(e.status(), 500, "the requested group's error");
    assert_eq!(s.calls("c"), 0);
}

#[test]
fn a_plain_fallback_list_and_default_fallbacks_apply_to_every_group() {
    let s = setup(
        &[dep("g", "a", ""), dep("cheap", "b", "")],
        r#""num_retries":0,"fallbacks":["cheap"]"#,
    );
    s.reply("a", err(500));
    s.reply("b", Reply::json(200, OK));
    assert_eq!(s.chat("g").unwrap().group, "cheap");
    let s = setup(
        &[dep("g", "a", ""), dep("h", "c", ""), dep("cheap", "b", "")],
        r#""num_retries":0,"default_fallbacks":["cheap"],"fallbacks":[{"h":["g"]}]"#,
    );
    s.reply("a", err(500));
    s.reply("b", Reply::json(200, OK));
    assert_eq!(
        s.chat("g").unwrap().group,
        "cheap",
        "default for groups without their own"
    );
    s.reply("c", err(500));
    let e = s.chat("h").err().unwrap();
    assert_eq!(
        e.status(),
        500,
        "h's own list (g, failing) replaces the default"
    );
}

#[test]
fn context_window_errors_skip_retries_and_use_their_fallbacks() {
    let s = setup(
        &[
            dep("g", "small", ""),
            dep("g", "small2", ""),
            dep("big", "b", ""),
            dep("other", "o", ""),
        ],
        r#""num_retries":3,"context_window_fallbacks":[{"g":["big"]}],"fallbacks":[{"g":["other"]}]"#,
    );
    s.reply("small", ctx_err());
    s.reply("small2", ctx_err());
    s.reply("b", Reply::json(200, OK));
    let r = s.chat("g").unwrap();
    assert_eq!(r.group, "big");
    assert_eq!(
        s.calls("small") + s.calls("small2"),
        1,
        "not retried on the same group"
    );
    assert_eq!(s.calls("o"), 0);
    assert!(
        !s.cooling("small") && !s.cooling("small2"),
        "the request's fault, not the deployment's"
    );
}

#[test]
fn content_policy_errors_use_content_policy_fallbacks() {
    let s = setup(
        &[
            dep("g", "a", ""),
            dep("safe", "b", ""),
            dep("other", "o", ""),
        ],
        r#""content_policy_fallbacks":[{"g":["safe"]}],"fallbacks":[{"g":["other"]}]"#,
    );
    s.reply("a", policy_err());
    s.reply("b", Reply::json(200, OK));
    assert_eq!(s.chat("g").unwrap().group, "safe");
    assert_eq!(s.calls("a"), 1);
    assert_eq!(s.calls("o"), 0);
}

#[test]
fn content_policy_errors_are_not_routed_around_by_the_generic_fallbacks() {
    let s = setup(
        &[dep("g", "a", ""), dep("other", "o", "")],
        r#""fallbacks":[{"g":["other"]}],"num_retries":2"#,
    );
    s.reply("a", policy_err());
    s.reply("o", Reply::json(200, OK));
    let e = s.chat("g").err().unwrap();
    assert_eq!(e.status(), 400);
    assert!(String::from_utf8_lossy(&e.body()).contains("safety system"));
    assert_eq!(
        (s.calls("a"), s.calls("o")),
        (1, 0),
        "one attempt, no fallback"
    );
}

#[test]
fn plain_bad_requests_do_not_fall_back() {
    let s = setup(
        &[dep("g", "a", ""), dep("f", "b", "")],
        r#""fallbacks":["f"]"#,
    );
    s.reply("a", err(400));
    s.reply("b", Reply::json(200, OK));
    assert_eq!(s.chat("g").err().unwrap().status(), 400);
    assert_eq!(s.calls("b"), 0);
}

#[test]
fn client_fallbacks_and_disable_fallbacks() {
    let s = setup(
        &[dep("g", "a", ""), dep("f", "b", ""), dep("mine", "c", "")],
        r#""num_retries":0,"fallbacks":["f"]"#,
    );
    s.reply("a", err(503));
    s.reply("c", Reply::json(200, OK));
    let r = s
        .ask(json!({"model":"g","messages":[{"role":"user","content":"x"}],"fallbacks":["mine"]}))
        .unwrap();
    assert_eq!(r.group, "mine");
    assert_eq!(s.calls("b"), 0);
    let e = s
        .ask(json!({"model":"g","messages":[{"role":"user","content":"x"}],"disable_fallbacks":true}))
        .err()
        .unwrap();
    assert_eq!(e.status(), 503);
    assert_eq!(s.calls("b"), 0);
}

#[test]
fn fallbacks_never_loop_or_repeat_a_group() {
    let s = setup(
        &[dep("g", "a", ""), dep("h", "b", "")],
        r#""num_retries":0,"fallbacks":[{"g":["h","g","h"]},{"h":["g"]}],"default_fallbacks":["g","h"]"#,
    );
    s.reply("a", err(500));
    s.reply("b", err(500));
    assert!(s.chat("g").is_err());
    assert_eq!((s.calls("a"), s.calls("b")), (1, 1));
}

#[test]
fn a_fallback_may_name_a_deployment_id_which_obeys_its_cooldown() {
    let s = setup(
        &[dep("g", "a", ""), dep("g2", "b", ""), dep("g2", "b2", "")],
        r#""num_retries":0,"fallbacks":[{"g":["b"]}]"#,
    );
    s.reply("a", err(500));
    s.reply("b", Reply::json(200, OK));
    assert_eq!(s.chat("g").unwrap().deployment_id, "b");
    // Named by its id, a deployment still obeys its cooldown (no way around it by id).
    s.router.state.cool_down("b", s.clock.now_ms() + 60_000.0);
    assert!(s.chat("g").is_err());
    assert_eq!(s.calls("b"), 1);
}

#[test]
fn unknown_fallback_groups_are_skipped() {
    let s = setup(
        &[dep("g", "a", ""), dep("f", "b", "")],
        r#""num_retries":0,"fallbacks":["nope","f"]"#,
    );
    s.reply("a", err(500));
    s.reply("b", Reply::json(200, OK));
    assert_eq!(s.chat("g").unwrap().group, "f");
}

// ---- cooldowns ----

#[test]
fn allowed_fails_within_a_minute_cools_down_and_traffic_moves() {
    let s = setup(
        &[dep("g", "a", r#","timeout":1"#), dep("g", "b", "")],
        r#""allowed_fails":1,"num_retries":0,"cooldown_time":30"#,
    );
    s.reply("a", err(500));
    s.reply("b", Reply::json(200, OK));
    let mut fails = 0;
    while fails < 2 {
        if s.chat("g").is_err() {
            fails += 1;
            assert_eq!(
                s.cooling("a"),
                fails == 2,
                "allowed_fails=1: cooled at the 2nd"
            );
        }
    }
    let before = s.calls("a");
    for _ in 0..20 {
        assert_eq!(s.chat("g").unwrap().deployment_id, "b");
    }
    assert_eq!(s.calls("a"), before, "no traffic while cooling");
    s.clock.advance(30_000.0);
    assert!(!s.cooling("a"), "cooldown ends after cooldown_time");
}

#[test]
fn failures_spread_over_minutes_do_not_cool_down() {
    let s = setup(
        &[dep("g", "a", ""), dep("g", "b", "")],
        r#""allowed_fails":1,"num_retries":0"#,
    );
    s.reply("a", err(500));
    s.reply("b", Reply::json(200, OK));
    let fail_once = |s: &Setup| {
        let before = s.calls("a");
        while s.calls("a") == before {
            let _ = s.chat("g");
        }
    };
    fail_once(&s);
    s.clock.advance(60_000.0);
    fail_once(&s);
    assert!(!s.cooling("a"));
    fail_once(&s);
    assert!(s.cooling("a"), "a second failure in the same minute");
}

#[test]
fn rate_limit_cools_one_of_two_but_never_a_sole_deployment() {
    let s = setup(
        &[dep("g", "a", ""), dep("g", "b", "")],
        r#""num_retries":0"#,
    );
    s.reply("a", err(429));
    s.reply("b", Reply::json(200, OK));
    while s.calls("a") == 0 {
        let _ = s.chat("g");
    }
    assert!(s.cooling("a"));
    assert!(!s.cooling("b"));

    let s = setup(&[dep("solo", "a", "")], r#""num_retries":0"#);
    s.reply("a", err(429));
    for _ in 0..5 {
        assert_eq!(s.chat("solo").err().unwrap().status(), 429);
    }
    assert!(!s.cooling("a"), "a group's only deployment stays in");
    assert_eq!(s.calls("a"), 5);
}

#[test]
fn a_400_never_cools_down_and_cooldown_time_zero_disables() {
    let s = setup(
        &[dep("g", "a", ""), dep("g", "b", "")],
        r#""allowed_fails":0"#,
    );
    s.reply("a", err(400));
    s.reply("b", err(400));
    for _ in 0..10 {
        let _ = s.chat("g");
    }
    assert!(!s.cooling("a") && !s.cooling("b"));
    let s = setup(
        &[dep("g", "a", ""), dep("g", "b", "")],
        r#""cooldown_time":0"#,
    );
    s.reply("a", err(429));
    s.reply("b", err(429));
    for _ in 0..10 {
        let _ = s.chat("g");
    }
    assert!(!s.cooling("a") && !s.cooling("b"));
}

#[test]
fn all_cooling_is_a_429_with_retry_after_unless_a_fallback_serves() {
    let s = setup(
        &[dep("g", "a", ""), dep("g", "b", ""), dep("f", "c", "")],
        r#""num_retries":0"#,
    );
    let now = s.clock.now_ms();
    s.router.state.cool_down("a", now + 4_000.0);
    s.router.state.cool_down("b", now + 2_500.0);
    let e = s.chat("g").err().unwrap();
    assert_eq!(e.status(), 429);
    assert_eq!(e.retry_after_ms(), Some(2_500));
    assert_eq!(s.up.calls.borrow().len(), 0);

    let s = setup(
        &[dep("g", "a", ""), dep("g", "b", ""), dep("f", "c", "")],
        r#""fallbacks":["f"]"#,
    );
    let now = s.clock.now_ms();
    s.router.state.cool_down("a", now + 4_000.0);
    s.router.state.cool_down("b", now + 4_000.0);
    s.reply("c", Reply::json(200, OK));
    assert_eq!(s.chat("g").unwrap().group, "f");
}

#[test]
fn cooldowns_are_per_credential() {
    // Same model and endpoint, two keys: two deployments with their own ids and cooldowns.
    let a = r#"{"model_name":"g","litellm_params":{"model":"openai/m","api_base":"http://a.test/v1","api_key":"k1"}}"#;
    let b = r#"{"model_name":"g","litellm_params":{"model":"openai/m","api_base":"http://a.test/v1","api_key":"k2"}}"#;
    let s = setup(&[a.to_string(), b.to_string()], r#""num_retries":0"#);
    let config = s.router.config();
    let (ida, idb) = (
        config.deployments[0].id.clone(),
        config.deployments[1].id.clone(),
    );
    assert_ne!(ida, idb);
    s.router.state.cool_down(&ida, s.clock.now_ms() + 10_000.0);
    s.reply("a", Reply::json(200, OK));
    for _ in 0..10 {
        assert_eq!(s.chat("g").unwrap().deployment_id, idb);
    }
}

// ---- strategies through the router ----

#[test]
fn usage_based_with_tpm_one_answers_the_second_call_with_429() {
    let s = setup(
        &[dep("g", "a", r#","tpm":1"#)],
        r#""routing_strategy":"usage-based-routing-v2""#,
    );
    s.reply("a", Reply::json(200, OK));
    // Tokens are counted after a call: the first is admitted, its 15 tokens fill the minute.
    s.chat("g").unwrap();
    let e = s.chat("g").err().unwrap();
    assert_eq!(e.status(), 429);
    assert!(e.retry_after_ms().unwrap() <= 60_000);
}

#[test]
fn usage_based_rpm_limits_are_respected_across_deployments() {
    let s = setup(
        &[dep("g", "a", r#","rpm":2"#), dep("g", "b", r#","rpm":3"#)],
        r#""routing_strategy":"usage-based-routing""#,
    );
    s.reply("a", Reply::json(200, OK));
    s.reply("b", Reply::json(200, OK));
    for _ in 0..5 {
        s.chat("g").unwrap();
    }
    assert_eq!((s.calls("a"), s.calls("b")), (2, 3));
    assert_eq!(s.chat("g").err().unwrap().status(), 429);
    s.clock.advance(60_000.0);
    assert!(s.chat("g").is_ok(), "a new minute");
}

#[test]
fn least_busy_sees_streams_in_flight() {
    let s = setup(
        &[dep("g", "a", ""), dep("g", "b", "")],
        r#""routing_strategy":"least-busy""#,
    );
    let chunks = || {
        Reply::Stream(vec![
            Ok(b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n".to_vec()),
            Ok(b"data: [DONE]\n\n".to_vec()),
        ])
    };
    s.reply("a", chunks());
    s.reply("b", chunks());
    let stream_req = json!({"model":"g","stream":true,"messages":[{"role":"user","content":"x"}]});
    let first = s.ask(stream_req.clone()).unwrap();
    let second = s.ask(stream_req.clone()).unwrap();
    assert_ne!(
        first.deployment_id, second.deployment_id,
        "the busy one is avoided"
    );
    let third_before_end = s.ask(stream_req.clone()).unwrap();
    // both have one in flight: either may be picked; finish all three
    for r in [first, second, third_before_end] {
        if let RoutedBody::Stream(st) = r.body {
            block_on(st.collect::<Vec<_>>());
        }
    }
    let now = s.clock.now_ms();
    assert_eq!(
        s.router.state.snapshot("a", now).in_flight + s.router.state.snapshot("b", now).in_flight,
        0
    );
}

#[test]
fn latency_based_moves_to_the_faster_deployment() {
    let s = setup(
        &[dep("g", "slow", ""), dep("g", "fast", "")],
        r#""routing_strategy":"latency-based-routing""#,
    );
    s.reply("slow", Reply::After(900, Box::new(Reply::json(200, OK))));
    s.reply("fast", Reply::After(50, Box::new(Reply::json(200, OK))));
    for _ in 0..20 {
        s.chat("g").unwrap();
    }
    assert!(
        s.calls("slow") <= 1,
        "measured once, then avoided: {}",
        s.calls("slow")
    );
    assert!(s.calls("fast") >= 19);
}

#[test]
fn latency_buffer_spreads_the_load() {
    let s = setup(
        &[dep("g", "a", ""), dep("g", "b", "")],
        r#""routing_strategy":"latency-based-routing","routing_strategy_args":{"lowest_latency_buffer":0.5}"#,
    );
    s.reply("a", Reply::After(100, Box::new(Reply::json(200, OK))));
    s.reply("b", Reply::After(120, Box::new(Reply::json(200, OK))));
    for _ in 0..100 {
        s.chat("g").unwrap();
    }
    assert!(
        s.calls("a") > 20 && s.calls("b") > 20,
        "{} / {}",
        s.calls("a"),
        s.calls("b")
    );
}

#[test]
fn cost_based_prefers_cheap_and_substitutes_only_when_opted_in() {
    let gpt4 = r#"{"model_name":"gpt-4","litellm_params":{"model":"openai/gpt-4","api_base":"http://big.test/v1"},"model_info":{"id":"big"}}"#;
    let cheap = r#"{"model_name":"gpt-3.5-turbo","litellm_params":{"model":"openai/gpt-3.5-turbo","api_base":"http://cheap.test/v1"},"model_info":{"id":"cheap"}}"#;
    let s = setup(
        &[gpt4.into(), cheap.into()],
        r#""routing_strategy":"cost-based-routing""#,
    );
    s.reply("big", Reply::json(200, OK));
    s.reply("cheap", Reply::json(200, OK));
    assert_eq!(
        s.chat("gpt-4").unwrap().group,
        "gpt-4",
        "no silent substitution"
    );
    let s = setup(
        &[gpt4.into(), cheap.into()],
        r#""routing_strategy":"cost-based-routing","cost_substitutes":{"gpt-4":["gpt-3.5-turbo"]}"#,
    );
    s.reply("big", Reply::json(200, OK));
    s.reply("cheap", Reply::json(200, OK));
    let r = s.chat("gpt-4").unwrap();
    assert_eq!(
        r.group, "gpt-3.5-turbo",
        "the header names the group that served"
    );
    assert_eq!(r.deployment_id, "cheap");
}

#[test]
fn pre_call_check_picks_the_larger_deployment_or_uses_context_fallbacks() {
    let small = r#"{"model_name":"g","litellm_params":{"model":"openai/m","api_base":"http://small.test/v1"},"model_info":{"id":"small","max_input_tokens":50}}"#;
    let large = r#"{"model_name":"g","litellm_params":{"model":"openai/m","api_base":"http://large.test/v1"},"model_info":{"id":"large","max_input_tokens":5000}}"#;
    let huge = r#"{"model_name":"huge","litellm_params":{"model":"openai/m","api_base":"http://huge.test/v1"},"model_info":{"id":"huge","max_input_tokens":100000}}"#;
    let s = setup(
        &[small.into(), large.into(), huge.into()],
        r#""enable_pre_call_checks":true,"context_window_fallbacks":[{"g":["huge"]}]"#,
    );
    for n in ["small", "large", "huge"] {
        s.reply(n, Reply::json(200, OK));
    }
    let long = "word ".repeat(400);
    for _ in 0..10 {
        let r = s
            .ask(json!({"model":"g","messages":[{"role":"user","content": long}]}))
            .unwrap();
        assert_eq!(r.deployment_id, "large");
    }
    let longer = "word ".repeat(20_000);
    let r = s
        .ask(json!({"model":"g","messages":[{"role":"user","content": longer}]}))
        .unwrap();
    assert_eq!(r.deployment_id, "huge");
    assert_eq!(s.calls("small"), 0);
}

#[test]
fn tags_route_to_tagged_deployments() {
    let s = setup(
        &[
            dep("g", "eu", r#","tags":["eu"]"#),
            dep("g", "us", r#","tags":["us"]"#),
        ],
        "",
    );
    s.reply("eu", Reply::json(200, OK));
    s.reply("us", Reply::json(200, OK));
    for _ in 0..10 {
        let r = s.ask(json!({"model":"g","messages":[{"role":"user","content":"x"}],"metadata":{"tags":["eu"]}})).unwrap();
        assert_eq!(r.deployment_id, "eu");
    }
}

// ---- streams ----

#[test]
fn a_stream_that_fails_before_its_first_byte_fails_over() {
    let s = setup(
        &[dep("g", "a", ""), dep("f", "b", "")],
        r#""num_retries":0,"fallbacks":["f"]"#,
    );
    s.reply("a", Reply::Stream(vec![Err("reset".into())]));
    s.reply(
        "b",
        Reply::Stream(vec![Ok(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\ndata: [DONE]\n\n".to_vec(),
        )]),
    );
    let r = s
        .ask(json!({"model":"g","stream":true,"messages":[{"role":"user","content":"x"}]}))
        .unwrap();
    assert_eq!(r.group, "f");
    let RoutedBody::Stream(st) = r.body else {
        panic!()
    };
    let text = String::from_utf8(block_on(st.collect::<Vec<_>>()).concat()).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[test]
fn a_silent_stream_times_out_on_stream_timeout_and_fails_over() {
    let s = setup(
        &[dep("g", "a", r#","stream_timeout":2"#), dep("g", "b", "")],
        r#""num_retries":1"#,
    );
    s.reply("a", Reply::Hang);
    s.reply(
        "b",
        Reply::Stream(vec![Ok(b"data: {\"x\":1}\n\ndata: [DONE]\n\n".to_vec())]),
    );
    let started = s.clock.now_ms();
    for _ in 0..10 {
        let r = s
            .ask(json!({"model":"g","stream":true,"messages":[{"role":"user","content":"x"}]}))
            .unwrap();
        assert_eq!(r.deployment_id, "b");
    }
    // The silent attempt lasted its 2 s, not the 600 s `timeout`, and cooled the deployment
    // down at once: the other nine requests went straight to b.
    let waited = s.clock.now_ms() - started;
    assert_eq!(s.calls("a"), 1);
    assert!((2_000.0..=2_100.0).contains(&waited), "waited {waited} ms");
}

#[test]
fn a_silent_deployment_is_not_asked_again_when_a_fallback_can_take_the_request() {
    let s = setup(
        &[dep("g", "silent", r#","timeout":30"#), dep("f", "fb", "")],
        r#""num_retries":2,"fallbacks":[{"g":["f"]}]"#,
    );
    s.reply("silent", Reply::Hang);
    s.reply("fb", Reply::json(200, OK));
    let started = s.clock.now_ms();
    let r = s.chat("g").unwrap();
    assert_eq!(r.group, "f");
    assert_eq!(s.calls("silent"), 1, "one 30 s silence, not three");
    assert_eq!(r.attempted_retries, 0);
    assert_eq!(s.clock.now_ms() - started, 30_000.0);
    assert!(s.cooling("silent"), "cooled at once");
}

#[test]
fn a_silent_deployment_is_skipped_after_another_fails_too() {
    let s = setup(
        &[
            dep("g", "silent", r#","timeout":30"#),
            dep("g", "broken", ""),
            dep("f", "fb", ""),
        ],
        r#""num_retries":3,"fallbacks":[{"g":["f"]}],"cooldown_time":0"#,
    );
    s.reply("silent", Reply::Hang);
    s.reply("broken", err(500));
    s.reply("fb", Reply::json(200, OK));
    let mut silences = 0;
    for _ in 0..10 {
        let before = s.calls("silent");
        assert_eq!(s.chat("g").unwrap().group, "f");
        // At most one silence a request: the retries went to `broken`, never back to it.
        assert!(s.calls("silent") - before <= 1);
        silences += s.calls("silent") - before;
    }
    assert!(silences > 0, "the pick never met the silent one");
    assert_eq!(s.calls("fb"), 10);
}

#[test]
fn without_another_path_a_silent_deployment_is_still_retried() {
    let s = setup(&[dep("g", "a", r#","timeout":5"#)], r#""num_retries":2"#);
    s.reply("a", Reply::Hang);
    s.reply("a", Reply::Hang);
    s.reply("a", Reply::json(200, OK));
    assert_eq!(s.chat("g").unwrap().deployment_id, "a");
    assert_eq!(s.calls("a"), 3);
}

#[test]
fn stream_usage_is_counted_at_the_end() {
    let s = setup(
        &[dep(
            "g",
            "a",
            r#","input_cost_per_token":0.5,"output_cost_per_token":1.0"#,
        )],
        "",
    );
    s.reply(
        "a",
        Reply::Stream(vec![Ok(b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n".to_vec())]),
    );
    let r = s
        .ask(json!({"model":"g","stream":true,"messages":[{"role":"user","content":"x"}]}))
        .unwrap();
    let RoutedBody::Stream(st) = r.body else {
        panic!()
    };
    let text = String::from_utf8(block_on(st.collect::<Vec<_>>()).concat()).unwrap();
    assert!(
        !text.contains("prompt_tokens"),
        "client did not ask for usage"
    );
    let stats = s.router.get_usage_stats();
    assert_eq!(stats["total_tokens"], 5);
    assert_eq!(stats["total_cost"], 4.0);
}

// ---- accounting and errors ----

#[test]
fn cost_and_usage_are_recorded_for_the_deployment_that_answered() {
    let s = setup(
        &[
            dep(
                "g",
                "a",
                r#","input_cost_per_token":0.001,"output_cost_per_token":0.002"#,
            ),
            dep("f", "b", ""),
        ],
        r#""num_retries":0,"fallbacks":["f"]"#,
    );
    s.reply("a", Reply::json(200, OK));
    let r = s.chat("g").unwrap();
    assert_eq!(r.response_cost, Some(10.0 * 0.001 + 5.0 * 0.002));
    let stats = s.router.get_usage_stats();
    assert_eq!(stats["total_requests"], 1);
    assert_eq!(stats["total_tokens"], 15);
    s.router.reset_cost();
    assert_eq!(s.router.get_usage_stats()["total_cost"], 0.0);
    assert_eq!(
        s.router.get_usage_stats()["total_tokens"],
        15,
        "reset_cost keeps tokens"
    );
}

#[test]
fn failed_attempts_are_not_billed() {
    let s = setup(
        &[
            dep("g", "a", r#","input_cost_per_token":1"#),
            dep("f", "b", r#","input_cost_per_token":1"#),
        ],
        r#""num_retries":0,"fallbacks":["f"]"#,
    );
    s.reply("a", err(500));
    s.reply("b", Reply::json(200, OK));
    s.chat("g").unwrap();
    let stats = s.router.get_usage_stats();
    let per = stats["deployments"].as_array().unwrap();
    let a = per.iter().find(|d| d["id"] == "a").unwrap();
    let b = per.iter().find(|d| d["id"] == "b").unwrap();
    assert_eq!(a["cost"], 0.0);
    assert_eq!(a["failures"], 1);
    assert_eq!(
        b["cost"].as_f64().unwrap(),
        10.0 + 5.0,
        "prompt 10 x 1 + completion 5 x 1 (output defaults to input)"
    );
}

#[test]
fn upstream_401_is_not_the_clients_401() {
    let s = setup(&[dep("g", "a", "")], "");
    s.reply("a", err(401));
    let e = s.chat("g").err().unwrap();
    assert_eq!(e.status(), 502);
    assert_eq!(e.code(), Some("upstream_authentication_error"));
}

// ---- provider models called by name ----

fn setup_with_secrets(
    deployments: &[String],
    settings: &str,
    secrets: &'static [(&'static str, &'static str)],
) -> Setup {
    let text = format!(
        r#"{{"model_list":[{}],"router_settings":{{{settings}}}}}"#,
        deployments.join(",")
    );
    let mut f = Fixture::mid_minute().seed(7);
    for (k, v) in secrets {
        f = f.secret(k, v);
    }
    let router = f.router(&text);
    let (up, clock) = (f.up, f.clock);
    Setup { up, clock, router }
}

#[test]
fn a_provider_model_a_client_names_is_served_only_by_a_wildcard_deployment() {
    // With the provider's key in the environment but no wildcard: not served, no state made.
    let s = setup_with_secrets(
        &[dep("g", "a", "")],
        "",
        &[("OPENAI_API_KEY", "sk-env-openai")],
    );
    for name in ["gpt-3.5-turbo", "openai/made-up-1", "openai/made-up-2"] {
        assert!(matches!(
            s.chat(name).err().unwrap(),
            Error::ModelNotFound { .. }
        ));
    }
    assert!(s.up.calls.borrow().is_empty());
    assert!(s.router.state.totals().iter().all(|(id, _)| id == "a"));
    // A wildcard deployment serves them with its own api_base and key, the model substituted,
    // all in its one state object.
    let s = setup(
        &[
            dep("g", "a", ""),
            r#"{"model_name":"openai/*","litellm_params":{"model":"openai/*","api_base":"http://wild.test/v1","api_key":"sk-wild"},"model_info":{"id":"wild"}}"#.to_string(),
            r#"{"model_name":"*","litellm_params":{"model":"openai/*","api_base":"http://any.test/v1"},"model_info":{"id":"any"}}"#.to_string(),
        ],
        "",
    );
    for _ in 0..3 {
        s.reply("wild", Reply::json(200, OK));
    }
    s.reply("any", Reply::json(200, OK));
    for name in ["openai/x-1", "openai/x-2", "openai/x-3"] {
        assert_eq!(
            s.chat(name).unwrap().deployment_id,
            "wild",
            "the most specific wildcard"
        );
    }
    assert_eq!(s.chat("local-model").unwrap().deployment_id, "any");
    let calls = s.up.calls.borrow();
    let sent: Vec<String> = calls
        .iter()
        .map(|c| {
            serde_json::from_slice::<Value>(&c.body).unwrap()["model"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(sent, vec!["x-1", "x-2", "x-3", "local-model"]);
    assert!(calls[0]
        .headers
        .contains(&("authorization", "Bearer sk-wild".to_string())));
    drop(calls);
    let ids: Vec<String> = s
        .router
        .state
        .totals()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, vec!["any".to_string(), "wild".to_string()]);
}

#[test]
fn the_routers_fallbacks_may_name_provider_models() {
    let s = setup_with_secrets(
        &[dep("gpt-4", "a", "")],
        r#""num_retries":0,"fallbacks":["gpt-3.5-turbo","claude-3-haiku-20240307"]"#,
        &[("ANTHROPIC_API_KEY", "sk-ant-env")],
    );
    s.reply("a", err(503));
    s.up.push(
        "https://api.anthropic.com/v1/messages",
        Reply::json(200, r#"{"id":"m","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}"#),
    );
    let r = s.chat("gpt-4").unwrap();
    assert_eq!(
        r.group, "claude-3-haiku-20240307",
        "gpt-3.5-turbo has no key here: skipped"
    );
    assert!(s
        .up
        .calls
        .borrow()
        .iter()
        .any(|c| c.headers.contains(&("x-api-key", "sk-ant-env".to_string()))));
}

// ---- tenants: what a client's body may not do ----

impl Setup {
    fn ask_as(&self, body: Value, allowed: &[&str]) -> Result<Routed, Error> {
        let mut req = ModelRequest::parse(body.to_string().as_bytes()).unwrap();
        req.allowed_models = Some(allowed.iter().map(|s| s.to_string()).collect());
        block_on(self.router.completion(&req))
    }
}

#[test]
fn a_key_allowlist_holds_for_body_and_config_fallbacks() {
    let s = setup(
        &[dep("cheap", "a", ""), dep("private", "p", "")],
        r#""num_retries":0,"fallbacks":[{"cheap":["private"]}]"#,
    );
    for _ in 0..3 {
        s.reply("a", err(500));
    }
    s.reply("p", Reply::json(200, OK));
    let hello = json!([{"role": "user", "content": "hello"}]);
    // The config's fallback and the body's own are both skipped for a key limited to cheap.
    let e = s
        .ask_as(json!({"model": "cheap", "messages": hello}), &["cheap"])
        .err()
        .unwrap();
    assert!(e.message().contains("status 500"), "{}", e.message());
    let e = s
        .ask_as(
            json!({"model": "cheap", "messages": hello, "fallbacks": ["private", "p"]}),
            &["cheap"],
        )
        .err()
        .unwrap();
    assert_eq!(s.calls("p"), 0, "private was never called");
    // Called by deployment id, the group it belongs to is what counts.
    let e2 = s
        .ask_as(json!({"model": "p", "messages": hello}), &["cheap"])
        .err()
        .unwrap();
    assert_eq!(e2.status(), 403);
    assert_eq!(s.calls("p"), 0);
    // A key that may use private gets the fallback.
    assert_eq!(
        s.ask_as(
            json!({"model": "cheap", "messages": hello}),
            &["cheap", "private"]
        )
        .unwrap()
        .deployment_id,
        "p"
    );
    let _ = e;
}

#[test]
fn a_client_deadline_shorter_than_the_deployments_never_cools_it_down() {
    let s = setup(
        &[
            dep("g", "a", r#","timeout":30"#),
            dep("g", "b", r#","timeout":30"#),
        ],
        r#""allowed_fails":1,"num_retries":0,"cooldown_time":30"#,
    );
    for _ in 0..10 {
        s.reply("a", Reply::Hang);
        s.reply("b", Reply::Hang);
        let e = s
            .ask(json!({"model":"g","messages":[{"role":"user","content":"x"}],"timeout":0.001}))
            .err()
            .unwrap();
        assert_eq!(e.class(), Some(crate::error::ErrorClass::Timeout));
    }
    let now = s.clock.now_ms();
    for id in ["a", "b"] {
        assert!(!s.cooling(id), "{id} cooled by a client's own deadline");
        let snap = s.router.state.snapshot(id, now);
        assert_eq!(snap.fails_this_minute, 0, "{id}: no failure counted");
        assert_eq!(snap.in_flight, 0, "{id}: the slot was freed");
    }
    // The deployment's own deadline still counts.
    let s = setup(
        &[dep("g", "a", r#","timeout":1"#), dep("g", "b", "")],
        r#""allowed_fails":1,"num_retries":0,"cooldown_time":30"#,
    );
    for _ in 0..2 {
        s.reply("a", Reply::Hang);
        let _ = s.ask(json!({"model":"a","messages":[{"role":"user","content":"x"}],"timeout":5}));
    }
    assert!(s.cooling("a"));
}

#[test]
fn a_deployment_called_by_id_obeys_max_parallel_requests() {
    let s = setup(
        &[
            dep("g", "a", r#","max_parallel_requests":1"#),
            dep("g", "b", ""),
        ],
        r#""num_retries":0"#,
    );
    // One call holds a's only slot.
    s.router.state.call_started("a", s.clock.now_ms());
    s.reply("a", Reply::json(200, OK));
    let e = s.chat("a").err().unwrap();
    assert_eq!(e.status(), 429, "{e:?}");
    assert_eq!(s.calls("a"), 0);
}
