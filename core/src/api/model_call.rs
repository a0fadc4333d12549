//! A call to a model endpoint: admitted for its key, looked up in the cache, routed through
//! its model group, stored, charged, and answered with LiteLLM's headers.

use super::admission;
use super::auth::Caller;
use super::{Services, VERSION};
use crate::cache;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::http::{sse_headers, HttpBody, HttpRequest, HttpResponse};
use crate::ports::{CacheStore, KeyStore, LocalFuture};
use crate::request::ModelRequest;
use crate::router::{Routed, RoutedBody, Router};
use std::rc::Rc;

/// The caller's virtual key, once admitted: its hash and the hold to settle.
type Admitted<'a> = Option<(&'a str, Option<u64>)>;

/// A call to a model endpoint, in its stages: parse, admit, cache lookup, route, cache store,
/// charge, headers.
pub(super) async fn model_call(
    router: &Router,
    services: &Services,
    endpoint: Endpoint,
    http: HttpRequest,
    caller: &Caller,
    path_model: Option<&str>,
) -> Result<HttpResponse, Error> {
    let req = parse(endpoint, http, path_model)?;
    call(router, services, req, caller).await
}

/// A request already parsed (from another protocol's translation, with
/// [`from_translated`]), from admission on.
pub(super) async fn call(
    router: &Router,
    services: &Services,
    mut req: ModelRequest,
    caller: &Caller,
) -> Result<HttpResponse, Error> {
    let keys = &services.keys;
    router.config().resolve_alias(&mut req);
    let key = admit(router, keys, caller, &mut req).await?;
    let call_id = router.call_id();
    let plan = match cache_plan(router, caller, key, &req) {
        Ok(p) => p,
        Err(e) => return Err(release(keys, key, e).await),
    };
    if let Some(hit) = cache_lookup(router, &*services.cache, plan.as_ref()).await {
        // Served without a call: nothing spent, the hold let go before the answer.
        release(keys, key, ()).await;
        let key_name = plan.as_ref().map_or("", |p| p.key.as_str());
        return Ok(cached_response(hit, &req, call_id, key_name));
    }
    let (routed, trace) = router.completion_traced(&req).await;
    let routed = match routed {
        Ok(r) => r,
        Err(e) => {
            let mut resp = HttpResponse::from_error(&release(keys, key, e).await);
            resp.trace = trace;
            return Ok(resp);
        }
    };
    let mut background = Vec::new();
    background.extend(cache_store(router, &services.cache, plan.as_ref(), &routed));
    let stream_log = continuation_log(&routed, &call_id);
    // Read before the charge, which takes the stream's usage for the key.
    let facts = crate::http::LogFacts {
        usage: routed.usage,
        stream_usage: routed.stream_usage.clone(),
        continued: routed.continued.clone(),
        error: None,
    };
    let (routed, settle_later) = charge(keys, key, routed).await;
    background.extend(settle_later);
    let headers = headers(&routed, call_id, plan.as_ref());
    let body = match routed.body {
        RoutedBody::Json(b) => HttpBody::Bytes(b),
        RoutedBody::Stream(s) | RoutedBody::Binary { stream: s, .. } => HttpBody::Stream(s),
    };
    Ok(HttpResponse {
        status: 200,
        headers,
        body,
        background,
        trace,
        stream_log,
        facts,
    })
}

/// For a stream that may be finished elsewhere: once it ends, a log line if it was (which
/// deployment broke, how many continuations it took).
fn continuation_log(
    routed: &Routed,
    call_id: &str,
) -> Option<crate::ports::LocalFuture<Option<String>>> {
    let continued = routed.continued.clone()?;
    let ended = routed.stream_usage.as_ref()?.ended();
    let (call_id, group, first) = (
        call_id.to_string(),
        routed.group.clone(),
        routed.deployment_id.clone(),
    );
    Some(Box::pin(async move {
        let spent = ended.await;
        let n = continued.get();
        (n > 0).then(|| {
            serde_json::json!({
                "event": "stream_continued",
                "call_id": call_id,
                "model_group": group,
                "broken_deployment": first,
                "continuations": n,
                "cost_usd": spent.map(|(_, c)| c),
            })
            .to_string()
        })
    }))
}

/// The client's body, checked field by field (a multipart form for audio uploads), and the
/// router controls LiteLLM's proxy reads from headers.
fn parse(
    endpoint: Endpoint,
    http: HttpRequest,
    path_model: Option<&str>,
) -> Result<ModelRequest, Error> {
    let controls = header_controls(&http)?;
    let mut req = if endpoint.takes_form() {
        let content_type = http.header("content-type").unwrap_or("").to_string();
        ModelRequest::parse_upload(endpoint, &content_type, http.body)?
    } else {
        ModelRequest::parse_named(endpoint, &http.body, path_model)?
    };
    for (field, value) in controls {
        req.router_fields.entry(field).or_insert(value);
    }
    Ok(req)
}

/// The chat request another protocol's request was translated to, checked like a client's,
/// with the router controls of `http`'s headers.
pub(super) fn from_translated(
    http: &HttpRequest,
    chat: serde_json::Map<String, serde_json::Value>,
) -> Result<ModelRequest, Error> {
    from_parsed(http, Endpoint::Chat, chat)
}

/// A body already parsed, for `endpoint`, with the router controls of `http`'s headers.
pub(super) fn from_parsed(
    http: &HttpRequest,
    endpoint: Endpoint,
    body: serde_json::Map<String, serde_json::Value>,
) -> Result<ModelRequest, Error> {
    let controls = header_controls(http)?;
    let mut req = ModelRequest::from_body(endpoint, body, None)?;
    for (field, value) in controls {
        req.router_fields.entry(field).or_insert(value);
    }
    Ok(req)
}

/// `x-litellm-timeout` (seconds) and `x-litellm-num-retries`, as the body fields `timeout` and
/// `num_retries` (a body that sets the field wins); checked and capped like them.
fn header_controls(http: &HttpRequest) -> Result<Vec<(String, serde_json::Value)>, Error> {
    let mut out = Vec::new();
    for (header, field, whole) in [
        ("x-litellm-timeout", "timeout", false),
        ("x-litellm-num-retries", "num_retries", true),
    ] {
        let Some(text) = http.header(header).map(str::trim) else {
            continue;
        };
        let value = if whole {
            text.parse::<u64>().ok().map(serde_json::Value::from)
        } else {
            text.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(serde_json::Value::from)
        };
        let value = value.ok_or_else(|| {
            Error::invalid_value(
                header,
                if whole {
                    "must be a whole number"
                } else {
                    "must be a positive number of seconds"
                },
            )
        })?;
        out.push((field.to_string(), value));
    }
    Ok(out)
}

/// A virtual key is admitted (its models noted on the request, its expected cost held) before
/// anything else happens.
async fn admit<'a>(
    router: &Router,
    keys: &Rc<dyn KeyStore>,
    caller: &'a Caller,
    req: &mut ModelRequest,
) -> Result<Admitted<'a>, Error> {
    let Caller::Key { hash, .. } = caller else {
        return Ok(None);
    };
    let config = router.config();
    let hold = admission::expected(&config, &**router.state(), router.now_ms(), req);
    let admitted = admission::admit(&**keys, hash, req, hold).await?;
    req.allowed_models = admitted.models;
    Ok(Some((hash.as_str(), admitted.hold)))
}

/// A call that ends without spending (an error, a cache hit) lets go of its key's hold.
async fn release<T>(keys: &Rc<dyn KeyStore>, key: Admitted<'_>, passing: T) -> T {
    if let Some((hash, hold @ Some(_))) = key {
        admission::settle(keys.clone(), hash, hold, 0, 0.0).await;
    }
    passing
}

/// The cache plan, scoped to the caller: each key reads only its own answers unless the
/// config shares them.
fn cache_plan(
    router: &Router,
    caller: &Caller,
    key: Admitted<'_>,
    req: &ModelRequest,
) -> Result<Option<cache::CachePlan>, Error> {
    let scope = match (caller, key) {
        (_, Some((hash, _))) => cache::Scope::Key(hash),
        (Caller::Master, _) => cache::Scope::Master,
        _ => cache::Scope::Open,
    };
    cache::plan(router.config().cache.as_ref(), req, scope)
}

async fn cache_lookup(
    router: &Router,
    store: &dyn CacheStore,
    plan: Option<&cache::CachePlan>,
) -> Option<cache::Stored> {
    let p = plan.filter(|p| p.read)?;
    let bytes = store.get(&p.key).await?;
    cache::fresh(&bytes, p, router.now_ms())
}

/// The work that stores a complete JSON answer, to run after the response.
fn cache_store(
    router: &Router,
    store: &Rc<dyn CacheStore>,
    plan: Option<&cache::CachePlan>,
    routed: &Routed,
) -> Option<LocalFuture<()>> {
    let (Some(p), RoutedBody::Json(bytes)) = (plan.filter(|p| p.write), &routed.body) else {
        return None;
    };
    let at = cache::Origin {
        group: &routed.group,
        deployment_id: &routed.deployment_id,
        now_ms: router.now_ms(),
    };
    let stored = cache::stored(p, &at, bytes)?;
    Some(store.put(&p.key, stored, p.ttl_secs))
}

/// Charges the key: a complete answer before it goes out when it holds against a limit (else
/// after, in the background), a stream when it ends however it ends (the returned background
/// work covers a hang-up).
async fn charge(
    keys: &Rc<dyn KeyStore>,
    key: Admitted<'_>,
    mut routed: Routed,
) -> (Routed, Option<LocalFuture<()>>) {
    let Some((hash, hold)) = key else {
        return (routed, None);
    };
    let store = keys.clone();
    match (routed.body, routed.stream_usage.take()) {
        (RoutedBody::Stream(st), Some(usage)) => {
            let (st, job) = admission::settle_at_end(store, hash, hold, st, usage);
            routed.body = RoutedBody::Stream(st);
            (routed, Some(job))
        }
        (body, _) => {
            let (tokens, cost) = match &body {
                RoutedBody::Json(b) => admission::spent(b, routed.response_cost),
                _ => (0, routed.response_cost.unwrap_or(0.0)),
            };
            routed.body = body;
            let settle = admission::settle(store, hash, hold, tokens, cost);
            if hold.is_some() {
                // Against a budget or tpm limit: settled before the answer goes out, so the
                // key's next call sees it.
                settle.await;
                (routed, None)
            } else {
                (routed, Some(settle))
            }
        }
    }
}

/// LiteLLM proxy's response headers: who answered, how, at what cost, from which cache entry.
fn headers(
    routed: &Routed,
    call_id: String,
    plan: Option<&cache::CachePlan>,
) -> Vec<(&'static str, String)> {
    let mut headers = match &routed.body {
        RoutedBody::Json(_) => vec![("content-type", "application/json".to_string())],
        RoutedBody::Stream(_) => sse_headers(),
        RoutedBody::Binary { content_type, .. } => vec![("content-type", content_type.clone())],
    };
    headers.extend([
        ("x-litellm-call-id", call_id),
        ("x-litellm-model-id", routed.deployment_id.clone()),
        ("x-litellm-model-group", routed.group.clone()),
        ("x-litellm-model-api-base", routed.api_base.clone()),
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
    if routed.hedged {
        headers.push(("x-switchyard-hedged", "1".to_string()));
    }
    if let Some(cost) = routed.response_cost {
        headers.push(("x-litellm-response-cost", format!("{cost}")));
    }
    if let Some(id) = &routed.request_id {
        headers.push(("x-request-id", id.clone()));
    }
    if let Some(p) = plan {
        headers.push(("x-litellm-cache-key", p.key.clone()));
        headers.push(("x-switchyard-cache", "miss".into()));
    }
    headers
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
        trace: Default::default(),
        stream_log: None,
        facts: Default::default(),
    }
}
