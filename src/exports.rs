//! The host's synchronous exports, the only functions JavaScript calls on the request path.
//! Each takes JavaScript's clock, moves every task it can and returns the instructions written
//! meanwhile (`host::wire`). Bodies arrive as bytes, heads and headers as one text each.

use crate::config_source::HostEnv;
use crate::convert::read_head;
use crate::host::executor::{self, Reply};
use crate::isolate::Isolate;
use crate::serve::serve;
use std::cell::RefCell;
use std::rc::Rc;
use switchyard_core::ports::KEPT_RESPONSE_HEADERS;
use wasm_bindgen::prelude::*;

thread_local! {
    static ENV: RefCell<Option<HostEnv>> = const { RefCell::new(None) };
    /// One app per instance: the config is parsed on the first request, not on every one.
    static ISOLATE: RefCell<Option<Rc<Isolate>>> = const { RefCell::new(None) };
}

/// Bit of `init`'s flags: the `ROUTER_STATE` Durable Object namespace is bound.
const DURABLE: u32 = 1;
/// The `ROUTER_CACHE` KV namespace is bound.
const CACHE: u32 = 2;
/// The `CONFIG_KV` namespace is bound.
const CONFIG_KV: u32 = 4;

/// The environment, once per instance: the string variables and secrets as a JSON object,
/// `ROUTER_CONFIG` as text, and which bindings exist.
#[wasm_bindgen(js_name = host_init)]
pub fn init(vars_json: &str, config: Option<String>, flags: u32) {
    #[cfg(target_arch = "wasm32")]
    console_error_panic_hook::set_once();
    let vars = serde_json::from_str(vars_json).unwrap_or_default();
    let env = HostEnv {
        vars,
        config,
        durable: flags & DURABLE != 0,
        cache: flags & CACHE != 0,
        config_kv: flags & CONFIG_KV != 0,
    };
    ENV.with(|e| *e.borrow_mut() = Some(env));
    ISOLATE.with(|i| *i.borrow_mut() = None);
}

/// The response headers the core reads, one name per line: JavaScript copies only these.
#[wasm_bindgen(js_name = host_kept_headers)]
pub fn kept_headers() -> String {
    KEPT_RESPONSE_HEADERS.join("\n")
}

fn isolate() -> Rc<Isolate> {
    ISOLATE.with(|cell| {
        if let Some(i) = cell.borrow().as_ref() {
            return i.clone();
        }
        let env = ENV.with(|e| e.borrow_mut().take()).unwrap_or(HostEnv {
            vars: Default::default(),
            config: None,
            durable: false,
            cache: false,
            config_kv: false,
        });
        let isolate = Isolate::new(env);
        *cell.borrow_mut() = Some(isolate.clone());
        isolate
    })
}

/// A request: `method\nurl\nname\nvalue\n...`. Returns its task's id (4 bytes) and the
/// instructions.
#[wasm_bindgen(js_name = host_start)]
pub fn start(now: f64, head: &str) -> Vec<u8> {
    executor::set_now(now);
    let isolate = isolate();
    let task = executor::spawn(serve(isolate, read_head(head)), 0);
    let out = executor::run();
    let mut buf = Vec::with_capacity(4 + out.len());
    buf.extend_from_slice(&task.to_le_bytes());
    buf.extend_from_slice(&out);
    buf
}

/// An operation's result: a code (an HTTP status, or 1 / 0 for a chunk or found / the end or
/// missing), a text (headers) and bytes (a body).
#[wasm_bindgen(js_name = host_done)]
pub fn done(now: f64, op: u32, code: u32, text: String, bytes: Vec<u8>) -> Vec<u8> {
    executor::set_now(now);
    executor::reply(op, Reply::Done { code, text, bytes });
    executor::run()
}

/// A `fetch` answered with a body to read chunk by chunk.
#[wasm_bindgen(js_name = host_streaming)]
pub fn streaming(now: f64, op: u32, status: u16, headers: String) -> Vec<u8> {
    executor::set_now(now);
    executor::reply(op, Reply::Stream { status, headers });
    executor::run()
}

/// An operation failed (a network error, an aborted read, a Durable Object that threw).
#[wasm_bindgen(js_name = host_failed)]
pub fn failed(now: f64, op: u32, message: String) -> Vec<u8> {
    executor::set_now(now);
    executor::reply(op, Reply::Failed(message));
    executor::run()
}

/// A task's timer fired.
#[wasm_bindgen(js_name = host_timer)]
pub fn timer(now: f64, task: u32) -> Vec<u8> {
    executor::set_now(now);
    executor::timer_fired(task);
    executor::run()
}

/// The client went away: the task (a streamed answer) and what it was waiting on stop.
#[wasm_bindgen(js_name = host_cancel)]
pub fn cancel(now: f64, task: u32) -> Vec<u8> {
    executor::set_now(now);
    executor::cancel(task);
    executor::run()
}

/// A new Durable Object instance (the class in `src/js/entry.mjs`); its handle.
#[wasm_bindgen(js_name = host_object_open)]
pub fn object_open() -> u32 {
    crate::state_object::open()
}

/// One request to a Durable Object instance. `stored`: the value under the path's storage key
/// (`storageKey` in entry.mjs) as text, when read; `sql(query, params_json)` runs a statement
/// on the object's SQLite and returns its rows as JSON. Returns `status\nlength\n`, then the
/// text to store under the key (`length` UTF-16 units; `-1`: store nothing), then the body.
#[wasm_bindgen(js_name = host_object)]
pub fn object(
    now: f64,
    id: u32,
    path: &str,
    method: &str,
    body: &str,
    stored: Option<String>,
    sql: &js_sys::Function,
) -> String {
    let sql = JsSql(sql);
    let a = crate::state_object::handle(id, path, method, body, stored, now, &sql);
    let (len, store) = match &a.store {
        // In UTF-16 code units: JavaScript slices the text by them.
        Some(s) => (s.encode_utf16().count().to_string(), s.as_str()),
        None => ("-1".to_string(), ""),
    };
    format!("{}\n{len}\n{store}{}", a.status, a.body)
}

/// The object's `ctx.storage.sql`, through the function the class passes.
struct JsSql<'a>(&'a js_sys::Function);

impl crate::state_object::Sql for JsSql<'_> {
    fn exec(
        &self,
        query: &str,
        params: &[crate::state_object::SqlValue],
    ) -> Result<Vec<serde_json::Value>, String> {
        let params = serde_json::to_string(params).map_err(|e| e.to_string())?;
        let rows = self
            .0
            .call2(
                &JsValue::NULL,
                &JsValue::from_str(query),
                &JsValue::from_str(&params),
            )
            .map_err(|e| e.as_string().unwrap_or_else(|| format!("{e:?}")))?;
        let text = rows.as_string().ok_or("the SQL rows are not text")?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }
}
