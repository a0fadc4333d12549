//! Router state in one place's memory: an isolate's own, or a shard's inside its Durable Object.

use crate::error::Error;
use crate::ports::{LocalFuture, RouterState};
use crate::state::{Entry, Limits, Outcome, Snapshot, Totals};
use std::cell::RefCell;
use std::collections::HashMap;

pub struct MemoryState {
    pub(super) entries: RefCell<HashMap<String, Entry>>,
    pub(super) latency_ttl_ms: std::cell::Cell<f64>,
    pub(super) latency_window: std::cell::Cell<usize>,
}

impl MemoryState {
    pub fn new(latency_ttl_ms: f64, latency_window: usize) -> Self {
        MemoryState {
            entries: RefCell::new(HashMap::new()),
            latency_ttl_ms: std::cell::Cell::new(latency_ttl_ms),
            latency_window: std::cell::Cell::new(latency_window.max(1)),
        }
    }

    /// The latency window and TTL the config asks for (a shard learns them from its callers).
    pub fn set_latency_args(&self, ttl_ms: f64, window: usize) {
        self.latency_ttl_ms.set(ttl_ms);
        self.latency_window.set(window.max(1));
    }

    pub(super) fn with<R>(&self, id: &str, f: impl FnOnce(&mut Entry) -> R) -> R {
        let mut entries = self.entries.borrow_mut();
        match entries.get_mut(id) {
            Some(e) => f(e),
            None => f(entries.entry(id.to_string()).or_default()),
        }
    }

    /// Checks `limits` and counts the call as started if there is room (one step, so two
    /// callers can never both take the last slot).
    pub fn try_reserve(&self, id: &str, limits: Limits, now_ms: f64, until_ms: f64) -> bool {
        let snap = self.snapshot(id, now_ms);
        let full = limits
            .rpm
            .is_some_and(|rpm| snap.requests_this_minute >= rpm)
            || limits.max_parallel.is_some_and(|m| snap.in_flight >= m);
        if !full {
            self.call_started_until(id, now_ms, until_ms);
        }
        !full
    }

    /// Drops every slot past its deadline (a shard does it before answering).
    pub fn lapse_slots(&self, now_ms: f64) {
        for e in self.entries.borrow_mut().values_mut() {
            e.lapse(now_ms);
        }
    }
}

impl RouterState for MemoryState {
    fn snapshot(&self, id: &str, now_ms: f64) -> Snapshot {
        match self.entries.borrow().get(id) {
            Some(e) => Entry::combined(
                &[e],
                now_ms,
                self.latency_ttl_ms.get(),
                self.latency_window.get(),
            ),
            None => Snapshot::default(),
        }
    }

    fn call_started_until(&self, id: &str, now_ms: f64, until_ms: f64) {
        self.with(id, |e| e.started(now_ms, until_ms));
    }

    fn call_ended(&self, id: &str, o: &Outcome, now_ms: f64) {
        let window = self.latency_window.get();
        self.with(id, |e| e.ended(o, now_ms, window));
    }

    fn cool_down(&self, id: &str, until_ms: f64) {
        self.with(id, |e| e.cool_down(until_ms));
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

    fn totals_of(&self, id: &str) -> Totals {
        self.entries
            .borrow()
            .get(id)
            .map(|e| e.totals.clone())
            .unwrap_or_default()
    }

    fn reset_cost(&self) {
        for e in self.entries.borrow_mut().values_mut() {
            e.totals.cost = 0.0;
        }
    }

    fn reserve(
        &self,
        id: &str,
        _group: &str,
        limits: Limits,
        now_ms: f64,
        until_ms: f64,
    ) -> LocalFuture<Result<bool, Error>> {
        let granted = self.try_reserve(id, limits, now_ms, until_ms);
        Box::pin(async move { Ok(granted) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use crate::state::MINUTE_MS;

    fn outcome(error: Option<ErrorClass>, tokens: u64, latency: Option<f64>) -> Outcome {
        Outcome {
            group: "g".into(),
            error,
            prompt_tokens: tokens,
            completion_tokens: 0,
            cost: 0.5,
            latency_ms: latency,
            ttft_ms: None,
            duration_ms: 0.0,
            cancelled: false,
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
        assert_eq!(s.snapshot("d", 10.0).latency_p50_ms, Some(300.0));
        assert_eq!(s.snapshot("d", 10.0).latency_p95_ms, Some(400.0));
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

    #[test]
    fn reservations_hold_limits_exactly() {
        let s = MemoryState::new(1e9, 10);
        let rpm = Limits {
            rpm: Some(3),
            max_parallel: None,
        };
        let granted = (0..10)
            .filter(|_| s.try_reserve("d", rpm, 1_000.0, 1e12))
            .count();
        assert_eq!(granted, 3);
        assert!(
            s.try_reserve("d", rpm, MINUTE_MS + 1.0, 1e12),
            "next minute"
        );
        let par = Limits {
            rpm: None,
            max_parallel: Some(2),
        };
        assert!(s.try_reserve("p", par, 0.0, 1e12));
        assert!(s.try_reserve("p", par, 0.0, 1e12));
        assert!(!s.try_reserve("p", par, 0.0, 1e12));
        s.call_ended("p", &outcome(None, 0, None), 1.0);
        assert!(s.try_reserve("p", par, 1.0, 1e12));
    }
}
