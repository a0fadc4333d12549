//! The config file as written: LiteLLM's proxy config schema, deserialized as is. Validation and
//! defaults live in `config::mod`; keys not listed here are reported as ignored.

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    /// `model_list` is read entry by entry (`RawDeployment`), not with the rest.
    #[serde(default)]
    pub router_settings: RawRouterSettings,
    #[serde(default)]
    pub litellm_settings: RawLitellmSettings,
    #[serde(default)]
    pub general_settings: RawGeneralSettings,
}

#[derive(Debug, Deserialize)]
pub struct RawDeployment {
    pub model_name: String,
    pub litellm_params: RawLitellmParams,
    #[serde(default)]
    pub model_info: RawModelInfo,
    /// LiteLLM's `load_balancer.yaml` writes a deployment's limits beside its params.
    #[serde(default)]
    pub rpm: Option<u64>,
    #[serde(default)]
    pub tpm: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct RawLitellmParams {
    pub model: String,
    #[serde(default, alias = "base_url")]
    pub api_base: Option<String>,
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub api_version: Option<String>,
    /// Azure: a Microsoft Entra ID token, sent as `Authorization: Bearer` instead of `api-key`.
    #[serde(default)]
    pub azure_ad_token: Option<String>,
    /// Bedrock: AWS credentials and region.
    #[serde(default)]
    pub aws_access_key_id: Option<String>,
    #[serde(default)]
    pub aws_secret_access_key: Option<String>,
    #[serde(default)]
    pub aws_session_token: Option<String>,
    #[serde(default)]
    pub aws_region_name: Option<String>,
    /// Vertex AI: the Google Cloud project and region, and the credentials JSON (a string, as a
    /// secret holds it, or an object).
    #[serde(default, alias = "vertex_ai_project")]
    pub vertex_project: Option<String>,
    #[serde(default, alias = "vertex_ai_location")]
    pub vertex_location: Option<String>,
    #[serde(default, alias = "vertex_ai_credentials")]
    pub vertex_credentials: Option<Value>,
    #[serde(default)]
    pub organization: Option<String>,
    #[serde(default)]
    pub custom_llm_provider: Option<String>,
    /// Seconds, for the whole call.
    #[serde(default)]
    pub timeout: Option<f64>,
    /// Seconds to the first chunk of a stream.
    #[serde(default)]
    pub stream_timeout: Option<f64>,
    /// This deployment's hedge point (as `router_settings.hedge_after`).
    #[serde(default)]
    pub hedge_after: Option<Value>,
    /// Retries after this deployment fails, instead of the group's.
    #[serde(default)]
    pub num_retries: Option<u32>,
    #[serde(default)]
    pub max_retries: Option<u32>,
    #[serde(default)]
    pub weight: Option<f64>,
    #[serde(default)]
    pub rpm: Option<u64>,
    #[serde(default)]
    pub tpm: Option<u64>,
    #[serde(default)]
    pub order: Option<u32>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub max_parallel_requests: Option<u32>,
    /// OpenAI parameters this deployment's provider does not take are dropped, not refused.
    #[serde(default)]
    pub drop_params: Option<bool>,
    /// Parameters never sent to this deployment, whatever its provider takes.
    #[serde(default)]
    pub additional_drop_params: Option<Vec<String>>,
    /// LiteLLM accepts prices in `litellm_params` too; `model_info` wins when both are set.
    #[serde(default)]
    pub input_cost_per_token: Option<f64>,
    #[serde(default)]
    pub output_cost_per_token: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawModelInfo {
    /// Read from the tree before secrets are resolved (see `written_ids`); declared so it is
    /// not reported as unknown.
    #[serde(default)]
    #[allow(dead_code)]
    pub id: Option<String>,
    /// What the deployment serves, for its health check: `chat`, `completion`, `embedding`,
    /// `image_generation`, `audio_speech`, `audio_transcription`, `rerank`, `moderation`.
    #[serde(default)]
    pub mode: Option<String>,
    /// LiteLLM's `load_balancer.yaml` puts a deployment's limits here.
    #[serde(default)]
    pub rpm: Option<u64>,
    #[serde(default)]
    pub tpm: Option<u64>,
    /// Seconds its health check may take.
    #[serde(default)]
    pub health_check_timeout: Option<f64>,
    #[serde(default)]
    pub input_cost_per_token: Option<f64>,
    #[serde(default)]
    pub output_cost_per_token: Option<f64>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub max_input_tokens: Option<u64>,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    #[serde(default)]
    pub supports_function_calling: Option<bool>,
    #[serde(default)]
    pub supports_vision: Option<bool>,
    /// LiteLLM's model-info key: the model continues a trailing assistant message.
    #[serde(default)]
    pub supports_assistant_prefill: Option<bool>,
    #[serde(default)]
    pub base_model: Option<String>,
    /// LiteLLM's price keys for images and audio.
    #[serde(default)]
    pub output_cost_per_image: Option<f64>,
    #[serde(default)]
    pub input_cost_per_character: Option<f64>,
    #[serde(default)]
    pub input_cost_per_second: Option<f64>,
}

/// Router keys that `router_settings` and `litellm_settings` share (LiteLLM users put them in
/// either; `router_settings` wins). Not `#[serde(flatten)]`: flattening would hide unknown keys
/// from the warnings, so the macro below writes these fields into both structs.
#[derive(Debug, Default, Clone)]
pub struct RawShared {
    pub num_retries: Option<u32>,
    pub fallbacks: Option<Value>,
    pub default_fallbacks: Option<Vec<String>>,
    pub context_window_fallbacks: Option<Value>,
    pub content_policy_fallbacks: Option<Value>,
    pub allowed_fails: Option<u32>,
    pub cooldown_time: Option<f64>,
}

macro_rules! with_shared_router_keys {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            #[serde(default)]
            pub num_retries: Option<u32>,
            #[serde(default)]
            pub fallbacks: Option<Value>,
            #[serde(default)]
            pub default_fallbacks: Option<Vec<String>>,
            #[serde(default)]
            pub context_window_fallbacks: Option<Value>,
            #[serde(default)]
            pub content_policy_fallbacks: Option<Value>,
            #[serde(default)]
            pub allowed_fails: Option<u32>,
            #[serde(default)]
            pub cooldown_time: Option<f64>,
        }

        impl $name {
            pub fn shared(&self) -> RawShared {
                RawShared {
                    num_retries: self.num_retries,
                    fallbacks: self.fallbacks.clone(),
                    default_fallbacks: self.default_fallbacks.clone(),
                    context_window_fallbacks: self.context_window_fallbacks.clone(),
                    content_policy_fallbacks: self.content_policy_fallbacks.clone(),
                    allowed_fails: self.allowed_fails,
                    cooldown_time: self.cooldown_time,
                }
            }
        }
    };
}

with_shared_router_keys! {
    #[derive(Debug, Default, Deserialize)]
    pub struct RawRouterSettings {
        #[serde(default)]
        pub routing_strategy: Option<String>,
        #[serde(default)]
        pub routing_strategy_args: Option<Map<String, Value>>,
        #[serde(default)]
        pub timeout: Option<f64>,
        #[serde(default)]
        pub stream_timeout: Option<f64>,
        #[serde(default)]
        pub max_fallbacks: Option<u32>,
        #[serde(default)]
        pub allowed_fails_policy: Option<Map<String, Value>>,
        #[serde(default)]
        pub retry_policy: Option<Map<String, Value>>,
        #[serde(default)]
        pub model_group_retry_policy: Option<Map<String, Value>>,
        #[serde(default)]
        pub enable_pre_call_checks: Option<bool>,
        #[serde(default)]
        pub default_max_parallel_requests: Option<u32>,
        /// Merged into each deployment's `litellm_params` before parsing (see
        /// `merge_default_litellm_params`); declared so it is not reported as unknown.
        #[serde(default)]
        #[allow(dead_code)]
        pub default_litellm_params: Option<Map<String, Value>>,
        /// Switchyard's opt-in for LiteLLM's `Router` idea "a gpt-4 request may be answered by a cheaper
        /// group": `{"gpt-4": ["gpt-3.5-turbo"]}`. Used by cost-based routing only.
        #[serde(default)]
        pub cost_substitutes: Option<Map<String, Value>>,
        /// Other names for model groups: `{"gpt-4": "my-gpt4"}` or
        /// `{"gpt-4": {"model": "my-gpt4", "hidden": true}}`.
        #[serde(default)]
        pub model_group_alias: Option<Map<String, Value>>,
        #[serde(default)]
        pub enable_tag_filtering: Option<bool>,
        /// Switchyard's hedged first token: seconds, or `false` / `"off"`; absent: adaptive.
        #[serde(default)]
        pub hedge_after: Option<Value>,
        /// Caps on what a client may ask for in its request body (Switchyard's).
        #[serde(default)]
        pub max_request_timeout: Option<f64>,
        #[serde(default)]
        pub max_request_num_retries: Option<u32>,
        #[serde(default)]
        pub max_request_fallbacks: Option<u32>,
        #[serde(default)]
        pub max_cache_ttl: Option<f64>,
        /// LiteLLM's `Router(cache_responses=...)`.
        #[serde(default)]
        pub cache_responses: Option<bool>,
        /// LiteLLM's `Router(cache_kwargs=...)` (`ttl`, `namespace`).
        #[serde(default)]
        pub cache_kwargs: Option<Map<String, Value>>,
        /// Groups that share cached answers: `[["gpt-4", "gpt-4-azure"]]`.
        #[serde(default)]
        pub caching_groups: Option<Vec<Vec<String>>>,
        /// LiteLLM's `Router` Redis settings: accepted, not used at the edge (see the warning).
        #[serde(default)]
        pub redis_url: Option<String>,
        #[serde(default)]
        pub redis_host: Option<String>,
        #[serde(default)]
        pub redis_port: Option<Value>,
        #[serde(default)]
        #[allow(dead_code)]
        pub redis_password: Option<String>,
        #[serde(default)]
        #[allow(dead_code)]
        pub client_ttl: Option<f64>,
    }
}

with_shared_router_keys! {
    #[derive(Debug, Default, Deserialize)]
    pub struct RawLitellmSettings {
        #[serde(default)]
        pub request_timeout: Option<f64>,
        /// Drop OpenAI parameters a provider does not take instead of refusing the request.
        #[serde(default)]
        pub drop_params: Option<bool>,
        /// LiteLLM's switch, accepted so configs carry over; it changes nothing here.
        #[serde(default)]
        #[allow(dead_code)]
        pub set_verbose: Option<bool>,
        /// LiteLLM proxy's switch for the response cache.
        #[serde(default)]
        pub cache: Option<bool>,
        /// LiteLLM proxy's `cache_params` (`ttl`, `namespace`, `type`, ...).
        #[serde(default)]
        pub cache_params: Option<Map<String, Value>>,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RawGeneralSettings {
    #[serde(default)]
    pub master_key: Option<String>,
    #[serde(default)]
    pub max_request_size_mb: Option<f64>,
    /// Origins allowed to call the API from a browser (`*` for any). Default: none.
    #[serde(default)]
    pub cors_allowed_origins: Option<Vec<String>>,
    /// One JSON log line per request (default true).
    #[serde(default)]
    pub request_log: Option<bool>,
    /// No request log or history (default false): LiteLLM's switch for its spend logs.
    #[serde(default)]
    pub disable_spend_logs: Option<bool>,
    /// Seconds a client may take to send its request body (default 30): a slow-body client
    /// gets a 408 instead of holding the request open.
    #[serde(default)]
    pub request_body_timeout: Option<f64>,
    /// Seconds a deployment's health check may take (default 10).
    #[serde(default)]
    pub health_check_timeout: Option<f64>,
    /// Seconds a stored response (the Responses API's `store`) is kept (default 30 days).
    #[serde(default)]
    pub responses_ttl: Option<f64>,
}
