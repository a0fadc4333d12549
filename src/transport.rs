//! The upstream port over the platform's `fetch`, cancellable: dropping the call or its body
//! stream before the body has been read whole aborts the request, so a timed-out attempt stops
//! costing a connection. A call read to its end is not aborted (aborting is not free).

use crate::js_glue::{bytes_of, header_pairs, header_text, js_message, read_chunk, upstream_call};
use js_sys::futures::JsFuture;
use js_sys::{Array, Uint8Array};
use std::sync::OnceLock;
use switchyard_core::ports::{
    ByteStream, LocalFuture, TransportError, Upstream, UpstreamBody, UpstreamRequest,
    UpstreamResponse, KEPT_RESPONSE_HEADERS,
};
use wasm_bindgen::{JsCast, JsValue};
use worker::web_sys::AbortController;

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

/// The response headers the core reads, one name per line (what `upstream_call` returns).
fn kept_headers() -> &'static str {
    static KEPT: OnceLock<String> = OnceLock::new();
    KEPT.get_or_init(|| KEPT_RESPONSE_HEADERS.join("\n"))
}

impl Upstream for FetchUpstream {
    fn send(&self, req: UpstreamRequest) -> LocalFuture<Result<UpstreamResponse, TransportError>> {
        Box::pin(async move {
            let controller = AbortController::new().map_err(transport_error)?;
            let signal = controller.signal();
            let mut guard = AbortOnDrop(Some(controller));
            let call = upstream_call(
                &req.url,
                req.method,
                &header_text(&req.headers),
                &req.body,
                &signal,
                req.stream,
                kept_headers(),
            )
            .map_err(transport_error)?;
            let answer: Array = JsFuture::from(call)
                .await
                .map_err(transport_error)?
                .unchecked_into();
            let status = answer.get(0).as_f64().unwrap_or(0.0) as u16;
            let headers = header_pairs(&answer.get(1).as_string().unwrap_or_default());
            let body = answer.get(2);
            let body = if body.is_instance_of::<Uint8Array>() {
                guard.disarm();
                UpstreamBody::Full(bytes_of(body))
            } else {
                UpstreamBody::Stream(chunks(body, guard))
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
