//! The admin routes for deployments, with LiteLLM proxy's paths and shapes: `/model/new`,
//! `/model/update`, `/model/delete`, `/model/info` (and `/v1/model/info`). Master key only.

use crate::error::Error;
use crate::http::HttpResponse;
use crate::router::Router;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRoute {
    ModelNew,
    ModelUpdate,
    ModelDelete,
    /// `POST /model/reset`: drops every runtime change (the config's list is in force).
    ModelReset,
    /// `GET /health[?model=]`: the Router's `health_check`.
    Health,
    /// `GET /usage`: `get_usage_stats`.
    Usage,
    /// `GET /model/cost_map`: `get_model_cost_map`.
    CostMap,
    /// `POST /cost/reset`: `reset_cost`.
    CostReset,
    /// `GET /metrics/deployments`: `print_deployment_metrics`, as JSON and as the log line.
    DeploymentMetrics,
    /// `GET /metrics`: Prometheus text.
    Prometheus,
}

fn body_json(body: &[u8]) -> Result<Value, Error> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(Error::invalid(
            "The request body must be a JSON object.",
            None,
        )),
        Err(e) => Err(Error::InvalidRequest {
            message: format!("We could not parse the JSON body of your request: {e}"),
            param: None,
            code: Some("invalid_json"),
        }),
    }
}

/// The deployment id a LiteLLM admin body names: `id`, or `model_info.id`.
fn id_of(v: &Value) -> Result<String, Error> {
    v.get("id")
        .or_else(|| v.pointer("/model_info/id"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::InvalidRequest {
            message: "Missing required parameter: 'id' (or 'model_info.id').".into(),
            param: Some("id".into()),
            code: Some("missing_required_parameter"),
        })
}

fn ok(v: Value) -> HttpResponse {
    HttpResponse::json(200, v.to_string().into_bytes())
}

pub async fn handle(
    router: &Router,
    route: AdminRoute,
    body: &[u8],
    query: &str,
) -> Result<HttpResponse, Error> {
    run(router, route, body, query).await.map_err(|e| match e {
        // A deployment the caller sent is the caller's mistake, not the server's config.
        Error::Config { message } => Error::InvalidRequest {
            message,
            param: None,
            code: Some("invalid_deployment"),
        },
        other => other,
    })
}

async fn run(
    router: &Router,
    route: AdminRoute,
    body: &[u8],
    query: &str,
) -> Result<HttpResponse, Error> {
    match route {
        AdminRoute::Health => {
            let model = query
                .split('&')
                .find_map(|p| p.strip_prefix("model="))
                .map(|m| m.replace("%2F", "/").replace('+', " "));
            Ok(ok(router.health_check(model.as_deref()).await?))
        }
        AdminRoute::ModelNew => {
            let id = router.add_deployment(body_json(body)?).await?;
            Ok(ok(json!({"message": "deployment added", "model_id": id})))
        }
        AdminRoute::ModelUpdate => {
            let v = body_json(body)?;
            let id = id_of(&v)?;
            let mut changes = v;
            if let Some(m) = changes.as_object_mut() {
                m.remove("id");
            }
            router.update_deployment(&id, changes).await?;
            Ok(ok(json!({"message": "deployment updated", "model_id": id})))
        }
        AdminRoute::ModelDelete => {
            let id = id_of(&body_json(body)?)?;
            router.delete_deployment(&id).await?;
            Ok(ok(json!({"message": "deployment deleted", "model_id": id})))
        }
        AdminRoute::ModelReset => {
            router.reset_deployments().await?;
            Ok(ok(json!({
                "message": "runtime changes dropped: the config's model list is in force",
                "deployments": router.config().deployments.len(),
            })))
        }
        AdminRoute::Usage => Ok(ok(router.get_usage_stats())),
        AdminRoute::CostMap => Ok(ok(router.get_model_cost_map())),
        AdminRoute::CostReset => {
            router.reset_cost();
            Ok(ok(json!({"message": "cost reset"})))
        }
        AdminRoute::DeploymentMetrics => {
            let text = router.print_deployment_metrics();
            Ok(ok(json!({"text": text, "stats": router.get_usage_stats()})))
        }
        AdminRoute::Prometheus => Ok(HttpResponse {
            status: 200,
            headers: vec![(
                "content-type",
                "text/plain; version=0.0.4; charset=utf-8".into(),
            )],
            body: crate::api::HttpBody::Bytes(
                super::metrics::prometheus(&router.usage_stats()).into_bytes(),
            ),
            background: Vec::new(),
            trace: Default::default(),
            stream_log: None,
            facts: Default::default(),
        }),
    }
}
