//! Three ways for wasm to wait on a JavaScript promise, each doing `n` waits on
//! `Promise.resolve(i)` and summing the values:
//! - `futures_loop`: a Rust future per await (wasm-bindgen-futures, the Worker's old entry);
//! - `jspi_loop`: JSPI, the wasm stack suspended at each await (`WebAssembly.Suspending`);
//! - `step`: the operation table's way, JavaScript awaits and calls a synchronous export.
#![allow(deprecated)] // jspi_block_on_promise is marked experimental

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

fn value(i: u32) -> Promise {
    Promise::resolve(&JsValue::from(i))
}

#[wasm_bindgen]
pub async fn futures_loop(n: u32) -> u32 {
    let mut sum = 0u32;
    for i in 0..n {
        let v = JsFuture::from(value(i)).await.unwrap_or(JsValue::from(0));
        sum = sum.wrapping_add(v.as_f64().unwrap_or(0.0) as u32);
    }
    sum
}

#[wasm_bindgen(jspi)]
pub fn jspi_loop(n: u32) -> u32 {
    let mut sum = 0u32;
    for i in 0..n {
        let v = js_sys::futures::jspi_block_on_promise(&value(i)).unwrap_or(JsValue::from(0));
        sum = sum.wrapping_add(v.as_f64().unwrap_or(0.0) as u32);
    }
    sum
}

#[wasm_bindgen]
pub fn step(sum: u32, v: u32) -> u32 {
    sum.wrapping_add(v)
}
