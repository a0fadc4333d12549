//! Where the config comes from: the `ROUTER_CONFIG` variable, holding JSON or YAML text (a
//! `--var`, a `.dev.vars` entry or a secret) or a table in `wrangler.toml` `[vars]`.
//! `os.environ/NAME` values resolve against the same environment.

use js_sys::{Reflect, JSON};
use switchyard_core::{Config, Error};
use wasm_bindgen::JsValue;
use worker::Env;

pub const CONFIG_VAR: &str = "ROUTER_CONFIG";

pub fn load(env: &Env) -> Result<Config, Error> {
    let lookup = |name: &str| string_binding(env, name);
    let value =
        Reflect::get(env.as_ref(), &JsValue::from_str(CONFIG_VAR)).unwrap_or(JsValue::UNDEFINED);
    let text = if let Some(s) = value.as_string() {
        s
    } else if value.is_object() {
        JSON::stringify(&value)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default()
    } else {
        return Err(Error::Config {
            message: format!(
                "No router config: set the {CONFIG_VAR} variable to your LiteLLM-style config (JSON or YAML)."
            ),
        });
    };
    Config::from_text(&text, &lookup)
}

pub fn string_binding(env: &Env, name: &str) -> Option<String> {
    Reflect::get(env.as_ref(), &JsValue::from_str(name))
        .ok()
        .and_then(|v| v.as_string())
}
