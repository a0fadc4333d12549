use super::*;
use crate::config::Config;
use crate::error::ErrorClass;
use crate::state::Outcome;
use crate::stores::MemoryState;

fn config(deployments: &[&str], settings: &str) -> Config {
    let list: Vec<String> = deployments
        .iter()
        .enumerate()
        .map(|(i, extra)| {
            format!(r#"{{"model_name":"g","litellm_params":{{"model":"openai/m{i}"{extra}}},"model_info":{{"id":"d{i}"}}}}"#)
        })
        .collect();
    Config::from_text(
        &format!(
            r#"{{"model_list":[{}],"router_settings":{{{settings}}}}}"#,
            list.join(",")
        ),
        &|_: &str| None,
    )
    .unwrap()
}

fn ids(c: &Result<Vec<Candidate<'_>>, Error>) -> Vec<String> {
    c.as_ref().unwrap().iter().map(|c| c.d.id.clone()).collect()
}

fn run(
    cfg: &Config,
    state: &MemoryState,
    now: f64,
    facts: &RequestFacts<'_>,
) -> Result<Vec<String>, Error> {
    let ds: Vec<&Deployment> = cfg.deployments.iter().collect();
    let r = candidates("g", &ds, state, now, &cfg.router, facts);
    r.as_ref().map_err(Clone::clone)?;
    Ok(ids(&r))
}

fn state() -> MemoryState {
    MemoryState::new(1e12, 10)
}

#[test]
fn cooling_deployments_are_skipped_and_all_cooling_is_429_with_soonest_end() {
    let cfg = config(&["", ""], "");
    let s = state();
    s.cool_down("d0", 5_000.0);
    assert_eq!(
        run(&cfg, &s, 1_000.0, &RequestFacts::default()).unwrap(),
        vec!["d1"]
    );
    s.cool_down("d1", 3_000.0);
    match run(&cfg, &s, 1_000.0, &RequestFacts::default()).unwrap_err() {
        Error::NoDeploymentAvailable { retry_after_ms, .. } => assert_eq!(retry_after_ms, 2_000),
        e => panic!("{e:?}"),
    }
    assert_eq!(
        run(&cfg, &s, 5_000.0, &RequestFacts::default()).unwrap(),
        vec!["d0", "d1"],
        "cooldowns end"
    );
}

#[test]
fn failed_deployments_are_skipped_while_others_remain() {
    let cfg = config(&["", ""], "");
    let s = state();
    let failed = vec!["d0".to_string()];
    let facts = RequestFacts {
        failed: &failed,
        ..Default::default()
    };
    assert_eq!(run(&cfg, &s, 0.0, &facts).unwrap(), vec!["d1"]);
    let both = vec!["d0".to_string(), "d1".to_string()];
    let facts = RequestFacts {
        failed: &both,
        ..Default::default()
    };
    assert_eq!(
        run(&cfg, &s, 0.0, &facts).unwrap(),
        vec!["d0", "d1"],
        "all failed: retry among all"
    );
}

#[test]
fn order_prefers_the_lowest() {
    let cfg = config(&[r#","order":2"#, r#","order":1"#, ""], "");
    let s = state();
    assert_eq!(
        run(&cfg, &s, 0.0, &RequestFacts::default()).unwrap(),
        vec!["d1"]
    );
    s.cool_down("d1", 1e9);
    assert_eq!(
        run(&cfg, &s, 0.0, &RequestFacts::default()).unwrap(),
        vec!["d0"]
    );
    s.cool_down("d0", 1e9);
    assert_eq!(
        run(&cfg, &s, 0.0, &RequestFacts::default()).unwrap(),
        vec!["d2"],
        "unordered last"
    );
}

#[test]
fn tags_select_and_default_applies() {
    let cfg = config(
        &[
            r#","tags":["eu"]"#,
            r#","tags":["us","default"]"#,
            r#","tags":["us"]"#,
        ],
        "",
    );
    let s = state();
    let eu = vec!["eu".to_string()];
    assert_eq!(
        run(
            &cfg,
            &s,
            0.0,
            &RequestFacts {
                tags: &eu,
                ..Default::default()
            }
        )
        .unwrap(),
        vec!["d0"]
    );
    let us = vec!["us".to_string()];
    assert_eq!(
        run(
            &cfg,
            &s,
            0.0,
            &RequestFacts {
                tags: &us,
                ..Default::default()
            }
        )
        .unwrap(),
        vec!["d1", "d2"]
    );
    let none = vec!["asia".to_string()];
    assert_eq!(
        run(
            &cfg,
            &s,
            0.0,
            &RequestFacts {
                tags: &none,
                ..Default::default()
            }
        )
        .unwrap(),
        vec!["d1"],
        "unknown tag -> default"
    );
    assert_eq!(
        run(&cfg, &s, 0.0, &RequestFacts::default()).unwrap(),
        vec!["d1"],
        "no tags -> default"
    );
    let cfg = config(&[r#","tags":["eu"]"#], "");
    let e = run(
        &cfg,
        &s,
        0.0,
        &RequestFacts {
            tags: &none,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.status(), 400);
}

#[test]
fn pre_call_check_filters_small_context_windows() {
    let text = |checks: bool| {
        format!(
            r#"{{"model_list":[
                {{"model_name":"g","litellm_params":{{"model":"openai/a"}},"model_info":{{"id":"small","max_input_tokens":100}}}},
                {{"model_name":"g","litellm_params":{{"model":"openai/b"}},"model_info":{{"id":"big","max_input_tokens":10000}}}}],
              "router_settings":{{"enable_pre_call_checks":{checks}}}}}"#
        )
    };
    let cfg = Config::from_text(&text(true), &|_: &str| None).unwrap();
    let s = state();
    let facts = RequestFacts {
        prompt_tokens: 500,
        ..Default::default()
    };
    assert_eq!(run(&cfg, &s, 0.0, &facts).unwrap(), vec!["big"]);
    let facts = RequestFacts {
        prompt_tokens: 50_000,
        ..Default::default()
    };
    assert!(matches!(
        run(&cfg, &s, 0.0, &facts).unwrap_err(),
        Error::ContextWindowExceeded { .. }
    ));
    let off = Config::from_text(&text(false), &|_: &str| None).unwrap();
    assert_eq!(
        run(&off, &s, 0.0, &facts).unwrap(),
        vec!["small", "big"],
        "checks off: no filter"
    );
}

#[test]
fn max_parallel_requests_caps_in_flight() {
    let cfg = config(
        &[r#","max_parallel_requests":2"#, ""],
        r#""default_max_parallel_requests":1"#,
    );
    let s = state();
    s.call_started("d0", 0.0);
    s.call_started("d1", 0.0);
    assert_eq!(
        run(&cfg, &s, 0.0, &RequestFacts::default()).unwrap(),
        vec!["d0"]
    );
    s.call_started("d0", 0.0);
    assert!(matches!(
        run(&cfg, &s, 0.0, &RequestFacts::default()).unwrap_err(),
        Error::NoDeploymentAvailable { .. }
    ));
}

#[test]
fn rpm_and_tpm_limits_apply_to_usage_based_routing() {
    let cfg = config(
        &[r#","rpm":2"#, r#","tpm":100"#],
        r#""routing_strategy":"usage-based-routing-v2""#,
    );
    let s = state();
    let now = 60_000.0 * 10.0 + 15_000.0;
    s.call_started("d0", now);
    s.call_started("d0", now);
    let facts = RequestFacts {
        prompt_tokens: 60,
        ..Default::default()
    };
    assert_eq!(run(&cfg, &s, now, &facts).unwrap(), vec!["d1"]);
    s.call_started("d1", now);
    s.call_ended(
        "d1",
        &Outcome {
            group: "g".into(),
            error: None,
            prompt_tokens: 100,
            completion_tokens: 0,
            cost: 0.0,
            latency_ms: None,
            ttft_ms: None,
            duration_ms: 0.0,
            cancelled: false,
        },
        now,
    );
    match run(&cfg, &s, now, &facts).unwrap_err() {
        Error::NoDeploymentAvailable {
            retry_after_ms,
            reason,
            ..
        } => {
            assert_eq!(retry_after_ms, 45_000, "until the minute turns");
            assert!(reason.contains("limit"));
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(
        run(&cfg, &s, now + 45_000.0, &facts).unwrap(),
        vec!["d0", "d1"]
    );
    // simple-shuffle treats rpm as a weight, not a limit
    let shuffle = config(&[r#","rpm":2"#], "");
    s.call_started("d0", now);
    assert_eq!(run(&shuffle, &s, now, &facts).unwrap(), vec!["d0"]);
}

#[test]
fn deployment_max_retries_limits_attempts_at_it() {
    let cfg = config(&[r#","max_retries":0"#, ""], "");
    let s = state();
    let attempts = vec![("d0".to_string(), 1)];
    let facts = RequestFacts {
        attempts: &attempts,
        ..Default::default()
    };
    assert_eq!(run(&cfg, &s, 0.0, &facts).unwrap(), vec!["d1"]);
    let _ = ErrorClass::Timeout;
}
