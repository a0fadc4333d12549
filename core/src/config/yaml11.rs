//! YAML 1.1 spellings, as LiteLLM's parser (PyYAML) reads them: `20_000` is a number and
//! `yes` / `no` / `on` / `off` are booleans there, strings in YAML 1.2 (what this crate parses).
//! A parsed tree no longer says whether a scalar was quoted, so only the values of keys that
//! hold a number or a boolean are read again: a model named `no` stays a name.

use serde_json::{Number, Value};

/// Keys whose values are numbers (a retry policy's `...Retries` and `...AllowedFails` too).
const NUMERIC: &[&str] = &[
    "rpm",
    "tpm",
    "weight",
    "order",
    "timeout",
    "stream_timeout",
    "request_timeout",
    "num_retries",
    "max_retries",
    "max_parallel_requests",
    "default_max_parallel_requests",
    "allowed_fails",
    "cooldown_time",
    "max_fallbacks",
    "max_request_timeout",
    "max_request_num_retries",
    "max_request_fallbacks",
    "max_cache_ttl",
    "max_request_size_mb",
    "request_body_timeout",
    "health_check_timeout",
    "responses_ttl",
    "ttl",
    "max_tokens",
    "max_input_tokens",
    "max_output_tokens",
    "max_completion_tokens",
    "input_cost_per_token",
    "output_cost_per_token",
    "input_cost_per_character",
    "input_cost_per_second",
    "output_cost_per_image",
    "temperature",
    "top_p",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "lowest_latency_buffer",
    "max_latency_list_size",
    "base_delay",
    "max_delay",
    "backoff_factor",
    "redis_port",
    "client_ttl",
];

/// Keys whose values are booleans (and every `supports_...`).
const BOOLEAN: &[&str] = &[
    "cache",
    "cache_responses",
    "drop_params",
    "set_verbose",
    "enable_pre_call_checks",
    "enable_tag_filtering",
    "hedge_after",
    "request_log",
    "disable_spend_logs",
    "jitter",
    "hidden",
    "logprobs",
    "parallel_tool_calls",
];

/// Reads the YAML 1.1 spellings in `tree` the way PyYAML does.
pub(super) fn normalize(tree: &mut Value) {
    match tree {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if let Value::String(s) = v {
                    if let Some(read) = reread(key, s) {
                        *v = read;
                        continue;
                    }
                }
                normalize(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

fn reread(key: &str, s: &str) -> Option<Value> {
    let numeric =
        NUMERIC.contains(&key) || key.ends_with("Retries") || key.ends_with("AllowedFails");
    if numeric {
        return number(s).map(Value::Number);
    }
    if BOOLEAN.contains(&key) || key.starts_with("supports_") {
        return boolean(s).map(Value::Bool);
    }
    None
}

/// `20_000`, `1_000.5`, `-3`: YAML 1.1 integers and floats, `_` as a digit separator.
fn number(s: &str) -> Option<Number> {
    let t = s.trim();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if !digits.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let plain: String = t.chars().filter(|c| *c != '_').collect();
    if let Ok(i) = plain.parse::<i64>() {
        return Some(Number::from(i));
    }
    let f = plain.parse::<f64>().ok().filter(|f| f.is_finite())?;
    Number::from_f64(f)
}

fn boolean(s: &str) -> Option<bool> {
    match s.trim() {
        "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" | "true" | "True" | "TRUE" => {
            Some(true)
        }
        "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" | "false" | "False" | "FALSE" => {
            Some(false)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_booleans_as_pyyaml_reads_them_names_untouched() {
        let mut tree = json!({
            "model_list": [{"model_name": "no", "litellm_params": {
                "model": "on", "rpm": "20_000", "timeout": "1_000.5", "api_key": "yes",
                "input_cost_per_token": "0.000_002"
            }, "model_info": {"supports_vision": "yes"}}],
            "router_settings": {"enable_pre_call_checks": "on", "retry_policy": {"RateLimitErrorRetries": "1_0"},
                "model_group_alias": {"a": {"model": "b", "hidden": "yes"}}},
            "litellm_settings": {"drop_params": "No", "cache": "maybe", "num_retries": "three"}
        });
        normalize(&mut tree);
        let p = &tree["model_list"][0]["litellm_params"];
        assert_eq!(p["rpm"], json!(20000));
        assert_eq!(p["timeout"], json!(1000.5));
        assert_eq!(p["input_cost_per_token"], json!(0.000002));
        assert_eq!(p["model"], "on", "a name stays a name");
        assert_eq!(p["api_key"], "yes");
        assert_eq!(tree["model_list"][0]["model_name"], "no");
        assert_eq!(
            tree["model_list"][0]["model_info"]["supports_vision"],
            json!(true)
        );
        let rs = &tree["router_settings"];
        assert_eq!(rs["enable_pre_call_checks"], json!(true));
        assert_eq!(rs["retry_policy"]["RateLimitErrorRetries"], json!(10));
        assert_eq!(rs["model_group_alias"]["a"]["hidden"], json!(true));
        let ls = &tree["litellm_settings"];
        assert_eq!(ls["drop_params"], json!(false));
        assert_eq!(
            ls["cache"], "maybe",
            "not a boolean: left for the checks to name"
        );
        assert_eq!(ls["num_retries"], "three");
    }
}
