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
    /// Gemini's `generateContent` on Vertex AI, with a Google OAuth access token.
    Vertex,
    /// OpenAI's `/completions` only: a chat request is turned into a completion.
    TextCompletion,
}

/// How a provider takes its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `Authorization: Bearer <key>` and `api-key: <key>` (Azure AI's endpoints take either).
    BearerAndApiKey,
}

/// What a provider's rerank endpoint takes and answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RerankShape {
    /// Cohere's `{query, documents, top_n}` -> `{results: [{index, relevance_score}]}`, which
    /// is what `/v1/rerank` speaks (Jina and Together copy it).
    Cohere,
    /// Voyage's `top_k` and `{data: [...]}`.
    Voyage,
}

/// One row of the provider table: everything that differs between providers that speak a
/// wire the router knows. Adding an OpenAI-compatible provider is one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provider {
    /// LiteLLM's name for it (the `model` prefix).
    pub name: &'static str,
    /// Used when the deployment gives no `api_base`; `None` means `api_base` is required.
    pub default_api_base: Option<&'static str>,
    pub wire: Wire,
    /// The secret (LiteLLM's environment variable) that holds its key, for a deployment on the
    /// default `api_base` that gives none, and for models called by name.
    pub key_variable: Option<&'static str>,
    /// The endpoints it serves.
    pub endpoints: &'static [Endpoint],
    /// Put between `api_base` and the endpoint path (Ollama's OpenAI API is under `/v1`, its
    /// `api_base` is the server's root, as LiteLLM writes it).
    pub path_prefix: &'static str,
    pub auth: Auth,
    pub rerank: RerankShape,
    /// Where its rerank API is when that is not `{default_api_base}/rerank` (Cohere's v2 API
    /// beside its OpenAI compatibility API).
    pub rerank_url: Option<&'static str>,
}

use crate::endpoint::Endpoint::{
    self, Chat, Completions, Embeddings, ImageGenerations, Moderations, Rerank, Responses, Speech,
    Transcriptions, Translations,
};

/// Every endpoint of OpenAI's API.
const OPENAI_API: &[Endpoint] = &[
    Chat,
    Completions,
    Embeddings,
    Moderations,
    ImageGenerations,
    Transcriptions,
    Translations,
    Speech,
    Responses,
];
/// What self-hosted OpenAI-compatible servers (vLLM, LM Studio, llamafile...) serve.
const SELF_HOSTED: &[Endpoint] = &[Chat, Completions, Embeddings, Transcriptions, Rerank];
const CHAT: &[Endpoint] = &[Chat];
const CHAT_TEXT: &[Endpoint] = &[Chat, Completions];
const CHAT_EMBED: &[Endpoint] = &[Chat, Embeddings];
const CHAT_TEXT_EMBED: &[Endpoint] = &[Chat, Completions, Embeddings];
const EMBED_RERANK: &[Endpoint] = &[Embeddings, Rerank];

impl Provider {
    /// An OpenAI-compatible provider: its name, default base, key variable and endpoints.
    const fn openai(
        name: &'static str,
        base: Option<&'static str>,
        key: Option<&'static str>,
        endpoints: &'static [Endpoint],
    ) -> Self {
        Provider {
            name,
            default_api_base: base,
            wire: Wire::OpenAi,
            key_variable: key,
            endpoints,
            path_prefix: "",
            auth: Auth::Bearer,
            rerank: RerankShape::Cohere,
            rerank_url: None,
        }
    }

    const fn translated(
        name: &'static str,
        base: Option<&'static str>,
        wire: Wire,
        key: Option<&'static str>,
    ) -> Self {
        Provider {
            wire,
            ..Provider::openai(name, base, key, CHAT)
        }
    }

    const fn under(self, path_prefix: &'static str) -> Self {
        Provider {
            path_prefix,
            ..self
        }
    }

    const fn auth(self, auth: Auth) -> Self {
        Provider { auth, ..self }
    }

    const fn rerank(self, rerank: RerankShape) -> Self {
        Provider { rerank, ..self }
    }

    const fn rerank_at(self, url: &'static str) -> Self {
        Provider {
            rerank_url: Some(url),
            ..self
        }
    }

    /// Whether it serves `endpoint` (its wire's adapter must too).
    pub fn serves(&self, endpoint: Endpoint) -> bool {
        self.endpoints.contains(&endpoint)
    }
}

/// Azure OpenAI's `api-version` when the deployment sets none (a GA version).
pub const AZURE_DEFAULT_API_VERSION: &str = "2024-10-21";

const fn some(s: &'static str) -> Option<&'static str> {
    Some(s)
}

/// Every provider this router knows by name: LiteLLM's prefix, public endpoint, key variable
/// and the endpoints it serves.
#[rustfmt::skip]
pub const PROVIDERS: &[Provider] = &[
    // Their own wire formats (adapter/*.rs).
    Provider { endpoints: OPENAI_API, ..Provider::translated("azure", None, Wire::Azure, some("AZURE_API_KEY")) },
    // Per region: https://bedrock-runtime.{aws_region_name}.amazonaws.com
    Provider::translated("bedrock", None, Wire::Bedrock, None),
    Provider::translated("gemini", some("https://generativelanguage.googleapis.com"), Wire::Gemini, some("GEMINI_API_KEY")),
    // Per project and region: https://{vertex_location}-aiplatform.googleapis.com
    Provider::translated("vertex_ai", None, Wire::Vertex, None),
    Provider::translated("vertex_ai_beta", None, Wire::Vertex, None),
    Provider::translated("anthropic", some("https://api.anthropic.com"), Wire::Anthropic, some("ANTHROPIC_API_KEY")),
    // OpenAI and the servers that copy its API.
    Provider::openai("openai", some("https://api.openai.com/v1"), some("OPENAI_API_KEY"), OPENAI_API),
    Provider { wire: Wire::TextCompletion, ..Provider::openai("text-completion-openai", some("https://api.openai.com/v1"), some("OPENAI_API_KEY"), CHAT_TEXT) },
    Provider::openai("openai_like", None, None, SELF_HOSTED),
    Provider::openai("hosted_vllm", None, some("HOSTED_VLLM_API_KEY"), SELF_HOSTED),
    Provider::openai("lm_studio", some("http://localhost:1234/v1"), some("LM_STUDIO_API_KEY"), SELF_HOSTED),
    Provider::openai("llamafile", some("http://127.0.0.1:8080/v1"), None, SELF_HOSTED),
    Provider::openai("ollama", some("http://localhost:11434"), None, CHAT_TEXT_EMBED).under("/v1"),
    Provider::openai("ollama_chat", some("http://localhost:11434"), None, CHAT_TEXT_EMBED).under("/v1"),
    Provider::openai("mistral", some("https://api.mistral.ai/v1"), some("MISTRAL_API_KEY"), CHAT_EMBED),
    Provider::openai("codestral", some("https://codestral.mistral.ai/v1"), some("CODESTRAL_API_KEY"), CHAT),
    Provider::openai("groq", some("https://api.groq.com/openai/v1"), some("GROQ_API_KEY"), &[Chat, Transcriptions, Translations, Speech]),
    Provider::openai("deepseek", some("https://api.deepseek.com/v1"), some("DEEPSEEK_API_KEY"), CHAT_TEXT),
    Provider::openai("together_ai", some("https://api.together.xyz/v1"), some("TOGETHERAI_API_KEY"), &[Chat, Completions, Embeddings, ImageGenerations, Rerank]),
    Provider::openai("fireworks_ai", some("https://api.fireworks.ai/inference/v1"), some("FIREWORKS_AI_API_KEY"), CHAT_TEXT_EMBED),
    Provider::openai("openrouter", some("https://openrouter.ai/api/v1"), some("OPENROUTER_API_KEY"), CHAT_TEXT),
    Provider::openai("xai", some("https://api.x.ai/v1"), some("XAI_API_KEY"), &[Chat, ImageGenerations]),
    Provider::openai("perplexity", some("https://api.perplexity.ai"), some("PERPLEXITYAI_API_KEY"), CHAT),
    Provider::openai("cerebras", some("https://api.cerebras.ai/v1"), some("CEREBRAS_API_KEY"), CHAT_TEXT),
    Provider::openai("deepinfra", some("https://api.deepinfra.com/v1/openai"), some("DEEPINFRA_API_KEY"), CHAT_TEXT_EMBED),
    Provider::openai("nvidia_nim", some("https://integrate.api.nvidia.com/v1"), some("NVIDIA_NIM_API_KEY"), CHAT_TEXT_EMBED),
    Provider::openai("sambanova", some("https://api.sambanova.ai/v1"), some("SAMBANOVA_API_KEY"), CHAT_EMBED),
    Provider::openai("nebius", some("https://api.studio.nebius.ai/v1"), some("NEBIUS_API_KEY"), CHAT_TEXT_EMBED),
    Provider::openai("novita", some("https://api.novita.ai/v3/openai"), some("NOVITA_API_KEY"), CHAT_TEXT),
    Provider::openai("siliconflow", some("https://api.siliconflow.cn/v1"), some("SILICONFLOW_API_KEY"), CHAT_EMBED),
    Provider::openai("moonshot", some("https://api.moonshot.ai/v1"), some("MOONSHOT_API_KEY"), CHAT),
    Provider::openai("dashscope", some("https://dashscope-intl.aliyuncs.com/compatible-mode/v1"), some("DASHSCOPE_API_KEY"), CHAT_EMBED),
    Provider::openai("zhipu", some("https://open.bigmodel.cn/api/paas/v4"), some("ZHIPUAI_API_KEY"), CHAT_EMBED),
    Provider::openai("volcengine", some("https://ark.cn-beijing.volces.com/api/v3"), some("VOLCENGINE_API_KEY"), CHAT_EMBED),
    // Hugging Face's router: its OpenAI-compatible endpoint for the inference providers.
    Provider::openai("huggingface", some("https://router.huggingface.co/v1"), some("HF_TOKEN"), CHAT),
    Provider::openai("azure_ai", None, some("AZURE_AI_API_KEY"), CHAT_EMBED).auth(Auth::BearerAndApiKey),
    // https://<workspace>.cloud.databricks.com/serving-endpoints
    Provider::openai("databricks", None, some("DATABRICKS_API_KEY"), CHAT_TEXT_EMBED),
    // Cohere's OpenAI compatibility API for chat and embeddings; rerank is its own v2 API.
    Provider::openai("cohere", some("https://api.cohere.ai/compatibility/v1"), some("COHERE_API_KEY"), &[Chat, Embeddings, Rerank]).rerank_at("https://api.cohere.com/v2/rerank"),
    Provider::openai("voyage", some("https://api.voyageai.com/v1"), some("VOYAGE_API_KEY"), EMBED_RERANK).rerank(RerankShape::Voyage),
    Provider::openai("jina_ai", some("https://api.jina.ai/v1"), some("JINA_AI_API_KEY"), EMBED_RERANK),
];

/// Providers LiteLLM knows whose own wire format this build does not translate yet.
const NOT_YET: &[&str] = &["replicate", "sagemaker", "watsonx"];

const OPENAI: Provider = Provider::openai(
    "openai",
    Some("https://api.openai.com/v1"),
    Some("OPENAI_API_KEY"),
    OPENAI_API,
);

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

/// The secret holding a provider's key (see [`Provider::key_variable`]).
pub fn key_variable(provider: &str) -> Option<&'static str> {
    lookup(provider).and_then(|p| p.key_variable)
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
        let e = resolve("sagemaker/my-endpoint", None).unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        assert_eq!(
            resolve("vertex_ai/gemini-1.5-pro", None).unwrap().0.wire,
            Wire::Vertex
        );
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

    /// The table's rows are what a LiteLLM user writes: unique prefixes, a public https base or
    /// a documented local one, a key variable for every hosted provider, something served.
    #[test]
    fn the_provider_table_is_consistent() {
        let mut names: Vec<&str> = PROVIDERS.iter().map(|p| p.name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a prefix twice");
        assert!(before >= 35, "{before} providers");
        for p in PROVIDERS {
            assert!(!p.endpoints.is_empty(), "{}", p.name);
            if let Some(base) = p.default_api_base {
                let local =
                    base.starts_with("http://localhost") || base.starts_with("http://127.0.0.1");
                assert!(base.starts_with("https://") || local, "{}: {base}", p.name);
                if !local {
                    assert!(
                        p.key_variable.is_some(),
                        "{}: hosted without a key variable",
                        p.name
                    );
                }
            }
            assert!(
                !NOT_YET.contains(&p.name),
                "{} is both served and not yet",
                p.name
            );
        }
        for (prefix, base, key) in [
            ("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
            ("cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
            (
                "huggingface",
                "https://router.huggingface.co/v1",
                "HF_TOKEN",
            ),
            ("voyage", "https://api.voyageai.com/v1", "VOYAGE_API_KEY"),
        ] {
            let (p, m) = resolve(&format!("{prefix}/some-model"), None).unwrap();
            assert_eq!(
                (p.default_api_base, p.key_variable),
                (Some(base), Some(key))
            );
            assert_eq!(m, "some-model");
        }
        let voyage = lookup("voyage").unwrap();
        assert!(voyage.serves(Endpoint::Rerank) && !voyage.serves(Endpoint::Chat));
        assert_eq!(lookup("ollama").unwrap().path_prefix, "/v1");
        assert!(resolve("databricks/dbrx", None)
            .unwrap()
            .0
            .default_api_base
            .is_none());
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
