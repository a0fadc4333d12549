//! Switchyard's Worker: the thin layer between Cloudflare's runtime and the pure core. It reads
//! the config from the environment once per isolate, converts requests and responses, and gives
//! the core its ports (`fetch`, the clock, a random seed).
//!
//! It only exists on wasm32: natively the crate is empty, so `cargo test` at the workspace root
//! runs the core's tests and nothing here needs a native stand-in.
#![cfg(target_arch = "wasm32")]

mod config_source;
mod convert;
mod transport;

use std::cell::RefCell;
use std::rc::Rc;
use switchyard_core::js::JsClock;
use switchyard_core::{App, Router, Runtime};
use worker::{event, Context, Env, Request, Response, Result};

thread_local! {
    /// One app per isolate: the config is parsed on the first request, not on every one.
    static APP: RefCell<Option<Rc<App>>> = const { RefCell::new(None) };
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let app = app(&env);
    let core_req = match convert::read_request(req, app.max_body_bytes()).await {
        Ok(r) => r,
        Err(e) => return convert::write_response(switchyard_core::HttpResponse::from_error(&e)),
    };
    let method = core_req.method.clone();
    let path = core_req.path.clone();
    let resp = app.handle(core_req).await;
    if resp.status >= 500 {
        worker::console_error!("{method} {path} -> {}", resp.status);
    }
    convert::write_response(resp)
}

fn app(env: &Env) -> Rc<App> {
    APP.with(|cell| {
        if let Some(app) = cell.borrow().as_ref() {
            return app.clone();
        }
        let router = config_source::load(env).map(|config| {
            for w in &config.warnings {
                worker::console_warn!("switchyard config: {w}");
            }
            let mut runtime = Runtime::new(
                Rc::new(transport::FetchUpstream),
                Rc::new(JsClock),
                random_seed(),
            );
            let env = env.clone();
            runtime.secrets = Some(Rc::new(move |name: &str| {
                config_source::string_binding(&env, name)
            }));
            Router::new(config, runtime)
        });
        if let Err(e) = &router {
            worker::console_error!("switchyard config: {}", e.message());
        }
        let app = Rc::new(App::new(router));
        *cell.borrow_mut() = Some(app.clone());
        app
    })
}

fn random_seed() -> u64 {
    let mut buf = [0u8; 8];
    match getrandom::fill(&mut buf) {
        Ok(()) => u64::from_le_bytes(buf),
        // No entropy source: the clock still spreads isolates apart.
        Err(_) => js_sys::Date::now().to_bits(),
    }
}
