//! The ports over Durable Objects: the shared state, one object per model group
//! (`group:<name>`, so no single object carries every request's outcomes); the book of keys
//! (`keys`); the request log (`log`); stored responses, one object per owner (`responses:<owner>`). Each call is one
//! [`Kind::Durable`] operation that JavaScript sends to the object by name.

use crate::host::executor::{Op, Reply};
use crate::host::wire::Kind;
use switchyard_core::keys::{KeyOp, KeyReply};
use switchyard_core::ports::{KeyStore, LocalFuture, RequestLogStore, ResponseStore, StateBackend};
use switchyard_core::request_log::{LogOp, LogReply};
use switchyard_core::state::{ShardReply, ShardRequest};
use switchyard_core::stored_response::{ResponseOp, ResponseReply};
use switchyard_core::Error;

fn internal(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal {
        message: format!("{what}: {e}"),
    }
}

/// One request to the Durable Object `name`: its status and body.
pub async fn call(
    name: &str,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, Vec<u8>), String> {
    let op = Op::new(|o, id, _| {
        o.kind(Kind::Durable)
            .u32(id)
            .text(name)
            .text(path)
            .text(method)
            .text(body);
    });
    match op.await {
        Reply::Done { code, bytes, .. } => Ok((u16::try_from(code).unwrap_or(0), bytes)),
        Reply::Failed(m) => Err(m),
        Reply::Stream { .. } => Err("a streamed answer".into()),
    }
}

/// A POST to the object `name`, its 200 answer read as `T`.
async fn ask<T: serde::de::DeserializeOwned>(
    name: &str,
    path: &str,
    body: String,
) -> Result<T, Error> {
    let what = "router state";
    let (status, bytes) = call(name, "POST", path, &body)
        .await
        .map_err(|e| internal(what, e))?;
    if status != 200 {
        return Err(internal(what, String::from_utf8_lossy(&bytes)));
    }
    serde_json::from_slice(&bytes).map_err(|e| internal(what, e))
}

pub struct DurableBackend;

impl StateBackend for DurableBackend {
    fn exchange(&self, shard: &str, req: ShardRequest) -> LocalFuture<Result<ShardReply, Error>> {
        let name = format!("group:{shard}");
        let body = serde_json::to_string(&req).map_err(|e| internal("router state", e));
        Box::pin(async move { ask(&name, "/exchange", body?).await })
    }
}

/// The book of virtual keys in the `keys` Durable Object.
pub struct DurableKeys;

impl KeyStore for DurableKeys {
    fn apply(&self, op: KeyOp) -> LocalFuture<Result<KeyReply, Error>> {
        let body = serde_json::to_string(&op).map_err(|e| internal("router state", e));
        Box::pin(async move { ask("keys", "/keys", body?).await })
    }
}

/// The request log and its history in the `log` Durable Object.
pub struct DurableLog;

impl RequestLogStore for DurableLog {
    fn apply(&self, op: LogOp) -> LocalFuture<Result<LogReply, Error>> {
        let body = serde_json::to_string(&op).map_err(|e| internal("request log", e));
        Box::pin(async move { ask("log", "/log", body?).await })
    }
}

/// Stored responses, one Durable Object per owner (`responses:<owner>`): a key's responses
/// live where no other key's request is ever sent.
pub struct DurableResponses;

impl ResponseStore for DurableResponses {
    fn apply(&self, owner: &str, op: ResponseOp) -> LocalFuture<Result<ResponseReply, Error>> {
        let name = format!("responses:{owner}");
        let body = serde_json::to_string(&op).map_err(|e| internal("router state", e));
        Box::pin(async move { ask(&name, "/responses", body?).await })
    }
}
