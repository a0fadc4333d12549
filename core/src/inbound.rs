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
