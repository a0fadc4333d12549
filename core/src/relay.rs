//! Relays an upstream SSE stream to the client, event by event, as it arrives.
//!
//! The first event is awaited before the client's response starts, so a stream that fails or
//! stalls before producing anything is still an ordinary error (and, later, a failover). After
//! that the status is sent and cannot change: a failure becomes one in-band
//! `data: {"error": ...}` event and the stream ends without `[DONE]`, so no client mistakes a cut
//! stream for a complete answer.
//!
//! Unless the stream can be finished elsewhere (`rescue`, the router's): then a break after
//! the first event sends the request to another deployment as a continuation, and only what
//! follows the text already relayed is passed on, in the same stream (see `relay/join.rs`).

use crate::cost::Usage;
use crate::error::{Error, ErrorClass};
use crate::eventstream::EventStreamDecoder;
use crate::ports::{ByteStream, Clock};
use crate::sse::{SseDecoder, SseEvent};
use futures::future::{select, Either};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use std::borrow::Cow;
use std::pin::Pin;
use std::rc::Rc;

mod join;
pub use join::{Broken, Join, Rescue, Resumed};

pub type ClientStream = Pin<Box<dyn Stream<Item = Vec<u8>>>>;

const DONE_FRAME: &[u8] = b"data: [DONE]\n\n";

/// How a relayed stream ended, for accounting.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEnd {
    /// `None` when it completed (or the client went away); else the class of the failure.
    pub error: Option<ErrorClass>,
    /// The usage chunk's counts, when the provider sent one.
    pub usage: Option<Usage>,
    /// Characters of content relayed to the client (for an estimate when `usage` is `None`).
    pub content_chars: u64,
    /// The client went away before the end (the stream was dropped unfinished).
    pub abandoned: bool,
    /// This part broke and another deployment finishes the stream: its tokens are carried
    /// into the whole stream's, which is settled when the last part ends.
    pub continues: bool,
}

pub type OnEnd = Box<dyn FnOnce(StreamEnd)>;

/// Where a stream leaves its tokens and cost when it ends (completed, cut, or dropped by a
/// client that hung up), and whoever waits for them (the key's charge, in the background).
#[derive(Clone, Default)]
pub struct StreamUsage(Rc<StreamUsageSlot>);

#[derive(Default)]
struct StreamUsageSlot {
    value: std::cell::Cell<Option<(u64, f64)>>,
    /// What the parts of a continued stream that already ended spent.
    carried: std::cell::Cell<(u64, f64)>,
    waiting: std::cell::RefCell<Vec<futures::channel::oneshot::Sender<(u64, f64)>>>,
}

impl StreamUsage {
    /// (tokens, cost), once the stream has ended.
    pub fn get(&self) -> Option<(u64, f64)> {
        self.0.value.get()
    }

    /// The last part ended with `v`: the whole stream's total is settled.
    pub(crate) fn set(&self, v: (u64, f64)) {
        let (t, c) = self.0.carried.get();
        let v = (v.0 + t, v.1 + c);
        self.0.value.set(Some(v));
        for tx in self.0.waiting.borrow_mut().drain(..) {
            let _ = tx.send(v);
        }
    }

    /// A part of a continued stream ended with `v`; more follow.
    pub(crate) fn carry(&self, v: (u64, f64)) {
        let (t, c) = self.0.carried.get();
        self.0.carried.set((t + v.0, c + v.1));
    }

    /// Resolves when the stream ends; `None` if it is dropped without ending (never, as the
    /// relay reports when dropped).
    pub fn ended(&self) -> impl std::future::Future<Output = Option<(u64, f64)>> {
        let now = self.get();
        let rx = if now.is_none() {
            let (tx, rx) = futures::channel::oneshot::channel();
            self.0.waiting.borrow_mut().push(tx);
            Some(rx)
        } else {
            None
        };
        async move {
            match rx {
                Some(rx) => rx.await.ok(),
                None => now,
            }
        }
    }
}

pub struct Relay {
    upstream: ByteStream,
    decoder: Framing,
    events: Vec<SseEvent>,
    clock: Rc<dyn Clock>,
    /// Longest silence allowed between two upstream chunks.
    idle_ms: u64,
    finished: bool,
    /// Pass the usage-only chunk to the client (it asked for `include_usage`).
    keep_usage_chunk: bool,
    usage: Option<Usage>,
    /// Which choices the stream has shown, and which of them said they were finished.
    choices_seen: Vec<u64>,
    choices_finished: Vec<u64>,
    /// Characters of content relayed, to estimate the tokens of a stream without usage.
    content_chars: u64,
    end_error: Option<ErrorClass>,
    on_end: Option<OnEnd>,
    translator: Box<dyn StreamTranslator>,
    /// Values scrubbed from in-band errors (the credentials the call carried).
    secrets: Vec<String>,
    /// Finishes the stream elsewhere when it breaks; and what that needs to know.
    rescue: Option<Box<dyn Rescue>>,
    joined: join::Joined,
}

impl Relay {
    /// Relays `upstream`, whose events `translator` turns into OpenAI chunks (the deployment's
    /// adapter's), allowing `idle_ms` of silence between chunks.
    pub fn new(
        upstream: ByteStream,
        clock: Rc<dyn Clock>,
        idle_ms: u64,
        translator: Box<dyn StreamTranslator>,
    ) -> Self {
        Relay {
            upstream,
            decoder: Framing::Sse(SseDecoder::new()),
            events: Vec::new(),
            clock,
            idle_ms,
            finished: false,
            keep_usage_chunk: true,
            usage: None,
            choices_seen: Vec::new(),
            choices_finished: Vec::new(),
            content_chars: 0,
            end_error: None,
            on_end: None,
            translator,
            secrets: Vec::new(),
            rescue: None,
            joined: join::Joined::default(),
        }
    }

    /// Where the stream is finished if it breaks after its first event.
    pub fn rescue(mut self, rescue: Box<dyn Rescue>) -> Self {
        self.rescue = Some(rescue);
        self
    }

    /// Reads AWS event-stream frames instead of SSE (Bedrock).
    pub fn event_stream(mut self) -> Self {
        self.decoder = Framing::EventStream(EventStreamDecoder::new());
        self
    }

    /// Whether the usage-only chunk reaches the client (default: yes).
    pub fn keep_usage_chunk(mut self, keep: bool) -> Self {
        self.keep_usage_chunk = keep;
        self
    }

    /// Values to scrub from the upstream's in-band errors.
    pub fn scrub(mut self, secrets: Vec<String>) -> Self {
        self.secrets = secrets;
        self
    }

    fn scrubbed(&self, data: Vec<u8>) -> Vec<u8> {
        if self.secrets.is_empty() {
            return data;
        }
        let refs: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        crate::redact::scrub(&data, &refs)
    }

    /// Called once when the stream ends, fails, or is dropped by the client.
    pub fn on_end(mut self, f: OnEnd) -> Self {
        self.on_end = Some(f);
        self
    }

    fn report(&mut self) {
        if let Some(f) = self.on_end.take() {
            // A continuation's own relay reports first (its part's tokens are then known).
            self.upstream = Box::pin(futures::stream::empty());
            f(StreamEnd {
                error: self.end_error,
                usage: self.usage,
                content_chars: self.content_chars,
                abandoned: !self.finished,
                continues: false,
            });
        }
    }

    /// Waits up to `within_ms` for the first complete event and returns its bytes for the client.
    /// An upstream that errors, closes or stays silent before that is an `Err`.
    pub async fn first_frame(&mut self, within_ms: u64) -> Result<Vec<u8>, Error> {
        let deadline = self.clock.now_ms() + within_ms as f64;
        loop {
            let left = (deadline - self.clock.now_ms()).max(0.0) as u64;
            let frames = self.pull(left, within_ms).await?;
            if let (Some(body), 0) = (frames.error, frames.events) {
                // Nothing was sent yet: an error first is an ordinary upstream failure.
                return Err(Error::upstream(502, body));
            }
            if !frames.bytes.is_empty() {
                return Ok(frames.bytes);
            }
            if self.finished {
                return Err(Error::StreamInterrupted {
                    message: "The upstream stream ended before sending any event.".into(),
                });
            }
        }
    }

    /// The client's stream: `first`, then every later event as it arrives.
    pub fn into_client_stream(self, first: Vec<u8>) -> ClientStream {
        let rest = futures::stream::unfold(self, |mut relay| async move {
            relay.next_frame().await.map(|frame| (frame, relay))
        });
        Box::pin(futures::stream::once(async move { first }).chain(rest))
    }

    async fn next_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            if self.finished {
                self.report();
                return None;
            }
            match self.pull(self.idle_ms, self.idle_ms).await {
                Ok(mut frames) => {
                    if let Some(error) = frames.broken.take() {
                        // An in-band error the stream can be rescued from: held back.
                        if self.resume(ErrorClass::InternalServer).await {
                            if frames.bytes.is_empty() {
                                continue;
                            }
                            return Some(frames.bytes);
                        }
                        push_frame(&mut frames.bytes, &error);
                        frames.error = Some(error);
                    }
                    if frames.error.is_some() {
                        self.end_error = Some(ErrorClass::InternalServer);
                    }
                    if !frames.bytes.is_empty() {
                        return Some(frames.bytes);
                    }
                }
                Err(e) => {
                    let class = e.class().unwrap_or(ErrorClass::InternalServer);
                    if self.resume(class).await {
                        continue;
                    }
                    self.finished = true;
                    self.end_error = Some(class);
                    self.report();
                    return Some(e.sse_event());
                }
            }
        }
    }

    /// Reads one upstream chunk (waiting at most `wait_ms`) and returns the client bytes for the
    /// events it completed. Sets `finished` at `[DONE]`, at an in-band error and at the end of
    /// the upstream body.
    async fn pull(&mut self, wait_ms: u64, limit_ms: u64) -> Result<Frames, Error> {
        let next = self.upstream.next();
        let timer = self.clock.sleep(wait_ms);
        let chunk = match select(next, timer).await {
            Either::Left((chunk, _)) => chunk,
            Either::Right(_) => {
                self.finished = true;
                return Err(Error::UpstreamTimeout { after_ms: limit_ms });
            }
        };
        match chunk {
            Some(Ok(bytes)) => {
                if !self.decoder.push(&bytes, &mut self.events) {
                    self.finished = true;
                    return Err(Error::StreamInterrupted {
                        message: "The upstream stream sent a malformed frame.".into(),
                    });
                }
                Ok(self.frames(false))
            }
            Some(Err(e)) => {
                self.finished = true;
                Err(Error::StreamInterrupted {
                    message: format!("The upstream stream broke: {}", e.message),
                })
            }
            None => {
                self.finished = true;
                let mut frames = self.frames(true);
                if frames.done || frames.error.is_some() {
                    Ok(frames)
                } else if self.every_choice_finished() {
                    // Complete without the `[DONE]` marker (many OpenAI-compatible servers):
                    // end it the way OpenAI does, so clients see a complete stream.
                    frames.bytes.extend_from_slice(DONE_FRAME);
                    frames.done = true;
                    Ok(frames)
                } else {
                    Err(Error::StreamInterrupted {
                        message:
                            "The upstream closed the stream before it was complete (no [DONE])."
                                .into(),
                    })
                }
            }
        }
    }

    /// Turns decoded events into client bytes, through the provider's translator; at the end
    /// of the upstream body (`at_end`) the translator may add its last pieces.
    fn frames(&mut self, at_end: bool) -> Frames {
        let mut f = Frames::default();
        let mut pieces = Vec::new();
        for ev in self.events.drain(..) {
            self.translator.event(ev, &mut pieces);
        }
        if at_end {
            self.translator.end(&mut pieces);
        }
        for piece in pieces {
            let relayed = match piece {
                Piece::Done => {
                    f.bytes.extend_from_slice(DONE_FRAME);
                    f.done = true;
                    self.finished = true;
                    break;
                }
                Piece::Error(data) => Err(self.scrubbed(data)),
                Piece::Data(data) => self.read_chunk(data),
            };
            match relayed {
                Ok(Some(data)) => {
                    push_frame(&mut f.bytes, &data);
                    f.events += 1;
                }
                Ok(None) => {}
                Err(error) => {
                    self.finished = true;
                    if self.rescuable() {
                        f.broken = Some(error);
                    } else {
                        push_frame(&mut f.bytes, &error);
                        f.error = Some(error);
                    }
                    break;
                }
            }
        }
        f
    }
}

/// How the upstream body is cut into events.
enum Framing {
    Sse(SseDecoder),
    EventStream(EventStreamDecoder),
}

impl Relay {
    /// Reads one OpenAI chunk, parsed (never matched as bytes: spacing, key order and extra
    /// fields differ between servers): `Ok(Some)` to relay it, `Ok(None)` to drop it (the
    /// usage-only chunk of a client that did not ask for it), `Err` with the in-band error
    /// that ends the stream.
    fn read_chunk(&mut self, data: Vec<u8>) -> Result<Option<Vec<u8>>, Vec<u8>> {
        let Ok(view) = serde_json::from_slice::<ChunkView>(&data) else {
            return Err(malformed_chunk());
        };
        if view.error.is_some() {
            drop(view);
            return Err(self.scrubbed(data));
        }
        if self.joined.joining() {
            drop(view);
            return self.joined.chunk(data, self.keep_usage_chunk);
        }
        // Kept from the first event on (a continuation is attached after it): the `id` and
        // `model` a continuation must carry, and the text it must go on from.
        if self.joined.identity.is_none() {
            if let (Some(id), Some(model)) = (&view.id, &view.model) {
                self.joined.identity = Some((id.to_string(), model.to_string()));
            }
        }
        for c in view.choices.iter().flatten() {
            let i = c.index.unwrap_or(0);
            if !self.choices_seen.contains(&i) {
                self.choices_seen.push(i);
            }
            if c.finish_reason.is_some() && !self.choices_finished.contains(&i) {
                self.choices_finished.push(i);
            }
            if let Some(d) = &c.delta {
                self.content_chars += d.chars();
                self.joined
                    .saw(d.content.as_deref(), d.tool_calls.is_some());
            }
        }
        let usage_only = view.choices.as_ref().is_some_and(Vec::is_empty);
        let Some(usage) = view.usage else {
            drop(view);
            return Ok(Some(data));
        };
        drop(view);
        self.usage = Some(usage);
        Ok((self.keep_usage_chunk || !usage_only).then_some(data))
    }

    /// Whether every choice the stream showed carried a `finish_reason` (and there was one).
    fn every_choice_finished(&self) -> bool {
        !self.choices_seen.is_empty()
            && self
                .choices_seen
                .iter()
                .all(|i| self.choices_finished.contains(i))
    }
}

/// What the relay reads of an OpenAI stream chunk; everything else is passed on untouched.
#[derive(Deserialize)]
struct ChunkView<'a> {
    #[serde(default, borrow, deserialize_with = "join::lenient_str")]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "join::lenient_str")]
    model: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    choices: Option<Vec<ChoiceView<'a>>>,
    #[serde(default)]
    usage: Option<Usage>,
    /// Present and not `null`: an in-band error.
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct ChoiceView<'a> {
    #[serde(default)]
    index: Option<u64>,
    /// Present and not `null`: this choice is finished.
    #[serde(default)]
    finish_reason: Option<serde::de::IgnoredAny>,
    #[serde(default, borrow)]
    delta: Option<DeltaView<'a>>,
}

#[derive(Deserialize)]
struct DeltaView<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta<'a>>>,
}

#[derive(Deserialize)]
struct ToolCallDelta<'a> {
    #[serde(default, borrow)]
    function: Option<FunctionDelta<'a>>,
}

#[derive(Deserialize)]
struct FunctionDelta<'a> {
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

impl DeltaView<'_> {
    fn chars(&self) -> u64 {
        let text = |s: &Option<Cow<str>>| s.as_ref().map_or(0, |s| s.chars().count() as u64);
        let args: u64 = self
            .tool_calls
            .iter()
            .flatten()
            .filter_map(|t| t.function.as_ref())
            .map(|f| text(&f.arguments))
            .sum();
        text(&self.content) + text(&self.reasoning_content) + args
    }
}

impl Framing {
    /// Decodes; `false` when the bytes cannot be decoded (a corrupt frame).
    fn push(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> bool {
        match self {
            Framing::Sse(d) => {
                d.push(bytes, out);
                true
            }
            Framing::EventStream(d) => {
                d.push(bytes, out);
                !d.corrupt
            }
        }
    }
}

/// The in-band error for a stream chunk that is not JSON.
fn malformed_chunk() -> Vec<u8> {
    Error::StreamInterrupted {
        message: "The upstream sent a malformed stream chunk (not JSON).".into(),
    }
    .body()
}

fn push_frame(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
}

/// What a provider's stream event becomes for an OpenAI client.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// An OpenAI chunk (JSON).
    Data(Vec<u8>),
    /// The stream is complete.
    Done,
    /// The provider reported an error (an OpenAI error object, JSON).
    Error(Vec<u8>),
}

/// Turns one provider's SSE events into OpenAI stream pieces.
pub trait StreamTranslator {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<Piece>);
    /// The upstream body ended: last pieces, such as `Done` for a provider whose stream has no
    /// end marker but whose last event said it was complete.
    fn end(&mut self, _out: &mut Vec<Piece>) {}
}

/// What one upstream chunk completed.
#[derive(Default)]
struct Frames {
    /// Bytes for the client.
    bytes: Vec<u8>,
    /// Ordinary events among them.
    events: usize,
    /// The payload of an in-band error event, which ends the stream.
    error: Option<Vec<u8>>,
    /// The same, held back (not in `bytes`) because the stream may be finished elsewhere.
    broken: Option<Vec<u8>>,
    /// `[DONE]` arrived.
    done: bool,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.report();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::OpenAiStream;
    use crate::ports::TransportError;
    use crate::testing::ManualClock;

    fn openai() -> Box<dyn StreamTranslator> {
        Box::new(OpenAiStream)
    }
    use futures::executor::block_on;

    fn upstream(chunks: Vec<Result<&'static [u8], &'static str>>) -> ByteStream {
        Box::pin(futures::stream::iter(chunks.into_iter().map(|c| {
            c.map(<[u8]>::to_vec)
                .map_err(|m| TransportError { message: m.into() })
        })))
    }

    fn collect(mut relay: Relay, within: u64) -> Result<String, Error> {
        block_on(async move {
            let first = relay.first_frame(within).await?;
            let all: Vec<Vec<u8>> = relay.into_client_stream(first).collect().await;
            Ok(String::from_utf8(all.concat()).unwrap())
        })
    }

    fn clock() -> Rc<dyn Clock> {
        Rc::new(ManualClock::default())
    }

    #[test]
    fn passes_events_through_and_ends_with_done() {
        let up = upstream(vec![
            Ok(b"data: {\"id\":1}\n\ndata: {\"id\""),
            Ok(b":2}\n\n: ping\n\n"),
            Ok(b"data: [DONE]\n\n"),
        ]);
        let out = collect(Relay::new(up, clock(), 1000, openai()), 1000).unwrap();
        assert_eq!(
            out,
            "data: {\"id\":1}\n\ndata: {\"id\":2}\n\ndata: [DONE]\n\n"
        );
    }

    #[test]
    fn a_malformed_chunk_ends_the_stream_with_an_error_not_garbage() {
        let up = upstream(vec![
            Ok(b"data: {\"id\":1}\n\n"),
            Ok(b"data: {\"id\":2,\"choi\n\n"),
            Ok(b"data: {\"id\":3}\n\ndata: [DONE]\n\n"),
        ]);
        let out = collect(Relay::new(up, clock(), 1000, openai()), 1000).unwrap();
        assert!(out.starts_with("data: {\"id\":1}\n\n"), "{out}");
        assert!(out.contains("malformed stream chunk"), "{out}");
        assert!(!out.contains("choi"), "{out}");
        assert!(!out.contains("\"id\":3"), "{out}");
        assert!(!out.contains("data: [DONE]"), "{out}");
    }

    #[test]
    fn a_malformed_first_chunk_is_a_failure_before_commit() {
        let up = upstream(vec![Ok(b"data: <html>oops</html>\n\n")]);
        let mut relay = Relay::new(up, clock(), 1000, openai());
        let err = block_on(relay.first_frame(1000)).unwrap_err();
        assert_eq!(err.status(), 502);
        assert!(err.message().contains("malformed"), "{}", err.message());
    }

    #[test]
    fn stream_cut_after_first_event_ends_with_error_event() {
        let up = upstream(vec![Ok(b"data: {\"id\":1}\n\n"), Ok(b"data: {\"id\":2")]);
        let out = collect(Relay::new(up, clock(), 1000, openai()), 1000).unwrap();
        assert!(out.starts_with("data: {\"id\":1}\n\n"), "{out}");
        assert!(out.contains("\"code\":\"stream_interrupted\""), "{out}");
        assert!(!out.contains("data: [DONE]"), "{out}");
    }

    #[test]
    fn transport_error_mid_stream_becomes_error_event() {
        let up = upstream(vec![Ok(b"data: {\"id\":1}\n\n"), Err("connection reset")]);
        let out = collect(Relay::new(up, clock(), 1000, openai()), 1000).unwrap();
        assert!(out.contains("connection reset"), "{out}");
        assert!(!out.contains("data: [DONE]"));
    }

    #[test]
    fn in_band_error_is_forwarded_and_ends_the_stream() {
        let up = upstream(vec![
            Ok(b"data: {\"id\":1}\n\ndata: {\"error\":{\"message\":\"overloaded\"}}\n\n"),
            Ok(b"data: {\"id\":3}\n\n"),
        ]);
        let out = collect(Relay::new(up, clock(), 1000, openai()), 1000).unwrap();
        assert!(
            out.ends_with("data: {\"error\":{\"message\":\"overloaded\"}}\n\n"),
            "{out}"
        );
        assert!(!out.contains("\"id\":3"));
    }

    #[test]
    fn failure_before_first_event_is_an_error_not_a_stream() {
        let e = collect(Relay::new(upstream(vec![]), clock(), 1000, openai()), 1000).unwrap_err();
        assert!(matches!(e, Error::StreamInterrupted { .. }), "{e:?}");
        let e = collect(
            Relay::new(upstream(vec![Err("reset")]), clock(), 1000, openai()),
            1000,
        )
        .unwrap_err();
        assert!(matches!(e, Error::StreamInterrupted { .. }), "{e:?}");
        let up = upstream(vec![Ok(b"data: {\"error\":{\"message\":\"nope\"}}\n\n")]);
        let e = collect(Relay::new(up, clock(), 1000, openai()), 1000).unwrap_err();
        assert!(matches!(e, Error::Upstream { .. }), "{e:?}");
        assert!(e.message().contains("nope"));
    }

    /// An upstream that sends one event, then nothing, forever.
    struct Stalled;
    impl Stream for Stalled {
        type Item = Result<Vec<u8>, TransportError>;
        fn poll_next(
            self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Pending
        }
    }

    #[test]
    fn stalled_stream_times_out_with_error_event() {
        let first = futures::stream::iter(vec![Ok(b"data: {\"id\":1}\n\n".to_vec())]);
        let up: ByteStream = Box::pin(first.chain(Stalled));
        let out = collect(Relay::new(up, clock(), 250, openai()), 1000).unwrap();
        assert!(out.contains("\"code\":\"timeout\""), "{out}");
        assert!(out.contains("250 ms"), "{out}");
    }

    #[test]
    fn silent_upstream_times_out_before_first_event() {
        let up: ByteStream = Box::pin(Stalled);
        let e = collect(Relay::new(up, clock(), 5000, openai()), 300).unwrap_err();
        assert_eq!(e, Error::UpstreamTimeout { after_ms: 300 });
    }

    fn recorded() -> (Rc<std::cell::RefCell<Vec<StreamEnd>>>, OnEnd) {
        let log = Rc::new(std::cell::RefCell::new(Vec::new()));
        let l = log.clone();
        (log, Box::new(move |e| l.borrow_mut().push(e)))
    }

    const USAGE_CHUNK: &[u8] = b"data: {\"id\":1,\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":6}}\n\n";

    fn with_usage() -> ByteStream {
        upstream(vec![
            Ok(b"data: {\"id\":1,\"choices\":[{\"delta\":{}}],\"usage\":null}\n\n"),
            Ok(USAGE_CHUNK),
            Ok(b"data: [DONE]\n\n"),
        ])
    }

    fn run_with_end(relay: Relay) -> (String, Vec<StreamEnd>) {
        let (log, on_end) = recorded();
        let out = block_on(async move {
            let mut relay = relay;
            let first = relay.first_frame(1000).await.unwrap();
            let all: Vec<Vec<u8>> = relay
                .on_end(on_end)
                .into_client_stream(first)
                .collect()
                .await;
            String::from_utf8(all.concat()).unwrap()
        });
        let ends = log.borrow().clone();
        (out, ends)
    }

    #[test]
    fn usage_is_read_and_the_chunk_dropped_unless_asked_for() {
        let (out, ends) =
            run_with_end(Relay::new(with_usage(), clock(), 1000, openai()).keep_usage_chunk(false));
        assert!(!out.contains("prompt_tokens"), "{out}");
        assert!(out.ends_with("data: [DONE]\n\n"));
        assert_eq!(
            ends,
            vec![StreamEnd {
                error: None,
                usage: Some(Usage {
                    prompt_tokens: 4,
                    completion_tokens: 6
                }),
                content_chars: 0,
                abandoned: false,
                continues: false,
            }]
        );
        let (out, _) = run_with_end(Relay::new(with_usage(), clock(), 1000, openai()));
        assert!(out.contains("\"prompt_tokens\":4"), "{out}");
    }

    /// Python's `json.dumps`, LiteLLM's fake endpoint and many OpenAI-compatible servers put
    /// spaces after `:` and `,`.
    #[test]
    fn usage_in_spaced_json_is_read_and_its_chunk_dropped() {
        let up = upstream(vec![
            Ok(b"data: {\"id\": 1, \"choices\": [{\"index\": 0, \"delta\": {\"content\": \"hi\"}, \"finish_reason\": \"stop\"}], \"usage\": null}\n\n"),
            Ok(b"data: {\"id\": 1, \"choices\": [ ], \"usage\": {\"prompt_tokens\": 7, \"completion_tokens\": 2}}\n\n"),
            Ok(b"data: [DONE]\n\n"),
        ]);
        let (out, ends) =
            run_with_end(Relay::new(up, clock(), 1000, openai()).keep_usage_chunk(false));
        assert!(!out.contains("prompt_tokens"), "{out}");
        assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
        assert_eq!(
            ends[0].usage,
            Some(Usage {
                prompt_tokens: 7,
                completion_tokens: 2
            })
        );
        assert_eq!(ends[0].content_chars, 2);
    }

    #[test]
    fn a_finished_stream_without_done_is_complete() {
        let up = upstream(vec![
            Ok(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ab\"},\"finish_reason\":null}]}\n\n"),
            Ok(b"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"),
            Ok(b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n"),
        ]);
        let (out, ends) = run_with_end(Relay::new(up, clock(), 1000, openai()));
        assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
        assert!(!out.contains("stream_interrupted"), "{out}");
        assert_eq!(ends[0].error, None);
        assert_eq!(ends[0].usage.map(|u| u.prompt_tokens), Some(3));
    }

    #[test]
    fn a_stream_ending_before_every_choice_finished_is_an_error() {
        // Choice 1 never finished.
        let up = upstream(vec![
            Ok(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null},{\"index\":1,\"delta\":{\"content\":\"b\"},\"finish_reason\":null}]}\n\n"),
            Ok(b"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"),
        ]);
        let (out, ends) = run_with_end(Relay::new(up, clock(), 1000, openai()));
        assert!(out.contains("stream_interrupted"), "{out}");
        assert!(!out.contains("data: [DONE]"), "{out}");
        assert!(ends[0].error.is_some());
        // No finish at all.
        let up = upstream(vec![Ok(
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n",
        )]);
        let (out, _) = run_with_end(Relay::new(up, clock(), 1000, openai()));
        assert!(out.contains("stream_interrupted"), "{out}");
    }

    #[test]
    fn spaced_in_band_errors_end_the_stream() {
        let up = upstream(vec![
            Ok(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"),
            Ok(b"data: { \"error\" : {\"message\": \"overloaded\"}}\n\n"),
        ]);
        let (out, ends) = run_with_end(Relay::new(up, clock(), 1000, openai()));
        assert!(out.contains("overloaded"), "{out}");
        assert!(ends[0].error.is_some());
        // `"error": null` is not an error.
        let up = upstream(vec![
            Ok(b"data: {\"error\": null, \"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\n"),
            Ok(b"data: [DONE]\n\n"),
        ]);
        let (out, ends) = run_with_end(Relay::new(up, clock(), 1000, openai()));
        assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
        assert_eq!(ends[0].error, None);
    }

    #[test]
    fn on_end_reports_failures_once() {
        let up = upstream(vec![Ok(b"data: {\"id\":1}\n\n"), Err("reset")]);
        let (_, ends) = run_with_end(Relay::new(up, clock(), 1000, openai()));
        assert_eq!(ends.len(), 1);
        assert_eq!(ends[0].error, Some(ErrorClass::InternalServer));
    }

    #[test]
    fn client_going_away_still_reports() {
        let (log, on_end) = recorded();
        block_on(async {
            let mut relay = Relay::new(with_usage(), clock(), 1000, openai());
            let first = relay.first_frame(1000).await.unwrap();
            let mut s = relay.on_end(on_end).into_client_stream(first);
            let _ = s.next().await;
            drop(s);
        });
        assert_eq!(log.borrow().len(), 1);
        assert_eq!(log.borrow()[0].error, None);
    }
}
