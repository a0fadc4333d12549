//! LiteLLM's key routes (`/key/generate`, `/key/info`, `/key/update`, `/key/delete`,
//! `/key/list`), master key only. A route's `key` is the key itself or its hash (`token`).

use super::Services;
use crate::error::Error;
use crate::http::HttpResponse;
use crate::keys::{self, apply_fields, KeyOp, KeyRecord, KeyReply};
use crate::router::Router;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRoute {
    Generate,
    Info,
    Update,
    Delete,
    List,
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
    services: &Services,
    route: KeyRoute,
    body: &[u8],
    query: &str,
) -> Result<HttpResponse, Error> {
    let store = services.keys.clone();
    let now = router.now_ms();
    match route {
        KeyRoute::Generate => {
            let v = body_json(body)?;
            let minted = services.minter.as_ref().and_then(|m| m.new_key());
            let key = minted.ok_or_else(|| Error::Internal {
                message: "No secure random source to make a key.".into(),
            })?;
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
                    hash: keys::hash_of_param(&key),
                })
                .await?
            {
                KeyReply::Record { record: Some(r) } => {
                    Ok(ok(json!({"key": r.masked, "info": r.info()})))
                }
                _ => Err(Error::invalid("No such key.", Some("key".to_string()))),
            }
        }
        KeyRoute::Update => {
            let v = body_json(body)?;
            let key = key_param(&v, "")?;
            match store
                .apply(KeyOp::Update {
                    hash: keys::hash_of_param(&key),
                    changes: v,
                })
                .await?
            {
                KeyReply::Record { record: Some(r) } => {
                    Ok(ok(json!({"key": r.masked, "info": r.info()})))
                }
                KeyReply::Refused { refusal } => Err(refusal.error()),
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
            let hashes = list.iter().map(|k| keys::hash_of_param(k)).collect();
            match store.apply(KeyOp::Delete { hashes }).await? {
                KeyReply::Deleted { count } => Ok(ok(json!({"deleted": count}))),
                _ => Err(Error::Internal {
                    message: "unexpected key store reply".into(),
                }),
            }
        }
        KeyRoute::List => match store.apply(KeyOp::List).await? {
            KeyReply::Listed { keys } => {
                let list: Vec<Value> = keys
                    .into_iter()
                    .map(|(hash, r)| {
                        let mut v = r.info();
                        if let Value::Object(o) = &mut v {
                            o.insert("token".into(), Value::String(hash));
                        }
                        v
                    })
                    .collect();
                Ok(ok(json!({"keys": list})))
            }
            _ => Err(Error::Internal {
                message: "unexpected key store reply".into(),
            }),
        },
    }
}
