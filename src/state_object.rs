//! The Durable Object that owns one shard of the router state. Named `group:<model group>`, it
//! holds that group's deployment records (cooldowns, per-minute usage and failures, in flight,
//! latency, totals): isolates send it batches of outcomes and reservations (`POST /exchange`);
//! it applies them in order, saves the shard to its storage (so it survives eviction and
//! restarts) and answers with its records. Named `responses:<owner>`, it keeps that owner's
//! stored responses. Named `deployments`, it holds the model list changed
//! at runtime (`GET`/`PUT /deployments`, versioned: a change must name the version it edits).

use crate::deployments_sync::DeploymentsChange;
use serde::Deserialize;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use switchyard_core::config::StrategyArgs;
use switchyard_core::keys::{KeyBook, KeyOp};
use switchyard_core::ports::SavedOverlay;
use switchyard_core::router::Overlay;
use switchyard_core::state::ShardRequest;
use switchyard_core::stored_response::{ResponseOp, ResponseReply, StoredResponse};
use switchyard_core::stores::ShardStore;
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorageValue, State,
};

const STORAGE_KEY: &str = "shard";
const DEPLOYMENTS_KEY: &str = "deployments";
const KEYS_KEY: &str = "keys";

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
    /// The stored-responses table exists (objects named `responses:<owner>`).
    responses_table: Cell<bool>,
}

impl DurableObject for RouterShard {
    fn new(state: State, _env: Env) -> Self {
        RouterShard {
            state,
            store: RefCell::new(None),
            responses_table: Cell::new(false),
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
        if path == "/responses" {
            return self.responses(req).await;
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

    /// One owner's stored responses (the object named `responses:<owner>`), in its SQLite
    /// table: a response expires `responses_ttl` after it was made; each write first drops the
    /// expired ones, so the table holds only the living.
    async fn responses(&self, mut req: Request) -> Result<Response> {
        let op: ResponseOp = match serde_json::from_slice(&req.bytes().await?) {
            Ok(op) => op,
            Err(e) => return Response::error(format!("bad responses operation: {e}"), 400),
        };
        let sql = self.state.storage().sql();
        if !self.responses_table.get() {
            sql.exec(
                "CREATE TABLE IF NOT EXISTS responses (id TEXT PRIMARY KEY, expires_at REAL NOT NULL, record TEXT NOT NULL)",
                None,
            )?;
            sql.exec(
                "CREATE INDEX IF NOT EXISTS responses_expiry ON responses (expires_at)",
                None,
            )?;
            // Which response holds an item (`item_reference` names items, not responses).
            sql.exec(
                "CREATE TABLE IF NOT EXISTS response_items (item_id TEXT PRIMARY KEY, response_id TEXT NOT NULL)",
                None,
            )?;
            self.responses_table.set(true);
        }
        #[derive(Deserialize)]
        struct Row {
            record: String,
        }
        let now = SqlStorageValue::Float(js_sys::Date::now());
        let found = |query: &str, key: String| -> Result<ResponseReply> {
            let rows: Vec<Row> = sql
                .exec(query, vec![SqlStorageValue::String(key), now.clone()])?
                .to_array()?;
            let record = rows
                .first()
                .and_then(|r| serde_json::from_str::<StoredResponse>(&r.record).ok());
            Ok(ResponseReply {
                record,
                deleted: false,
            })
        };
        let reply = match op {
            ResponseOp::Get { id } => found(
                "SELECT record FROM responses WHERE id = ? AND expires_at > ?",
                id,
            )?,
            ResponseOp::GetByItem { item_id } => found(
                "SELECT r.record FROM response_items i JOIN responses r ON r.id = i.response_id WHERE i.item_id = ? AND r.expires_at > ?",
                item_id,
            )?,
            ResponseOp::Put { record } => {
                sql.exec(
                    "DELETE FROM response_items WHERE response_id IN (SELECT id FROM responses WHERE expires_at <= ?)",
                    vec![now.clone()],
                )?;
                sql.exec("DELETE FROM responses WHERE expires_at <= ?", vec![now.clone()])?;
                for item in record.item_ids() {
                    sql.exec(
                        "INSERT OR REPLACE INTO response_items (item_id, response_id) VALUES (?, ?)",
                        vec![
                            SqlStorageValue::String(item.to_string()),
                            SqlStorageValue::String(record.id.clone()),
                        ],
                    )?;
                }
                let text = serde_json::to_string(&record)?;
                sql.exec(
                    "INSERT OR REPLACE INTO responses (id, expires_at, record) VALUES (?, ?, ?)",
                    vec![
                        SqlStorageValue::String(record.id),
                        SqlStorageValue::Float(record.expires_at_ms),
                        SqlStorageValue::String(text),
                    ],
                )?;
                ResponseReply::default()
            }
            ResponseOp::Delete { id } => {
                sql.exec(
                    "DELETE FROM response_items WHERE response_id = ?",
                    vec![SqlStorageValue::String(id.clone())],
                )?;
                let gone: Vec<serde_json::Value> = sql
                    .exec(
                        "DELETE FROM responses WHERE id = ? AND expires_at > ? RETURNING id",
                        vec![SqlStorageValue::String(id), now],
                    )?
                    .to_array()?;
                ResponseReply {
                    record: None,
                    deleted: !gone.is_empty(),
                }
            }
        };
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
