//! Which provider a deployment talks to, read from its `model` prefix or `custom_llm_provider`
//! the way LiteLLM does (`openai/gpt-4o`, `groq/llama3-8b-8192`, ...), and how to address it.

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI's own: the body is forwarded with the model renamed, to `{api_base}/<endpoint>`.
    OpenAi,
    /// OpenAI's body at `{api_base}/openai/deployments/{model}/<endpoint>?api-version=...`, with
    /// an `api-key` header.
    Azure,
    /// The Messages API (`/v1/messages`), translated both ways.
    Anthropic,
    /// Google AI Studio's `generateContent`, translated both ways.
    Gemini,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provider {
    /// LiteLLM's name for it (the `model` prefix).
    pub name: &'static str,
    /// Used when the deployment gives no `api_base`; `None` means `api_base` is required.
    pub default_api_base: Option<&'static str>,
    pub wire: Wire,
}

impl Provider {
    const fn openai(name: &'static str, base: Option<&'static str>) -> Self {
        Provider {
            name,
            default_api_base: base,
            wire: Wire::OpenAi,
        }
    }

    /// Whether this provider serves an endpoint at all (routing skips deployments that do not).
    pub fn serves(&self, endpoint: crate::request::Endpoint) -> bool {
        use crate::request::Endpoint;
        match self.wire {
            Wire::OpenAi | Wire::Azure => true,
            Wire::Anthropic | Wire::Gemini => endpoint == Endpoint::Chat,
        }
    }
}

/// Azure OpenAI's `api-version` when the deployment sets none (a GA version).
pub const AZURE_DEFAULT_API_VERSION: &str = "2024-10-21";

/// Every provider this router knows by name, with its public endpoint.
pub const PROVIDERS: &[Provider] = &[
    Provider {
        name: "azure",
        default_api_base: None,
        wire: Wire::Azure,
    },
    Provider {
        name: "gemini",
        default_api_base: Some("https://generativelanguage.googleapis.com"),
        wire: Wire::Gemini,
    },
    Provider {
        name: "anthropic",
        default_api_base: Some("https://api.anthropic.com"),
        wire: Wire::Anthropic,
    },
    Provider::openai("openai", Some("https://api.openai.com/v1")),
    Provider::openai("groq", Some("https://api.groq.com/openai/v1")),
    Provider::openai("mistral", Some("https://api.mistral.ai/v1")),
    Provider::openai("deepseek", Some("https://api.deepseek.com/v1")),
    Provider::openai("together_ai", Some("https://api.together.xyz/v1")),
    Provider::openai(
        "fireworks_ai",
        Some("https://api.fireworks.ai/inference/v1"),
    ),
    Provider::openai("openrouter", Some("https://openrouter.ai/api/v1")),
    Provider::openai("perplexity", Some("https://api.perplexity.ai")),
    Provider::openai("xai", Some("https://api.x.ai/v1")),
    Provider::openai("deepinfra", Some("https://api.deepinfra.com/v1/openai")),
    Provider::openai("hosted_vllm", None),
];

/// Providers LiteLLM knows whose own wire format this build does not translate yet.
const NOT_YET: &[&str] = &[
    "azure_ai",
    "vertex_ai",
    "bedrock",
    "cohere",
    "ollama",
    "ollama_chat",
    "huggingface",
    "replicate",
    "sagemaker",
    "watsonx",
];

const OPENAI: Provider = Provider::openai("openai", Some("https://api.openai.com/v1"));

pub fn lookup(name: &str) -> Option<Provider> {
    PROVIDERS.iter().copied().find(|p| p.name == name)
}

/// Splits `litellm_params.model` into the provider and the model name the provider knows.
/// A bare model name (`gpt-4o`) is OpenAI's, as in LiteLLM. Errors are sentences for the config
/// error message.
pub fn resolve(
    model: &str,
    custom_llm_provider: Option<&str>,
) -> Result<(Provider, String), String> {
    if let Some(name) = custom_llm_provider {
        let provider = known(name)?;
        let stripped = model
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(model);
        return Ok((provider, stripped.to_string()));
    }
    match model.split_once('/') {
        Some((prefix, rest)) => {
            if rest.is_empty() {
                return Err(format!(
                    "model `{model}` has no model name after the provider prefix"
                ));
            }
            Ok((known(prefix)?, rest.to_string()))
        }
        None => Ok((OPENAI, model.to_string())),
    }
}

fn known(name: &str) -> Result<Provider, String> {
    if let Some(p) = lookup(name) {
        return Ok(p);
    }
    let supported: Vec<&str> = PROVIDERS.iter().map(|p| p.name).collect();
    if NOT_YET.contains(&name) {
        Err(format!(
            "provider `{name}` is not supported by this version of Switchyard; supported: {}",
            supported.join(", ")
        ))
    } else {
        Err(format!(
            "unknown provider `{name}`; supported: {} (any OpenAI-compatible server: `openai/<model>` with `api_base`)",
            supported.join(", ")
        ))
    }
}

/// Joins an `api_base` and an endpoint path without doubling or dropping the slash.
pub fn endpoint_url(api_base: &str, path: &str) -> String {
    let base = api_base.trim_end_matches('/');
    let mut url = String::with_capacity(base.len() + path.len() + 1);
    url.push_str(base);
    if !path.starts_with('/') {
        url.push('/');
    }
    url.push_str(path);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_model_is_openai() {
        let (p, m) = resolve("gpt-4o", None).unwrap();
        assert_eq!(p.name, "openai");
        assert_eq!(m, "gpt-4o");
    }

    #[test]
    fn prefix_is_stripped_once() {
        let (p, m) = resolve("openai/meta-llama/Llama-3-8B", None).unwrap();
        assert_eq!(p.name, "openai");
        assert_eq!(m, "meta-llama/Llama-3-8B");
        let (p, m) = resolve("groq/llama3-8b-8192", None).unwrap();
        assert_eq!(p.default_api_base, Some("https://api.groq.com/openai/v1"));
        assert_eq!(m, "llama3-8b-8192");
    }

    #[test]
    fn custom_llm_provider_wins() {
        let (p, m) = resolve("my-model", Some("hosted_vllm")).unwrap();
        assert_eq!(p.name, "hosted_vllm");
        assert_eq!(m, "my-model");
        let (_, m) = resolve("hosted_vllm/my-model", Some("hosted_vllm")).unwrap();
        assert_eq!(m, "my-model");
    }

    #[test]
    fn unknown_and_unsupported_providers_are_errors() {
        let e = resolve("nope/x", None).unwrap_err();
        assert!(e.contains("unknown provider `nope`"), "{e}");
        let e = resolve("vertex_ai/gemini-1.5-pro", None).unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        assert_eq!(
            resolve("gemini/gemini-1.5-pro", None).unwrap().0.wire,
            Wire::Gemini
        );
        assert_eq!(
            resolve("anthropic/claude-3-haiku", None).unwrap().0.wire,
            Wire::Anthropic
        );
        assert_eq!(resolve("azure/my-gpt4", None).unwrap().0.wire, Wire::Azure);
        assert!(resolve("openai/", None).is_err());
    }

    #[test]
    fn url_join() {
        assert_eq!(
            endpoint_url("http://h:1/v1/", "/chat/completions"),
            "http://h:1/v1/chat/completions"
        );
        assert_eq!(
            endpoint_url("http://h:1/v1", "chat/completions"),
            "http://h:1/v1/chat/completions"
        );
    }
}
