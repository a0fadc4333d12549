//! A request's way through the router, step by step, for the request log's attempt trace:
//! which deployments were tried and how each answered, which were left out and why, where a
//! hedge went, which fallbacks the key could not use. Never a message from the upstream (it
//! could echo the prompt): classes, statuses and the router's own reasons.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// The deployment answered; the request was served by it.
    Served,
    /// The deployment was called and failed (`detail`: class and status).
    Failed,
    /// The deployment was not called (`detail`: why).
    Skipped,
    /// A second call raced the first (`detail`: after how long).
    Hedged,
    /// The router waited before the next attempt (`ms`).
    Waited,
    /// A fallback group was not tried (`detail`: why).
    FallbackSkipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    pub kind: StepKind,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// How long the call (or the wait) took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<f64>,
}

/// What the router's `completion_traced` reports besides the answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    /// Each group that failed, as `group: class status` (the log line's `failed`).
    pub failed: Vec<String>,
    pub steps: Vec<Step>,
}

/// Steps kept per request at most: a request with many retries and fallbacks keeps its first.
pub const MAX_STEPS: usize = 40;

impl Trace {
    pub fn push(&mut self, step: Step) {
        if self.steps.len() < MAX_STEPS {
            self.steps.push(step);
        }
    }

    /// Notes `deployment` of `group` as left out for `why`, once per group.
    pub fn skipped(&mut self, group: &str, deployment: &str, why: &str) {
        let seen = self.steps.iter().any(|s| {
            s.kind == StepKind::Skipped
                && s.group == group
                && s.deployment.as_deref() == Some(deployment)
                && s.detail == why
        });
        if !seen {
            self.push(Step {
                group: group.to_string(),
                deployment: Some(deployment.to_string()),
                kind: StepKind::Skipped,
                detail: why.to_string(),
                ms: None,
            });
        }
    }
}
