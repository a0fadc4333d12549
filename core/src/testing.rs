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
///
/// A *timed* clock ([`ManualClock::timed_at`]) instead keeps each timer's deadline, and
/// [`ManualClock::run`] moves time to the earliest one whenever nothing else can go on: timers
/// race as they would in real time (a hedge against a slow answer), still without waiting.
#[derive(Default, Clone)]
pub struct ManualClock {
    now: Rc<Cell<f64>>,
    /// Every sleep that actually elapsed, in order.
    pub slept: Rc<RefCell<Vec<u64>>>,
    /// A timed clock: the deadlines of the timers pending at the last poll.
    timers: Option<Rc<RefCell<Vec<f64>>>>,
}

impl ManualClock {
    pub fn at(ms: f64) -> Self {
        let c = ManualClock::default();
        c.now.set(ms);
        c
    }

    /// A clock whose timers complete in deadline order, under [`ManualClock::run`].
    pub fn timed_at(ms: f64) -> Self {
        ManualClock {
            timers: Some(Rc::default()),
            ..ManualClock::at(ms)
        }
    }

    pub fn advance(&self, ms: f64) {
        self.now.set(self.now.get() + ms);
    }

    /// Runs `fut` on a timed clock to its end, moving time to the next deadline whenever it
    /// waits; `None` when it waits with no timer left (it would hang).
    pub fn run<F: std::future::Future>(&self, fut: F) -> Option<F::Output> {
        use std::task::{Context, Poll};
        // On an untimed clock timers complete at once and none is ever pending.
        let timers = self.timers.clone().unwrap_or_default();
        let mut fut = std::pin::pin!(fut);
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            // Every poll reaches every live future (no waker is relied on), and each pending
            // timer says its deadline again; a dropped timer says nothing.
            timers.borrow_mut().clear();
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return Some(out);
            }
            let next = timers
                .borrow()
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
            if !next.is_finite() {
                return None;
            }
            self.now.set(next.max(self.now.get()));
        }
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> f64 {
        self.now.get()
    }
    fn sleep(&self, ms: u64) -> LocalFuture<()> {
        let now = self.now.clone();
        let slept = self.slept.clone();
        let Some(timers) = self.timers.clone() else {
            return Box::pin(futures::future::lazy(move |_| {
                now.set(now.get() + ms as f64);
                slept.borrow_mut().push(ms);
            }));
        };
        let mut deadline: Option<f64> = None;
        Box::pin(futures::future::poll_fn(move |_| {
            let due = *deadline.get_or_insert(now.get() + ms as f64);
            if now.get() >= due {
                slept.borrow_mut().push(ms);
                std::task::Poll::Ready(())
            } else {
                timers.borrow_mut().push(due);
                std::task::Poll::Pending
            }
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
    /// The same, its headers at once and its first chunk after `ms` on the upstream's clock.
    StreamAfter(u64, Vec<Result<Vec<u8>, String>>),
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
            Reply::StreamAfter(ms, chunks) => Reply::StreamAfter(*ms, chunks.clone()),
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
        Reply::StreamAfter(ms, chunks) => Box::pin(async move {
            use futures::StreamExt;
            let wait = match &clock {
                Some(c) => c.sleep(ms),
                None => Box::pin(futures::future::ready(())),
            };
            let body = futures::stream::once(wait)
                .filter_map(|()| futures::future::ready(None))
                .chain(futures::stream::iter(
                    chunks
                        .into_iter()
                        .map(|c| c.map_err(|message| TransportError { message })),
                ));
            let s: ByteStream = Box::pin(body);
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

/// The one router-building fixture the tests share: a config text (JSON or YAML), a scripted
/// upstream on a manual clock, and whatever secrets and stores a test adds.
pub struct Fixture {
    pub up: Rc<ScriptedUpstream>,
    pub clock: ManualClock,
    seed: u64,
    secrets: Vec<(String, String)>,
    deployments: Option<Rc<dyn crate::ports::DeploymentStore>>,
    minter: Option<Rc<dyn crate::ports::KeyMinter>>,
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::at(0.0)
    }
}

impl Fixture {
    /// A fixture whose clock starts at `ms` (the upstream's delays follow it).
    pub fn at(ms: f64) -> Self {
        let clock = ManualClock::at(ms);
        Fixture {
            up: Rc::new(ScriptedUpstream::with_clock(clock.clone())),
            clock,
            seed: 1,
            secrets: Vec::new(),
            deployments: None,
            minter: None,
        }
    }

    /// A fixture on a timed clock ([`ManualClock::timed_at`]) starting at `ms`.
    pub fn timed_at(ms: f64) -> Self {
        let clock = ManualClock::timed_at(ms);
        Fixture {
            up: Rc::new(ScriptedUpstream::with_clock(clock.clone())),
            clock,
            ..Fixture::at(ms)
        }
    }

    /// The same, in the middle of a minute (so a test's failures stay inside one).
    pub fn mid_minute() -> Self {
        Fixture::at(10.0 * 60_000.0 + 1_000.0)
    }

    /// Calls go to `up` (a test that made its upstream first).
    pub fn upstream(mut self, up: &Rc<ScriptedUpstream>) -> Self {
        self.up = up.clone();
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// A secret (`os.environ/NAME`) the config and runtime changes may name.
    pub fn secret(mut self, name: &str, value: &str) -> Self {
        self.secrets.push((name.into(), value.into()));
        self
    }

    pub fn deployment_store(mut self, store: Rc<dyn crate::ports::DeploymentStore>) -> Self {
        self.deployments = Some(store);
        self
    }

    /// Keys come from `mint` (by default from a generator seeded like the router).
    pub fn key_minter(mut self, mint: Rc<dyn crate::ports::KeyMinter>) -> Self {
        self.minter = Some(mint);
        self
    }

    fn lookup(&self) -> impl Fn(&str) -> Option<String> + 'static {
        let secrets = self.secrets.clone();
        move |n: &str| secrets.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
    }

    /// The config for `text`, or its error.
    pub fn config(&self, text: &str) -> Result<crate::config::Config, crate::error::Error> {
        crate::config::Config::from_text(text, &self.lookup())
    }

    /// A router over `text`; the test fails if the config does not load.
    #[allow(clippy::panic)] // test support: a fixture that cannot load should stop the test
    pub fn router(&self, text: &str) -> crate::router::Router {
        let config = match self.config(text) {
            Ok(c) => c,
            Err(e) => panic!("fixture config: {}", e.message()),
        };
        self.router_for(config)
    }

    pub fn router_for(&self, config: crate::config::Config) -> crate::router::Router {
        let mut rt =
            crate::router::Runtime::new(self.up.clone(), Rc::new(self.clock.clone()), self.seed);
        rt.secrets = Some(Rc::new(self.lookup()));
        rt.deployments = self.deployments.clone();
        crate::router::Router::new(config, rt)
    }

    /// Cache and keys in memory on the fixture's clock, keys minted as [`Fixture::key_minter`]
    /// says.
    pub fn services(&self) -> crate::api::Services {
        let mut services = crate::api::Services::in_memory(Rc::new(self.clock.clone()));
        services.minter = Some(
            self.minter
                .clone()
                .unwrap_or_else(|| Rc::new(SeededMinter::new(self.seed))),
        );
        services
    }

    /// The HTTP app over `text` (an invalid config becomes the app's error, as in the Worker).
    pub fn app(&self, text: &str) -> crate::api::App {
        crate::api::App::new(
            self.config(text).map(|c| self.router_for(c)),
            self.services(),
        )
    }
}

/// Keys from a seeded, non-cryptographic generator: repeatable keys for tests.
pub struct SeededMinter(std::cell::RefCell<crate::rng::Rng>);

impl SeededMinter {
    pub fn new(seed: u64) -> Self {
        SeededMinter(std::cell::RefCell::new(crate::rng::Rng::seeded(seed)))
    }
}

impl crate::ports::KeyMinter for SeededMinter {
    fn new_key(&self) -> Option<String> {
        let mut rng = self.0.borrow_mut();
        Some(format!("sk-{}{:016x}", rng.hex_id(), rng.next_u64()))
    }
}
