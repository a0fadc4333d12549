//! The core's own keepers of what the ports carry, for hosts that bind nothing better:
//! - [`MemoryState`]: router state in this isolate only (also the authoritative records inside a
//!   shard's Durable Object, see [`ShardStore`]);
//! - [`SharedView`]: an isolate's view of the shared state: the shards' last replies plus its
//!   own outcomes not yet reported, which it reports in batches through a `StateBackend`;
//! - [`MemoryKeys`] and [`MemoryCache`]: the book of virtual keys and the response cache in
//!   this isolate's memory;
//! - [`MemoryResponses`]: stored responses (the Responses API's `store`) in this isolate's
//!   memory;
//! - [`MemoryRequestLog`]: the request log in this isolate's memory, and [`LogWriter`], which
//!   writes records to any log store in batches.

mod cache;
mod keys;
mod memory;
mod request_log;
mod responses;
mod shard;
mod shared;

pub use cache::MemoryCache;
pub use keys::MemoryKeys;
pub use memory::MemoryState;
pub use request_log::{LogWriter, MemoryRequestLog};
pub use responses::MemoryResponses;
pub use shard::ShardStore;
pub use shared::{SharedView, SyncPlan};
