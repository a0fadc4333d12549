//! Where the config comes from: the `ROUTER_CONFIG` variable, holding JSON or YAML text (a
//! `--var`, a `.dev.vars` entry or a secret) or a table in `wrangler.toml` `[vars]`; or, when
//! the `CONFIG_KV` namespace is bound and holds the key `router_config`, that text, which is
//! checked again at most every `KV_CHECK_MS` so a change takes effect without a redeploy.
//! `os.environ/NAME` values resolve against the environment's string variables and secrets.

use crate::host::executor::now;
use crate::kv_cache::kv_get;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use switchyard_core::Error;

pub const CONFIG_VAR: &str = "ROUTER_CONFIG";

pub const KV_BINDING: &str = "CONFIG_KV";
pub const KV_KEY: &str = "router_config";
/// How often an isolate looks for a changed config in KV, in ms, unless the variable
/// `CONFIG_RELOAD_SECONDS` says otherwise.
pub const KV_CHECK_MS: f64 = 10_000.0;

/// What the host knows of the Worker's environment, given once per instance by JavaScript.
pub struct HostEnv {
    /// String variables and secrets by name.
    pub vars: HashMap<String, String>,
    /// `ROUTER_CONFIG` as text (a table in `[vars]` arrives as its JSON).
    pub config: Option<String>,
    /// The `ROUTER_STATE` Durable Object namespace is bound.
    pub durable: bool,
    /// The `ROUTER_CACHE` KV namespace is bound.
    pub cache: bool,
    /// The `CONFIG_KV` namespace is bound.
    pub config_kv: bool,
}

impl HostEnv {
    pub fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// The config text from the environment variable.
    pub fn config_text(&self) -> Result<String, Error> {
        self.config.clone().ok_or_else(|| Error::Config {
            message: format!(
                "No router config: set the {CONFIG_VAR} variable (or the {KV_KEY} key in the {KV_BINDING} KV namespace) to your LiteLLM-style config (JSON or YAML)."
            ),
        })
    }
}

/// Watches the config in KV.
pub struct KvReload {
    /// The text in force (from KV, or the variable's until KV has one).
    current: RefCell<Option<String>>,
    checked_at: Cell<f64>,
    loaded: Cell<bool>,
    every_ms: f64,
}

impl KvReload {
    /// `None` when no `CONFIG_KV` namespace is bound.
    pub fn new(env: &HostEnv, current: Option<String>) -> Option<Self> {
        if !env.config_kv {
            return None;
        }
        let every_ms = env
            .var("CONFIG_RELOAD_SECONDS")
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(KV_CHECK_MS, |s| s * 1000.0);
        Some(KvReload {
            current: RefCell::new(current),
            checked_at: Cell::new(f64::MIN),
            loaded: Cell::new(false),
            every_ms,
        })
    }

    async fn read(&self) -> Option<String> {
        self.checked_at.set(now());
        let bytes = kv_get(KV_BINDING, KV_KEY).await.ok().flatten()?;
        String::from_utf8(bytes).ok()
    }

    /// On an isolate's first request: the config in KV, if it differs from the variable's.
    pub async fn first_load(&self) -> Option<String> {
        if self.loaded.replace(true) {
            return None;
        }
        self.take_if_new(self.read().await)
    }

    pub fn due(&self) -> bool {
        now() - self.checked_at.get() >= self.every_ms
    }

    /// The config in KV, if it changed since the last look.
    pub async fn check(&self) -> Option<String> {
        self.take_if_new(self.read().await)
    }

    fn take_if_new(&self, text: Option<String>) -> Option<String> {
        let text = text.filter(|t| !t.trim().is_empty())?;
        if self.current.borrow().as_deref() == Some(text.as_str()) {
            return None;
        }
        *self.current.borrow_mut() = Some(text.clone());
        Some(text)
    }
}
