//! Choosing a deployment: `select` decides which deployments may take this request (health,
//! tags, limits, pre-call checks, order), `strategy` picks one of them.

mod select;
mod strategy;

pub use select::{candidates, candidates_noting, RequestFacts};
pub use strategy::{pick, simple_shuffle, weighted_index};

use crate::config::Deployment;
use crate::state::Snapshot;

/// A deployment that may take the request, with its state at selection time.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub d: &'a Deployment,
    pub snap: Snapshot,
}
