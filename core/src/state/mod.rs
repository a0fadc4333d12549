//! What the router remembers between requests, per deployment: cooldowns, this minute's
//! requests, tokens and failures, calls in flight, recent latencies, and running totals; and
//! what isolates and shards send each other about it.
//!
//! Plain records and the rules that update them. The router reads and writes them through the
//! `RouterState` port (`ports.rs`); the core's own keepers (isolate memory, a shard, an isolate's
//! shared view) are in `stores/`.

mod entry;
mod messages;

pub use entry::Entry;
pub use messages::{Event, Limits, Reservation, ShardReply, ShardRequest};

use crate::error::ErrorClass;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const MINUTE_MS: f64 = 60_000.0;

/// The slot of a call started without a deadline of its own lapses after this long: the
/// longest default timeout (600 s) and a minute.
pub const MAX_SLOT_MS: f64 = 660_000.0;

/// How long after its own deadline a call's slot lapses when its end is never reported.
pub const SLOT_GRACE_MS: f64 = 60_000.0;

/// The calendar minute a time falls in: the window for rpm, tpm and allowed failures.
pub fn minute_of(now_ms: f64) -> u64 {
    (now_ms / MINUTE_MS).floor().max(0.0) as u64
}

/// One deployment as the router sees it at a moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub in_flight: u32,
    /// Epoch ms when its cooldown ends; 0 when it is not cooling down.
    pub cooldown_until_ms: f64,
    pub requests_this_minute: u64,
    pub tokens_this_minute: u64,
    pub calls_this_minute: u32,
    pub fails_this_minute: u32,
    pub fails_by_class: HashMap<ErrorClass, u32>,
    /// Mean of the recent latency samples within the TTL (ms per output token, or time to first
    /// token for streams); `None` before the first sample.
    pub latency_ms: Option<f64>,
    /// Median and 95th percentile of the same samples.
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    /// 95th percentile of the recent times to first token (streams only): where a hedge
    /// goes out when `hedge_after` is not set.
    pub ttft_p95_ms: Option<f64>,
}

impl Snapshot {
    pub fn cooling(&self, now_ms: f64) -> bool {
        self.cooldown_until_ms > now_ms
    }
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub group: String,
    /// `None` for success.
    pub error: Option<ErrorClass>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: f64,
    /// The latency sample to keep, if this call gives one.
    pub latency_ms: Option<f64>,
    /// A stream's time to first token, kept apart from `latency_ms` (which for a call is per
    /// output token): hedging is timed by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// How long the call took, start to last byte (0 when it never went out).
    #[serde(default)]
    pub duration_ms: f64,
    /// Ended by the client, not by the deployment: its own deadline (shorter than the
    /// deployment's) ran out, or it hung up. Frees the slot and charges the tokens, but says
    /// nothing of the deployment's health (no failure, no success, no latency sample).
    #[serde(default)]
    pub cancelled: bool,
}

/// Running totals per deployment, for `get_usage_stats` and metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub group: String,
    pub requests: u64,
    pub successes: u64,
    pub failures: u64,
    pub failures_by_class: HashMap<ErrorClass, u64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: f64,
    pub cooldowns: u64,
    /// Call durations: counts per bucket of [`DURATION_BUCKETS_MS`] (not cumulative), and sum.
    #[serde(default)]
    pub duration_buckets: Vec<u64>,
    #[serde(default)]
    pub duration_sum_ms: f64,
}

/// Upper bounds (ms) of the call-duration histogram; longer calls count only in the total.
pub const DURATION_BUCKETS_MS: &[f64] = &[
    50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 30_000.0,
];

impl Totals {
    pub fn observe_duration(&mut self, ms: f64) {
        if self.duration_buckets.len() != DURATION_BUCKETS_MS.len() + 1 {
            self.duration_buckets
                .resize(DURATION_BUCKETS_MS.len() + 1, 0);
        }
        let i = DURATION_BUCKETS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(DURATION_BUCKETS_MS.len());
        self.duration_buckets[i] += 1;
        self.duration_sum_ms += ms;
    }

    /// Adds another record's totals (one deployment's, from several places) to these.
    pub fn add(&mut self, o: &Totals) {
        if self.group.is_empty() {
            self.group = o.group.clone();
        }
        self.requests += o.requests;
        self.successes += o.successes;
        self.failures += o.failures;
        for (c, n) in &o.failures_by_class {
            *self.failures_by_class.entry(*c).or_default() += n;
        }
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
        self.cost += o.cost;
        self.cooldowns += o.cooldowns;
        if self.duration_buckets.len() < o.duration_buckets.len() {
            self.duration_buckets.resize(o.duration_buckets.len(), 0);
        }
        for (a, b) in self.duration_buckets.iter_mut().zip(&o.duration_buckets) {
            *a += b;
        }
        self.duration_sum_ms += o.duration_sum_ms;
    }
}
