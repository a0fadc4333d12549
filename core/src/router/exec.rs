//! Running one request: the model group with its retries, then its fallbacks.
//!
//! 1. The requested group is tried: each attempt picks a healthy deployment by the routing
//!    strategy, skipping those that already failed this request while others remain.
//! 2. A failure is retried while its class has retries left (`retry_policy`, else
//!    `num_retries`; 400s, auth, context-window and content-policy errors get none). The wait is
//!    zero when another healthy deployment can take the retry, else the provider's
//!    `retry-after`, else exponential backoff with jitter. A deployment that stayed silent for a
//!    whole timeout is not asked again in the request while another path exists: with no other
//!    deployment left, the group gives up at once when a fallback can take the request.
//! 3. When the group gives up, its fallbacks are tried in order, each as a group of its own
//!    (own deployments, retries and cooldowns): context-window errors use
//!    `context_window_fallbacks`, falling back to the generic list when it has none;
//!    content-policy errors only `content_policy_fallbacks` (never routed around otherwise);
//!    other 400s none. A group is never tried twice, and at most `max_fallbacks` fallbacks are
//!    tried.
//! 4. If nothing served, the requested group's own error is returned.

mod hedge;

use super::attempt::{Answer, AnswerBody};
use super::continuation::{Continuation, ContinuationPlan};
use super::{RequestOptions, Routed, Router};
use crate::config::{Config, Deployment, RoutingStrategy};
use crate::error::{Error, ErrorClass};
use crate::request::ModelRequest;
use crate::retry::backoff_ms;
use crate::routing::{self, RequestFacts};
use crate::state::Limits;
use crate::tokens::estimate_request_tokens;
use crate::trace::{Step, StepKind, Trace};
use std::rc::Rc;

/// What happened so far, for the response headers and the request log.
#[derive(Default)]
struct Tally {
    trace: Trace,
    retries: u32,
    fallbacks: u32,
    /// A hedge went out (at most one per request).
    hedged: bool,
    /// ... and it served.
    hedge_won: bool,
}

/// Runs `req`; every group that failed on the way (the requested one, fallbacks) is noted in
/// `trace` as `group: class status` (no message: it could echo the prompt), and each step.
pub(super) async fn completion(
    router: &Router,
    req: &ModelRequest,
    trace: &mut Trace,
) -> Result<Routed, Error> {
    let mut config = router.config();
    // A library caller's request for an alias (the HTTP surface resolves its own before the
    // key is admitted).
    let aliased;
    let req = match config
        .alias_target(&req.model)
        .filter(|_| req.alias.is_none())
    {
        Some(_) => {
            let mut r = req.clone();
            config.resolve_alias(&mut r);
            aliased = r;
            &aliased
        }
        None => req,
    };
    let configured = config.knows(&req.model);
    let opts = RequestOptions::parse(&req.router_fields, &req.model, &config.router.client_caps)?;
    // Names that are not groups get deployments for this request: a wildcard deployment's
    // for any name it serves; a provider's own for models the config's fallbacks name. What
    // the client chose (its model, its body's fallbacks) gets only the first, and only where
    // its key may go.
    let s = &config.router;
    let mut client: Vec<&str> = vec![req.model.as_str()];
    let mut from_config: Vec<&str> = Vec::new();
    for (asked, configured) in [
        (opts.fallbacks.as_deref(), s.fallbacks.for_group(&req.model)),
        (
            opts.context_window_fallbacks.as_deref(),
            s.context_window_fallbacks.for_group(&req.model),
        ),
        (None, s.content_policy_fallbacks.for_group(&req.model)),
    ] {
        let (list, into) = match asked {
            Some(list) => (list, &mut client),
            None => (configured, &mut from_config),
        };
        into.extend(
            list.iter()
                .map(String::as_str)
                .filter(|n| may_use(req, &config, n)),
        );
    }
    if let Some(c) = config.with_implicit(&client, &from_config, &*router.secrets)? {
        config = Rc::new(c);
    }
    if !config.knows(&req.model) {
        return Err(Error::ModelNotFound {
            model: req.model.clone(),
        });
    }
    if !may_use(req, &config, &req.model) {
        return Err(not_allowed(&req.model));
    }
    // Metrics count a name a wildcard serves under the wildcard: series stay bounded by the
    // config, whatever names clients invent.
    let label: &str = match configured {
        true => &req.model,
        false => config
            .wildcard_for(&req.model)
            .map_or(req.model.as_str(), |(g, _)| g),
    };
    let prompt_tokens = estimate_request_tokens(&req.body);
    let mut tally = Tally::default();
    let run = GroupRun {
        router,
        config: &config,
        req,
        opts: &opts,
        prompt_tokens,
    };

    // Where a timeout would go (the generic list), looked at without copying it.
    let escape = !opts.disable_fallbacks
        && !opts
            .fallbacks
            .as_deref()
            .unwrap_or_else(|| config.router.fallbacks.for_group(&req.model))
            .is_empty();
    let primary = match run.group(&req.model, &mut tally, escape).await {
        Ok(ok) => {
            tally.close(router, label, trace);
            return Ok(run.finish(ok, &req.model, tally, label));
        }
        Err(e) => {
            trace.failed.push(failure(&req.model, &e));
            e
        }
    };
    if opts.disable_fallbacks {
        tally.close(router, label, trace);
        return Err(primary);
    }
    let mut tried = vec![req.model.clone()];
    let mut refused: Vec<String> = Vec::new();
    let fallbacks = fallback_list(&config, &req.model, primary.class(), &opts);
    for (i, fallback) in fallbacks.iter().cloned().enumerate() {
        if tally.fallbacks >= config.router.max_fallbacks {
            break;
        }
        if tried.contains(&fallback) || !config.knows(&fallback) {
            continue;
        }
        if !may_use(req, &config, &fallback) {
            // A key's allowlist holds for every group a request can reach, fallbacks too.
            if !refused.contains(&fallback) {
                tally.trace.push(Step {
                    group: fallback.clone(),
                    deployment: None,
                    kind: StepKind::FallbackSkipped,
                    detail: "this API key may not use it".into(),
                    ms: None,
                });
                refused.push(fallback);
            }
            continue;
        }
        tried.push(fallback.clone());
        tally.fallbacks += 1;
        match run
            .group(&fallback, &mut tally, i + 1 < fallbacks.len())
            .await
        {
            Ok(ok) => {
                tally.close(router, label, trace);
                return Ok(run.finish(ok, &fallback, tally, label));
            }
            Err(e) => trace.failed.push(failure(&fallback, &e)),
        }
    }
    tally.close(router, label, trace);
    if refused.is_empty() {
        Err(primary)
    } else {
        Err(primary.with_note(&format!(
            "Fallbacks not tried because this API key may not use them: {}.",
            refused.join(", ")
        )))
    }
}

/// Whether the caller may use `name`: every model without a key allowlist; with one, the
/// groups it lists (`*` for all), and deployment ids of those groups.
pub(super) fn may_use(req: &ModelRequest, config: &Config, name: &str) -> bool {
    let Some(list) = &req.allowed_models else {
        return true;
    };
    let listed = |n: &str| list.iter().any(|m| crate::keys::key_allows(m, n));
    // The alias the client called the group by opens it too.
    if listed(name) || (name == req.model && req.alias.as_deref().is_some_and(listed)) {
        return true;
    }
    match config.deployments_for(name) {
        // A deployment id, or a model a wildcard deployment serves: allowed with its group.
        Some((ds, _)) => !ds.is_empty() && ds.iter().all(|d| listed(&d.group)),
        None => false,
    }
}

/// How a group failed, for the log line.
fn failure(group: &str, e: &Error) -> String {
    format!("{group}: {}", failure_detail(e))
}

/// An error as `class status`: never its message (an upstream's could echo the prompt).
fn failure_detail(e: &Error) -> String {
    let class = e.class().map_or("error", ErrorClass::label);
    format!("{class} {}", e.status())
}

impl Tally {
    /// The request is done: its counts go to the router's tallies, its steps to `trace`.
    fn close(&mut self, router: &Router, label: &str, trace: &mut Trace) {
        router.record_tally(label, &self.counts());
        trace.steps = std::mem::take(&mut self.trace.steps);
    }

    fn counts(&self) -> super::usage::GroupTally {
        super::usage::GroupTally {
            retries: self.retries.into(),
            fallbacks: self.fallbacks.into(),
            hedges: self.hedged.into(),
            hedge_wins: self.hedge_won.into(),
            continued: 0,
        }
    }
}

fn not_allowed(model: &str) -> Error {
    Error::Forbidden {
        message: format!("This API key may not use the model `{model}`."),
    }
}

/// The fallback groups for an error of `class` from `group`, in order.
fn fallback_list(
    config: &Config,
    group: &str,
    class: Option<ErrorClass>,
    opts: &RequestOptions,
) -> Vec<String> {
    let s = &config.router;
    let generic: Vec<String> = opts
        .fallbacks
        .clone()
        .unwrap_or_else(|| s.fallbacks.for_group(group).to_vec());
    let specific: Option<Vec<String>> = match class {
        Some(ErrorClass::ContextWindowExceeded) => Some(
            opts.context_window_fallbacks
                .clone()
                .unwrap_or_else(|| s.context_window_fallbacks.for_group(group).to_vec()),
        ),
        // A content filter's refusal is not routed around unless the config names where such
        // a request may go: the generic fallbacks would send the same prompt to a model with
        // another filter (LiteLLM falls back to them).
        Some(ErrorClass::ContentPolicyViolation) => {
            return s.content_policy_fallbacks.for_group(group).to_vec()
        }
        Some(ErrorClass::BadRequest) | None => return Vec::new(),
        Some(_) => None,
    };
    match specific {
        Some(list) if !list.is_empty() => list,
        _ => generic,
    }
}

struct GroupRun<'a> {
    router: &'a Router,
    config: &'a Rc<Config>,
    req: &'a ModelRequest,
    opts: &'a RequestOptions,
    prompt_tokens: u64,
}

struct Served {
    deployment: Deployment,
    answer: Answer,
}

impl Served {
    fn finish(self, tally: Tally) -> Routed {
        Routed {
            deployment_id: self.deployment.id,
            group: self.deployment.group,
            api_base: crate::redact::public_base(&self.deployment.api_base),
            body: self.answer.body.into_routed(),
            attempted_retries: tally.retries,
            attempted_fallbacks: tally.fallbacks,
            hedged: tally.hedged,
            continued: None,
            response_cost: self.answer.cost,
            stream_usage: self.answer.stream_usage,
            request_id: self.answer.request_id,
            usage: self.answer.usage,
        }
    }
}

impl GroupRun<'_> {
    /// The answer for the client, served by the group `name`. A chat stream gets where it is
    /// finished if it breaks after its first event (`continuation.rs`).
    fn finish(&self, mut served: Served, name: &str, tally: Tally, label: &str) -> Routed {
        let mut continued = None;
        if self.req.endpoint == crate::endpoint::Endpoint::Chat {
            if let AnswerBody::Relay { relay, first } = served.answer.body {
                let counter = Rc::new(std::cell::Cell::new(0));
                continued = Some(counter.clone());
                let plan = ContinuationPlan {
                    req: self.req.clone(),
                    groups: self.continuation_groups(name),
                    first: served.deployment.id.clone(),
                    timeout_ms: self.opts.timeout_ms,
                    usage: served.answer.stream_usage.clone().unwrap_or_default(),
                    served: counter,
                    tallies: (self.router.tallies.clone(), label.to_string()),
                };
                let rescue =
                    Continuation::new(self.router.calls.clone(), self.config.clone(), plan);
                served.answer.body = AnswerBody::Relay {
                    relay: Box::new(relay.rescue(Box::new(rescue))),
                    first,
                };
            }
        }
        let mut routed = served.finish(tally);
        routed.continued = continued;
        routed
    }

    /// Where a broken stream served by `name` may be finished: `name`'s other deployments,
    /// then the request's fallbacks (a 5xx's), those the caller may use.
    fn continuation_groups(&self, name: &str) -> Vec<String> {
        let mut groups = vec![name.to_string()];
        if !self.opts.disable_fallbacks {
            let class = Some(ErrorClass::InternalServer);
            for f in fallback_list(self.config, &self.req.model, class, self.opts) {
                if !groups.contains(&f)
                    && self.config.knows(&f)
                    && may_use(self.req, self.config, &f)
                {
                    groups.push(f);
                }
            }
        }
        groups
    }

    /// The deployments a request for `name` may use; with cost-based routing, also those of
    /// the groups `cost_substitutes` allows in its place.
    fn pool(&self, name: &str) -> (Vec<&Deployment>, bool) {
        let Some((mut pool, by_id)) = self.config.deployments_for(name) else {
            return (Vec::new(), false);
        };
        let endpoint = self.req.endpoint;
        pool.retain(|d| crate::adapter::serves(d, endpoint));
        let s = &self.config.router;
        if s.routing_strategy == RoutingStrategy::CostBased {
            for sub in s.cost_substitutes.get(name).into_iter().flatten() {
                if !may_use(self.req, self.config, sub) {
                    continue;
                }
                if let Some((more, _)) = self.config.deployments_for(sub) {
                    pool.extend(
                        more.into_iter()
                            .filter(|d| crate::adapter::serves(d, endpoint)),
                    );
                }
            }
        }
        (pool, by_id)
    }

    /// Runs the group `name`. `escape`: the request has somewhere else to go (a fallback) if
    /// this group gives up.
    async fn group(&self, name: &str, tally: &mut Tally, escape: bool) -> Result<Served, Error> {
        let r = self.router;
        let s = &self.config.router;
        let (pool, by_id) = self.pool(name);
        if pool.is_empty() {
            let providers: Vec<&str> = self
                .config
                .deployments_for(name)
                .map(|(ds, _)| ds.iter().map(|d| d.provider.name).collect())
                .unwrap_or_default();
            return Err(Error::invalid(
                format!(
                    "No deployment of `{name}` serves {} (provider: {}).",
                    self.req.endpoint.path(),
                    providers.join(", ")
                ),
                Some("model".to_string()),
            ));
        }
        self.prepare(&pool).await;
        let policy = s.retry_for_group(name);
        let mut failed: Vec<String> = Vec::new();
        let mut attempts: Vec<(String, u32)> = Vec::new();
        let mut full: Vec<String> = Vec::new();
        // Deployments that stayed silent for a whole timeout: not asked again in this request
        // while another path exists (another deployment, or a fallback group).
        let mut silent: Vec<String> = Vec::new();
        let mut last: Option<Error> = None;
        let mut retries = 0u32;
        loop {
            let facts = RequestFacts {
                tags: &self.opts.tags,
                prompt_tokens: self.prompt_tokens,
                failed: &failed,
                attempts: &attempts,
                full: &full,
            };
            let now = r.clock.now_ms();
            // A deployment named by its id obeys the same cooldowns and limits as its group.
            let mut left_out = Vec::new();
            let picked =
                routing::candidates_noting(name, &pool, &*r.state, now, s, &facts, &mut left_out);
            for (id, why) in left_out {
                tally.trace.skipped(name, &id, why);
            }
            let mut candidates = match picked {
                Ok(c) => c,
                Err(e) => return Err(last.unwrap_or(e)),
            };
            if !silent.is_empty() {
                if candidates.iter().all(|c| silent.contains(&c.d.id)) {
                    if escape {
                        if let Some(e) = last.take() {
                            return Err(e);
                        }
                    }
                } else {
                    candidates.retain(|c| !silent.contains(&c.d.id));
                }
            }
            let i = routing::pick(
                s.routing_strategy,
                &candidates,
                &s.strategy_args,
                &mut r.rng.borrow_mut(),
            );
            let d = candidates[i].d;
            let Some(counted) = self.reserve(d).await else {
                full.push(d.id.clone());
                continue;
            };
            match attempts.iter_mut().find(|(id, _)| *id == d.id) {
                Some((_, n)) => *n += 1,
                None => attempts.push((d.id.clone(), 1)),
            }
            // The first attempt of a group may be hedged, once per request.
            let started = r.clock.now_ms();
            let hedge_after = match (tally.hedged, attempts.len(), self.hedgeable()) {
                (false, 1, true) if retries == 0 => d
                    .hedge
                    .after_ms(self.req.stream, candidates[i].snap.ttft_p95_ms),
                _ => None,
            };
            let result = match hedge_after {
                Some(after) => {
                    let raced = self.race(name, &pool, by_id, d, counted, after).await;
                    tally.hedged |= raced.hedged;
                    if raced.hedged {
                        tally.trace.push(Step {
                            group: name.to_string(),
                            deployment: raced.hedge_served.as_ref().map(|o| o.id.clone()),
                            kind: StepKind::Hedged,
                            detail: format!("a second call after {after} ms"),
                            ms: None,
                        });
                    }
                    if let Some(id) = raced.hedge_failed {
                        failed.push(id);
                    }
                    match (raced.result, raced.hedge_served) {
                        (Ok(answer), Some(other)) => {
                            tally.hedge_won = true;
                            if !pool.iter().any(|p| p.id == other.id) {
                                tally.fallbacks += 1;
                            }
                            tally.trace.push(Step {
                                group: other.group.clone(),
                                deployment: Some(other.id.clone()),
                                kind: StepKind::Served,
                                detail: "the hedge".into(),
                                ms: Some(r.clock.now_ms() - started),
                            });
                            return Ok(Served {
                                deployment: other,
                                answer,
                            });
                        }
                        (result, _) => result,
                    }
                }
                None => {
                    r.calls
                        .attempt(self.config, d, self.req, self.opts.timeout_ms, counted)
                        .await
                }
            };
            let took = Some(r.clock.now_ms() - started);
            let e = match result {
                Ok(answer) => {
                    tally.trace.push(Step {
                        group: name.to_string(),
                        deployment: Some(d.id.clone()),
                        kind: StepKind::Served,
                        detail: String::new(),
                        ms: took,
                    });
                    return Ok(Served {
                        deployment: d.clone(),
                        answer,
                    });
                }
                Err(e) => e,
            };
            tally.trace.push(Step {
                group: name.to_string(),
                deployment: Some(d.id.clone()),
                kind: StepKind::Failed,
                detail: failure_detail(&e),
                ms: took,
            });
            if !failed.contains(&d.id) {
                failed.push(d.id.clone());
            }
            if matches!(e, Error::UpstreamTimeout { .. }) && !silent.contains(&d.id) {
                silent.push(d.id.clone());
                // Nothing but silent deployments left here: the fallback takes it now.
                if escape && !self.other_deployment_ready(name, &pool, by_id, &silent, &attempts) {
                    return Err(e);
                }
            }
            let asked = self.opts.num_retries.or(d.num_retries);
            let allowed = e
                .class()
                .map_or(0, |class| policy.retries_for(class, asked));
            if retries >= allowed {
                return Err(e);
            }
            let wait = if self.other_deployment_ready(name, &pool, by_id, &failed, &attempts) {
                0
            } else {
                backoff_ms(policy, retries, e.retry_after_ms(), &mut r.rng.borrow_mut())
            };
            retries += 1;
            tally.retries += 1;
            last = Some(e);
            if wait > 0 {
                tally.trace.push(Step {
                    group: name.to_string(),
                    deployment: None,
                    kind: StepKind::Waited,
                    detail: "backoff before the retry".into(),
                    ms: Some(wait as f64),
                });
                r.clock.sleep(wait).await;
            }
        }
    }

    /// Loads the shared state of the groups in `pool` where this isolate has none yet.
    async fn prepare(&self, pool: &[&Deployment]) {
        let mut groups: Vec<&str> = pool.iter().map(|d| d.group.as_str()).collect();
        groups.dedup();
        for g in groups {
            if let Some(load) = self.router.state.prepare(g) {
                load.await;
            }
        }
    }

    /// Takes a slot on `d` where its limits must hold across isolates (reserved at the shard):
    /// `Some(true)` reserved, `Some(false)` nothing to reserve (or the shard did not answer:
    /// the call is counted as it starts), `None` full.
    async fn reserve(&self, d: &Deployment) -> Option<bool> {
        let s = &self.config.router;
        let limits = Limits {
            rpm: d.rpm.filter(|_| s.routing_strategy.enforces_limits()),
            max_parallel: d.max_parallel_requests,
        };
        if !limits.any() {
            return Some(false);
        }
        let now = self.router.clock.now_ms();
        let until = super::attempt::slot_deadline(d, self.req, self.opts.timeout_ms, now);
        match self
            .router
            .state
            .reserve(&d.id, &d.group, limits, now, until)
            .await
        {
            Ok(true) => Some(true),
            Ok(false) => None,
            Err(_) => Some(false),
        }
    }

    /// Whether a retry can go at once to a healthy deployment that is not in `failed`.
    fn other_deployment_ready(
        &self,
        name: &str,
        pool: &[&Deployment],
        by_id: bool,
        failed: &[String],
        attempts: &[(String, u32)],
    ) -> bool {
        if by_id {
            return false;
        }
        let facts = RequestFacts {
            tags: &self.opts.tags,
            prompt_tokens: self.prompt_tokens,
            failed,
            attempts,
            full: &[],
        };
        let now = self.router.clock.now_ms();
        routing::candidates(
            name,
            pool,
            &*self.router.state,
            now,
            &self.config.router,
            &facts,
        )
        .map(|c| c.iter().any(|c| !failed.contains(&c.d.id)))
        .unwrap_or(false)
    }
}
