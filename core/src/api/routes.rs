//! The route table: which path and method reach which handler.

use super::admin::AdminRoute;
use super::keys::KeyRoute;
use super::logs::LogRoute;
use super::responses::ResponsesRoute;
use crate::endpoint::Endpoint;
use crate::error::Error;

pub(super) enum Route {
    Model(Endpoint),
    /// Azure OpenAI's path: `/openai/deployments/{model}/<endpoint>`; the model is the path's.
    AzureModel(Endpoint, String),
    Models,
    /// `GET /v1/models/{id}`.
    ModelRetrieve(String),
    /// `GET /model/info`: deployments, for the master key or (filtered) a virtual key.
    ModelInfo,
    /// Anthropic's Messages API, and its token count.
    Messages,
    CountTokens,
    /// OpenAI's Responses API: create, and a stored response by its id.
    Responses,
    Response(ResponsesRoute),
    Liveliness,
    Readiness,
    Admin(AdminRoute),
    Keys(KeyRoute),
    /// The request log and the history (master key only).
    Logs(LogRoute),
}

/// Whether requests to `route` go in the request log: model calls, not the API around them.
pub(super) fn is_model_call(route: &Route) -> bool {
    matches!(
        route,
        Route::Model(_) | Route::AzureModel(..) | Route::Messages | Route::Responses
    )
}

pub(super) fn match_route(method: &str, path: &str) -> Result<Route, Error> {
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
        "/v1/rerank" | "/rerank" | "/v2/rerank" => (Route::Model(Endpoint::Rerank), "POST"),
        "/v1/messages" | "/messages" => (Route::Messages, "POST"),
        "/v1/messages/count_tokens" | "/messages/count_tokens" => (Route::CountTokens, "POST"),
        "/v1/responses" | "/responses" => (Route::Responses, "POST"),
        "/v1/models" | "/models" => (Route::Models, "GET"),
        "/health/liveliness" | "/health/liveness" => (Route::Liveliness, "GET"),
        "/model/new" => (Route::Admin(AdminRoute::ModelNew), "POST"),
        "/model/update" => (Route::Admin(AdminRoute::ModelUpdate), "POST"),
        "/model/delete" => (Route::Admin(AdminRoute::ModelDelete), "POST"),
        "/model/reset" => (Route::Admin(AdminRoute::ModelReset), "POST"),
        "/model/info" | "/v1/model/info" => (Route::ModelInfo, "GET"),
        "/health" => (Route::Admin(AdminRoute::Health), "GET"),
        "/key/generate" => (Route::Keys(KeyRoute::Generate), "POST"),
        "/key/info" => (Route::Keys(KeyRoute::Info), "GET"),
        "/key/update" => (Route::Keys(KeyRoute::Update), "POST"),
        "/key/delete" => (Route::Keys(KeyRoute::Delete), "POST"),
        "/key/list" => (Route::Keys(KeyRoute::List), "GET"),
        "/health/readiness" => (Route::Readiness, "GET"),
        "/usage" => (Route::Admin(AdminRoute::Usage), "GET"),
        "/model/cost_map" => (Route::Admin(AdminRoute::CostMap), "GET"),
        "/cost/reset" => (Route::Admin(AdminRoute::CostReset), "POST"),
        "/metrics/deployments" => (Route::Admin(AdminRoute::DeploymentMetrics), "GET"),
        "/metrics" => (Route::Admin(AdminRoute::Prometheus), "GET"),
        "/request/log" => (Route::Logs(LogRoute::List), "GET"),
        "/stats/history" => (Route::Logs(LogRoute::History), "GET"),
        other => match with_name(method, other) {
            Some(found) => found,
            None => {
                return Err(Error::RouteNotFound {
                    path: path_only.to_string(),
                })
            }
        },
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

/// Routes whose path holds a name: `/v1/models/{id}` (an id may hold `/`, as in
/// `openai/gpt-4o`, written as is or as `%2F`), `/v1/responses/{id}` and Azure's deployment
/// paths.
fn with_name(method: &str, path: &str) -> Option<(Route, &'static str)> {
    if let Some(id) = path.strip_prefix("/request/log/") {
        return Some((Route::Logs(LogRoute::Get(decode(id))), "GET"));
    }
    if let Some(rest) = path
        .strip_prefix("/v1/responses/")
        .or_else(|| path.strip_prefix("/responses/"))
    {
        if let Some(id) = rest.strip_suffix("/input_items") {
            return Some((
                Route::Response(ResponsesRoute::InputItems(decode(id))),
                "GET",
            ));
        }
        if rest.is_empty() || rest.contains('/') {
            return None;
        }
        let id = decode(rest);
        return Some(if method == "DELETE" {
            (Route::Response(ResponsesRoute::Delete(id)), "DELETE")
        } else {
            (Route::Response(ResponsesRoute::Get(id)), "GET")
        });
    }
    if let Some(id) = path
        .strip_prefix("/v1/models/")
        .or_else(|| path.strip_prefix("/models/"))
    {
        return Some((Route::ModelRetrieve(decode(id)), "GET"));
    }
    let rest = path
        .strip_prefix("/openai/deployments/")
        .or_else(|| path.strip_prefix("/deployments/"))?;
    let (model, endpoint) = rest.rsplit_once('/').map(|(m, e)| match e {
        "completions" => m
            .strip_suffix("/chat")
            .map_or((m, Endpoint::Completions), |m| (m, Endpoint::Chat)),
        "embeddings" => (m, Endpoint::Embeddings),
        _ => (m, Endpoint::Speech),
    })?;
    if endpoint == Endpoint::Speech || model.is_empty() {
        return None;
    }
    Some((Route::AzureModel(endpoint, decode(model)), "POST"))
}

/// The value of `name` in a query string (`a=1&b=x%20y`), decoded (`+` is a space); the
/// first one when it is given twice.
pub(super) fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| decode(&v.replace('+', " ")))
}

/// `%XX` escapes in a path segment, decoded (an invalid one is kept as written).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_routes_read_their_name() {
        match match_route("GET", "/v1/models/openai%2Fgpt-4o").unwrap() {
            Route::ModelRetrieve(id) => assert_eq!(id, "openai/gpt-4o"),
            _ => panic!("not a retrieve"),
        }
        match match_route("GET", "/v1/models/openai/gpt-4o").unwrap() {
            Route::ModelRetrieve(id) => assert_eq!(id, "openai/gpt-4o"),
            _ => panic!("not a retrieve"),
        }
        for (path, endpoint, model) in [
            (
                "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
                Endpoint::Chat,
                "gpt-4o",
            ),
            (
                "/openai/deployments/my%20dep/embeddings",
                Endpoint::Embeddings,
                "my dep",
            ),
            (
                "/openai/deployments/davinci/completions",
                Endpoint::Completions,
                "davinci",
            ),
        ] {
            match match_route("POST", path).unwrap() {
                Route::AzureModel(e, m) => assert_eq!((e, m.as_str()), (endpoint, model), "{path}"),
                _ => panic!("{path}: not an Azure route"),
            }
        }
        assert!(match_route("POST", "/openai/deployments/x/images/generations").is_err());
        assert!(match_route("POST", "/openai/deployments//chat/completions").is_err());
        assert!(match_route("GET", "/openai/deployments/x/chat/completions").is_err());
        assert_eq!(decode("a%2"), "a%2");
        assert_eq!(decode("%41%zz"), "A%zz");
    }
}
