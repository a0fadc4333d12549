//! Stored responses in this isolate's memory (no Durable Object bound): bounded, the oldest
//! making room (every response lives `responses_ttl`, so the oldest also expires first).

use crate::error::Error;
use crate::ports::{Clock, LocalFuture, ResponseStore};
use crate::stored_response::{ResponseOp, ResponseReply, StoredResponse};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

type Key = (String, String);

pub struct MemoryResponses {
    entries: RefCell<HashMap<Key, StoredResponse>>,
    /// (owner, item id) -> the id of the response holding it.
    items: RefCell<HashMap<Key, String>>,
    /// Keys in the order they were stored (a deleted or replaced one is skipped when reached).
    order: RefCell<VecDeque<Key>>,
    clock: Rc<dyn Clock>,
    capacity: usize,
}

impl MemoryResponses {
    pub fn new(clock: Rc<dyn Clock>, capacity: usize) -> Self {
        MemoryResponses {
            entries: RefCell::new(HashMap::new()),
            items: RefCell::new(HashMap::new()),
            order: RefCell::new(VecDeque::new()),
            clock,
            capacity: capacity.max(1),
        }
    }

    fn apply_now(&self, owner: &str, op: ResponseOp) -> ResponseReply {
        let now = self.clock.now_ms();
        let mut entries = self.entries.borrow_mut();
        let mut items = self.items.borrow_mut();
        match op {
            ResponseOp::GetByItem { item_id } => {
                let key = (owner.to_string(), item_id);
                let id = items.get(&key).cloned().unwrap_or_default();
                let record = entries.get(&(owner.to_string(), id));
                let record = record.filter(|r| r.expires_at_ms > now).cloned();
                if record.is_none() {
                    items.remove(&key);
                }
                ResponseReply {
                    record,
                    deleted: false,
                }
            }
            ResponseOp::Get { id } => {
                let key = (owner.to_string(), id);
                let record = entries.get(&key).filter(|r| r.expires_at_ms > now).cloned();
                if record.is_none() {
                    entries.remove(&key);
                }
                ResponseReply {
                    record,
                    deleted: false,
                }
            }
            ResponseOp::Put { record } => {
                let mut order = self.order.borrow_mut();
                while entries.len() >= self.capacity || order.len() > 2 * self.capacity {
                    let Some(oldest) = order.pop_front() else {
                        break;
                    };
                    if let Some(gone) = entries.remove(&oldest) {
                        for item in gone.item_ids() {
                            items.remove(&(oldest.0.clone(), item.to_string()));
                        }
                    }
                }
                for item in record.item_ids() {
                    items.insert((owner.to_string(), item.to_string()), record.id.clone());
                }
                let key = (owner.to_string(), record.id.clone());
                order.push_back(key.clone());
                entries.insert(key, record);
                ResponseReply::default()
            }
            ResponseOp::Delete { id } => {
                let gone = entries.remove(&(owner.to_string(), id));
                ResponseReply {
                    record: None,
                    deleted: gone.is_some_and(|r| r.expires_at_ms > now),
                }
            }
        }
    }
}

impl ResponseStore for MemoryResponses {
    fn apply(&self, owner: &str, op: ResponseOp) -> LocalFuture<Result<ResponseReply, Error>> {
        let reply = self.apply_now(owner, op);
        Box::pin(async move { Ok(reply) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ManualClock;
    use serde_json::json;

    fn record(id: &str) -> StoredResponse {
        StoredResponse {
            id: id.into(),
            expires_at_ms: 1e15,
            response: json!({"id": id}),
            input_items: Vec::new(),
            conversation: Vec::new(),
            native: false,
        }
    }

    #[test]
    fn the_oldest_makes_room_and_owners_stay_apart() {
        let store = MemoryResponses::new(Rc::new(ManualClock::at(0.0)), 2);
        let get = |owner: &str, id: &str| {
            store
                .apply_now(owner, ResponseOp::Get { id: id.into() })
                .record
                .is_some()
        };
        for id in ["a", "b", "c"] {
            store.apply_now("k1", ResponseOp::Put { record: record(id) });
        }
        assert!(!get("k1", "a") && get("k1", "b") && get("k1", "c"));
        assert!(!get("k2", "b"), "another owner's");
        assert!(
            store
                .apply_now(
                    "k1",
                    ResponseOp::GetByItem {
                        item_id: "c".into()
                    }
                )
                .record
                .is_none(),
            "no items of its own"
        );
        // A deleted entry's place in the queue does not evict a living one early.
        store.apply_now("k1", ResponseOp::Delete { id: "b".into() });
        store.apply_now(
            "k1",
            ResponseOp::Put {
                record: record("d"),
            },
        );
        assert!(get("k1", "c") && get("k1", "d"));
    }
}
