//! Config: LiteLLM's proxy config (`model_list`, `router_settings`, `litellm_settings`,
//! `general_settings`) as JSON or YAML text -> a validated [`Config`]. Parsed once per isolate.
//!
//! Order of work: text -> JSON tree -> deployment ids (from the text as written, so secrets never
//! feed an id) -> `os.environ/NAME` resolved -> typed structs (unknown keys become warnings) ->
//! checks that name the key path.

mod raw;
mod secrets;
mod settings;
mod yaml11;

use crate::error::Error;
use crate::ports::Secrets;
use crate::provider::{self, Provider};
use crate::request::ModelRequest;
use raw::{RawConfig, RawDeployment};
use serde_json::{Map, Value};
use std::collections::HashMap;

pub use secrets::SECRET_PREFIX;
pub use settings::{
    Alias, ClientCaps, Fallbacks, Hedge, RetryPolicy, RouterSettings, RoutingStrategy,
    StrategyArgs, DEFAULT_ALLOWED_FAILS, DEFAULT_COOLDOWN_SECS, DEFAULT_MAX_FALLBACKS,
    DEFAULT_NUM_RETRIES,
};

/// Seconds an upstream call may take when neither the deployment nor the router sets `timeout`.
/// The OpenAI SDK's own default, so the router gives up no later than its clients would.
pub const DEFAULT_TIMEOUT_SECS: f64 = 600.0;
/// Request bodies above this many MiB get a 413 unless `general_settings.max_request_size_mb`
/// says otherwise.
pub const DEFAULT_MAX_REQUEST_SIZE_MB: f64 = 10.0;

/// OpenAI request parameters that a deployment's `litellm_params` may carry as defaults (LiteLLM
/// passes them on to the provider). A value in the client's request wins.
const BODY_DEFAULT_KEYS: &[&str] = &[
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "stop",
    "seed",
    "response_format",
    "reasoning_effort",
    "logprobs",
    "top_logprobs",
    "parallel_tool_calls",
    "service_tier",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub deployments: Vec<Deployment>,
    /// Model group name -> indexes into `deployments`, in config order.
    pub groups: HashMap<String, Vec<usize>>,
    /// Group names in the order they first appear in `model_list`.
    pub group_order: Vec<String>,
    pub router: RouterSettings,
    pub general: GeneralSettings,
    /// `None`: caching is off.
    pub cache: Option<CacheSettings>,
    /// Keys that were ignored, as key paths. Logged once at load.
    pub warnings: Vec<String>,
    /// The config as written (secrets unresolved), without the entries left out: runtime
    /// changes to the model list edit this and parse it again, so they get exactly the same
    /// checks as the file.
    pub source: Value,
    /// `model_list` entries that could not be used (the others serve, as in LiteLLM).
    pub left_out: Vec<LeftOut>,
}

/// A `model_list` entry left out of the config, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct LeftOut {
    /// Its position in `model_list` as written.
    pub index: usize,
    pub model_name: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// `model_info.id`, else a stable hash of the deployment as written.
    pub id: String,
    /// The model group (`model_name`) clients ask for.
    pub group: String,
    pub provider: Provider,
    /// The model name the provider knows (prefix stripped).
    pub model: String,
    pub api_base: String,
    pub api_key: Option<String>,
    pub api_version: Option<String>,
    pub azure_ad_token: Option<String>,
    /// Bedrock's credentials and region.
    pub aws: Option<AwsCredentials>,
    /// Vertex AI's project, region and Google credentials.
    pub vertex: Option<Vertex>,
    pub organization: Option<String>,
    pub timeout_ms: u64,
    pub stream_timeout_ms: u64,
    /// When a first attempt on it that has produced nothing gets a hedge (its own
    /// `hedge_after`, else the router's).
    pub hedge: Hedge,
    /// At most this many retries on this deployment within one request (`max_retries`).
    pub max_retries: Option<u32>,
    /// Retries after this deployment fails, instead of the group's (`litellm_params.num_retries`).
    pub num_retries: Option<u32>,
    /// Drop the OpenAI parameters its provider does not take (else a request with one is a 400).
    pub drop_params: bool,
    /// Parameters never sent to it (`additional_drop_params`).
    pub additional_drop_params: Vec<String>,
    pub weight: Option<f64>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub order: Option<u32>,
    pub tags: Vec<String>,
    pub max_parallel_requests: Option<u32>,
    /// Request parameters sent when the client does not set them.
    pub body_defaults: Map<String, Value>,
    pub info: ModelInfo,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Vertex {
    pub project: String,
    pub location: String,
    pub credentials: crate::google_auth::GoogleCredentials,
    /// `api_base` was written: it is the model's URL up to `:generateContent` (a proxy's, such
    /// as Cloudflare AI Gateway's), as LiteLLM takes it. Otherwise it is Google's regional host.
    pub custom_base: bool,
}

/// Vertex AI's region when the deployment names none (LiteLLM's default).
pub const DEFAULT_VERTEX_LOCATION: &str = "us-central1";

impl Deployment {
    /// The secret values this deployment's calls carry: what an upstream could echo back
    /// (see [`crate::redact::scrub`]).
    pub fn secrets(&self) -> Vec<&str> {
        let mut out: Vec<&str> = [self.api_key.as_deref(), self.azure_ad_token.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        if let Some(aws) = &self.aws {
            out.push(&aws.secret_access_key);
            out.extend(aws.session_token.as_deref());
        }
        if let Some(vertex) = &self.vertex {
            out.extend(vertex.credentials.secrets());
        }
        if let Some(userinfo) = userinfo(&self.api_base) {
            out.push(userinfo);
            out.extend(userinfo.split_once(':').map(|(_, password)| password));
        }
        out
    }
}

/// The `user:password` of a URL, if it has one.
fn userinfo(api_base: &str) -> Option<&str> {
    let rest = &api_base[api_base.find("://")? + 3..];
    let host = &rest[..rest.find('/').unwrap_or(rest.len())];
    host.rfind('@').map(|at| &host[..at])
}

/// Bedrock's region when the deployment names none.
pub const DEFAULT_AWS_REGION: &str = "us-east-1";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelInfo {
    pub mode: Option<String>,
    /// How long its health check may take, when not the router's.
    pub health_check_timeout_ms: Option<u64>,
    pub input_cost_per_token: Option<f64>,
    pub output_cost_per_token: Option<f64>,
    pub max_tokens: Option<u64>,
    pub max_input_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
    pub supports_function_calling: Option<bool>,
    pub supports_vision: Option<bool>,
    /// Continues a trailing assistant message (a stream finished elsewhere is sent so);
    /// `None`: what its provider does.
    pub supports_assistant_prefill: Option<bool>,
    pub base_model: Option<String>,
    pub output_cost_per_image: Option<f64>,
    pub input_cost_per_character: Option<f64>,
    pub input_cost_per_second: Option<f64>,
}

/// The response cache (`cache_responses` / `litellm_settings.cache`).
#[derive(Debug, Clone, PartialEq)]
pub struct CacheSettings {
    pub ttl_secs: u64,
    pub namespace: String,
    /// Groups that share answers.
    pub caching_groups: Vec<Vec<String>>,
    /// `cache_kwargs.scope`: `key` (default) keeps each virtual key's answers to itself;
    /// `shared` lets every caller read every answer (LiteLLM's behaviour).
    pub shared: bool,
    /// The longest `ttl` a client may ask for (`router_settings.max_cache_ttl`).
    pub max_ttl_secs: u64,
    /// The endpoints whose answers are cached (`supported_call_types`).
    pub endpoints: Vec<crate::endpoint::Endpoint>,
}

/// Seconds a health check may take unless `general_settings.health_check_timeout` says.
pub const DEFAULT_HEALTH_CHECK_TIMEOUT_SECS: f64 = 10.0;

/// Seconds a client may take to send its request body unless
/// `general_settings.request_body_timeout` says.
pub const DEFAULT_REQUEST_BODY_TIMEOUT_SECS: f64 = 30.0;

/// Seconds a stored response is kept unless `general_settings.responses_ttl` says (OpenAI
/// keeps them 30 days).
pub const DEFAULT_RESPONSES_TTL_SECS: f64 = 30.0 * 24.0 * 3600.0;

/// Seconds a cached answer lives when neither `cache_kwargs` nor `cache_params` says.
pub const DEFAULT_CACHE_TTL_SECS: u64 = 600;

#[derive(Debug, Clone, PartialEq)]
pub struct GeneralSettings {
    pub master_key: Option<String>,
    pub max_request_size_bytes: usize,
    pub cors_allowed_origins: Vec<String>,
    /// Write one JSON log line per request.
    pub request_log: bool,
    /// Keep no request log or history for the console (LiteLLM's `disable_spend_logs`).
    pub disable_spend_logs: bool,
    /// How long a client may take to send its body.
    pub request_body_timeout_ms: u64,
    /// How long a deployment's health check may take (`health_check_timeout`).
    pub health_check_timeout_ms: u64,
    /// How long a stored response is kept (`responses_ttl`).
    pub responses_ttl_ms: f64,
}

impl Config {
    /// Parses config text (JSON or YAML). `env` looks up Worker secrets and variables for
    /// `os.environ/NAME` values.
    pub fn from_text(text: &str, env: &dyn Secrets) -> Result<Config, Error> {
        let trimmed = text.trim_start();
        if trimmed.is_empty() {
            return Err(config_error("the config is empty: set ROUTER_CONFIG"));
        }
        let tree: Value = if trimmed.starts_with('{') {
            serde_json::from_str(trimmed)
                .map_err(|e| config_error(format!("the config is not valid JSON: {e}")))?
        } else {
            let mut tree = serde_yaml_ng::from_str(trimmed)
                .map_err(|e| config_error(format!("the config is not valid YAML: {e}")))?;
            yaml11::normalize(&mut tree);
            tree
        };
        Config::from_value(tree, env)
    }

    pub fn from_value(mut tree: Value, env: &dyn Secrets) -> Result<Config, Error> {
        if !tree.is_object() {
            return Err(config_error(
                "the config must be a mapping with a `model_list`",
            ));
        }
        let mut source = tree.clone();
        merge_default_litellm_params(&mut tree);
        let ids = written_ids(&tree);
        let body_defaults = take_body_defaults(&mut tree);
        // The model list is read entry by entry (one bad deployment is left out, as in
        // LiteLLM); everything else must be right as a whole.
        let entries = match tree.as_object_mut().and_then(|m| m.remove("model_list")) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list,
            Some(_) => return Err(config_error("model_list: must be a list of deployments")),
        };
        // A section with everything commented out is `null` in YAML: absent, as LiteLLM reads it.
        if let Some(m) = tree.as_object_mut() {
            m.retain(|_, v| !v.is_null());
        }
        secrets::resolve(&mut tree, env)?;
        let mut warnings = Vec::new();
        let raw: RawConfig = read(&tree, "", &mut warnings)?;
        let parsed: Vec<(String, Result<RawDeployment, Error>)> = entries
            .into_iter()
            .enumerate()
            .map(|(i, mut entry)| {
                let name = entry
                    .get("model_name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let at = format!("model_list[{i}]");
                cloud_from_environment(&mut entry, env);
                let read = secrets::resolve_at(&mut entry, &at, env)
                    .and_then(|()| read(&entry, &at, &mut warnings));
                (name, read)
            })
            .collect();
        let mut config = build(raw, parsed, ids, body_defaults, warnings)?;
        for d in &mut config.deployments {
            // As in LiteLLM, a deployment without a key uses its provider's variable
            // (GROQ_API_KEY, ...), but only on the provider's own endpoint: that key is never
            // sent to some other server an `api_base` names.
            let on_default = d.provider.default_api_base == Some(d.api_base.as_str());
            if d.api_key.is_none() && on_default {
                d.api_key = d.provider.key_variable.and_then(|var| env.secret(var));
            }
        }
        // The written list without what was left out: its entries line up with `deployments`.
        if let Some(Value::Array(list)) = source.get_mut("model_list") {
            let mut i = 0;
            list.retain(|_| {
                i += 1;
                !config.left_out.iter().any(|l| l.index == i - 1)
            });
        }
        config.source = source;
        Ok(config)
    }

    /// The deployments a request for `name` may use: the group's, or the one deployment whose
    /// id it is (LiteLLM lets a request or a fallback name a deployment id directly).
    pub fn deployments_for(&self, name: &str) -> Option<(Vec<&Deployment>, bool)> {
        if let Some(ix) = self.groups.get(name) {
            return Some((ix.iter().map(|&i| &self.deployments[i]).collect(), false));
        }
        self.deployments
            .iter()
            .find(|d| d.id == name)
            .map(|d| (vec![d], true))
    }

    /// The wildcard group (`*`, `openai/*`, `claude-*`) that serves `name`, the most specific
    /// one (most literal characters) when several match, and the part its `*` matched.
    pub fn wildcard_for(&self, name: &str) -> Option<(&str, String)> {
        self.group_order
            .iter()
            .filter(|g| g.contains('*'))
            .filter_map(|g| crate::names::glob(g, name).map(|part| (g.as_str(), part)))
            .max_by_key(|(g, _)| g.chars().filter(|c| *c != '*').count())
    }

    /// This config plus deployments for names that are neither a group nor a deployment id:
    /// 1. a name a wildcard group serves: that group's deployments with the model substituted,
    ///    keeping their ids and group, so every name shares one state object per wildcard
    ///    deployment (a client cannot mint state by inventing names);
    /// 2. a provider's model that the config's own fallbacks name (`config_names`, LiteLLM's
    ///    `Router(fallbacks=["gpt-3.5-turbo", ...])`): a deployment keyed by the provider's secret from
    ///    `env`, skipped when that is not set.
    ///
    /// Names a client chose (`client_names`: its model, its body's fallbacks) get only 1.
    /// `None` when nothing needed adding.
    pub fn with_implicit(
        &self,
        client_names: &[&str],
        config_names: &[&str],
        env: &dyn Secrets,
    ) -> Result<Option<Config>, Error> {
        let mut extra: Vec<(String, Vec<Deployment>)> = Vec::new();
        let all = client_names
            .iter()
            .map(|n| (*n, false))
            .chain(config_names.iter().map(|n| (*n, true)));
        for (name, from_config) in all {
            if self.knows(name) || extra.iter().any(|(n, _)| n == name) {
                continue;
            }
            if let Some((group, part)) = self.wildcard_for(name) {
                let served: Vec<Deployment> = self
                    .group(group)
                    .into_iter()
                    .flatten()
                    .map(|d| Deployment {
                        model: d.model.replace('*', &part),
                        ..d.clone()
                    })
                    .collect();
                extra.push((name.to_string(), served));
                continue;
            }
            if !from_config {
                continue;
            }
            let Some((provider, model)) = provider::implicit(name) else {
                continue;
            };
            let var = provider::key_variable(provider.name).unwrap_or("API_KEY");
            let Some(key) = env.secret(var) else {
                continue;
            };
            extra.push((
                name.to_string(),
                vec![Deployment {
                    id: name.to_string(),
                    group: name.to_string(),
                    provider,
                    model,
                    api_base: provider.default_api_base.unwrap_or_default().to_string(),
                    api_key: Some(key),
                    api_version: None,
                    azure_ad_token: None,
                    aws: None,
                    vertex: None,
                    organization: None,
                    timeout_ms: self.router.timeout_ms,
                    stream_timeout_ms: self
                        .router
                        .stream_timeout_ms
                        .unwrap_or(self.router.timeout_ms),
                    hedge: self.router.hedge,
                    max_retries: None,
                    num_retries: None,
                    drop_params: self.router.drop_params,
                    additional_drop_params: Vec::new(),
                    weight: None,
                    rpm: None,
                    tpm: None,
                    order: None,
                    tags: Vec::new(),
                    max_parallel_requests: self.router.default_max_parallel_requests,
                    body_defaults: Map::new(),
                    info: ModelInfo::default(),
                }],
            ));
        }
        if extra.is_empty() {
            return Ok(None);
        }
        let mut next = self.clone();
        for (name, served) in extra {
            let start = next.deployments.len();
            next.groups
                .insert(name, (start..start + served.len()).collect());
            next.deployments.extend(served);
        }
        Ok(Some(next))
    }

    /// Whether requests for `name` can be routed at all.
    /// The group an alias (`model_group_alias`) names. An alias wins over a group of the
    /// same name, as in LiteLLM (the config warns of it).
    pub fn alias_target(&self, name: &str) -> Option<&str> {
        self.router.aliases.get(name).map(|a| a.group.as_str())
    }

    /// Points a request for an alias at its group (once: an alias never names another).
    pub fn resolve_alias(&self, req: &mut ModelRequest) {
        if req.alias.is_some() {
            return;
        }
        if let Some(group) = self.alias_target(&req.model) {
            let group = group.to_string();
            req.alias = Some(std::mem::replace(&mut req.model, group));
        }
    }

    /// Whether a request for `name` finds deployments: a group, a deployment id, an alias or
    /// a wildcard group's name.
    pub fn serves_name(&self, name: &str) -> bool {
        self.knows(name) || self.alias_target(name).is_some() || self.wildcard_for(name).is_some()
    }

    pub fn knows(&self, name: &str) -> bool {
        self.groups.contains_key(name) || self.deployments.iter().any(|d| d.id == name)
    }

    /// The deployments of a model group, in config order.
    pub fn group(&self, name: &str) -> Option<impl Iterator<Item = &Deployment>> {
        self.groups
            .get(name)
            .map(|ix| ix.iter().map(move |&i| &self.deployments[i]))
    }
}

/// `router_settings.default_litellm_params` go under every deployment's `litellm_params`
/// (a deployment's own value wins).
fn merge_default_litellm_params(tree: &mut Value) {
    let Some(defaults) = tree
        .pointer("/router_settings/default_litellm_params")
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    let Some(list) = tree.get_mut("model_list").and_then(Value::as_array_mut) else {
        return;
    };
    for entry in list {
        if let Some(params) = entry
            .get_mut("litellm_params")
            .and_then(Value::as_object_mut)
        {
            for (k, v) in &defaults {
                params.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
}

pub(crate) fn config_error(message: impl Into<String>) -> Error {
    Error::Config {
        message: format!("Invalid router config: {}", message.into()),
    }
}

/// The environment variables (Worker secrets of those names) a provider's deployment takes its
/// cloud credentials and settings from when it names none, as LiteLLM does (through boto3 for
/// Bedrock, `VERTEXAI_*` for Vertex AI): per provider, each parameter (with its spellings, the
/// first one written) and the variables tried in turn.
const FROM_ENVIRONMENT: &[(&[&str], &[FromEnvironment])] = &[
    (
        &["bedrock"],
        &[
            (&["aws_access_key_id"], &["AWS_ACCESS_KEY_ID"]),
            (&["aws_secret_access_key"], &["AWS_SECRET_ACCESS_KEY"]),
            (&["aws_session_token"], &["AWS_SESSION_TOKEN"]),
            (&["aws_region_name"], &["AWS_REGION_NAME", "AWS_REGION"]),
        ],
    ),
    (
        &["vertex_ai", "vertex_ai_beta"],
        &[
            (
                &["vertex_project", "vertex_ai_project"],
                &["VERTEXAI_PROJECT"],
            ),
            (
                &["vertex_location", "vertex_ai_location"],
                &["VERTEXAI_LOCATION", "VERTEX_LOCATION"],
            ),
            (
                &["vertex_credentials", "vertex_ai_credentials"],
                &[
                    "VERTEXAI_CREDENTIALS",
                    "VERTEX_CREDENTIALS",
                    "GOOGLE_APPLICATION_CREDENTIALS",
                ],
            ),
            (
                &["api_base", "base_url"],
                &["VERTEXAI_API_BASE", "VERTEX_API_BASE"],
            ),
        ],
    ),
];

/// A parameter (its spellings, the first the one written) and the variables tried for it.
type FromEnvironment = (&'static [&'static str], &'static [&'static str]);

/// Fills a deployment's missing cloud parameters from [`FROM_ENVIRONMENT`].
fn cloud_from_environment(entry: &mut Value, env: &dyn Secrets) {
    let Some(params) = entry
        .get_mut("litellm_params")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let named = |p: &str| {
        params
            .get("model")
            .and_then(Value::as_str)
            .and_then(|m| m.split_once('/'))
            .is_some_and(|(prefix, _)| prefix == p)
            || params.get("custom_llm_provider").and_then(Value::as_str) == Some(p)
    };
    let Some((_, wanted)) = FROM_ENVIRONMENT
        .iter()
        .find(|(providers, _)| providers.iter().any(|p| named(p)))
    else {
        return;
    };
    for (spellings, vars) in *wanted {
        if spellings
            .iter()
            .any(|k| params.get(*k).is_some_and(|v| !v.is_null()))
        {
            continue;
        }
        if let Some(value) = vars.iter().find_map(|v| env.secret(v)) {
            params.insert(spellings[0].to_string(), Value::String(value));
        }
    }
}

/// Deserializes `tree` (found at `at`, `""` for the top), noting unknown keys in `warnings`;
/// an error names the key path.
fn read<T: serde::de::DeserializeOwned>(
    tree: &Value,
    at: &str,
    warnings: &mut Vec<String>,
) -> Result<T, Error> {
    let join = |path: &str| match (at, path) {
        ("", p) => display_path(p).to_string(),
        (a, ".") => a.to_string(),
        (a, p) => format!("{a}.{p}"),
    };
    let mut note = |path: serde_ignored::Path| {
        warnings.push(format!("{}: unknown key, ignored", join(&path.to_string())));
    };
    let ignored = serde_ignored::Deserializer::new(tree, &mut note);
    serde_path_to_error::deserialize(ignored)
        .map_err(|e| config_error(format!("{}: {}", join(&e.path().to_string()), e.inner())))
}

/// serde_path_to_error prints the root as `.`; say so in words.
fn display_path(p: &str) -> &str {
    if p == "." {
        "(top level)"
    } else {
        p
    }
}

/// For each `model_list` entry: its `model_info.id`, else a hash of `model_name` and
/// `litellm_params` as written (before secrets are resolved), so every isolate derives the same id.
fn written_ids(tree: &Value) -> Vec<String> {
    let Some(list) = tree.get("model_list").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .map(|entry| {
            if let Some(id) = entry.pointer("/model_info/id").and_then(Value::as_str) {
                return id.to_string();
            }
            let mut h = Fnv64::new();
            h.write(
                entry
                    .get("model_name")
                    .map(Value::to_string)
                    .unwrap_or_default()
                    .as_bytes(),
            );
            h.write(b"\0");
            h.write(
                entry
                    .get("litellm_params")
                    .map(Value::to_string)
                    .unwrap_or_default()
                    .as_bytes(),
            );
            format!("{:016x}", h.finish())
        })
        .collect()
}

fn take_body_defaults(tree: &mut Value) -> Vec<Map<String, Value>> {
    let Some(list) = tree.get_mut("model_list").and_then(Value::as_array_mut) else {
        return Vec::new();
    };
    list.iter_mut()
        .map(|entry| {
            let mut defaults = Map::new();
            if let Some(params) = entry
                .get_mut("litellm_params")
                .and_then(Value::as_object_mut)
            {
                for key in BODY_DEFAULT_KEYS {
                    if let Some(v) = params.remove(*key) {
                        defaults.insert((*key).to_string(), v);
                    }
                }
            }
            defaults
        })
        .collect()
}

pub(crate) fn secs_to_ms(path: &str, secs: Option<f64>) -> Result<Option<u64>, Error> {
    match secs {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 => Ok(Some((s * 1000.0).round().max(1.0) as u64)),
        Some(s) => Err(config_error(format!(
            "{path}: must be a positive number of seconds, got {s}"
        ))),
    }
}

fn build(
    raw: RawConfig,
    entries: Vec<(String, Result<RawDeployment, Error>)>,
    ids: Vec<String>,
    mut body_defaults: Vec<Map<String, Value>>,
    warnings: Vec<String>,
) -> Result<Config, Error> {
    let router = settings::build(&raw.router_settings, &raw.litellm_settings)?;
    let mut warnings = warnings;
    let cache = cache_settings(&raw, &mut warnings, router.client_caps.cache_ttl_secs)?;

    let gs = raw.general_settings;
    let positive = |key: &str, value: Option<f64>, default: f64| match value.unwrap_or(default) {
        v if v.is_finite() && v > 0.0 => Ok(v),
        v => Err(config_error(format!(
            "general_settings.{key}: must be a positive number, got {v}"
        ))),
    };
    let size_mb = positive(
        "max_request_size_mb",
        gs.max_request_size_mb,
        DEFAULT_MAX_REQUEST_SIZE_MB,
    )?;
    let body_timeout_s = positive(
        "request_body_timeout",
        gs.request_body_timeout,
        DEFAULT_REQUEST_BODY_TIMEOUT_SECS,
    )?;
    if gs.master_key.as_deref() == Some("") {
        return Err(config_error(
            "general_settings.master_key: must not be empty",
        ));
    }
    let general = GeneralSettings {
        master_key: gs.master_key,
        max_request_size_bytes: (size_mb * 1024.0 * 1024.0) as usize,
        cors_allowed_origins: gs.cors_allowed_origins.unwrap_or_default(),
        request_log: gs.request_log.unwrap_or(true),
        disable_spend_logs: gs.disable_spend_logs.unwrap_or(false),
        request_body_timeout_ms: (body_timeout_s * 1000.0) as u64,
        health_check_timeout_ms: (positive(
            "health_check_timeout",
            gs.health_check_timeout,
            DEFAULT_HEALTH_CHECK_TIMEOUT_SECS,
        )? * 1000.0) as u64,
        responses_ttl_ms: positive(
            "responses_ttl",
            gs.responses_ttl,
            DEFAULT_RESPONSES_TTL_SECS,
        )? * 1000.0,
    };

    let written = entries.len();
    let mut deployments: Vec<Deployment> = Vec::with_capacity(written);
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    let mut group_order = Vec::new();
    let mut left_out: Vec<LeftOut> = Vec::new();
    for (i, ((name, entry), id)) in entries.into_iter().zip(ids).enumerate() {
        let defaults = body_defaults
            .get_mut(i)
            .map(std::mem::take)
            .unwrap_or_default();
        let dep = entry.and_then(|d| checked(i, d, id, defaults, &router, &deployments));
        let dep = match dep {
            Ok(dep) => dep,
            Err(e) => {
                let reason = e
                    .message()
                    .trim_start_matches("Invalid router config: ")
                    .to_string();
                warnings.push(format!(
                    "{reason}: this deployment is left out, the others serve"
                ));
                left_out.push(LeftOut {
                    index: i,
                    model_name: name,
                    reason,
                });
                continue;
            }
        };
        let members = groups.entry(dep.group.clone()).or_default();
        if members.is_empty() {
            group_order.push(dep.group.clone());
        }
        members.push(deployments.len());
        deployments.push(dep);
    }
    if written > 0 && deployments.is_empty() {
        // Nothing to serve: the config as a whole is unusable, and says why.
        return Err(match left_out.as_slice() {
            [one] => config_error(one.reason.clone()),
            all => config_error(format!(
                "no deployment of model_list is usable: {}",
                all.iter()
                    .map(|l| l.reason.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        });
    }
    let mut names: Vec<(&String, &settings::Alias)> = router.aliases.iter().collect();
    names.sort_by(|a, b| a.0.cmp(b.0));
    for (name, alias) in names {
        if groups.contains_key(name) {
            warnings.push(format!(
                "router_settings.model_group_alias.{name}: also a model group; requests for it go to `{}`",
                alias.group
            ));
        }
        if !groups.contains_key(&alias.group) {
            warnings.push(format!(
                "router_settings.model_group_alias.{name}: `{}` is not a model group of this config",
                alias.group
            ));
        }
    }
    Ok(Config {
        left_out,
        deployments,
        groups,
        group_order,
        router,
        general,
        cache,
        warnings,
        source: Value::Null,
    })
}

/// A `model_list` entry as a deployment, with the checks that need the others: names free of
/// control characters, an id of its own.
fn checked(
    i: usize,
    d: RawDeployment,
    id: String,
    defaults: Map<String, Value>,
    router: &RouterSettings,
    others: &[Deployment],
) -> Result<Deployment, Error> {
    let explicit = d.model_info.id.is_some();
    let mut dep = deployment(i, d, id, defaults, router)?;
    // Names end up in response headers and metrics labels: a line break would inject a
    // header, a `\r` make every answer of the group unsendable.
    for (key, value) in [("model_name", &dep.group), ("model_info.id", &dep.id)]
        .into_iter()
        .chain(dep.tags.iter().map(|t| ("litellm_params.tags", t)))
        .chain([("litellm_params.model", &dep.model)])
    {
        if crate::names::has_control(value) {
            return Err(config_error(format!(
                "model_list[{i}].{key}: must not contain control characters (line breaks, tabs)"
            )));
        }
    }
    if !explicit && others.iter().any(|other| other.id == dep.id) {
        // The same deployment written twice: keep both, with distinct, stable ids.
        dep.id = format!("{}-{i}", dep.id);
    }
    if others.iter().any(|other| other.id == dep.id) {
        return Err(config_error(format!(
            "model_list[{i}].model_info.id: `{}` is used by another deployment",
            dep.id
        )));
    }
    Ok(dep)
}

/// A cloud provider's own credentials, and the base URL they imply when no `api_base` is written.
#[derive(Default)]
struct Cloud {
    aws: Option<AwsCredentials>,
    vertex: Option<Vertex>,
    base: Option<String>,
}

/// Bedrock's and Vertex AI's credentials (required for them).
fn cloud_credentials(
    p: &raw::RawLitellmParams,
    provider: Provider,
    model: &str,
    at: &dyn Fn(&str) -> String,
) -> Result<Cloud, Error> {
    use crate::provider::Wire;
    match provider.wire {
        Wire::Bedrock => {
            let region = p
                .aws_region_name
                .clone()
                .unwrap_or_else(|| DEFAULT_AWS_REGION.to_string());
            let (Some(id), Some(secret)) = (&p.aws_access_key_id, &p.aws_secret_access_key) else {
                return Err(config_error(format!(
                    "{}: Bedrock deployments need aws_access_key_id and aws_secret_access_key",
                    at("litellm_params")
                )));
            };
            let base = format!("https://bedrock-runtime.{region}.amazonaws.com");
            let aws = AwsCredentials {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: p.aws_session_token.clone(),
                region,
            };
            Ok(Cloud {
                aws: Some(aws),
                base: Some(base),
                ..Cloud::default()
            })
        }
        Wire::Vertex => {
            let Some(written) = p.vertex_credentials.as_ref().filter(|v| !v.is_null()) else {
                return Err(config_error(format!(
                    "{}: Vertex AI deployments need vertex_credentials (the service account JSON, e.g. `os.environ/VERTEXAI_CREDENTIALS`); the machine's default credentials do not exist at the edge",
                    at("litellm_params")
                )));
            };
            let credentials =
                crate::google_auth::GoogleCredentials::parse(written).map_err(|e| {
                    config_error(format!("{}: {e}", at("litellm_params.vertex_credentials")))
                })?;
            let project = match p.vertex_project.clone().filter(|s| !s.is_empty()) {
                Some(project) => project,
                None => credentials.project().map(str::to_string).ok_or_else(|| {
                    config_error(format!(
                        "{}: required (the credentials name no project)",
                        at("litellm_params.vertex_project")
                    ))
                })?,
            };
            let location = p
                .vertex_location
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_VERTEX_LOCATION.to_string());
            for (name, value, what) in [
                ("vertex_project", &project, "project"),
                ("vertex_location", &location, "location"),
            ] {
                if !value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(config_error(format!(
                        "{}: `{value}` is not a Google Cloud {what}",
                        at(&format!("litellm_params.{name}")),
                    )));
                }
            }
            if model.contains(['/', '?', '#', ':']) {
                return Err(config_error(format!(
                    "{}: `{model}` is not a Gemini model name; this build serves Google's Gemini models on Vertex AI",
                    at("litellm_params.model")
                )));
            }
            let base = if location == "global" {
                "https://aiplatform.googleapis.com".to_string()
            } else {
                format!("https://{location}-aiplatform.googleapis.com")
            };
            let vertex = Vertex {
                project,
                location,
                credentials,
                custom_base: p.api_base.is_some(),
            };
            Ok(Cloud {
                vertex: Some(vertex),
                base: Some(base),
                ..Cloud::default()
            })
        }
        _ => Ok(Cloud::default()),
    }
}

fn deployment(
    i: usize,
    d: RawDeployment,
    id: String,
    body_defaults: Map<String, Value>,
    router: &RouterSettings,
) -> Result<Deployment, Error> {
    let at = |key: &str| format!("model_list[{i}].{key}");
    if d.model_name.trim().is_empty() {
        return Err(config_error(format!(
            "{}: must not be empty",
            at("model_name")
        )));
    }
    let (entry_rpm, entry_tpm) = (d.rpm, d.tpm);
    let p = d.litellm_params;
    let (provider, model) = provider::resolve(&p.model, p.custom_llm_provider.as_deref())
        .map_err(|e| config_error(format!("{}: {e}", at("litellm_params.model"))))?;
    let Cloud { aws, vertex, base } = cloud_credentials(&p, provider, &model, &at)?;
    let default_base = base.as_deref().or(provider.default_api_base);
    let api_base = match (p.api_base, default_base) {
        (Some(base), _) => {
            if !(base.starts_with("http://") || base.starts_with("https://")) {
                return Err(config_error(format!(
                    "{}: must be an http:// or https:// URL, got `{base}`",
                    at("litellm_params.api_base")
                )));
            }
            base
        }
        (None, Some(default)) => default.to_string(),
        (None, None) => {
            return Err(config_error(format!(
                "{}: required for provider `{}`",
                at("litellm_params.api_base"),
                provider.name
            )))
        }
    };
    let timeout_ms =
        secs_to_ms(&at("litellm_params.timeout"), p.timeout)?.unwrap_or(router.timeout_ms);
    let stream_timeout_ms = secs_to_ms(&at("litellm_params.stream_timeout"), p.stream_timeout)?
        .or(router.stream_timeout_ms)
        .unwrap_or(timeout_ms);
    let hedge = match &p.hedge_after {
        None => router.hedge,
        Some(v) => Hedge::parse(&at("litellm_params.hedge_after"), Some(v))?,
    };
    if let Some(w) = p.weight {
        if !(w.is_finite() && w >= 0.0) {
            return Err(config_error(format!(
                "{}: must be a number >= 0, got {w}",
                at("litellm_params.weight")
            )));
        }
    }
    let mi = d.model_info;
    Ok(Deployment {
        id,
        group: d.model_name,
        provider,
        model,
        api_base,
        api_key: p.api_key.filter(|k| !k.is_empty()),
        api_version: p.api_version.or_else(|| {
            (provider.wire == crate::provider::Wire::Azure)
                .then(|| crate::provider::AZURE_DEFAULT_API_VERSION.to_string())
        }),
        azure_ad_token: p.azure_ad_token.filter(|t| !t.is_empty()),
        aws,
        vertex,
        organization: p.organization,
        timeout_ms,
        stream_timeout_ms,
        hedge,
        max_retries: p.max_retries,
        num_retries: p.num_retries,
        drop_params: p.drop_params.unwrap_or(router.drop_params),
        additional_drop_params: p.additional_drop_params.unwrap_or_default(),
        weight: p.weight,
        rpm: p.rpm.or(mi.rpm).or(entry_rpm),
        tpm: p.tpm.or(mi.tpm).or(entry_tpm),
        order: p.order,
        tags: p.tags.unwrap_or_default(),
        max_parallel_requests: p
            .max_parallel_requests
            .or(router.default_max_parallel_requests),
        body_defaults,
        info: ModelInfo {
            health_check_timeout_ms: secs_to_ms(
                &format!("model_list[{i}].model_info.health_check_timeout"),
                mi.health_check_timeout,
            )?,
            mode: mi.mode,
            input_cost_per_token: mi.input_cost_per_token.or(p.input_cost_per_token),
            output_cost_per_token: mi.output_cost_per_token.or(p.output_cost_per_token),
            max_tokens: mi.max_tokens,
            max_input_tokens: mi.max_input_tokens,
            max_output_tokens: mi.max_output_tokens,
            supports_function_calling: mi.supports_function_calling,
            supports_vision: mi.supports_vision,
            supports_assistant_prefill: mi.supports_assistant_prefill,
            base_model: mi.base_model,
            output_cost_per_image: mi.output_cost_per_image,
            input_cost_per_character: mi.input_cost_per_character,
            input_cost_per_second: mi.input_cost_per_second,
        },
    })
}

/// LiteLLM's call type names (each also with an `a` prefix, its async twin) for what the
/// cache keeps.
const CACHED_ENDPOINTS: &[(&str, crate::endpoint::Endpoint)] = &[
    ("completion", crate::endpoint::Endpoint::Chat),
    ("text_completion", crate::endpoint::Endpoint::Completions),
    ("embedding", crate::endpoint::Endpoint::Embeddings),
    ("rerank", crate::endpoint::Endpoint::Rerank),
];
/// Call types LiteLLM can cache that this cache does not (an upload's answer, audio).
const UNCACHED_CALL_TYPES: &[&str] = &["transcription", "speech"];

fn cache_settings(
    raw: &RawConfig,
    warnings: &mut Vec<String>,
    max_ttl_secs: u64,
) -> Result<Option<CacheSettings>, Error> {
    let rs = &raw.router_settings;
    let ls = &raw.litellm_settings;
    if rs.redis_url.is_some() || rs.redis_host.is_some() || rs.redis_port.is_some() {
        warnings.push(
            "router_settings.redis_*: Redis is not used at the edge; the response cache is Workers KV (binding ROUTER_CACHE) and the router state lives in Durable Objects (binding ROUTER_STATE), which keep isolates in agreement as Redis does for LiteLLM".into(),
        );
    }
    if let Some(t) = ls
        .cache_params
        .as_ref()
        .and_then(|p| p.get("type"))
        .and_then(Value::as_str)
    {
        if t != "local" && t != "kv" {
            warnings.push(format!(
                "litellm_settings.cache_params.type: `{t}` is not available at the edge; answers are cached in Workers KV (binding ROUTER_CACHE), or in the isolate's memory without it"
            ));
        }
    }
    if !(rs.cache_responses.unwrap_or(false) || ls.cache.unwrap_or(false)) {
        return Ok(None);
    }
    let param = |k: &str| {
        rs.cache_kwargs
            .as_ref()
            .and_then(|m| m.get(k))
            .or_else(|| ls.cache_params.as_ref().and_then(|m| m.get(k)))
    };
    let ttl_secs = match param("ttl") {
        None | Some(Value::Null) => DEFAULT_CACHE_TTL_SECS,
        Some(v) => v
            .as_f64()
            .filter(|t| t.is_finite() && *t > 0.0)
            .map(|t| t.ceil() as u64)
            .ok_or_else(|| {
                config_error(
                    "router_settings.cache_kwargs.ttl: must be a positive number of seconds",
                )
            })?,
    };
    let namespace = match param("namespace") {
        None | Some(Value::Null) => "switchyard".to_string(),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => {
            return Err(config_error(
                "router_settings.cache_kwargs.namespace: must be a non-empty string",
            ))
        }
    };
    let shared = match param("scope") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s == "key" => false,
        Some(Value::String(s)) if s == "shared" => true,
        Some(_) => {
            return Err(config_error(
                "router_settings.cache_kwargs.scope: must be `key` or `shared`",
            ))
        }
    };
    let endpoints = match param("supported_call_types") {
        None | Some(Value::Null) => CACHED_ENDPOINTS.iter().map(|(_, e)| *e).collect(),
        Some(Value::Array(names)) => {
            let mut out = Vec::new();
            for n in names {
                let Some(name) = n.as_str() else {
                    return Err(config_error(
                        "cache_params.supported_call_types: must be a list of call type names",
                    ));
                };
                let plain = name.strip_prefix('a').filter(|p| {
                    CACHED_ENDPOINTS.iter().any(|(n, _)| n == p) || UNCACHED_CALL_TYPES.contains(p)
                });
                let plain = plain.unwrap_or(name);
                match CACHED_ENDPOINTS.iter().find(|(n, _)| *n == plain) {
                    Some((_, e)) if !out.contains(e) => out.push(*e),
                    Some(_) => {}
                    None if UNCACHED_CALL_TYPES.contains(&plain) => warnings.push(format!(
                        "cache_params.supported_call_types: `{name}` answers are not cached here"
                    )),
                    None => {
                        return Err(config_error(format!(
                            "cache_params.supported_call_types: `{name}` is not one of {}",
                            CACHED_ENDPOINTS
                                .iter()
                                .map(|(n, _)| *n)
                                .chain(UNCACHED_CALL_TYPES.iter().copied())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )))
                    }
                }
            }
            out
        }
        Some(_) => {
            return Err(config_error(
                "cache_params.supported_call_types: must be a list of call type names",
            ))
        }
    };
    Ok(Some(CacheSettings {
        ttl_secs,
        namespace,
        caching_groups: rs.caching_groups.clone().unwrap_or_default(),
        shared,
        max_ttl_secs,
        endpoints,
    }))
}

/// FNV-1a, 64 bit: a stable, dependency-free hash for ids (not for secrets or security).
pub(crate) struct Fnv64(u64);

impl Fnv64 {
    pub(crate) fn new() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests;
