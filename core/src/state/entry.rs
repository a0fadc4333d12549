//! One deployment's counters. The same record serves as a whole state (in an isolate or in a
//! shard's Durable Object) and as a delta of outcomes not yet reported, which is why a delta
//! counts `released` slots: it may end more calls than it started.
//!
//! Calls in flight are slots, each with its deadline, in the order they started. An end frees
//! the newest slot, so a slot whose end never comes (an isolate evicted mid-call, a lost report)
//! stays the oldest and lapses at its deadline: in-flight counts heal themselves.

use super::{minute_of, Outcome, Snapshot, Totals};
use crate::error::ErrorClass;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Deadlines (epoch ms) of the calls in flight, oldest first.
    #[serde(default)]
    pub slots: Vec<f64>,
    /// In a delta: ends of calls whose slots are in another record (the shard's).
    #[serde(default)]
    pub released: u32,
    pub cooldown_until_ms: f64,
    /// The minute the per-minute counts below belong to.
    pub minute: u64,
    pub requests: u64,
    pub tokens: u64,
    pub calls: u32,
    pub fails: u32,
    pub fails_by_class: HashMap<ErrorClass, u32>,
    /// (epoch ms, value), oldest first.
    pub latencies: VecDeque<(f64, f64)>,
    /// Times to first token of streams, (epoch ms, ms), oldest first.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub ttfts: VecDeque<(f64, f64)>,
    pub totals: Totals,
}

impl Entry {
    /// Starts a new window when the minute has turned.
    pub fn roll(&mut self, now_ms: f64) {
        let m = minute_of(now_ms);
        if m != self.minute {
            self.minute = m;
            self.requests = 0;
            self.tokens = 0;
            self.calls = 0;
            self.fails = 0;
            self.fails_by_class.clear();
        }
    }

    /// A call starts; its slot lapses at `until_ms` if its end is never reported.
    pub fn started(&mut self, now_ms: f64, until_ms: f64) {
        self.roll(now_ms);
        self.lapse(now_ms);
        self.slots.push(until_ms);
        self.requests += 1;
        self.totals.requests += 1;
    }

    /// A call ends (in a whole record: a slot that already lapsed has nothing left to free).
    pub fn ended(&mut self, o: &Outcome, now_ms: f64, window: usize) {
        self.slots.pop();
        self.count_end(o, now_ms, window);
    }

    /// A call ends, recorded in a delta: its slot may be in the shard's record.
    pub fn ended_in_delta(&mut self, o: &Outcome, now_ms: f64, window: usize) {
        if self.slots.pop().is_none() {
            self.released += 1;
        }
        self.count_end(o, now_ms, window);
    }

    /// Drops slots past their deadline.
    pub fn lapse(&mut self, now_ms: f64) {
        self.slots.retain(|until| *until > now_ms);
    }

    fn count_end(&mut self, o: &Outcome, now_ms: f64, window: usize) {
        self.roll(now_ms);
        self.tokens += o.prompt_tokens + o.completion_tokens;
        let t = &mut self.totals;
        if t.group.is_empty() {
            t.group = o.group.clone();
        }
        t.prompt_tokens += o.prompt_tokens;
        t.completion_tokens += o.completion_tokens;
        t.cost += o.cost;
        if o.cancelled {
            return;
        }
        self.calls += 1;
        if o.duration_ms > 0.0 {
            t.observe_duration(o.duration_ms);
        }
        match o.error {
            None => t.successes += 1,
            Some(class) => {
                t.failures += 1;
                *t.failures_by_class.entry(class).or_default() += 1;
                self.fails += 1;
                *self.fails_by_class.entry(class).or_default() += 1;
            }
        }
        for (list, sample) in [
            (&mut self.latencies, o.latency_ms),
            (&mut self.ttfts, o.ttft_ms),
        ] {
            if let Some(v) = sample {
                list.push_back((now_ms, v));
                while list.len() > window {
                    list.pop_front();
                }
            }
        }
    }

    pub fn cool_down(&mut self, until_ms: f64) {
        if until_ms > self.cooldown_until_ms {
            self.cooldown_until_ms = until_ms;
            self.totals.cooldowns += 1;
        }
    }

    /// The snapshot of several records of one deployment added together (a shard's last reply
    /// and the isolate's unreported outcomes), as of `now_ms`.
    pub fn combined(parts: &[&Entry], now_ms: f64, ttl_ms: f64, window: usize) -> Snapshot {
        let minute = minute_of(now_ms);
        let mut s = Snapshot::default();
        let mut slots: Vec<f64> = Vec::new();
        let mut samples: Vec<(f64, f64)> = Vec::new();
        let mut ttfts: Vec<(f64, f64)> = Vec::new();
        for e in parts {
            // Each record's releases free the newest slots of the records before it.
            let freed = (e.released as usize).min(slots.len());
            slots.truncate(slots.len() - freed);
            slots.extend(&e.slots);
            s.cooldown_until_ms = s.cooldown_until_ms.max(e.cooldown_until_ms);
            if e.minute == minute {
                s.requests_this_minute += e.requests;
                s.tokens_this_minute += e.tokens;
                s.calls_this_minute += e.calls;
                s.fails_this_minute += e.fails;
                for (c, n) in &e.fails_by_class {
                    *s.fails_by_class.entry(*c).or_default() += n;
                }
            }
            samples.extend(e.latencies.iter().filter(|(at, _)| now_ms - at <= ttl_ms));
            ttfts.extend(e.ttfts.iter().filter(|(at, _)| now_ms - at <= ttl_ms));
        }
        s.in_flight = slots.iter().filter(|until| **until > now_ms).count() as u32;
        if let Some(values) = newest_sorted(&mut samples, window) {
            s.latency_ms = Some(values.iter().sum::<f64>() / values.len() as f64);
            s.latency_p50_ms = Some(quantile(&values, 0.5));
            s.latency_p95_ms = Some(quantile(&values, 0.95));
        }
        if let Some(values) = newest_sorted(&mut ttfts, window) {
            s.ttft_p95_ms = Some(quantile(&values, 0.95));
        }
        s
    }
}

/// The values of the newest `window` samples, in ascending order; `None` when there are none.
fn newest_sorted(samples: &mut [(f64, f64)], window: usize) -> Option<Vec<f64>> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let recent = &samples[samples.len().saturating_sub(window)..];
    let mut values: Vec<f64> = recent.iter().map(|(_, v)| *v).collect();
    values.sort_by(f64::total_cmp);
    Some(values)
}

/// The `q` quantile of ascending, non-empty `values` (nearest rank).
fn quantile(values: &[f64], q: f64) -> f64 {
    values[((values.len() - 1) as f64 * q).round() as usize]
}
