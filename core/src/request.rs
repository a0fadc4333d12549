//! The client's request to a model endpoint (chat, text completions, embeddings, moderations,
//! image generation): parsed once, checked field by field (a 400 names the bad field), with the
//! fields that only steer the router taken out. Each attempt then writes the body for its
//! deployment from these parts, without re-parsing or cloning the messages.

use crate::error::Error;
use serde_json::{Map, Value};

/// Body fields that steer routing or name endpoints and credentials. They are never forwarded:
/// a client can choose neither where its request goes nor with which key.
const ROUTER_ONLY_FIELDS: &[&str] = &[
    "api_key",
    "api_base",
    "base_url",
    "api_version",
    "organization",
    "custom_llm_provider",
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "num_retries",
    "max_retries",
    "timeout",
    "stream_timeout",
    "request_timeout",
    "metadata",
    "tags",
    "cache",
    "caching",
    "mock_response",
    "disable_fallbacks",
    "drop_params",
    "extra_headers",
    "litellm_metadata",
    "user_config",
    "deployment_id",
    "model_id",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_region_name",
    "vertex_credentials",
    "azure_ad_token",
    "aws_session_token",
    "aws_role_name",
    "aws_profile_name",
    "vertex_project",
    "vertex_location",
    "tenant_id",
    "client_id",
    "client_secret",
    "litellm_params",
    "model_info",
    "input_cost_per_token",
    "output_cost_per_token",
];

pub use crate::endpoint::Endpoint;

/// An audio upload as sent: forwarded with only its `model` value replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub content_type: String,
    pub form: crate::multipart::Form,
    pub body: std::rc::Rc<Vec<u8>>,
}

/// The model a moderation request uses when it names none (OpenAI's default).
pub const DEFAULT_MODERATION_MODEL: &str = "omni-moderation-latest";

#[derive(Debug, Clone, PartialEq)]
pub struct ModelRequest {
    pub endpoint: Endpoint,
    /// The model group asked for.
    pub model: String,
    pub stream: bool,
    /// The client asked for the usage chunk (`stream_options.include_usage`). The router asks
    /// the provider for it on every stream, to count tokens, and drops it for clients that did
    /// not ask.
    pub include_usage: bool,
    /// Every other field the client sent, minus [`ROUTER_ONLY_FIELDS`], forwarded as is.
    pub body: Map<String, Value>,
    /// Router-only fields the client sent, kept for the router (fallbacks, tags, ...).
    pub router_fields: Map<String, Value>,
    /// The multipart body of an audio upload (`body` is then empty).
    pub upload: Option<Upload>,
    /// The model groups the caller's virtual key may use (`None`: any). Set by the HTTP layer
    /// after admission; every group the request can reach is checked against it.
    pub allowed_models: Option<Vec<String>>,
    /// The alias the client asked for, when `model` is the group it names
    /// (`model_group_alias`).
    pub alias: Option<String>,
    /// The client's own body when it spoke a provider's protocol: that provider's deployments
    /// are sent it as it is, every other deployment the translation in `body`.
    pub native: Option<std::rc::Rc<NativeBody>>,
}

/// A request body in a provider's own protocol, as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub enum NativeBody {
    /// Anthropic's Messages API (`/v1/messages`), with the client's `anthropic-beta` header.
    AnthropicMessages {
        body: Map<String, Value>,
        beta: Option<String>,
    },
}

impl ModelRequest {
    /// `drop_params: true` in the body: OpenAI parameters a provider does not take are dropped
    /// instead of refused.
    pub fn drops_params(&self) -> bool {
        self.router_fields
            .get("drop_params")
            .and_then(Value::as_bool)
            == Some(true)
    }

    /// A chat completion request.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        ModelRequest::parse_for(Endpoint::Chat, bytes)
    }

    pub fn parse_for(endpoint: Endpoint, bytes: &[u8]) -> Result<Self, Error> {
        ModelRequest::parse_named(endpoint, bytes, None)
    }

    /// [`ModelRequest::parse_for`] for a route whose path names the model (Azure's
    /// `/openai/deployments/{model}/...`): that name wins over the body's, which may be absent.
    pub fn parse_named(
        endpoint: Endpoint,
        bytes: &[u8],
        path_model: Option<&str>,
    ) -> Result<Self, Error> {
        let value: Value =
            crate::strict_json::from_slice(bytes).map_err(|e| Error::InvalidRequest {
                message: format!("We could not parse the JSON body of your request: {e}"),
                param: None,
                code: Some("invalid_json"),
            })?;
        let Value::Object(body) = value else {
            return Err(Error::invalid(
                "The request body must be a JSON object.",
                None,
            ));
        };
        ModelRequest::from_body(endpoint, body, path_model)
    }

    /// [`ModelRequest::parse_named`] for a body already parsed.
    pub fn from_body(
        endpoint: Endpoint,
        mut body: Map<String, Value>,
        path_model: Option<&str>,
    ) -> Result<Self, Error> {
        let model = match (path_model, body.remove("model")) {
            (Some(named), _) => named.to_string(),
            (None, Some(Value::String(m))) if !m.trim().is_empty() => m,
            (None, Some(Value::String(_))) => {
                return Err(Error::invalid_value("model", "must not be empty"))
            }
            (None, Some(_)) => return Err(Error::invalid_value("model", "must be a string")),
            (None, None) if endpoint == Endpoint::Moderations => {
                DEFAULT_MODERATION_MODEL.to_string()
            }
            (None, None) => return Err(Error::missing("model")),
        };
        let stream = match endpoint {
            Endpoint::Chat => {
                crate::chat::check(body.get("messages"))?;
                check_optional_fields(&body)?
            }
            Endpoint::Completions => {
                check_prompt(body.get("prompt"))?;
                check_optional_fields(&body)?
            }
            Endpoint::Embeddings => {
                check_input("input", body.get("input"), true)?;
                check_embedding_fields(&body)?;
                false
            }
            Endpoint::Moderations => {
                check_input("input", body.get("input"), false)?;
                false
            }
            Endpoint::Speech => {
                for field in ["input", "voice"] {
                    match body.get(field) {
                        Some(Value::String(v)) if !v.is_empty() => {}
                        Some(_) => {
                            return Err(Error::invalid_value(field, "must be a non-empty string"))
                        }
                        None => return Err(Error::missing(field)),
                    }
                }
                false
            }
            Endpoint::Transcriptions | Endpoint::Translations => {
                return Err(Error::invalid(
                    "This endpoint takes multipart/form-data (a `file` and a `model`).",
                    None,
                ))
            }
            Endpoint::Rerank => {
                check_rerank_fields(&body)?;
                false
            }
            // Checked field by field by its translation (`inbound/responses.rs`) first.
            Endpoint::Responses => match body.get("stream") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(Error::invalid_value("stream", "must be a boolean")),
            },
            Endpoint::ImageGenerations => {
                match body.get("prompt") {
                    Some(Value::String(p)) if !p.is_empty() => {}
                    Some(_) => {
                        return Err(Error::invalid_value("prompt", "must be a non-empty string"))
                    }
                    None => return Err(Error::missing("prompt")),
                }
                check_image_fields(&body)?;
                false
            }
        };
        let include_usage = body
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut router_fields = Map::new();
        for key in ROUTER_ONLY_FIELDS {
            if let Some(v) = body.remove(*key) {
                router_fields.insert((*key).to_string(), v);
            }
        }
        Ok(ModelRequest {
            endpoint,
            model,
            stream,
            include_usage,
            body,
            router_fields,
            upload: None,
            allowed_models: None,
            alias: None,
            native: None,
        })
    }

    /// An audio upload (`multipart/form-data`): the `model` field is read from the form, the
    /// file is neither copied nor parsed.
    pub fn parse_upload(
        endpoint: Endpoint,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Self, Error> {
        let form = crate::multipart::parse(content_type, &body)?;
        let model = match form.model {
            Some((s, e)) => String::from_utf8_lossy(&body[s..e]).trim().to_string(),
            None => return Err(Error::missing("model")),
        };
        if model.is_empty() {
            return Err(Error::invalid_value("model", "must not be empty"));
        }
        if !form.has_file {
            return Err(Error::missing("file"));
        }
        Ok(ModelRequest {
            endpoint,
            model,
            stream: false,
            include_usage: false,
            body: Map::new(),
            router_fields: Map::new(),
            upload: Some(Upload {
                content_type: content_type.to_string(),
                form,
                body: std::rc::Rc::new(body),
            }),
            allowed_models: None,
            alias: None,
            native: None,
        })
    }
}

/// A rerank request: a `query`, `documents` (strings, or objects with `text`), an optional
/// positive `top_n`.
fn check_rerank_fields(body: &Map<String, Value>) -> Result<(), Error> {
    match body.get("query") {
        Some(Value::String(q)) if !q.is_empty() => {}
        Some(_) => return Err(Error::invalid_value("query", "must be a non-empty string")),
        None => return Err(Error::missing("query")),
    }
    match body.get("documents") {
        Some(Value::Array(docs)) if !docs.is_empty() => {
            let readable = |d: &Value| d.is_string() || d.get("text").is_some_and(Value::is_string);
            if let Some(i) = docs.iter().position(|d| !readable(d)) {
                return Err(Error::invalid_value(
                    &format!("documents[{i}]"),
                    "must be a string or an object with a string `text`",
                ));
            }
        }
        Some(_) => {
            return Err(Error::invalid_value(
                "documents",
                "must be a non-empty array of documents",
            ))
        }
        None => return Err(Error::missing("documents")),
    }
    match body.get("top_n") {
        None | Some(Value::Null) => Ok(()),
        Some(v) if v.as_u64().is_some_and(|n| n > 0) => Ok(()),
        Some(_) => Err(Error::invalid_value(
            "top_n",
            "must be a positive whole number",
        )),
    }
}

/// A text completion's `prompt`: a string, a list of strings, a token list, or a list of those.
fn check_prompt(v: Option<&Value>) -> Result<(), Error> {
    match v {
        None => Err(Error::missing("prompt")),
        Some(Value::String(_)) => Ok(()),
        Some(Value::Array(items))
            if !items.is_empty()
                && items
                    .iter()
                    .all(|i| i.is_string() || is_tokens(i) || i.is_u64()) =>
        {
            Ok(())
        }
        Some(_) => Err(Error::invalid_value(
            "prompt",
            "must be a string, a list of strings, or token lists",
        )),
    }
}

fn is_tokens(v: &Value) -> bool {
    matches!(v, Value::Array(t) if !t.is_empty() && t.iter().all(Value::is_u64))
}

/// `input` for embeddings (`tokens`: token lists allowed) and moderations.
fn check_input(field: &str, v: Option<&Value>, tokens: bool) -> Result<(), Error> {
    match v {
        None => Err(Error::missing(field)),
        Some(Value::String(s)) if !s.is_empty() => Ok(()),
        Some(Value::Array(items))
            if !items.is_empty()
                && (items
                    .iter()
                    .all(|i| matches!(i, Value::String(s) if !s.is_empty()))
                    || (tokens
                        && (items.iter().all(Value::is_u64) || items.iter().all(is_tokens)))
                    || (!tokens && items.iter().all(Value::is_object))) =>
        {
            Ok(())
        }
        Some(_) => Err(Error::invalid_value(
            field,
            if tokens {
                "must be a non-empty string, a list of strings, a token list, or a list of token lists"
            } else {
                "must be a non-empty string or a list of strings"
            },
        )),
    }
}

fn check_embedding_fields(body: &Map<String, Value>) -> Result<(), Error> {
    match body.get("dimensions").filter(|v| !v.is_null()) {
        Some(v) if v.as_u64().is_none_or(|d| d < 1) => {
            return Err(Error::invalid_value(
                "dimensions",
                "must be an integer >= 1",
            ))
        }
        _ => {}
    }
    match body.get("encoding_format").filter(|v| !v.is_null()) {
        Some(Value::String(f)) if f == "float" || f == "base64" => Ok(()),
        Some(_) => Err(Error::invalid_value(
            "encoding_format",
            "must be `float` or `base64`",
        )),
        None => Ok(()),
    }
}

fn check_image_fields(body: &Map<String, Value>) -> Result<(), Error> {
    match body.get("n").filter(|v| !v.is_null()) {
        Some(v) if !v.as_u64().is_some_and(|n| (1..=10).contains(&n)) => Err(Error::invalid_value(
            "n",
            "must be an integer between 1 and 10",
        )),
        _ => Ok(()),
    }
}

/// Checks the type and range of the optional OpenAI fields; returns `stream`.
fn check_optional_fields(body: &Map<String, Value>) -> Result<bool, Error> {
    let get = |k: &str| body.get(k).filter(|v| !v.is_null());
    let number_in = |k: &str, lo: f64, hi: f64| -> Result<(), Error> {
        match get(k) {
            None => Ok(()),
            Some(Value::Number(n)) if n.as_f64().is_some_and(|x| (lo..=hi).contains(&x)) => Ok(()),
            Some(_) => Err(Error::invalid_value(
                k,
                &format!("must be a number between {lo} and {hi}"),
            )),
        }
    };
    let int_in = |k: &str, lo: i64, hi: i64| -> Result<(), Error> {
        match get(k) {
            None => Ok(()),
            Some(Value::Number(n)) if n.as_i64().is_some_and(|x| (lo..=hi).contains(&x)) => Ok(()),
            Some(_) => Err(Error::invalid_value(
                k,
                &format!("must be an integer between {lo} and {hi}"),
            )),
        }
    };
    let of_type = |k: &str, ok: fn(&Value) -> bool, what: &str| -> Result<(), Error> {
        match get(k) {
            Some(v) if !ok(v) => Err(Error::invalid_value(k, &format!("must be {what}"))),
            _ => Ok(()),
        }
    };

    let stream = match get("stream") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::invalid_value("stream", "must be a boolean")),
    };
    if let Some(opts) = get("stream_options") {
        let Value::Object(o) = opts else {
            return Err(Error::invalid_value("stream_options", "must be an object"));
        };
        if o.get("include_usage")
            .is_some_and(|v| !v.is_boolean() && !v.is_null())
        {
            return Err(Error::invalid_value(
                "stream_options.include_usage",
                "must be a boolean",
            ));
        }
    }
    number_in("temperature", 0.0, 2.0)?;
    number_in("top_p", 0.0, 1.0)?;
    number_in("presence_penalty", -2.0, 2.0)?;
    number_in("frequency_penalty", -2.0, 2.0)?;
    int_in("n", 1, 128)?;
    int_in("max_tokens", 1, i64::from(u32::MAX))?;
    int_in("max_completion_tokens", 1, i64::from(u32::MAX))?;
    int_in("top_logprobs", 0, 20)?;
    int_in("seed", i64::MIN, i64::MAX)?;
    of_type("logprobs", Value::is_boolean, "a boolean")?;
    of_type("parallel_tool_calls", Value::is_boolean, "a boolean")?;
    of_type("store", Value::is_boolean, "a boolean")?;
    of_type("user", Value::is_string, "a string")?;
    of_type("reasoning_effort", Value::is_string, "a string")?;
    of_type("service_tier", Value::is_string, "a string")?;
    of_type("logit_bias", Value::is_object, "an object")?;
    of_type("response_format", Value::is_object, "an object")?;
    of_type("tools", Value::is_array, "an array")?;
    of_type("functions", Value::is_array, "an array")?;
    of_type(
        "tool_choice",
        |v| v.is_string() || v.is_object(),
        "a string or an object",
    )?;
    match get("stop") {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(items)) if items.len() <= 4 && items.iter().all(Value::is_string) => {}
        Some(_) => {
            return Err(Error::invalid_value(
                "stop",
                "must be a string or an array of up to 4 strings",
            ))
        }
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<ModelRequest, Error> {
        ModelRequest::parse(v.to_string().as_bytes())
    }

    fn param_of(v: Value) -> Option<String> {
        match parse(v).unwrap_err() {
            Error::InvalidRequest { param, .. } => param,
            other => panic!("expected InvalidRequest, got {other:?}"),
        }
    }

    fn ok_body() -> Value {
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    }

    fn with(field: &str, value: Value) -> Value {
        let mut b = ok_body();
        b[field] = value;
        b
    }

    #[test]
    fn other_endpoints_check_their_own_fields() {
        let p = |e: Endpoint, v: Value| ModelRequest::parse_for(e, v.to_string().as_bytes());
        assert!(p(Endpoint::Embeddings, json!({"model":"e","input":"hi"})).is_ok());
        assert!(p(Endpoint::Embeddings, json!({"model":"e","input":["a","b"]})).is_ok());
        assert!(p(Endpoint::Embeddings, json!({"model":"e","input":[1,2,3]})).is_ok());
        assert!(p(
            Endpoint::Embeddings,
            json!({"model":"e","input":[[1,2],[3]]})
        )
        .is_ok());
        for bad in [
            json!({"model":"e"}),
            json!({"model":"e","input":""}),
            json!({"model":"e","input":[]}),
            json!({"model":"e","input":[1,"a"]}),
            json!({"model":"e","input":3}),
        ] {
            let e = p(Endpoint::Embeddings, bad.clone()).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidRequest { param: Some(x), .. } if x == "input"),
                "{bad}: {e:?}"
            );
        }
        assert_eq!(
            p(
                Endpoint::Embeddings,
                json!({"model":"e","input":"x","dimensions":0})
            )
            .unwrap_err()
            .param(),
            Some("dimensions")
        );
        assert!(
            p(
                Endpoint::Completions,
                json!({"model":"c","prompt":"Say this","max_tokens":5,"stream":true})
            )
            .unwrap()
            .stream
        );
        assert_eq!(
            p(Endpoint::Completions, json!({"model":"c"}))
                .unwrap_err()
                .param(),
            Some("prompt")
        );
        let m = p(Endpoint::Moderations, json!({"input":"text"})).unwrap();
        assert_eq!(m.model, DEFAULT_MODERATION_MODEL);
        assert_eq!(
            p(
                Endpoint::ImageGenerations,
                json!({"model":"i","prompt":"a cat","n":20})
            )
            .unwrap_err()
            .param(),
            Some("n")
        );
        assert_eq!(
            p(Endpoint::ImageGenerations, json!({"model":"i"}))
                .unwrap_err()
                .param(),
            Some("prompt")
        );
        assert!(
            !p(
                Endpoint::Chat,
                json!({"model":"m","messages":[{"role":"user","content":"x"}]})
            )
            .unwrap()
            .stream
        );
    }

    #[test]
    fn minimal_request_parses() {
        let r = parse(ok_body()).unwrap();
        assert_eq!(r.model, "gpt-4o");
        assert!(!r.stream);
        assert!(r.body.contains_key("messages"));
        assert!(!r.body.contains_key("model"));
    }

    #[test]
    fn bad_json_and_non_objects() {
        let e = ModelRequest::parse(b"{nope").unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(e.code(), Some("invalid_json"));
        assert_eq!(ModelRequest::parse(b"[1]").unwrap_err().status(), 400);
        assert_eq!(ModelRequest::parse(b"\xff\xfe").unwrap_err().status(), 400);
        assert_eq!(ModelRequest::parse(b"").unwrap_err().status(), 400);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = vec![
            (json!({"messages": []}), "model"),
            (with("model", json!(5)), "model"),
            (with("model", json!("")), "model"),
            (json!({"model": "m"}), "messages"),
            (with("messages", json!("hi")), "messages"),
            (with("messages", json!([])), "messages"),
            (with("messages", json!([5])), "messages[0]"),
            (
                with("messages", json!([{"content": "x"}])),
                "messages[0].role",
            ),
            (
                with("messages", json!([{"role": "wizard"}])),
                "messages[0].role",
            ),
            (
                with("messages", json!([{"role": "user", "content": 3}])),
                "messages[0].content",
            ),
            (with("stream", json!("yes")), "stream"),
            (with("stream_options", json!(1)), "stream_options"),
            (
                with("stream_options", json!({"include_usage": "y"})),
                "stream_options.include_usage",
            ),
            (with("temperature", json!(3)), "temperature"),
            (with("temperature", json!("hot")), "temperature"),
            (with("top_p", json!(-0.1)), "top_p"),
            (with("n", json!(0)), "n"),
            (with("n", json!(1.5)), "n"),
            (with("max_tokens", json!(-1)), "max_tokens"),
            (with("max_tokens", json!(1e30)), "max_tokens"),
            (with("stop", json!(["a", "b", "c", "d", "e"])), "stop"),
            (with("stop", json!(7)), "stop"),
            (with("tools", json!({})), "tools"),
            (with("tool_choice", json!(1)), "tool_choice"),
            (with("user", json!(1)), "user"),
            (with("logit_bias", json!([])), "logit_bias"),
            (with("presence_penalty", json!(9)), "presence_penalty"),
        ];
        for (body, param) in cases {
            assert_eq!(param_of(body.clone()).as_deref(), Some(param), "{body}");
        }
    }

    #[test]
    fn nulls_are_allowed_for_optional_fields() {
        let mut b = ok_body();
        for k in [
            "stream",
            "temperature",
            "n",
            "stop",
            "tools",
            "user",
            "stream_options",
        ] {
            b[k] = Value::Null;
        }
        assert!(parse(b).is_ok());
    }

    #[test]
    fn router_only_fields_are_taken_out() {
        let mut b = ok_body();
        b["api_base"] = json!("http://evil.example");
        b["api_key"] = json!("sk-client");
        b["base_url"] = json!("http://evil.example");
        b["fallbacks"] = json!(["other"]);
        b["temperature"] = json!(0.5);
        let r = parse(b).unwrap();
        for k in ["api_base", "api_key", "base_url", "fallbacks"] {
            assert!(!r.body.contains_key(k), "{k} must not be forwarded");
        }
        assert_eq!(r.router_fields["fallbacks"], json!(["other"]));
        assert_eq!(r.body["temperature"], json!(0.5));
    }
}
