//! Where the config comes from: the `ROUTER_CONFIG` variable, holding JSON or YAML text (a
//! `--var`, a `.dev.vars` entry or a secret) or a table in `wrangler.toml` `[vars]`; or, when
//! the `CONFIG_KV` namespace is bound and holds the key `router_config`, that text, which is
//! checked again at most every `KV_CHECK_MS` so a change takes effect without a redeploy.
//! `os.environ/NAME` values resolve against the environment.

use js_sys::{Reflect, JSON};
use std::cell::{Cell, RefCell};
use switchyard_core::Error;
use wasm_bindgen::JsValue;
use worker::Env;

pub const CONFIG_VAR: &str = "ROUTER_CONFIG";

pub const KV_BINDING: &str = "CONFIG_KV";
pub const KV_KEY: &str = "router_config";
/// How often an isolate looks for a changed config in KV, in ms, unless the variable
/// `CONFIG_RELOAD_SECONDS` says otherwise.
pub const KV_CHECK_MS: f64 = 10_000.0;

/// The config text from the environment variable.
pub fn env_text(env: &Env) -> Result<String, Error> {
    let value =
        Reflect::get(env.as_ref(), &JsValue::from_str(CONFIG_VAR)).unwrap_or(JsValue::UNDEFINED);
    if let Some(s) = value.as_string() {
        Ok(s)
    } else if value.is_object() {
        Ok(JSON::stringify(&value)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default())
    } else {
        Err(Error::Config {
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
    pub fn new(env: &Env, current: Option<String>) -> Option<Self> {
        env.kv(KV_BINDING).ok()?;
        let every_ms = string_binding(env, "CONFIG_RELOAD_SECONDS")
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

    async fn read(&self, env: &Env) -> Option<String> {
        self.checked_at.set(js_sys::Date::now());
        let kv = env.kv(KV_BINDING).ok()?;
        kv.get(KV_KEY).text().await.ok().flatten()
    }

    /// On an isolate's first request: the config in KV, if it differs from the variable's.
    pub async fn first_load(&self, env: &Env) -> Option<String> {
        if self.loaded.replace(true) {
            return None;
        }
        self.take_if_new(self.read(env).await)
    }

    pub fn due(&self) -> bool {
        js_sys::Date::now() - self.checked_at.get() >= self.every_ms
    }

    /// The config in KV, if it changed since the last look.
    pub async fn check(&self, env: &Env) -> Option<String> {
        self.take_if_new(self.read(env).await)
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

pub fn string_binding(env: &Env, name: &str) -> Option<String> {
    Reflect::get(env.as_ref(), &JsValue::from_str(name))
        .ok()
        .and_then(|v| v.as_string())
}
