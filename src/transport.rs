//! The upstream port over the platform's `fetch`, cancellable: dropping the call or its body
//! stream before the body has been read whole aborts the request, so a timed-out attempt stops
//! costing a connection. A call read to its end is not aborted (aborting is not free).

use crate::js_glue::{
    bytes_of, header_pairs, header_text, headers_text, js_message, read_chunk, reader_of,
    response_bytes, upstream_fetch,
};
use js_sys::futures::JsFuture;
use switchyard_core::ports::{
    ByteStream, LocalFuture, TransportError, Upstream, UpstreamBody, UpstreamRequest,
    UpstreamResponse, KEPT_RESPONSE_HEADERS,
};
use wasm_bindgen::{JsCast, JsValue};
use worker::web_sys::{AbortController, Response};

pub struct FetchUpstream;

/// Aborts the fetch when dropped, unless disarmed after a complete read.
struct AbortOnDrop(Option<AbortController>);

impl AbortOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.abort();
        }
    }
}

fn transport_error(e: JsValue) -> TransportError {
    TransportError {
        message: js_message(&e),
    }
}

impl Upstream for FetchUpstream {
    fn send(&self, req: UpstreamRequest) -> LocalFuture<Result<UpstreamResponse, TransportError>> {
        Box::pin(async move {
            let controller = AbortController::new().map_err(transport_error)?;
            let signal = controller.signal();
            let mut guard = AbortOnDrop(Some(controller));
            let call = upstream_fetch(
                &req.url,
                req.method,
                &header_text(&req.headers),
                &req.body,
                &signal,
            )
            .map_err(transport_error)?;
            let resp: Response = JsFuture::from(call)
                .await
                .map_err(transport_error)?
                .unchecked_into();
            let status = resp.status();
            let headers: Vec<(String, String)> = header_pairs(&headers_text(&resp.headers()))
                .into_iter()
                .filter(|(k, _)| KEPT_RESPONSE_HEADERS.contains(&k.as_str()))
                .collect();
            let body = match resp.body() {
                Some(stream) if req.stream && (200..300).contains(&status) => {
                    UpstreamBody::Stream(chunks(reader_of(&stream), guard))
                }
                _ => {
                    let bytes = JsFuture::from(response_bytes(&resp))
                        .await
                        .map_err(transport_error)?;
                    guard.disarm();
                    UpstreamBody::Full(bytes_of(bytes))
                }
            };
            Ok(UpstreamResponse {
                status,
                headers,
                body,
            })
        })
    }
}

/// The body's chunks as they arrive. The stream owns the guard: dropping it before the end
/// aborts the upstream call.
fn chunks(reader: JsValue, guard: AbortOnDrop) -> ByteStream {
    Box::pin(futures::stream::unfold(
        Some((reader, guard)),
        |state| async move {
            let (reader, mut guard) = state?;
            match JsFuture::from(read_chunk(&reader)).await {
                Ok(v) if v.is_undefined() => {
                    guard.disarm();
                    None
                }
                Ok(v) => Some((Ok(bytes_of(v)), Some((reader, guard)))),
                Err(e) => Some((Err(transport_error(e)), None)),
            }
        },
    ))
}
