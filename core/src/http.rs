//! The HTTP request and response as the core sees them: plain data, no platform type. The
//! Worker converts its `Request` into an [`HttpRequest`] and an [`HttpResponse`] back.

use crate::error::{Error, ErrorClass};
use crate::relay::{ClientStream, StreamUsage};
use std::cell::Cell;
use std::rc::Rc;

pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: HttpBody,
    /// Work for after the response (a cache write): the Worker runs it in `waitUntil`.
    pub background: Vec<crate::ports::LocalFuture<()>>,
    /// For the log line and the request log only, never sent: the way through the router.
    pub trace: crate::trace::Trace,
    /// For a stream: resolves when it ends, with a log line if something worth one happened
    /// after the response started (it was finished by another deployment). Run in `waitUntil`.
    pub stream_log: Option<crate::ports::LocalFuture<Option<String>>>,
    /// For the request log only, never sent.
    pub facts: LogFacts,
}

/// What the request log reads of a response besides its headers and trace.
#[derive(Default)]
pub struct LogFacts {
    /// (prompt, completion) tokens of a complete answer.
    pub usage: Option<(u64, u64)>,
    /// A stream's (tokens, cost), set when it ends.
    pub stream_usage: Option<StreamUsage>,
    /// How many continuations a broken stream took.
    pub continued: Option<Rc<Cell<u32>>>,
    /// An error answer's class (`rate_limit`, `timeout`, ...) or code, and the router's own
    /// message for it.
    pub error: Option<(&'static str, String)>,
}

pub enum HttpBody {
    Bytes(Vec<u8>),
    Stream(ClientStream),
}

impl HttpResponse {
    pub fn json(status: u16, body: Vec<u8>) -> Self {
        HttpResponse {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: HttpBody::Bytes(body),
            background: Vec::new(),
            trace: Default::default(),
            stream_log: None,
            facts: LogFacts::default(),
        }
    }

    /// The one place an error becomes a response.
    pub fn from_error(e: &Error) -> Self {
        let mut r = HttpResponse::json(e.status(), e.body());
        let class = e
            .class()
            .map(ErrorClass::label)
            .or_else(|| e.code())
            .unwrap_or_else(|| e.openai_type());
        r.facts.error = Some((class, e.message()));
        if !e.client_should_retry() {
            r.headers.push(("x-should-retry", "false".into()));
        }
        if let Some(ms) = e.retry_after_ms() {
            r.headers
                .push(("retry-after", ms.div_ceil(1000).max(1).to_string()));
            r.headers.push(("retry-after-ms", ms.to_string()));
        }
        if let Error::MethodNotAllowed { .. } = e {
            r.headers.push(("allow", "GET, POST, OPTIONS".into()));
        }
        r
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The headers of an SSE response.
pub fn sse_headers() -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "text/event-stream".to_string()),
        ("cache-control", "no-cache".to_string()),
    ]
}
