//! The request log and its history. Every model-endpoint request (refused ones too) becomes
//! one [`RequestRecord`]: who (the key's alias, never a key), where it went, how it went, and
//! its attempt trace; never the prompt, the answer or an upstream's message. The [`LogBook`]
//! keeps the last [`LOG_CAPACITY`] records and per-minute buckets per group and deployment
//! for [`HISTORY_MINUTES`], in one Durable Object (`log`) or in the isolate's memory; the
//! `RequestLogStore` port carries its operations.

mod book;
mod histogram;

pub use book::{Bucket, BucketKey, LogBook};
pub use histogram::Histogram;

use crate::trace::Step;
use serde::{Deserialize, Serialize};

/// Records the log keeps.
pub const LOG_CAPACITY: usize = 1_000;

/// Minutes of history kept.
pub const HISTORY_MINUTES: u64 = 24 * 60;

/// Characters of an error message kept.
pub const MESSAGE_CHARS: usize = 300;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub id: String,
    pub at_ms: f64,
    pub method: String,
    pub path: String,
    /// The caller: `master`, a key's alias or its masked name (`sk-...abcd`), or `none`.
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    pub status: u16,
    pub latency_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    #[serde(default)]
    pub tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    #[serde(default)]
    pub cost: f64,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub fallbacks: u32,
    #[serde(default)]
    pub hedged: bool,
    /// Continuations a broken stream took.
    #[serde(default)]
    pub continued: u32,
    #[serde(default)]
    pub stream: bool,
    /// `hit` or `miss` when the cache was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The client went away before the end of a stream.
    #[serde(default)]
    pub client_closed: bool,
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// Which records a listing returns (all given conditions hold), newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogFilter {
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub deployment: Option<String>,
    /// An exact status (`429`), a class (`2xx`, `4xx`, `5xx`) or `error` (400 and above).
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
}

impl LogFilter {
    pub fn matches(&self, r: &RequestRecord) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        eq(&self.group, r.group.as_deref())
            && eq(&self.deployment, r.deployment.as_deref())
            && eq(&self.key, Some(r.key.as_str()))
            && self
                .status
                .as_deref()
                .is_none_or(|s| status_matches(s, r.status))
    }
}

fn status_matches(want: &str, status: u16) -> bool {
    match want {
        "error" => status >= 400,
        c if c.len() == 3 && c.ends_with("xx") => {
            c.as_bytes()[0].wrapping_sub(b'0') as u16 == status / 100
        }
        exact => exact.parse::<u16>().is_ok_and(|s| s == status),
    }
}

/// A window of history: `minutes` back from now in steps of `step_minutes`, for a group,
/// a deployment, or everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryQuery {
    pub minutes: u64,
    pub step_minutes: u64,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub deployment: Option<String>,
}

/// One step of a history series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Start of the step (epoch ms).
    pub t: f64,
    pub requests: u64,
    /// Answered 400 or above.
    pub errors: u64,
    /// ... of which refused before any deployment was called (keys, limits, bad input).
    pub rejected: u64,
    /// Calls to a deployment that failed (the request may have been served by another).
    pub failed_attempts: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    pub tokens: u64,
    pub cost: f64,
}

/// A group's or deployment's totals over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesTotal {
    pub group: String,
    /// `None`: refused before a deployment was chosen.
    pub deployment: Option<String>,
    pub requests: u64,
    pub errors: u64,
    pub failed_attempts: u64,
    pub tokens: u64,
    pub cost: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub step_ms: f64,
    pub points: Vec<Point>,
    /// Every group and deployment seen in the window, with its totals.
    pub totals: Vec<SeriesTotal>,
}

/// An operation on the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LogOp {
    Append { records: Vec<RequestRecord> },
    List { filter: LogFilter },
    Get { id: String },
    History { query: HistoryQuery },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum LogReply {
    Done,
    Records {
        records: Vec<RequestRecord>,
        /// How many records match, before the limit.
        matched: usize,
    },
    Record {
        record: Option<Box<RequestRecord>>,
    },
    History {
        history: History,
    },
}
