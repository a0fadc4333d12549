//! Conversions between the Workers runtime's `Request`/`Response` and the core's plain types.

use futures::future::{select, Either};
use futures::StreamExt;
use switchyard_core::js::JsClock;
use switchyard_core::ports::Clock;
use switchyard_core::{Error, HttpBody, HttpRequest, HttpResponse};
use worker::{Headers, Request, Response, ResponseBuilder};

/// Reads the request, refusing bodies over `limit` bytes before reading them whole when the
/// client declares the length, and while reading them when it does not; a body still arriving
/// after `within_ms` is a 408 (a slow-body client must not hold the request open).
pub async fn read_request(
    mut req: Request,
    limit: usize,
    within_ms: u64,
) -> Result<HttpRequest, Error> {
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let declared = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Error::PayloadTooLarge { limit_bytes: limit });
    }
    let method = req.method().to_string();
    let url = req
        .url()
        .map_err(|e| Error::invalid(format!("Bad request URL: {e}"), None))?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let body = if matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") {
        Vec::new()
    } else {
        let read = Box::pin(async {
            if declared.is_some() {
                req.bytes().await.map_err(body_error)
            } else {
                read_capped(&mut req, limit).await
            }
        });
        match select(read, JsClock.sleep(within_ms)).await {
            Either::Left((body, _)) => body?,
            Either::Right(_) => {
                return Err(Error::BodyTimeout {
                    after_ms: within_ms,
                })
            }
        }
    };
    if body.len() > limit {
        return Err(Error::PayloadTooLarge { limit_bytes: limit });
    }
    Ok(HttpRequest {
        method,
        path,
        headers,
        body,
    })
}

async fn read_capped(req: &mut Request, limit: usize) -> Result<Vec<u8>, Error> {
    let Ok(mut stream) = req.stream() else {
        return Ok(Vec::new()); // no body
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.map_err(body_error)?);
        if body.len() > limit {
            return Err(Error::PayloadTooLarge { limit_bytes: limit });
        }
    }
    Ok(body)
}

fn body_error(e: worker::Error) -> Error {
    Error::invalid(format!("Could not read the request body: {e}"), None)
}

pub fn write_response(resp: HttpResponse) -> worker::Result<Response> {
    let headers = Headers::new();
    for (k, v) in &resp.headers {
        headers.append(k, v)?;
    }
    let builder = ResponseBuilder::new()
        .with_status(resp.status)
        .with_headers(headers);
    Ok(match resp.body {
        HttpBody::Bytes(b) if b.is_empty() => builder.empty(),
        HttpBody::Bytes(b) => builder.fixed(b),
        HttpBody::Stream(s) => builder.from_stream(s.map(Ok::<Vec<u8>, worker::Error>))?,
    })
}
