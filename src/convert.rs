//! Between the platform's request and response and the core's plain types: the head arrives as
//! one text, the body is read by a [`Kind::Body`] operation once the core has said the request
//! may go on, and the answer leaves as one [`Kind::Respond`] instruction (a streamed answer as
//! a task that writes [`Kind::Chunk`]s).

use crate::host::executor::{emit, now, spawn, Op, Reply, Sleep};
use crate::host::wire::Kind;
use crate::transport::{header_pairs, header_text};
use futures::future::{select, Either};
use futures::StreamExt;
use switchyard_core::relay::ClientStream;
use switchyard_core::{Error, HttpBody, HttpRequest, HttpResponse};

/// The path and query of a serialized URL (`https://host/p?q#f` -> `/p?q`).
pub fn path_of(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let path = rest.find('/').map_or("/", |i| &rest[i..]);
    path.split('#').next().unwrap_or("/").to_string()
}

/// The request's method, path and headers from `method\nurl\nname\nvalue\n...`; its body is
/// read later by [`read_body`].
pub fn read_head(head: &str) -> HttpRequest {
    let mut parts = head.splitn(3, '\n');
    let method = parts.next().unwrap_or("GET").to_string();
    let path = path_of(parts.next().unwrap_or("/"));
    HttpRequest {
        method,
        path,
        headers: header_pairs(parts.next().unwrap_or("")),
        body: Vec::new(),
    }
}

/// Code of a [`Kind::Body`] answer whose body went past its limit.
const TOO_LARGE: u32 = 413;

/// Reads the body into `head`, refusing bodies over `limit` bytes before reading them when the
/// client declares the length, and while reading them when it does not; a body still arriving
/// after `within_ms` is a 408 (a slow-body client must not hold the request open).
pub async fn read_body(
    task: u32,
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
    let cap = u32::try_from(limit).unwrap_or(u32::MAX);
    let read = Op::new(|o, id, _| {
        o.kind(Kind::Body).u32(id).u32(task).u32(cap);
    });
    let deadline = Sleep::until(now() + within_ms as f64);
    let reply = match select(read, deadline).await {
        Either::Left((reply, _)) => reply,
        Either::Right(_) => {
            return Err(Error::BodyTimeout {
                after_ms: within_ms,
            })
        }
    };
    match reply {
        Reply::Done {
            code: TOO_LARGE, ..
        } => Err(Error::PayloadTooLarge { limit_bytes: limit }),
        Reply::Done { bytes, .. } if bytes.len() > limit => {
            Err(Error::PayloadTooLarge { limit_bytes: limit })
        }
        Reply::Done { bytes, .. } => {
            head.body = bytes;
            Ok(())
        }
        Reply::Failed(m) | Reply::Stream { headers: m, .. } => Err(Error::invalid(
            format!("Could not read the request body: {m}"),
            None,
        )),
    }
}

/// Answers request `task` with `resp`; a streamed body becomes its own task, under the same
/// request.
pub fn respond(task: u32, resp: HttpResponse) {
    let headers = header_text(&resp.headers);
    match resp.body {
        HttpBody::Bytes(b) => emit(|o| {
            o.kind(Kind::Respond)
                .u32(task)
                .u16(resp.status)
                .text(&headers)
                .u8(0)
                .bytes(&b);
        }),
        HttpBody::Stream(s) => {
            let stream = spawn(write_stream(s), task);
            emit(|o| {
                o.kind(Kind::Respond)
                    .u32(task)
                    .u16(resp.status)
                    .text(&headers)
                    .u8(1)
                    .u32(stream);
            });
        }
    }
}

/// A streamed answer: each chunk as the core makes it, then the end (the task's
/// [`Kind::Ended`]). The client going away cancels the task, and with it the upstream read.
/// Chunks are not held back for a slow reader: an answer is kilobytes, and waiting for the
/// client's pull would cost a crossing per chunk.
async fn write_stream(mut s: ClientStream) {
    let (me, _) = crate::host::executor::current();
    while let Some(chunk) = s.next().await {
        emit(|o| {
            o.kind(Kind::Chunk).u32(me).bytes(&chunk);
        });
    }
}
