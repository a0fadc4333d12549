//! The shared-state port over Durable Objects: one object per model group (`group:<name>`), so
//! no single object carries every request's outcomes.

use switchyard_core::keys::{KeyOp, KeyReply};
use switchyard_core::ports::{KeyStore, LocalFuture, StateBackend};
use switchyard_core::state::{ShardReply, ShardRequest};
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

impl StateBackend for DurableBackend {
    fn exchange(&self, shard: &str, req: ShardRequest) -> LocalFuture<Result<ShardReply, Error>> {
        let env = self.env.clone();
        let name = format!("group:{shard}");
        Box::pin(async move {
            let stub = env
                .durable_object(BINDING)
                .and_then(|ns| ns.get_by_name(&name))
                .map_err(internal)?;
            let body = serde_json::to_string(&req).map_err(internal)?;
            let mut init = RequestInit::new();
            init.with_method(Method::Post)
                .with_body(Some(JsValue::from_str(&body)));
            let request =
                Request::new_with_init("https://router-state/exchange", &init).map_err(internal)?;
            let mut resp = stub.fetch_with_request(request).await.map_err(internal)?;
            let bytes = resp.bytes().await.map_err(internal)?;
            if resp.status_code() != 200 {
                return Err(internal(String::from_utf8_lossy(&bytes)));
            }
            serde_json::from_slice(&bytes).map_err(internal)
        })
    }
}

/// The book of virtual keys in the `keys` Durable Object.
pub struct DurableKeys {
    pub env: Env,
}

impl KeyStore for DurableKeys {
    fn apply(&self, op: KeyOp) -> LocalFuture<Result<KeyReply, Error>> {
        let env = self.env.clone();
        Box::pin(async move {
            let stub = env
                .durable_object(BINDING)
                .and_then(|ns| ns.get_by_name("keys"))
                .map_err(internal)?;
            let body = serde_json::to_string(&op).map_err(internal)?;
            let mut init = RequestInit::new();
            init.with_method(Method::Post)
                .with_body(Some(JsValue::from_str(&body)));
            let request =
                Request::new_with_init("https://router-state/keys", &init).map_err(internal)?;
            let mut resp = stub.fetch_with_request(request).await.map_err(internal)?;
            let bytes = resp.bytes().await.map_err(internal)?;
            if resp.status_code() != 200 {
                return Err(internal(String::from_utf8_lossy(&bytes)));
            }
            serde_json::from_slice(&bytes).map_err(internal)
        })
    }
}
