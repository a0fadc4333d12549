//! OpenAI's Responses API: `POST /v1/responses` routed as its chat translation like any chat
//! call (keys, cache, retries, fallbacks, hedging, continuation), answered as a response object
//! or its event stream; `store` keeps it for its owner, and `GET` / `DELETE
//! /v1/responses/{id}` and `GET /v1/responses/{id}/input_items` read it back.

use super::auth::Caller;
use super::model_call::{call, from_translated};
use super::Services;
use crate::error::Error;
use crate::http::{HttpBody, HttpRequest, HttpResponse};
use crate::inbound::responses::{self, Ids};
use crate::inbound::responses_stream::StreamTranslator;
use crate::ports::ResponseStore;
use crate::router::Router;
use crate::stored_response::{owner_for, ResponseOp, StoredResponse};
use futures::StreamExt;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;

/// `/v1/responses/...` with an id.
pub(super) enum ResponsesRoute {
    Get(String),
    Delete(String),
    InputItems(String),
}

fn owner(caller: &Caller) -> String {
    match caller {
        Caller::Key { hash, .. } => owner_for(Some(hash), false),
        Caller::Master => owner_for(None, true),
        Caller::Open => owner_for(None, false),
    }
}

fn not_found(id: &str) -> Error {
    Error::NotFound {
        message: format!("Response with id '{id}' not found."),
    }
}

/// What a stored response needs besides the answer.
struct ToStore {
    store: Rc<dyn ResponseStore>,
    owner: String,
    ttl_ms: f64,
    now_ms: f64,
    input_items: Vec<Value>,
    conversation: Vec<Value>,
}

impl ToStore {
    /// Keeps `response`; a store that fails loses only the stored copy, not the answer.
    async fn keep(self, response: &Value) {
        let mut conversation = self.conversation;
        conversation.extend(responses::output_messages(response));
        let record = StoredResponse {
            id: response["id"].as_str().unwrap_or("").to_string(),
            expires_at_ms: self.now_ms + self.ttl_ms,
            response: response.clone(),
            input_items: self.input_items,
            conversation,
        };
        let _ = self
            .store
            .apply(&self.owner, ResponseOp::Put { record })
            .await;
    }
}

pub(super) async fn create(
    router: &Router,
    services: &Services,
    http: HttpRequest,
    caller: &Caller,
) -> Result<HttpResponse, Error> {
    let mut m = crate::inbound::parse(&http.body)?;
    let owner = owner(caller);
    let history = match m.get("previous_response_id") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(id)) => {
            let found = services
                .responses
                .apply(&owner, ResponseOp::Get { id: id.clone() })
                .await?;
            match found.record {
                Some(r) => r.conversation,
                None => {
                    return Err(Error::invalid(
                        format!("Previous response with id '{id}' not found."),
                        Some("previous_response_id".into()),
                    ))
                }
            }
        }
        Some(_) => {
            return Err(Error::invalid_value(
                "previous_response_id",
                "must be a string",
            ))
        }
    };
    resolve_references(&mut m, &*services.responses, &owner).await?;
    let store = match m.get("store") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::invalid_value("store", "must be a boolean")),
    };
    let ids = Ids::new(&router.call_id());
    let now_ms = router.now_ms();
    let t = responses::to_chat(&m, history, &ids)?;
    let shell = responses::shell(&m, &ids, (now_ms / 1000.0) as u64);
    let keep = store.then(|| ToStore {
        store: services.responses.clone(),
        owner,
        ttl_ms: router.config().general.responses_ttl_ms,
        now_ms,
        input_items: t.input_items,
        conversation: t.conversation,
    });
    let req = from_translated(&http, t.chat)?;
    let mut resp = call(router, services, req, caller).await?;
    let body = std::mem::replace(&mut resp.body, HttpBody::Bytes(Vec::new()));
    resp.body = match body {
        HttpBody::Bytes(b) if resp.status == 200 => {
            let response = responses::from_chat(shell, &b, &ids)?;
            if let Some(keep) = keep {
                keep.keep(&response).await;
            }
            HttpBody::Bytes(response.to_string().into_bytes())
        }
        HttpBody::Bytes(b) => HttpBody::Bytes(b),
        HttpBody::Stream(s) => HttpBody::Stream(stream(s, StreamTranslator::new(shell, ids), keep)),
    };
    Ok(resp)
}

/// `item_reference` input items replaced by the items they name, from the caller's own stored
/// responses (what the Vercel AI SDK sends for earlier turns when `store` is on).
async fn resolve_references(
    m: &mut serde_json::Map<String, Value>,
    store: &dyn ResponseStore,
    owner: &str,
) -> Result<(), Error> {
    let Some(Value::Array(items)) = m.get_mut("input") else {
        return Ok(());
    };
    let mut records: Vec<StoredResponse> = Vec::new();
    for (i, item) in items.iter_mut().enumerate() {
        if item["type"] != "item_reference" {
            continue;
        }
        let id = item["id"].as_str().unwrap_or("").to_string();
        let missing = || {
            Error::invalid(
                format!("Item with id '{id}' not found."),
                Some(format!("input[{i}]")),
            )
        };
        let response_id = Ids::response_of(&id).ok_or_else(missing)?;
        if !records.iter().any(|r| r.id == response_id) {
            let op = ResponseOp::Get {
                id: response_id.clone(),
            };
            records.extend(store.apply(owner, op).await?.record);
        }
        let record = records.iter().find(|r| r.id == response_id);
        let found = record.and_then(|r| responses::find_item(&r.response, &r.input_items, &id));
        *item = found.cloned().ok_or_else(missing)?;
    }
    Ok(())
}

/// Each chat chunk becomes the Responses events as it arrives. A finished response is stored
/// before `response.completed` goes out, so a client that continues from it at once finds it.
fn stream(
    chunks: crate::relay::ClientStream,
    translator: StreamTranslator,
    keep: Option<ToStore>,
) -> crate::relay::ClientStream {
    let t = Rc::new(RefCell::new(translator));
    let keep = Rc::new(RefCell::new(keep));
    let at_end = (t.clone(), keep.clone());
    let events = chunks
        .map(Some)
        .chain(futures::stream::once(async { None }))
        .then(move |chunk| {
            let (t, keep) = match &chunk {
                Some(_) => (t.clone(), keep.clone()),
                None => (at_end.0.clone(), at_end.1.clone()),
            };
            async move {
                let out = match chunk {
                    Some(c) => t.borrow_mut().push(&c),
                    None => t.borrow_mut().end(),
                };
                let finished = t.borrow().finished().cloned();
                if let Some(response) = finished {
                    let taken = keep.borrow_mut().take();
                    if let Some(k) = taken {
                        k.keep(&response).await;
                    }
                }
                out
            }
        })
        .filter(|out| futures::future::ready(!out.is_empty()));
    Box::pin(events)
}

pub(super) async fn by_id(
    services: &Services,
    caller: &Caller,
    route: ResponsesRoute,
    query: &str,
) -> Result<HttpResponse, Error> {
    let owner = owner(caller);
    let store = &services.responses;
    let (id, deleting) = match &route {
        ResponsesRoute::Get(id) | ResponsesRoute::InputItems(id) => (id.clone(), false),
        ResponsesRoute::Delete(id) => (id.clone(), true),
    };
    if deleting {
        let reply = store
            .apply(&owner, ResponseOp::Delete { id: id.clone() })
            .await?;
        if !reply.deleted {
            return Err(not_found(&id));
        }
        let out = json!({"id": id, "object": "response", "deleted": true});
        return Ok(HttpResponse::json(200, out.to_string().into_bytes()));
    }
    let reply = store
        .apply(&owner, ResponseOp::Get { id: id.clone() })
        .await?;
    let record = reply.record.ok_or_else(|| not_found(&id))?;
    let out = match route {
        ResponsesRoute::InputItems(_) => input_items(record.input_items, query)?,
        _ => record.response,
    };
    Ok(HttpResponse::json(200, out.to_string().into_bytes()))
}

/// A page of input items: `limit` (1 to 100, default 20), `order` (`desc`, the default, or
/// `asc`), `after` (an item id).
fn input_items(mut items: Vec<Value>, query: &str) -> Result<Value, Error> {
    let mut limit = 20usize;
    let mut after: Option<String> = None;
    let mut desc = true;
    for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
        match k {
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| {
                        Error::invalid_value("limit", "must be a whole number from 1 to 100")
                    })?
            }
            "order" if v == "asc" || v == "desc" => desc = v == "desc",
            "order" => return Err(Error::invalid_value("order", "must be asc or desc")),
            "after" => after = Some(v.to_string()),
            _ => {}
        }
    }
    if desc {
        items.reverse();
    }
    let start = match &after {
        Some(a) => items
            .iter()
            .position(|i| i["id"].as_str() == Some(a))
            .map_or(items.len(), |p| p + 1),
        None => 0,
    };
    let rest = items.len().saturating_sub(start);
    let page: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    Ok(json!({
        "object": "list",
        "data": page,
        "first_id": page.first().map(|i| i["id"].clone()),
        "last_id": page.last().map(|i| i["id"].clone()),
        "has_more": rest > page.len(),
    }))
}

#[cfg(test)]
#[path = "responses_tests.rs"]
mod tests;
