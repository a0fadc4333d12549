//! What an isolate keeps between requests: the app for the config in force, the shared-state
//! view, the deployments sync, the config watcher and the services. Built on the first request
//! after JavaScript gave the environment (`crate::exports::init`).

use crate::clock::HostClock;
use crate::config_source::{HostEnv, KvReload};
use crate::deployments_sync::DeploymentsSync;
use crate::log;
use crate::state_backend::{DurableBackend, DurableKeys, DurableLog, DurableResponses};
use crate::transport::FetchUpstream;
use crate::{kv_cache, random};
use std::cell::RefCell;
use std::rc::Rc;
use switchyard_core::api::Services;
use switchyard_core::ports::RouterState;
use switchyard_core::stores::SharedView;
use switchyard_core::{App, Config, Router, Runtime};

pub struct Isolate {
    /// The app for the config in force; replaced when the config in KV changes. A request
    /// keeps the app it started with.
    app: RefCell<Rc<App>>,
    pub env: Rc<HostEnv>,
    /// The shared-state view, when the Durable Object binding exists (kept across reloads).
    pub view: Option<SharedView>,
    /// Runtime deployment changes shared through the Durable Object, when it exists.
    pub deployments: Option<DeploymentsSync>,
    /// Hot reload from KV, when the `CONFIG_KV` binding exists.
    pub reload: Option<KvReload>,
    /// The response cache, the book of keys and the key minter (kept across reloads).
    services: Services,
}

impl Isolate {
    pub fn app(&self) -> Rc<App> {
        self.app.borrow().clone()
    }

    /// Parses the config once: the shared-state view and the router both take this one.
    pub fn new(env: HostEnv) -> Rc<Isolate> {
        let env = Rc::new(env);
        let text = env.config_text();
        let config = text.clone().and_then(|t| parse(&env, &t));
        let (view, deployments) = match &config {
            Ok(c) if env.durable => (Some(shared_view(c)), Some(DeploymentsSync::new())),
            _ => (None, None),
        };
        let services = services(&env);
        let isolate = Rc::new(Isolate {
            app: RefCell::new(Rc::new(App::new(
                Err(switchyard_core::Error::Internal {
                    message: "starting".into(),
                }),
                services.clone(),
            ))),
            reload: KvReload::new(&env, text.as_ref().ok().cloned()),
            env,
            view,
            deployments,
            services,
        });
        *isolate.app.borrow_mut() = Rc::new(isolate.build_app(config));
        isolate
    }

    /// The app for a parsed config (or the reason there is none).
    fn build_app(&self, config: Result<Config, switchyard_core::Error>) -> App {
        let router = config.map(|config| {
            for w in &config.warnings {
                log::warn(&format!("switchyard config: {w}"));
            }
            let mut runtime =
                Runtime::new(Rc::new(FetchUpstream), Rc::new(HostClock), random::seed());
            let env = self.env.clone();
            runtime.secrets = Some(Rc::new(move |name: &str| env.var(name)));
            runtime.signer = Some(Rc::new(crate::signer::WebCryptoSigner));
            if let Some(v) = self.view.clone() {
                runtime.state = Some(Rc::new(v) as Rc<dyn RouterState>);
            }
            if let Some(sync) = &self.deployments {
                runtime.deployments = Some(Rc::new(sync.store()));
            }
            Router::new(config, runtime)
        });
        if let Err(e) = &router {
            log::error(&format!("switchyard config: {}", e.message()));
        }
        App::new(router, self.services.clone())
    }

    /// Puts a new config in force. An invalid one is reported and the running config kept.
    pub fn replace_app(&self, text: &str) {
        let config = match parse(&self.env, text) {
            Ok(c) => c,
            Err(e) => {
                log::error(&format!(
                    "switchyard: the config in KV is invalid, keeping the current one: {}",
                    e.message()
                ));
                return;
            }
        };
        *self.app.borrow_mut() = Rc::new(self.build_app(Ok(config)));
        if let Some(sync) = &self.deployments {
            sync.rebase();
        }
        log::info("switchyard: config reloaded from KV");
    }
}

/// The shared-state view over the model groups' Durable Objects.
fn shared_view(config: &Config) -> SharedView {
    let args = &config.router.strategy_args;
    SharedView::new(
        Rc::new(DurableBackend),
        Rc::new(HostClock),
        args.ttl_ms,
        args.max_latency_list_size,
    )
}

/// How long an isolate gathers request-log records before it writes them to the `log` object:
/// one object call per second per isolate, not one per request.
const LOG_WRITE_EVERY_MS: u64 = 1_000;

/// The cache in KV when it is bound, the book of keys and stored responses in Durable Objects
/// when the state's binding exists (else in this isolate's memory), keys minted from the
/// platform's secure random source.
fn services(env: &HostEnv) -> Services {
    let mut services = Services::in_memory(Rc::new(HostClock));
    if env.cache {
        services.cache = Rc::new(kv_cache::KvCache);
    }
    if env.durable {
        services.keys = Rc::new(DurableKeys);
        services.responses = Rc::new(DurableResponses);
        services.log = switchyard_core::stores::LogWriter::new(
            Rc::new(DurableLog),
            Rc::new(HostClock),
            LOG_WRITE_EVERY_MS,
        );
    }
    services.minter = Some(Rc::new(random::new_key));
    services
}

/// A config text, its `os.environ/NAME` values read from the Worker's secrets and variables.
fn parse(env: &HostEnv, text: &str) -> Result<Config, switchyard_core::Error> {
    Config::from_text(text, &|n: &str| env.var(n))
}
