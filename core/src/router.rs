//! The Router: LiteLLM's `Router` for the edge. It owns the validated config and the ports, picks
//! a deployment of the requested model group and makes the upstream call.

use crate::config::{Config, Deployment};
use crate::error::Error;
use crate::ports::{Clock, Upstream, UpstreamBody, UpstreamRequest, UpstreamResponse};
use crate::provider::endpoint_url;
use crate::relay::{ClientStream, Relay};
use crate::request::ChatRequest;
use crate::rng::Rng;
use crate::routing;
use futures::future::{select, Either};
use std::cell::RefCell;
use std::rc::Rc;

/// What the router needs from its host: the upstream transport, a clock and a random seed.
pub struct Runtime {
    pub upstream: Rc<dyn Upstream>,
    pub clock: Rc<dyn Clock>,
    pub seed: u64,
}

pub struct Router {
    config: Config,
    upstream: Rc<dyn Upstream>,
    clock: Rc<dyn Clock>,
    rng: RefCell<Rng>,
}

/// A successful answer and who gave it.
pub struct Routed {
    pub deployment_id: String,
    pub group: String,
    pub api_base: String,
    pub body: RoutedBody,
}

pub enum RoutedBody {
    /// A complete JSON response, passed on as the provider sent it.
    Json(Vec<u8>),
    /// An SSE stream whose first event has already arrived.
    Stream(ClientStream),
}

impl Router {
    pub fn new(config: Config, runtime: Runtime) -> Self {
        Router {
            config,
            upstream: runtime.upstream,
            clock: runtime.clock,
            rng: RefCell::new(Rng::seeded(runtime.seed)),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A fresh id for a call (`x-litellm-call-id`).
    pub fn call_id(&self) -> String {
        self.rng.borrow_mut().hex_id()
    }

    /// Routes a chat completion to one deployment of `req.model`'s group.
    pub async fn completion(&self, req: &ChatRequest) -> Result<Routed, Error> {
        let candidates: Vec<&Deployment> = self
            .config
            .group(&req.model)
            .ok_or_else(|| Error::ModelNotFound {
                model: req.model.clone(),
            })?
            .collect();
        let picked =
            routing::simple_shuffle(&candidates, &mut self.rng.borrow_mut()).ok_or_else(|| {
                Error::ModelNotFound {
                    model: req.model.clone(),
                }
            })?;
        let deployment = candidates[picked];
        let body = self.call(deployment, req).await?;
        Ok(Routed {
            deployment_id: deployment.id.clone(),
            group: deployment.group.clone(),
            api_base: deployment.api_base.clone(),
            body,
        })
    }

    async fn call(&self, d: &Deployment, req: &ChatRequest) -> Result<RoutedBody, Error> {
        let upstream_req = chat_request(d, req);
        let started = self.clock.now_ms();
        let resp = self.send_within(upstream_req, d.timeout_ms).await?;
        if !(200..300).contains(&resp.status) {
            let left = (d.timeout_ms as f64 - (self.clock.now_ms() - started)).max(1.0) as u64;
            return Err(self.error_from(resp, left).await);
        }
        match resp.body {
            UpstreamBody::Full(bytes) => Ok(RoutedBody::Json(bytes)),
            UpstreamBody::Stream(stream) => {
                let mut relay = Relay::new(stream, self.clock.clone(), d.stream_timeout_ms);
                let elapsed = (self.clock.now_ms() - started).max(0.0) as u64;
                let first = relay
                    .first_frame(d.stream_timeout_ms.saturating_sub(elapsed).max(1))
                    .await?;
                Ok(RoutedBody::Stream(relay.into_client_stream(first)))
            }
        }
    }

    /// Sends, giving up after `timeout_ms`. Giving up drops the transport's future, which
    /// cancels the call.
    async fn send_within(
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

    /// The error for a non-2xx answer, with its body (read within `left_ms` if it is a stream).
    async fn error_from(&self, resp: UpstreamResponse, left_ms: u64) -> Error {
        let retry_after = resp.header("retry-after").map(str::to_string).or_else(|| {
            resp.header("retry-after-ms")
                .map(|ms| format!("{}", ms.parse::<f64>().unwrap_or(0.0) / 1000.0))
        });
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
        Error::Upstream {
            status: resp.status,
            body,
            retry_after,
        }
    }
}

/// The HTTP call for a chat completion on an OpenAI-compatible deployment.
fn chat_request(d: &Deployment, req: &ChatRequest) -> UpstreamRequest {
    let mut headers = Vec::with_capacity(4);
    headers.push(("content-type", "application/json".to_string()));
    if req.stream {
        headers.push(("accept", "text/event-stream".to_string()));
    }
    if let Some(key) = &d.api_key {
        headers.push(("authorization", format!("Bearer {key}")));
    }
    if let Some(org) = &d.organization {
        headers.push(("openai-organization", org.clone()));
    }
    UpstreamRequest {
        method: "POST",
        url: endpoint_url(&d.api_base, "/chat/completions"),
        headers,
        body: req.upstream_body(d),
        stream: req.stream,
    }
}

#[cfg(test)]
mod tests;
