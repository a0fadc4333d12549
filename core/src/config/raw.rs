//! The config file as written: LiteLLM's proxy config schema, deserialized as is. Validation and
//! defaults live in `config::mod`; keys not listed here are reported as ignored.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    #[serde(default)]
    pub model_list: Vec<RawDeployment>,
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
    #[serde(default)]
    pub mode: Option<String>,
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
    #[serde(default)]
    pub base_model: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawRouterSettings {
    #[serde(default)]
    pub routing_strategy: Option<String>,
    #[serde(default)]
    pub timeout: Option<f64>,
    #[serde(default)]
    pub stream_timeout: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawLitellmSettings {
    #[serde(default)]
    pub request_timeout: Option<f64>,
    /// LiteLLM switches accepted so configs carry over; they change nothing here.
    #[serde(default)]
    #[allow(dead_code)]
    pub drop_params: Option<bool>,
    #[serde(default)]
    #[allow(dead_code)]
    pub set_verbose: Option<bool>,
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
}
