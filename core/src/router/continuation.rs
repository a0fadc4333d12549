//! Finishing a stream that broke after the client saw tokens (a cut, a stall past
//! `stream_timeout`, a malformed or error event): the request goes to another deployment (the
//! serving group's others first, then the fallbacks) as a continuation. A deployment that
//! takes an assistant prefill (Anthropic's; any with `model_info.supports_assistant_prefill`)
//! gets the relayed text as one and goes on from there; one that does not, or that refuses the
//! prefill with a 400, answers from scratch and is joined only if it begins with exactly the
//! text relayed (`relay/join.rs`). Each call is accounted for on its own deployment; the
//! client's key pays for all of them.

use super::attempt::{AnswerBody, Calls};
use crate::config::{Config, Deployment};
use crate::cost::Usage;
use crate::ports::LocalFuture;
use crate::provider::Wire;
use crate::relay::{Broken, Join, Rescue, Resumed, StreamEnd, StreamUsage};
use crate::request::ModelRequest;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;

/// Deployments a broken stream is offered to, at most, each time it breaks.
const TRIES_PER_BREAK: usize = 3;

pub(super) struct Continuation(Rc<Plan>);

struct Plan {
    calls: Rc<Calls>,
    config: Rc<Config>,
    /// The request as the client sent it.
    req: ModelRequest,
    /// Where to look, in order: the group that served, then its fallbacks.
    groups: Vec<String>,
    /// Deployments already asked in this stream (the one that broke first).
    asked: RefCell<Vec<String>>,
    timeout_ms: Option<u64>,
    prompt_estimate: u64,
    /// The whole stream's tokens and cost, for the client's key.
    usage: StreamUsage,
    /// How many continuations served: this stream's, and its requested group's in the tallies.
    served: Rc<std::cell::Cell<u32>>,
    tallies: (super::Tallies, String),
}

pub(super) struct ContinuationPlan {
    pub req: ModelRequest,
    pub groups: Vec<String>,
    pub first: String,
    pub timeout_ms: Option<u64>,
    pub usage: StreamUsage,
    pub served: Rc<std::cell::Cell<u32>>,
    /// The router's tallies and the requested group's label in them.
    pub tallies: (super::Tallies, String),
}

impl Continuation {
    pub fn new(calls: Rc<Calls>, config: Rc<Config>, p: ContinuationPlan) -> Self {
        let prompt_estimate = crate::tokens::estimate_request_tokens(&p.req.body);
        Continuation(Rc::new(Plan {
            calls,
            config,
            req: p.req,
            groups: p.groups,
            asked: RefCell::new(vec![p.first]),
            timeout_ms: p.timeout_ms,
            prompt_estimate,
            usage: p.usage,
            served: p.served,
            tallies: p.tallies,
        }))
    }
}

impl Rescue for Continuation {
    fn resume(&mut self, broken: Broken) -> LocalFuture<Option<Resumed>> {
        let plan = self.0.clone();
        Box::pin(async move { plan.resume(broken).await })
    }
}

/// Whether `d` continues a trailing assistant message.
pub(super) fn takes_prefill(d: &Deployment) -> bool {
    d.info
        .supports_assistant_prefill
        .unwrap_or(d.provider.wire == Wire::Anthropic)
}

impl Plan {
    async fn resume(&self, broken: Broken) -> Option<Resumed> {
        // What the broken part is charged: its usage chunk, else estimated as any cut stream.
        let carried = broken.usage.unwrap_or(Usage {
            prompt_tokens: self.prompt_estimate,
            completion_tokens: broken.content_chars.div_ceil(4),
        });
        for _ in 0..TRIES_PER_BREAK {
            let d = self.next_target()?;
            let prefill = takes_prefill(&d) && !broken.text.trim_end().is_empty();
            for with_prefill in [true, false] {
                if with_prefill && !prefill {
                    continue;
                }
                let req = if with_prefill {
                    prefilled(&self.req, &broken.text)
                } else {
                    self.req.clone()
                };
                let answer = self
                    .calls
                    .attempt(&self.config, &d, &req, self.timeout_ms, false)
                    .await;
                match answer {
                    Ok(a) => {
                        let AnswerBody::Relay { relay, first } = a.body else {
                            break;
                        };
                        let inner = a.stream_usage.unwrap_or_default();
                        self.served.set(self.served.get() + 1);
                        let (tallies, label) = &self.tallies;
                        tallies
                            .borrow_mut()
                            .entry(label.clone())
                            .or_default()
                            .continued += 1;
                        let join = if with_prefill {
                            Join::Prefilled(trailing_space(&broken.text).to_string())
                        } else {
                            Join::Regenerated(broken.text.clone())
                        };
                        return Some(Resumed {
                            stream: relay.into_client_stream(first),
                            translator: Box::new(crate::adapter::OpenAiStream),
                            join,
                            carried,
                            on_end: settle(self.usage.clone(), inner),
                        });
                    }
                    // A model that takes no prefill says so with a 400: it answers afresh.
                    Err(e) if with_prefill && e.status() == 400 => continue,
                    Err(_) => break,
                }
            }
        }
        None
    }

    /// The next deployment to offer the stream to: not asked yet in it, serving the endpoint,
    /// not cooling down; the serving group's first, then each fallback's.
    fn next_target(&self) -> Option<Deployment> {
        let now = self.calls.clock.now_ms();
        let mut asked = self.asked.borrow_mut();
        for name in &self.groups {
            let Some((pool, _)) = self.config.deployments_for(name) else {
                continue;
            };
            let found = pool.into_iter().find(|d| {
                !asked.contains(&d.id)
                    && crate::adapter::serves(d, self.req.endpoint)
                    && !self.calls.state.snapshot(&d.id, now).cooling(now)
            });
            if let Some(d) = found {
                asked.push(d.id.clone());
                return Some(d.clone());
            }
        }
        None
    }
}

/// The request with the relayed text as a trailing assistant message, without its trailing
/// whitespace (Anthropic refuses a prefill that ends with some; the continuation writes it).
fn prefilled(req: &ModelRequest, text: &str) -> ModelRequest {
    let mut req = req.clone();
    // The prefill is in the translation: a client's own body would go without it.
    req.native = None;
    if let Some(Value::Array(messages)) = req.body.get_mut("messages") {
        messages.push(json!({"role": "assistant", "content": text.trim_end()}));
    }
    req
}

/// The whitespace at the end of `text` (left out of the prefill, already with the client).
fn trailing_space(text: &str) -> &str {
    &text[text.trim_end().len()..]
}

/// When a continuation ends, what it spent goes to the whole stream's total: settled, or (if it
/// broke and is continued in turn) carried.
fn settle(usage: StreamUsage, part: StreamUsage) -> crate::relay::OnEnd {
    Box::new(move |end: StreamEnd| {
        let spent = part.get().unwrap_or((0, 0.0));
        if end.continues {
            usage.carry(spent);
        } else {
            usage.set(spent);
        }
    })
}
