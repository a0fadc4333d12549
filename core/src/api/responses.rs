//! OpenAI's Responses API: `POST /v1/responses` routed as its chat translation like any chat
//! call (keys, cache, retries, fallbacks, hedging, continuation), answered as a response object
//! or its event stream; `store` keeps it for its owner, and `GET` / `DELETE
//! /v1/responses/{id}` and `GET /v1/responses/{id}/input_items` read it back.

use super::auth::Caller;
use super::model_call::{call, from_parsed, from_translated};
use super::Services;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::http::{HttpBody, HttpRequest, HttpResponse};
use crate::inbound::responses::{self, Ids};
use crate::inbound::responses_stream::StreamTranslator;
use crate::ports::ResponseStore;
use crate::relay::ClientStream;
use crate::router::Router;
use crate::sse::{SseDecoder, SseEvent};
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
    native: bool,
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
            native: self.native,
        };
        let _ = self
            .store
            .apply(&self.owner, ResponseOp::Put { record })
            .await;
    }
}

/// Whether every deployment the request can reach serves the Responses API itself (OpenAI,
/// Azure): the requested group's and its fallback groups' (the config's, and the request's
/// own). Then the request is passed through as it is; else it is translated to chat, so a
/// fallback to any provider still works.
fn passed_through(router: &Router, m: &serde_json::Map<String, Value>) -> bool {
    let config = router.config();
    let Some(model) = m.get("model").and_then(Value::as_str) else {
        return false;
    };
    let group = config.alias_target(model).unwrap_or(model);
    let settings = &config.router;
    let mut names: Vec<&str> = vec![group];
    for fallbacks in [
        &settings.fallbacks,
        &settings.context_window_fallbacks,
        &settings.content_policy_fallbacks,
    ] {
        names.extend(fallbacks.for_group(group).iter().map(String::as_str));
    }
    match m.get("fallbacks") {
        None | Some(Value::Null) => {}
        Some(Value::Array(listed)) if listed.iter().all(Value::is_string) => {
            names.extend(listed.iter().filter_map(Value::as_str));
        }
        Some(_) => return false,
    }
    names.iter().all(|name| {
        let name = config.alias_target(name).unwrap_or(name);
        // A name no group has may be a wildcard group's (`openai/*`).
        let name = match config.group(name) {
            Some(_) => name,
            None => config.wildcard_for(name).map_or(name, |(group, _)| group),
        };
        let mut deployments = config.group(name).into_iter().flatten().peekable();
        deployments.peek().is_some()
            && deployments.all(|d| crate::adapter::serves(d, Endpoint::Responses))
    })
}

pub(super) async fn create(
    router: &Router,
    services: &Services,
    http: HttpRequest,
    caller: &Caller,
) -> Result<HttpResponse, Error> {
    let mut m = crate::inbound::parse(&http.body)?;
    let owner = owner(caller);
    let previous = match m.get("previous_response_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => {
            let found = services
                .responses
                .apply(&owner, ResponseOp::Get { id: id.clone() })
                .await?;
            Some(found.record.ok_or_else(|| {
                Error::invalid(
                    format!("Previous response with id '{id}' not found."),
                    Some("previous_response_id".into()),
                )
            })?)
        }
        Some(_) => {
            return Err(Error::invalid_value(
                "previous_response_id",
                "must be a string",
            ))
        }
    };
    let native = passed_through(router, &m);
    resolve_references(&mut m, &*services.responses, &owner, native).await?;
    let store = match m.get("store") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::invalid_value("store", "must be a boolean")),
    };
    let ids = Ids::new(&router.call_id());
    let now_ms = router.now_ms();
    let history = previous
        .as_ref()
        .map_or_else(Vec::new, |r| r.conversation.clone());
    let keep = |input_items, conversation| {
        store.then(|| ToStore {
            store: services.responses.clone(),
            owner: owner.clone(),
            ttl_ms: router.config().general.responses_ttl_ms,
            now_ms,
            input_items,
            conversation,
            native,
        })
    };
    if native {
        let (items, messages) = responses::native_input(&m, &ids)?;
        let mut conversation = history;
        conversation.extend(messages);
        let keep = keep(items, conversation);
        continue_natively(&mut m, previous.as_ref());
        let mut req = from_parsed(&http, Endpoint::Responses, m)?;
        // The response's own `metadata` (the router reads it too, for tags).
        if let Some(meta) = req.router_fields.get("metadata").filter(|v| v.is_object()) {
            req.body.insert("metadata".into(), meta.clone());
        }
        let resp = call(router, services, req, caller).await?;
        // Nothing to keep: the provider's answer goes out as it came.
        return Ok(match keep {
            Some(keep) => watched(resp, NativeEvents::default(), Some(keep)).await,
            None => resp,
        });
    }
    let t = responses::to_chat(&m, history, &ids)?;
    let shell = responses::shell(&m, &ids, (now_ms / 1000.0) as u64);
    let keep = keep(t.input_items, t.conversation);
    let req = from_translated(&http, t.chat)?;
    let mut resp = call(router, services, req, caller).await?;
    if let (HttpBody::Bytes(b), 200) = (&resp.body, resp.status) {
        let response = responses::from_chat(shell, b, &ids)?;
        if let Some(keep) = keep {
            keep.keep(&response).await;
        }
        resp.body = HttpBody::Bytes(response.to_string().into_bytes());
        return Ok(resp);
    }
    Ok(watched(resp, StreamTranslator::new(shell, ids), keep).await)
}

/// A passed-through request that continues a stored response: one the provider made is named
/// upstream as it is; one the router made by translation becomes the input items before this
/// request's (the provider never saw it).
fn continue_natively(m: &mut serde_json::Map<String, Value>, previous: Option<&StoredResponse>) {
    let Some(prev) = previous.filter(|p| !p.native) else {
        return;
    };
    m.remove("previous_response_id");
    let mut items = responses::items_from_chat(&prev.conversation);
    match m.remove("input") {
        Some(Value::String(s)) => items.push(
            serde_json::json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": s}]}),
        ),
        Some(Value::Array(more)) => items.extend(more),
        _ => {}
    }
    m.insert("input".into(), Value::Array(items));
}

/// `item_reference` input items replaced by the items they name, found among the caller's own
/// stored responses (what the Vercel AI SDK sends for earlier turns when `store` is on). On a
/// passed-through request, a reference to an item the provider made stays a reference, once it
/// is found to be the caller's: one that is not is refused, never left for the provider to
/// resolve (it would, for any key of the same account).
async fn resolve_references(
    m: &mut serde_json::Map<String, Value>,
    store: &dyn ResponseStore,
    owner: &str,
    passed_on: bool,
) -> Result<(), Error> {
    let Some(Value::Array(items)) = m.get_mut("input") else {
        return Ok(());
    };
    for (i, item) in items.iter_mut().enumerate() {
        if item["type"] != "item_reference" {
            continue;
        }
        let id = item["id"].as_str().unwrap_or("").to_string();
        let op = ResponseOp::GetByItem {
            item_id: id.clone(),
        };
        let record = store.apply(owner, op).await?.record;
        match record.as_ref().and_then(|r| Some((r.native, r.item(&id)?))) {
            Some((true, _)) if passed_on => {}
            Some((_, found)) => *item = found.clone(),
            None => {
                return Err(Error::invalid(
                    format!("Item with id '{id}' not found."),
                    Some(format!("input[{i}]")),
                ))
            }
        }
    }
    Ok(())
}

/// What turns an answer's stream into the client's: the chat-to-Responses translator, or a
/// watcher of the provider's own events that passes them on unchanged.
trait Events: 'static {
    fn push(&mut self, bytes: Vec<u8>) -> Vec<u8>;
    fn end(&mut self) -> Vec<u8>;
    /// The finished response, once the stream has shown it.
    fn finished(&self) -> Option<&Value>;
}

impl Events for StreamTranslator {
    fn push(&mut self, bytes: Vec<u8>) -> Vec<u8> {
        StreamTranslator::push(self, &bytes)
    }
    fn end(&mut self) -> Vec<u8> {
        StreamTranslator::end(self)
    }
    fn finished(&self) -> Option<&Value> {
        StreamTranslator::finished(self)
    }
}

/// A passed-through stream (or a whole answer): bytes unchanged, the finished response read
/// from `response.completed` / `response.incomplete`.
#[derive(Default)]
struct NativeEvents {
    decoder: SseDecoder,
    done: Option<Value>,
}

impl Events for NativeEvents {
    fn push(&mut self, bytes: Vec<u8>) -> Vec<u8> {
        let mut events: Vec<SseEvent> = Vec::new();
        self.decoder.push(&bytes, &mut events);
        let contains = |data: &[u8], word: &[u8]| data.windows(word.len()).any(|w| w == word);
        for ev in events {
            // Only the last event is read whole (the words are its type's).
            let last = [&b"response.completed"[..], b"response.incomplete"];
            if !last.iter().any(|w| contains(&ev.data, w)) {
                continue;
            }
            let Ok(v) = serde_json::from_slice::<Value>(&ev.data) else {
                continue;
            };
            if matches!(
                v["type"].as_str(),
                Some("response.completed" | "response.incomplete")
            ) {
                self.done = Some(v["response"].clone());
            }
        }
        bytes
    }
    fn end(&mut self) -> Vec<u8> {
        Vec::new()
    }
    fn finished(&self) -> Option<&Value> {
        self.done.as_ref()
    }
}

/// The answer as the client gets it, its finished response stored (when `keep`): a whole
/// answer before it goes out; a stream's before the event that finishes it, so a client that
/// continues from it at once finds it.
async fn watched(
    mut resp: HttpResponse,
    events: impl Events,
    keep: Option<ToStore>,
) -> HttpResponse {
    if resp.status != 200 {
        return resp;
    }
    let body = std::mem::replace(&mut resp.body, HttpBody::Bytes(Vec::new()));
    resp.body = match body {
        HttpBody::Bytes(b) => {
            if let Some(keep) = keep {
                let response = serde_json::from_slice::<Value>(&b).ok();
                if let Some(r) = response.filter(|r| r["id"].is_string()) {
                    keep.keep(&r).await;
                }
            }
            HttpBody::Bytes(b)
        }
        HttpBody::Stream(s) => HttpBody::Stream(stream(s, events, keep)),
    };
    resp
}

fn stream(chunks: ClientStream, events: impl Events, keep: Option<ToStore>) -> ClientStream {
    let t = Rc::new(RefCell::new(events));
    let keep = Rc::new(RefCell::new(keep));
    let out = chunks
        .map(Some)
        .chain(futures::stream::once(async { None }))
        .then(move |chunk| {
            let (t, keep) = (t.clone(), keep.clone());
            async move {
                let out = match chunk {
                    Some(c) => t.borrow_mut().push(c),
                    None => t.borrow_mut().end(),
                };
                // Stored once, when the finished response shows (and only if still to keep).
                let pending = keep.borrow().is_some();
                let finished = if pending {
                    t.borrow().finished().cloned()
                } else {
                    None
                };
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
    Box::pin(out)
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
