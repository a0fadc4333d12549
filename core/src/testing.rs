//! Test doubles for the ports: a virtual clock and a scripted upstream. Compiled for the core's
//! own tests and, with the `testing` feature, for integration and browser tests. Never part of
//! the Worker.

use crate::ports::{
    ByteStream, Clock, LocalFuture, TransportError, Upstream, UpstreamBody, UpstreamRequest,
    UpstreamResponse,
};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// A clock that only moves when a timer is awaited: a `sleep(ms)` future, when first polled,
/// jumps time forward by `ms` and completes, so timeouts and backoff are tested without waiting.
/// A timer that loses a race (its future is never polled) moves nothing.
#[derive(Default, Clone)]
pub struct ManualClock {
    now: Rc<Cell<f64>>,
    /// Every sleep that actually elapsed, in order.
    pub slept: Rc<RefCell<Vec<u64>>>,
}

impl ManualClock {
    pub fn at(ms: f64) -> Self {
        let c = ManualClock::default();
        c.now.set(ms);
        c
    }

    pub fn advance(&self, ms: f64) {
        self.now.set(self.now.get() + ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> f64 {
        self.now.get()
    }
    fn sleep(&self, ms: u64) -> LocalFuture<()> {
        let now = self.now.clone();
        let slept = self.slept.clone();
        Box::pin(futures::future::lazy(move |_| {
            now.set(now.get() + ms as f64);
            slept.borrow_mut().push(ms);
        }))
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
    /// This reply, after `ms` on the upstream's clock (see [`ScriptedUpstream::with_clock`]).
    After(u64, Box<Reply>),
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Reply {
        Reply::Full {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn duplicate(&self) -> Reply {
        match self {
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
            Reply::After(ms, r) => Reply::After(*ms, Box::new(r.duplicate())),
        }
    }
}

/// An upstream that answers each URL from a queue of scripted replies and records every call.
/// A URL whose queue is down to one reply keeps giving it (a 599 when it never had one).
#[derive(Default)]
pub struct ScriptedUpstream {
    replies: RefCell<HashMap<String, VecDeque<Reply>>>,
    pub calls: RefCell<Vec<UpstreamRequest>>,
    clock: Option<ManualClock>,
}

impl ScriptedUpstream {
    /// An upstream whose `Reply::After` delays run on `clock`.
    pub fn with_clock(clock: ManualClock) -> Self {
        ScriptedUpstream {
            clock: Some(clock),
            ..Default::default()
        }
    }

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

fn respond(
    reply: Reply,
    clock: Option<ManualClock>,
) -> LocalFuture<Result<UpstreamResponse, TransportError>> {
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
        Reply::After(ms, inner) => Box::pin(async move {
            if let Some(c) = &clock {
                c.sleep(ms).await;
            }
            respond(*inner, clock).await
        }),
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
                Some(q) => q.front().map(Reply::duplicate),
                None => None,
            }
        };
        let reply =
            reply.unwrap_or_else(|| Reply::json(599, r#"{"error":{"message":"unscripted"}}"#));
        respond(reply, self.clock.clone())
    }
}
