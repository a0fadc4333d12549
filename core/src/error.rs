//! The one error type. Every failure a client can see is a variant here, and this module alone
//! decides its HTTP status and renders its OpenAI-shaped body (`{"error":{message,type,param,code}}`)
//! or its in-band SSE event.

use serde_json::{json, Value};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The client's request is malformed: bad JSON, a missing or wrong-typed field.
    InvalidRequest {
        message: String,
        param: Option<String>,
        code: Option<&'static str>,
    },
    /// No credentials, or the wrong ones.
    Unauthorized { message: String },
    /// Valid credentials that may not do this (admin routes without the master key).
    Forbidden { message: String },
    /// A concurrent change won (runtime deployment edits).
    Conflict { message: String },
    /// A virtual key reached its rpm or tpm limit.
    KeyRateLimited {
        message: String,
        retry_after_ms: u64,
    },
    /// The path names no endpoint.
    RouteNotFound { path: String },
    /// The path exists, but not for this method.
    MethodNotAllowed { method: String, path: String },
    /// A stored object the path names does not exist for this caller (a response id).
    NotFound { message: String },
    /// The requested model is not a group of this router.
    ModelNotFound { model: String },
    /// `GET /v1/models/{id}` for a model this caller cannot see (OpenAI's 404).
    NoSuchModel { model: String },
    /// The body exceeds `general_settings.max_request_size_mb`.
    PayloadTooLarge { limit_bytes: usize },
    /// The client did not finish sending its body within `general_settings.request_body_timeout`.
    BodyTimeout { after_ms: u64 },
    /// The upstream answered with a non-2xx status; its body is passed on. Its class (decided
    /// once, by the deployment's adapter) and the wait it asked for are kept with it.
    Upstream {
        status: u16,
        body: Vec<u8>,
        class: ErrorClass,
        retry_after_ms: Option<u64>,
    },
    /// The upstream could not be reached (connection refused, reset before headers, DNS).
    UpstreamUnreachable { message: String },
    /// The upstream sent no answer (or no next chunk) within the deadline.
    UpstreamTimeout { after_ms: u64 },
    /// A stream broke after it started (cut, malformed or ended without `[DONE]`).
    StreamInterrupted { message: String },
    /// The prompt is larger than every candidate deployment's context window (pre-call check).
    ContextWindowExceeded { message: String },
    /// Every deployment of the group is cooling down or at its limits; one is expected back
    /// after `retry_after_ms`.
    NoDeploymentAvailable {
        model: String,
        reason: String,
        retry_after_ms: u64,
    },
    /// The router's configuration is invalid; every request gets this until it is fixed.
    Config { message: String },
    /// A bug: something that should not happen. Never a panic.
    Internal { message: String },
}

impl Error {
    /// The same error with `note` added to its message (where it has one of its own: an
    /// upstream's body is passed on unchanged).
    pub fn with_note(self, note: &str) -> Self {
        let add = |m: String| format!("{m} {note}");
        match self {
            Error::InvalidRequest {
                message,
                param,
                code,
            } => Error::InvalidRequest {
                message: add(message),
                param,
                code,
            },
            Error::Forbidden { message } => Error::Forbidden {
                message: add(message),
            },
            Error::UpstreamUnreachable { message } => Error::UpstreamUnreachable {
                message: add(message),
            },
            Error::StreamInterrupted { message } => Error::StreamInterrupted {
                message: add(message),
            },
            Error::ContextWindowExceeded { message } => Error::ContextWindowExceeded {
                message: add(message),
            },
            Error::NoDeploymentAvailable {
                model,
                reason,
                retry_after_ms,
            } => Error::NoDeploymentAvailable {
                model,
                reason: format!("{reason}; {note}"),
                retry_after_ms,
            },
            Error::Upstream {
                status,
                body,
                class,
                retry_after_ms,
            } => {
                // An OpenAI-shaped body keeps its shape: the note joins its message.
                let body = match serde_json::from_slice::<Value>(&body) {
                    Ok(mut v) => match v.pointer_mut("/error/message") {
                        Some(Value::String(m)) => {
                            m.push(' ');
                            m.push_str(note);
                            v.to_string().into_bytes()
                        }
                        _ => body,
                    },
                    Err(_) => body,
                };
                Error::Upstream {
                    status,
                    body,
                    class,
                    retry_after_ms,
                }
            }
            other => other,
        }
    }

    /// An upstream error classified by its status alone (a 4xx that says nothing more is a
    /// bad request); adapters classify by the body too (`adapter::upstream_error`).
    pub fn upstream(status: u16, body: Vec<u8>) -> Self {
        Error::Upstream {
            status,
            body,
            class: ErrorClass::of_status(status).unwrap_or(ErrorClass::BadRequest),
            retry_after_ms: None,
        }
    }

    /// A 400 for a required field the request lacks.
    pub fn missing(field: &str) -> Self {
        Error::InvalidRequest {
            message: format!("Missing required parameter: '{field}'."),
            param: Some(field.to_string()),
            code: Some("missing_required_parameter"),
        }
    }

    /// A 400 naming the field whose value is wrong, and what it must be.
    pub fn invalid_value(field: &str, what: &str) -> Self {
        Error::InvalidRequest {
            message: format!("Invalid value for '{field}': {what}."),
            param: Some(field.to_string()),
            code: Some("invalid_value"),
        }
    }

    pub fn invalid(message: impl Into<String>, param: impl Into<Option<String>>) -> Self {
        Error::InvalidRequest {
            message: message.into(),
            param: param.into(),
            code: None,
        }
    }

    /// The one table of what each variant is to a client: HTTP status, OpenAI's `error.type`
    /// and `error.code`. An upstream's own error keeps its status, except that its 401/403
    /// (the router's key for that provider is wrong) is a 502: it never tells the client that
    /// *its* key is wrong.
    fn props(&self) -> (u16, &'static str, Option<&'static str>) {
        const INVALID: &str = "invalid_request_error";
        const SERVER: &str = "server_error";
        const RATE: &str = "rate_limit_error";
        match self {
            Error::InvalidRequest { code, .. } => (400, INVALID, *code),
            Error::Unauthorized { .. } => (401, "authentication_error", Some("invalid_api_key")),
            Error::Forbidden { .. } => (403, "permission_error", Some("forbidden")),
            Error::Conflict { .. } => (409, INVALID, Some("conflict")),
            Error::KeyRateLimited { .. } => (429, RATE, Some("rate_limit_exceeded")),
            Error::RouteNotFound { .. } => (404, INVALID, Some("unknown_url")),
            Error::MethodNotAllowed { .. } => (405, INVALID, Some("method_not_allowed")),
            Error::ModelNotFound { .. } => (400, INVALID, Some("model_not_found")),
            Error::NoSuchModel { .. } => (404, INVALID, Some("model_not_found")),
            Error::NotFound { .. } => (404, INVALID, None),
            Error::PayloadTooLarge { .. } => (413, INVALID, Some("request_too_large")),
            Error::BodyTimeout { .. } => (408, INVALID, Some("request_timeout")),
            Error::Upstream {
                status: 401 | 403, ..
            } => (502, SERVER, Some("upstream_authentication_error")),
            Error::Upstream { status, .. } => (*status, type_for_status(*status), None),
            Error::UpstreamUnreachable { .. } => (502, SERVER, Some("upstream_unreachable")),
            Error::UpstreamTimeout { .. } => (504, SERVER, Some("timeout")),
            Error::StreamInterrupted { .. } => (502, SERVER, Some("stream_interrupted")),
            Error::ContextWindowExceeded { .. } => (400, INVALID, Some("context_length_exceeded")),
            Error::NoDeploymentAvailable { .. } => (429, RATE, Some("no_deployment_available")),
            Error::Config { .. } => (500, SERVER, Some("config_error")),
            Error::Internal { .. } => (500, SERVER, Some("internal_error")),
        }
    }

    /// HTTP status of this error.
    pub fn status(&self) -> u16 {
        self.props().0
    }

    /// OpenAI's `error.type`.
    pub fn openai_type(&self) -> &'static str {
        self.props().1
    }

    /// OpenAI's `error.code`.
    pub fn code(&self) -> Option<&'static str> {
        self.props().2
    }

    pub fn param(&self) -> Option<&str> {
        match self {
            Error::InvalidRequest { param, .. } => param.as_deref(),
            Error::ModelNotFound { .. } | Error::NoSuchModel { .. } => Some("model"),
            _ => None,
        }
    }

    /// The router's error class: what decides retries, cooldowns and which fallbacks apply.
    /// `None` for errors that never reach an upstream (the client's own mistakes, config).
    pub fn class(&self) -> Option<ErrorClass> {
        Some(match self {
            Error::Upstream { class, .. } => *class,
            Error::UpstreamUnreachable { .. } | Error::StreamInterrupted { .. } => {
                ErrorClass::InternalServer
            }
            Error::UpstreamTimeout { .. } => ErrorClass::Timeout,
            Error::ContextWindowExceeded { .. } => ErrorClass::ContextWindowExceeded,
            Error::NoDeploymentAvailable { .. } => ErrorClass::RateLimit,
            _ => return None,
        })
    }

    /// Seconds the provider asked us to wait (`retry-after`), if it did.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Error::Upstream { retry_after_ms, .. } => *retry_after_ms,
            Error::NoDeploymentAvailable { retry_after_ms, .. }
            | Error::KeyRateLimited { retry_after_ms, .. } => Some(*retry_after_ms),
            _ => None,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Error::InvalidRequest { message, .. }
            | Error::Unauthorized { message }
            | Error::Forbidden { message }
            | Error::Conflict { message }
            | Error::NotFound { message }
            | Error::KeyRateLimited { message, .. }
            | Error::UpstreamUnreachable { message }
            | Error::StreamInterrupted { message }
            | Error::ContextWindowExceeded { message }
            | Error::Config { message }
            | Error::Internal { message } => message.clone(),
            Error::RouteNotFound { path } => format!("Unknown request URL: {path}."),
            Error::MethodNotAllowed { method, path } => {
                format!("Method {method} is not allowed on {path}.")
            }
            Error::ModelNotFound { model } => format!(
                "The model `{model}` does not exist on this router. GET /v1/models lists the available models."
            ),
            Error::NoSuchModel { model } => format!("The model `{model}` does not exist."),
            Error::PayloadTooLarge { limit_bytes } => {
                format!("Request body is larger than the limit of {limit_bytes} bytes.")
            }
            Error::BodyTimeout { after_ms } => {
                format!("The request body did not arrive within {after_ms} ms.")
            }
            Error::NoDeploymentAvailable {
                model,
                reason,
                retry_after_ms,
            } => format!(
                "No deployment of `{model}` is available right now ({reason}). Retry after {:.1} s.",
                *retry_after_ms as f64 / 1000.0
            ),
            Error::Upstream {
                status: status @ (401 | 403),
                body,
                ..
            } => format!(
                "The upstream provider rejected the router's credentials for this deployment. {}",
                upstream_message(*status, body)
            ),
            Error::Upstream { status, body, .. } => upstream_message(*status, body),
            Error::UpstreamTimeout { after_ms } => {
                format!("The upstream provider did not answer within {after_ms} ms.")
            }
        }
    }

    /// Whether an OpenAI SDK should retry this on its own. Client mistakes must not be retried:
    /// the SDKs retry 408/409/429/5xx unless told `x-should-retry: false`.
    pub fn client_should_retry(&self) -> bool {
        match self {
            Error::Upstream {
                status: 401 | 403, ..
            } => false,
            Error::Upstream { status, .. } => matches!(status, 408 | 409 | 429 | 500..=599),
            Error::NoDeploymentAvailable { .. } | Error::KeyRateLimited { .. } => true,
            Error::UpstreamUnreachable { .. }
            | Error::UpstreamTimeout { .. }
            | Error::StreamInterrupted { .. } => true,
            _ => false,
        }
    }

    /// The JSON body sent to the client. An upstream's own OpenAI-shaped error body is passed on
    /// as it is; anything else is wrapped.
    pub fn body(&self) -> Vec<u8> {
        if let Error::Upstream { body, status, .. } = self {
            if matches!(status, 401 | 403) {
                return self.wrapped_body().to_string().into_bytes();
            }
            if let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(body) {
                if let Some(Value::Object(err)) = map.get_mut("error") {
                    // Passed on as the provider wrote it when an SDK can read it (a message
                    // and a type); else with what many compatible servers leave out filled in.
                    let complete = err.get("message").is_some_and(Value::is_string)
                        && err.get("type").is_some_and(Value::is_string);
                    if complete {
                        return body.clone();
                    }
                    if !err.get("message").is_some_and(Value::is_string) {
                        err.insert("message".into(), Value::String(self.message()));
                    }
                    err.entry("type")
                        .or_insert_with(|| Value::String(type_for_status(*status).into()));
                    err.entry("param").or_insert(Value::Null);
                    err.entry("code").or_insert(Value::Null);
                    return Value::Object(map).to_string().into_bytes();
                }
            }
        }
        self.wrapped_body().to_string().into_bytes()
    }

    fn wrapped_body(&self) -> Value {
        json!({
            "error": {
                "message": self.message(),
                "type": self.openai_type(),
                "param": self.param(),
                "code": self.code(),
            }
        })
    }

    /// The in-band SSE event that ends a stream that already started.
    pub fn sse_event(&self) -> Vec<u8> {
        let mut out = b"data: ".to_vec();
        out.extend_from_slice(self.wrapped_body().to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
        out
    }
}

/// The classes LiteLLM names in `retry_policy` and `allowed_fails_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    BadRequest,
    Authentication,
    NotFound,
    Timeout,
    RateLimit,
    ContextWindowExceeded,
    ContentPolicyViolation,
    InternalServer,
}

impl ErrorClass {
    /// `<name>Retries` in `retry_policy`, `<name>AllowedFails` in `allowed_fails_policy`.
    pub const LITELLM_NAMES: &'static [&'static str] = &[
        "BadRequestError",
        "AuthenticationError",
        "NotFoundError",
        "TimeoutError",
        "RateLimitError",
        "ContextWindowExceededError",
        "ContentPolicyViolationError",
        "InternalServerError",
    ];

    pub fn from_litellm_name(name: &str) -> Option<Self> {
        Some(match name {
            "BadRequestError" => Self::BadRequest,
            "AuthenticationError" => Self::Authentication,
            "NotFoundError" => Self::NotFound,
            "TimeoutError" => Self::Timeout,
            "RateLimitError" => Self::RateLimit,
            "ContextWindowExceededError" => Self::ContextWindowExceeded,
            "ContentPolicyViolationError" => Self::ContentPolicyViolation,
            "InternalServerError" => Self::InternalServer,
            _ => return None,
        })
    }

    /// Whether an error of this class says something about the deployment (and so counts
    /// toward its cooldown) rather than about the request.
    pub fn blames_deployment(self) -> bool {
        !matches!(
            self,
            Self::BadRequest | Self::ContextWindowExceeded | Self::ContentPolicyViolation
        )
    }

    /// A metric/log label.
    pub fn label(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Authentication => "authentication",
            Self::NotFound => "not_found",
            Self::Timeout => "timeout",
            Self::RateLimit => "rate_limit",
            Self::ContextWindowExceeded => "context_window_exceeded",
            Self::ContentPolicyViolation => "content_policy_violation",
            Self::InternalServer => "internal_server",
        }
    }
}

/// Reads a provider's error: its status, then the code or words OpenAI-style providers use for
/// context-window and content-policy errors (both come as 400s).
impl ErrorClass {
    /// The class an HTTP status decides on its own; `None` for the 4xx whose body says more
    /// (context length, content policy, or a plain bad request): the adapter reads those.
    pub fn of_status(status: u16) -> Option<ErrorClass> {
        Some(match status {
            401..=403 => ErrorClass::Authentication,
            404 => ErrorClass::NotFound,
            408 => ErrorClass::Timeout,
            429 => ErrorClass::RateLimit,
            500..=599 => ErrorClass::InternalServer,
            _ => return None,
        })
    }
}

/// The wait an upstream asked for: `retry-after` in seconds, else `retry-after-ms`.
pub fn retry_after_ms(retry_after: Option<&str>, retry_after_ms: Option<&str>) -> Option<u64> {
    let secs = retry_after
        .and_then(|ra| ra.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| (s * 1000.0) as u64);
    secs.or_else(|| {
        retry_after_ms
            .and_then(|ms| ms.trim().parse::<f64>().ok())
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .map(|ms| ms as u64)
    })
}

fn type_for_status(status: u16) -> &'static str {
    match status {
        400 | 404 | 409 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        _ => "server_error",
    }
}

/// A short message from an upstream error body: its `error.message` when there is one, else the
/// start of the text.
fn upstream_message(status: u16, body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let msg = v
            .pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error"))
            .and_then(Value::as_str);
        if let Some(m) = msg {
            return format!("Upstream error {status}: {m}");
        }
    }
    let text = String::from_utf8_lossy(body);
    let snippet: String = text.chars().take(500).collect();
    if snippet.trim().is_empty() {
        format!("Upstream error {status}")
    } else {
        format!("Upstream error {status}: {}", snippet.trim())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.status())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(e: &Error) -> Value {
        serde_json::from_slice(&e.body()).expect("error body is JSON")
    }

    #[test]
    fn invalid_request_names_the_param() {
        let e = Error::invalid("messages must be an array", Some("messages".to_string()));
        assert_eq!(e.status(), 400);
        let v = parsed(&e);
        assert_eq!(v["error"]["param"], "messages");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["message"], "messages must be an array");
        assert!(v["error"].get("code").is_some());
    }

    #[test]
    fn statuses_and_types() {
        let cases: Vec<(Error, u16, &str)> = vec![
            (
                Error::Unauthorized {
                    message: "x".into(),
                },
                401,
                "authentication_error",
            ),
            (
                Error::ModelNotFound { model: "m".into() },
                400,
                "invalid_request_error",
            ),
            (
                Error::NoSuchModel { model: "m".into() },
                404,
                "invalid_request_error",
            ),
            (
                Error::PayloadTooLarge { limit_bytes: 10 },
                413,
                "invalid_request_error",
            ),
            (
                Error::UpstreamUnreachable {
                    message: "refused".into(),
                },
                502,
                "server_error",
            ),
            (Error::UpstreamTimeout { after_ms: 5 }, 504, "server_error"),
            (
                Error::BodyTimeout { after_ms: 5 },
                408,
                "invalid_request_error",
            ),
            (Error::upstream(429, vec![]), 429, "rate_limit_error"),
        ];
        for (e, status, ty) in cases {
            assert_eq!(e.status(), status, "{e:?}");
            assert_eq!(parsed(&e)["error"]["type"], ty, "{e:?}");
        }
    }

    #[test]
    fn upstream_openai_body_passes_through_verbatim() {
        let body = br#"{"error":{"message":"boom","type":"server_error","param":null,"code":"x"}}"#;
        let e = Error::upstream(500, body.to_vec());
        assert_eq!(e.body(), body.to_vec());
        assert_eq!(e.status(), 500);
    }

    #[test]
    fn an_upstream_error_missing_openai_fields_gets_them() {
        // vLLM, Ollama and others answer `{"error":{"message":...}}` alone.
        let e = Error::upstream(503, br#"{"error":{"message":"busy"},"extra":1}"#.to_vec());
        let v = parsed(&e);
        assert_eq!(v["error"]["message"], "busy");
        assert_eq!(v["error"]["type"], "server_error");
        assert!(v["error"]["param"].is_null() && v["error"].get("param").is_some());
        assert!(v["error"].get("code").is_some());
        assert_eq!(v["extra"], 1, "the rest is kept");
        let e = Error::upstream(400, br#"{"error":{"code":"x"}}"#.to_vec());
        assert!(parsed(&e)["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }

    #[test]
    fn upstream_non_json_body_is_wrapped() {
        let e = Error::upstream(503, b"<html>Service Unavailable</html>".to_vec());
        let v = parsed(&e);
        assert_eq!(v["error"]["type"], "server_error");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Service Unavailable"));
    }

    #[test]
    fn model_not_found_message_names_only_the_model() {
        let e = Error::ModelNotFound {
            model: "gpt-9".into(),
        };
        let v = parsed(&e);
        assert_eq!(v["error"]["code"], "model_not_found");
        assert!(v["error"]["message"].as_str().unwrap().contains("gpt-9"));
    }

    #[test]
    fn sse_event_is_a_data_line() {
        let e = Error::StreamInterrupted {
            message: "cut".into(),
        };
        let ev = e.sse_event();
        assert!(ev.starts_with(b"data: {"));
        assert!(ev.ends_with(b"\n\n"));
        let json: Value = serde_json::from_slice(&ev[6..ev.len() - 2]).unwrap();
        assert_eq!(json["error"]["code"], "stream_interrupted");
    }

    #[test]
    fn client_retry_hint() {
        assert!(!Error::invalid("x", None).client_should_retry());
        assert!(Error::UpstreamTimeout { after_ms: 1 }.client_should_retry());
        assert!(!Error::upstream(400, vec![]).client_should_retry());
    }
}
