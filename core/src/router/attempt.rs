//! One upstream call to one deployment, counted in the router state from its start to its
//! last byte (for a stream, until the stream ends).

use super::RoutedBody;
use crate::adapter;
use crate::config::{Config, Deployment};
use crate::cooldown::should_cool_down;
use crate::cost::{self, usage_of};
use crate::error::{Error, ErrorClass};
use crate::ports::RouterState;
use crate::ports::{UpstreamBody, UpstreamRequest, UpstreamResponse};
use crate::relay::{Relay, StreamEnd, StreamUsage};
use crate::request::{Endpoint, ModelRequest};
use crate::state::Outcome;
use futures::future::{select, Either};
use serde::de::IgnoredAny;
use std::rc::Rc;

/// The outcome of a successful attempt.
pub(super) struct Answer {
    pub body: AnswerBody,
    pub cost: Option<f64>,
    /// For a stream: filled with (tokens, cost) when it ends.
    pub stream_usage: Option<StreamUsage>,
    /// The provider's `x-request-id`, for the client (the SDKs' `_request_id`).
    pub request_id: Option<String>,
    /// (prompt, completion) tokens of a complete answer.
    pub usage: Option<(u64, u64)>,
}

pub(super) enum AnswerBody {
    Routed(RoutedBody),
    /// A stream whose first event (`first`) has arrived, not yet handed to the client: a
    /// continuation may still be attached to it.
    Relay {
        relay: Box<Relay>,
        first: Vec<u8>,
    },
}

impl AnswerBody {
    pub fn into_routed(self) -> RoutedBody {
        match self {
            AnswerBody::Routed(b) => b,
            AnswerBody::Relay { relay, first } => {
                RoutedBody::Stream(relay.into_client_stream(first))
            }
        }
    }
}

/// What an upstream call needs from the router, shared (`Rc`) so that a stream can make
/// calls after the request that started it has returned (a continuation).
pub(super) struct Calls {
    pub upstream: Rc<dyn crate::ports::Upstream>,
    pub clock: Rc<dyn crate::ports::Clock>,
    pub state: Rc<dyn RouterState>,
    /// OAuth access tokens (Vertex AI), kept until shortly before they expire.
    pub tokens: super::access_token::AccessTokens,
}

impl Calls {
    /// One call to `d` (its slot already taken when `already_counted`). Dropped before it
    /// ends (the loser of a hedge), it frees its slot then, as a call the client cancelled.
    pub(super) async fn attempt(
        &self,
        config: &Rc<Config>,
        d: &Deployment,
        req: &ModelRequest,
        timeout_override_ms: Option<u64>,
        already_counted: bool,
    ) -> Result<Answer, Error> {
        let mut guard = Unfinished {
            router: self,
            d,
            armed: true,
        };
        let result = self
            .attempt_once(config, d, req, timeout_override_ms, already_counted)
            .await;
        guard.armed = false;
        result
    }

    async fn attempt_once(
        &self,
        config: &Rc<Config>,
        d: &Deployment,
        req: &ModelRequest,
        timeout_override_ms: Option<u64>,
        already_counted: bool,
    ) -> Result<Answer, Error> {
        let timeout_ms = timeout_override_ms.unwrap_or(d.timeout_ms);
        let stream_timeout_ms = d.stream_timeout_ms.min(timeout_ms);
        // A deadline the client chose, shorter than the deployment's own: running out of it
        // says nothing about the deployment (a tenant must not cool it down for everyone).
        let client_bound = if req.stream {
            stream_timeout_ms < d.stream_timeout_ms
        } else {
            timeout_ms < d.timeout_ms
        };
        let started = self.clock.now_ms();
        if !already_counted {
            let until = slot_deadline(d, req, timeout_override_ms, started);
            self.state.call_started_until(&d.id, started, until);
        }
        let mut upstream_req = match adapter::build(d, req, started) {
            Ok(r) => r,
            Err(e) => {
                // The request cannot be written for this provider: the client's mistake.
                self.state
                    .call_ended(&d.id, &no_tokens(d), self.clock.now_ms());
                return Err(e);
            }
        };
        // A stream's first token (headers included) is due within `stream_timeout`.
        let headers_within = if req.stream {
            stream_timeout_ms
        } else {
            timeout_ms
        };
        // Getting an access token is part of the call: it spends the same time budget, and
        // credentials that are refused are the deployment's failure.
        if let Err(e) = self.authorize(d, &mut upstream_req, headers_within).await {
            return Err(self.failed(config, d, e, client_bound));
        }
        let headers_within = if d.vertex.is_some() {
            // What the token exchange left of the budget.
            (headers_within as f64 - (self.clock.now_ms() - started)).max(1.0) as u64
        } else {
            headers_within
        };
        let resp = match self.send_within(upstream_req, headers_within).await {
            Ok(r) if (200..300).contains(&r.status) => r,
            Ok(r) => {
                self.token_refused(d, r.status);
                let left = (timeout_ms as f64 - (self.clock.now_ms() - started)).max(1.0) as u64;
                let e = self.error_from(d, r, left).await;
                return Err(self.failed(config, d, e, client_bound));
            }
            Err(e) => return Err(self.failed(config, d, e, client_bound)),
        };
        let request_id = resp
            .header("x-request-id")
            .filter(|id| id.len() <= 256 && !crate::names::has_control(id))
            .map(str::to_string);
        match resp.body {
            UpstreamBody::Full(raw) => {
                let bytes = match adapter::response(d, req, raw) {
                    Ok(b) => b,
                    Err(e) => return Err(self.failed(config, d, e, client_bound)),
                };
                if answers_in_json(req.endpoint) {
                    // Not a JSON object: it must not reach the client as a success.
                    if let Err(e) = json_object(&bytes) {
                        let e = adapter::common::unreadable("The upstream", e);
                        return Err(self.failed(config, d, e, client_bound));
                    }
                }
                let usage = usage_of(&bytes).unwrap_or_default();
                let cost = cost::media_cost(d, req.endpoint, &req.body, &bytes)
                    .unwrap_or_else(|| usage.cost(d));
                let elapsed = self.clock.now_ms() - started;
                let outcome = Outcome {
                    group: d.group.clone(),
                    error: None,
                    prompt_tokens: usage.prompt_tokens,
                    completion_tokens: usage.completion_tokens,
                    cost,
                    // LiteLLM's latency for completions: time per output token.
                    latency_ms: Some(elapsed / usage.completion_tokens.max(1) as f64),
                    ttft_ms: None,
                    duration_ms: elapsed,
                    cancelled: false,
                };
                self.state.call_ended(&d.id, &outcome, self.clock.now_ms());
                Ok(Answer {
                    body: AnswerBody::Routed(RoutedBody::Json(bytes)),
                    cost: Some(cost),
                    stream_usage: None,
                    request_id,
                    usage: Some((usage.prompt_tokens, usage.completion_tokens)),
                })
            }
            UpstreamBody::Stream(stream) if req.endpoint == Endpoint::Speech => {
                let spoken = cost::media_cost(d, req.endpoint, &req.body, b"").unwrap_or(0.0);
                let content_type = resp
                    .headers
                    .iter()
                    .find(|(k, _)| k == "content-type")
                    .map_or_else(|| "audio/mpeg".to_string(), |(_, v)| v.clone());
                self.state
                    .call_ended(&d.id, &no_tokens(d), self.clock.now_ms());
                // A broken audio stream just ends: there is no in-band error for audio.
                let bytes =
                    futures::StreamExt::take_while(stream, |c| futures::future::ready(c.is_ok()));
                let bytes =
                    futures::StreamExt::filter_map(bytes, |c| futures::future::ready(c.ok()));
                Ok(Answer {
                    body: AnswerBody::Routed(RoutedBody::Binary {
                        content_type,
                        stream: Box::pin(bytes),
                    }),
                    cost: Some(spoken),
                    stream_usage: None,
                    request_id,
                    usage: None,
                })
            }
            UpstreamBody::Stream(stream) => {
                let mut relay = Relay::new(
                    stream,
                    self.clock.clone(),
                    stream_timeout_ms,
                    adapter::stream(d, req),
                )
                .keep_usage_chunk(req.include_usage)
                .scrub(d.secrets().into_iter().map(str::to_string).collect());
                if adapter::event_stream_framing(d) {
                    relay = relay.event_stream();
                }
                let elapsed = (self.clock.now_ms() - started).max(0.0) as u64;
                let first = match relay
                    .first_frame(stream_timeout_ms.saturating_sub(elapsed).max(1))
                    .await
                {
                    Ok(f) => f,
                    Err(e) => return Err(self.failed(config, d, e, client_bound)),
                };
                let ttft = self.clock.now_ms() - started;
                let usage_cell = StreamUsage::default();
                let prompt_estimate = crate::tokens::estimate_request_tokens(&req.body);
                let on_end = stream_accounting(
                    self,
                    config,
                    d,
                    (ttft, started),
                    prompt_estimate,
                    client_bound,
                    usage_cell.clone(),
                );
                Ok(Answer {
                    body: AnswerBody::Relay {
                        relay: Box::new(relay.on_end(on_end)),
                        first,
                    },
                    cost: None,
                    stream_usage: Some(usage_cell),
                    request_id,
                    usage: None,
                })
            }
        }
    }

    /// Records a failed attempt (and maybe a cooldown); hands the error back.
    fn failed(&self, config: &Config, d: &Deployment, e: Error, client_bound: bool) -> Error {
        let class = e.class().unwrap_or(ErrorClass::InternalServer);
        let now = self.clock.now_ms();
        if client_bound && class == ErrorClass::Timeout {
            let outcome = Outcome {
                cancelled: true,
                ..no_tokens(d)
            };
            self.state.call_ended(&d.id, &outcome, now);
            return e;
        }
        let outcome = Outcome {
            group: d.group.clone(),
            error: Some(class),
            prompt_tokens: 0,
            completion_tokens: 0,
            cost: 0.0,
            latency_ms: None,
            ttft_ms: None,
            duration_ms: 0.0,
            cancelled: false,
        };
        self.state.call_ended(&d.id, &outcome, now);
        cool_down_if_needed(&*self.state, config, &d.id, &d.group, class, now);
        e
    }

    /// Sends, giving up after `timeout_ms`. Giving up drops the transport's future, which
    /// cancels the call.
    pub(super) async fn send_within(
        &self,
        req: UpstreamRequest,
        timeout_ms: u64,
    ) -> Result<UpstreamResponse, Error> {
        let send = self.upstream.send(req);
        let timer = self.clock.sleep(timeout_ms);
        match select(send, timer).await {
            Either::Left((Ok(resp), _)) => Ok(resp),
            Either::Left((Err(e), _)) => Err(Error::UpstreamUnreachable {
                message: format!("Could not reach the upstream provider: {}", e.message),
            }),
            Either::Right(_) => Err(Error::UpstreamTimeout {
                after_ms: timeout_ms,
            }),
        }
    }

    /// The error for a non-2xx answer, with its body (read within `left_ms` if it is a stream)
    /// made OpenAI-shaped.
    async fn error_from(&self, d: &Deployment, resp: UpstreamResponse, left_ms: u64) -> Error {
        let retry_after =
            crate::error::retry_after_ms(resp.header("retry-after"), resp.header("retry-after-ms"));
        let body = match resp.body {
            UpstreamBody::Full(b) => b,
            UpstreamBody::Stream(s) => {
                let all = futures::StreamExt::collect::<Vec<_>>(s);
                match select(all, self.clock.sleep(left_ms)).await {
                    Either::Left((chunks, _)) => chunks.into_iter().flatten().flatten().collect(),
                    Either::Right(_) => Vec::new(),
                }
            }
        };
        // An upstream may echo the credentials it was sent: they never reach the client.
        let body = crate::redact::scrub(&body, &d.secrets());
        adapter::upstream_error(d, resp.status, body, retry_after)
    }
}

/// When a call's in-flight slot lapses if its end is never reported: its own deadline and a
/// grace minute. A stream may run past its `timeout` (only the gaps between its chunks are
/// bounded), so its slot lasts at least the default 600 s.
pub(super) fn slot_deadline(
    d: &Deployment,
    req: &ModelRequest,
    timeout_override_ms: Option<u64>,
    started: f64,
) -> f64 {
    let timeout = timeout_override_ms.unwrap_or(d.timeout_ms) as f64;
    let own = if req.stream {
        timeout.max(crate::config::DEFAULT_TIMEOUT_SECS * 1000.0)
    } else {
        timeout
    };
    started + own + crate::state::SLOT_GRACE_MS
}

/// An attempt under way: if it is dropped before it reports its end, its end is reported
/// then (cancelled: nothing of the deployment's health, no tokens known).
struct Unfinished<'a> {
    router: &'a Calls,
    d: &'a Deployment,
    armed: bool,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if self.armed {
            let outcome = Outcome {
                cancelled: true,
                ..no_tokens(self.d)
            };
            let now = self.router.clock.now_ms();
            self.router.state.call_ended(&self.d.id, &outcome, now);
        }
    }
}

/// An outcome with nothing to count: a call that never went out, or audio.
fn no_tokens(d: &Deployment) -> Outcome {
    Outcome {
        group: d.group.clone(),
        error: None,
        prompt_tokens: 0,
        completion_tokens: 0,
        cost: 0.0,
        latency_ms: None,
        ttft_ms: None,
        duration_ms: 0.0,
        cancelled: false,
    }
}

/// Cools `id` down if this failure (already counted) calls for it.
pub(super) fn cool_down_if_needed(
    state: &dyn RouterState,
    config: &Config,
    id: &str,
    group: &str,
    class: ErrorClass,
    now: f64,
) {
    let after = state.snapshot(id, now);
    let group_size = config.groups.get(group).map_or(1, Vec::len);
    let has_fallbacks = !config.router.fallbacks.for_group(group).is_empty();
    if should_cool_down(class, &after, &config.router, group_size, has_fallbacks) {
        state.cool_down(id, now + config.router.cooldown_ms as f64);
    }
}

/// What a stream reports when it ends: tokens, cost, time to first token, or its failure.
fn stream_accounting(
    router: &Calls,
    config: &Rc<Config>,
    d: &Deployment,
    (ttft_ms, started): (f64, f64),
    prompt_estimate: u64,
    client_bound: bool,
    usage_cell: StreamUsage,
) -> Box<dyn FnOnce(StreamEnd)> {
    let state = router.state.clone();
    let clock = router.clock.clone();
    let config = config.clone();
    let id = d.id.clone();
    let group = d.group.clone();
    let prices = cost::prices(d);
    Box::new(move |end: StreamEnd| {
        // No usage chunk (not asked for, or the stream was cut or abandoned): what was relayed
        // is still charged, estimated from the prompt and the content sent.
        let usage = end.usage.unwrap_or(cost::Usage {
            prompt_tokens: prompt_estimate,
            completion_tokens: end.content_chars.div_ceil(4),
        });
        let now = clock.now_ms();
        // The client hung up, or its own shorter deadline ran out: not the deployment's doing.
        let cancelled = end.abandoned || (client_bound && end.error == Some(ErrorClass::Timeout));
        let outcome = Outcome {
            group: group.clone(),
            error: end.error.filter(|_| !cancelled),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cost: usage.priced(prices),
            latency_ms: Some(ttft_ms).filter(|_| !cancelled),
            ttft_ms: Some(ttft_ms).filter(|_| !cancelled),
            duration_ms: now - started,
            cancelled,
        };
        state.call_ended(&id, &outcome, now);
        let spent = (
            outcome.prompt_tokens + outcome.completion_tokens,
            outcome.cost,
        );
        if end.continues {
            usage_cell.carry(spent);
        } else {
            usage_cell.set(spent);
        }
        if let Some(class) = outcome.error {
            cool_down_if_needed(&*state, &config, &id, &group, class, now);
        }
    })
}

/// Checks that `bytes` is one JSON object, without building it.
fn json_object(bytes: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<IgnoredAny>(bytes)?;
    if bytes.trim_ascii_start().first() == Some(&b'{') {
        Ok(())
    } else {
        Err(serde::de::Error::custom(
            "a JSON value that is not an object",
        ))
    }
}

/// Whether a 2xx answer on `endpoint` is always JSON (audio transcripts may be plain text).
fn answers_in_json(endpoint: Endpoint) -> bool {
    !matches!(
        endpoint,
        Endpoint::Transcriptions | Endpoint::Translations | Endpoint::Speech
    )
}
