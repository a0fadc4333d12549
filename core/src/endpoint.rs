//! The OpenAI endpoints routed through model groups: a leaf every layer may name.

/// The OpenAI endpoints routed through model groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Completions,
    Embeddings,
    Moderations,
    ImageGenerations,
    Transcriptions,
    Translations,
    Speech,
    /// `/v1/rerank` (Cohere's shape, as LiteLLM serves it).
    Rerank,
    /// `/v1/responses`, passed through to the providers that serve it (OpenAI, Azure); every
    /// other deployment gets its chat translation instead (`inbound/responses.rs`).
    Responses,
}

impl Endpoint {
    /// The path under an OpenAI `api_base`.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "/chat/completions",
            Endpoint::Completions => "/completions",
            Endpoint::Embeddings => "/embeddings",
            Endpoint::Moderations => "/moderations",
            Endpoint::ImageGenerations => "/images/generations",
            Endpoint::Transcriptions => "/audio/transcriptions",
            Endpoint::Translations => "/audio/translations",
            Endpoint::Speech => "/audio/speech",
            Endpoint::Rerank => "/rerank",
            Endpoint::Responses => "/responses",
        }
    }

    /// Audio uploads come as `multipart/form-data`, everything else as JSON.
    pub fn takes_form(self) -> bool {
        matches!(self, Endpoint::Transcriptions | Endpoint::Translations)
    }
}
