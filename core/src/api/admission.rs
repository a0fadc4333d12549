//! What a virtual key does to a model call: admitted before it (its expected cost and tokens
//! held against the budget and tpm), settled after it with what it really cost.

use crate::config::Config;
use crate::error::Error;
use crate::keys::{Hold, KeyOp, KeyReply};
use crate::ports::{KeyStore, LocalFuture, RouterState};
use crate::relay::{ClientStream, StreamUsage};
use crate::request::ModelRequest;
use serde_json::Value;
use std::cell::Cell;
use std::rc::Rc;

/// Completion tokens assumed for a call that sets no `max_tokens` and whose group has no
/// history yet.
const DEFAULT_COMPLETION_ESTIMATE: u64 = 256;

/// A key's admission: the models it may use (`None`: all) and the hold to settle.
pub struct Admission {
    pub models: Option<Vec<String>>,
    pub hold: Option<u64>,
}

/// What a call is expected to cost, held against the key's budget and tpm while it runs: the
/// prompt (estimated) and `max_tokens` (else the group's recent mean, else 256) at the dearest
/// deployment's prices, and never less than the group's recent mean cost per call.
pub fn expected(config: &Config, state: &dyn RouterState, now_ms: f64, req: &ModelRequest) -> Hold {
    let prompt = crate::tokens::estimate_request_tokens(&req.body);
    let deployments: Vec<&crate::config::Deployment> = config
        .deployments_for(&req.model)
        .map(|(ds, _)| ds)
        .unwrap_or_default();
    let (mut calls, mut cost, mut completion) = (0u64, 0.0, 0u64);
    for d in &deployments {
        let t = state.totals_of(&d.id);
        calls += t.successes;
        cost += t.cost;
        completion += t.completion_tokens;
    }
    let asked = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| req.body.get(*k).and_then(Value::as_u64));
    let completion = asked.unwrap_or(if calls > 0 {
        completion.div_ceil(calls).max(1)
    } else {
        DEFAULT_COMPLETION_ESTIMATE
    });
    let usage = crate::cost::Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
    };
    let priced = deployments
        .iter()
        .map(|d| usage.cost(d))
        .fold(0.0, f64::max);
    let mean = if calls > 0 { cost / calls as f64 } else { 0.0 };
    let longest = deployments
        .iter()
        .map(|d| d.timeout_ms)
        .max()
        .unwrap_or(config.router.timeout_ms);
    Hold {
        id: 0,
        cost: priced.max(mean),
        tokens: prompt + completion,
        // Past its own deadline a call has ended, settled or not.
        until_ms: now_ms + longest as f64 + 60_000.0,
    }
}

/// Checks a model call against the key (models, expiry, budget, rpm/tpm), counts it and holds
/// `hold`, its expected cost ([`expected`]).
pub async fn admit(
    store: &dyn KeyStore,
    hash: &str,
    req: &ModelRequest,
    hold: Hold,
) -> Result<Admission, Error> {
    match store
        .apply(KeyOp::Admit {
            hash: hash.into(),
            model: req.model.clone(),
            alias: req.alias.clone(),
            hold,
        })
        .await?
    {
        KeyReply::Admitted { models, hold } => Ok(Admission {
            models: Some(models).filter(|m| !m.is_empty()),
            hold,
        }),
        KeyReply::Refused { refusal } => Err(refusal.error()),
        _ => Err(Error::Internal {
            message: "unexpected key store reply".into(),
        }),
    }
}

/// Settles a call: its tokens and cost (0 for one that failed or was served from the cache),
/// letting go of its hold.
pub fn settle(
    store: Rc<dyn KeyStore>,
    hash: &str,
    hold: Option<u64>,
    tokens: u64,
    cost: f64,
) -> LocalFuture<()> {
    let op = KeyOp::Charge {
        hash: hash.into(),
        tokens,
        cost,
        hold,
    };
    Box::pin(async move {
        let _ = store.apply(op).await;
    })
}

/// Settles a stream with what it relayed, however it ends. A client that reads it to the end
/// gets it settled before the stream closes (its next call sees the spend); one that hangs up
/// drops the stream, and the returned background work settles it then.
pub fn settle_at_end(
    store: Rc<dyn KeyStore>,
    hash: &str,
    hold: Option<u64>,
    stream: ClientStream,
    usage: StreamUsage,
) -> (ClientStream, LocalFuture<()>) {
    let settled = Rc::new(Cell::new(false));
    let (dropped, on_drop) = futures::channel::oneshot::channel::<()>();
    let charge = {
        let hash = hash.to_string();
        move || {
            let (tokens, cost) = usage.get().unwrap_or((0, 0.0));
            settle(store.clone(), &hash, hold, tokens, cost)
        }
    };
    let tail = {
        let settled = settled.clone();
        let charge = charge.clone();
        futures::stream::once(async move {
            // Moved in, so it drops (and wakes the background work) with the stream.
            let _guard = dropped;
            if !settled.replace(true) {
                charge().await;
            }
            Vec::new()
        })
    };
    let background = Box::pin(async move {
        // Resolves when the stream is dropped: read to its end, or abandoned mid-way.
        let _ = on_drop.await;
        if !settled.replace(true) {
            charge().await;
        }
    });
    (
        Box::pin(futures::StreamExt::chain(stream, tail)),
        background,
    )
}

/// The tokens and cost of an answered (non-streaming) call: its body's `usage` and its price.
pub fn spent(body: &[u8], cost: Option<f64>) -> (u64, f64) {
    let tokens = crate::cost::usage_of(body).map_or(0, |u| u.prompt_tokens + u.completion_tokens);
    (tokens, cost.unwrap_or(0.0))
}
