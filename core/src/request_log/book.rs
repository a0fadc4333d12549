//! The log itself: the last records in a ring, and per-minute buckets per group and
//! deployment, built from the records as they are appended. Pure: the Durable Object (or the
//! isolate's memory) holds one and persists what [`LogBook::append`] says changed.

use super::{
    Histogram, History, HistoryQuery, LogOp, LogReply, Point, RequestRecord, SeriesTotal,
    HISTORY_MINUTES, LOG_CAPACITY,
};
use crate::state::minute_of;
use crate::trace::StepKind;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// A bucket's place: (minute, group, deployment); the deployment is empty for a request
/// refused before one was chosen.
pub type BucketKey = (u64, String, String);

/// One minute of one deployment's (or one group's refused) requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub requests: u64,
    pub errors: u64,
    pub rejected: u64,
    /// Calls to this deployment that failed, whether or not the request then succeeded
    /// elsewhere (a retry, a fallback): a deployment failing every call shows here.
    #[serde(default)]
    pub failed_attempts: u64,
    pub tokens: u64,
    pub cost: f64,
    pub latency: Histogram,
    pub ttft: Histogram,
}

#[derive(Debug, Clone, Default)]
pub struct LogBook {
    records: VecDeque<RequestRecord>,
    buckets: BTreeMap<BucketKey, Bucket>,
}

/// Listings return this many records unless asked for fewer.
const DEFAULT_LIMIT: usize = 100;

impl LogBook {
    /// A book restored from what was persisted (oldest record first).
    pub fn restore(records: Vec<RequestRecord>, buckets: Vec<(BucketKey, Bucket)>) -> Self {
        let mut book = LogBook {
            records: records.into(),
            buckets: buckets.into_iter().collect(),
        };
        while book.records.len() > LOG_CAPACITY {
            book.records.pop_front();
        }
        book
    }

    pub fn apply(&mut self, op: LogOp, now_ms: f64) -> LogReply {
        match op {
            LogOp::Append { records } => {
                self.append(records, now_ms);
                LogReply::Done
            }
            LogOp::List { filter } => {
                let limit = filter.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, LOG_CAPACITY);
                let matching = self.records.iter().rev().filter(|r| filter.matches(r));
                let mut records = Vec::new();
                let mut matched = 0;
                for r in matching {
                    if records.len() < limit {
                        records.push(r.clone());
                    }
                    matched += 1;
                }
                LogReply::Records { records, matched }
            }
            LogOp::Get { id } => LogReply::Record {
                record: self
                    .records
                    .iter()
                    .rev()
                    .find(|r| r.id == id)
                    .map(|r| Box::new(r.clone())),
            },
            LogOp::History { query } => LogReply::History {
                history: self.history(&query, now_ms),
            },
        }
    }

    /// Adds records (at most the capacity is kept) and counts them in their minutes; answers
    /// the buckets that changed, and the oldest minute still kept.
    pub fn append(&mut self, records: Vec<RequestRecord>, now_ms: f64) -> (Vec<BucketKey>, u64) {
        let mut touched: Vec<BucketKey> = Vec::new();
        let oldest = minute_of(now_ms).saturating_sub(HISTORY_MINUTES - 1);
        for r in records {
            let minute = minute_of(r.at_ms);
            if minute >= oldest {
                let key = (
                    minute,
                    r.group.clone().unwrap_or_default(),
                    r.deployment.clone().unwrap_or_default(),
                );
                let b = self.buckets.entry(key.clone()).or_default();
                b.requests += 1;
                if r.status >= 400 {
                    b.errors += 1;
                    if r.deployment.is_none() {
                        b.rejected += 1;
                    }
                }
                b.tokens += r.tokens;
                b.cost += r.cost;
                // A cache hit says nothing of the deployment's speed.
                if r.deployment.is_some() && r.cache.as_deref() != Some("hit") {
                    b.latency.observe(r.latency_ms);
                    if let Some(t) = r.ttft_ms {
                        b.ttft.observe(t);
                    }
                }
                if !touched.contains(&key) {
                    touched.push(key);
                }
                for s in r.steps.iter().filter(|s| s.kind == StepKind::Failed) {
                    let Some(d) = &s.deployment else { continue };
                    let key = (minute, s.group.clone(), d.clone());
                    self.buckets.entry(key.clone()).or_default().failed_attempts += 1;
                    if !touched.contains(&key) {
                        touched.push(key);
                    }
                }
            }
            self.records.push_back(r);
            if self.records.len() > LOG_CAPACITY {
                self.records.pop_front();
            }
        }
        self.buckets.retain(|(m, _, _), _| *m >= oldest);
        (touched, oldest)
    }

    pub fn bucket(&self, key: &BucketKey) -> Option<&Bucket> {
        self.buckets.get(key)
    }

    /// The newest `n` records, oldest first (what a store keeps).
    pub fn newest(&self, n: usize) -> impl Iterator<Item = &RequestRecord> {
        self.records
            .iter()
            .skip(self.records.len().saturating_sub(n))
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn history(&self, q: &HistoryQuery, now_ms: f64) -> History {
        let step = q.step_minutes.clamp(1, HISTORY_MINUTES);
        let minutes = q.minutes.clamp(1, HISTORY_MINUTES);
        let end = minute_of(now_ms) + 1;
        let start = end.saturating_sub(minutes) / step * step;
        let n = (end - start).div_ceil(step) as usize;
        // Each step and each series is a bucket too: the minutes' buckets added up.
        let mut steps = vec![Bucket::default(); n];
        let mut series: BTreeMap<(&str, &str), Bucket> = BTreeMap::new();
        let from: BucketKey = (start, String::new(), String::new());
        for ((minute, group, deployment), b) in self.buckets.range(from..) {
            series.entry((group, deployment)).or_default().add(b);
            let wanted = q.group.as_deref().is_none_or(|g| g == group)
                && q.deployment.as_deref().is_none_or(|d| d == deployment);
            if let Some(s) = steps
                .get_mut(((minute - start) / step) as usize)
                .filter(|_| wanted)
            {
                s.add(b);
            }
        }
        History {
            step_ms: step as f64 * 60_000.0,
            points: steps
                .iter()
                .enumerate()
                .map(|(i, b)| Point {
                    t: (start + i as u64 * step) as f64 * 60_000.0,
                    requests: b.requests,
                    errors: b.errors,
                    rejected: b.rejected,
                    failed_attempts: b.failed_attempts,
                    p50_ms: b.latency.quantile(0.5),
                    p95_ms: b.latency.quantile(0.95),
                    ttft_p50_ms: b.ttft.quantile(0.5),
                    ttft_p95_ms: b.ttft.quantile(0.95),
                    tokens: b.tokens,
                    cost: b.cost,
                })
                .collect(),
            totals: series
                .into_iter()
                .map(|((group, deployment), b)| SeriesTotal {
                    group: group.to_string(),
                    deployment: (!deployment.is_empty()).then(|| deployment.to_string()),
                    requests: b.requests,
                    errors: b.errors,
                    failed_attempts: b.failed_attempts,
                    tokens: b.tokens,
                    cost: b.cost,
                    p50_ms: b.latency.quantile(0.5),
                    p95_ms: b.latency.quantile(0.95),
                })
                .collect(),
        }
    }
}

impl Bucket {
    fn add(&mut self, o: &Bucket) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.rejected += o.rejected;
        self.failed_attempts += o.failed_attempts;
        self.tokens += o.tokens;
        self.cost += o.cost;
        self.latency.merge(&o.latency);
        self.ttft.merge(&o.ttft);
    }
}

#[cfg(test)]
#[path = "book_tests.rs"]
mod tests;
