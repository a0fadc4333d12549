//! What an isolate and a shard of the shared state send each other: outcomes in batches
//! (`Event`s), a reservation for an exact limit, and the shard's records in reply.

use super::{Entry, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One thing an isolate saw happen, reported to the shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Started {
        id: String,
        at: f64,
        /// When the call's slot lapses if its end never arrives (older isolates: none).
        #[serde(default)]
        until: Option<f64>,
    },
    Ended {
        id: String,
        at: f64,
        outcome: Outcome,
    },
    CoolDown {
        id: String,
        until: f64,
    },
    ResetCost,
}

/// Limits a reservation checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub rpm: Option<u64>,
    pub max_parallel: Option<u32>,
}

impl Limits {
    pub fn any(&self) -> bool {
        self.rpm.is_some() || self.max_parallel.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: String,
    pub limits: Limits,
    /// When the call's slot lapses if its end never arrives.
    #[serde(default)]
    pub until: Option<f64>,
}

/// What an isolate sends a shard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardRequest {
    #[serde(default)]
    pub events: Vec<Event>,
    #[serde(default)]
    pub reserve: Option<Reservation>,
    /// The config's `routing_strategy_args` for latencies: (TTL ms, window size). The shard
    /// has no config of its own, so every caller says what it routes by.
    #[serde(default)]
    pub latency: Option<(f64, usize)>,
}

/// What a shard answers: its records after the request, and a reservation's verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardReply {
    pub entries: HashMap<String, Entry>,
    #[serde(default)]
    pub granted: Option<bool>,
}
