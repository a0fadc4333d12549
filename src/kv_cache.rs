//! The response cache in Workers KV (binding `ROUTER_CACHE`): global, read at the edge
//! location, eventually consistent (a new answer reaches other locations within about a
//! minute). KV keeps a value at least 60 s; shorter TTLs are enforced when reading.

use crate::host::executor::{Op, Reply};
use crate::host::wire::Kind;
use crate::log;
use switchyard_core::ports::{CacheStore, LocalFuture};

pub const BINDING: &str = "ROUTER_CACHE";
/// KV's smallest `expirationTtl`.
const KV_MIN_TTL_SECS: u64 = 60;

/// The value under `key` in the KV namespace `binding`, if there is one.
pub async fn kv_get(binding: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
    let op = Op::new(|o, id, _| {
        o.kind(Kind::KvGet).u32(id).text(binding).text(key);
    });
    match op.await {
        Reply::Done { code: 0, .. } => Ok(None),
        Reply::Done { bytes, .. } => Ok(Some(bytes)),
        Reply::Failed(m) => Err(m),
        Reply::Stream { .. } => Err("a streamed answer".into()),
    }
}

pub struct KvCache;

impl CacheStore for KvCache {
    fn get(&self, key: &str) -> LocalFuture<Option<Vec<u8>>> {
        let key = key.to_string();
        Box::pin(async move { kv_get(BINDING, &key).await.ok().flatten() })
    }

    fn put(&self, key: &str, value: Vec<u8>, ttl_secs: u64) -> LocalFuture<()> {
        let key = key.to_string();
        let ttl = u32::try_from(ttl_secs.max(KV_MIN_TTL_SECS)).unwrap_or(u32::MAX);
        Box::pin(async move {
            let op = Op::new(|o, id, _| {
                o.kind(Kind::KvPut)
                    .u32(id)
                    .text(BINDING)
                    .text(&key)
                    .bytes(&value)
                    .u32(ttl);
            });
            if let Reply::Failed(e) = op.await {
                log::error(&format!("switchyard cache: {e}"));
            }
        })
    }
}
