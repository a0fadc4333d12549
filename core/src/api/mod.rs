//! The HTTP surface, free of any platform type: routes, auth, CORS and response shaping. The
//! Worker turns its `Request` into an [`HttpRequest`], calls [`App::handle`], and turns the
//! [`HttpResponse`] back; everything between is tested natively.

mod admin;
mod admission;
mod auth;
mod keys;
mod log_line;
mod logs;
mod messages;
mod metrics;
mod model_call;
mod models;
mod request_record;
mod responses;
mod routes;

use crate::error::Error;
use crate::ports::{CacheStore, Clock, KeyMinter, KeyStore, ResponseStore};
use crate::router::Router;
use crate::stores::{LogWriter, MemoryCache, MemoryKeys, MemoryRequestLog, MemoryResponses};
use auth::{authorize, require_master, Caller};
use routes::{match_route, Route};
use serde_json::json;
use std::rc::Rc;

pub use crate::http::{HttpBody, HttpRequest, HttpResponse};
pub use log_line::log_line;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Body size limit used when the config itself failed to load.
const FALLBACK_BODY_LIMIT: usize = 10 * 1024 * 1024;

/// Response headers a browser client may read (CORS).
const EXPOSED_HEADERS: &str = "x-request-id, x-litellm-call-id, x-litellm-model-id, x-litellm-model-group, x-litellm-model-api-base, x-litellm-attempted-retries, x-litellm-attempted-fallbacks, x-litellm-response-cost, x-litellm-cache-key, x-switchyard-cache, x-litellm-version, retry-after";

/// Answers the in-memory cache keeps at most.
const MEMORY_CACHE_ENTRIES: usize = 1_000;

/// Stored responses this isolate's memory keeps at most (with no Durable Object bound).
const MEMORY_RESPONSES: usize = 1_000;

/// The application: a router, or the reason there is none (an invalid config is reported on
/// every request rather than crashing the Worker), and the services beside it.
pub struct App {
    router: Result<Router, Error>,
    services: Services,
}

/// What the HTTP surface keeps beside the router: the response cache, stored responses, the
/// book of virtual keys and the key minter. The host keeps them across config reloads (a new config is a new
/// router, not a new book of keys).
#[derive(Clone)]
pub struct Services {
    pub cache: Rc<dyn CacheStore>,
    pub keys: Rc<dyn KeyStore>,
    pub responses: Rc<dyn ResponseStore>,
    /// Makes virtual keys; `None` (no secure random source): `/key/generate` refuses.
    pub minter: Option<Rc<dyn KeyMinter>>,
    /// The request log, written after the responses.
    pub log: Rc<LogWriter>,
}

impl Services {
    /// Cache, stored responses and keys in this isolate's memory, no minter.
    pub fn in_memory(clock: Rc<dyn Clock>) -> Self {
        Services {
            cache: Rc::new(MemoryCache::new(clock.clone(), MEMORY_CACHE_ENTRIES)),
            responses: Rc::new(MemoryResponses::new(clock.clone(), MEMORY_RESPONSES)),
            keys: Rc::new(MemoryKeys::new(clock.clone())),
            minter: None,
            log: LogWriter::new(Rc::new(MemoryRequestLog::new(clock.clone())), clock, 0),
        }
    }
}

/// What [`App::begin`] learned of a request before its body: where it goes and who sent it,
/// or the error that answers it.
pub struct Begun(Result<Stage, Error>);

enum Stage {
    Preflight,
    /// Needs no key (liveliness, readiness).
    Open(Route),
    Authorized(Route, Caller),
}

impl App {
    pub fn new(router: Result<Router, Error>, services: Services) -> Self {
        App { router, services }
    }

    /// Whether the host should write the per-request log line.
    pub fn request_log(&self) -> bool {
        self.router
            .as_ref()
            .map_or(true, |r| r.config().general.request_log)
    }

    pub fn router(&self) -> Option<&Router> {
        self.router.as_ref().ok()
    }

    /// Largest request body accepted; the Worker checks it before reading the body.
    pub fn max_body_bytes(&self) -> usize {
        self.router
            .as_ref()
            .map(|r| r.config().general.max_request_size_bytes)
            .unwrap_or(FALLBACK_BODY_LIMIT)
    }

    /// How long the platform waits for a request body.
    pub fn body_timeout_ms(&self) -> u64 {
        self.router
            .as_ref()
            .map(|r| r.config().general.request_body_timeout_ms)
            .unwrap_or((crate::config::DEFAULT_REQUEST_BODY_TIMEOUT_SECS * 1000.0) as u64)
    }

    pub async fn handle(&self, req: HttpRequest) -> HttpResponse {
        let begun = self.begin(&req).await;
        self.finish(req, begun).await
    }

    /// The first half of a request, from its method, path and headers alone (`head.body` is
    /// not read): the route and the caller. A request refused here (unknown route, wrong
    /// method, no or a wrong key) is answered before its body is read, so a keyless upload
    /// gets its 401 at once instead of holding the request open while it trickles in.
    pub async fn begin(&self, head: &HttpRequest) -> Begun {
        if head.method == "OPTIONS" {
            return Begun(Ok(Stage::Preflight));
        }
        let route = match match_route(&head.method, &head.path) {
            Ok(r) => r,
            Err(e) => return Begun(Err(e)),
        };
        if matches!(route, Route::Liveliness | Route::Readiness) {
            return Begun(Ok(Stage::Open(route)));
        }
        let router = match &self.router {
            Ok(r) => r,
            Err(e) => return Begun(Err(e.clone())),
        };
        Begun(
            authorize(router, &*self.services.keys, head)
                .await
                .map(|caller| Stage::Authorized(route, caller)),
        )
    }

    /// Whether [`App::begin`] already decided the answer (the body need not be read).
    pub fn refused(begun: &Begun) -> bool {
        begun.0.is_err()
    }

    /// The second half: the whole request (body read), after [`App::begin`].
    pub async fn finish(&self, req: HttpRequest, begun: Begun) -> HttpResponse {
        let origin = req.header("origin").map(str::to_string);
        let anthropic = messages::is_messages_path(&req.path);
        let asked = self.logged(&req, &begun);
        let mut resp = match begun.0 {
            Ok(Stage::Preflight) => self.preflight(&req),
            Ok(stage) => match self.dispatch(req, stage).await {
                Ok(r) => r,
                Err(e) => HttpResponse::from_error(&e),
            },
            Err(e) => HttpResponse::from_error(&e),
        };
        if anthropic {
            messages::anthropic_error(&mut resp);
        }
        if let (Some(asked), Ok(router)) = (asked, &self.router) {
            let started = asked.at_ms;
            let latency = router.now_ms() - started;
            let mut record = request_record::record(asked, &mut resp, latency);
            if record.id.is_empty() {
                // Refused before a call id was given: one of its own, to find it by.
                record.id = router.call_id();
            }
            let clock = router.clock().clone();
            let log = &self.services.log;
            request_record::log(&mut resp, record, log, clock, started);
        }
        if let Some(origin) = origin {
            self.add_cors(&origin, &mut resp);
        }
        resp
    }

    /// Who asked, for the request log, when `req` goes to a model endpoint (refused ones too;
    /// admin, key and dashboard calls are not logged).
    fn logged(&self, req: &HttpRequest, begun: &Begun) -> Option<request_record::Asked> {
        let router = self.router.as_ref().ok()?;
        if router.config().general.disable_spend_logs {
            return None;
        }
        let caller = match &begun.0 {
            Ok(Stage::Authorized(route, caller)) if routes::is_model_call(route) => {
                caller.label().to_string()
            }
            Err(_)
                if match_route(&req.method, &req.path).is_ok_and(|r| routes::is_model_call(&r)) =>
            {
                "unauthorized".to_string()
            }
            _ => return None,
        };
        Some(request_record::Asked {
            method: req.method.clone(),
            path: req.path.clone(),
            caller,
            at_ms: router.now_ms(),
        })
    }

    async fn dispatch(&self, req: HttpRequest, stage: Stage) -> Result<HttpResponse, Error> {
        let (route, caller) = match stage {
            Stage::Open(Route::Liveliness) => {
                return Ok(HttpResponse::json(200, br#""I'm alive!""#.to_vec()))
            }
            Stage::Open(_) => return Ok(self.readiness().await),
            Stage::Authorized(route, caller) => (route, caller),
            Stage::Preflight => return Ok(self.preflight(&req)),
        };
        let router = self.router.as_ref().map_err(Clone::clone)?;
        if let Route::Keys(op) = route {
            require_master(router, &caller)?;
            let query = req.path.split_once('?').map_or("", |(_, q)| q).to_string();
            return keys::handle(router, &self.services, op, &req.body, &query).await;
        }
        if let Route::Logs(op) = route {
            require_master(router, &caller)?;
            let query = req.path.split_once('?').map_or("", |(_, q)| q);
            return logs::handle(&self.services, op, query).await;
        }
        if let Route::Admin(admin) = route {
            require_master(router, &caller)?;
            router.load_all_state().await;
            let query = req.path.split_once('?').map_or("", |(_, q)| q);
            return admin::handle(router, admin, &req.body, query).await;
        }
        if req.body.len() > router.config().general.max_request_size_bytes {
            return Err(Error::PayloadTooLarge {
                limit_bytes: router.config().general.max_request_size_bytes,
            });
        }
        let services = &self.services;
        match route {
            Route::Model(endpoint) => {
                model_call::model_call(router, services, endpoint, req, &caller, None).await
            }
            Route::AzureModel(endpoint, model) => {
                let model = Some(model.as_str());
                model_call::model_call(router, services, endpoint, req, &caller, model).await
            }
            Route::Messages => messages::create(router, services, req, &caller).await,
            Route::CountTokens => messages::count_tokens(&req.body),
            Route::Responses => responses::create(router, services, req, &caller).await,
            Route::Response(by_id) => {
                let query = req.path.split_once('?').map_or("", |(_, q)| q);
                responses::by_id(services, &caller, by_id, query).await
            }
            Route::Models => models::list(router, &caller),
            Route::ModelRetrieve(id) => models::retrieve(router, &caller, &id),
            Route::ModelInfo => {
                let query = req.path.split_once('?').map_or("", |(_, q)| q);
                models::info(router, &caller, query)
            }
            Route::Liveliness
            | Route::Readiness
            | Route::Admin(_)
            | Route::Keys(_)
            | Route::Logs(_) => Err(Error::Internal {
                message: "unreachable route".into(),
            }),
        }
    }

    async fn readiness(&self) -> HttpResponse {
        match &self.router {
            Ok(r) => {
                let (state, reachable) = r.state().reachable().await;
                let config = r.config();
                // Serving, with some deployments of the config left out: degraded, not down.
                let status = match (reachable, config.left_out.is_empty()) {
                    (false, _) => "unhealthy",
                    (true, true) => "healthy",
                    (true, false) => "degraded",
                };
                HttpResponse::json(
                    if reachable { 200 } else { 503 },
                    json!({
                        "status": status,
                        "config": "valid",
                        "deployments": config.deployments.len(),
                        "left_out": config.left_out.len(),
                        "state": state,
                        "state_reachable": reachable,
                    })
                    .to_string()
                    .into_bytes(),
                )
            }
            Err(e) => HttpResponse::json(
                503,
                json!({"status": "unhealthy", "config": e.message()})
                    .to_string()
                    .into_bytes(),
            ),
        }
    }

    fn allowed_origin(&self, origin: &str) -> Option<String> {
        let allowed = &self
            .router
            .as_ref()
            .ok()?
            .config()
            .general
            .cors_allowed_origins;
        if allowed.iter().any(|a| a == "*") {
            Some("*".into())
        } else if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
            Some(origin.to_string())
        } else {
            None
        }
    }

    fn preflight(&self, req: &HttpRequest) -> HttpResponse {
        let mut r = HttpResponse {
            status: 204,
            headers: Vec::new(),
            body: HttpBody::Bytes(Vec::new()),
            background: Vec::new(),
            trace: Default::default(),
            stream_log: None,
            facts: Default::default(),
        };
        let Some(origin) = req.header("origin") else {
            return r;
        };
        if self.allowed_origin(origin).is_some() {
            r.headers.push((
                "access-control-allow-methods",
                "GET, POST, DELETE, OPTIONS".into(),
            ));
            let asked = req
                .header("access-control-request-headers")
                .unwrap_or("authorization, content-type, api-key");
            r.headers
                .push(("access-control-allow-headers", asked.to_string()));
            r.headers.push(("access-control-max-age", "86400".into()));
        }
        r
    }

    fn add_cors(&self, origin: &str, resp: &mut HttpResponse) {
        if let Some(allow) = self.allowed_origin(origin) {
            resp.headers.push(("access-control-allow-origin", allow));
            resp.headers
                .push(("access-control-expose-headers", EXPOSED_HEADERS.into()));
            resp.headers.push(("vary", "origin".into()));
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod logs_tests;
