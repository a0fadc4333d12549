//! The HTTP surface, free of any platform type: routes, auth, CORS and response shaping. The
//! Worker turns its `Request` into an [`HttpRequest`], calls [`App::handle`], and turns the
//! [`HttpResponse`] back; everything between is tested natively.

use crate::admin_api::{self, AdminRoute};
use crate::cache;
use crate::error::Error;
use crate::key_routes;
use crate::relay::ClientStream;
use crate::request::{Endpoint, ModelRequest};
use crate::router::{RoutedBody, Router};
use serde_json::json;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Body size limit used when the config itself failed to load.
const FALLBACK_BODY_LIMIT: usize = 10 * 1024 * 1024;

/// Response headers a browser client may read (CORS).
const EXPOSED_HEADERS: &str = "x-litellm-call-id, x-litellm-model-id, x-litellm-model-group, x-litellm-model-api-base, x-litellm-attempted-retries, x-litellm-attempted-fallbacks, x-litellm-response-cost, x-litellm-cache-key, x-switchyard-cache, x-litellm-version, retry-after";

pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: HttpBody,
    /// Work for after the response (a cache write): the Worker runs it in `waitUntil`.
    pub background: Vec<crate::ports::LocalFuture<()>>,
}

pub enum HttpBody {
    Bytes(Vec<u8>),
    Stream(ClientStream),
}

impl HttpResponse {
    pub fn json(status: u16, body: Vec<u8>) -> Self {
        HttpResponse {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: HttpBody::Bytes(body),
            background: Vec::new(),
        }
    }

    /// The one place an error becomes a response.
    pub fn from_error(e: &Error) -> Self {
        let mut r = HttpResponse::json(e.status(), e.body());
        if !e.client_should_retry() {
            r.headers.push(("x-should-retry", "false".into()));
        }
        if let Some(ms) = e.retry_after_ms() {
            r.headers
                .push(("retry-after", ms.div_ceil(1000).max(1).to_string()));
            r.headers.push(("retry-after-ms", ms.to_string()));
        }
        if let Error::MethodNotAllowed { .. } = e {
            r.headers.push(("allow", "GET, POST, OPTIONS".into()));
        }
        r
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The application: a router, or the reason there is none (an invalid config is reported on
/// every request rather than crashing the Worker).
pub struct App {
    router: Result<Router, Error>,
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

enum Route {
    Model(Endpoint),
    Models,
    Liveliness,
    Readiness,
    Admin(AdminRoute),
    Keys(key_routes::KeyRoute),
}

impl App {
    pub fn new(router: Result<Router, Error>) -> Self {
        App { router }
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
            authorize(router, head)
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
        let mut resp = match begun.0 {
            Ok(Stage::Preflight) => self.preflight(&req),
            Ok(stage) => match self.dispatch(req, stage).await {
                Ok(r) => r,
                Err(e) => HttpResponse::from_error(&e),
            },
            Err(e) => HttpResponse::from_error(&e),
        };
        if let Some(origin) = origin {
            self.add_cors(&origin, &mut resp);
        }
        resp
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
            return key_routes::handle(router, op, &req.body, &query).await;
        }
        if let Route::Admin(admin) = route {
            require_master(router, &caller)?;
            router.load_all_state().await;
            let query = req.path.split_once('?').map_or("", |(_, q)| q);
            return admin_api::handle(router, admin, &req.body, query).await;
        }
        if req.body.len() > router.config().general.max_request_size_bytes {
            return Err(Error::PayloadTooLarge {
                limit_bytes: router.config().general.max_request_size_bytes,
            });
        }
        match route {
            Route::Model(endpoint) => model_call(router, endpoint, req, &caller).await,
            Route::Models => Ok(models(router)),
            Route::Liveliness | Route::Readiness | Route::Admin(_) | Route::Keys(_) => {
                Err(Error::Internal {
                    message: "unreachable route".into(),
                })
            }
        }
    }

    async fn readiness(&self) -> HttpResponse {
        match &self.router {
            Ok(r) => {
                let (state, reachable) = r.state().reachable().await;
                HttpResponse::json(
                    if reachable { 200 } else { 503 },
                    json!({
                        "status": if reachable { "healthy" } else { "unhealthy" },
                        "config": "valid",
                        "deployments": r.config().deployments.len(),
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
        };
        let Some(origin) = req.header("origin") else {
            return r;
        };
        if self.allowed_origin(origin).is_some() {
            r.headers
                .push(("access-control-allow-methods", "GET, POST, OPTIONS".into()));
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

fn match_route(method: &str, path: &str) -> Result<Route, Error> {
    let path_only = path.split('?').next().unwrap_or(path);
    let trimmed = path_only.trim_end_matches('/');
    let (route, allowed) = match trimmed {
        "/v1/chat/completions" | "/chat/completions" | "/openai/v1/chat/completions" => {
            (Route::Model(Endpoint::Chat), "POST")
        }
        "/v1/completions" | "/completions" => (Route::Model(Endpoint::Completions), "POST"),
        "/v1/embeddings" | "/embeddings" => (Route::Model(Endpoint::Embeddings), "POST"),
        "/v1/moderations" | "/moderations" => (Route::Model(Endpoint::Moderations), "POST"),
        "/v1/images/generations" | "/images/generations" => {
            (Route::Model(Endpoint::ImageGenerations), "POST")
        }
        "/v1/audio/transcriptions" | "/audio/transcriptions" => {
            (Route::Model(Endpoint::Transcriptions), "POST")
        }
        "/v1/audio/translations" | "/audio/translations" => {
            (Route::Model(Endpoint::Translations), "POST")
        }
        "/v1/audio/speech" | "/audio/speech" => (Route::Model(Endpoint::Speech), "POST"),
        "/v1/models" | "/models" => (Route::Models, "GET"),
        "/health/liveliness" | "/health/liveness" => (Route::Liveliness, "GET"),
        "/model/new" => (Route::Admin(AdminRoute::ModelNew), "POST"),
        "/model/update" => (Route::Admin(AdminRoute::ModelUpdate), "POST"),
        "/model/delete" => (Route::Admin(AdminRoute::ModelDelete), "POST"),
        "/model/reset" => (Route::Admin(AdminRoute::ModelReset), "POST"),
        "/model/info" | "/v1/model/info" => (Route::Admin(AdminRoute::ModelInfo), "GET"),
        "/health" => (Route::Admin(AdminRoute::Health), "GET"),
        "/key/generate" => (Route::Keys(key_routes::KeyRoute::Generate), "POST"),
        "/key/info" => (Route::Keys(key_routes::KeyRoute::Info), "GET"),
        "/key/update" => (Route::Keys(key_routes::KeyRoute::Update), "POST"),
        "/key/delete" => (Route::Keys(key_routes::KeyRoute::Delete), "POST"),
        "/health/readiness" => (Route::Readiness, "GET"),
        "/usage" => (Route::Admin(AdminRoute::Usage), "GET"),
        "/model/cost_map" => (Route::Admin(AdminRoute::CostMap), "GET"),
        "/cost/reset" => (Route::Admin(AdminRoute::CostReset), "POST"),
        "/metrics/deployments" => (Route::Admin(AdminRoute::DeploymentMetrics), "GET"),
        "/metrics" => (Route::Admin(AdminRoute::Prometheus), "GET"),
        _ => {
            return Err(Error::RouteNotFound {
                path: path_only.to_string(),
            })
        }
    };
    if method == allowed || (allowed == "GET" && method == "HEAD") {
        Ok(route)
    } else {
        Err(Error::MethodNotAllowed {
            method: method.to_string(),
            path: path_only.to_string(),
        })
    }
}

/// Who is calling.
pub enum Caller {
    /// No master key is configured: the API is open (and the admin API off).
    Open,
    Master,
    /// A virtual key, by its hash.
    Key(String),
}

/// With a `master_key`, every API call must carry it, or a virtual key, as
/// `Authorization: Bearer` (or `api-key`).
async fn authorize(router: &Router, req: &HttpRequest) -> Result<Caller, Error> {
    let config = router.config();
    let Some(master) = config.general.master_key.as_deref() else {
        return Ok(Caller::Open);
    };
    let presented = req
        .header("authorization")
        .map(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .unwrap_or(v)
                .trim()
        })
        .or_else(|| req.header("api-key").map(str::trim))
        .or_else(|| req.header("x-api-key").map(str::trim));
    let incorrect = || Error::Unauthorized {
        message: "Incorrect API key provided.".into(),
    };
    match presented {
        None | Some("") => Err(Error::Unauthorized {
            message: "Missing API key. Send it as `Authorization: Bearer <key>`.".into(),
        }),
        Some(k) if constant_time_eq(k.as_bytes(), master.as_bytes()) => Ok(Caller::Master),
        Some(k) => {
            let hash = crate::keys::hash(k);
            match router
                .keys()
                .apply(crate::keys::KeyOp::Get { hash: hash.clone() })
                .await?
            {
                crate::keys::KeyReply::Record { record: Some(_) } => Ok(Caller::Key(hash)),
                _ => Err(incorrect()),
            }
        }
    }
}

fn require_master(router: &Router, caller: &Caller) -> Result<(), Error> {
    match caller {
        Caller::Master => Ok(()),
        Caller::Key(_) => Err(Error::Forbidden {
            message: "This route needs the master key.".into(),
        }),
        Caller::Open if router.config().general.master_key.is_none() => Err(Error::Forbidden {
            message: "The admin API is off: set general_settings.master_key to use it.".into(),
        }),
        Caller::Open => Err(Error::Forbidden {
            message: "This route needs the master key.".into(),
        }),
    }
}

/// Compares without returning early on the first different byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A call that failed after admission lets go of its key's hold (nothing was spent).
async fn release(router: &Router, key: Option<(&str, Option<u64>)>, e: Error) -> Error {
    if let Some((hash, hold @ Some(_))) = key {
        key_routes::settle(router, hash, hold, 0, 0.0).await;
    }
    e
}

/// A call to a model endpoint, routed through its model group (and the cache, when on).
async fn model_call(
    router: &Router,
    endpoint: Endpoint,
    http: HttpRequest,
    caller: &Caller,
) -> Result<HttpResponse, Error> {
    let mut req = if endpoint.takes_form() {
        let content_type = http.header("content-type").unwrap_or("").to_string();
        ModelRequest::parse_upload(endpoint, &content_type, http.body)?
    } else {
        ModelRequest::parse_for(endpoint, &http.body)?
    };
    // A virtual key: admitted (and its expected cost held) before anything else happens.
    let key = match caller {
        Caller::Key(hash) => {
            let admission = key_routes::admit(router, hash, &req).await?;
            req.allowed_models = admission.models;
            Some((hash.as_str(), admission.hold))
        }
        _ => None,
    };
    let call_id = router.call_id();
    let scope = match (caller, key) {
        (_, Some((hash, _))) => cache::Scope::Key(hash),
        (Caller::Master, _) => cache::Scope::Master,
        _ => cache::Scope::Open,
    };
    let plan = match cache::plan(router.config().cache.as_ref(), &req, scope) {
        Ok(p) => p,
        Err(e) => return Err(release(router, key, e).await),
    };
    if let Some(p) = plan.as_ref().filter(|p| p.read) {
        if let Some(hit) = router.cached(p).await {
            // Served without a call: nothing spent, the hold let go before the answer.
            if let Some((hash, hold @ Some(_))) = key {
                key_routes::settle(router, hash, hold, 0, 0.0).await;
            }
            return Ok(cached_response(hit, &req, call_id, &p.key));
        }
    }
    let routed = match router.completion(&req).await {
        Ok(r) => r,
        Err(e) => return Err(release(router, key, e).await),
    };
    let mut background = Vec::new();
    if let (Some(p), RoutedBody::Json(bytes)) = (plan.as_ref().filter(|p| p.write), &routed.body) {
        background.extend(router.store_job(p, &routed, bytes));
    }
    let mut routed = routed;
    if let Some((hash, hold)) = key {
        match (routed.body, routed.stream_usage.take()) {
            (RoutedBody::Stream(st), Some(usage)) => {
                let (st, job) = key_routes::settle_at_end(router, hash, hold, st, usage);
                routed.body = RoutedBody::Stream(st);
                background.push(job);
            }
            (body, _) => {
                // Settled before the answer goes out, so the key's next call sees it.
                routed.body = body;
                let (tokens, cost) = key_routes::spent(&routed);
                key_routes::settle(router, hash, hold, tokens, cost).await;
            }
        }
    }
    let mut headers = match &routed.body {
        RoutedBody::Json(_) => vec![("content-type", "application/json".to_string())],
        RoutedBody::Stream(_) => sse_headers(),
        RoutedBody::Binary { content_type, .. } => vec![("content-type", content_type.clone())],
    };
    headers.extend([
        ("x-litellm-call-id", call_id),
        ("x-litellm-model-id", routed.deployment_id),
        ("x-litellm-model-group", routed.group),
        ("x-litellm-model-api-base", routed.api_base),
        (
            "x-litellm-attempted-retries",
            routed.attempted_retries.to_string(),
        ),
        (
            "x-litellm-attempted-fallbacks",
            routed.attempted_fallbacks.to_string(),
        ),
        ("x-litellm-version", VERSION.to_string()),
    ]);
    if let Some(cost) = routed.response_cost {
        headers.push(("x-litellm-response-cost", format!("{cost}")));
    }
    if let Some(p) = &plan {
        headers.push(("x-litellm-cache-key", p.key.clone()));
        headers.push(("x-switchyard-cache", "miss".into()));
    }
    let body = match routed.body {
        RoutedBody::Json(b) => HttpBody::Bytes(b),
        RoutedBody::Stream(s) | RoutedBody::Binary { stream: s, .. } => HttpBody::Stream(s),
    };
    Ok(HttpResponse {
        status: 200,
        headers,
        body,
        background,
    })
}

fn sse_headers() -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "text/event-stream".to_string()),
        ("cache-control", "no-cache".to_string()),
    ]
}

/// A cached answer, as JSON or (for a streaming request) as an SSE stream. No upstream call,
/// no cost.
fn cached_response(
    hit: cache::Stored,
    req: &ModelRequest,
    call_id: String,
    key: &str,
) -> HttpResponse {
    let (mut headers, body) = if req.stream {
        let bytes = cache::as_sse(&hit.body, req.include_usage);
        (
            sse_headers(),
            HttpBody::Stream(Box::pin(futures::stream::once(async move { bytes }))),
        )
    } else {
        (
            vec![("content-type", "application/json".to_string())],
            HttpBody::Bytes(hit.body.to_string().into_bytes()),
        )
    };
    headers.extend([
        ("x-litellm-call-id", call_id),
        ("x-litellm-model-id", hit.deployment_id),
        ("x-litellm-model-group", hit.group),
        ("x-litellm-cache-key", key.to_string()),
        ("x-switchyard-cache", "hit".to_string()),
        ("x-litellm-response-cost", "0".to_string()),
        ("x-litellm-version", VERSION.to_string()),
    ]);
    HttpResponse {
        status: 200,
        headers,
        body,
        background: Vec::new(),
    }
}

/// The one JSON log line for a request: what was asked, who answered, how it went. Built from
/// the response's own headers, so it never holds a secret or a prompt.
pub fn log_line(method: &str, path: &str, resp: &HttpResponse, latency_ms: f64) -> String {
    let path_only = path.split('?').next().unwrap_or(path);
    let h = |k: &str| resp.header(k).map(str::to_string);
    let num = |k: &str| resp.header(k).and_then(|v| v.parse::<f64>().ok());
    let count = |k: &str| resp.header(k).and_then(|v| v.parse::<u64>().ok());
    json!({
        "event": "request",
        "method": method,
        "path": path_only,
        "status": resp.status,
        "latency_ms": (latency_ms * 10.0).round() / 10.0,
        "call_id": h("x-litellm-call-id"),
        "model_group": h("x-litellm-model-group"),
        "deployment": h("x-litellm-model-id"),
        "retries": count("x-litellm-attempted-retries"),
        "fallbacks": count("x-litellm-attempted-fallbacks"),
        "cost_usd": num("x-litellm-response-cost"),
        "cache": h("x-switchyard-cache"),
        "stream": resp.header("content-type").is_some_and(|c| c.starts_with("text/event-stream")),
    })
    .to_string()
}

/// `GET /v1/models`: the model groups, in OpenAI's list shape.
fn models(router: &Router) -> HttpResponse {
    let data: Vec<_> = router
        .config()
        .group_order
        .iter()
        .map(|g| json!({"id": g, "object": "model", "created": 0, "owned_by": "switchyard"}))
        .collect();
    HttpResponse::json(
        200,
        json!({"object": "list", "data": data})
            .to_string()
            .into_bytes(),
    )
}

#[cfg(test)]
mod tests;
