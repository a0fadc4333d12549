//! `POST /v1/messages` and `/v1/messages/count_tokens`: Anthropic's Messages API, served by
//! routing its chat translation like any chat call (keys, cache, retries, fallbacks, hedging,
//! continuation) and answering in Anthropic's shapes.

use super::auth::Caller;
use super::model_call::{call, from_translated};
use super::Services;
use crate::error::Error;
use crate::http::{HttpBody, HttpRequest, HttpResponse};
use crate::inbound::messages;
use crate::request::NativeBody;
use crate::router::Router;
use futures::StreamExt;
use std::cell::RefCell;
use std::rc::Rc;

/// Whether `path` is one of the Messages API's: its errors take Anthropic's shape.
pub(super) fn is_messages_path(path: &str) -> bool {
    let p = path.split('?').next().unwrap_or(path).trim_end_matches('/');
    matches!(
        p,
        "/v1/messages" | "/messages" | "/v1/messages/count_tokens" | "/messages/count_tokens"
    )
}

pub(super) async fn create(
    router: &Router,
    services: &Services,
    http: HttpRequest,
    caller: &Caller,
) -> Result<HttpResponse, Error> {
    let body = messages::parse(&http.body)?;
    let mut chat = messages::chat_request(&body)?;
    let config = router.config();
    let asked = chat["model"].as_str().unwrap_or("").to_string();
    if !config.serves_name(&asked) {
        let shorter = messages::shorter_names(&asked);
        if let Some(name) = shorter.into_iter().find(|n| config.serves_name(n)) {
            chat.insert("model".into(), serde_json::Value::from(name));
        }
    }
    let mut req = from_translated(&http, chat)?;
    // Anthropic deployments are sent the client's own body.
    req.native = Some(Rc::new(NativeBody::AnthropicMessages {
        body,
        beta: http.header("anthropic-beta").map(str::to_string),
    }));
    let mut resp = call(router, services, req, caller).await?;
    let body = std::mem::replace(&mut resp.body, HttpBody::Bytes(Vec::new()));
    resp.body = match body {
        HttpBody::Bytes(b) if resp.status == 200 => HttpBody::Bytes(messages::from_chat(&b)?),
        HttpBody::Bytes(b) => HttpBody::Bytes(b),
        HttpBody::Stream(s) => {
            // Each chat chunk becomes Anthropic's events as it arrives; the end closes them.
            let t = Rc::new(RefCell::new(messages::StreamTranslator::new()));
            let at_end = t.clone();
            let events = s
                .map(move |chunk| t.borrow_mut().push(&chunk))
                .chain(futures::stream::once(
                    async move { at_end.borrow_mut().end() },
                ))
                .filter(|out| futures::future::ready(!out.is_empty()));
            HttpBody::Stream(Box::pin(events))
        }
    };
    Ok(resp)
}

/// `count_tokens`: the prompt's tokens as the router estimates them (about four characters a
/// token), without a call.
pub(super) fn count_tokens(body: &[u8]) -> Result<HttpResponse, Error> {
    // The count takes no `max_tokens`; the translation needs one.
    let mut m = messages::parse(body)?;
    m.entry("max_tokens").or_insert(serde_json::Value::from(1));
    let chat = messages::chat_request(&m)?;
    let tokens = crate::tokens::estimate_request_tokens(&chat);
    let out = serde_json::json!({ "input_tokens": tokens });
    Ok(HttpResponse::json(200, out.to_string().into_bytes()))
}

/// An error answer on a Messages path, in Anthropic's shape.
pub(super) fn anthropic_error(resp: &mut HttpResponse) {
    if resp.status < 400 {
        return;
    }
    if let HttpBody::Bytes(b) = &resp.body {
        let already = serde_json::from_slice::<serde_json::Value>(b)
            .is_ok_and(|v| v.get("type").and_then(|t| t.as_str()) == Some("error"));
        if !already {
            resp.body = HttpBody::Bytes(messages::error_body(resp.status, b));
        }
    }
}
