//! Switchyard's Worker: the thin layer between Cloudflare's runtime and the pure core. It reads
//! the config from the environment once per isolate, converts requests and responses, and gives
//! the core its ports (`fetch`, the clock, a random seed).
//!
//! It only exists on wasm32: natively the crate is empty, so `cargo test` at the workspace root
//! runs the core's tests and nothing here needs a native stand-in.
#![cfg(target_arch = "wasm32")]

mod config_source;
mod convert;
mod deployments_sync;
mod kv_cache;
mod state_backend;
mod state_object;
mod transport;

pub use state_object::RouterShard;

use std::cell::RefCell;
use std::rc::Rc;
use switchyard_core::js::JsClock;
use switchyard_core::state::{RouterState, SharedView};
use switchyard_core::{App, Router, Runtime};
use worker::{event, Context, Env, Request, Response, Result};

/// How long after a request starts its shared-state report may go out.
const SYNC_AFTER_START_MS: u64 = 50;

/// What an isolate keeps between requests.
struct Isolate {
    app: Rc<App>,
    /// The shared-state view, when the Durable Object binding exists.
    view: Option<SharedView>,
    /// Runtime deployment changes shared through the Durable Object, when it exists.
    deployments: Option<deployments_sync::DeploymentsSync>,
}

thread_local! {
    /// One app per isolate: the config is parsed on the first request, not on every one.
    static ISOLATE: RefCell<Option<Rc<Isolate>>> = const { RefCell::new(None) };
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let isolate = isolate(&env);
    let app = &isolate.app;
    if let (Some(sync), Some(router)) = (&isolate.deployments, app.router()) {
        sync.load_once(router).await;
    }
    // A sync that starts shortly after this request's call does, so other isolates learn of
    // calls in flight (least-busy, max_parallel_requests) before they end.
    if let Some(job) = isolate
        .view
        .as_ref()
        .and_then(|v| v.sync_job(SYNC_AFTER_START_MS))
    {
        ctx.wait_until(job);
    }
    let core_req = match convert::read_request(req, app.max_body_bytes()).await {
        Ok(r) => r,
        Err(e) => return convert::write_response(switchyard_core::HttpResponse::from_error(&e)),
    };
    let method = core_req.method.clone();
    let path = core_req.path.clone();
    let mut resp = app.handle(core_req).await;
    for job in std::mem::take(&mut resp.background) {
        ctx.wait_until(job);
    }
    if let (Some(sync), Some(router)) = (&isolate.deployments, app.router()) {
        if let Err(e) = sync.save_if_changed(router).await {
            resp = switchyard_core::HttpResponse::from_error(&e);
        } else if sync.check_due() {
            let isolate = isolate.clone();
            ctx.wait_until(async move {
                if let (Some(sync), Some(router)) = (&isolate.deployments, isolate.app.router()) {
                    sync.refresh(router).await;
                }
            });
        }
    }
    if resp.status >= 500 {
        worker::console_error!("{method} {path} -> {}", resp.status);
    }
    // Report outcomes to the shards after the response, never before it.
    if let Some(job) = isolate.view.as_ref().and_then(|v| v.sync_job(0)) {
        ctx.wait_until(job);
    }
    convert::write_response(resp)
}

fn isolate(env: &Env) -> Rc<Isolate> {
    ISOLATE.with(|cell| {
        if let Some(i) = cell.borrow().as_ref() {
            return i.clone();
        }
        let mut view = None;
        let mut deployments = None;
        let router = config_source::load(env).map(|config| {
            for w in &config.warnings {
                worker::console_warn!("switchyard config: {w}");
            }
            let clock = Rc::new(JsClock);
            let mut runtime = Runtime::new(
                Rc::new(transport::FetchUpstream),
                clock.clone(),
                random_seed(),
            );
            let secrets_env = env.clone();
            runtime.secrets = Some(Rc::new(move |name: &str| {
                config_source::string_binding(&secrets_env, name)
            }));
            if let Ok(kv) = env.kv(kv_cache::BINDING) {
                runtime.cache = Some(Rc::new(kv_cache::KvCache { kv }));
            }
            if env.durable_object(state_backend::BINDING).is_ok() {
                let args = &config.router.strategy_args;
                let backend = Rc::new(state_backend::DurableBackend { env: env.clone() });
                let shared =
                    SharedView::new(backend, clock, args.ttl_ms, args.max_latency_list_size);
                runtime.state = Some(Rc::new(shared.clone()) as Rc<dyn RouterState>);
                view = Some(shared);
                deployments = Some(deployments_sync::DeploymentsSync::new(env.clone()));
            }
            Router::new(config, runtime)
        });
        if let Err(e) = &router {
            worker::console_error!("switchyard config: {}", e.message());
        }
        let isolate = Rc::new(Isolate {
            app: Rc::new(App::new(router)),
            view,
            deployments,
        });
        *cell.borrow_mut() = Some(isolate.clone());
        isolate
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
