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
