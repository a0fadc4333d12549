//! Test doubles for the ports: a virtual clock and a scripted upstream. Compiled for the core's
//! own tests and, with the `testing` feature, for integration and browser tests. Never part of
//! the Worker.

use crate::ports::{
    ByteStream, Clock, LocalFuture, TransportError, Upstream, UpstreamBody, UpstreamRequest,
    UpstreamResponse,
};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};

/// A clock that only moves when a timer is awaited: `sleep(ms)` jumps time forward and returns at
/// once, so timeouts are tested without waiting.
#[derive(Default)]
pub struct ManualClock {
    now: Cell<f64>,
}

impl ManualClock {
    pub fn advance(&self, ms: f64) {
        self.now.set(self.now.get() + ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> f64 {
        self.now.get()
    }
    fn sleep(&self, ms: u64) -> LocalFuture<()> {
        self.advance(ms as f64);
        Box::pin(async {})
    }
}

/// What the scripted upstream does for one call.
pub enum Reply {
    /// A complete response.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// A 200 whose body arrives in these chunks (an `Err` breaks the stream there).
    Stream(Vec<Result<Vec<u8>, String>>),
    /// The connection fails before any response.
    Refused(String),
    /// No answer at all.
    Hang,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Reply {
        Reply::Full {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

/// An upstream that answers each URL from a queue of scripted replies and records every call.
/// A URL whose queue is empty gets its last reply again (or a 599 when it never had one).
#[derive(Default)]
pub struct ScriptedUpstream {
    replies: RefCell<HashMap<String, VecDeque<Reply>>>,
    pub calls: RefCell<Vec<UpstreamRequest>>,
}

impl ScriptedUpstream {
    pub fn push(&self, url: &str, reply: Reply) {
        self.replies
            .borrow_mut()
            .entry(url.to_string())
            .or_default()
            .push_back(reply);
    }

    pub fn calls_to(&self, url: &str) -> usize {
        self.calls.borrow().iter().filter(|c| c.url == url).count()
    }
}

fn clone_reply(r: &Reply) -> Reply {
    match r {
        Reply::Full {
            status,
            headers,
            body,
        } => Reply::Full {
            status: *status,
            headers: headers.clone(),
            body: body.clone(),
        },
        Reply::Stream(chunks) => Reply::Stream(chunks.clone()),
        Reply::Refused(m) => Reply::Refused(m.clone()),
        Reply::Hang => Reply::Hang,
    }
}

impl Upstream for ScriptedUpstream {
    fn send(&self, req: UpstreamRequest) -> LocalFuture<Result<UpstreamResponse, TransportError>> {
        let url = req.url.clone();
        self.calls.borrow_mut().push(req);
        let reply = {
            let mut all = self.replies.borrow_mut();
            match all.get_mut(&url) {
                Some(q) if q.len() > 1 => q.pop_front(),
                Some(q) => q.front().map(clone_reply),
                None => None,
            }
        };
        let reply =
            reply.unwrap_or_else(|| Reply::json(599, r#"{"error":{"message":"unscripted"}}"#));
        match reply {
            Reply::Full {
                status,
                headers,
                body,
            } => Box::pin(async move {
                Ok(UpstreamResponse {
                    status,
                    headers,
                    body: UpstreamBody::Full(body),
                })
            }),
            Reply::Stream(chunks) => Box::pin(async move {
                let s: ByteStream = Box::pin(futures::stream::iter(
                    chunks
                        .into_iter()
                        .map(|c| c.map_err(|message| TransportError { message })),
                ));
                Ok(UpstreamResponse {
                    status: 200,
                    headers: vec![("content-type".into(), "text/event-stream".into())],
                    body: UpstreamBody::Stream(s),
                })
            }),
            Reply::Refused(message) => Box::pin(async move { Err(TransportError { message }) }),
            Reply::Hang => Box::pin(futures::future::pending()),
        }
    }
}
