//! The Router: LiteLLM's `Router` for the edge, with LiteLLM's `Router` API. It owns the config, the
//! state and the ports; `exec` runs a request (retries, fallbacks, cooldowns), `attempt` makes
//! one upstream call, `admin` changes and reports on deployments.

mod access_token;
mod admin;
mod attempt;
mod continuation;
mod exec;
mod options;
pub mod usage;

pub use crate::overlay::{Origin, Overlay};
pub use crate::relay::StreamUsage;
pub use options::RequestOptions;

use crate::config::Config;
use crate::error::Error;
use crate::ports::{Clock, DeploymentStore, RouterState, Secrets, Upstream};
use crate::relay::ClientStream;
use crate::request::{Endpoint, ModelRequest};
use crate::rng::Rng;
use crate::stores::MemoryState;
use std::cell::RefCell;
use std::rc::Rc;

/// What the router needs from its host.
pub struct Runtime {
    pub upstream: Rc<dyn Upstream>,
    pub clock: Rc<dyn Clock>,
    pub seed: u64,
    /// Shared state; `None` keeps it in this isolate's memory.
    pub state: Option<Rc<dyn RouterState>>,
    /// For deployments added at runtime that name `os.environ/...`.
    pub secrets: Option<Rc<dyn Secrets>>,
    /// Where runtime deployment changes are saved; `None` keeps them in this isolate.
    pub deployments: Option<Rc<dyn DeploymentStore>>,
    /// Signs service accounts' JWTs (Vertex AI); `None`: the `rsa` crate, where built in.
    pub signer: Option<Rc<dyn crate::ports::Rs256Signer>>,
}

impl Runtime {
    pub fn new(upstream: Rc<dyn Upstream>, clock: Rc<dyn Clock>, seed: u64) -> Self {
        Runtime {
            upstream,
            clock,
            seed,
            state: None,
            secrets: None,
            deployments: None,
            signer: None,
        }
    }
}

pub struct Router {
    config: RefCell<Rc<Config>>,
    clock: Rc<dyn Clock>,
    state: Rc<dyn RouterState>,
    secrets: Rc<dyn Secrets>,
    rng: RefCell<Rng>,
    /// The config's own `model_list` entries (each with its `model_info.id`) and the config as
    /// written: runtime changes are an overlay over these, never a copy that replaces them.
    base: Vec<(String, serde_json::Value)>,
    base_source: serde_json::Value,
    /// The runtime changes in force and the version they were saved as.
    saved: RefCell<crate::ports::SavedOverlay>,
    deployment_store: Option<Rc<dyn DeploymentStore>>,
    /// Upstream calls (the same ports, shared with streams that outlive the request).
    calls: Rc<attempt::Calls>,
    /// Retries, fallbacks and hedges per requested model group, in this isolate (for metrics).
    tallies: Tallies,
}

/// Per requested model group, in this isolate; shared with streams that are continued after
/// the request returned.
pub(crate) type Tallies = Rc<RefCell<std::collections::HashMap<String, usage::GroupTally>>>;

/// A successful answer and how it was reached.
pub struct Routed {
    pub deployment_id: String,
    /// The group that answered (a fallback's, when one served).
    pub group: String,
    pub api_base: String,
    pub body: RoutedBody,
    pub attempted_retries: u32,
    pub attempted_fallbacks: u32,
    /// A hedge went out (`x-switchyard-hedged: 1`), whichever attempt served.
    pub hedged: bool,
    /// For a stream that may be finished elsewhere if it breaks: how many continuations it
    /// took (read when it has ended).
    pub continued: Option<Rc<std::cell::Cell<u32>>>,
    /// USD, when the usage and the price are known before the body is sent (non-streaming).
    pub response_cost: Option<f64>,
    /// For a stream: (tokens, cost), set when it ends.
    pub stream_usage: Option<StreamUsage>,
    /// The provider's `x-request-id`, passed on to the client.
    pub request_id: Option<String>,
    /// (prompt, completion) tokens of a complete (non-streamed) answer.
    pub usage: Option<(u64, u64)>,
}

pub enum RoutedBody {
    /// A complete JSON response, passed on as the provider sent it.
    Json(Vec<u8>),
    /// An SSE stream whose first event has already arrived.
    Stream(ClientStream),
    /// Binary content (speech audio) passed through as it arrives, with its content type.
    Binary {
        content_type: String,
        stream: ClientStream,
    },
}

impl Router {
    pub fn new(config: Config, runtime: Runtime) -> Self {
        let args = &config.router.strategy_args;
        let state = runtime
            .state
            .unwrap_or_else(|| Rc::new(MemoryState::new(args.ttl_ms, args.max_latency_list_size)));
        state.set_deployments(deployment_groups(&config));
        let base = overlay_base(&config);
        let base_source = config.source.clone();
        Router {
            base,
            base_source,
            saved: RefCell::new(crate::ports::SavedOverlay::default()),
            deployment_store: runtime.deployments,
            config: RefCell::new(Rc::new(config)),
            calls: Rc::new(attempt::Calls {
                upstream: runtime.upstream,
                clock: runtime.clock.clone(),
                state: state.clone(),
                tokens: access_token::AccessTokens::new(
                    runtime
                        .signer
                        .unwrap_or_else(crate::google_auth::default_signer),
                ),
            }),
            clock: runtime.clock,
            state,
            secrets: runtime
                .secrets
                .unwrap_or_else(|| Rc::new(|_: &str| None::<String>)),
            rng: RefCell::new(Rng::seeded(runtime.seed)),
            tallies: Tallies::default(),
        }
    }

    /// The config in force. A request holds on to the one it started with, so runtime changes
    /// never alter a request half-way.
    pub fn config(&self) -> Rc<Config> {
        self.config.borrow().clone()
    }

    /// The runtime changes in force (and their saved version).
    pub fn overlay(&self) -> crate::ports::SavedOverlay {
        self.saved.borrow().clone()
    }

    pub fn state(&self) -> &Rc<dyn RouterState> {
        &self.state
    }

    /// A fresh id for a call (`x-litellm-call-id`).
    pub fn call_id(&self) -> String {
        self.rng.borrow_mut().hex_id()
    }

    /// `completion` / `acompletion`: a request (chat, or any endpoint's `ModelRequest`) routed
    /// through the model group's deployments with retries, fallbacks and cooldowns.
    pub async fn completion(&self, req: &ModelRequest) -> Result<Routed, Error> {
        exec::completion(self, req, &mut crate::trace::Trace::default()).await
    }

    /// [`Router::completion`], and its way through the router: how each group that failed on
    /// the way failed (`group: class status`, for the log line) and every step (for the
    /// request log).
    pub async fn completion_traced(
        &self,
        req: &ModelRequest,
    ) -> (Result<Routed, Error>, crate::trace::Trace) {
        let mut trace = crate::trace::Trace::default();
        let result = exec::completion(self, req, &mut trace).await;
        (result, trace)
    }

    pub(crate) fn record_tally(&self, group: &str, counts: &usage::GroupTally) {
        let mut t = self.tallies.borrow_mut();
        t.entry(group.to_string()).or_default().add(counts);
    }

    /// Retries, fallbacks and hedges so far, per requested model group, in this isolate.
    pub fn tallies(&self) -> Vec<(String, usage::GroupTally)> {
        let mut v: Vec<(String, usage::GroupTally)> = self
            .tallies
            .borrow()
            .iter()
            .map(|(g, c)| (g.clone(), *c))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn clock(&self) -> &Rc<dyn Clock> {
        &self.clock
    }

    /// The router's clock, in ms since the epoch.
    pub fn now_ms(&self) -> f64 {
        self.clock.now_ms()
    }

    /// `text_completion` / `atext_completion`: an OpenAI `/v1/completions` body.
    pub async fn text_completion(&self, body: &serde_json::Value) -> Result<Routed, Error> {
        self.call_endpoint(Endpoint::Completions, body).await
    }

    /// `embedding` / `aembedding`: an OpenAI `/v1/embeddings` body.
    pub async fn embedding(&self, body: &serde_json::Value) -> Result<Routed, Error> {
        self.call_endpoint(Endpoint::Embeddings, body).await
    }

    /// `image_generation`: an OpenAI `/v1/images/generations` body.
    pub async fn image_generation(&self, body: &serde_json::Value) -> Result<Routed, Error> {
        self.call_endpoint(Endpoint::ImageGenerations, body).await
    }

    /// `moderation`: an OpenAI `/v1/moderations` body.
    pub async fn moderation(&self, body: &serde_json::Value) -> Result<Routed, Error> {
        self.call_endpoint(Endpoint::Moderations, body).await
    }

    /// `speech`: an OpenAI `/v1/audio/speech` body; the answer is `RoutedBody::Binary`.
    pub async fn speech(&self, body: &serde_json::Value) -> Result<Routed, Error> {
        self.call_endpoint(Endpoint::Speech, body).await
    }

    /// `transcription`: a `multipart/form-data` upload (`file`, `model`, ...).
    pub async fn transcription(&self, content_type: &str, form: Vec<u8>) -> Result<Routed, Error> {
        let req = ModelRequest::parse_upload(Endpoint::Transcriptions, content_type, form)?;
        self.completion(&req).await
    }

    async fn call_endpoint(
        &self,
        endpoint: Endpoint,
        body: &serde_json::Value,
    ) -> Result<Routed, Error> {
        let req = ModelRequest::parse_for(endpoint, body.to_string().as_bytes())?;
        self.completion(&req).await
    }
}

/// The config's `model_list` entries as written, each with its id made explicit (so the list
/// in force names every deployment the same way whatever the overlay adds or removes).
fn overlay_base(config: &Config) -> Vec<(String, serde_json::Value)> {
    let written = config
        .source
        .get("model_list")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    written
        .into_iter()
        .zip(&config.deployments)
        .map(|(mut entry, d)| {
            admin::set_id(&mut entry, &d.id);
            (d.id.clone(), entry)
        })
        .collect()
}

fn deployment_groups(config: &Config) -> Vec<(String, String)> {
    config
        .deployments
        .iter()
        .map(|d| (d.id.clone(), d.group.clone()))
        .collect()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod access_token_tests;
#[cfg(test)]
mod admin_tests;
#[cfg(test)]
mod continuation_tests;
#[cfg(test)]
mod hedge_tests;
#[cfg(test)]
mod scenarios;
