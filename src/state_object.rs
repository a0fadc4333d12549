//! The Durable Object that owns one shard of the router state: the records of one model
//! group's deployments (cooldowns, per-minute usage and failures, in flight, latency, totals).
//! Isolates send it batches of outcomes and reservations; it applies them in order, saves the
//! shard to its storage (so it survives eviction and restarts) and answers with its records.

use std::cell::RefCell;
use switchyard_core::config::StrategyArgs;
use switchyard_core::state::{ShardRequest, ShardStore};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

const STORAGE_KEY: &str = "shard";

#[durable_object(fetch)]
pub struct RouterShard {
    state: State,
    store: RefCell<Option<ShardStore>>,
}

impl DurableObject for RouterShard {
    fn new(state: State, _env: Env) -> Self {
        RouterShard {
            state,
            store: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let args = StrategyArgs::default();
        if self.store.borrow().is_none() {
            let saved: Option<String> = self.state.storage().get(STORAGE_KEY).await?;
            let store = match saved {
                Some(s) => ShardStore::load(&s, args.ttl_ms, args.max_latency_list_size),
                None => ShardStore::new(args.ttl_ms, args.max_latency_list_size),
            };
            let mut slot = self.store.borrow_mut();
            if slot.is_none() {
                *slot = Some(store);
            }
        }
        let body = req.bytes().await?;
        let shard_req: ShardRequest = match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return Response::error(format!("bad shard request: {e}"), 400),
        };
        let (reply, saved) = {
            let guard = self.store.borrow();
            let Some(store) = guard.as_ref() else {
                return Response::error("shard store missing", 500);
            };
            let reply = store.handle(shard_req, js_sys::Date::now());
            (reply, store.save())
        };
        self.state.storage().put(STORAGE_KEY, saved).await?;
        Response::from_json(&reply)
    }
}
