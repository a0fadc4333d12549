//! The admin routes for deployments, with LiteLLM proxy's paths and shapes: `/model/new`,
//! `/model/update`, `/model/delete`, `/model/info` (and `/v1/model/info`). Master key only.

use crate::api::HttpResponse;
use crate::error::Error;
use crate::router::Router;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRoute {
    ModelNew,
    ModelUpdate,
    ModelDelete,
    ModelInfo,
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

pub fn handle(router: &Router, route: AdminRoute, body: &[u8]) -> Result<HttpResponse, Error> {
    run(router, route, body).map_err(|e| match e {
        // A deployment the caller sent is the caller's mistake, not the server's config.
        Error::Config { message } => Error::InvalidRequest {
            message,
            param: None,
            code: Some("invalid_deployment"),
        },
        other => other,
    })
}

fn run(router: &Router, route: AdminRoute, body: &[u8]) -> Result<HttpResponse, Error> {
    match route {
        AdminRoute::ModelInfo => Ok(ok(json!({"data": router.get_deployments()}))),
        AdminRoute::ModelNew => {
            let id = router.add_deployment(body_json(body)?)?;
            Ok(ok(json!({"message": "deployment added", "model_id": id})))
        }
        AdminRoute::ModelUpdate => {
            let v = body_json(body)?;
            let id = id_of(&v)?;
            let mut changes = v;
            if let Some(m) = changes.as_object_mut() {
                m.remove("id");
            }
            router.update_deployment(&id, changes)?;
            Ok(ok(json!({"message": "deployment updated", "model_id": id})))
        }
        AdminRoute::ModelDelete => {
            let id = id_of(&body_json(body)?)?;
            router.delete_deployment(&id)?;
            Ok(ok(json!({"message": "deployment deleted", "model_id": id})))
        }
    }
}
