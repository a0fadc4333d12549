//! Switchyard's Worker: the thin layer between Cloudflare's runtime and the pure core. It reads
//! the config from the environment once per isolate, converts requests and responses, and gives
//! the core its ports (`fetch`, the clock, a random seed).
//!
//! It only exists on wasm32: natively the crate is empty, so `cargo test` at the workspace root
//! runs the core's tests and nothing here needs a native stand-in.
#![cfg(target_arch = "wasm32")]

mod clock;
mod config_source;
mod convert;
mod dashboard;
mod deployments_sync;
mod js_glue;
mod kv_cache;
mod state_backend;
mod state_object;
mod transport;

pub use state_object::RouterShard;

use clock::JsClock;
use std::cell::RefCell;
use std::rc::Rc;
use switchyard_core::api::Services;
use switchyard_core::ports::RouterState;
use switchyard_core::stores::SharedView;
use switchyard_core::{App, Config, Router, Runtime};
use worker::web_sys::{Request, Response};
use worker::{event, Context, Env, Result};

/// How long after a request starts its shared-state report may go out.
const SYNC_AFTER_START_MS: u64 = 50;

/// What an isolate keeps between requests.
struct Isolate {
    /// The app for the config in force; replaced when the config in KV changes. A request
    /// keeps the app it started with.
    app: RefCell<Rc<App>>,
    /// The shared-state view, when the Durable Object binding exists (kept across reloads).
    view: Option<SharedView>,
    /// Runtime deployment changes shared through the Durable Object, when it exists.
    deployments: Option<deployments_sync::DeploymentsSync>,
    /// Hot reload from KV, when the `CONFIG_KV` binding exists.
    reload: Option<config_source::KvReload>,
    /// The response cache, the book of keys and the key minter (kept across reloads).
    services: Services,
}

impl Isolate {
    fn app(&self) -> Rc<App> {
        self.app.borrow().clone()
    }
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
    if req.method() == "GET" {
        if let Some(page) = dashboard::serve(&convert::path_of(&req.url())) {
            return page.map(Into::into);
        }
    }
    let isolate = isolate(&env);
    if let Some(reload) = &isolate.reload {
        if let Some(text) = reload.first_load(&env).await {
            replace_app(&isolate, &env, &text);
        }
    }
    let app = isolate.app();
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
    // Route and key first: a request refused on its headers is answered before its body is read.
    let mut core_req = convert::read_head(&req);
    let begun = app.begin(&core_req).await;
    if !App::refused(&begun) {
        if let Err(e) = convert::read_body(
            &req,
            &mut core_req,
            app.max_body_bytes(),
            app.body_timeout_ms(),
        )
        .await
        {
            return convert::write_response(switchyard_core::HttpResponse::from_error(&e));
        }
    }
    let method = core_req.method.clone();
    let path = core_req.path.clone();
    let started = js_sys::Date::now();
    let mut resp = app.finish(core_req, begun).await;
    for job in std::mem::take(&mut resp.background) {
        ctx.wait_until(job);
    }
    if let Some(log) = resp.stream_log.take() {
        ctx.wait_until(async move {
            if let Some(line) = log.await {
                worker::console_log!("{line}");
            }
        });
    }
    // Admin changes were saved inside their own operation; here only other isolates' changes
    // are picked up, after the response and never in its place.
    if isolate
        .deployments
        .as_ref()
        .is_some_and(|s| s.check_due() && app.router().is_some())
    {
        let app = app.clone();
        let isolate = isolate.clone();
        ctx.wait_until(async move {
            if let (Some(sync), Some(router)) = (&isolate.deployments, app.router()) {
                sync.refresh(router).await;
            }
        });
    }
    if resp.status >= 500 || app.request_log() {
        let line =
            switchyard_core::api::log_line(&method, &path, &resp, js_sys::Date::now() - started);
        if resp.status >= 500 {
            worker::console_error!("{line}");
        } else {
            worker::console_log!("{line}");
        }
    }
    // Report outcomes to the shards after the response, never before it.
    if let Some(job) = isolate.view.as_ref().and_then(|v| v.sync_job(0)) {
        ctx.wait_until(job);
    }
    // Pick up a changed config from KV, after the response.
    if isolate
        .reload
        .as_ref()
        .is_some_and(config_source::KvReload::due)
    {
        let isolate = isolate.clone();
        ctx.wait_until(async move {
            let changed = match &isolate.reload {
                Some(reload) => reload.check(&env).await,
                None => None,
            };
            if let Some(text) = changed {
                replace_app(&isolate, &env, &text);
            }
        });
    }
    convert::write_response(resp)
}

fn isolate(env: &Env) -> Rc<Isolate> {
    ISOLATE.with(|cell| {
        if let Some(i) = cell.borrow().as_ref() {
            return i.clone();
        }
        let text = config_source::env_text(env);
        // Parsed once per isolate: the shared-state view and the router both take this one.
        let config = text.clone().and_then(|t| parse(env, &t));
        let (view, deployments) = match &config {
            Ok(c) => shared_parts(env, c),
            Err(_) => (None, None),
        };
        let services = services(env, view.is_some());
        let isolate = Rc::new(Isolate {
            app: RefCell::new(Rc::new(App::new(
                Err(switchyard_core::Error::Internal {
                    message: "starting".into(),
                }),
                services.clone(),
            ))),
            view,
            deployments,
            reload: config_source::KvReload::new(env, text.as_ref().ok().cloned()),
            services,
        });
        *isolate.app.borrow_mut() = Rc::new(build_app(env, config, &isolate));
        *cell.borrow_mut() = Some(isolate.clone());
        isolate
    })
}

/// The shared-state view and the deployments sync, when the Durable Object binding exists.
fn shared_parts(
    env: &Env,
    config: &Config,
) -> (
    Option<SharedView>,
    Option<deployments_sync::DeploymentsSync>,
) {
    if env.durable_object(state_backend::BINDING).is_err() {
        return (None, None);
    }
    let args = &config.router.strategy_args;
    let backend = Rc::new(state_backend::DurableBackend { env: env.clone() });
    let view = SharedView::new(
        backend,
        Rc::new(JsClock),
        args.ttl_ms,
        args.max_latency_list_size,
    );
    (
        Some(view),
        Some(deployments_sync::DeploymentsSync::new(env.clone())),
    )
}

/// The cache in KV when it is bound, the book of keys and stored responses in Durable Objects
/// when the state's binding exists (else in this isolate's memory), keys minted from the platform's
/// secure random source.
fn services(env: &Env, durable: bool) -> Services {
    let mut services = Services::in_memory(Rc::new(JsClock));
    if let Ok(kv) = env.kv(kv_cache::BINDING) {
        services.cache = Rc::new(kv_cache::KvCache { kv });
    }
    if durable {
        services.keys = Rc::new(state_backend::DurableKeys { env: env.clone() });
        services.responses = Rc::new(state_backend::DurableResponses { env: env.clone() });
    }
    services.minter = Some(Rc::new(new_key));
    services
}

/// A config text, its `os.environ/NAME` values read from the Worker's secrets and variables.
fn parse(env: &Env, text: &str) -> std::result::Result<Config, switchyard_core::Error> {
    Config::from_text(text, &|n: &str| config_source::string_binding(env, n))
}

/// The app for a parsed config (or the reason there is none).
fn build_app(
    env: &Env,
    config: std::result::Result<Config, switchyard_core::Error>,
    isolate: &Isolate,
) -> App {
    let view = isolate.view.clone();
    let router = config.map(|config| {
        for w in &config.warnings {
            worker::console_warn!("switchyard config: {w}");
        }
        let mut runtime = Runtime::new(
            Rc::new(transport::FetchUpstream),
            Rc::new(JsClock),
            random_seed(),
        );
        let secrets_env = env.clone();
        runtime.secrets = Some(Rc::new(move |name: &str| {
            config_source::string_binding(&secrets_env, name)
        }));
        if let Some(v) = view {
            runtime.state = Some(Rc::new(v) as Rc<dyn RouterState>);
        }
        if let Some(sync) = &isolate.deployments {
            runtime.deployments = Some(Rc::new(sync.store()));
        }
        Router::new(config, runtime)
    });
    if let Err(e) = &router {
        worker::console_error!("switchyard config: {}", e.message());
    }
    App::new(router, isolate.services.clone())
}

/// Puts a new config in force. An invalid one is reported and the running config kept.
fn replace_app(isolate: &Isolate, env: &Env, text: &str) {
    let config = match parse(env, text) {
        Ok(c) => c,
        Err(e) => {
            worker::console_error!(
                "switchyard: the config in KV is invalid, keeping the current one: {}",
                e.message()
            );
            return;
        }
    };
    *isolate.app.borrow_mut() = Rc::new(build_app(env, Ok(config), isolate));
    if let Some(sync) = &isolate.deployments {
        sync.rebase();
    }
    worker::console_log!("switchyard: config reloaded from KV");
}

/// A virtual key: `sk-` and 48 hex digits from `crypto.getRandomValues`.
fn new_key() -> Option<String> {
    let mut buf = [0u8; 24];
    // No entropy: no key, rather than a guessable one.
    getrandom::fill(&mut buf).ok()?;
    let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("sk-{hex}"))
}

fn random_seed() -> u64 {
    let mut buf = [0u8; 8];
    match getrandom::fill(&mut buf) {
        Ok(()) => u64::from_le_bytes(buf),
        // No entropy source: the clock still spreads isolates apart.
        Err(_) => js_sys::Date::now().to_bits(),
    }
}
