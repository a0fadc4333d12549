//! `GET /metrics`: the usage statistics in Prometheus' text format.

use serde_json::Value;

/// Call durations as a Prometheus histogram: cumulative `_bucket`s in seconds, `_sum`, `_count`.
fn duration_histogram(deployments: &[Value], base: &dyn Fn(&Value) -> String) -> String {
    let name = "switchyard_call_duration_seconds";
    let bounds = crate::state::DURATION_BUCKETS_MS;
    let mut out = format!(
        "# HELP {name} Upstream call durations, start to last byte.\n# TYPE {name} histogram\n"
    );
    for d in deployments {
        let counts: Vec<f64> = d["duration_counts"]
            .as_array()
            .map(|a| a.iter().map(|c| c.as_f64().unwrap_or(0.0)).collect())
            .unwrap_or_default();
        let labels = base(d);
        let mut running = 0.0;
        for (i, b) in bounds.iter().enumerate() {
            running += counts.get(i).copied().unwrap_or(0.0);
            out.push_str(&format!(
                "{name}_bucket{{{labels},le=\"{}\"}} {running}\n",
                b / 1000.0
            ));
        }
        let total = running + counts.get(bounds.len()).copied().unwrap_or(0.0);
        out.push_str(&format!("{name}_bucket{{{labels},le=\"+Inf\"}} {total}\n"));
        out.push_str(&format!(
            "{name}_sum{{{labels}}} {}\n",
            d["duration_sum_ms"].as_f64().unwrap_or(0.0) / 1000.0
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
pub fn prometheus(stats: &Value) -> String {
    let deployments = stats["deployments"].as_array().cloned().unwrap_or_default();
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, f64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, v) in rows {
            out.push_str(&format!("{name}{{{labels}}} {v}\n"));
        }
    };
    let base = |d: &Value| {
        format!(
            "model_group=\"{}\",deployment=\"{}\"",
            label(d["model_name"].as_str().unwrap_or("")),
            label(d["id"].as_str().unwrap_or(""))
        )
    };
    let num = |d: &Value, k: &str| d[k].as_f64().unwrap_or(0.0);
    let per = |k: &str| {
        deployments
            .iter()
            .map(|d| (base(d), num(d, k)))
            .collect::<Vec<_>>()
    };
    family(
        "switchyard_requests_total",
        "counter",
        "Upstream calls started.",
        per("requests"),
    );
    family(
        "switchyard_successes_total",
        "counter",
        "Upstream calls that succeeded.",
        per("successes"),
    );
    let mut failures = Vec::new();
    for d in &deployments {
        if let Some(m) = d["failures_by_class"].as_object() {
            for (class, n) in m {
                failures.push((
                    format!("{},class=\"{}\"", base(d), label(class)),
                    n.as_f64().unwrap_or(0.0),
                ));
            }
        }
    }
    family(
        "switchyard_failures_total",
        "counter",
        "Upstream calls that failed, by error class.",
        failures,
    );
    let mut tokens = Vec::new();
    for d in &deployments {
        tokens.push((
            format!("{},kind=\"prompt\"", base(d)),
            num(d, "prompt_tokens"),
        ));
        tokens.push((
            format!("{},kind=\"completion\"", base(d)),
            num(d, "completion_tokens"),
        ));
    }
    family("switchyard_tokens_total", "counter", "Tokens used.", tokens);
    family(
        "switchyard_cost_usd_total",
        "counter",
        "Spend in USD since the last reset.",
        per("cost"),
    );
    family(
        "switchyard_cooldowns_total",
        "counter",
        "Times the deployment was cooled down.",
        per("cooldowns"),
    );
    family(
        "switchyard_in_flight",
        "gauge",
        "Calls in flight.",
        per("in_flight"),
    );
    family(
        "switchyard_cooldown_remaining_seconds",
        "gauge",
        "Seconds until the deployment is back.",
        per("cooldown_remaining_s"),
    );
    family(
        "switchyard_requests_this_minute",
        "gauge",
        "Requests this minute (rpm used).",
        per("rpm_used"),
    );
    family(
        "switchyard_tokens_this_minute",
        "gauge",
        "Tokens this minute (tpm used).",
        per("tpm_used"),
    );
    let latency = deployments
        .iter()
        .filter(|d| d["latency_ms"].is_number())
        .map(|d| (base(d), num(d, "latency_ms")))
        .collect();
    let mut retries = Vec::new();
    let mut fallbacks = Vec::new();
    for (group, t) in stats["groups"].as_object().into_iter().flatten() {
        let l = format!("model_group=\"{}\"", label(group));
        retries.push((l.clone(), t["retries"].as_f64().unwrap_or(0.0)));
        fallbacks.push((l, t["fallbacks"].as_f64().unwrap_or(0.0)));
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
        "switchyard_latency_ms",
        "gauge",
        "Mean of recent latency samples (ms per output token, or time to first token).",
        latency,
    );
    out.push_str(&duration_histogram(&deployments, &base));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prometheus_text_escapes_labels_and_lists_every_family() {
        let stats = json!({"deployments": [{
            "id": "d\"1\\x", "model_name": "g\nroup", "requests": 3, "successes": 2,
            "failures_by_class": {"rate_limit": 1}, "prompt_tokens": 10, "completion_tokens": 5,
            "cost": 0.25, "cooldowns": 1, "in_flight": 0, "cooldown_remaining_s": 0.0,
            "rpm_used": 3, "tpm_used": 15, "latency_ms": 12.5
        }]});
        let text = prometheus(&stats);
        assert!(
            text.contains(r#"model_group="g\nroup",deployment="d\"1\\x""#),
            "{text}"
        );
        for family in [
            "requests_total",
            "failures_total",
            "tokens_total",
            "cost_usd_total",
            "cooldowns_total",
            "in_flight",
            "latency_ms",
        ] {
            assert!(
                text.contains(&format!("# TYPE switchyard_{family} ")),
                "{family}"
            );
        }
        assert!(text.contains(r#"class="rate_limit"} 1"#));
        assert!(text.contains(r#"kind="completion"} 5"#));
        assert!(text
            .lines()
            .all(|l| l.starts_with('#') || l.starts_with("switchyard_")));
    }
}
