//! Switchyard's core: LiteLLM's Router semantics with no platform in it. The Worker (the root
//! crate) supplies the ports; tests supply fakes. Builds natively and for wasm32.

pub mod adapter;
pub mod api;
pub mod cache;
pub mod chat;
pub mod config;
pub mod cooldown;
pub mod cost;
pub mod endpoint;
pub mod error;
pub mod eventstream;
pub mod google_auth;
pub mod http;
pub mod inbound;
pub mod keys;
pub mod multipart;
pub mod names;
pub mod overlay;
pub mod ports;
pub mod provider;
pub mod redact;
pub mod relay;
pub mod request;
pub mod request_log;
pub mod retry;
pub mod rng;
pub mod router;
pub mod routing;
pub mod sigv4;
pub mod sse;
pub mod state;
pub mod stored_response;
pub mod stores;
pub mod strict_json;
pub mod tokens;
pub mod trace;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use api::{App, HttpBody, HttpRequest, HttpResponse};
pub use config::Config;
pub use error::Error;
pub use router::{Router, Runtime};
