//! Chat chunks (OpenAI SSE bytes) in, the Responses API's events out, as each chunk arrives:
//! `response.created`, then per output item `output_item.added`, its deltas and its `done`
//! events, then `response.completed` (or `incomplete`, or `error` and `response.failed`). The
//! finished response is kept for the store.

use super::responses::{self, Ids};
use super::{sse_event, ChunkEvents};
use crate::sse::SseDecoder;
use serde_json::{json, Map, Value};

/// The item being streamed.
enum Open {
    Text { item: usize, text: String },
    Call { item: usize, index: u64 },
}

pub struct StreamTranslator {
    decoder: SseDecoder,
    ids: Ids,
    shell: Map<String, Value>,
    seq: u64,
    started: bool,
    output: Vec<Value>,
    open: Option<Open>,
    finish: Option<String>,
    usage: Option<Value>,
    /// The finished response, once the stream completed.
    done: Option<Value>,
    ended: bool,
}

impl super::ChunkEvents for StreamTranslator {
    fn decoder(&mut self) -> &mut SseDecoder {
        &mut self.decoder
    }
    fn ended(&self) -> bool {
        self.ended
    }
    fn finished(&self) -> bool {
        self.finish.is_some()
    }
    fn chunk(&mut self, chunk: &Value, out: &mut Vec<u8>) {
        StreamTranslator::chunk(self, chunk, out);
    }
    fn complete(&mut self, out: &mut Vec<u8>) {
        StreamTranslator::complete(self, out);
    }
    fn broken(&mut self, message: &str, out: &mut Vec<u8>) {
        self.fail("stream_incomplete", message, out);
    }
}

impl StreamTranslator {
    /// A translator for the response `shell` (from [`responses::shell`]) will become.
    pub fn new(shell: Map<String, Value>, ids: Ids) -> Self {
        StreamTranslator {
            decoder: SseDecoder::new(),
            ids,
            shell,
            seq: 0,
            started: false,
            output: Vec::new(),
            open: None,
            finish: None,
            usage: None,
            done: None,
            ended: false,
        }
    }

    /// The events for these bytes of the chat stream.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.events(bytes)
    }

    /// The stream ended: the events that close it.
    pub fn end(&mut self) -> Vec<u8> {
        self.last_events()
    }

    /// The finished response (once `response.completed` or `response.incomplete` went out).
    pub fn finished(&self) -> Option<&Value> {
        self.done.as_ref()
    }

    fn emit(&mut self, out: &mut Vec<u8>, kind: &str, mut data: Value) {
        data["type"] = Value::from(kind);
        data["sequence_number"] = Value::from(self.seq);
        self.seq += 1;
        sse_event(out, kind, &data);
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let r = Value::Object(self.shell.clone());
        self.emit(out, "response.created", json!({"response": r}));
        self.emit(out, "response.in_progress", json!({"response": r}));
    }

    fn chunk(&mut self, c: &Value, out: &mut Vec<u8>) {
        if let Some(e) = c.get("error").filter(|e| !e.is_null()) {
            let message = e["message"]
                .as_str()
                .unwrap_or("The upstream stream failed.");
            let code = e["code"]
                .as_str()
                .or(e["type"].as_str())
                .unwrap_or("server_error");
            self.start(out);
            self.fail(code, message, out);
            return;
        }
        if let Some(model) = c["model"].as_str().filter(|m| !m.is_empty()) {
            if !self.started {
                self.shell.insert("model".into(), Value::from(model));
            }
        }
        self.start(out);
        if let Some(u) = c.get("usage").filter(|u| !u.is_null()) {
            self.usage = Some(u.clone());
        }
        let Some(choice) = c.pointer("/choices/0") else {
            return;
        };
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            self.text(text, out);
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            self.call(call, out);
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            self.finish = Some(f.to_string());
        }
    }

    fn text(&mut self, text: &str, out: &mut Vec<u8>) {
        if !matches!(self.open, Some(Open::Text { .. })) {
            self.close(out);
            let n = self.output.len();
            let id = self.ids.output("msg", n);
            let item = json!({"id": id, "type": "message", "status": "in_progress",
                "role": "assistant", "content": []});
            self.output.push(item.clone());
            self.emit(
                out,
                "response.output_item.added",
                json!({"output_index": n, "item": item}),
            );
            self.emit(out, "response.content_part.added", json!({"item_id": id, "output_index": n,
                "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}}));
            self.open = Some(Open::Text {
                item: n,
                text: String::new(),
            });
        }
        let Some(Open::Text { item, text: so_far }) = &mut self.open else {
            return;
        };
        so_far.push_str(text);
        let n = *item;
        let id = self.output[n]["id"].clone();
        self.emit(
            out,
            "response.output_text.delta",
            json!({"item_id": id, "output_index": n,
            "content_index": 0, "delta": text, "logprobs": []}),
        );
    }

    fn call(&mut self, call: &Value, out: &mut Vec<u8>) {
        let index = call["index"].as_u64().unwrap_or(0);
        let id = call["id"].as_str().filter(|id| !id.is_empty());
        // A chunk continues the open call unless it names another index or another call.
        let continues = match self.open {
            Some(Open::Call { item, index: i }) => {
                i == index && id.is_none_or(|id| self.output[item]["call_id"] == id)
            }
            _ => false,
        };
        if !continues {
            self.close(out);
            let n = self.output.len();
            let item = json!({"id": self.ids.output("fc", n), "type": "function_call",
                "status": "in_progress", "call_id": id.unwrap_or(""),
                "name": call["function"]["name"].as_str().unwrap_or(""), "arguments": ""});
            self.output.push(item.clone());
            self.emit(
                out,
                "response.output_item.added",
                json!({"output_index": n, "item": item}),
            );
            self.open = Some(Open::Call { item: n, index });
        }
        let Some(Open::Call { item: n, .. }) = self.open else {
            return;
        };
        if let Some(args) = call["function"]["arguments"]
            .as_str()
            .filter(|a| !a.is_empty())
        {
            let item = &mut self.output[n];
            let so_far = item["arguments"].as_str().unwrap_or("").to_string() + args;
            item["arguments"] = Value::from(so_far);
            let id = item["id"].clone();
            self.emit(
                out,
                "response.function_call_arguments.delta",
                json!({"item_id": id, "output_index": n, "delta": args}),
            );
        }
    }

    /// Closes the open item: its `done` events.
    fn close(&mut self, out: &mut Vec<u8>) {
        match self.open.take() {
            Some(Open::Text { item: n, text }) => {
                let id = self.output[n]["id"].as_str().unwrap_or("").to_string();
                let part =
                    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []});
                self.emit(
                    out,
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": n,
                    "content_index": 0, "text": text, "logprobs": []}),
                );
                self.emit(
                    out,
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": n,
                    "content_index": 0, "part": part}),
                );
                self.output[n] = responses::message_item(id, &text);
                let item = self.output[n].clone();
                self.emit(
                    out,
                    "response.output_item.done",
                    json!({"output_index": n, "item": item}),
                );
            }
            Some(Open::Call { item: n, .. }) => {
                self.output[n]["status"] = Value::from("completed");
                let item = self.output[n].clone();
                self.emit(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": item["id"],
                    "output_index": n, "name": item["name"], "arguments": item["arguments"]}),
                );
                self.emit(
                    out,
                    "response.output_item.done",
                    json!({"output_index": n, "item": item}),
                );
            }
            None => {}
        }
    }

    fn complete(&mut self, out: &mut Vec<u8>) {
        self.start(out);
        self.close(out);
        let (status, incomplete) = responses::status(self.finish.as_deref());
        let mut r = self.shell.clone();
        r.insert("status".into(), Value::from(status));
        r.insert("incomplete_details".into(), incomplete);
        r.insert(
            "output".into(),
            Value::Array(std::mem::take(&mut self.output)),
        );
        r.insert(
            "usage".into(),
            responses::usage(self.usage.as_ref().unwrap_or(&Value::Null)),
        );
        let r = Value::Object(r);
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.emit(out, kind, json!({"response": r}));
        self.done = Some(r);
        self.ended = true;
    }

    fn fail(&mut self, code: &str, message: &str, out: &mut Vec<u8>) {
        self.emit(
            out,
            "error",
            json!({"code": code, "message": message, "param": null}),
        );
        let mut r = self.shell.clone();
        r.insert("status".into(), Value::from("failed"));
        r.insert("error".into(), json!({"code": code, "message": message}));
        r.insert(
            "output".into(),
            Value::Array(std::mem::take(&mut self.output)),
        );
        self.emit(
            out,
            "response.failed",
            json!({"response": Value::Object(r)}),
        );
        self.ended = true;
    }
}
