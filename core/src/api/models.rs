//! What models a caller can see: `GET /v1/models` (the SDKs' `models.list`), `/v1/models/{id}`
//! (`models.retrieve`) and `/model/info` (deployments). A virtual key sees only the groups it
//! may use; the master key, and an open router (no master key), see all.

use super::auth::Caller;
use crate::error::Error;
use crate::http::HttpResponse;
use crate::keys::key_allows;
use crate::router::Router;
use serde_json::{json, Value};

/// The groups a caller may see: `None` for all. A key's list came with its authorization.
fn allowlist(caller: &Caller) -> Option<&[String]> {
    match caller {
        Caller::Key { models, .. } if !models.is_empty() => Some(models),
        _ => None,
    }
}

/// The names a caller can call, in config order: groups, then aliases not hidden; with an
/// allowlist, those it lists (an alias with its group, a group with its alias).
fn visible(router: &Router, allow: Option<&[String]>) -> Vec<String> {
    let config = router.config();
    let listed = |name: &str| allow.is_none_or(|list| list.iter().any(|m| key_allows(m, name)));
    let mut names: Vec<String> = config
        .group_order
        .iter()
        .filter(|g| listed(g))
        .cloned()
        .collect();
    let mut aliases: Vec<(&String, &crate::config::Alias)> = config
        .router
        .aliases
        .iter()
        .filter(|(name, a)| !a.hidden && (listed(name) || listed(&a.group)))
        .filter(|(_, a)| config.knows(&a.group))
        .collect();
    aliases.sort_by(|a, b| a.0.cmp(b.0));
    names.extend(aliases.into_iter().map(|(n, _)| n.clone()));
    names
}

fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "switchyard"})
}

/// `GET /v1/models`: OpenAI's list shape.
pub(super) fn list(router: &Router, caller: &Caller) -> Result<HttpResponse, Error> {
    let allow = allowlist(caller);
    let data: Vec<Value> = visible(router, allow)
        .iter()
        .map(|n| model_object(n))
        .collect();
    Ok(ok(json!({"object": "list", "data": data})))
}

/// `GET /v1/models/{id}`: one model, or OpenAI's 404 (also for a model the key may not see:
/// whether it exists is not the key's to learn).
pub(super) fn retrieve(router: &Router, caller: &Caller, id: &str) -> Result<HttpResponse, Error> {
    let allow = allowlist(caller);
    if visible(router, allow).iter().any(|n| n == id) {
        Ok(ok(model_object(id)))
    } else {
        Err(Error::NoSuchModel {
            model: id.to_string(),
        })
    }
}

/// `GET /model/info[?litellm_model_id=<id>]`: the deployments (secrets masked) of the groups
/// the caller may use.
pub(super) fn info(router: &Router, caller: &Caller, query: &str) -> Result<HttpResponse, Error> {
    let allow = allowlist(caller);
    let wanted = query
        .split('&')
        .find_map(|p| p.strip_prefix("litellm_model_id="))
        .map(|v| v.replace("%2F", "/").replace('+', " "));
    let config = router.config();
    // A group's deployments show for a key that lists the group or an alias of it.
    let listed = |group: &str| {
        allow.is_none_or(|list| {
            let named = |name: &str| list.iter().any(|m| key_allows(m, name));
            named(group)
                || config
                    .router
                    .aliases
                    .iter()
                    .any(|(alias, a)| a.group == group && named(alias))
        })
    };
    let data: Vec<Value> = router
        .get_deployments()
        .into_iter()
        .filter(|d| d["model_name"].as_str().is_some_and(listed))
        .filter(|d| {
            wanted
                .as_deref()
                .is_none_or(|id| d.pointer("/model_info/id").and_then(Value::as_str) == Some(id))
        })
        .collect();
    let mut body = json!({"data": data});
    if !matches!(caller, Caller::Key { .. }) {
        // What the config could not use, for whoever administers it (LiteLLM logs it only).
        let left_out: Vec<Value> = config
            .left_out
            .iter()
            .map(|l| json!({"index": l.index, "model_name": l.model_name, "reason": l.reason}))
            .collect();
        body["left_out"] = Value::Array(left_out);
    }
    Ok(ok(body))
}

fn ok(v: Value) -> HttpResponse {
    HttpResponse::json(200, v.to_string().into_bytes())
}
