//! The hedged first token. A call that has produced nothing by the hedge point gets a second
//! attempt on another deployment of its group (for the requested group with no other, on the
//! first fallback's) while it keeps running. The first to produce its first event wins; the
//! other is dropped, which cancels its upstream call and frees its slot (nothing of it is
//! charged to the client's key). A slow first attempt that answers first still wins, so a
//! legitimately slow model is never cut off.

use super::{fallback_list, may_use, GroupRun};
use crate::config::Deployment;
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorClass};
use crate::router::attempt::Answer;
use crate::routing::{self, RequestFacts};
use futures::future::{select, Either};
use std::pin::pin;

/// How a hedged attempt ended.
pub(super) struct Raced {
    pub result: Result<Answer, Error>,
    /// The hedge's deployment, when the hedge served (else the first attempt did, or failed).
    pub hedge_served: Option<Deployment>,
    /// A hedge went out.
    pub hedged: bool,
    /// The hedge's deployment, when it failed too (not asked again in this group).
    pub hedge_failed: Option<String>,
}

impl Raced {
    fn alone(result: Result<Answer, Error>) -> Self {
        Raced {
            result,
            hedge_served: None,
            hedged: false,
            hedge_failed: None,
        }
    }
}

impl GroupRun<'_> {
    /// Whether this request may be sent twice at once: chat and text completions, whose
    /// repeat has no effect beyond its cost (`n > 1` included: the loser is cancelled before it
    /// has produced anything the client sees). Not one the provider keeps (`store: true`):
    /// the race would store two completions.
    pub(super) fn hedgeable(&self) -> bool {
        matches!(self.req.endpoint, Endpoint::Chat | Endpoint::Completions)
            && self
                .req
                .body
                .get("store")
                .and_then(serde_json::Value::as_bool)
                != Some(true)
    }

    /// The attempt on `d` (its slot already taken when `counted`), hedged after `after_ms`.
    pub(super) async fn race(
        &self,
        name: &str,
        pool: &[&Deployment],
        by_id: bool,
        d: &Deployment,
        counted: bool,
        after_ms: u64,
    ) -> Raced {
        let r = self.router;
        let timeout = self.opts.timeout_ms;
        let mut first = pin!(r.calls.attempt(self.config, d, self.req, timeout, counted));
        match select(first.as_mut(), pin!(r.clock.sleep(after_ms))).await {
            Either::Left((result, _)) => return Raced::alone(result),
            Either::Right(_) => {}
        }
        let Some((other, counted)) = self.hedge_target(name, pool, by_id, d).await else {
            return Raced::alone(first.await);
        };
        let mut second = pin!(r
            .calls
            .attempt(self.config, &other, self.req, timeout, counted));
        let (result, hedge_served, hedge_failed) =
            match select(first.as_mut(), second.as_mut()).await {
                Either::Left((Ok(a), _)) => (Ok(a), None, None),
                Either::Left((Err(e), _)) => match second.await {
                    Ok(a) => (Ok(a), Some(other.clone()), None),
                    Err(_) => (Err(e), None, Some(other.id.clone())),
                },
                Either::Right((Ok(a), _)) => (Ok(a), Some(other.clone()), None),
                Either::Right((Err(_), _)) => (first.await, None, Some(other.id.clone())),
            };
        // The loser, still pinned here, is dropped on return: its call is cancelled.
        Raced {
            result,
            hedge_served,
            hedged: true,
            hedge_failed,
        }
    }

    /// Where a hedge of a call to `taken` goes: another ready deployment of `name`, else, for
    /// the requested group, the first fallback (a timeout's) the caller may use. With its
    /// slot reserved when it has limits; `None` when nothing can take it now.
    async fn hedge_target(
        &self,
        name: &str,
        pool: &[&Deployment],
        by_id: bool,
        taken: &Deployment,
    ) -> Option<(Deployment, bool)> {
        if !by_id {
            if let Some(d) = self.pick_other(name, pool, &taken.id) {
                if let Some(counted) = self.reserve(d).await {
                    return Some((d.clone(), counted));
                }
            }
        }
        let s = &self.config.router;
        if name != self.req.model || self.opts.disable_fallbacks || s.max_fallbacks == 0 {
            return None;
        }
        let list = fallback_list(self.config, name, Some(ErrorClass::Timeout), self.opts);
        let fallback = list
            .iter()
            .find(|f| *f != name && self.config.knows(f) && may_use(self.req, self.config, f))?;
        let (fb_pool, _) = self.pool(fallback);
        self.prepare(&fb_pool).await;
        let d = self.pick_other(fallback, &fb_pool, &taken.id)?;
        let counted = self.reserve(d).await?;
        Some((d.clone(), counted))
    }

    /// The strategy's pick among the ready deployments of `name` other than `not`.
    fn pick_other<'p>(
        &self,
        name: &str,
        pool: &[&'p Deployment],
        not: &str,
    ) -> Option<&'p Deployment> {
        let r = self.router;
        let s = &self.config.router;
        let failed = [not.to_string()];
        let facts = RequestFacts {
            tags: &self.opts.tags,
            prompt_tokens: self.prompt_tokens,
            failed: &failed,
            attempts: &[],
            full: &[],
        };
        let mut candidates =
            routing::candidates(name, pool, &*r.state, r.clock.now_ms(), s, &facts).ok()?;
        candidates.retain(|c| c.d.id != not);
        if candidates.is_empty() {
            return None;
        }
        let i = routing::pick(
            s.routing_strategy,
            &candidates,
            &s.strategy_args,
            &mut r.rng.borrow_mut(),
        );
        Some(candidates[i].d)
    }
}
