//! Gemini on Vertex AI: the same `generateContent` body and answers as Google AI Studio's API
//! (`gemini.rs` translates both ways), addressed per project and region
//! (`{host}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent`)
//! and authorized with an OAuth access token, which the router adds (`router/access_token.rs`)
//! because getting one is a call of its own.

use super::gemini::{error_body, response, GeminiStream};
use crate::config::Deployment;
use crate::error::Error;
use crate::relay::StreamTranslator;
use crate::request::ModelRequest;

/// The URL of the call: Google's regional host with the model's path, or, where `api_base` was
/// written (a proxy such as Cloudflare AI Gateway), that URL with the method, as LiteLLM does.
pub fn url(d: &Deployment, stream: bool) -> Result<String, Error> {
    let Some(v) = &d.vertex else {
        return Err(Error::Internal {
            message: format!("deployment {} has no Vertex AI settings", d.id),
        });
    };
    let method = if stream {
        "streamGenerateContent?alt=sse"
    } else {
        "generateContent"
    };
    let base = d.api_base.trim_end_matches('/');
    Ok(if v.custom_base {
        format!("{base}:{method}")
    } else {
        format!(
            "{base}/v1/projects/{}/locations/{}/publishers/google/models/{}:{method}",
            v.project, v.location, d.model
        )
    })
}

pub struct Vertex;

impl super::Adapter for Vertex {
    fn request(
        &self,
        d: &Deployment,
        req: &ModelRequest,
        _now_ms: f64,
        _headers: &mut Vec<(&'static str, String)>,
    ) -> Result<(String, Vec<u8>), Error> {
        Ok((url(d, req.stream)?, super::gemini::request_body(d, req)?))
    }

    fn error_class(&self, status: u16, body: &[u8]) -> crate::error::ErrorClass {
        super::gemini::error_class(status, body)
    }

    fn takes(&self) -> Option<&'static [&'static str]> {
        Some(super::gemini::TAKES)
    }

    translated_answers!(GeminiStream);
}
