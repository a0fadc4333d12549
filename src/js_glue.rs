//! The few JavaScript helpers the platform layer calls. Each does in one call what would
//! otherwise take a wasm↔JS crossing per header, per property or per object: on a request that
//! costs ~1 ms of CPU in total, those crossings were a large share of it (see README,
//! Performance). Header lists travel as one string, `name\nvalue\n...` (HTTP forbids line
//! breaks in names and values, and `Headers` refuses them).

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use worker::web_sys::{AbortSignal, Headers, ReadableStream, Request, Response};

#[wasm_bindgen(inline_js = r#"
export function headers_text(h) {
  let s = "";
  for (const [k, v] of h) s += k + "\n" + v + "\n";
  return s;
}
export function headers_from(text) {
  const h = new Headers();
  const p = text.split("\n");
  for (let i = 0; i + 1 < p.length; i += 2) h.append(p[i], p[i + 1]);
  return h;
}
let keptText = null;
let keptNames = [];
export async function upstream_call(url, method, headers, body, signal, stream, kept) {
  const r = await fetch(url, { method, headers: headers_from(headers), body: body.length ? body.slice() : undefined, signal });
  if (kept !== keptText) {
    // The same list on every call: split it once.
    keptText = kept;
    keptNames = kept.split("\n");
  }
  let h = "";
  for (const name of keptNames) {
    const v = r.headers.get(name);
    if (v !== null) h += name + "\n" + v + "\n";
  }
  if (stream && r.ok && r.body) return [r.status, h, r.body.getReader()];
  return [r.status, h, new Uint8Array(await r.arrayBuffer())];
}
export async function body_bytes(r) {
  return new Uint8Array(await r.arrayBuffer());
}
export function reader_of(stream) {
  return stream.getReader();
}
export async function read_chunk(reader) {
  const r = await reader.read();
  return r.done ? undefined : r.value;
}
export function response_of(status, headers, body) {
  return new Response(body.length ? body.slice() : null, { status, headers: headers_from(headers) });
}
"#)]
extern "C" {
    /// All headers as `name\nvalue\n...`.
    pub fn headers_text(h: &Headers) -> String;
    pub fn headers_from(text: &str) -> Headers;
    /// `fetch` with a copy of `body` (none when empty), then in the same promise the answer as
    /// `[status, kept headers as text, body]`: the body is a stream reader when `stream` is
    /// asked and the status is 2xx, else the whole body as a `Uint8Array`. `kept` names the
    /// headers to return, one per line. One awaited promise per call instead of three, and no
    /// crossing per header.
    #[wasm_bindgen(catch)]
    pub fn upstream_call(
        url: &str,
        method: &str,
        headers: &str,
        body: &[u8],
        signal: &AbortSignal,
        stream: bool,
        kept: &str,
    ) -> Result<Promise, JsValue>;
    /// A `Request`'s whole body, as a `Uint8Array`.
    #[wasm_bindgen(js_name = body_bytes)]
    pub fn request_bytes(r: &Request) -> Promise;
    pub fn reader_of(stream: &ReadableStream) -> JsValue;
    /// The next chunk (`Uint8Array`), or `undefined` at the end.
    pub fn read_chunk(reader: &JsValue) -> Promise;
    #[wasm_bindgen(catch)]
    pub fn response_of(status: u16, headers: &str, body: &[u8]) -> Result<Response, JsValue>;
}

/// `name\nvalue\n...` for these pairs.
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

/// Reads a JS value that is a `Uint8Array` into wasm memory.
pub fn bytes_of(v: JsValue) -> Vec<u8> {
    Uint8Array::unchecked_from_js(v).to_vec()
}

/// A message for a JS exception.
pub fn js_message(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| {
            js_sys::Reflect::get(e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| format!("{e:?}"))
}
