//! `router_settings` (and the router keys LiteLLM users put in `litellm_settings`) -> typed
//! settings with LiteLLM's defaults, or those of LiteLLM's `Router` signature where it gives one.

use super::raw::{RawLitellmSettings, RawRouterSettings};
use super::{config_error, secs_to_ms};
use crate::error::{Error, ErrorClass};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// LiteLLM's `DEFAULT_MAX_RETRIES`.
pub const DEFAULT_NUM_RETRIES: u32 = 2;
/// LiteLLM's default `max_fallbacks`.
pub const DEFAULT_MAX_FALLBACKS: u32 = 5;
/// LiteLLM's `Router(allowed_fails: int = 3)`.
pub const DEFAULT_ALLOWED_FAILS: u32 = 3;
/// LiteLLM's `Router(cooldown_time: float = 1)` (its proxy uses 5 s).
pub const DEFAULT_COOLDOWN_SECS: f64 = 1.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingStrategy {
    SimpleShuffle,
    LeastBusy,
    UsageBased,
    LatencyBased,
    CostBased,
}

impl RoutingStrategy {
    pub const NAMES: &'static [&'static str] = &[
        "simple-shuffle",
        "least-busy",
        "usage-based-routing",
        "usage-based-routing-v2",
        "latency-based-routing",
        "cost-based-routing",
    ];

    /// Whether `rpm`/`tpm` are limits under this strategy (else they are only weights).
    pub fn enforces_limits(self) -> bool {
        matches!(self, Self::UsageBased | Self::CostBased)
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "simple-shuffle" => Self::SimpleShuffle,
            "least-busy" => Self::LeastBusy,
            "usage-based-routing" | "usage-based-routing-v2" => Self::UsageBased,
            "latency-based-routing" => Self::LatencyBased,
            "cost-based-routing" => Self::CostBased,
            _ => return None,
        })
    }
}

/// `routing_strategy_args` for latency-based routing.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyArgs {
    /// Pick at random among deployments within `best * (1 + buffer)`.
    pub lowest_latency_buffer: f64,
    /// Latency samples older than this are ignored.
    pub ttl_ms: f64,
    /// How many recent samples per deployment are kept.
    pub max_latency_list_size: usize,
}

impl Default for StrategyArgs {
    fn default() -> Self {
        StrategyArgs {
            lowest_latency_buffer: 0.0,
            ttl_ms: 3_600_000.0,
            max_latency_list_size: 10,
        }
    }
}

/// Fallback groups: per model group, and for every group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fallbacks {
    pub per_group: HashMap<String, Vec<String>>,
    /// The `Router`'s plain list, LiteLLM's `"*"` entry, or `default_fallbacks`.
    pub all: Vec<String>,
}

impl Fallbacks {
    pub fn for_group(&self, group: &str) -> &[String] {
        self.per_group
            .get(group)
            .map(Vec::as_slice)
            .unwrap_or(&self.all)
    }

    pub fn is_empty(&self) -> bool {
        self.per_group.is_empty() && self.all.is_empty()
    }
}

/// Retries and their waits: LiteLLM's `Router` `retry_policy` and LiteLLM's per-error-class counts.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries per model group when the error class sets none.
    pub max_retries: u32,
    pub base_delay_ms: f64,
    pub max_delay_ms: f64,
    pub backoff_factor: f64,
    pub jitter: bool,
    /// `RateLimitErrorRetries` and friends.
    pub per_class: HashMap<ErrorClass, u32>,
}

impl RetryPolicy {
    /// How many retries an error of this class gets: the policy's count for the class, else,
    /// for a transient error, `asked` (the request's or the deployment's `num_retries`) or the
    /// policy's `max_retries`. Client mistakes get none unless the policy says so: a bad
    /// request stays bad on every deployment.
    pub fn retries_for(&self, class: ErrorClass, asked: Option<u32>) -> u32 {
        if let Some(n) = self.per_class.get(&class) {
            return *n;
        }
        match class {
            ErrorClass::RateLimit | ErrorClass::Timeout | ErrorClass::InternalServer => {
                asked.unwrap_or(self.max_retries)
            }
            ErrorClass::BadRequest
            | ErrorClass::Authentication
            | ErrorClass::NotFound
            | ErrorClass::ContextWindowExceeded
            | ErrorClass::ContentPolicyViolation => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouterSettings {
    pub routing_strategy: RoutingStrategy,
    pub strategy_args: StrategyArgs,
    pub timeout_ms: u64,
    pub stream_timeout_ms: Option<u64>,
    pub retry: RetryPolicy,
    pub group_retry: HashMap<String, RetryPolicy>,
    pub max_fallbacks: u32,
    pub fallbacks: Fallbacks,
    pub context_window_fallbacks: Fallbacks,
    pub content_policy_fallbacks: Fallbacks,
    pub allowed_fails: u32,
    /// `allowed_fails_policy`: failures allowed per minute, per error class.
    pub allowed_fails_policy: HashMap<ErrorClass, u32>,
    /// 0 disables cooldowns.
    pub cooldown_ms: u64,
    pub pre_call_checks: bool,
    pub default_max_parallel_requests: Option<u32>,
    pub cost_substitutes: HashMap<String, Vec<String>>,
    /// `model_group_alias`: other names for groups.
    pub aliases: HashMap<String, Alias>,
    /// `litellm_settings.drop_params`: for every deployment that does not say.
    pub drop_params: bool,
    pub tag_filtering: bool,
    /// What a client may ask for in its body, at most (a tenant must not starve others).
    pub client_caps: ClientCaps,
    /// When a second attempt races a first one that has not answered yet.
    pub hedge: Hedge,
}

/// `router_settings.hedge_after`: when a call that has produced nothing yet gets a second
/// attempt on another deployment, the first one still running.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Hedge {
    /// Streams only: twice the deployment's recent p95 time to first token, within
    /// [`HEDGE_MIN_MS`, `HEDGE_MAX_MS`]; `HEDGE_MAX_MS` until it has been measured. A
    /// non-streaming call's first byte comes with its last, so its time says nothing of a
    /// stall: only an explicit `hedge_after` hedges those.
    #[default]
    Adaptive,
    /// After this many ms, streams and non-streaming calls alike.
    After(u64),
    Off,
}

pub const HEDGE_MIN_MS: f64 = 2_000.0;
pub const HEDGE_MAX_MS: f64 = 10_000.0;

impl Hedge {
    /// The hedge point for a call to a deployment whose recent p95 time to first token is
    /// `ttft_p95_ms`; `None`: no hedge.
    pub fn after_ms(self, stream: bool, ttft_p95_ms: Option<f64>) -> Option<u64> {
        match self {
            Hedge::Off => None,
            Hedge::After(ms) => Some(ms),
            Hedge::Adaptive if !stream => None,
            Hedge::Adaptive => Some(ttft_p95_ms.map_or(HEDGE_MAX_MS, |p95| {
                (p95 * 2.0).clamp(HEDGE_MIN_MS, HEDGE_MAX_MS)
            }) as u64),
        }
    }

    pub(super) fn parse(path: &str, v: Option<&Value>) -> Result<Hedge, Error> {
        match v {
            None | Some(Value::Null) => Ok(Hedge::Adaptive),
            Some(Value::Bool(false)) => Ok(Hedge::Off),
            Some(Value::Bool(true)) => Ok(Hedge::Adaptive),
            Some(Value::String(s)) if s == "off" => Ok(Hedge::Off),
            Some(Value::String(s)) if s == "auto" => Ok(Hedge::Adaptive),
            Some(Value::Number(n)) => Ok(Hedge::After(
                secs_to_ms(path, n.as_f64())?.unwrap_or(HEDGE_MAX_MS as u64),
            )),
            Some(other) => Err(config_error(format!(
                "{path}: must be a positive number of seconds, \"auto\" or false, got {other}"
            ))),
        }
    }
}

/// Another name for a model group (`model_group_alias`); a hidden one is left out of
/// `/v1/models`.
#[derive(Debug, Clone, PartialEq)]
pub struct Alias {
    pub group: String,
    pub hidden: bool,
}

/// Caps on the router controls a client sends (`timeout`, `num_retries`, `fallbacks`, cache
/// `ttl`): `router_settings.max_request_timeout` (s), `max_request_num_retries`,
/// `max_request_fallbacks`, `max_cache_ttl` (s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientCaps {
    pub timeout_ms: u64,
    pub num_retries: u32,
    pub fallbacks: u32,
    pub cache_ttl_secs: u64,
}

pub const DEFAULT_MAX_REQUEST_NUM_RETRIES: u32 = 3;
pub const DEFAULT_MAX_REQUEST_FALLBACKS: u32 = 5;
/// A week.
pub const DEFAULT_MAX_CACHE_TTL_SECS: u64 = 7 * 24 * 3600;

impl Default for ClientCaps {
    fn default() -> Self {
        ClientCaps {
            timeout_ms: (super::DEFAULT_TIMEOUT_SECS * 1000.0) as u64,
            num_retries: DEFAULT_MAX_REQUEST_NUM_RETRIES,
            fallbacks: DEFAULT_MAX_REQUEST_FALLBACKS,
            cache_ttl_secs: DEFAULT_MAX_CACHE_TTL_SECS,
        }
    }
}

impl RouterSettings {
    pub fn retry_for_group(&self, group: &str) -> &RetryPolicy {
        self.group_retry.get(group).unwrap_or(&self.retry)
    }
}

pub(super) fn build(
    rs: &RawRouterSettings,
    ls: &RawLitellmSettings,
) -> Result<RouterSettings, Error> {
    let routing_strategy = match rs.routing_strategy.as_deref() {
        None => RoutingStrategy::SimpleShuffle,
        Some(s) => RoutingStrategy::parse(s).ok_or_else(|| {
            config_error(format!(
                "router_settings.routing_strategy: `{s}` is not one of {}",
                RoutingStrategy::NAMES.join(", ")
            ))
        })?,
    };
    let router_timeout = secs_to_ms("router_settings.timeout", rs.timeout)?;
    let settings_timeout = secs_to_ms("litellm_settings.request_timeout", ls.request_timeout)?;
    let timeout_ms = router_timeout
        .or(settings_timeout)
        .unwrap_or((super::DEFAULT_TIMEOUT_SECS * 1000.0) as u64);

    let (r, l) = (&rs.shared(), &ls.shared());
    let num_retries = r
        .num_retries
        .or(l.num_retries)
        .unwrap_or(DEFAULT_NUM_RETRIES);
    let retry = retry_policy(
        "router_settings.retry_policy",
        rs.retry_policy.as_ref(),
        num_retries,
    )?;
    let mut group_retry = HashMap::new();
    if let Some(map) = &rs.model_group_retry_policy {
        for (group, v) in map {
            let path = format!("router_settings.model_group_retry_policy.{group}");
            let Value::Object(p) = v else {
                return Err(config_error(format!("{path}: must be a mapping")));
            };
            group_retry.insert(
                group.clone(),
                retry_policy(&path, Some(p), retry.max_retries)?,
            );
        }
    }

    let pick = |a: &Option<Value>, b: &Option<Value>, name: &str| -> Result<Fallbacks, Error> {
        match (a, b) {
            (Some(v), _) => fallbacks(&format!("router_settings.{name}"), v),
            (None, Some(v)) => fallbacks(&format!("litellm_settings.{name}"), v),
            (None, None) => Ok(Fallbacks::default()),
        }
    };
    let mut generic = pick(&r.fallbacks, &l.fallbacks, "fallbacks")?;
    if generic.all.is_empty() {
        generic.all = r
            .default_fallbacks
            .clone()
            .or(l.default_fallbacks.clone())
            .unwrap_or_default();
    }
    let cooldown_secs = r
        .cooldown_time
        .or(l.cooldown_time)
        .unwrap_or(DEFAULT_COOLDOWN_SECS);
    if !(cooldown_secs.is_finite() && cooldown_secs >= 0.0) {
        return Err(config_error(format!(
            "router_settings.cooldown_time: must be a number of seconds >= 0, got {cooldown_secs}"
        )));
    }
    let mut args = StrategyArgs::default();
    if let Some(a) = &rs.routing_strategy_args {
        let num = |k: &str| -> Result<Option<f64>, Error> {
            match a.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_f64()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .map(Some)
                    .ok_or_else(|| {
                        config_error(format!(
                            "router_settings.routing_strategy_args.{k}: must be a number >= 0"
                        ))
                    }),
            }
        };
        if let Some(b) = num("lowest_latency_buffer")? {
            args.lowest_latency_buffer = b;
        }
        if let Some(t) = num("ttl")? {
            args.ttl_ms = t * 1000.0;
        }
        if let Some(n) = num("max_latency_list_size")? {
            args.max_latency_list_size = (n as usize).max(1);
        }
    }
    let mut cost_substitutes = HashMap::new();
    if let Some(map) = &rs.cost_substitutes {
        for (group, v) in map {
            cost_substitutes.insert(
                group.clone(),
                string_list(&format!("router_settings.cost_substitutes.{group}"), v)?,
            );
        }
    }
    let mut aliases = HashMap::new();
    for (name, v) in rs.model_group_alias.iter().flatten() {
        let path = format!("router_settings.model_group_alias.{name}");
        let alias = match v {
            Value::String(group) => Alias {
                group: group.clone(),
                hidden: false,
            },
            Value::Object(m) => Alias {
                group: m
                    .get("model")
                    .and_then(Value::as_str)
                    .ok_or_else(|| config_error(format!("{path}.model: must name a model group")))?
                    .to_string(),
                hidden: match m.get("hidden") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => {
                        return Err(config_error(format!(
                            "{path}.hidden: must be true or false"
                        )))
                    }
                },
            },
            _ => {
                return Err(config_error(format!(
                    "{path}: must be a group name or {{model, hidden}}"
                )))
            }
        };
        aliases.insert(name.clone(), alias);
    }
    Ok(RouterSettings {
        drop_params: ls.drop_params.unwrap_or(false),
        aliases,
        routing_strategy,
        strategy_args: args,
        timeout_ms,
        stream_timeout_ms: secs_to_ms("router_settings.stream_timeout", rs.stream_timeout)?,
        retry,
        group_retry,
        max_fallbacks: rs.max_fallbacks.unwrap_or(DEFAULT_MAX_FALLBACKS),
        fallbacks: generic,
        context_window_fallbacks: pick(
            &r.context_window_fallbacks,
            &l.context_window_fallbacks,
            "context_window_fallbacks",
        )?,
        content_policy_fallbacks: pick(
            &r.content_policy_fallbacks,
            &l.content_policy_fallbacks,
            "content_policy_fallbacks",
        )?,
        allowed_fails: r
            .allowed_fails
            .or(l.allowed_fails)
            .unwrap_or(DEFAULT_ALLOWED_FAILS),
        allowed_fails_policy: class_counts(
            "router_settings.allowed_fails_policy",
            rs.allowed_fails_policy.as_ref(),
            "AllowedFails",
        )?,
        cooldown_ms: (cooldown_secs * 1000.0).round() as u64,
        pre_call_checks: rs.enable_pre_call_checks.unwrap_or(false),
        default_max_parallel_requests: rs.default_max_parallel_requests,
        cost_substitutes,
        tag_filtering: rs.enable_tag_filtering.unwrap_or(true),
        hedge: Hedge::parse("router_settings.hedge_after", rs.hedge_after.as_ref())?,
        client_caps: ClientCaps {
            timeout_ms: secs_to_ms(
                "router_settings.max_request_timeout",
                rs.max_request_timeout,
            )?
            .unwrap_or(timeout_ms),
            num_retries: rs
                .max_request_num_retries
                .unwrap_or(DEFAULT_MAX_REQUEST_NUM_RETRIES),
            fallbacks: rs
                .max_request_fallbacks
                .unwrap_or(DEFAULT_MAX_REQUEST_FALLBACKS),
            cache_ttl_secs: secs_to_ms("router_settings.max_cache_ttl", rs.max_cache_ttl)?
                .map_or(DEFAULT_MAX_CACHE_TTL_SECS, |ms| ms / 1000),
        },
    })
}

/// LiteLLM's `Router` `{max_retries, base_delay, max_delay, backoff_factor, jitter}` and LiteLLM's
/// `{RateLimitErrorRetries: n, ...}`, in one mapping.
fn retry_policy(
    path: &str,
    map: Option<&Map<String, Value>>,
    default_retries: u32,
) -> Result<RetryPolicy, Error> {
    let mut p = RetryPolicy {
        max_retries: default_retries,
        base_delay_ms: 500.0,
        max_delay_ms: 8_000.0,
        backoff_factor: 2.0,
        jitter: true,
        per_class: HashMap::new(),
    };
    let Some(map) = map else { return Ok(p) };
    let secs = |k: &str, v: &Value| -> Result<f64, Error> {
        v.as_f64()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| config_error(format!("{path}.{k}: must be a number >= 0")))
    };
    for (k, v) in map {
        match k.as_str() {
            "max_retries" => p.max_retries = count(path, k, v)?,
            "base_delay" => p.base_delay_ms = secs(k, v)? * 1000.0,
            "max_delay" => p.max_delay_ms = secs(k, v)? * 1000.0,
            "backoff_factor" => p.backoff_factor = secs(k, v)?,
            "jitter" => {
                p.jitter = v
                    .as_bool()
                    .ok_or_else(|| config_error(format!("{path}.jitter: must be true or false")))?
            }
            _ => {}
        }
    }
    p.per_class = class_counts(path, Some(map), "Retries")?;
    Ok(p)
}

fn count(path: &str, k: &str, v: &Value) -> Result<u32, Error> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| config_error(format!("{path}.{k}: must be a whole number >= 0")))
}

/// Keys like `RateLimitErrorRetries` / `TimeoutErrorAllowedFails` -> counts per class.
fn class_counts(
    path: &str,
    map: Option<&Map<String, Value>>,
    suffix: &str,
) -> Result<HashMap<ErrorClass, u32>, Error> {
    let mut out = HashMap::new();
    let Some(map) = map else { return Ok(out) };
    for (k, v) in map {
        let Some(stem) = k.strip_suffix(suffix) else {
            continue;
        };
        let class = ErrorClass::from_litellm_name(stem).ok_or_else(|| {
            config_error(format!(
                "{path}.{k}: unknown error class; use one of {}",
                ErrorClass::LITELLM_NAMES
                    .iter()
                    .map(|n| format!("{n}{suffix}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        out.insert(class, count(path, k, v)?);
    }
    Ok(out)
}

fn string_list(path: &str, v: &Value) -> Result<Vec<String>, Error> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_string).ok_or_else(|| {
                    config_error(format!("{path}: must be a list of model group names"))
                })
            })
            .collect(),
        _ => Err(config_error(format!(
            "{path}: must be a list of model group names"
        ))),
    }
}

/// Both forms: the `Router`'s plain list (`["gpt-3.5-turbo"]`, for every group) and LiteLLM's
/// `[{"gpt-4": ["claude-3"]}]` (or one mapping); `"*"` is every group.
fn fallbacks(path: &str, v: &Value) -> Result<Fallbacks, Error> {
    let mut f = Fallbacks::default();
    let mut add_map = |m: &Map<String, Value>, at: &str| -> Result<(), Error> {
        for (group, list) in m {
            let list = string_list(&format!("{at}.{group}"), list)?;
            if group == "*" {
                f.all.extend(list);
            } else {
                f.per_group.entry(group.clone()).or_default().extend(list);
            }
        }
        Ok(())
    };
    match v {
        Value::Null => {}
        Value::Object(m) => add_map(m, path)?,
        Value::Array(items) => {
            let mut plain = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => plain.push(s.clone()),
                    Value::Object(m) => add_map(m, &format!("{path}[{i}]"))?,
                    _ => {
                        return Err(config_error(format!(
                            "{path}[{i}]: must be a model group name or a mapping {{group: [fallbacks]}}"
                        )))
                    }
                }
            }
            f.all.extend(plain);
        }
        _ => return Err(config_error(format!("{path}: must be a list"))),
    }
    Ok(f)
}
