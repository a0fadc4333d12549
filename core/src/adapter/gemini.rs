//! Google AI Studio's Gemini API (`models/{model}:generateContent`, and
//! `:streamGenerateContent?alt=sse` for streams; `x-goog-api-key`) <-> OpenAI chat completions:
//! system instructions, multi-turn, images (inline base64 and URLs), tools, tool choice and tool
//! results, stop sequences, sampling, usage, finish reasons, and the stream.

use super::common::{param, push_turn, stop_sequences, unreadable, unsupported_part};
use super::openai_error;
use crate::chat::{self, Image, Message, Part, Role};
use crate::config::Deployment;
use crate::error::Error;
use crate::relay::{Piece, StreamTranslator};
use crate::request::ModelRequest;
use crate::sse::SseEvent;
use serde_json::{json, Map, Value};

/// The path under the API base for this request.
pub fn path(d: &Deployment, stream: bool) -> String {
    if stream {
        format!("/v1beta/models/{}:streamGenerateContent?alt=sse", d.model)
    } else {
        format!("/v1beta/models/{}:generateContent", d.model)
    }
}

/// A message's text and image parts as Gemini parts.
fn parts(m: &Message<'_>, i: usize) -> Result<Vec<Value>, Error> {
    m.parts()
        .enumerate()
        .map(|(j, part)| match part {
            Part::Text(text) => Ok(json!({"text": text})),
            Part::Image(Image::Data { mime, data }) => {
                Ok(json!({"inline_data": {"mime_type": mime, "data": data}}))
            }
            Part::Image(Image::Url(url)) => {
                Ok(json!({"file_data": {"file_uri": url, "mime_type": guess_mime(url)}}))
            }
            Part::Other(_) => Err(unsupported_part(
                i,
                j,
                "Gemini deployments take `text` and `image_url` parts",
            )),
        })
        .collect()
}

fn guess_mime(url: &str) -> &'static str {
    let u = url.to_ascii_lowercase();
    if u.ends_with(".png") {
        "image/png"
    } else if u.ends_with(".webp") {
        "image/webp"
    } else if u.ends_with(".gif") {
        "image/gif"
    } else {
        "image/jpeg"
    }
}

pub fn request_body(d: &Deployment, req: &ModelRequest) -> Result<Vec<u8>, Error> {
    let get = |k: &str| param(d, req, k);
    let mut system = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    // Tool results name the function, not the call id: remember which call was which.
    let mut call_names: Vec<(&str, &str)> = Vec::new();
    for (i, m) in chat::messages(&req.body).enumerate() {
        match m.role {
            Role::System => system.extend(parts(&m, i)?),
            Role::Assistant => {
                let mut p = parts(&m, i)?;
                for call in m.tool_calls() {
                    call_names.push((call.id, call.name));
                    p.push(json!({"functionCall": {"name": call.name, "args": call.input()}}));
                }
                push_turn(&mut contents, "model", "parts", p);
            }
            Role::Tool => {
                let id = m.tool_call_id().unwrap_or("");
                let name = call_names
                    .iter()
                    .find(|(c, _)| *c == id)
                    .map(|(_, n)| *n)
                    .or(m.name())
                    .unwrap_or("");
                push_turn(
                    &mut contents,
                    "user",
                    "parts",
                    vec![
                        json!({"functionResponse": {"name": name, "response": {"content": m.text()}}}),
                    ],
                );
            }
            Role::User => push_turn(&mut contents, "user", "parts", parts(&m, i)?),
        }
    }
    let mut out = Map::new();
    out.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({"parts": system}));
    }
    let mut gen = Map::new();
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("n", "candidateCount"),
    ] {
        if let Some(v) = get(from) {
            gen.insert(to.into(), v.clone());
        }
    }
    if let Some(v) = get("max_tokens").or_else(|| get("max_completion_tokens")) {
        gen.insert("maxOutputTokens".into(), v.clone());
    }
    if let Some(stop) = stop_sequences(get("stop")) {
        gen.insert("stopSequences".into(), stop);
    }
    if get("response_format")
        .and_then(|f| f.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|t| t != "text")
    {
        gen.insert("responseMimeType".into(), json!("application/json"));
    }
    if !gen.is_empty() {
        out.insert("generationConfig".into(), Value::Object(gen));
    }
    if let Some(Value::Array(tools)) = get("tools") {
        let decls: Vec<Value> = tools
            .iter()
            .filter_map(|t| t.get("function"))
            .map(|f| {
                let mut decl = json!({"name": f.get("name").cloned().unwrap_or(json!("")),
                                      "description": f.get("description").cloned().unwrap_or(json!(""))});
                if let Some(p) = f.get("parameters") {
                    decl["parameters"] = p.clone();
                }
                decl
            })
            .collect();
        out.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    }
    if let Some(choice) = get("tool_choice") {
        let config = match choice {
            Value::String(s) if s == "required" => json!({"mode": "ANY"}),
            Value::String(s) if s == "none" => json!({"mode": "NONE"}),
            Value::Object(_) => match choice.pointer("/function/name") {
                Some(n) => json!({"mode": "ANY", "allowedFunctionNames": [n]}),
                None => json!({"mode": "AUTO"}),
            },
            _ => json!({"mode": "AUTO"}),
        };
        out.insert(
            "toolConfig".into(),
            json!({"functionCallingConfig": config}),
        );
    }
    serde_json::to_vec(&Value::Object(out)).map_err(|e| Error::Internal {
        message: format!("could not write the Gemini request: {e}"),
    })
}

fn finish_reason(reason: Option<&str>, has_calls: bool) -> Option<&'static str> {
    if has_calls {
        return Some("tool_calls");
    }
    Some(match reason? {
        "STOP" => "stop",
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            "content_filter"
        }
        _ => "stop",
    })
}

/// Text and tool calls of one candidate.
fn candidate_message(c: &Value, calls_so_far: usize) -> (String, Vec<Value>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for p in c
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = p.get("text").and_then(Value::as_str) {
            text.push_str(t);
        }
        if let Some(f) = p.get("functionCall") {
            let n = calls_so_far + calls.len();
            calls.push(json!({
                "index": n,
                "id": format!("call_{n}"),
                "type": "function",
                "function": {"name": f.get("name").cloned().unwrap_or(json!("")),
                             "arguments": f.get("args").map(Value::to_string).unwrap_or_else(|| "{}".into())},
            }));
        }
    }
    (text, calls)
}

fn usage(v: &Value) -> Option<Value> {
    let u = v.get("usageMetadata")?;
    let p = u
        .get("promptTokenCount")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let c = u
        .get("candidatesTokenCount")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Some(json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}))
}

pub fn response(body: &[u8], requested_model: &str) -> Result<Vec<u8>, Error> {
    let v: Value = serde_json::from_slice(body).map_err(|e| unreadable("Gemini", e))?;
    let choices: Vec<Value> = v
        .get("candidates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| {
            let (text, mut calls) = candidate_message(c, 0);
            for call in &mut calls {
                if let Some(o) = call.as_object_mut() {
                    o.remove("index");
                }
            }
            let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
            if !calls.is_empty() {
                message["tool_calls"] = Value::Array(calls.clone());
            }
            json!({"index": c.get("index").cloned().unwrap_or(json!(i)), "message": message,
                   "finish_reason": finish_reason(c.get("finishReason").and_then(Value::as_str), !calls.is_empty())})
        })
        .collect();
    let out = json!({
        "id": v.get("responseId").cloned().unwrap_or(json!("gemini")),
        "object": "chat.completion",
        "created": 0,
        "model": v.get("modelVersion").cloned().unwrap_or(json!(requested_model)),
        "choices": choices,
        "usage": usage(&v).unwrap_or(json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})),
    });
    Ok(out.to_string().into_bytes())
}

/// Google's `{"error":{"code","message","status"}}` as an OpenAI error.
pub fn error_body(status: u16, body: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = v
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("Gemini error {status}: {}", String::from_utf8_lossy(body)));
    let kind = match v
        .pointer("/error/status")
        .and_then(Value::as_str)
        .unwrap_or("")
    {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => "invalid_request_error",
        "UNAUTHENTICATED" => "authentication_error",
        "PERMISSION_DENIED" => "permission_error",
        "NOT_FOUND" => "not_found_error",
        "RESOURCE_EXHAUSTED" => "rate_limit_error",
        _ => "server_error",
    };
    let lower = message.to_ascii_lowercase();
    let code = (lower.contains("exceeds the maximum number of tokens")
        || lower.contains("input token count"))
    .then_some("context_length_exceeded");
    openai_error(&message, kind, code).to_string().into_bytes()
}

/// Gemini's stream (each event a partial `GenerateContentResponse`) -> OpenAI chunks. The
/// stream has no end marker: it is complete when an event carried a finish reason.
pub struct GeminiStream {
    model: String,
    started: bool,
    finished: bool,
    calls: usize,
    usage: Option<Value>,
}

impl GeminiStream {
    pub fn new(model: &str) -> Self {
        GeminiStream {
            model: model.to_string(),
            started: false,
            finished: false,
            calls: 0,
            usage: None,
        }
    }

    fn chunk(&self, choices: Value) -> Piece {
        Piece::Data(
            json!({"id": "gemini", "object": "chat.completion.chunk", "created": 0, "model": self.model, "choices": choices})
                .to_string()
                .into_bytes(),
        )
    }
}

impl StreamTranslator for GeminiStream {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<Piece>) {
        let Ok(v) = serde_json::from_slice::<Value>(&ev.data) else {
            return;
        };
        if v.get("error").is_some() {
            out.push(Piece::Error(error_body(500, &ev.data)));
            return;
        }
        if let Some(m) = v.get("modelVersion").and_then(Value::as_str) {
            self.model = m.to_string();
        }
        if let Some(u) = usage(&v) {
            self.usage = Some(u);
        }
        for c in v
            .get("candidates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (text, calls) = candidate_message(c, self.calls);
            self.calls += calls.len();
            let mut delta = Map::new();
            if !self.started {
                delta.insert("role".into(), json!("assistant"));
                self.started = true;
            }
            if !text.is_empty() {
                delta.insert("content".into(), json!(text));
            }
            if !calls.is_empty() {
                delta.insert("tool_calls".into(), Value::Array(calls));
            }
            let finish = finish_reason(
                c.get("finishReason").and_then(Value::as_str),
                self.calls > 0 && c.get("finishReason").is_some(),
            );
            if !delta.is_empty() {
                out.push(self.chunk(json!([{"index": 0, "delta": delta, "finish_reason": null}])));
            }
            if let Some(f) = finish {
                out.push(self.chunk(json!([{"index": 0, "delta": {}, "finish_reason": f}])));
                self.finished = true;
            }
        }
    }

    fn end(&mut self, out: &mut Vec<Piece>) {
        if !self.finished {
            return; // cut: the relay reports it
        }
        if let Some(u) = self.usage.take() {
            let mut last = json!({"id": "gemini", "object": "chat.completion.chunk", "created": 0, "model": self.model, "choices": []});
            last["usage"] = u;
            out.push(Piece::Data(last.to_string().into_bytes()));
        }
        out.push(Piece::Done);
    }
}

/// The OpenAI parameters Gemini's request takes (on AI Studio and on Vertex AI).
pub(super) const TAKES: &[&str] = &[
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "stop",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
    "response_format",
];

/// The class of a Google error, with the words Gemini uses for an over-long prompt and for a
/// safety refusal.
pub(super) fn error_class(status: u16, body: &[u8]) -> crate::error::ErrorClass {
    super::common::classify(
        status,
        body,
        &[
            "exceeds the maximum number of tokens",
            "context window",
            "too many tokens",
        ],
        &["safety"],
    )
}

/// Google AI Studio's Gemini API.
pub struct Gemini;

impl super::Adapter for Gemini {
    fn request(
        &self,
        d: &Deployment,
        req: &ModelRequest,
        _now_ms: f64,
        headers: &mut Vec<(&'static str, String)>,
    ) -> Result<(String, Vec<u8>), Error> {
        if let Some(key) = &d.api_key {
            headers.push(("x-goog-api-key", key.clone()));
        }
        Ok((
            crate::provider::endpoint_url(&d.api_base, &path(d, req.stream)),
            request_body(d, req)?,
        ))
    }

    fn error_class(&self, status: u16, body: &[u8]) -> crate::error::ErrorClass {
        error_class(status, body)
    }

    fn takes(&self) -> Option<&'static [&'static str]> {
        Some(TAKES)
    }

    translated_answers!(GeminiStream);
}
