//! LiteLLM's key routes (`/key/generate`, `/key/info`, `/key/update`, `/key/delete`, master key
//! only), and what a virtual key does to a model call: admission before it, spend after it.

use crate::api::HttpResponse;
use crate::error::Error;
use crate::keys::{self, apply_fields, KeyOp, KeyRecord, KeyReply};
use crate::ports::LocalFuture;
use crate::relay::ClientStream;
use crate::router::{Routed, RoutedBody, Router};
use serde_json::{json, Value};

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

/// Checks a model call against the key (models, expiry, budget, rpm/tpm) and counts it.
pub async fn admit(router: &Router, hash: &str, model: &str) -> Result<(), Error> {
    match router
        .keys()
        .apply(KeyOp::Admit {
            hash: hash.into(),
            model: model.into(),
        })
        .await?
    {
        KeyReply::Admitted => Ok(()),
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

/// A stream that charges the key its tokens and cost once it has ended (they are known only
/// then).
pub fn charge_at_end(
    router: &Router,
    hash: &str,
    stream: ClientStream,
    usage: StreamUsageCell,
) -> ClientStream {
    let store = router.keys().clone();
    let hash = hash.to_string();
    let tail = futures::stream::once(async move {
        if let Some((tokens, cost)) = usage.get() {
            let _ = store.apply(KeyOp::Charge { hash, tokens, cost }).await;
        }
        Vec::new()
    });
    Box::pin(futures::StreamExt::chain(stream, tail))
}

type StreamUsageCell = std::rc::Rc<std::cell::Cell<Option<(u64, f64)>>>;

/// The spend and tokens of an answered (non-streaming) call, charged to the key after the
/// response.
pub fn charge(router: &Router, hash: &str, routed: &Routed) -> LocalFuture<()> {
    let tokens = match &routed.body {
        RoutedBody::Json(b) => {
            crate::cost::usage_of(b).map_or(0, |u| u.prompt_tokens + u.completion_tokens)
        }
        _ => 0,
    };
    let op = KeyOp::Charge {
        hash: hash.into(),
        tokens,
        cost: routed.response_cost.unwrap_or(0.0),
    };
    let store = router.keys().clone();
    Box::pin(async move {
        let _ = store.apply(op).await;
    })
}
