//! The core's view of the outside world, every trait the host implements or supplies: the
//! upstream call, the RS256 signer, the clock, the router state and its backend, the response cache, stored
//! responses, the book of virtual keys, secrets, the key minter and the deployment store. The
//! Worker implements them with `fetch`, `Date.now()`, Durable Objects, KV and its bindings;
//! `stores/` holds the core's own in-memory ones; tests add scripted fakes and a virtual clock.
//!
//! Futures are boxed and `!Send` (wasm32 is single-threaded), so the traits stay object-safe and
//! the router holds them as `Rc<dyn ...>` without generic parameters leaking everywhere.

use crate::error::Error;
use crate::keys::{KeyOp, KeyReply};
use crate::state::{Limits, Outcome, ShardReply, ShardRequest, Snapshot, Totals, MAX_SLOT_MS};
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

/// Signs with RSASSA-PKCS1-v1_5 over SHA-256 (RS256, a service account's JWT): `pkcs8` is the
/// private key as PKCS#8 DER. Natively the `rsa` crate does it (feature `rsa-signer`); at the
/// edge the platform's WebCrypto, so the Worker carries no big-integer arithmetic.
pub trait Rs256Signer {
    fn sign(&self, pkcs8: &[u8], message: &[u8]) -> LocalFuture<Result<Vec<u8>, String>>;
}

/// Wall-clock time and timers.
pub trait Clock {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> f64;
    /// Resolves after `ms` milliseconds.
    fn sleep(&self, ms: u64) -> LocalFuture<()>;
}

/// What the router remembers of each deployment between requests (`state/`): in this
/// isolate's memory, or shared across isolates through the model groups' Durable Objects.
pub trait RouterState {
    fn snapshot(&self, id: &str, now_ms: f64) -> Snapshot;
    /// A call starts: one more in flight (a slot that lapses at `until_ms` if the call's end is
    /// never reported), one more request this minute.
    fn call_started_until(&self, id: &str, now_ms: f64, until_ms: f64);
    /// [`RouterState::call_started_until`] with the longest deadline a call can have.
    fn call_started(&self, id: &str, now_ms: f64) {
        self.call_started_until(id, now_ms, now_ms + MAX_SLOT_MS);
    }
    /// The call that `call_started` (or a granted `reserve`) counted has ended.
    fn call_ended(&self, id: &str, outcome: &Outcome, now_ms: f64);
    fn cool_down(&self, id: &str, until_ms: f64);
    fn totals(&self) -> Vec<(String, Totals)>;
    /// One deployment's running totals (cheaper than [`RouterState::totals`] where the state
    /// can find them directly).
    fn totals_of(&self, id: &str) -> Totals {
        self.totals()
            .into_iter()
            .find(|(d, _)| d == id)
            .map(|(_, t)| t)
            .unwrap_or_default()
    }
    fn reset_cost(&self);
    /// For limits that must hold exactly (`rpm`, `max_parallel_requests`): checks them and, if
    /// there is room, counts the call as started (its slot lapsing at `until_ms`), in one step.
    /// `Ok(false)`: no room.
    fn reserve(
        &self,
        id: &str,
        group: &str,
        limits: Limits,
        now_ms: f64,
        until_ms: f64,
    ) -> LocalFuture<Result<bool, Error>>;
    /// The deployments (id, model group) in force; shared state shards by group.
    fn set_deployments(&self, _pairs: Vec<(String, String)>) {}
    /// Work to await before the first routing decision for `group` in this isolate (a shared
    /// view that has never heard from the group's shard loads it once); `None` when ready.
    fn prepare(&self, _group: &str) -> Option<LocalFuture<()>> {
        None
    }
    /// Where the state lives and whether it answers (`/health/readiness`).
    fn reachable(&self) -> LocalFuture<(&'static str, bool)> {
        Box::pin(async { ("isolate memory", true) })
    }
}

/// Sends a request to one shard of the shared state (a model group's Durable Object).
pub trait StateBackend {
    fn exchange(&self, shard: &str, req: ShardRequest) -> LocalFuture<Result<ShardReply, Error>>;
}

/// Where the response cache keeps answers: Workers KV at the edge, memory otherwise.
pub trait CacheStore {
    fn get(&self, key: &str) -> LocalFuture<Option<Vec<u8>>>;
    fn put(&self, key: &str, value: Vec<u8>, ttl_secs: u64) -> LocalFuture<()>;
}

/// Where stored responses live (the Responses API's `store`): a Durable Object per owner at
/// the edge, memory otherwise. `owner` ([`crate::stored_response::owner_for`]) keeps each
/// caller's apart.
pub trait ResponseStore {
    fn apply(
        &self,
        owner: &str,
        op: crate::stored_response::ResponseOp,
    ) -> LocalFuture<Result<crate::stored_response::ResponseReply, Error>>;
}

/// Where the book of virtual keys lives: a Durable Object at the edge, memory otherwise.
pub trait KeyStore {
    fn apply(&self, op: KeyOp) -> LocalFuture<Result<KeyReply, Error>>;
}

/// Where the request log and its history live: a Durable Object (`log`) at the edge,
/// memory otherwise. Written in batches after the responses (`stores::LogWriter`).
pub trait RequestLogStore {
    fn apply(
        &self,
        op: crate::request_log::LogOp,
    ) -> LocalFuture<Result<crate::request_log::LogReply, Error>>;
}

/// The host's secrets and variables by name (`os.environ/NAME` in the config).
pub trait Secrets {
    fn secret(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Secrets for F {
    fn secret(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Makes new virtual keys.
pub trait KeyMinter {
    /// A new key, or `None` when there is no secure random source (no key rather than a
    /// guessable one).
    fn new_key(&self) -> Option<String>;
}

impl<F: Fn() -> Option<String>> KeyMinter for F {
    fn new_key(&self) -> Option<String> {
        self()
    }
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
    fn load(&self) -> LocalFuture<Result<SavedOverlay, Error>>;
    fn save(
        &self,
        base_version: u64,
        overlay: &crate::overlay::Overlay,
    ) -> LocalFuture<Result<SaveOutcome, Error>>;
}
