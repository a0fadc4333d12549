//! Usage statistics as typed data: what `/usage` serializes and what the Prometheus renderer
//! and the metrics log line read, so a renamed field is a compile error, not silent zeros.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageStats {
    /// Retries, fallbacks and hedges per requested model group, in this isolate.
    pub groups: BTreeMap<String, GroupTally>,
    pub total_requests: u64,
    pub total_failures: u64,
    pub total_tokens: u64,
    pub total_cost: f64,
    pub deployments: Vec<DeploymentUsage>,
}

/// How requests for a model group were served, counted in this isolate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct GroupTally {
    pub retries: u64,
    pub fallbacks: u64,
    /// Requests that sent a hedge (a second attempt racing a first one that had not answered).
    pub hedges: u64,
    /// ... where the hedge answered first.
    pub hedge_wins: u64,
    /// Streams that broke after the client saw tokens and another deployment finished.
    pub continued: u64,
}

impl GroupTally {
    pub fn add(&mut self, o: &GroupTally) {
        self.retries += o.retries;
        self.fallbacks += o.fallbacks;
        self.hedges += o.hedges;
        self.hedge_wins += o.hedge_wins;
        self.continued += o.continued;
    }
}

/// One deployment since the state began (or its cost was reset), and right now.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeploymentUsage {
    pub id: String,
    pub model_name: String,
    pub model: String,
    pub requests: u64,
    pub successes: u64,
    pub failures: u64,
    /// By error class label (`rate_limit`, `timeout`, ...).
    pub failures_by_class: BTreeMap<String, u64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: f64,
    pub cooldowns: u64,
    pub in_flight: u32,
    pub cooldown_remaining_s: f64,
    pub rpm_used: u64,
    pub tpm_used: u64,
    pub rpm_limit: Option<u64>,
    pub tpm_limit: Option<u64>,
    pub latency_ms: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    /// Upper bounds of the call-duration histogram, and its counts (one more: the overflow).
    pub duration_buckets_ms: &'static [f64],
    pub duration_counts: Vec<u64>,
    pub duration_sum_ms: f64,
}
