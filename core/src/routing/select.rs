//! Which deployments of a group may take a request, in LiteLLM's order of checks.

use super::Candidate;
use crate::config::{Deployment, RouterSettings};
use crate::cost;
use crate::error::Error;
use crate::ports::RouterState;
use crate::state::{minute_of, MINUTE_MS};

/// What selection needs to know about the request.
#[derive(Debug, Default)]
pub struct RequestFacts<'a> {
    /// `tags` / `metadata.tags` of the request.
    pub tags: &'a [String],
    pub prompt_tokens: u64,
    /// Deployments that already failed this request: skipped while others remain.
    pub failed: &'a [String],
    /// Attempts made at each deployment for this request (for its `max_retries`).
    pub attempts: &'a [(String, u32)],
    /// Deployments whose shard refused a reservation for this request (at an exact limit).
    pub full: &'a [String],
}

/// The candidates for `group`, after these steps:
/// 1. tags: with request tags, the deployments carrying one of them, else those tagged
///    `default`; without, the `default`-tagged ones if any, else all;
/// 2. pre-call check (`enable_pre_call_checks`): drop deployments whose context window is
///    smaller than the prompt; none left is a context-window error (-> its fallbacks);
/// 3. health and limits: drop deployments cooling down, at `max_parallel_requests`, past their
///    own `max_retries` for this request, and (usage- and cost-based routing) those whose
///    `rpm` this request would exceed, or whose `tpm` this minute's tokens reached; none left is a 429 saying when one is expected back;
/// 4. drop deployments that already failed this request, unless that leaves none;
/// 5. order: keep the lowest `order` present (deployments without one come after all ordered).
pub fn candidates<'a>(
    group: &str,
    deployments: &[&'a Deployment],
    state: &dyn RouterState,
    now_ms: f64,
    settings: &RouterSettings,
    req: &RequestFacts<'_>,
) -> Result<Vec<Candidate<'a>>, Error> {
    candidates_noting(
        group,
        deployments,
        state,
        now_ms,
        settings,
        req,
        &mut Vec::new(),
    )
}

/// [`candidates`], noting in `left_out` each deployment it leaves out and why (for the
/// request log's attempt trace).
pub fn candidates_noting<'a>(
    group: &str,
    deployments: &[&'a Deployment],
    state: &dyn RouterState,
    now_ms: f64,
    settings: &RouterSettings,
    req: &RequestFacts<'_>,
    left_out: &mut Vec<(String, &'static str)>,
) -> Result<Vec<Candidate<'a>>, Error> {
    let mut pool: Vec<&Deployment> = deployments.to_vec();
    let mut note = |kept: &[&Deployment], before: &[&Deployment], why: &'static str| {
        for d in before {
            if !kept.iter().any(|k| k.id == d.id) {
                left_out.push((d.id.clone(), why));
            }
        }
    };

    if settings.tag_filtering {
        let tagged = |d: &&Deployment, t: &str| d.tags.iter().any(|x| x == t);
        let defaults: Vec<&Deployment> = pool
            .iter()
            .copied()
            .filter(|d| tagged(d, "default"))
            .collect();
        if !req.tags.is_empty() {
            let matching: Vec<&Deployment> = pool
                .iter()
                .copied()
                .filter(|d| req.tags.iter().any(|t| tagged(d, t)))
                .collect();
            let next = if !matching.is_empty() {
                matching
            } else {
                defaults
            };
            note(&next, &pool, "no matching tag");
            pool = next;
            if pool.is_empty() {
                return Err(Error::invalid(
                    format!(
                        "No deployment of `{group}` carries any of the tags [{}] and none is tagged `default`.",
                        req.tags.join(", ")
                    ),
                    Some("tags".to_string()),
                ));
            }
        } else if !defaults.is_empty() {
            note(&defaults, &pool, "not tagged default");
            pool = defaults;
        }
    }

    if settings.pre_call_checks {
        let before = pool.clone();
        pool.retain(|d| cost::context_window(d).is_none_or(|w| w >= req.prompt_tokens));
        note(&pool, &before, "context window too small");
        if pool.is_empty() && !before.is_empty() {
            return Err(Error::ContextWindowExceeded {
                message: format!(
                    "This request has about {} prompt tokens, more than the context window of every deployment of `{group}`.",
                    req.prompt_tokens
                ),
            });
        }
    }

    let limits_apply = settings.routing_strategy.enforces_limits();
    let next_minute_ms = (minute_of(now_ms) + 1) as f64 * MINUTE_MS - now_ms;
    let mut soonest: Option<(f64, &'static str)> = None;
    let mut wait = |ms: f64, why: &'static str| {
        if soonest.is_none_or(|(s, _)| ms < s) {
            soonest = Some((ms, why));
        }
    };
    let mut healthy: Vec<Candidate<'a>> = Vec::with_capacity(pool.len());
    for d in pool {
        let snap = state.snapshot(&d.id, now_ms);
        if snap.cooling(now_ms) {
            wait(
                snap.cooldown_until_ms - now_ms,
                "cooling down after failures",
            );
            left_out.push((d.id.clone(), "cooling down after failures"));
            continue;
        }
        if let Some(max) = d.max_retries {
            let tried = req
                .attempts
                .iter()
                .find(|(id, _)| *id == d.id)
                .map_or(0, |(_, n)| *n);
            if tried > max {
                left_out.push((d.id.clone(), "its max_retries used up"));
                continue;
            }
        }
        if req.full.contains(&d.id) {
            let why = "at its rpm or max_parallel_requests limit";
            wait(next_minute_ms.min(1_000.0), why);
            left_out.push((d.id.clone(), why));
            continue;
        }
        if d.max_parallel_requests.is_some_and(|m| snap.in_flight >= m) {
            wait(1_000.0, "at max_parallel_requests");
            left_out.push((d.id.clone(), "at max_parallel_requests"));
            continue;
        }
        if limits_apply {
            if d.rpm.is_some_and(|rpm| snap.requests_this_minute + 1 > rpm) {
                wait(next_minute_ms, "rpm limit reached");
                left_out.push((d.id.clone(), "rpm limit reached"));
                continue;
            }
            // Tokens are known only after a call, so a request is admitted while the minute's
            // count is under `tpm`; the call that crosses it is the last one that minute.
            if d.tpm.is_some_and(|tpm| snap.tokens_this_minute >= tpm) {
                wait(next_minute_ms, "tpm limit reached");
                left_out.push((d.id.clone(), "tpm limit reached"));
                continue;
            }
        }
        healthy.push(Candidate { d, snap });
    }
    if healthy.is_empty() {
        let (ms, why) = soonest.unwrap_or((1_000.0, "all deployments failed this request"));
        return Err(Error::NoDeploymentAvailable {
            model: group.to_string(),
            reason: why.to_string(),
            retry_after_ms: ms.ceil().max(1.0) as u64,
        });
    }

    if healthy.iter().any(|c| !req.failed.contains(&c.d.id)) {
        for c in healthy.iter().filter(|c| req.failed.contains(&c.d.id)) {
            left_out.push((c.d.id.clone(), "already failed this request"));
        }
        healthy.retain(|c| !req.failed.contains(&c.d.id));
    }
    let lowest = healthy
        .iter()
        .map(|c| c.d.order.unwrap_or(u32::MAX))
        .min()
        .unwrap_or(u32::MAX);
    for c in healthy
        .iter()
        .filter(|c| c.d.order.unwrap_or(u32::MAX) != lowest)
    {
        left_out.push((c.d.id.clone(), "a lower priority (order)"));
    }
    healthy.retain(|c| c.d.order.unwrap_or(u32::MAX) == lowest);
    Ok(healthy)
}

#[cfg(test)]
mod tests;
