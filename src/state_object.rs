//! The Durable Object that owns one shard of the router state. Named `group:<model group>`, it
//! holds that group's deployment records (cooldowns, per-minute usage and failures, in flight,
//! latency, totals): isolates send it batches of outcomes and reservations (`POST /exchange`);
//! it applies them in order, saves the shard to its storage (so it survives eviction and
//! restarts) and answers with its records. Named `deployments`, it holds the model list changed
//! at runtime (`GET`/`PUT /deployments`, versioned: a change must name the version it edits).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cell::RefCell;
use switchyard_core::config::StrategyArgs;
use switchyard_core::keys::{KeyBook, KeyOp};
use switchyard_core::ports::SavedOverlay;
use switchyard_core::router::Overlay;
use switchyard_core::state::ShardRequest;
use switchyard_core::stores::ShardStore;
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

const STORAGE_KEY: &str = "shard";
const DEPLOYMENTS_KEY: &str = "deployments";
const KEYS_KEY: &str = "keys";

/// A change: the new overlay and the version it was made from.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeploymentsChange {
    pub base_version: u64,
    pub overlay: Overlay,
}

/// What earlier versions saved: a whole model list that replaced the config's. It is not
/// taken up (it would freeze the config's list again); its version is kept so isolates move on.
#[derive(Debug, Default, Deserialize)]
struct Stored {
    #[serde(default)]
    version: u64,
    #[serde(default)]
    overlay: Option<Overlay>,
    #[serde(default)]
    model_list: Option<Vec<Value>>,
}

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

    async fn fetch(&self, req: Request) -> Result<Response> {
        let path = req.path();
        if path == "/deployments" {
            return self.deployments(req).await;
        }
        if path == "/keys" {
            return self.keys(req).await;
        }
        self.exchange(req).await
    }
}

impl RouterShard {
    /// The book of virtual keys (the object named `keys`): one operation per request, applied
    /// and saved before the answer, so limits and spend are exact.
    async fn keys(&self, mut req: Request) -> Result<Response> {
        let op: KeyOp = match serde_json::from_slice(&req.bytes().await?) {
            Ok(op) => op,
            Err(e) => return Response::error(format!("bad key operation: {e}"), 400),
        };
        let storage = self.state.storage();
        let mut book: KeyBook = storage.get(KEYS_KEY).await?.unwrap_or_default();
        let changes = !matches!(op, KeyOp::Get { .. });
        let reply = book.apply(op, js_sys::Date::now());
        if changes {
            storage.put(KEYS_KEY, &book).await?;
        }
        Response::from_json(&reply)
    }

    async fn deployments(&self, mut req: Request) -> Result<Response> {
        let storage = self.state.storage();
        let stored: Stored = storage.get(DEPLOYMENTS_KEY).await?.unwrap_or_default();
        if stored.overlay.is_none() && stored.model_list.is_some() {
            worker::console_warn!(
                "switchyard: a saved model list from an earlier version is ignored; runtime changes are now kept as an overlay over the config"
            );
        }
        let saved = SavedOverlay {
            version: stored.version,
            overlay: stored.overlay.unwrap_or_default(),
        };
        if req.method() != Method::Put {
            return Response::from_json(&saved);
        }
        let change: DeploymentsChange = match serde_json::from_slice(&req.bytes().await?) {
            Ok(c) => c,
            Err(e) => return Response::error(format!("bad deployments change: {e}"), 400),
        };
        if change.base_version != saved.version {
            return Ok(Response::from_json(&saved)?.with_status(409));
        }
        let next = SavedOverlay {
            version: saved.version + 1,
            overlay: change.overlay,
        };
        storage.put(DEPLOYMENTS_KEY, &next).await?;
        Response::from_json(&next)
    }

    async fn exchange(&self, mut req: Request) -> Result<Response> {
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
