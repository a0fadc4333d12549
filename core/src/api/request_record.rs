//! The request log's record of one model-endpoint request, built from the response the client
//! gets (its headers, status and error) and what the router noted beside it (trace, usage):
//! never the prompt, the answer, a key, or an upstream's message. A stream's record is
//! finished when the stream ends (or the client leaves), with its time to first token.

use crate::http::{HttpBody, HttpResponse};
use crate::ports::Clock;
use crate::relay::ClientStream;
use crate::request_log::{RequestRecord, MESSAGE_CHARS};
use crate::stores::LogWriter;
use crate::trace::StepKind;
use futures::Stream;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Who sent a request and when, known before its answer.
pub(super) struct Asked {
    pub method: String,
    pub path: String,
    pub caller: String,
    pub at_ms: f64,
}

/// The record of `resp`, as far as it is known when the response is ready. Its steps move
/// into the record (the log line reads only `trace.failed`).
pub(super) fn record(asked: Asked, resp: &mut HttpResponse, latency_ms: f64) -> RequestRecord {
    let h = |k: &str| resp.header(k).map(str::to_string);
    let count = |k: &str| {
        resp.header(k)
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let cost = resp
        .header("x-litellm-response-cost")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|c| c.is_finite() && *c >= 0.0)
        .unwrap_or(0.0);
    let (prompt, completion) = match resp.facts.usage {
        Some((p, c)) => (Some(p), Some(c)),
        None => (None, None),
    };
    let tried_upstream = resp.trace.steps.iter().any(|s| s.kind == StepKind::Failed);
    let (error_class, error) = match (&resp.facts.error, resp.status >= 400) {
        (Some((class, message)), true) => {
            // What an upstream said could echo the prompt: its failures are told by class
            // and status, as the log line tells them.
            let message = if tried_upstream && !resp.trace.failed.is_empty() {
                resp.trace.failed.join("; ")
            } else {
                message.chars().take(MESSAGE_CHARS).collect()
            };
            (Some(class.to_string()), Some(message))
        }
        (None, true) => (Some(format!("status {}", resp.status)), None),
        _ => (None, None),
    };
    let group =
        h("x-litellm-model-group").or_else(|| resp.trace.steps.first().map(|s| s.group.clone()));
    RequestRecord {
        id: h("x-litellm-call-id").unwrap_or_default(),
        at_ms: asked.at_ms,
        method: asked.method,
        path: asked.path.split('?').next().unwrap_or("").to_string(),
        key: asked.caller,
        group,
        deployment: h("x-litellm-model-id").filter(|_| resp.status < 400),
        status: resp.status,
        latency_ms,
        ttft_ms: None,
        tokens: prompt.unwrap_or(0) + completion.unwrap_or(0),
        prompt_tokens: prompt,
        completion_tokens: completion,
        cost,
        retries: count("x-litellm-attempted-retries"),
        fallbacks: count("x-litellm-attempted-fallbacks"),
        hedged: resp.header("x-switchyard-hedged").is_some(),
        continued: 0,
        stream: matches!(resp.body, HttpBody::Stream(_))
            && resp
                .header("content-type")
                .is_some_and(|c| c.starts_with("text/event-stream")),
        cache: h("x-switchyard-cache"),
        error_class,
        error,
        client_closed: false,
        steps: std::mem::take(&mut resp.trace.steps),
    }
}

/// Hands the record to the writer: at once for a complete answer (its write joins the
/// response's background work); for a stream, when it ends (its write joins the work that
/// waits for the stream's end, `stream_log`, so work run before the stream is read never
/// waits for it).
pub(super) fn log(
    resp: &mut HttpResponse,
    mut record: RequestRecord,
    writer: &Rc<LogWriter>,
    clock: Rc<dyn Clock>,
    started_ms: f64,
) {
    let inner = match std::mem::replace(&mut resp.body, HttpBody::Bytes(Vec::new())) {
        HttpBody::Stream(inner) => inner,
        bytes => {
            resp.body = bytes;
            writer.push(record);
            resp.background.extend(writer.flush());
            return;
        }
    };
    let (done, ended) = futures::channel::oneshot::channel();
    record.stream = true;
    let watched = Watched {
        inner,
        record: Some(record),
        started_ms,
        clock,
        usage: resp.facts.stream_usage.clone(),
        continued: resp.facts.continued.clone(),
        writer: writer.clone(),
        done: Some(done),
    };
    resp.body = HttpBody::Stream(Box::pin(watched));
    let writer = writer.clone();
    let before = resp.stream_log.take();
    resp.stream_log = Some(Box::pin(async move {
        let line = match before {
            Some(f) => f.await,
            None => None,
        };
        let _ = ended.await;
        if let Some(write) = writer.flush() {
            write.await;
        }
        line
    }));
}

/// A stream that finishes its record: the first chunk's time, then at the end (or when the
/// client drops it) the tokens and cost the stream spent.
struct Watched {
    inner: ClientStream,
    record: Option<RequestRecord>,
    started_ms: f64,
    clock: Rc<dyn Clock>,
    usage: Option<crate::relay::StreamUsage>,
    continued: Option<Rc<std::cell::Cell<u32>>>,
    writer: Rc<LogWriter>,
    done: Option<futures::channel::oneshot::Sender<()>>,
}

impl Watched {
    fn finish(&mut self, client_closed: bool) {
        let Some(mut r) = self.record.take() else {
            return;
        };
        r.latency_ms = self.clock.now_ms() - self.started_ms;
        if let Some((tokens, cost)) = self.usage.as_ref().and_then(|u| u.get()) {
            r.tokens = tokens;
            r.cost = cost;
        }
        r.continued = self.continued.as_ref().map_or(0, |c| c.get());
        r.client_closed = client_closed;
        self.writer.push(r);
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

impl Stream for Watched {
    type Item = Vec<u8>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Vec<u8>>> {
        let next = self.inner.as_mut().poll_next(cx);
        match &next {
            Poll::Ready(Some(_)) => {
                let now = self.clock.now_ms();
                let started = self.started_ms;
                if let Some(r) = self.record.as_mut().filter(|r| r.ttft_ms.is_none()) {
                    r.ttft_ms = Some(now - started);
                }
            }
            Poll::Ready(None) => self.finish(false),
            Poll::Pending => {}
        }
        next
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.finish(true);
    }
}
