//! The chat messages of a request as a typed view over the client's JSON: roles, content parts
//! (text, images, anything else by its type), tool calls and tool results. [`check`] walks them
//! once while the request is validated; after it every accessor here is total, so the
//! translating adapters map from these types instead of walking the JSON themselves. Borrowed:
//! nothing is copied (a message may hold megabytes of base64 images).

use crate::error::Error;
use serde_json::{Map, Value};

/// Who speaks. OpenAI's `developer` is a system message; the legacy `function` role is a
/// tool result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    fn parse(name: &str) -> Option<Role> {
        Some(match name {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" | "function" => Role::Tool,
            _ => return None,
        })
    }
}

const ROLE_NAMES: &str = "system, developer, user, assistant, tool, function";

/// One content part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Part<'a> {
    Text(&'a str),
    Image(Image<'a>),
    /// A part some providers take and others do not (`input_audio`, `file`, `refusal`, ...),
    /// by its `type`.
    Other(&'a str),
}

/// An `image_url` part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Image<'a> {
    /// `data:<mime>;base64,<data>`.
    Data {
        mime: &'a str,
        data: &'a str,
    },
    Url(&'a str),
}

impl<'a> Image<'a> {
    fn of(url: &'a str) -> Image<'a> {
        match data_url(url) {
            Some((mime, data)) => Image::Data { mime, data },
            None => Image::Url(url),
        }
    }
}

/// `data:<mime>;base64,<data>` -> (mime, data).
fn data_url(url: &str) -> Option<(&str, &str)> {
    let (meta, data) = url.strip_prefix("data:")?.split_once(',')?;
    Some((meta.strip_suffix(";base64").unwrap_or(meta), data))
}

/// An assistant's call of a tool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToolCall<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// The arguments as the model wrote them: a JSON text.
    pub arguments: &'a str,
}

impl ToolCall<'_> {
    /// The arguments as JSON (`{}` when the model wrote none, or wrote something unreadable).
    pub fn input(&self) -> Value {
        serde_json::from_str(self.arguments).unwrap_or_else(|_| Value::Object(Map::new()))
    }
}

/// One checked message.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub role: Role,
    fields: &'a Map<String, Value>,
}

impl<'a> Message<'a> {
    /// Its content parts in order; a string is one text part, an empty one none.
    pub fn parts(&self) -> impl Iterator<Item = Part<'a>> + 'a {
        let (text, list): (Option<&'a str>, &'a [Value]) = match self.fields.get("content") {
            Some(Value::String(s)) if !s.is_empty() => (Some(s), &[]),
            Some(Value::Array(items)) => (None, items),
            _ => (None, &[]),
        };
        text.map(Part::Text)
            .into_iter()
            .chain(list.iter().filter_map(part))
    }

    /// Its text parts, joined (what a tool result or a text-only API takes).
    pub fn text(&self) -> String {
        self.parts()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    /// An assistant message's tool calls.
    pub fn tool_calls(&self) -> impl Iterator<Item = ToolCall<'a>> + 'a {
        let calls: &'a [Value] = match self.fields.get("tool_calls") {
            Some(Value::Array(calls)) => calls,
            _ => &[],
        };
        calls.iter().map(|call| ToolCall {
            id: call.get("id").and_then(Value::as_str).unwrap_or(""),
            name: call
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or(""),
            arguments: call
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .unwrap_or("{}"),
        })
    }

    /// A tool result's call id.
    pub fn tool_call_id(&self) -> Option<&'a str> {
        self.fields.get("tool_call_id").and_then(Value::as_str)
    }

    /// The `name` field (the function's, on a legacy `function` message).
    pub fn name(&self) -> Option<&'a str> {
        self.fields.get("name").and_then(Value::as_str)
    }
}

/// A part as [`check`] let it through.
fn part(p: &Value) -> Option<Part<'_>> {
    match p.get("type").and_then(Value::as_str)? {
        "text" => p.get("text").and_then(Value::as_str).map(Part::Text),
        "image_url" => image_url(p).map(|url| Part::Image(Image::of(url))),
        other => Some(Part::Other(other)),
    }
}

/// `{"image_url": {"url": ...}}`, or the older `{"image_url": "..."}`.
fn image_url(p: &Value) -> Option<&str> {
    p.pointer("/image_url/url")
        .or_else(|| p.get("image_url"))
        .and_then(Value::as_str)
}

/// The messages of a request body that [`check`] accepted.
pub fn messages(body: &Map<String, Value>) -> impl Iterator<Item = Message<'_>> {
    let list: &[Value] = match body.get("messages") {
        Some(Value::Array(list)) => list,
        _ => &[],
    };
    list.iter().filter_map(|m| {
        let fields = m.as_object()?;
        let role = Role::parse(fields.get("role")?.as_str()?)?;
        Some(Message { role, fields })
    })
}

/// Checks `messages` as OpenAI does: a non-empty list of objects, each with a known role and
/// content that is a string, a list of typed parts, or null; text parts hold text and image
/// parts a URL. The error names the first field that is wrong.
pub fn check(messages: Option<&Value>) -> Result<(), Error> {
    let list = match messages {
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(Error::invalid_value(
                "messages",
                "must be an array of message objects",
            ))
        }
        None => return Err(Error::missing("messages")),
    };
    if list.is_empty() {
        return Err(Error::invalid_value(
            "messages",
            "must contain at least one message",
        ));
    }
    for (i, m) in list.iter().enumerate() {
        let Value::Object(msg) = m else {
            return Err(Error::invalid_value(
                &format!("messages[{i}]"),
                "must be an object",
            ));
        };
        match msg.get("role") {
            Some(Value::String(r)) if Role::parse(r).is_some() => {}
            Some(Value::String(r)) => {
                return Err(Error::invalid_value(
                    &format!("messages[{i}].role"),
                    &format!("`{r}` is not one of {ROLE_NAMES}"),
                ))
            }
            Some(_) => {
                return Err(Error::invalid_value(
                    &format!("messages[{i}].role"),
                    "must be a string",
                ))
            }
            None => return Err(Error::missing(&format!("messages[{i}].role"))),
        }
        match msg.get("content") {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(Value::Array(parts)) => check_parts(i, parts)?,
            Some(_) => {
                return Err(Error::invalid_value(
                    &format!("messages[{i}].content"),
                    "must be a string, an array of content parts, or null",
                ))
            }
        }
    }
    Ok(())
}

fn check_parts(i: usize, parts: &[Value]) -> Result<(), Error> {
    for (j, p) in parts.iter().enumerate() {
        let at = || format!("messages[{i}].content[{j}]");
        let Some(kind) = p.get("type").and_then(Value::as_str) else {
            return Err(Error::invalid_value(
                &format!("{}.type", at()),
                "each content part must be an object with a string `type`",
            ));
        };
        let complete = match kind {
            "text" => p.get("text").is_some_and(Value::is_string),
            "image_url" => image_url(p).is_some(),
            _ => true,
        };
        if !complete {
            let field = if kind == "text" { "text" } else { "image_url" };
            return Err(Error::invalid_value(
                &format!("{}.{field}", at()),
                if kind == "text" {
                    "a text part must hold a string `text`"
                } else {
                    "an image part must hold a url"
                },
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(messages: Value) -> Map<String, Value> {
        json!({ "messages": messages })
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn parts_tool_calls_and_roles_read_from_the_json() {
        let b = body(json!([
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "what is"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
                {"type": "image_url", "image_url": "https://x/y.jpg"},
                {"type": "input_audio", "input_audio": {"data": "..", "format": "wav"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "not json"}}
            ]},
            {"role": "function", "name": "f", "content": [{"type": "text", "text": "4"}, {"type": "text", "text": "2"}]},
            {"role": "user", "content": ""}
        ]));
        check(b.get("messages")).unwrap();
        let ms: Vec<Message> = messages(&b).collect();
        let roles: Vec<Role> = ms.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::User,
                Role::Assistant,
                Role::Tool,
                Role::User
            ]
        );
        assert_eq!(ms[0].parts().collect::<Vec<_>>(), [Part::Text("be brief")]);
        assert_eq!(
            ms[1].parts().collect::<Vec<_>>(),
            [
                Part::Text("what is"),
                Part::Image(Image::Data {
                    mime: "image/png",
                    data: "AAA"
                }),
                Part::Image(Image::Url("https://x/y.jpg")),
                Part::Other("input_audio"),
            ]
        );
        let calls: Vec<ToolCall> = ms[2].tool_calls().collect();
        assert_eq!((calls[0].id, calls[0].name), ("c1", "f"));
        assert_eq!(calls[0].input(), json!({"a": 1}));
        assert_eq!(calls[1].input(), json!({}), "unreadable arguments");
        assert_eq!(ms[2].parts().count(), 0);
        assert_eq!(ms[3].text(), "42");
        assert_eq!(ms[3].name(), Some("f"));
        assert_eq!(ms[4].parts().count(), 0, "an empty string is no part");
    }

    #[test]
    fn each_bad_field_is_named() {
        for (messages, param) in [
            (json!("hi"), "messages"),
            (json!([]), "messages"),
            (json!([5]), "messages[0]"),
            (json!([{"content": "x"}]), "messages[0].role"),
            (json!([{"role": "wizard"}]), "messages[0].role"),
            (json!([{"role": 1}]), "messages[0].role"),
            (
                json!([{"role": "user", "content": 3}]),
                "messages[0].content",
            ),
            (
                json!([{"role": "user", "content": ["x"]}]),
                "messages[0].content[0].type",
            ),
            (
                json!([{"role": "user", "content": [{"type": "text"}]}]),
                "messages[0].content[0].text",
            ),
            (
                json!([{"role": "user", "content": "ok"}, {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {}}]}]),
                "messages[1].content[1].image_url",
            ),
        ] {
            let e = check(Some(&messages)).unwrap_err();
            assert_eq!(e.param(), Some(param), "{messages}");
            assert_eq!(e.status(), 400);
        }
        assert_eq!(check(None).unwrap_err().param(), Some("messages"));
    }
}
