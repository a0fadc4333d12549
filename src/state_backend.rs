//! The ports over Durable Objects: the shared state, one object per model group
//! (`group:<name>`, so no single object carries every request's outcomes); the book of keys
//! (`keys`); stored responses, one object per owner (`responses:<owner>`).

use switchyard_core::keys::{KeyOp, KeyReply};
use switchyard_core::ports::{KeyStore, LocalFuture, ResponseStore, StateBackend};
use switchyard_core::state::{ShardReply, ShardRequest};
use switchyard_core::stored_response::{ResponseOp, ResponseReply};
use switchyard_core::Error;
use wasm_bindgen::JsValue;
use worker::{Env, Method, Request, RequestInit};

/// The Durable Object binding in wrangler.toml.
pub const BINDING: &str = "ROUTER_STATE";

pub struct DurableBackend {
    pub env: Env,
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal {
        message: format!("router state: {e}"),
    }
}

/// One request to the Durable Object `name`, its JSON answer read as `T`.
async fn ask<T: serde::de::DeserializeOwned>(
    env: &Env,
    name: &str,
    path: &str,
    body: String,
) -> Result<T, Error> {
    let stub = env
        .durable_object(BINDING)
        .and_then(|ns| ns.get_by_name(name))
        .map_err(internal)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(JsValue::from_str(&body)));
    let request =
        Request::new_with_init(&format!("https://router-state{path}"), &init).map_err(internal)?;
    let mut resp = stub.fetch_with_request(request).await.map_err(internal)?;
    let bytes = resp.bytes().await.map_err(internal)?;
    if resp.status_code() != 200 {
        return Err(internal(String::from_utf8_lossy(&bytes)));
    }
    serde_json::from_slice(&bytes).map_err(internal)
}

impl StateBackend for DurableBackend {
    fn exchange(&self, shard: &str, req: ShardRequest) -> LocalFuture<Result<ShardReply, Error>> {
        let env = self.env.clone();
        let name = format!("group:{shard}");
        let body = serde_json::to_string(&req).map_err(internal);
        Box::pin(async move { ask(&env, &name, "/exchange", body?).await })
    }
}

/// The book of virtual keys in the `keys` Durable Object.
pub struct DurableKeys {
    pub env: Env,
}

impl KeyStore for DurableKeys {
    fn apply(&self, op: KeyOp) -> LocalFuture<Result<KeyReply, Error>> {
        let env = self.env.clone();
        let body = serde_json::to_string(&op).map_err(internal);
        Box::pin(async move { ask(&env, "keys", "/keys", body?).await })
    }
}

/// Stored responses, one Durable Object per owner (`responses:<owner>`): a key's responses
/// live where no other key's request is ever sent.
pub struct DurableResponses {
    pub env: Env,
}

impl ResponseStore for DurableResponses {
    fn apply(&self, owner: &str, op: ResponseOp) -> LocalFuture<Result<ResponseReply, Error>> {
        let env = self.env.clone();
        let name = format!("responses:{owner}");
        let body = serde_json::to_string(&op).map_err(internal);
        Box::pin(async move { ask(&env, &name, "/responses", body?).await })
    }
}
