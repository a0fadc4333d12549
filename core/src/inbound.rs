//! Client protocols other than Chat Completions, translated to and from the one internal
//! representation the router and every provider adapter speak (an OpenAI chat request, its
//! answer and its chunks). Pure mappers: no I/O.

pub mod messages;
pub mod responses;
pub mod responses_stream;

use crate::error::Error;
use crate::sse::{SseDecoder, SseEvent};
use serde_json::{Map, Value};

/// A request body that must be a JSON object, parsed (strictly, as every request body is).
pub fn parse(body: &[u8]) -> Result<Map<String, Value>, Error> {
    let v: Value = crate::strict_json::from_slice(body).map_err(|e| Error::InvalidRequest {
        message: format!("We could not parse the JSON body of your request: {e}"),
        param: None,
        code: Some("invalid_json"),
    })?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(Error::invalid(
            "The request body must be a JSON object.",
            None,
        )),
    }
}

/// A 400 naming the field at fault.
fn field(name: &str, what: &str) -> Error {
    Error::invalid(format!("{name}: {what}"), Some(name.to_string()))
}

/// One named server-sent event.
fn sse_event(out: &mut Vec<u8>, name: &str, data: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// A translator of a chat stream into another protocol's events. Each says what a chunk
/// becomes, what `[DONE]` closes and how a broken stream ends; reading the chunks and ending
/// the stream are the same for all.
trait ChunkEvents {
    fn decoder(&mut self) -> &mut SseDecoder;
    /// Its last event went out.
    fn ended(&self) -> bool;
    /// The chat stream said it was finished (a `finish_reason`).
    fn finished(&self) -> bool;
    fn chunk(&mut self, chunk: &Value, out: &mut Vec<u8>);
    /// The events that close a complete stream.
    fn complete(&mut self, out: &mut Vec<u8>);
    /// The events that end a broken one.
    fn broken(&mut self, message: &str, out: &mut Vec<u8>);

    /// The events for these bytes of the chat stream.
    fn events(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let chunks = chat_chunks(self.decoder(), bytes);
        for chunk in chunks {
            if self.ended() {
                break;
            }
            match chunk {
                Some(c) => self.chunk(&c, &mut out),
                None => self.complete(&mut out),
            }
        }
        out
    }

    /// The stream ended without `[DONE]` or an error: the events that close it if it was
    /// complete (a provider that sends no `[DONE]`), else those of a broken stream.
    fn last_events(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.ended() {
            if self.finished() {
                self.complete(&mut out);
            } else {
                self.broken("The stream ended before it was complete.", &mut out);
            }
        }
        out
    }
}

/// The chat chunks these bytes of a chat stream complete, parsed (`None`: `[DONE]`; a chunk
/// that is not JSON is skipped: the relay already ended such a stream with an error).
fn chat_chunks(decoder: &mut SseDecoder, bytes: &[u8]) -> Vec<Option<Value>> {
    let mut events: Vec<SseEvent> = Vec::new();
    decoder.push(bytes, &mut events);
    events
        .into_iter()
        .filter_map(|ev| match ev.data.as_slice() {
            b"[DONE]" => Some(None),
            data => serde_json::from_slice::<Value>(data).ok().map(Some),
        })
        .collect()
}
