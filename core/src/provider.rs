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
    /// Bedrock's Converse API, signed with SigV4; streams in AWS event-stream frames.
    Bedrock,
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
        name: "bedrock",
        // Per region: https://bedrock-runtime.{aws_region_name}.amazonaws.com
        default_api_base: None,
        wire: Wire::Bedrock,
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

/// The secret holding a provider's key for models called by name without a deployment in
/// `model_list` (LiteLLM reads the same environment variables).
pub fn key_variable(provider: &str) -> Option<&'static str> {
    Some(match provider {
        "openai" => "OPENAI_API_KEY",
        "anthropic" => "ANTHROPIC_API_KEY",
        "gemini" => "GEMINI_API_KEY",
        "groq" => "GROQ_API_KEY",
        "mistral" => "MISTRAL_API_KEY",
        "deepseek" => "DEEPSEEK_API_KEY",
        "together_ai" => "TOGETHERAI_API_KEY",
        "fireworks_ai" => "FIREWORKS_AI_API_KEY",
        "openrouter" => "OPENROUTER_API_KEY",
        "perplexity" => "PERPLEXITYAI_API_KEY",
        "xai" => "XAI_API_KEY",
        "deepinfra" => "DEEPINFRA_API_KEY",
        _ => return None,
    })
}

/// A model name that is not a group but names a provider's model: `groq/llama3-8b-8192`, or a
/// bare name of a well-known family (`gpt-3.5-turbo`, `claude-3-haiku-20240307`,
/// `gemini-1.5-flash`). Returns the provider and the model name it knows.
pub fn implicit(name: &str) -> Option<(Provider, String)> {
    if let Some((prefix, rest)) = name.split_once('/') {
        return lookup(prefix)
            .filter(|p| p.default_api_base.is_some() && !rest.is_empty())
            .map(|p| (p, rest.to_string()));
    }
    const OPENAI_FAMILIES: &[&str] = &[
        "gpt-",
        "chatgpt-",
        "o1",
        "o3",
        "o4",
        "text-embedding-",
        "dall-e-",
        "gpt-image-",
        "omni-moderation-",
        "text-moderation-",
        "davinci-",
        "babbage-",
    ];
    let provider = if OPENAI_FAMILIES.iter().any(|f| name.starts_with(f)) {
        "openai"
    } else if name.starts_with("claude-") {
        "anthropic"
    } else if name.starts_with("gemini-") {
        "gemini"
    } else {
        return None;
    };
    lookup(provider).map(|p| (p, name.to_string()))
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
    fn implicit_models() {
        assert_eq!(implicit("gpt-3.5-turbo").unwrap().0.name, "openai");
        assert_eq!(
            implicit("claude-3-haiku-20240307").unwrap().0.wire,
            Wire::Anthropic
        );
        assert_eq!(implicit("gemini-1.5-flash").unwrap().0.wire, Wire::Gemini);
        let (p, m) = implicit("groq/llama3-8b-8192").unwrap();
        assert_eq!((p.name, m.as_str()), ("groq", "llama3-8b-8192"));
        assert!(implicit("my-private-model").is_none());
        assert!(
            implicit("azure/x").is_none(),
            "azure needs an api_base: not implicit"
        );
        assert!(implicit("hosted_vllm/x").is_none());
        assert_eq!(key_variable("anthropic"), Some("ANTHROPIC_API_KEY"));
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
