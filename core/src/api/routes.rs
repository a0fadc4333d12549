//! The route table: which path and method reach which handler.

use super::admin::AdminRoute;
use super::keys::KeyRoute;
use crate::endpoint::Endpoint;
use crate::error::Error;

pub(super) enum Route {
    Model(Endpoint),
    Models,
    Liveliness,
    Readiness,
    Admin(AdminRoute),
    Keys(KeyRoute),
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
        "/v1/models" | "/models" => (Route::Models, "GET"),
        "/health/liveliness" | "/health/liveness" => (Route::Liveliness, "GET"),
        "/model/new" => (Route::Admin(AdminRoute::ModelNew), "POST"),
        "/model/update" => (Route::Admin(AdminRoute::ModelUpdate), "POST"),
        "/model/delete" => (Route::Admin(AdminRoute::ModelDelete), "POST"),
        "/model/reset" => (Route::Admin(AdminRoute::ModelReset), "POST"),
        "/model/info" | "/v1/model/info" => (Route::Admin(AdminRoute::ModelInfo), "GET"),
        "/health" => (Route::Admin(AdminRoute::Health), "GET"),
        "/key/generate" => (Route::Keys(KeyRoute::Generate), "POST"),
        "/key/info" => (Route::Keys(KeyRoute::Info), "GET"),
        "/key/update" => (Route::Keys(KeyRoute::Update), "POST"),
        "/key/delete" => (Route::Keys(KeyRoute::Delete), "POST"),
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
