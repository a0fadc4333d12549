//! The core's view of the outside world. The Worker implements these with `fetch`, `Date.now()`
//! and `setTimeout`; tests implement them with scripted fakes and a virtual clock.
//!
//! Futures are boxed and `!Send` (wasm32 is single-threaded), so the traits stay object-safe and
//! the router holds them as `Rc<dyn ...>` without generic parameters leaking everywhere.

use futures::Stream;
use std::future::Future;
use std::pin::Pin;

pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, TransportError>>>>;

/// Response headers the core reads; a transport may skip copying any others.
pub const KEPT_RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "retry-after",
    "retry-after-ms",
    "x-request-id",
];

/// One HTTP call to a provider, fully built by the core.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Hand back the body as a stream (SSE) instead of reading it whole.
    pub stream: bool,
}

pub enum UpstreamBody {
    Full(Vec<u8>),
    Stream(ByteStream),
}

pub struct UpstreamResponse {
    pub status: u16,
    /// Lower-case names, only those in [`KEPT_RESPONSE_HEADERS`] guaranteed.
    pub headers: Vec<(String, String)>,
    pub body: UpstreamBody,
}

impl UpstreamResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The call failed below HTTP: connection refused or reset, DNS, TLS, a broken body read.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportError {
    pub message: String,
}

/// Sends requests to providers. Dropping the returned future (or stream) must cancel the call.
pub trait Upstream {
    fn send(&self, req: UpstreamRequest) -> LocalFuture<Result<UpstreamResponse, TransportError>>;
}

/// Wall-clock time and timers.
pub trait Clock {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> f64;
    /// Resolves after `ms` milliseconds.
    fn sleep(&self, ms: u64) -> LocalFuture<()>;
}

/// Runtime changes to the model list as saved: a version and the overlay over the config's
/// own list.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedOverlay {
    pub version: u64,
    #[serde(default)]
    pub overlay: crate::overlay::Overlay,
}

/// What saving an overlay did.
#[derive(Debug, Clone, PartialEq)]
pub enum SaveOutcome {
    Saved(SavedOverlay),
    /// Another change was saved since `base_version`: this one was not; here is the newer.
    Conflict(SavedOverlay),
}

/// Where runtime deployment changes are kept, so every isolate and every restart sees them
/// (the `deployments` Durable Object). An admin change is saved here before it takes effect.
pub trait DeploymentStore {
    fn load(&self) -> LocalFuture<Result<SavedOverlay, crate::error::Error>>;
    fn save(
        &self,
        base_version: u64,
        overlay: &crate::overlay::Overlay,
    ) -> LocalFuture<Result<SaveOutcome, crate::error::Error>>;
}
