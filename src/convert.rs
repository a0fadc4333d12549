//! Conversions between the runtime's `Request`/`Response` (the raw web types: the `worker`
//! crate's wrappers cost extra JS calls per request, such as reading `cf`) and the core's plain
//! types.

use crate::clock::JsClock;
use crate::js_glue::{
    bytes_of, header_pairs, header_text, headers_from, headers_text, js_message, read_chunk,
    reader_of, request_bytes, response_of,
};
use futures::future::{select, Either};
use futures::StreamExt;
use js_sys::futures::JsFuture;
use switchyard_core::ports::Clock;
use switchyard_core::{Error, HttpBody, HttpRequest, HttpResponse};
use wasm_bindgen::JsValue;
use worker::web_sys::{Request, Response};
use worker::ResponseBuilder;

/// The path and query of a serialized URL (`https://host/p?q#f` -> `/p?q`).
pub fn path_of(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let path = rest.find('/').map_or("/", |i| &rest[i..]);
    path.split('#').next().unwrap_or("/").to_string()
}

/// The request's method, path and headers; its body is read later by [`read_body`], once the
/// core has said the request may go on.
pub fn read_head(req: &Request) -> HttpRequest {
    HttpRequest {
        method: req.method(),
        path: path_of(&req.url()),
        headers: header_pairs(&headers_text(&req.headers())),
        body: Vec::new(),
    }
}

/// Reads the body into `head`, refusing bodies over `limit` bytes before reading them whole
/// when the client declares the length, and while reading them when it does not; a body
/// still arriving after `within_ms` is a 408 (a slow-body client must not hold the request
/// open).
pub async fn read_body(
    req: &Request,
    head: &mut HttpRequest,
    limit: usize,
    within_ms: u64,
) -> Result<(), Error> {
    let declared = head
        .header("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Error::PayloadTooLarge { limit_bytes: limit });
    }
    if matches!(head.method.as_str(), "GET" | "HEAD" | "OPTIONS") {
        return Ok(());
    }
    let read = Box::pin(async {
        if declared.is_some() {
            JsFuture::from(request_bytes(req))
                .await
                .map(bytes_of)
                .map_err(body_error)
        } else {
            read_capped(req, limit).await
        }
    });
    let body = match select(read, JsClock.sleep(within_ms)).await {
        Either::Left((body, _)) => body?,
        Either::Right(_) => {
            return Err(Error::BodyTimeout {
                after_ms: within_ms,
            })
        }
    };
    if body.len() > limit {
        return Err(Error::PayloadTooLarge { limit_bytes: limit });
    }
    head.body = body;
    Ok(())
}

async fn read_capped(req: &Request, limit: usize) -> Result<Vec<u8>, Error> {
    let Some(stream) = req.body() else {
        return Ok(Vec::new()); // no body
    };
    let reader = reader_of(&stream);
    let mut body = Vec::new();
    loop {
        let chunk = JsFuture::from(read_chunk(&reader))
            .await
            .map_err(body_error)?;
        if chunk.is_undefined() {
            return Ok(body);
        }
        body.extend_from_slice(&bytes_of(chunk));
        if body.len() > limit {
            return Err(Error::PayloadTooLarge { limit_bytes: limit });
        }
    }
}

fn body_error(e: JsValue) -> Error {
    Error::invalid(
        format!("Could not read the request body: {}", js_message(&e)),
        None,
    )
}

pub fn write_response(resp: HttpResponse) -> worker::Result<Response> {
    let headers = header_text(&resp.headers);
    match resp.body {
        HttpBody::Bytes(b) => Ok(response_of(resp.status, &headers, &b)?),
        HttpBody::Stream(s) => {
            let streamed = ResponseBuilder::new()
                .with_status(resp.status)
                .with_headers(worker::Headers(headers_from(&headers)))
                .from_stream(s.map(Ok::<Vec<u8>, worker::Error>))?;
            Ok(streamed.into())
        }
    }
}
