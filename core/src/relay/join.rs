//! Finishing a broken stream on another deployment: what the relay remembers of the stream so
//! far (its `id` and `model`, the text relayed, whether it can be continued at all), and how
//! the continuation's chunks are joined to it.
//!
//! A continuation either took the relayed text as an assistant prefill (it goes on from there:
//! relayed as it comes) or regenerated the answer from scratch: then it is held back until it
//! has produced at least the text already relayed, and joined only if it begins with exactly
//! that text. A client never gets an answer whose beginning differs from what it already has.

use super::{ClientStream, OnEnd, Relay};
use crate::cost::Usage;
use crate::error::{Error, ErrorClass};
use crate::ports::LocalFuture;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// What a stream had relayed when it broke.
pub struct Broken {
    /// The content of its one choice so far.
    pub text: String,
    /// Characters relayed (content, reasoning, tool arguments), to estimate its tokens.
    pub content_chars: u64,
    /// Its usage chunk, if one had come.
    pub usage: Option<Usage>,
}

/// Finishes a stream that broke after the client saw tokens (the router's continuation).
pub trait Rescue {
    /// Another deployment's stream going on after `broken` (its first event already arrived),
    /// or `None` when none could take it.
    fn resume(&mut self, broken: Broken) -> LocalFuture<Option<Resumed>>;
}

/// A continuation under way.
pub struct Resumed {
    /// Its OpenAI SSE frames (translated and accounted for by its own relay).
    pub stream: ClientStream,
    /// Reads those frames (OpenAI's own translator: they are OpenAI chunks already).
    pub translator: Box<dyn super::StreamTranslator>,
    pub join: Join,
    /// What the broken part spent, added to the usage chunk the client gets.
    pub carried: Usage,
    /// Called when the continuation ends (or breaks in turn: `continues`).
    pub on_end: OnEnd,
}

/// How a continuation's text relates to what was relayed.
#[derive(Debug, Clone, PartialEq)]
pub enum Join {
    /// It took the relayed text as a prefill (without its trailing whitespace, this): what it
    /// sends follows it.
    Prefilled(String),
    /// It answers from the start: joined only if it begins with exactly this text.
    Regenerated(String),
}

/// Continuations a stream may go through, at most.
const MAX_CONTINUATIONS: u32 = 3;

/// The relay's record of a stream that may be continued.
#[derive(Default)]
pub(super) struct Joined {
    /// The first chunk's `id` and `model`: a continuation's chunks carry them too.
    pub identity: Option<(String, String)>,
    /// The content relayed so far (choice 0).
    text: String,
    /// A tool call was streamed: a break inside its arguments cannot be continued.
    tool_calls: bool,
    continuations: u32,
    mode: Option<Mode>,
    /// Tokens and cost of the parts that broke, for the usage chunk.
    carried: Usage,
}

enum Mode {
    /// Relaying a continuation's chunks as they come.
    Through,
    /// The same, once the whitespace the client already has is off the first text.
    Prefilled { space: String },
    /// Holding a regenerated answer back until it is past `target`.
    Matching { target: String, got: String },
}

impl Joined {
    pub fn joining(&self) -> bool {
        self.mode.is_some()
    }

    /// A delta of the original stream went by.
    pub fn saw(&mut self, content: Option<&str>, tool_calls: bool) {
        if let Some(c) = content {
            self.text.push_str(c);
        }
        self.tool_calls |= tool_calls;
    }

    /// A continuation's chunk, joined: the stream's `id` and `model`, no second `role`, the
    /// usage summed over every part; a regenerated answer's text only past what was relayed.
    /// `Err`: the in-band error that ends the stream.
    pub fn chunk(&mut self, data: Vec<u8>, keep_usage: bool) -> Result<Option<Vec<u8>>, Vec<u8>> {
        let Ok(Value::Object(mut chunk)) = serde_json::from_slice::<Value>(&data) else {
            return Err(super::malformed_chunk());
        };
        if let Some((id, model)) = &self.identity {
            chunk.insert("id".into(), Value::String(id.clone()));
            chunk.insert("model".into(), Value::String(model.clone()));
        }
        let mut usage_only = true;
        let mut finished = false;
        let mut text = String::new();
        if let Some(Value::Array(choices)) = chunk.get_mut("choices") {
            for choice in choices.iter_mut() {
                usage_only = false;
                finished |= choice.get("finish_reason").is_some_and(|f| !f.is_null());
                if let Some(Value::Object(delta)) = choice.get_mut("delta") {
                    delta.remove("role");
                    if let Some(Value::String(c)) = delta.get("content") {
                        text.push_str(c);
                    }
                    if delta.get("tool_calls").is_some_and(|t| !t.is_null()) {
                        self.tool_calls = true;
                    }
                }
            }
        }
        let has_usage = self.add_carried(&mut chunk);
        let emit = match &mut self.mode {
            Some(Mode::Matching { target, got }) => {
                got.push_str(&text);
                if got.len() < target.len() {
                    if !target.starts_with(got.as_str()) || finished {
                        return Err(differs());
                    }
                    None
                } else if let Some(rest) = got.strip_prefix(target.as_str()) {
                    let rest = rest.to_string();
                    self.mode = Some(Mode::Through);
                    Some(rest)
                } else {
                    return Err(differs());
                }
            }
            Some(Mode::Prefilled { space }) if !text.is_empty() => {
                let common = text
                    .char_indices()
                    .zip(space.chars())
                    .take_while(|((_, a), b)| a == b)
                    .last()
                    .map_or(0, |((i, c), _)| i + c.len_utf8());
                let rest = text[common..].to_string();
                self.mode = Some(Mode::Through);
                Some(rest)
            }
            _ => Some(text),
        };
        let Some(emit) = emit else {
            // Still matching: nothing for the client but a usage chunk.
            if !has_usage {
                return Ok(None);
            }
            set_content(&mut chunk, "");
            return Ok(Some(Value::Object(chunk).to_string().into_bytes()));
        };
        self.text.push_str(&emit);
        set_content(&mut chunk, &emit);
        if usage_only && !keep_usage {
            return Ok(None);
        }
        Ok(Some(Value::Object(chunk).to_string().into_bytes()))
    }

    /// Adds the broken parts' usage to this chunk's; whether it has one.
    fn add_carried(&self, chunk: &mut Map<String, Value>) -> bool {
        let Some(Value::Object(u)) = chunk.get_mut("usage") else {
            return false;
        };
        let add = |u: &mut Map<String, Value>, k: &str, n: u64| {
            let v = u.get(k).and_then(Value::as_u64).unwrap_or(0) + n;
            u.insert(k.into(), Value::from(v));
        };
        let c = self.carried;
        add(u, "prompt_tokens", c.prompt_tokens);
        add(u, "completion_tokens", c.completion_tokens);
        add(u, "total_tokens", c.prompt_tokens + c.completion_tokens);
        true
    }
}

/// Sets the first choice's delta content to `text` (dropped when empty and absent before).
fn set_content(chunk: &mut Map<String, Value>, text: &str) {
    let Some(Value::Array(choices)) = chunk.get_mut("choices") else {
        return;
    };
    for choice in choices.iter_mut() {
        if let Some(Value::Object(delta)) = choice.get_mut("delta") {
            if delta.contains_key("content") || !text.is_empty() {
                delta.insert("content".into(), Value::String(text.to_string()));
            }
        }
    }
}

fn differs() -> Vec<u8> {
    Error::StreamInterrupted {
        message: "The stream broke, and the deployment that answered again began differently: \
                  it cannot be finished without changing what was already sent."
            .into(),
    }
    .body()
}

impl Relay {
    /// Whether a break now can be finished elsewhere: a continuation is possible, the stream
    /// has only one choice, no tool call, and it is not complete.
    pub(super) fn rescuable(&self) -> bool {
        let j = &self.joined;
        self.rescue.is_some()
            && j.continuations < MAX_CONTINUATIONS
            && !j.tool_calls
            && self.choices_seen.iter().all(|i| *i == 0)
            && self.choices_finished.is_empty()
    }

    /// The stream broke (`class`): finishes it elsewhere if it can. `true`: a continuation
    /// now feeds the relay; `false`: the stream ends with its error.
    pub(super) async fn resume(&mut self, class: ErrorClass) -> bool {
        if !self.rescuable() {
            return false;
        }
        let Some(rescue) = self.rescue.as_mut() else {
            return false;
        };
        let broken = Broken {
            text: self.joined.text.clone(),
            content_chars: self.content_chars,
            usage: self.usage,
        };
        let Some(resumed) = rescue.resume(broken).await else {
            self.joined.continuations = MAX_CONTINUATIONS;
            return false;
        };
        // The broken part ends now: its own relay (a previous continuation's) reports when
        // dropped, then its deployment's failure is recorded and its tokens carried.
        self.upstream = Box::pin(futures::stream::empty());
        self.end_error = Some(class);
        self.finished = true;
        if let Some(f) = self.on_end.take() {
            f(super::StreamEnd {
                error: Some(class),
                usage: self.usage,
                content_chars: self.content_chars,
                abandoned: false,
                continues: true,
            });
        }
        let j = &mut self.joined;
        j.continuations += 1;
        j.carried.prompt_tokens += resumed.carried.prompt_tokens;
        j.carried.completion_tokens += resumed.carried.completion_tokens;
        j.mode = Some(match resumed.join {
            Join::Prefilled(space) if space.is_empty() => Mode::Through,
            Join::Prefilled(space) => Mode::Prefilled { space },
            Join::Regenerated(target) => Mode::Matching {
                target,
                got: String::new(),
            },
        });
        self.upstream = Box::pin(futures::StreamExt::map(resumed.stream, Ok));
        self.decoder = super::Framing::Sse(crate::sse::SseDecoder::new());
        self.translator = resumed.translator;
        self.on_end = Some(resumed.on_end);
        self.finished = false;
        self.end_error = None;
        self.usage = None;
        self.content_chars = 0;
        self.choices_seen.clear();
        self.choices_finished.clear();
        true
    }
}

/// A JSON string, or `None` for any other value (an `id` that is a number is not an error).
pub(super) fn lenient_str<'de, D>(d: D) -> Result<Option<Cow<'de, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut a: A,
        ) -> Result<Self::Value, A::Error> {
            while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut a: A,
        ) -> Result<Self::Value, A::Error> {
            while a
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            Ok(None)
        }
    }
    d.deserialize_any(V)
}
