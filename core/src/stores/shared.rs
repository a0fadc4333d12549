//! An isolate's view of the shared router state.
//!
//! Reads never wait: a snapshot is the shard's last reply plus this isolate's own outcomes not
//! yet acknowledged. Outcomes are queued per shard and sent in one batch per shard at most every
//! `batch_ms` (the Worker runs the batch after the response, in `waitUntil`); each reply refreshes
//! the view. A shard not heard from for `refresh_ms` is asked again with the next batch. Only a
//! reservation for an exact limit (`rpm`, `max_parallel_requests`) waits for its shard.

use crate::error::Error;
use crate::ports::{Clock, LocalFuture, RouterState, StateBackend};
use crate::state::{
    Entry, Event, Limits, Outcome, Reservation, ShardReply, ShardRequest, Snapshot, Totals,
    MAX_SLOT_MS,
};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// Outcomes queued for one shard, and the same folded into records for reading.
#[derive(Default)]
struct Queue {
    events: Vec<Event>,
    delta: HashMap<String, Entry>,
}

impl Queue {
    fn push(&mut self, ev: Event, window: usize) {
        match &ev {
            Event::Started { id, at, until } => self
                .delta
                .entry(id.clone())
                .or_default()
                .started(*at, until.unwrap_or(*at + MAX_SLOT_MS)),
            Event::Ended { id, at, outcome } => self
                .delta
                .entry(id.clone())
                .or_default()
                .ended_in_delta(outcome, *at, window),
            Event::CoolDown { id, until } => {
                self.delta.entry(id.clone()).or_default().cool_down(*until)
            }
            Event::ResetCost => {
                for e in self.delta.values_mut() {
                    e.totals.cost = 0.0;
                }
            }
        }
        self.events.push(ev);
    }
}

struct Inner {
    backend: Rc<dyn StateBackend>,
    clock: Rc<dyn Clock>,
    ttl_ms: f64,
    window: usize,
    batch_ms: Cell<f64>,
    refresh_ms: Cell<f64>,
    /// Deployment id -> shard.
    shard_of: RefCell<HashMap<String, String>>,
    /// Each shard's records from its last reply.
    remote: RefCell<HashMap<String, Entry>>,
    heard_at: RefCell<HashMap<String, f64>>,
    /// Queued, not sent yet.
    pending: RefCell<HashMap<String, Queue>>,
    /// Sent, not acknowledged yet.
    sending: RefCell<HashMap<String, Queue>>,
    sync_scheduled: Cell<bool>,
    last_sync: Cell<f64>,
    /// Numbers the reservations in flight (each holds its outcomes under its own key).
    reservations: Cell<u64>,
}

#[derive(Clone)]
pub struct SharedView(Rc<Inner>);

/// What a sync will do: the shards it will talk to.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncPlan {
    pub shards: Vec<String>,
    /// Wait this long first, so outcomes gather into one batch.
    pub delay_ms: u64,
}

impl SharedView {
    pub fn new(
        backend: Rc<dyn StateBackend>,
        clock: Rc<dyn Clock>,
        ttl_ms: f64,
        window: usize,
    ) -> Self {
        SharedView(Rc::new(Inner {
            backend,
            clock,
            ttl_ms,
            window: window.max(1),
            batch_ms: Cell::new(200.0),
            refresh_ms: Cell::new(1_000.0),
            shard_of: RefCell::new(HashMap::new()),
            remote: RefCell::new(HashMap::new()),
            heard_at: RefCell::new(HashMap::new()),
            pending: RefCell::new(HashMap::new()),
            sending: RefCell::new(HashMap::new()),
            sync_scheduled: Cell::new(false),
            last_sync: Cell::new(f64::MIN),
            reservations: Cell::new(0),
        }))
    }

    /// How long outcomes may gather before a batch, and how old a shard's reply may get.
    pub fn with_timing(self, batch_ms: f64, refresh_ms: f64) -> Self {
        self.0.batch_ms.set(batch_ms);
        self.0.refresh_ms.set(refresh_ms);
        self
    }

    /// Which shard (model group) each deployment belongs to; call when the model list changes.
    pub fn set_shards(&self, pairs: impl IntoIterator<Item = (String, String)>) {
        *self.0.shard_of.borrow_mut() = pairs.into_iter().collect();
    }

    fn shard(&self, id: &str) -> String {
        self.0
            .shard_of
            .borrow()
            .get(id)
            .cloned()
            .unwrap_or_else(|| "_".to_string())
    }

    fn record(&self, shard: String, ev: Event) {
        let window = self.0.window;
        self.0
            .pending
            .borrow_mut()
            .entry(shard)
            .or_default()
            .push(ev, window);
    }

    /// The sync to run now, if any: shards with queued outcomes or an old reply. `None` while
    /// one is already scheduled.
    pub fn plan(&self) -> Option<SyncPlan> {
        if self.0.sync_scheduled.get() {
            return None;
        }
        let now = self.0.clock.now_ms();
        let mut shards: Vec<String> = self
            .0
            .pending
            .borrow()
            .iter()
            .filter(|(_, q)| !q.events.is_empty())
            .map(|(s, _)| s.clone())
            .collect();
        let heard = self.0.heard_at.borrow();
        let mut known: Vec<String> = self.0.shard_of.borrow().values().cloned().collect();
        known.sort();
        known.dedup();
        for s in known {
            let stale = heard
                .get(&s)
                .is_none_or(|at| now - at >= self.0.refresh_ms.get());
            if stale && !shards.contains(&s) {
                shards.push(s);
            }
        }
        if shards.is_empty() {
            return None;
        }
        shards.sort();
        let since = now - self.0.last_sync.get();
        let delay_ms = (self.0.batch_ms.get() - since).max(0.0) as u64;
        Some(SyncPlan { shards, delay_ms })
    }

    /// Plans a sync and returns the work to run in the background (`waitUntil`), or `None`.
    /// `at_least_ms` delays it further, so a job scheduled as a request starts also carries the
    /// call that request is about to start.
    pub fn sync_job(&self, at_least_ms: u64) -> Option<LocalFuture<()>> {
        let mut plan = self.plan()?;
        plan.delay_ms = plan.delay_ms.max(at_least_ms);
        self.0.sync_scheduled.set(true);
        let view = self.clone();
        Some(Box::pin(async move {
            if plan.delay_ms > 0 {
                view.0.clock.sleep(plan.delay_ms).await;
            }
            view.sync(&plan.shards).await;
            view.0.sync_scheduled.set(false);
        }))
    }

    /// Sends each shard its queued outcomes (if any) and takes in its reply.
    pub async fn sync(&self, shards: &[String]) {
        self.0.last_sync.set(self.0.clock.now_ms());
        let calls = shards.iter().map(|shard| {
            let queue = self
                .0
                .pending
                .borrow_mut()
                .remove(shard)
                .unwrap_or_default();
            let req = ShardRequest {
                events: queue.events.clone(),
                reserve: None,
                latency: self.latency(),
            };
            self.0.sending.borrow_mut().insert(shard.clone(), queue);
            let fut = self.0.backend.exchange(shard, req);
            async move { (shard.clone(), fut.await) }
        });
        for (shard, result) in futures::future::join_all(calls).await {
            let sent = self
                .0
                .sending
                .borrow_mut()
                .remove(&shard)
                .unwrap_or_default();
            match result {
                Ok(reply) => self.take_reply(&shard, reply),
                Err(_) => self.requeue(&shard, sent),
            }
        }
    }

    fn latency(&self) -> Option<(f64, usize)> {
        Some((self.0.ttl_ms, self.0.window))
    }

    /// Not delivered: queue it again ahead of anything newer.
    fn requeue(&self, shard: &str, sent: Queue) {
        let window = self.0.window;
        let mut pending = self.0.pending.borrow_mut();
        let newer = pending.remove(shard).unwrap_or_default();
        let mut q = Queue::default();
        for ev in sent.events.into_iter().chain(newer.events) {
            q.push(ev, window);
        }
        pending.insert(shard.to_string(), q);
    }

    fn take_reply(&self, shard: &str, reply: ShardReply) {
        let shard_of = self.0.shard_of.borrow();
        let mut remote = self.0.remote.borrow_mut();
        remote.retain(|id, _| shard_of.get(id).is_none_or(|s| s != shard));
        remote.extend(reply.entries);
        self.0
            .heard_at
            .borrow_mut()
            .insert(shard.to_string(), self.0.clock.now_ms());
    }

    /// Outcomes queued or in flight to the shards (what a test waits on).
    pub fn unacknowledged(&self) -> usize {
        let count = |m: &HashMap<String, Queue>| m.values().map(|q| q.events.len()).sum::<usize>();
        count(&self.0.pending.borrow()) + count(&self.0.sending.borrow())
    }
}

impl RouterState for SharedView {
    fn snapshot(&self, id: &str, now_ms: f64) -> Snapshot {
        let shard = self.shard(id);
        let remote = self.0.remote.borrow();
        let pending = self.0.pending.borrow();
        let sending = self.0.sending.borrow();
        // In flight to the shard: its batch, and any reservation carrying outcomes.
        let in_flight = sending
            .iter()
            .filter(|(k, _)| k.split('\u{0}').next() == Some(shard.as_str()))
            .filter_map(|(_, q)| q.delta.get(id));
        let parts: Vec<&Entry> = [
            remote.get(id),
            pending.get(&shard).and_then(|q| q.delta.get(id)),
        ]
        .into_iter()
        .flatten()
        .chain(in_flight)
        .collect();
        Entry::combined(&parts, now_ms, self.0.ttl_ms, self.0.window)
    }

    fn call_started_until(&self, id: &str, now_ms: f64, until_ms: f64) {
        self.record(
            self.shard(id),
            Event::Started {
                id: id.into(),
                at: now_ms,
                until: Some(until_ms),
            },
        );
    }

    fn call_ended(&self, id: &str, outcome: &Outcome, now_ms: f64) {
        self.record(
            self.shard(id),
            Event::Ended {
                id: id.into(),
                at: now_ms,
                outcome: outcome.clone(),
            },
        );
    }

    fn cool_down(&self, id: &str, until_ms: f64) {
        self.record(
            self.shard(id),
            Event::CoolDown {
                id: id.into(),
                until: until_ms,
            },
        );
    }

    fn totals(&self) -> Vec<(String, Totals)> {
        let mut all: HashMap<String, Totals> = HashMap::new();
        for (id, e) in self.0.remote.borrow().iter() {
            all.entry(id.clone()).or_default().add(&e.totals);
        }
        for queues in [&self.0.sending, &self.0.pending] {
            for q in queues.borrow().values() {
                for (id, e) in &q.delta {
                    all.entry(id.clone()).or_default().add(&e.totals);
                }
            }
        }
        let mut v: Vec<(String, Totals)> = all.into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn totals_of(&self, id: &str) -> Totals {
        let mut t = Totals::default();
        if let Some(e) = self.0.remote.borrow().get(id) {
            t.add(&e.totals);
        }
        for queues in [&self.0.sending, &self.0.pending] {
            for q in queues.borrow().values() {
                if let Some(e) = q.delta.get(id) {
                    t.add(&e.totals);
                }
            }
        }
        t
    }

    fn reset_cost(&self) {
        for e in self.0.remote.borrow_mut().values_mut() {
            e.totals.cost = 0.0;
        }
        let mut shards: Vec<String> = self.0.shard_of.borrow().values().cloned().collect();
        shards.sort();
        shards.dedup();
        for s in shards {
            self.record(s, Event::ResetCost);
        }
    }

    fn set_deployments(&self, pairs: Vec<(String, String)>) {
        self.set_shards(pairs);
    }

    fn reachable(&self) -> LocalFuture<(&'static str, bool)> {
        let backend = self.0.backend.clone();
        Box::pin(async move {
            let ok = backend
                .exchange("_readiness", ShardRequest::default())
                .await
                .is_ok();
            ("durable objects", ok)
        })
    }

    fn prepare(&self, group: &str) -> Option<LocalFuture<()>> {
        if self.0.heard_at.borrow().contains_key(group) {
            return None;
        }
        let view = self.clone();
        let shard = group.to_string();
        Some(Box::pin(async move {
            // Once per group and isolate: without it a new isolate would route blind (to a
            // deployment cooling down, or past a limit) until its first sync.
            if let Ok(reply) = view
                .0
                .backend
                .exchange(
                    &shard,
                    ShardRequest {
                        latency: view.latency(),
                        ..ShardRequest::default()
                    },
                )
                .await
            {
                view.take_reply(&shard, reply);
            } else {
                // Unreachable: mark it heard so requests are not held up again; the next sync
                // retries.
                view.0.heard_at.borrow_mut().insert(shard, f64::MIN);
            }
        }))
    }

    fn reserve(
        &self,
        id: &str,
        group: &str,
        limits: Limits,
        now_ms: f64,
        until_ms: f64,
    ) -> LocalFuture<Result<bool, Error>> {
        let view = self.clone();
        let id = id.to_string();
        let shard = group.to_string();
        Box::pin(async move {
            // The outcomes not yet reported go with the reservation: a call that just ended
            // here frees its slot at the shard before the shard checks the limit.
            let queue = view
                .0
                .pending
                .borrow_mut()
                .remove(&shard)
                .unwrap_or_default();
            let req = ShardRequest {
                events: queue.events.clone(),
                reserve: Some(Reservation {
                    id: id.clone(),
                    limits,
                    until: Some(until_ms),
                }),
                latency: view.latency(),
            };
            let n = view.0.reservations.get() + 1;
            view.0.reservations.set(n);
            let key = format!("{shard}\u{0}reserve:{n}");
            view.0.sending.borrow_mut().insert(key.clone(), queue);
            let result = view.0.backend.exchange(&shard, req).await;
            let sent = view.0.sending.borrow_mut().remove(&key).unwrap_or_default();
            if result.is_err() {
                view.requeue(&shard, sent);
            }
            match result {
                Ok(reply) => {
                    let granted = reply.granted.unwrap_or(false);
                    view.take_reply(&shard, reply);
                    Ok(granted)
                }
                Err(_) => {
                    // The shard is unreachable: hold the limit on this isolate's view rather
                    // than refuse every request.
                    let snap = view.snapshot(&id, now_ms);
                    let full = limits.rpm.is_some_and(|r| snap.requests_this_minute >= r)
                        || limits.max_parallel.is_some_and(|m| snap.in_flight >= m);
                    if !full {
                        view.call_started_until(&id, now_ms, until_ms);
                    }
                    Ok(!full)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests;
