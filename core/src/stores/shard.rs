//! A shard of the shared router state: the authoritative records of one model group's
//! deployments, kept in that group's Durable Object. Isolates send it their outcomes in batches
//! (`Event`s) and reservations for exact limits; it answers with its current records.

use super::MemoryState;
use crate::ports::RouterState;
use crate::state::{Entry, Event, ShardReply, ShardRequest, MAX_SLOT_MS};
use std::collections::HashMap;

/// The shard's own state, as its Durable Object holds it.
pub struct ShardStore {
    state: MemoryState,
}

impl ShardStore {
    pub fn new(latency_ttl_ms: f64, latency_window: usize) -> Self {
        ShardStore {
            state: MemoryState::new(latency_ttl_ms, latency_window),
        }
    }

    /// Restores a store saved with [`ShardStore::save`]; unreadable data starts empty.
    pub fn load(saved: &str, latency_ttl_ms: f64, latency_window: usize) -> Self {
        let store = ShardStore::new(latency_ttl_ms, latency_window);
        if let Ok(entries) = serde_json::from_str::<HashMap<String, Entry>>(saved) {
            *store.state.entries.borrow_mut() = entries;
        }
        store
    }

    pub fn save(&self) -> String {
        serde_json::to_string(&*self.state.entries.borrow()).unwrap_or_else(|_| "{}".into())
    }

    /// Applies the events in order, then the reservation (at `now_ms`, the shard's clock).
    pub fn handle(&self, req: ShardRequest, now_ms: f64) -> ShardReply {
        if let Some((ttl_ms, window)) = req.latency {
            self.state.set_latency_args(ttl_ms, window);
        }
        for ev in req.events {
            match ev {
                Event::Started { id, at, until } => {
                    self.state
                        .call_started_until(&id, at, until.unwrap_or(at + MAX_SLOT_MS))
                }
                Event::Ended { id, at, outcome } => self.state.call_ended(&id, &outcome, at),
                Event::CoolDown { id, until } => self.state.cool_down(&id, until),
                Event::ResetCost => self.state.reset_cost(),
            }
        }
        self.state.lapse_slots(now_ms);
        let granted = req.reserve.map(|r| {
            let until = r.until.unwrap_or(now_ms + MAX_SLOT_MS);
            self.state.try_reserve(&r.id, r.limits, now_ms, until)
        });
        // Bring every record to the shard's current minute before answering.
        let mut entries = self.state.entries.borrow_mut();
        for e in entries.values_mut() {
            e.roll(now_ms);
        }
        ShardReply {
            entries: entries.clone(),
            granted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use crate::state::{Limits, Outcome, Reservation};

    fn ended(id: &str, at: f64, error: Option<ErrorClass>) -> Event {
        Event::Ended {
            id: id.into(),
            at,
            outcome: Outcome {
                group: "g".into(),
                error,
                prompt_tokens: 3,
                completion_tokens: 4,
                cost: 0.25,
                latency_ms: Some(12.0),
                ttft_ms: None,
                duration_ms: 0.0,
                cancelled: false,
            },
        }
    }

    #[test]
    fn applies_events_and_survives_save_and_load() {
        let s = ShardStore::new(1e9, 10);
        let now = 3.0 * 60_000.0 + 5.0;
        let reply = s.handle(
            ShardRequest {
                latency: None,
                events: vec![
                    Event::Started {
                        id: "a".into(),
                        at: now,
                        until: None,
                    },
                    ended("a", now, Some(ErrorClass::RateLimit)),
                    Event::CoolDown {
                        id: "a".into(),
                        until: now + 1_000.0,
                    },
                ],
                reserve: None,
            },
            now,
        );
        let a = &reply.entries["a"];
        assert!(a.slots.is_empty());
        assert_eq!(a.fails, 1);
        assert_eq!(a.tokens, 7);
        assert_eq!(a.cooldown_until_ms, now + 1_000.0);
        let restored = ShardStore::load(&s.save(), 1e9, 10);
        assert_eq!(
            restored.handle(ShardRequest::default(), now).entries,
            reply.entries
        );
        assert!(ShardStore::load("garbage", 1e9, 10)
            .handle(ShardRequest::default(), now)
            .entries
            .is_empty());
    }

    #[test]
    fn reservations_are_exact_across_callers() {
        let s = ShardStore::new(1e9, 10);
        let limits = Limits {
            rpm: Some(5),
            max_parallel: None,
        };
        let granted = (0..64)
            .filter(|_| {
                s.handle(
                    ShardRequest {
                        latency: None,
                        events: vec![],
                        reserve: Some(Reservation {
                            id: "a".into(),
                            until: None,
                            limits,
                        }),
                    },
                    1_000.0,
                )
                .granted
                    == Some(true)
            })
            .count();
        assert_eq!(granted, 5);
    }

    #[test]
    fn reset_cost_event() {
        let s = ShardStore::new(1e9, 10);
        let r = s.handle(
            ShardRequest {
                latency: None,
                events: vec![
                    Event::Started {
                        id: "a".into(),
                        at: 0.0,
                        until: None,
                    },
                    ended("a", 1.0, None),
                    Event::ResetCost,
                ],
                reserve: None,
            },
            2.0,
        );
        assert_eq!(r.entries["a"].totals.cost, 0.0);
        assert_eq!(r.entries["a"].totals.successes, 1);
    }

    #[test]
    fn wire_format_round_trips() {
        let req = ShardRequest {
            latency: None,
            events: vec![ended("a", 1.0, Some(ErrorClass::Timeout)), Event::ResetCost],
            reserve: Some(Reservation {
                id: "a".into(),
                until: None,
                limits: Limits {
                    rpm: Some(1),
                    max_parallel: None,
                },
            }),
        };
        let text = serde_json::to_string(&req).unwrap();
        assert!(text.contains(r#""kind":"ended""#), "{text}");
        assert_eq!(serde_json::from_str::<ShardRequest>(&text).unwrap(), req);
    }
}
