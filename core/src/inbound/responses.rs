//! OpenAI's Responses API (`POST /v1/responses`) in front of any provider: its request (with
//! the conversation a stored response left) as a chat request, a chat answer as its response
//! object. The event stream is in `responses_stream.rs`. Pure mappers, no I/O.

use super::field;
use crate::error::Error;
use serde_json::{json, Map, Value};

/// A Responses request made a chat request.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    /// The chat request body (with `model`).
    pub chat: Map<String, Value>,
    /// This request's input as items, each with an id (`input_items` lists them).
    pub input_items: Vec<Value>,
    /// The conversation so far as chat messages, without `instructions` (which a
    /// `previous_response_id` does not carry over): the stored one, then this input.
    pub conversation: Vec<Value>,
}

/// The ids of one response and its items, derived from the call's id.
#[derive(Debug, Clone, PartialEq)]
pub struct Ids {
    base: String,
}

impl Ids {
    pub fn new(call_id: &str) -> Self {
        Ids {
            base: call_id.to_string(),
        }
    }
    pub fn response(&self) -> String {
        format!("resp_{}", self.base)
    }
    /// The id of the `n`th output item.
    pub fn output(&self, kind: &str, n: usize) -> String {
        format!("{kind}_{}{n:02}", self.base)
    }
    /// The id of the `n`th input item that came without one.
    pub fn input(&self, n: usize) -> String {
        format!("msg_{}in{n:02}", self.base)
    }
}

/// The request fields a Responses request may hold (with [`ROUTER_FIELDS`]); any other is
/// refused by name (as OpenAI does), so a typo does not pass silently.
const FIELDS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "text",
    "max_output_tokens",
    "temperature",
    "top_p",
    "reasoning",
    "metadata",
    "stream",
    "stream_options",
    "store",
    "previous_response_id",
    "parallel_tool_calls",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "service_tier",
    "truncation",
    "include",
    "top_logprobs",
    "max_tool_calls",
    "background",
    "conversation",
    "prompt",
];

/// Of [`FIELDS`], those passed to the chat request as they are.
const PASSED: &[&str] = &[
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "service_tier",
    "top_logprobs",
];

/// The router's own (LiteLLM's) request fields, passed on to routing as in a chat request.
const ROUTER_FIELDS: &[&str] = &[
    "fallbacks",
    "num_retries",
    "timeout",
    "tags",
    "mock_response",
    "caching",
    "cache",
    "no-cache",
    "drop_params",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "disable_fallbacks",
];

/// The chat request for a parsed Responses request, after `history` (the chat messages of the
/// response it continues).
pub fn to_chat(
    m: &Map<String, Value>,
    history: Vec<Value>,
    ids: &Ids,
) -> Result<Translated, Error> {
    let known = |k: &str| FIELDS.contains(&k) || ROUTER_FIELDS.contains(&k);
    if let Some(unknown) = m.keys().find(|k| !known(k)) {
        return Err(field(unknown, "Unknown parameter"));
    }
    for unserved in ["background", "conversation", "prompt"] {
        if m.get(unserved)
            .is_some_and(|v| !v.is_null() && v != &Value::Bool(false))
        {
            return Err(field(
                unserved,
                "is not served by this router (stored prompts, conversations and background runs are OpenAI-hosted)",
            ));
        }
    }
    let model = match m.get("model") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(_) => return Err(field("model", "must be a non-empty string")),
        None => return Err(field("model", "Missing required parameter")),
    };
    let (input_items, new_messages) = input(m.get("input"), ids, false)?;
    let mut conversation = history;
    conversation.extend(new_messages);
    let mut messages = Vec::with_capacity(conversation.len() + 1);
    match m.get("instructions") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => messages.push(json!({"role": "system", "content": s})),
        Some(_) => return Err(field("instructions", "must be a string")),
    }
    messages.extend(conversation.iter().cloned());
    if messages.is_empty() {
        return Err(field("input", "Missing required parameter"));
    }
    let mut chat = Map::new();
    chat.insert("model".into(), Value::String(model));
    chat.insert("messages".into(), Value::Array(messages));
    for key in PASSED.iter().chain(ROUTER_FIELDS) {
        if let Some(v) = m.get(*key).filter(|v| !v.is_null()) {
            chat.insert((*key).to_string(), v.clone());
        }
    }
    if let Some(n) = m.get("max_output_tokens").filter(|v| !v.is_null()) {
        if n.as_u64().unwrap_or(0) == 0 {
            return Err(field("max_output_tokens", "must be a whole number > 0"));
        }
        chat.insert("max_completion_tokens".into(), n.clone());
    }
    if let Some(user) = m
        .get("user")
        .or_else(|| m.get("safety_identifier"))
        .filter(|v| !v.is_null())
    {
        chat.insert("user".into(), user.clone());
    }
    if let Some(Value::Object(meta)) = m.get("metadata") {
        // Routing metadata (LiteLLM's `metadata` field) and the response's own are one field.
        chat.insert("metadata".into(), Value::Object(meta.clone()));
    }
    if let Some(effort) = m
        .get("reasoning")
        .and_then(|r| r.get("effort"))
        .filter(|v| !v.is_null())
    {
        chat.insert("reasoning_effort".into(), effort.clone());
    }
    if let Some(tools) = m.get("tools").filter(|v| !v.is_null()) {
        let Value::Array(tools) = tools else {
            return Err(field("tools", "must be a list"));
        };
        if !tools.is_empty() {
            let tools: Result<Vec<Value>, Error> =
                tools.iter().enumerate().map(|(i, t)| tool(t, i)).collect();
            chat.insert("tools".into(), Value::Array(tools?));
        }
    }
    if let Some(choice) = m.get("tool_choice").filter(|v| !v.is_null()) {
        chat.insert("tool_choice".into(), tool_choice(choice)?);
    }
    if let Some(format) = m
        .get("text")
        .and_then(|t| t.get("format"))
        .filter(|v| !v.is_null())
    {
        if let Some(rf) = response_format(format)? {
            chat.insert("response_format".into(), rf);
        }
    }
    if m.get("stream").and_then(Value::as_bool) == Some(true) {
        chat.insert("stream".into(), Value::Bool(true));
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(Translated {
        chat,
        input_items,
        conversation,
    })
}

/// A passed-through request's input as items with ids and as chat messages (for the history a
/// translated request may continue from). Items chat has no words for (a hosted tool's call)
/// are listed but make no message.
pub fn native_input(m: &Map<String, Value>, ids: &Ids) -> Result<(Vec<Value>, Vec<Value>), Error> {
    input(m.get("input"), ids, true)
}

/// `input` (a string or a list of items) as items with ids and as chat messages; `lenient`:
/// an item of a kind chat cannot hold is kept out of the messages instead of refused.
fn input(
    input: Option<&Value>,
    ids: &Ids,
    lenient: bool,
) -> Result<(Vec<Value>, Vec<Value>), Error> {
    let items = match input {
        None | Some(Value::Null) => return Ok((Vec::new(), Vec::new())),
        Some(Value::String(s)) => {
            let item = json!({"id": ids.input(0), "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": s}]});
            return Ok((vec![item], vec![json!({"role": "user", "content": s})]));
        }
        Some(Value::Array(items)) => items,
        Some(_) => return Err(field("input", "must be a string or a list of items")),
    };
    let mut listed = Vec::with_capacity(items.len());
    let mut messages: Vec<Value> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("input[{i}]");
        let Value::Object(item) = item else {
            return Err(field(&at, "must be an object"));
        };
        let kind = item.get("type").and_then(Value::as_str);
        let mut listed_item = item.clone();
        match kind {
            None | Some("message") => {
                let (role, content) = message(item, &at)?;
                listed_item.insert("type".into(), Value::from("message"));
                listed_item.insert("content".into(), listed_content(&role, item));
                messages.push(json!({"role": role, "content": content}));
            }
            Some("function_call") => {
                let call_id = string(item, "call_id", &at)?;
                let name = string(item, "name", &at)?;
                let arguments = item.get("arguments").and_then(Value::as_str).unwrap_or("{}");
                let call = json!({"id": call_id, "type": "function",
                    "function": {"name": name, "arguments": arguments}});
                // Calls right after an assistant turn (or each other) belong to that turn.
                match messages.last_mut() {
                    Some(Value::Object(last)) if last["role"] == "assistant" => {
                        let calls = last.entry("tool_calls").or_insert_with(|| json!([]));
                        if let Value::Array(calls) = calls {
                            calls.push(call);
                        }
                    }
                    _ => messages.push(
                        json!({"role": "assistant", "content": null, "tool_calls": [call]}),
                    ),
                }
            }
            Some("function_call_output") => {
                let call_id = string(item, "call_id", &at)?;
                let output = match item.get("output") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Array(parts)) => parts
                        .iter()
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    _ => return Err(field(&format!("{at}.output"), "must be a string")),
                };
                messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
            }
            // The model's own reasoning is not sent on to other providers.
            Some("reasoning") => {}
            Some(_) if lenient => {}
            Some(other) => {
                return Err(field(
                    &format!("{at}.type"),
                    &format!("`{other}` items are not served by this router (messages, function_call and function_call_output are)"),
                ))
            }
        }
        if !listed_item.contains_key("id") {
            listed_item.insert("id".into(), Value::from(ids.input(i)));
        }
        listed.push(Value::Object(listed_item));
    }
    Ok((listed, messages))
}

fn string<'a>(item: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a str, Error> {
    item.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| field(&format!("{at}.{key}"), "Missing required parameter"))
}

/// A message item's chat role and content.
fn message(item: &Map<String, Value>, at: &str) -> Result<(String, Value), Error> {
    let role = match item.get("role").and_then(Value::as_str) {
        Some(r @ ("user" | "assistant" | "system")) => r,
        // Chat's `developer` role is OpenAI's alone; other providers take `system`.
        Some("developer") => "system",
        _ => {
            return Err(field(
                &format!("{at}.role"),
                "must be user, assistant, system or developer",
            ))
        }
    };
    let parts = match item.get("content") {
        Some(Value::String(s)) => return Ok((role.into(), Value::from(s.as_str()))),
        Some(Value::Array(parts)) => parts,
        _ => {
            return Err(field(
                &format!("{at}.content"),
                "must be a string or a list of content parts",
            ))
        }
    };
    let mut out: Vec<Value> = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let here = format!("{at}.content[{j}]");
        let text = |key: &str| p.get(key).and_then(Value::as_str).unwrap_or("").to_string();
        match p.get("type").and_then(Value::as_str) {
            Some("input_text" | "output_text" | "text") => {
                out.push(json!({"type": "text", "text": text("text")}))
            }
            Some("refusal") => out.push(json!({"type": "text", "text": text("refusal")})),
            Some("input_image") => out.push(inline_part(
                p,
                &here,
                ("image_url", "url", "detail"),
                "image_url",
                "an image must come as a URL or data URL (file ids are OpenAI-hosted)",
            )?),
            Some("input_file") => out.push(inline_part(
                p,
                &here,
                ("file_data", "file_data", "filename"),
                "file",
                "a file must come as file_data (file ids are OpenAI-hosted)",
            )?),
            Some("input_audio") => {
                out.push(json!({"type": "input_audio", "input_audio": p.get("input_audio").cloned().unwrap_or(Value::Null)}))
            }
            other => {
                return Err(field(
                    &format!("{here}.type"),
                    &format!("unknown content part `{}`", other.unwrap_or("")),
                ))
            }
        }
    }
    // Text alone is sent as a string: every provider takes that.
    if out.iter().all(|p| p["type"] == "text") {
        let text: Vec<&str> = out.iter().filter_map(|p| p["text"].as_str()).collect();
        return Ok((role.into(), Value::from(text.join(""))));
    }
    Ok((role.into(), Value::Array(out)))
}

/// An image or file part given inline, as chat's part `kind`: the field `from` (required, as
/// `to`) and the optional one `extra`.
fn inline_part(
    p: &Value,
    at: &str,
    (from, to, extra): (&str, &str, &str),
    kind: &str,
    why: &str,
) -> Result<Value, Error> {
    let Some(value) = p.get(from).and_then(Value::as_str) else {
        return Err(field(&format!("{at}.{from}"), why));
    };
    let mut inner = Map::new();
    inner.insert(to.into(), Value::from(value));
    if let Some(v) = p.get(extra).filter(|v| !v.is_null()) {
        inner.insert(extra.into(), v.clone());
    }
    Ok(json!({"type": kind, kind: inner}))
}

/// A message item's content as `input_items` lists it: always parts.
fn listed_content(role: &str, item: &Map<String, Value>) -> Value {
    match item.get("content") {
        Some(Value::String(s)) => {
            let kind = if role == "assistant" {
                "output_text"
            } else {
                "input_text"
            };
            json!([{"type": kind, "text": s}])
        }
        Some(other) => other.clone(),
        None => json!([]),
    }
}

/// A Responses tool as a chat tool: function tools only (built-in tools run at OpenAI).
fn tool(t: &Value, i: usize) -> Result<Value, Error> {
    let at = format!("tools[{i}]");
    match t.get("type").and_then(Value::as_str) {
        Some("function") => {}
        Some(other) => {
            return Err(field(
                &format!("{at}.type"),
                &format!("`{other}` is a tool OpenAI runs; this router serves function tools"),
            ))
        }
        None => return Err(field(&format!("{at}.type"), "Missing required parameter")),
    }
    let name = t
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| field(&format!("{at}.name"), "Missing required parameter"))?;
    let mut f = Map::new();
    f.insert("name".into(), Value::from(name));
    for key in ["description", "parameters", "strict"] {
        if let Some(v) = t.get(key).filter(|v| !v.is_null()) {
            f.insert(key.into(), v.clone());
        }
    }
    Ok(json!({"type": "function", "function": f}))
}

fn tool_choice(c: &Value) -> Result<Value, Error> {
    match c {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => Ok(c.clone()),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = o.get("name").and_then(Value::as_str).unwrap_or("");
            Ok(json!({"type": "function", "function": {"name": name}}))
        }
        _ => Err(field(
            "tool_choice",
            "must be auto, none, required or {\"type\":\"function\",\"name\":...}",
        )),
    }
}

/// `text.format` as chat's `response_format` (`None`: plain text).
fn response_format(f: &Value) -> Result<Option<Value>, Error> {
    match f.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = Map::new();
            let name = f.get("name").and_then(Value::as_str).unwrap_or("response");
            schema.insert("name".into(), Value::from(name));
            for key in ["schema", "strict", "description"] {
                if let Some(v) = f.get(key).filter(|v| !v.is_null()) {
                    schema.insert(key.into(), v.clone());
                }
            }
            if !schema.contains_key("schema") {
                return Err(field("text.format.schema", "Missing required parameter"));
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        _ => Err(field(
            "text.format.type",
            "must be text, json_object or json_schema",
        )),
    }
}

/// The response object before any output: the request's settings echoed as OpenAI echoes
/// them, status `in_progress`.
pub fn shell(m: &Map<String, Value>, ids: &Ids, created_at: u64) -> Map<String, Value> {
    let get = |k: &str, default: Value| {
        m.get(k)
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or(default)
    };
    let text = match m.get("text") {
        Some(Value::Object(t)) if t.contains_key("format") => Value::Object(t.clone()),
        _ => json!({"format": {"type": "text"}}),
    };
    let reasoning = match m.get("reasoning") {
        Some(Value::Object(r)) => json!({"effort": r.get("effort").cloned().unwrap_or(Value::Null),
            "summary": r.get("summary").cloned().unwrap_or(Value::Null)}),
        _ => json!({"effort": null, "summary": null}),
    };
    let mut r = Map::new();
    for (k, v) in [
        ("id", Value::from(ids.response())),
        ("object", Value::from("response")),
        ("created_at", Value::from(created_at)),
        ("status", Value::from("in_progress")),
        ("background", Value::Bool(false)),
        ("error", Value::Null),
        ("incomplete_details", Value::Null),
        ("instructions", get("instructions", Value::Null)),
        ("max_output_tokens", get("max_output_tokens", Value::Null)),
        ("model", get("model", Value::Null)),
        ("output", json!([])),
        (
            "parallel_tool_calls",
            get("parallel_tool_calls", Value::Bool(true)),
        ),
        (
            "previous_response_id",
            get("previous_response_id", Value::Null),
        ),
        ("reasoning", reasoning),
        ("service_tier", get("service_tier", Value::from("default"))),
        ("store", get("store", Value::Bool(true))),
        ("temperature", get("temperature", json!(1.0))),
        ("text", text),
        ("tool_choice", get("tool_choice", Value::from("auto"))),
        ("tools", get("tools", json!([]))),
        ("top_p", get("top_p", json!(1.0))),
        ("truncation", get("truncation", Value::from("disabled"))),
        ("usage", Value::Null),
        ("user", get("user", Value::Null)),
        ("metadata", get("metadata", json!({}))),
    ] {
        r.insert(k.into(), v);
    }
    r
}

/// The status a chat `finish_reason` gives a response, and why it is incomplete.
pub fn status(finish: Option<&str>) -> (&'static str, Value) {
    match finish {
        Some("length") => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some("content_filter") => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// A chat `usage` in the Responses shape.
pub fn usage(u: &Value) -> Value {
    let n = |p: &str| u.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let (input, output) = (n("/prompt_tokens"), n("/completion_tokens"));
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": n("/prompt_tokens_details/cached_tokens")},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": n("/completion_tokens_details/reasoning_tokens")},
        "total_tokens": u.get("total_tokens").and_then(Value::as_u64).unwrap_or(input + output),
    })
}

/// A finished message item holding `text`.
pub fn message_item(id: String, text: &str) -> Value {
    json!({"id": id, "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
}

/// A finished function call item.
pub fn call_item(id: String, call_id: &str, name: &str, arguments: &str) -> Value {
    json!({"id": id, "type": "function_call", "status": "completed", "call_id": call_id,
        "name": name, "arguments": arguments})
}

/// The finished response for a complete chat answer.
pub fn from_chat(mut shell: Map<String, Value>, answer: &[u8], ids: &Ids) -> Result<Value, Error> {
    let v: Value = serde_json::from_slice(answer)
        .map_err(|e| crate::adapter::common::unreadable("The upstream", e))?;
    let choice = &v["choices"][0];
    let msg = &choice["message"];
    let mut output: Vec<Value> = Vec::new();
    let text = msg["content"].as_str().unwrap_or("");
    let calls = msg["tool_calls"].as_array().map_or(&[][..], Vec::as_slice);
    if let Some(refusal) = msg["refusal"].as_str().filter(|r| !r.is_empty()) {
        output.push(
            json!({"id": ids.output("msg", 0), "type": "message", "status": "completed",
            "role": "assistant", "content": [{"type": "refusal", "refusal": refusal}]}),
        );
    } else if !text.is_empty() || calls.is_empty() {
        output.push(message_item(ids.output("msg", 0), text));
    }
    for (i, call) in calls.iter().enumerate() {
        let f = &call["function"];
        output.push(call_item(
            ids.output("fc", i + 1),
            call["id"].as_str().unwrap_or(""),
            f["name"].as_str().unwrap_or(""),
            f["arguments"].as_str().unwrap_or("{}"),
        ));
    }
    let (status, incomplete) = status(choice["finish_reason"].as_str());
    shell.insert("status".into(), Value::from(status));
    shell.insert("incomplete_details".into(), incomplete);
    if let Some(model) = v["model"].as_str() {
        shell.insert("model".into(), Value::from(model));
    }
    shell.insert("output".into(), Value::Array(output));
    shell.insert("usage".into(), usage(&v["usage"]));
    Ok(Value::Object(shell))
}

/// A chat conversation as Responses input items: the history a passed-through request is
/// sent when it continues a response the router made by translation.
pub fn items_from_chat(conversation: &[Value]) -> Vec<Value> {
    let mut items = Vec::with_capacity(conversation.len());
    for m in conversation {
        let role = m["role"].as_str().unwrap_or("user");
        match role {
            "tool" => items.push(json!({"type": "function_call_output",
                "call_id": m["tool_call_id"], "output": m["content"].as_str().unwrap_or("")})),
            "assistant" => {
                if let Some(text) = m["content"].as_str().filter(|t| !t.is_empty()) {
                    items.push(json!({"type": "message", "role": "assistant",
                        "content": [{"type": "output_text", "text": text}]}));
                }
                for call in m["tool_calls"].as_array().into_iter().flatten() {
                    items.push(json!({"type": "function_call", "call_id": call["id"],
                        "name": call["function"]["name"], "arguments": call["function"]["arguments"]}));
                }
            }
            _ => {
                let parts: Vec<Value> = match &m["content"] {
                    Value::String(s) => vec![json!({"type": "input_text", "text": s})],
                    Value::Array(parts) => parts
                        .iter()
                        .map(|p| match p["type"].as_str() {
                            Some("image_url") => json!({"type": "input_image",
                                "image_url": p["image_url"]["url"]}),
                            _ => json!({"type": "input_text", "text": p["text"]}),
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                items.push(json!({"type": "message", "role": role, "content": parts}));
            }
        }
    }
    items
}

/// A response's output as chat messages: what the next turn's history holds after its input.
pub fn output_messages(response: &Value) -> Vec<Value> {
    let mut text = String::new();
    let mut calls: Vec<Value> = Vec::new();
    for item in response["output"].as_array().into_iter().flatten() {
        match item["type"].as_str() {
            Some("message") => {
                for part in item["content"].as_array().into_iter().flatten() {
                    let t = part["text"].as_str().or_else(|| part["refusal"].as_str());
                    text.push_str(t.unwrap_or(""));
                }
            }
            Some("function_call") => calls.push(json!({"id": item["call_id"], "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]}})),
            _ => {}
        }
    }
    if text.is_empty() && calls.is_empty() {
        return Vec::new();
    }
    let mut msg = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { Value::from(text) }});
    if !calls.is_empty() {
        msg["tool_calls"] = Value::Array(calls);
    }
    vec![msg]
}

#[cfg(test)]
#[path = "responses_tests.rs"]
mod tests;
