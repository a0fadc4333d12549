use super::*;
use crate::error::ErrorClass;
use crate::stores::ShardStore;
use crate::testing::ManualClock;
use futures::executor::block_on;

/// Shards living in this process, as their Durable Objects would; `down` makes every exchange
/// fail, as an unreachable object would.
#[derive(Default)]
struct Loopback {
    shards: RefCell<HashMap<String, ShardStore>>,
    down: Cell<bool>,
    exchanges: Cell<usize>,
    /// The shards' clock (1 s after the epoch unless a test moves it).
    now: Cell<Option<f64>>,
}

impl StateBackend for Rc<Loopback> {
    fn exchange(&self, shard: &str, req: ShardRequest) -> LocalFuture<Result<ShardReply, Error>> {
        self.exchanges.set(self.exchanges.get() + 1);
        let result = if self.down.get() {
            Err(Error::Internal {
                message: "down".into(),
            })
        } else {
            let mut shards = self.shards.borrow_mut();
            let store = shards
                .entry(shard.to_string())
                .or_insert_with(|| ShardStore::new(1e12, 10));
            Ok(store.handle(req, self.now.get().unwrap_or(1_000.0)))
        };
        Box::pin(async move { result })
    }
}

fn views(n: usize) -> (Rc<Loopback>, ManualClock, Vec<SharedView>) {
    let backend = Rc::new(Loopback::default());
    let clock = ManualClock::at(1_000.0);
    let vs = (0..n)
        .map(|_| {
            let v = SharedView::new(Rc::new(backend.clone()), Rc::new(clock.clone()), 1e12, 10);
            v.set_shards([
                ("a".to_string(), "g".to_string()),
                ("b".to_string(), "g".to_string()),
            ]);
            v
        })
        .collect();
    (backend, clock, vs)
}

fn ok(group: &str) -> Outcome {
    Outcome {
        group: group.into(),
        error: None,
        prompt_tokens: 2,
        completion_tokens: 3,
        cost: 1.0,
        latency_ms: Some(5.0),
        ttft_ms: None,
        duration_ms: 0.0,
        cancelled: false,
    }
}

fn sync_all(vs: &[SharedView]) {
    for v in vs {
        block_on(v.sync(&["g".to_string()]));
    }
}

#[test]
fn a_cooldown_seen_by_one_isolate_reaches_the_other_after_a_sync() {
    let (_, clock, vs) = views(2);
    let now = clock.now_ms();
    vs[0].cool_down("a", now + 10_000.0);
    assert!(
        vs[0].snapshot("a", now).cooling(now),
        "the isolate that saw it knows at once"
    );
    assert!(
        !vs[1].snapshot("a", now).cooling(now),
        "the other one only after syncing"
    );
    sync_all(&vs);
    assert!(vs[1].snapshot("a", now).cooling(now));
}

#[test]
fn outcomes_count_once_after_they_are_acknowledged() {
    let (_, clock, vs) = views(2);
    let now = clock.now_ms();
    vs[0].call_started("a", now);
    assert_eq!(vs[0].snapshot("a", now).in_flight, 1);
    sync_all(&vs);
    assert_eq!(
        vs[0].snapshot("a", now).in_flight,
        1,
        "remote now, not remote + local"
    );
    assert_eq!(
        vs[1].snapshot("a", now).in_flight,
        1,
        "least-busy elsewhere sees it"
    );
    vs[0].call_ended("a", &ok("g"), now);
    assert_eq!(
        vs[0].snapshot("a", now).in_flight,
        0,
        "a signed delta ends a remote call"
    );
    sync_all(&vs);
    let s = vs[1].snapshot("a", now);
    assert_eq!(
        (s.in_flight, s.requests_this_minute, s.tokens_this_minute),
        (0, 1, 5)
    );
    assert_eq!(vs[0].unacknowledged(), 0);
    let totals = vs[1].totals();
    assert_eq!(
        totals.iter().find(|(id, _)| id == "a").unwrap().1.successes,
        1
    );
}

#[test]
fn undelivered_batches_are_sent_again_once() {
    let (backend, clock, vs) = views(1);
    let now = clock.now_ms();
    vs[0].call_started("a", now);
    vs[0].call_ended(
        "a",
        &Outcome {
            error: Some(ErrorClass::Timeout),
            ..ok("g")
        },
        now,
    );
    backend.down.set(true);
    sync_all(&vs);
    assert_eq!(vs[0].unacknowledged(), 2);
    assert_eq!(
        vs[0].snapshot("a", now).fails_this_minute,
        1,
        "still counted locally"
    );
    vs[0].call_started("b", now);
    backend.down.set(false);
    sync_all(&vs);
    assert_eq!(vs[0].unacknowledged(), 0);
    let s = vs[0].snapshot("a", now);
    assert_eq!(
        (s.requests_this_minute, s.fails_this_minute),
        (1, 1),
        "delivered exactly once"
    );
    assert_eq!(vs[0].snapshot("b", now).in_flight, 1);
}

#[test]
fn plans_batch_and_refresh_and_never_overlap() {
    let (backend, clock, vs) = views(1);
    let v = vs[0].clone().with_timing(200.0, 1_000.0);
    let plan = v.plan().expect("never heard from g: refresh");
    assert_eq!(plan.shards, vec!["g".to_string()]);
    let job = v.sync_job(0).expect("a job");
    assert!(v.sync_job(0).is_none(), "one at a time");
    block_on(job);
    assert!(v.plan().is_none(), "fresh and nothing queued");
    v.call_started("a", clock.now_ms());
    let plan = v.plan().unwrap();
    assert!(
        plan.delay_ms > 0 && plan.delay_ms <= 200,
        "gathers a batch: {plan:?}"
    );
    let before = backend.exchanges.get();
    block_on(v.sync_job(0).unwrap());
    assert_eq!(
        backend.exchanges.get(),
        before + 1,
        "one exchange per shard per batch"
    );
    clock.advance(1_500.0);
    assert!(v.plan().is_some(), "stale again after refresh_ms");
}

#[test]
fn reservations_are_exact_across_isolates_and_degrade_when_the_shard_is_down() {
    let (backend, clock, vs) = views(2);
    let now = clock.now_ms();
    let limits = Limits {
        rpm: Some(5),
        max_parallel: None,
    };
    let mut granted = 0;
    for i in 0..20 {
        if block_on(vs[i % 2].reserve("a", "g", limits, now, now + 60_000.0)).unwrap() {
            granted += 1;
        }
    }
    assert_eq!(granted, 5);
    assert_eq!(
        vs[1].snapshot("a", now).requests_this_minute,
        5,
        "the reply refreshes the view"
    );
    backend.down.set(true);
    assert!(
        !block_on(vs[0].reserve("a", "g", limits, now, now + 60_000.0)).unwrap(),
        "local view holds the limit"
    );
    let open = Limits {
        rpm: Some(100),
        max_parallel: None,
    };
    assert!(block_on(vs[0].reserve("b", "g", open, now, now + 60_000.0)).unwrap());
    assert_eq!(vs[0].snapshot("b", now).in_flight, 1);
}

#[test]
fn reset_cost_reaches_the_shard() {
    let (_, clock, vs) = views(2);
    let now = clock.now_ms();
    vs[0].call_started("a", now);
    vs[0].call_ended("a", &ok("g"), now);
    sync_all(&vs);
    vs[1].reset_cost();
    sync_all(&vs);
    sync_all(&vs);
    let cost: f64 = vs[0].totals().iter().map(|(_, t)| t.cost).sum();
    assert_eq!(cost, 0.0);
}

#[test]
fn a_new_isolate_loads_a_group_once_before_routing() {
    let (backend, clock, vs) = views(2);
    let now = clock.now_ms();
    vs[0].cool_down("a", now + 10_000.0);
    sync_all(&vs[..1]);
    let load = vs[1].prepare("g").expect("never heard from g");
    block_on(load);
    assert!(vs[1].snapshot("a", now).cooling(now));
    assert!(vs[1].prepare("g").is_none(), "only once");
    backend.down.set(true);
    let v = SharedView::new(Rc::new(backend.clone()), Rc::new(clock.clone()), 1e12, 10);
    block_on(v.prepare("g").unwrap());
    assert!(
        v.prepare("g").is_none(),
        "an unreachable shard does not hold up every request"
    );
}

#[test]
fn readiness_asks_the_shards() {
    let (backend, _, vs) = views(1);
    assert_eq!(block_on(vs[0].reachable()), ("durable objects", true));
    backend.down.set(true);
    assert_eq!(block_on(vs[0].reachable()), ("durable objects", false));
}

#[test]
fn sequential_calls_at_max_parallel_one_each_get_the_slot() {
    // The end of one call is not yet reported when the next reserves: the reservation carries
    // it, so the shard frees the slot first.
    let (_, clock, vs) = views(1);
    let limits = Limits {
        rpm: None,
        max_parallel: Some(1),
    };
    for i in 0..20 {
        let now = clock.now_ms();
        assert!(
            block_on(vs[0].reserve("a", "g", limits, now, now + 60_000.0)).unwrap(),
            "call {i} refused"
        );
        vs[0].call_ended("a", &ok("g"), now);
    }
    // While one is running, a second is refused.
    let now = clock.now_ms();
    assert!(block_on(vs[0].reserve("a", "g", limits, now, now + 60_000.0)).unwrap());
    assert!(!block_on(vs[0].reserve("a", "g", limits, now, now + 60_000.0)).unwrap());
    assert_eq!(vs[0].unacknowledged(), 0);
}

#[test]
fn the_shard_keeps_the_latency_window_the_config_asks_for() {
    let backend = Rc::new(Loopback::default());
    let clock = ManualClock::at(1_000.0);
    let v = SharedView::new(Rc::new(backend.clone()), Rc::new(clock.clone()), 1e12, 50);
    v.set_shards([("a".to_string(), "g".to_string())]);
    let now = clock.now_ms();
    // 40 slow calls, then 10 fast: a window of 50 averages all of them.
    for i in 0..50 {
        v.call_started("a", now);
        let latency = if i < 40 { 100.0 } else { 10.0 };
        v.call_ended(
            "a",
            &Outcome {
                latency_ms: Some(latency),
                ttft_ms: None,
                ..ok("g")
            },
            now,
        );
    }
    block_on(v.sync(&["g".to_string()]));
    let mean = v.snapshot("a", now).latency_ms.unwrap();
    assert!((mean - 82.0).abs() < 1e-9, "mean of 50 samples, got {mean}");
}

#[test]
fn a_slot_whose_end_never_comes_lapses_at_its_deadline_even_under_traffic() {
    // An isolate starts a call and dies: its end is never reported.
    let (backend, clock, vs) = views(2);
    let limits = Limits {
        rpm: None,
        max_parallel: Some(2),
    };
    let t0 = clock.now_ms();
    let at = |now: f64| {
        clock.advance(now - clock.now_ms());
        backend.now.set(Some(now));
    };
    assert!(block_on(vs[0].reserve("a", "g", limits, t0, t0 + 30_000.0)).unwrap());
    // Another isolate keeps one call going at a time, well past the lost call's deadline: each
    // end frees its own (the newest) slot, never the lost one's deadline.
    for i in 0..40 {
        let now = t0 + f64::from(i) * 1_000.0;
        at(now);
        assert!(
            block_on(vs[1].reserve("a", "g", limits, now, now + 30_000.0)).unwrap(),
            "call {i}: the second slot is free"
        );
        let held = vs[1].snapshot("a", now).in_flight;
        assert_eq!(held, if now < t0 + 30_000.0 { 2 } else { 1 }, "at {i} s");
        vs[1].call_ended("a", &ok("g"), now);
    }
    // Past the deadline, both slots are free again.
    let now = t0 + 41_000.0;
    at(now);
    assert!(block_on(vs[1].reserve("a", "g", limits, now, now + 30_000.0)).unwrap());
    assert!(block_on(vs[1].reserve("a", "g", limits, now, now + 30_000.0)).unwrap());
}

#[test]
fn ends_reported_before_their_starts_are_acknowledged_still_free_the_slot() {
    let (_, clock, vs) = views(1);
    let now = clock.now_ms();
    vs[0].call_started("a", now);
    sync_all(&vs); // the start is at the shard now
    vs[0].call_ended("a", &ok("g"), now);
    assert_eq!(
        vs[0].snapshot("a", now).in_flight,
        0,
        "the delta releases the shard's slot"
    );
    sync_all(&vs);
    assert_eq!(vs[0].snapshot("a", now).in_flight, 0);
}

/// Answers on the second poll, so two reservations can be in flight at once.
struct Slow(Rc<Loopback>);

impl StateBackend for Slow {
    fn exchange(&self, shard: &str, req: ShardRequest) -> LocalFuture<Result<ShardReply, Error>> {
        let answer = self.0.exchange(shard, req);
        Box::pin(async move {
            let mut yielded = false;
            futures::future::poll_fn(|cx| {
                if yielded {
                    std::task::Poll::Ready(())
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
            })
            .await;
            answer.await
        })
    }
}

#[test]
fn concurrent_reservations_that_fail_keep_every_outcome_they_carried() {
    let backend = Rc::new(Loopback::default());
    let clock = ManualClock::at(1_000.0);
    let v = SharedView::new(
        Rc::new(Slow(backend.clone())),
        Rc::new(clock.clone()),
        1e12,
        10,
    );
    v.set_shards([("a".to_string(), "g".to_string())]);
    let now = clock.now_ms();
    let limits = Limits {
        rpm: None,
        max_parallel: Some(10),
    };
    v.call_started("a", now);
    v.call_ended("a", &ok("g"), now);
    backend.down.set(true);
    // Both leave at the same moment; the first takes the two queued outcomes with it.
    let (x, y) = block_on(futures::future::join(
        v.reserve("a", "g", limits, now, now + 1_000.0),
        v.reserve("a", "g", limits, now, now + 1_000.0),
    ));
    assert!(x.unwrap() && y.unwrap(), "held on the isolate's view");
    // The two outcomes are queued again, plus the two starts counted locally.
    assert_eq!(v.unacknowledged(), 4);
    backend.down.set(false);
    block_on(v.sync(&["g".to_string()]));
    let snap = v.snapshot("a", now);
    assert_eq!(snap.requests_this_minute, 3);
    assert_eq!(snap.in_flight, 2);
}
