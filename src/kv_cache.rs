//! The response cache in Workers KV (binding `ROUTER_CACHE`): global, read at the edge
//! location, eventually consistent (a new answer reaches other locations within about a
//! minute). KV keeps a value at least 60 s; shorter TTLs are enforced when reading.

use switchyard_core::ports::{CacheStore, LocalFuture};
use worker::kv::KvStore;

pub const BINDING: &str = "ROUTER_CACHE";
/// KV's smallest `expirationTtl`.
const KV_MIN_TTL_SECS: u64 = 60;

pub struct KvCache {
    pub kv: KvStore,
}

impl CacheStore for KvCache {
    fn get(&self, key: &str) -> LocalFuture<Option<Vec<u8>>> {
        let get = self.kv.get(key);
        Box::pin(async move { get.bytes().await.ok().flatten() })
    }

    fn put(&self, key: &str, value: Vec<u8>, ttl_secs: u64) -> LocalFuture<()> {
        let put = self
            .kv
            .put_bytes(key, &value)
            .map(|b| b.expiration_ttl(ttl_secs.max(KV_MIN_TTL_SECS)));
        Box::pin(async move {
            match put {
                Ok(p) => {
                    if let Err(e) = p.execute().await {
                        worker::console_error!("switchyard cache: {e}");
                    }
                }
                Err(e) => worker::console_error!("switchyard cache: {e}"),
            }
        })
    }
}
