//! Per-request router controls a client may send in the body (LiteLLM's names). None of them
//! can choose where a request goes: fallbacks name model groups of this router only.

use crate::config::ClientCaps;
use crate::error::Error;
use serde_json::{Map, Value};

#[derive(Debug, Default, Clone, PartialEq)]
pub struct RequestOptions {
    /// `fallbacks`: replaces the configured generic fallbacks for this request.
    pub fallbacks: Option<Vec<String>>,
    /// `context_window_fallbacks`: replaces the configured ones for this request.
    pub context_window_fallbacks: Option<Vec<String>>,
    pub num_retries: Option<u32>,
    /// `timeout` in seconds -> ms.
    pub timeout_ms: Option<u64>,
    pub disable_fallbacks: bool,
    /// `tags` or `metadata.tags`.
    pub tags: Vec<String>,
}

impl RequestOptions {
    /// Reads the fields, then holds them to the config's `caps`: a tenant may shorten its own
    /// deadline or ask for fewer retries, never hold the router longer than the config allows.
    pub fn parse(
        fields: &Map<String, Value>,
        model: &str,
        caps: &ClientCaps,
    ) -> Result<Self, Error> {
        let mut o = RequestOptions::read(fields, model)?;
        o.num_retries = o.num_retries.map(|n| n.min(caps.num_retries));
        o.timeout_ms = o.timeout_ms.map(|t| t.min(caps.timeout_ms));
        let most = caps.fallbacks as usize;
        for list in [&mut o.fallbacks, &mut o.context_window_fallbacks]
            .into_iter()
            .flatten()
        {
            list.truncate(most);
        }
        Ok(o)
    }

    fn read(fields: &Map<String, Value>, model: &str) -> Result<Self, Error> {
        let mut o = RequestOptions::default();
        if let Some(v) = non_null(fields.get("fallbacks")) {
            o.fallbacks = Some(groups("fallbacks", v, model)?);
        }
        if let Some(v) = non_null(fields.get("context_window_fallbacks")) {
            o.context_window_fallbacks = Some(groups("context_window_fallbacks", v, model)?);
        }
        if let Some(v) = non_null(fields.get("num_retries")) {
            o.num_retries = Some(
                v.as_u64()
                    .filter(|n| *n <= 10)
                    .ok_or_else(|| bad("num_retries", "must be a whole number from 0 to 10"))?
                    as u32,
            );
        }
        if let Some(v) = non_null(fields.get("timeout")) {
            let secs = v
                .as_f64()
                .filter(|s| s.is_finite() && *s > 0.0)
                .ok_or_else(|| bad("timeout", "must be a positive number of seconds"))?;
            o.timeout_ms = Some((secs * 1000.0).ceil() as u64);
        }
        if let Some(v) = non_null(fields.get("disable_fallbacks")) {
            o.disable_fallbacks = v
                .as_bool()
                .ok_or_else(|| bad("disable_fallbacks", "must be a boolean"))?;
        }
        let tags = non_null(fields.get("tags"))
            .map(|v| ("tags", v))
            .or_else(|| {
                fields
                    .get("metadata")
                    .and_then(|m| non_null(m.get("tags")))
                    .map(|v| ("metadata.tags", v))
            });
        if let Some((name, v)) = tags {
            o.tags = strings(name, v)?;
        }
        if let Some(m) = non_null(fields.get("metadata")) {
            if !m.is_object() {
                return Err(bad("metadata", "must be an object"));
            }
        }
        Ok(o)
    }
}

fn non_null(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn bad(field: &str, what: &str) -> Error {
    Error::invalid_value(field, what)
}

fn strings(field: &str, v: &Value) -> Result<Vec<String>, Error> {
    let Value::Array(items) = v else {
        return Err(bad(field, "must be an array of strings"));
    };
    items
        .iter()
        .map(|i| {
            i.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(field, "must be an array of strings"))
        })
        .collect()
}

/// A client's fallbacks: a list of group names, or LiteLLM's `[{"model": ["fb"]}]` form (only
/// the entry for the requested model counts).
fn groups(field: &str, v: &Value, model: &str) -> Result<Vec<String>, Error> {
    let Value::Array(items) = v else {
        return Err(bad(field, "must be an array of model names"));
    };
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::String(s) => out.push(s.clone()),
            Value::Object(m) => {
                if let Some(list) = m.get(model) {
                    out.extend(strings(field, list)?);
                }
            }
            _ => return Err(bad(field, "must be an array of model names")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<RequestOptions, Error> {
        RequestOptions::parse(v.as_object().unwrap(), "gpt-4", &ClientCaps::default())
    }

    #[test]
    fn client_controls_are_capped_by_the_config() {
        let caps = ClientCaps {
            timeout_ms: 5_000,
            num_retries: 1,
            fallbacks: 2,
            cache_ttl_secs: 60,
        };
        let v = json!({"timeout": 999, "num_retries": 9, "fallbacks": ["a", "b", "c", "d"],
            "context_window_fallbacks": ["x", "y", "z"]});
        let o = RequestOptions::parse(v.as_object().unwrap(), "gpt-4", &caps).unwrap();
        assert_eq!(o.timeout_ms, Some(5_000));
        assert_eq!(o.num_retries, Some(1));
        assert_eq!(o.fallbacks, Some(vec!["a".into(), "b".into()]));
        assert_eq!(o.context_window_fallbacks.map(|l| l.len()), Some(2));
        // A shorter deadline than the cap is the client's to choose.
        let v = json!({"timeout": 0.5});
        let o = RequestOptions::parse(v.as_object().unwrap(), "gpt-4", &caps).unwrap();
        assert_eq!(o.timeout_ms, Some(500));
    }

    #[test]
    fn reads_litellm_fields() {
        let o = parse(json!({
            "fallbacks": ["a", {"gpt-4": ["b"]}, {"other": ["c"]}],
            "num_retries": 1, "timeout": 2.5, "disable_fallbacks": false,
            "metadata": {"tags": ["eu"]}
        }))
        .unwrap();
        assert_eq!(o.fallbacks, Some(vec!["a".into(), "b".into()]));
        assert_eq!(o.num_retries, Some(1));
        assert_eq!(o.timeout_ms, Some(2_500));
        assert_eq!(o.tags, vec!["eu".to_string()]);
        assert_eq!(
            parse(json!({"tags": ["x"]})).unwrap().tags,
            vec!["x".to_string()]
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        for (v, field) in [
            (json!({"fallbacks": "a"}), "fallbacks"),
            (json!({"num_retries": -1}), "num_retries"),
            (json!({"num_retries": 99}), "num_retries"),
            (json!({"timeout": 0}), "timeout"),
            (json!({"disable_fallbacks": "yes"}), "disable_fallbacks"),
            (json!({"tags": "eu"}), "tags"),
            (json!({"metadata": 3}), "metadata"),
        ] {
            match parse(v.clone()).unwrap_err() {
                Error::InvalidRequest { param, .. } => {
                    assert_eq!(param.as_deref(), Some(field), "{v}")
                }
                e => panic!("{e:?}"),
            }
        }
    }
}
