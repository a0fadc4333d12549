//! What the router remembers between requests, per deployment: cooldowns, this minute's
//! requests, tokens and failures, calls in flight, recent latencies, and running totals.
//!
//! The router reads and writes it through [`RouterState`]. [`MemoryState`] keeps it in the
//! isolate; the Worker can put a shared store (a Durable Object) behind the same trait.

use crate::error::ErrorClass;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

pub const MINUTE_MS: f64 = 60_000.0;

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
}

impl Snapshot {
    pub fn cooling(&self, now_ms: f64) -> bool {
        self.cooldown_until_ms > now_ms
    }
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub group: String,
    /// `None` for success.
    pub error: Option<ErrorClass>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: f64,
    /// The latency sample to keep, if this call gives one.
    pub latency_ms: Option<f64>,
}

/// Running totals per deployment, for `get_usage_stats` and metrics.
#[derive(Debug, Clone, Default, PartialEq)]
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
}

pub trait RouterState {
    fn snapshot(&self, id: &str, now_ms: f64) -> Snapshot;
    /// A call starts: one more in flight, one more request this minute.
    fn call_started(&self, id: &str, now_ms: f64);
    /// The call that `call_started` counted has ended.
    fn call_ended(&self, id: &str, outcome: &Outcome, now_ms: f64);
    fn cool_down(&self, id: &str, until_ms: f64);
    fn totals(&self) -> Vec<(String, Totals)>;
    fn reset_cost(&self);
}

#[derive(Debug, Default)]
struct Entry {
    in_flight: u32,
    cooldown_until_ms: f64,
    minute: u64,
    requests: u64,
    tokens: u64,
    calls: u32,
    fails: u32,
    fails_by_class: HashMap<ErrorClass, u32>,
    latencies: VecDeque<(f64, f64)>,
    totals: Totals,
}

impl Entry {
    /// Starts a new window when the minute has turned.
    fn roll(&mut self, now_ms: f64) {
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
}

/// Router state kept in this isolate's memory.
pub struct MemoryState {
    entries: RefCell<HashMap<String, Entry>>,
    latency_ttl_ms: f64,
    latency_window: usize,
}

impl MemoryState {
    pub fn new(latency_ttl_ms: f64, latency_window: usize) -> Self {
        MemoryState {
            entries: RefCell::new(HashMap::new()),
            latency_ttl_ms,
            latency_window: latency_window.max(1),
        }
    }

    fn with<R>(&self, id: &str, now_ms: f64, f: impl FnOnce(&mut Entry) -> R) -> R {
        let mut entries = self.entries.borrow_mut();
        let e = match entries.get_mut(id) {
            Some(e) => e,
            None => entries.entry(id.to_string()).or_default(),
        };
        e.roll(now_ms);
        f(e)
    }
}

impl RouterState for MemoryState {
    fn snapshot(&self, id: &str, now_ms: f64) -> Snapshot {
        let ttl = self.latency_ttl_ms;
        let entries = self.entries.borrow();
        let Some(e) = entries.get(id) else {
            return Snapshot::default();
        };
        let same_minute = e.minute == minute_of(now_ms);
        let recent: Vec<f64> = e
            .latencies
            .iter()
            .filter(|(at, _)| now_ms - at <= ttl)
            .map(|(_, v)| *v)
            .collect();
        Snapshot {
            in_flight: e.in_flight,
            cooldown_until_ms: e.cooldown_until_ms,
            requests_this_minute: if same_minute { e.requests } else { 0 },
            tokens_this_minute: if same_minute { e.tokens } else { 0 },
            calls_this_minute: if same_minute { e.calls } else { 0 },
            fails_this_minute: if same_minute { e.fails } else { 0 },
            fails_by_class: if same_minute {
                e.fails_by_class.clone()
            } else {
                HashMap::new()
            },
            latency_ms: (!recent.is_empty())
                .then(|| recent.iter().sum::<f64>() / recent.len() as f64),
        }
    }

    fn call_started(&self, id: &str, now_ms: f64) {
        self.with(id, now_ms, |e| {
            e.in_flight += 1;
            e.requests += 1;
            e.totals.requests += 1;
        });
    }

    fn call_ended(&self, id: &str, o: &Outcome, now_ms: f64) {
        let window = self.latency_window;
        self.with(id, now_ms, |e| {
            e.in_flight = e.in_flight.saturating_sub(1);
            e.calls += 1;
            e.tokens += o.prompt_tokens + o.completion_tokens;
            let t = &mut e.totals;
            if t.group.is_empty() {
                t.group = o.group.clone();
            }
            t.prompt_tokens += o.prompt_tokens;
            t.completion_tokens += o.completion_tokens;
            t.cost += o.cost;
            match o.error {
                None => t.successes += 1,
                Some(class) => {
                    t.failures += 1;
                    *t.failures_by_class.entry(class).or_default() += 1;
                    e.fails += 1;
                    *e.fails_by_class.entry(class).or_default() += 1;
                }
            }
            if let Some(l) = o.latency_ms {
                e.latencies.push_back((now_ms, l));
                while e.latencies.len() > window {
                    e.latencies.pop_front();
                }
            }
        });
    }

    fn cool_down(&self, id: &str, until_ms: f64) {
        let mut entries = self.entries.borrow_mut();
        let e = entries.entry(id.to_string()).or_default();
        if until_ms > e.cooldown_until_ms {
            e.cooldown_until_ms = until_ms;
            e.totals.cooldowns += 1;
        }
    }

    fn totals(&self) -> Vec<(String, Totals)> {
        let mut v: Vec<(String, Totals)> = self
            .entries
            .borrow()
            .iter()
            .map(|(k, e)| (k.clone(), e.totals.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn reset_cost(&self) {
        for e in self.entries.borrow_mut().values_mut() {
            e.totals.cost = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(error: Option<ErrorClass>, tokens: u64, latency: Option<f64>) -> Outcome {
        Outcome {
            group: "g".into(),
            error,
            prompt_tokens: tokens,
            completion_tokens: 0,
            cost: 0.5,
            latency_ms: latency,
        }
    }

    #[test]
    fn counts_reset_when_the_minute_turns() {
        let s = MemoryState::new(1e9, 10);
        let t = 120_000.0;
        s.call_started("d", t);
        s.call_ended("d", &outcome(Some(ErrorClass::Timeout), 10, None), t + 5.0);
        let snap = s.snapshot("d", t + 10.0);
        assert_eq!(snap.requests_this_minute, 1);
        assert_eq!(snap.tokens_this_minute, 10);
        assert_eq!(snap.fails_this_minute, 1);
        assert_eq!(snap.fails_by_class[&ErrorClass::Timeout], 1);
        assert_eq!(snap.in_flight, 0);
        let later = s.snapshot("d", t + MINUTE_MS);
        assert_eq!(later.requests_this_minute, 0);
        assert_eq!(later.fails_this_minute, 0);
        assert!(later.fails_by_class.is_empty());
        // totals survive the minute
        let totals = s.totals();
        assert_eq!(totals[0].1.failures, 1);
        assert_eq!(totals[0].1.requests, 1);
    }

    #[test]
    fn in_flight_tracks_concurrent_calls() {
        let s = MemoryState::new(1e9, 10);
        for _ in 0..3 {
            s.call_started("d", 0.0);
        }
        assert_eq!(s.snapshot("d", 0.0).in_flight, 3);
        s.call_ended("d", &outcome(None, 0, None), 1.0);
        assert_eq!(s.snapshot("d", 1.0).in_flight, 2);
    }

    #[test]
    fn latency_window_and_ttl() {
        let s = MemoryState::new(1_000.0, 3);
        for (i, l) in [100.0, 200.0, 300.0, 400.0].iter().enumerate() {
            s.call_started("d", i as f64);
            s.call_ended("d", &outcome(None, 0, Some(*l)), i as f64);
        }
        assert_eq!(s.snapshot("d", 10.0).latency_ms, Some(300.0), "window of 3");
        assert_eq!(
            s.snapshot("d", 5_000.0).latency_ms,
            None,
            "older than the ttl"
        );
    }

    #[test]
    fn cooldown_only_moves_forward_and_cost_resets() {
        let s = MemoryState::new(1e9, 10);
        s.cool_down("d", 500.0);
        s.cool_down("d", 300.0);
        assert_eq!(s.snapshot("d", 0.0).cooldown_until_ms, 500.0);
        assert!(s.snapshot("d", 0.0).cooling(100.0));
        assert!(!s.snapshot("d", 0.0).cooling(500.0));
        s.call_started("d", 0.0);
        s.call_ended("d", &outcome(None, 1, None), 0.0);
        assert_eq!(s.totals()[0].1.cost, 0.5);
        s.reset_cost();
        assert_eq!(s.totals()[0].1.cost, 0.0);
        assert_eq!(s.totals()[0].1.cooldowns, 1);
    }
}
