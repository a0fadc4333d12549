//! The Durable Object's logic. The class itself is JavaScript (`src/js/entry.mjs`): it reads
//! the request and the value the object keeps under the path's storage key (`keys`,
//! `deployments`, `shard`; `/responses` keeps SQLite tables), calls [`handle`]
//! synchronously, writes back what it returns and answers.
//!
//! Named `group:<model group>`, an object holds that group's deployment records (cooldowns,
//! per-minute usage and failures, in flight, latency, totals): isolates send it batches of
//! outcomes and reservations (`POST /exchange`); it applies them in order, saves the shard (so
//! it survives eviction and restarts) and answers with its records. Named `keys`, it keeps the
//! book of virtual keys (`/keys`). Named `responses:<owner>`, it keeps that owner's stored
//! responses in SQLite (`/responses`). Named `deployments`, it holds the model list changed at
//! runtime (`GET`/`PUT /deployments`, versioned: a change must name the version it edits).
//! Named `log`, it keeps the request log and its per-minute history (`/log`): in memory for
//! the answers, in SQLite so it outlives the instance (`src/log_object.rs`).

use crate::deployments_sync::DeploymentsChange;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use switchyard_core::config::StrategyArgs;
use switchyard_core::keys::{KeyBook, KeyOp};
use switchyard_core::ports::SavedOverlay;
use switchyard_core::router::Overlay;
use switchyard_core::state::ShardRequest;
use switchyard_core::stored_response::{ResponseOp, ResponseReply, StoredResponse};
use switchyard_core::stores::ShardStore;

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

/// A parameter of a SQL statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SqlValue {
    Text(String),
    Real(f64),
}

/// The object's SQLite storage (`ctx.storage.sql`, synchronous): rows as JSON objects.
pub trait Sql {
    fn exec(&self, query: &str, params: &[SqlValue]) -> Result<Vec<Value>, String>;
}

/// The answer to one request: its status and body, and the text to save under the path's
/// storage key before answering.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub store: Option<String>,
}

impl Answer {
    pub(crate) fn json<T: Serialize>(value: &T) -> Answer {
        match serde_json::to_string(value) {
            Ok(body) => Answer {
                status: 200,
                body,
                store: None,
            },
            Err(e) => Answer::error(500, format!("could not write the answer: {e}")),
        }
    }
    pub(crate) fn error(status: u16, body: String) -> Answer {
        Answer {
            status,
            body,
            store: None,
        }
    }
    fn saving(mut self, text: Option<String>) -> Answer {
        self.store = text;
        self
    }
}

/// One object instance's memory.
#[derive(Default)]
struct Object {
    shard: Option<ShardStore>,
    /// The stored-responses tables exist.
    responses_table: bool,
    /// The request log, read from SQLite on the instance's first `/log`.
    pub(crate) log: Option<switchyard_core::request_log::LogBook>,
}

thread_local! {
    static OBJECTS: RefCell<HashMap<u32, Object>> = RefCell::new(HashMap::new());
    static NEXT: RefCell<u32> = const { RefCell::new(0) };
}

/// A new object instance's handle.
pub fn open() -> u32 {
    let id = NEXT.with(|n| {
        let mut n = n.borrow_mut();
        *n = n.wrapping_add(1);
        *n
    });
    OBJECTS.with(|o| o.borrow_mut().insert(id, Object::default()));
    id
}

/// One request to object `id`. `stored` is the value under the path's storage key, when the
/// class read it: always for `/keys` and `/deployments`, on an instance's first `/exchange`.
pub fn handle(
    id: u32,
    path: &str,
    method: &str,
    body: &str,
    stored: Option<String>,
    now_ms: f64,
    sql: &dyn Sql,
) -> Answer {
    OBJECTS.with(|objects| {
        let mut objects = objects.borrow_mut();
        let object = objects.entry(id).or_default();
        match path {
            "/keys" => keys(body, stored, now_ms),
            "/deployments" => deployments(method, body, stored),
            "/responses" => responses(object, body, now_ms, sql)
                .unwrap_or_else(|e| Answer::error(500, format!("stored responses: {e}"))),
            "/log" => crate::log_object::handle(&mut object.log, body, now_ms, sql)
                .unwrap_or_else(|e| Answer::error(500, format!("request log: {e}"))),
            _ => exchange(object, body, stored, now_ms),
        }
    })
}

/// The book of virtual keys: one operation per request, applied and saved before the answer,
/// so limits and spend are exact.
fn keys(body: &str, stored: Option<String>, now_ms: f64) -> Answer {
    let op: KeyOp = match serde_json::from_str(body) {
        Ok(op) => op,
        Err(e) => return Answer::error(400, format!("bad key operation: {e}")),
    };
    let mut book: KeyBook = match stored.as_deref().map(serde_json::from_str).transpose() {
        Ok(b) => b.unwrap_or_default(),
        Err(e) => return Answer::error(500, format!("the saved book of keys does not read: {e}")),
    };
    let changes = !matches!(op, KeyOp::Get { .. } | KeyOp::List);
    let reply = book.apply(op, now_ms);
    let save = if changes {
        match serde_json::to_string(&book) {
            Ok(t) => Some(t),
            Err(e) => return Answer::error(500, format!("could not save the book of keys: {e}")),
        }
    } else {
        None
    };
    Answer::json(&reply).saving(save)
}

fn deployments(method: &str, body: &str, stored: Option<String>) -> Answer {
    let stored: Stored = match stored.as_deref().map(serde_json::from_str).transpose() {
        Ok(s) => s.unwrap_or_default(),
        Err(e) => return Answer::error(500, format!("the saved deployments do not read: {e}")),
    };
    if stored.overlay.is_none() && stored.model_list.is_some() {
        crate::log::warn(
            "switchyard: a saved model list from an earlier version is ignored; runtime changes are now kept as an overlay over the config",
        );
    }
    let saved = SavedOverlay {
        version: stored.version,
        overlay: stored.overlay.unwrap_or_default(),
    };
    if method != "PUT" {
        return Answer::json(&saved);
    }
    let change: DeploymentsChange = match serde_json::from_str(body) {
        Ok(c) => c,
        Err(e) => return Answer::error(400, format!("bad deployments change: {e}")),
    };
    if change.base_version != saved.version {
        let mut conflict = Answer::json(&saved);
        conflict.status = 409;
        return conflict;
    }
    let next = SavedOverlay {
        version: saved.version + 1,
        overlay: change.overlay,
    };
    let text = serde_json::to_string(&next).ok();
    Answer::json(&next).saving(text)
}

fn exchange(object: &mut Object, body: &str, stored: Option<String>, now_ms: f64) -> Answer {
    let args = StrategyArgs::default();
    let store = object.shard.get_or_insert_with(|| match &stored {
        Some(s) => ShardStore::load(s, args.ttl_ms, args.max_latency_list_size),
        None => ShardStore::new(args.ttl_ms, args.max_latency_list_size),
    });
    let req: ShardRequest = match serde_json::from_str(body) {
        Ok(r) => r,
        Err(e) => return Answer::error(400, format!("bad shard request: {e}")),
    };
    let reply = store.handle(req, now_ms);
    let saved = store.save();
    Answer::json(&reply).saving(Some(saved))
}

/// One owner's stored responses in SQLite: a response expires `responses_ttl` after it was
/// made; each write first drops the expired ones, so the table holds only the living.
fn responses(
    object: &mut Object,
    body: &str,
    now_ms: f64,
    sql: &dyn Sql,
) -> Result<Answer, String> {
    let op: ResponseOp = match serde_json::from_str(body) {
        Ok(op) => op,
        Err(e) => return Ok(Answer::error(400, format!("bad responses operation: {e}"))),
    };
    if !object.responses_table {
        sql.exec(
            "CREATE TABLE IF NOT EXISTS responses (id TEXT PRIMARY KEY, expires_at REAL NOT NULL, record TEXT NOT NULL)",
            &[],
        )?;
        sql.exec(
            "CREATE INDEX IF NOT EXISTS responses_expiry ON responses (expires_at)",
            &[],
        )?;
        // Which response holds an item (`item_reference` names items, not responses).
        sql.exec(
            "CREATE TABLE IF NOT EXISTS response_items (item_id TEXT PRIMARY KEY, response_id TEXT NOT NULL)",
            &[],
        )?;
        object.responses_table = true;
    }
    let now = SqlValue::Real(now_ms);
    let found = |query: &str, key: String| -> Result<ResponseReply, String> {
        let rows = sql.exec(query, &[SqlValue::Text(key), now.clone()])?;
        let record = rows
            .first()
            .and_then(|r| r.get("record"))
            .and_then(Value::as_str)
            .and_then(|text| serde_json::from_str::<StoredResponse>(text).ok());
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
                std::slice::from_ref(&now),
            )?;
            sql.exec(
                "DELETE FROM responses WHERE expires_at <= ?",
                std::slice::from_ref(&now),
            )?;
            for item in record.item_ids() {
                sql.exec(
                    "INSERT OR REPLACE INTO response_items (item_id, response_id) VALUES (?, ?)",
                    &[
                        SqlValue::Text(item.to_string()),
                        SqlValue::Text(record.id.clone()),
                    ],
                )?;
            }
            let text = serde_json::to_string(&record).map_err(|e| e.to_string())?;
            sql.exec(
                "INSERT OR REPLACE INTO responses (id, expires_at, record) VALUES (?, ?, ?)",
                &[
                    SqlValue::Text(record.id),
                    SqlValue::Real(record.expires_at_ms),
                    SqlValue::Text(text),
                ],
            )?;
            ResponseReply::default()
        }
        ResponseOp::Delete { id } => {
            sql.exec(
                "DELETE FROM response_items WHERE response_id = ?",
                &[SqlValue::Text(id.clone())],
            )?;
            let gone = sql.exec(
                "DELETE FROM responses WHERE id = ? AND expires_at > ? RETURNING id",
                &[SqlValue::Text(id), now],
            )?;
            ResponseReply {
                record: None,
                deleted: !gone.is_empty(),
            }
        }
    };
    Ok(Answer::json(&reply))
}

#[cfg(test)]
#[path = "state_object_tests.rs"]
mod tests;
