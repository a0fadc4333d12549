//! `GET /metrics`: the usage statistics in Prometheus' text format.

use crate::router::usage::{DeploymentUsage, UsageStats};

/// Call durations as a Prometheus histogram: cumulative `_bucket`s in seconds, `_sum`, `_count`.
fn duration_histogram(
    deployments: &[DeploymentUsage],
    base: &dyn Fn(&DeploymentUsage) -> String,
) -> String {
    let name = "switchyard_call_duration_seconds";
    let mut out = format!(
        "# HELP {name} Upstream call durations, start to last byte.\n# TYPE {name} histogram\n"
    );
    for d in deployments {
        let count = |i: usize| d.duration_counts.get(i).copied().unwrap_or(0);
        let labels = base(d);
        let mut running = 0u64;
        for (i, b) in d.duration_buckets_ms.iter().enumerate() {
            running += count(i);
            out.push_str(&format!(
                "{name}_bucket{{{labels},le=\"{}\"}} {running}\n",
                b / 1000.0
            ));
        }
        let total = running + count(d.duration_buckets_ms.len());
        out.push_str(&format!("{name}_bucket{{{labels},le=\"+Inf\"}} {total}\n"));
        out.push_str(&format!(
            "{name}_sum{{{labels}}} {}\n",
            d.duration_sum_ms / 1000.0
        ));
        out.push_str(&format!("{name}_count{{{labels}}} {total}\n"));
    }
    out
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The usage statistics in Prometheus' text format (one family per figure, per deployment).
pub fn prometheus(stats: &UsageStats) -> String {
    let deployments = &stats.deployments;
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, f64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, v) in rows {
            out.push_str(&format!("{name}{{{labels}}} {v}\n"));
        }
    };
    let base = |d: &DeploymentUsage| {
        format!(
            "model_group=\"{}\",deployment=\"{}\"",
            label(&d.model_name),
            label(&d.id)
        )
    };
    let per = |f: &dyn Fn(&DeploymentUsage) -> f64| {
        deployments
            .iter()
            .map(|d| (base(d), f(d)))
            .collect::<Vec<_>>()
    };
    family(
        "switchyard_requests_total",
        "counter",
        "Upstream calls started.",
        per(&|d| d.requests as f64),
    );
    family(
        "switchyard_successes_total",
        "counter",
        "Upstream calls that succeeded.",
        per(&|d| d.successes as f64),
    );
    let failures = deployments
        .iter()
        .flat_map(|d| {
            d.failures_by_class.iter().map(move |(class, n)| {
                (format!("{},class=\"{}\"", base(d), label(class)), *n as f64)
            })
        })
        .collect();
    family(
        "switchyard_failures_total",
        "counter",
        "Upstream calls that failed, by error class.",
        failures,
    );
    let tokens = deployments
        .iter()
        .flat_map(|d| {
            [
                (
                    format!("{},kind=\"prompt\"", base(d)),
                    d.prompt_tokens as f64,
                ),
                (
                    format!("{},kind=\"completion\"", base(d)),
                    d.completion_tokens as f64,
                ),
            ]
        })
        .collect();
    family("switchyard_tokens_total", "counter", "Tokens used.", tokens);
    family(
        "switchyard_cost_usd_total",
        "counter",
        "Spend in USD since the last reset.",
        per(&|d| d.cost),
    );
    family(
        "switchyard_cooldowns_total",
        "counter",
        "Times the deployment was cooled down.",
        per(&|d| d.cooldowns as f64),
    );
    family(
        "switchyard_in_flight",
        "gauge",
        "Calls in flight.",
        per(&|d| f64::from(d.in_flight)),
    );
    family(
        "switchyard_cooldown_remaining_seconds",
        "gauge",
        "Seconds until the deployment is back.",
        per(&|d| d.cooldown_remaining_s),
    );
    family(
        "switchyard_requests_this_minute",
        "gauge",
        "Requests this minute (rpm used).",
        per(&|d| d.rpm_used as f64),
    );
    family(
        "switchyard_tokens_this_minute",
        "gauge",
        "Tokens this minute (tpm used).",
        per(&|d| d.tpm_used as f64),
    );
    let latency = deployments
        .iter()
        .filter_map(|d| d.latency_ms.map(|l| (base(d), l)))
        .collect();
    let mut retries = Vec::new();
    let mut fallbacks = Vec::new();
    let mut hedges = Vec::new();
    let mut hedge_wins = Vec::new();
    let mut continued = Vec::new();
    for (group, t) in &stats.groups {
        let l = format!("model_group=\"{}\"", label(group));
        retries.push((l.clone(), t.retries as f64));
        fallbacks.push((l.clone(), t.fallbacks as f64));
        hedges.push((l.clone(), t.hedges as f64));
        hedge_wins.push((l.clone(), t.hedge_wins as f64));
        continued.push((l, t.continued as f64));
    }
    family(
        "switchyard_retries_total",
        "counter",
        "Retries, by requested model group (this isolate).",
        retries,
    );
    family(
        "switchyard_fallbacks_total",
        "counter",
        "Fallback groups tried, by requested model group (this isolate).",
        fallbacks,
    );
    family(
        "switchyard_hedges_total",
        "counter",
        "Requests that sent a hedged second attempt, by requested model group (this isolate).",
        hedges,
    );
    family(
        "switchyard_hedge_wins_total",
        "counter",
        "Hedged requests the second attempt served, by requested model group (this isolate).",
        hedge_wins,
    );
    family(
        "switchyard_stream_continuations_total",
        "counter",
        "Streams broken after the client saw tokens and finished by another deployment, by requested model group (this isolate).",
        continued,
    );
    family(
        "switchyard_latency_ms",
        "gauge",
        "Mean of recent latency samples (ms per output token, or time to first token).",
        latency,
    );
    out.push_str(&duration_histogram(deployments, &base));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::ModelRequest;
    use crate::testing::{Fixture, Reply, ScriptedUpstream};
    use futures::executor::block_on;
    use std::rc::Rc;

    const OK: &str =
        r#"{"id":"ok","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5}}"#;

    /// The value of the sample `name{labels}`.
    fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name_and_labels))
            .and_then(|v| v.trim().parse().ok())
    }

    #[test]
    fn prometheus_renders_the_routers_own_statistics() {
        let up = Rc::new(ScriptedUpstream::default());
        let text = r#"{"model_list":[{"model_name":"g\"1","litellm_params":{"model":"openai/m","api_base":"http://a.test/v1","input_cost_per_token":0.01},"model_info":{"id":"d\\1"}}],
            "router_settings":{"num_retries":1}}"#;
        let router = Fixture::at(5_000.0).upstream(&up).router(text);
        up.push(
            "http://a.test/v1/chat/completions",
            Reply::json(
                429,
                r#"{"error":{"message":"slow down","type":"x","param":null,"code":null}}"#,
            ),
        );
        up.push("http://a.test/v1/chat/completions", Reply::json(200, OK));
        let req =
            ModelRequest::parse(br#"{"model":"g\"1","messages":[{"role":"user","content":"x"}]}"#)
                .unwrap();
        block_on(router.completion(&req)).unwrap();
        let text = prometheus(&router.usage_stats());
        let d = r#"model_group="g\"1",deployment="d\\1""#;
        assert_eq!(
            sample(&text, &format!("switchyard_requests_total{{{d}}}")),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, &format!("switchyard_successes_total{{{d}}}")),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                &format!("switchyard_failures_total{{{d},class=\"rate_limit\"}}")
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                &format!("switchyard_tokens_total{{{d},kind=\"completion\"}}")
            ),
            Some(5.0)
        );
        let cost = sample(&text, &format!("switchyard_cost_usd_total{{{d}}}")).unwrap();
        assert!((cost - 0.15).abs() < 1e-12, "{cost}");
        assert_eq!(
            sample(&text, "switchyard_retries_total{model_group=\"g\\\"1\"}"),
            Some(1.0)
        );
        assert!(text
            .lines()
            .all(|l| l.starts_with('#') || l.starts_with("switchyard_")));
        // The log line reads the same numbers.
        let line = router.print_deployment_metrics();
        assert!(line.contains("requests=2 success=50.0%"), "{line}");
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
