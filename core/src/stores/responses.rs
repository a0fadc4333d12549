//! Stored responses in this isolate's memory (no Durable Object bound): bounded, the entry
//! that expires first making room.

use crate::error::Error;
use crate::ports::{Clock, LocalFuture, ResponseStore};
use crate::stored_response::{ResponseOp, ResponseReply, StoredResponse};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

pub struct MemoryResponses {
    entries: RefCell<HashMap<(String, String), StoredResponse>>,
    clock: Rc<dyn Clock>,
    capacity: usize,
}

impl MemoryResponses {
    pub fn new(clock: Rc<dyn Clock>, capacity: usize) -> Self {
        MemoryResponses {
            entries: RefCell::new(HashMap::new()),
            clock,
            capacity: capacity.max(1),
        }
    }

    fn apply_now(&self, owner: &str, op: ResponseOp) -> ResponseReply {
        let now = self.clock.now_ms();
        let mut entries = self.entries.borrow_mut();
        match op {
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
                if entries.len() >= self.capacity {
                    entries.retain(|_, r| r.expires_at_ms > now);
                }
                if entries.len() >= self.capacity {
                    let first = entries
                        .iter()
                        .min_by(|a, b| a.1.expires_at_ms.total_cmp(&b.1.expires_at_ms))
                        .map(|(k, _)| k.clone());
                    if let Some(k) = first {
                        entries.remove(&k);
                    }
                }
                entries.insert((owner.to_string(), record.id.clone()), record);
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
