//! Cached answers in this isolate's memory: the response cache when no KV namespace is bound.

use crate::ports::{CacheStore, Clock, LocalFuture};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Answers kept in this isolate's memory: the cache when no KV namespace is bound.
pub struct MemoryCache {
    entries: RefCell<HashMap<String, (f64, Vec<u8>)>>,
    clock: Rc<dyn Clock>,
    max_entries: usize,
}

impl MemoryCache {
    pub fn new(clock: Rc<dyn Clock>, max_entries: usize) -> Self {
        MemoryCache {
            entries: RefCell::new(HashMap::new()),
            clock,
            max_entries,
        }
    }
}

impl CacheStore for MemoryCache {
    fn get(&self, key: &str) -> LocalFuture<Option<Vec<u8>>> {
        let now = self.clock.now_ms();
        let hit = self
            .entries
            .borrow()
            .get(key)
            .filter(|(expires, _)| *expires > now)
            .map(|(_, v)| v.clone());
        Box::pin(async move { hit })
    }

    fn put(&self, key: &str, value: Vec<u8>, ttl_secs: u64) -> LocalFuture<()> {
        let now = self.clock.now_ms();
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= self.max_entries {
            entries.retain(|_, (expires, _)| *expires > now);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(key.to_string(), (now + ttl_secs as f64 * 1000.0, value));
        Box::pin(async {})
    }
}
