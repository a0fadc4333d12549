//! The upstream port: a `fetch` JavaScript runs, its body whole or read chunk by chunk.
//! Dropping the call, or its body before the end, aborts it (a timed-out attempt stops costing
//! a connection); a body read to its end is not aborted (aborting is not free).

use crate::host::executor::{emit, Op, Reply};
use crate::host::wire::Kind;
use futures::Stream;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use switchyard_core::ports::{
    LocalFuture, TransportError, Upstream, UpstreamBody, UpstreamRequest, UpstreamResponse,
};

pub struct FetchUpstream;

impl Upstream for FetchUpstream {
    fn send(&self, req: UpstreamRequest) -> LocalFuture<Result<UpstreamResponse, TransportError>> {
        Box::pin(async move {
            let op = Op::new(|o, id, task| {
                o.kind(Kind::Fetch)
                    .u32(id)
                    .u32(task)
                    .u8(u8::from(req.stream))
                    .text(&req.url)
                    .text(req.method)
                    .text(&header_text(&req.headers))
                    .bytes(&req.body);
            });
            let handle = op.id();
            match op.await {
                Reply::Done { code, text, bytes } => Ok(UpstreamResponse {
                    status: u16::try_from(code).unwrap_or(0),
                    headers: header_pairs(&text),
                    body: UpstreamBody::Full(bytes),
                }),
                Reply::Stream { status, headers } => Ok(UpstreamResponse {
                    status,
                    headers: header_pairs(&headers),
                    body: UpstreamBody::Stream(Box::pin(BodyReader {
                        handle,
                        pending: None,
                        ended: false,
                    })),
                }),
                Reply::Failed(message) => Err(TransportError { message }),
            }
        })
    }
}

/// An upstream body, chunk by chunk, each a [`Kind::Read`] on the fetch's handle.
struct BodyReader {
    handle: u32,
    pending: Option<Op>,
    ended: bool,
}

impl Stream for BodyReader {
    type Item = Result<Vec<u8>, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let handle = self.handle;
        let op = self.pending.get_or_insert_with(|| {
            Op::new(|o, id, _| {
                o.kind(Kind::Read).u32(id).u32(handle);
            })
        });
        let reply = match Pin::new(op).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        self.pending = None;
        Poll::Ready(match reply {
            Reply::Done { code: 0, .. } => {
                self.ended = true;
                None
            }
            Reply::Done { bytes, .. } => Some(Ok(bytes)),
            Reply::Failed(message) => {
                self.ended = true;
                Some(Err(TransportError { message }))
            }
            Reply::Stream { .. } => {
                self.ended = true;
                Some(Err(TransportError {
                    message: "a body read answered as a new stream".into(),
                }))
            }
        })
    }
}

impl Drop for BodyReader {
    fn drop(&mut self) {
        if !self.ended {
            let handle = self.handle;
            emit(|o| {
                o.kind(Kind::Abort).u32(handle);
            });
        }
    }
}

/// `name\nvalue\n...` for these pairs (HTTP forbids line breaks in names and values).
pub fn header_text<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut s = String::with_capacity(pairs.len() * 32);
    for (k, v) in pairs {
        s.push_str(k.as_ref());
        s.push('\n');
        s.push_str(v.as_ref());
        s.push('\n');
    }
    s
}

/// The pairs of a `name\nvalue\n...` text, names in lower case (as `Headers` gives them).
pub fn header_pairs(text: &str) -> Vec<(String, String)> {
    let mut parts = text.split('\n');
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
        out.push((k.to_ascii_lowercase(), v.to_string()));
    }
    out
}
