//! LiteLLM's key routes (`/key/generate`, `/key/info`, `/key/update`, `/key/delete`, master key
//! only), and what a virtual key does to a model call: admission before it, spend after it.

use crate::api::HttpResponse;
use crate::error::Error;
use crate::keys::{self, apply_fields, Hold, KeyOp, KeyRecord, KeyReply};
use crate::ports::LocalFuture;
use crate::relay::ClientStream;
use crate::request::ModelRequest;
use crate::router::{Routed, RoutedBody, Router, StreamUsage};
use serde_json::{json, Value};
use std::cell::Cell;
use std::rc::Rc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRoute {
    Generate,
    Info,
    Update,
    Delete,
}

fn ok(v: Value) -> HttpResponse {
    HttpResponse::json(200, v.to_string().into_bytes())
}

fn body_json(body: &[u8]) -> Result<Value, Error> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| Error::invalid("The request body must be a JSON object.", None))
}

fn refused(status: u16, code: String, message: String, retry_after_ms: Option<u64>) -> Error {
    match status {
        401 => Error::Unauthorized { message },
        403 => Error::Forbidden { message },
        429 => Error::KeyRateLimited {
            message,
            retry_after_ms: retry_after_ms.unwrap_or(1_000),
        },
        _ => Error::InvalidRequest {
            message,
            param: None,
            code: Some(if code == "budget_exceeded" {
                "budget_exceeded"
            } else {
                "invalid_value"
            }),
        },
    }
}

fn key_param(v: &Value, query: &str) -> Result<String, Error> {
    v.get("key")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            query
                .split('&')
                .find_map(|p| p.strip_prefix("key="))
                .map(str::to_string)
        })
        .ok_or_else(|| Error::InvalidRequest {
            message: "Missing required parameter: 'key'.".into(),
            param: Some("key".into()),
            code: Some("missing_required_parameter"),
        })
}

pub async fn handle(
    router: &Router,
    route: KeyRoute,
    body: &[u8],
    query: &str,
) -> Result<HttpResponse, Error> {
    let store = router.keys().clone();
    let now = router.now_ms();
    match route {
        KeyRoute::Generate => {
            let v = body_json(body)?;
            let key = router.new_key();
            if key.len() < 32 {
                return Err(Error::Internal {
                    message: "No secure random source to make a key.".into(),
                });
            }
            let mut record = KeyRecord {
                masked: keys::mask(&key),
                created_ms: now,
                ..Default::default()
            };
            apply_fields(&mut record, &v, now)?;
            let info = record.info();
            store
                .apply(KeyOp::Create {
                    hash: keys::hash(&key),
                    record,
                })
                .await?;
            let mut out = json!({"key": key});
            if let (Value::Object(o), Value::Object(i)) = (&mut out, info) {
                o.extend(i);
            }
            Ok(ok(out))
        }
        KeyRoute::Info => {
            let key = key_param(&json!({}), query)?;
            match store
                .apply(KeyOp::Get {
                    hash: keys::hash(&key),
                })
                .await?
            {
                KeyReply::Record { record: Some(r) } => {
                    Ok(ok(json!({"key": keys::mask(&key), "info": r.info()})))
                }
                _ => Err(Error::invalid("No such key.", Some("key".to_string()))),
            }
        }
        KeyRoute::Update => {
            let v = body_json(body)?;
            let key = key_param(&v, "")?;
            match store
                .apply(KeyOp::Update {
                    hash: keys::hash(&key),
                    changes: v,
                })
                .await?
            {
                KeyReply::Record { record: Some(r) } => {
                    Ok(ok(json!({"key": keys::mask(&key), "info": r.info()})))
                }
                KeyReply::Refused {
                    status,
                    code,
                    message,
                    retry_after_ms,
                } => Err(refused(status, code, message, retry_after_ms)),
                _ => Err(Error::invalid("No such key.", Some("key".to_string()))),
            }
        }
        KeyRoute::Delete => {
            let v = body_json(body)?;
            let list: Vec<String> = v
                .get("keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .ok_or_else(|| {
                    Error::invalid("'keys' must be a list of keys.", Some("keys".to_string()))
                })?;
            let hashes = list.iter().map(|k| keys::hash(k)).collect();
            match store.apply(KeyOp::Delete { hashes }).await? {
                KeyReply::Deleted { count } => Ok(ok(json!({"deleted": count}))),
                _ => Err(Error::Internal {
                    message: "unexpected key store reply".into(),
                }),
            }
        }
    }
}

/// Completion tokens assumed for a call that sets no `max_tokens` and whose group has no
/// history yet.
const DEFAULT_COMPLETION_ESTIMATE: u64 = 256;

/// A key's admission: the models it may use (`None`: all) and the hold to settle.
pub struct Admission {
    pub models: Option<Vec<String>>,
    pub hold: Option<u64>,
}

/// What a call is expected to cost, held against the key's budget and tpm while it runs: the
/// prompt (estimated) and `max_tokens` (else the group's recent mean, else 256) at the dearest
/// deployment's prices, and never less than the group's recent mean cost per call.
pub fn expected(router: &Router, req: &ModelRequest) -> Hold {
    let config = router.config();
    let prompt = crate::tokens::estimate_request_tokens(&req.body);
    let deployments: Vec<&crate::config::Deployment> = config
        .deployments_for(&req.model)
        .map(|(ds, _)| ds)
        .unwrap_or_default();
    let ids: Vec<&str> = deployments.iter().map(|d| d.id.as_str()).collect();
    let (mut calls, mut cost, mut completion) = (0u64, 0.0, 0u64);
    for (id, t) in router.state().totals() {
        if ids.contains(&id.as_str()) {
            calls += t.successes;
            cost += t.cost;
            completion += t.completion_tokens;
        }
    }
    let asked = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| req.body.get(*k).and_then(Value::as_u64));
    let completion = asked.unwrap_or(if calls > 0 {
        completion.div_ceil(calls).max(1)
    } else {
        DEFAULT_COMPLETION_ESTIMATE
    });
    let usage = crate::cost::Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
    };
    let priced = deployments
        .iter()
        .map(|d| usage.cost(d))
        .fold(0.0, f64::max);
    let mean = if calls > 0 { cost / calls as f64 } else { 0.0 };
    let longest = deployments
        .iter()
        .map(|d| d.timeout_ms)
        .max()
        .unwrap_or(config.router.timeout_ms);
    Hold {
        id: 0,
        cost: priced.max(mean),
        tokens: prompt + completion,
        // Past its own deadline a call has ended, settled or not.
        until_ms: router.now_ms() + longest as f64 + 60_000.0,
    }
}

/// Checks a model call against the key (models, expiry, budget, rpm/tpm), counts it and holds
/// its expected cost.
pub async fn admit(router: &Router, hash: &str, req: &ModelRequest) -> Result<Admission, Error> {
    match router
        .keys()
        .apply(KeyOp::Admit {
            hash: hash.into(),
            model: req.model.clone(),
            hold: expected(router, req),
        })
        .await?
    {
        KeyReply::Admitted { models, hold } => Ok(Admission {
            models: Some(models).filter(|m| !m.is_empty()),
            hold,
        }),
        KeyReply::Refused {
            status,
            code,
            message,
            retry_after_ms,
        } => Err(refused(status, code, message, retry_after_ms)),
        _ => Err(Error::Internal {
            message: "unexpected key store reply".into(),
        }),
    }
}

/// Settles a call: its tokens and cost (0 for one that failed or was served from the cache),
/// letting go of its hold.
pub fn settle(
    router: &Router,
    hash: &str,
    hold: Option<u64>,
    tokens: u64,
    cost: f64,
) -> LocalFuture<()> {
    let op = KeyOp::Charge {
        hash: hash.into(),
        tokens,
        cost,
        hold,
    };
    let store = router.keys().clone();
    Box::pin(async move {
        let _ = store.apply(op).await;
    })
}

/// Settles a stream with what it relayed, however it ends. A client that reads it to the end
/// gets it settled before the stream closes (its next call sees the spend); one that hangs up
/// drops the stream, and the returned background work settles it then.
pub fn settle_at_end(
    router: &Router,
    hash: &str,
    hold: Option<u64>,
    stream: ClientStream,
    usage: StreamUsage,
) -> (ClientStream, LocalFuture<()>) {
    let settled = Rc::new(Cell::new(false));
    let (dropped, on_drop) = futures::channel::oneshot::channel::<()>();
    let charge = {
        let store = router.keys().clone();
        let hash = hash.to_string();
        let usage = usage.clone();
        move || {
            let (tokens, cost) = usage.get().unwrap_or((0, 0.0));
            let op = KeyOp::Charge {
                hash,
                tokens,
                cost,
                hold,
            };
            async move {
                let _ = store.apply(op).await;
            }
        }
    };
    let tail = {
        let settled = settled.clone();
        let charge = charge.clone();
        futures::stream::once(async move {
            // Moved in, so it drops (and wakes the background work) with the stream.
            let _guard = dropped;
            if !settled.replace(true) {
                charge().await;
            }
            Vec::new()
        })
    };
    let background = Box::pin(async move {
        // Resolves when the stream is dropped: read to its end, or abandoned mid-way.
        let _ = on_drop.await;
        if !settled.replace(true) {
            charge().await;
        }
    });
    (
        Box::pin(futures::StreamExt::chain(stream, tail)),
        background,
    )
}

/// The tokens and cost of an answered (non-streaming) call.
pub fn spent(routed: &Routed) -> (u64, f64) {
    let tokens = match &routed.body {
        RoutedBody::Json(b) => {
            crate::cost::usage_of(b).map_or(0, |u| u.prompt_tokens + u.completion_tokens)
        }
        _ => 0,
    };
    (tokens, routed.response_cost.unwrap_or(0.0))
}
