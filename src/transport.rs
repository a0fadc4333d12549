//! The upstream port over the platform's `fetch`, cancellable: dropping the call or its body
//! stream aborts the request, so a timed-out attempt stops costing a connection.

use futures::StreamExt;
use js_sys::Uint8Array;
use switchyard_core::ports::{
    ByteStream, LocalFuture, TransportError, Upstream, UpstreamBody, UpstreamRequest,
    UpstreamResponse, KEPT_RESPONSE_HEADERS,
};
use worker::{AbortController, Fetch, Headers, Method, Request, RequestInit};

pub struct FetchUpstream;

/// Aborts the fetch when dropped (after a complete read this is a no-op).
struct AbortOnDrop(Option<AbortController>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.abort();
        }
    }
}

fn transport_error(e: worker::Error) -> TransportError {
    TransportError {
        message: e.to_string(),
    }
}

impl Upstream for FetchUpstream {
    fn send(&self, req: UpstreamRequest) -> LocalFuture<Result<UpstreamResponse, TransportError>> {
        Box::pin(async move {
            let guard = AbortOnDrop(Some(AbortController::default()));
            let signal = match &guard.0 {
                Some(c) => c.signal(),
                None => {
                    return Err(TransportError {
                        message: "abort controller missing".into(),
                    })
                }
            };
            let headers = Headers::new();
            for (k, v) in &req.headers {
                headers.set(k, v).map_err(transport_error)?;
            }
            let mut init = RequestInit::new();
            init.with_method(Method::from(req.method.to_string()))
                .with_headers(headers)
                .with_body(Some(Uint8Array::from(req.body.as_slice()).into()));
            let request = Request::new_with_init(&req.url, &init).map_err(transport_error)?;
            let mut resp = Fetch::Request(request)
                .send_with_signal(&signal)
                .await
                .map_err(transport_error)?;
            let status = resp.status_code();
            let resp_headers = resp.headers();
            let kept: Vec<(String, String)> = KEPT_RESPONSE_HEADERS
                .iter()
                .filter_map(|h| {
                    resp_headers
                        .get(h)
                        .ok()
                        .flatten()
                        .map(|v| (h.to_string(), v))
                })
                .collect();
            let body = if req.stream && (200..300).contains(&status) {
                let raw = resp.stream().map_err(transport_error)?;
                // The stream owns the guard: dropping it mid-way aborts the upstream call.
                let s: ByteStream = Box::pin(raw.map(move |chunk| {
                    let _keep = &guard;
                    chunk.map_err(transport_error)
                }));
                UpstreamBody::Stream(s)
            } else {
                UpstreamBody::Full(resp.bytes().await.map_err(transport_error)?)
            };
            Ok(UpstreamResponse {
                status,
                headers: kept,
                body,
            })
        })
    }
}
