//! Switchyard's Worker: the host that runs the pure core at the edge. JavaScript (`js/`) owns
//! the waiting (every `fetch`, timer, Durable Object and KV call, body read and stream) and
//! calls the synchronous exports in `exports`; the host moves the core's futures in its own
//! executor (`host`) and answers each call with the instructions to carry out next. The ports
//! the core takes are operations in that executor: `transport` (upstream calls), `clock`,
//! `state_backend` and `deployments_sync` (Durable Objects), `kv_cache` and `config_source`
//! (KV and the environment), `signer` (WebCrypto). `state_object` is the Durable Object's logic (its class is
//! JavaScript).
//!
//! Everything builds natively too, so the executor, the ports and the Durable Object's logic
//! are tested with `cargo test`.

mod clock;
mod config_source;
mod convert;
mod deployments_sync;
pub mod exports;
pub mod host;
mod isolate;
mod kv_cache;
mod log;
mod log_object;
mod random;
mod serve;
mod signer;
mod state_backend;
mod state_object;
mod transport;
