//! The core's hot path, natively: request parse, config lookup, selection, request shaping, the
//! (scripted, instant) upstream and response accounting, per request, in ns and in heap
//! allocations. Run with `cargo bench -p switchyard-core --bench hot_path`.

// Test code: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::executor::block_on;
use std::alloc::{GlobalAlloc, Layout, System};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use switchyard_core::request::ModelRequest;
use switchyard_core::testing::{ManualClock, Reply, ScriptedUpstream};
use switchyard_core::{Config, Router, Runtime};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const BODY: &[u8] = br#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"Write a haiku about routers."}],"temperature":0.7,"max_tokens":64}"#;
const ANSWER: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Packets find their way"},"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":9,"total_tokens":33}}"#;

fn main() {
    let config = Config::from_text(
        r#"{"model_list":[
            {"model_name":"gpt-4o-mini","litellm_params":{"model":"openai/gpt-4o-mini","api_base":"http://a.test/v1","api_key":"sk-a","weight":2}},
            {"model_name":"gpt-4o-mini","litellm_params":{"model":"openai/gpt-4o-mini","api_base":"http://b.test/v1","api_key":"sk-b","weight":1}}]}"#,
        &|_: &str| None,
    )
    .expect("config");
    let up = Rc::new(ScriptedUpstream::default());
    up.push(
        "http://a.test/v1/chat/completions",
        Reply::json(200, ANSWER),
    );
    up.push(
        "http://b.test/v1/chat/completions",
        Reply::json(200, ANSWER),
    );
    let clock = ManualClock::at(1.0e12);
    let router = Router::new(config, Runtime::new(up.clone(), Rc::new(clock.clone()), 1));
    let run = |n: u64| {
        for _ in 0..n {
            let req = ModelRequest::parse(BODY).expect("request");
            let routed = block_on(router.completion(&req)).expect("routed");
            std::hint::black_box(routed.body);
            up.calls.borrow_mut().clear();
            clock.advance(0.001);
        }
    };
    run(10_000); // warm up
    let n = 200_000;
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let t0 = Instant::now();
    run(n);
    let elapsed = t0.elapsed();
    let allocs = ALLOCS.load(Ordering::Relaxed) - a0;
    println!(
        "hot path: {:.0} ns/request, {:.1} allocations/request ({n} requests)",
        elapsed.as_nanos() as f64 / n as f64,
        allocs as f64 / n as f64
    );
}
