//! Prices and token usage: what a call cost, from `model_info` prices or a built-in table.

use crate::config::Deployment;
use serde::Deserialize;

/// Built-in prices in USD per token and context windows, for deployments whose `model_info`
/// gives none. Public list prices of each provider (standard tier, text), as published in 2025
/// and carried in LiteLLM's price map; checked 2026-11. `model_info` always wins.
/// (name, input per token, output per token, context window in tokens)
pub const MODEL_TABLE: &[(&str, f64, f64, u64)] = &[
    ("gpt-4o", 2.5e-6, 10e-6, 128_000),
    ("gpt-4o-mini", 0.15e-6, 0.6e-6, 128_000),
    ("gpt-4.1", 2e-6, 8e-6, 1_047_576),
    ("gpt-4.1-mini", 0.4e-6, 1.6e-6, 1_047_576),
    ("gpt-4.1-nano", 0.1e-6, 0.4e-6, 1_047_576),
    ("gpt-4-turbo", 10e-6, 30e-6, 128_000),
    ("gpt-4", 30e-6, 60e-6, 8_192),
    ("gpt-3.5-turbo", 0.5e-6, 1.5e-6, 16_385),
    ("o1", 15e-6, 60e-6, 200_000),
    ("o3", 2e-6, 8e-6, 200_000),
    ("o3-mini", 1.1e-6, 4.4e-6, 200_000),
    ("o4-mini", 1.1e-6, 4.4e-6, 200_000),
    ("claude-3-haiku", 0.25e-6, 1.25e-6, 200_000),
    ("claude-3-5-haiku", 0.8e-6, 4e-6, 200_000),
    ("claude-3-5-sonnet", 3e-6, 15e-6, 200_000),
    ("claude-3-7-sonnet", 3e-6, 15e-6, 200_000),
    ("claude-sonnet-4", 3e-6, 15e-6, 200_000),
    ("claude-3-opus", 15e-6, 75e-6, 200_000),
    ("claude-opus-4", 15e-6, 75e-6, 200_000),
    ("gemini-1.5-flash", 0.075e-6, 0.3e-6, 1_048_576),
    ("gemini-1.5-pro", 1.25e-6, 5e-6, 2_097_152),
    ("gemini-2.0-flash", 0.1e-6, 0.4e-6, 1_048_576),
    ("gemini-2.5-flash", 0.3e-6, 2.5e-6, 1_048_576),
    ("gemini-2.5-pro", 1.25e-6, 10e-6, 1_048_576),
    ("llama-3.1-8b-instant", 0.05e-6, 0.08e-6, 131_072),
    ("llama-3.3-70b-versatile", 0.59e-6, 0.79e-6, 131_072),
    ("mistral-large-latest", 2e-6, 6e-6, 128_000),
    ("mistral-small-latest", 0.2e-6, 0.6e-6, 32_000),
    ("deepseek-chat", 0.27e-6, 1.1e-6, 65_536),
];

/// Built-in prices for images (per image, standard quality, 1024x1024), speech (per input
/// character) and transcription (per second of audio): OpenAI's list prices, checked 2026-11.
const IMAGE_PRICES: &[(&str, f64)] = &[
    ("dall-e-3", 0.04),
    ("dall-e-2", 0.02),
    ("gpt-image-1", 0.042),
];
const CHARACTER_PRICES: &[(&str, f64)] = &[("tts-1-hd", 30e-6), ("tts-1", 15e-6)];
const SECOND_PRICES: &[(&str, f64)] = &[("whisper-1", 0.0001)];

fn table_price(table: &[(&str, f64)], model: &str) -> Option<f64> {
    let name = model.rsplit('/').next().unwrap_or(model);
    table
        .iter()
        .filter(|(n, _)| {
            name == *n || (name.starts_with(n) && name.as_bytes().get(n.len()) == Some(&b'-'))
        })
        .max_by_key(|(n, _)| n.len())
        .map(|(_, p)| *p)
}

/// What a non-token answer cost: images by count, speech by input characters, transcriptions
/// by seconds of audio (known when the response reports its `duration`).
pub fn media_cost(
    d: &Deployment,
    endpoint: crate::request::Endpoint,
    request: &serde_json::Map<String, serde_json::Value>,
    response: &[u8],
) -> Option<f64> {
    use crate::request::Endpoint;
    let model = d.info.base_model.as_deref().unwrap_or(&d.model);
    match endpoint {
        Endpoint::ImageGenerations => {
            let price = d
                .info
                .output_cost_per_image
                .or_else(|| table_price(IMAGE_PRICES, model))?;
            let v: serde_json::Value = serde_json::from_slice(response).ok()?;
            Some(v.get("data")?.as_array()?.len() as f64 * price)
        }
        Endpoint::Speech => {
            let price = d
                .info
                .input_cost_per_character
                .or_else(|| table_price(CHARACTER_PRICES, model))?;
            Some(request.get("input")?.as_str()?.chars().count() as f64 * price)
        }
        Endpoint::Transcriptions | Endpoint::Translations => {
            let price = d
                .info
                .input_cost_per_second
                .or_else(|| table_price(SECOND_PRICES, model))?;
            let v: serde_json::Value = serde_json::from_slice(response).ok()?;
            Some(v.get("duration")?.as_f64()? * price)
        }
        _ => None,
    }
}

/// The table row for a model name: an exact name, or a dated variant (`gpt-4o-2024-08-06`).
pub fn lookup(model: &str) -> Option<(f64, f64, u64)> {
    let name = model.rsplit('/').next().unwrap_or(model);
    MODEL_TABLE
        .iter()
        .filter(|(n, ..)| {
            name == *n || (name.starts_with(n) && name.as_bytes().get(n.len()) == Some(&b'-'))
        })
        .max_by_key(|(n, ..)| n.len())
        .map(|(_, i, o, w)| (*i, *o, *w))
}

/// (input, output) USD per token for a deployment, if known.
pub fn prices(d: &Deployment) -> Option<(f64, f64)> {
    let base = d.info.base_model.as_deref().unwrap_or(&d.model);
    let table = lookup(base);
    let input = d.info.input_cost_per_token.or(table.map(|t| t.0))?;
    let output = d
        .info
        .output_cost_per_token
        .or(table.map(|t| t.1))
        .unwrap_or(input);
    Some((input, output))
}

/// The deployment's context window, for the pre-call check.
pub fn context_window(d: &Deployment) -> Option<u64> {
    d.info
        .max_input_tokens
        .or(d.info.max_tokens)
        .or_else(|| lookup(d.info.base_model.as_deref().unwrap_or(&d.model)).map(|t| t.2))
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(from = "UsageFields")]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// A `usage` as written: chat's names, or the Responses API's (`input_tokens`,
/// `output_tokens`). Some servers write both; chat's win.
#[derive(Deserialize)]
struct UsageFields {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

impl From<UsageFields> for Usage {
    fn from(u: UsageFields) -> Self {
        Usage {
            prompt_tokens: u.prompt_tokens.or(u.input_tokens).unwrap_or(0),
            completion_tokens: u.completion_tokens.or(u.output_tokens).unwrap_or(0),
        }
    }
}

impl Usage {
    pub fn cost(&self, d: &Deployment) -> f64 {
        self.priced(prices(d))
    }

    /// The cost at (input, output) prices per token; 0 when the price is unknown.
    pub fn priced(&self, prices: Option<(f64, f64)>) -> f64 {
        prices
            .map(|(i, o)| self.prompt_tokens as f64 * i + self.completion_tokens as f64 * o)
            .unwrap_or(0.0)
    }
}

#[derive(Deserialize)]
struct WithUsage {
    #[serde(default)]
    usage: Option<Usage>,
}

/// The `usage` of an OpenAI response or stream chunk, if it carries one.
pub fn usage_of(json: &[u8]) -> Option<Usage> {
    serde_json::from_slice::<WithUsage>(json).ok()?.usage
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn deployment(model: &str, info: &str) -> Deployment {
        let text = format!(
            r#"{{"model_list":[{{"model_name":"g","litellm_params":{{"model":"{model}"}},"model_info":{{{info}}}}}]}}"#
        );
        Config::from_text(&text, &|_: &str| None)
            .unwrap()
            .deployments
            .remove(0)
    }

    #[test]
    fn usage_reads_chat_and_responses_names() {
        let u = |j: &str| usage_of(j.as_bytes()).unwrap();
        let both = r#"{"usage":{"prompt_tokens":5,"completion_tokens":7,"input_tokens":50,"output_tokens":70}}"#;
        assert_eq!((u(both).prompt_tokens, u(both).completion_tokens), (5, 7));
        let responses = r#"{"usage":{"input_tokens":50,"output_tokens":70,"total_tokens":120}}"#;
        assert_eq!(
            (u(responses).prompt_tokens, u(responses).completion_tokens),
            (50, 70)
        );
    }

    #[test]
    fn table_lookup_prefers_the_longest_name_and_dated_variants() {
        assert_eq!(lookup("gpt-4o-mini-2024-07-18").unwrap().0, 0.15e-6);
        assert_eq!(lookup("gpt-4o").unwrap().0, 2.5e-6);
        assert_eq!(lookup("gpt-4").unwrap().0, 30e-6);
        assert!(lookup("gpt-4.5-preview").is_none(), "not priced as gpt-4");
        assert!(lookup("my-local-model").is_none());
    }

    #[test]
    fn model_info_prices_win() {
        let d = deployment(
            "openai/gpt-4o",
            r#""input_cost_per_token":1.0,"output_cost_per_token":2.0"#,
        );
        let u = Usage {
            prompt_tokens: 3,
            completion_tokens: 4,
        };
        assert_eq!(u.cost(&d), 11.0);
        let d = deployment("openai/gpt-4o", "");
        assert!((u.cost(&d) - (3.0 * 2.5e-6 + 4.0 * 10e-6)).abs() < 1e-12);
        let d = deployment("openai/unknown-model", "");
        assert_eq!(u.cost(&d), 0.0);
    }

    #[test]
    fn context_window_from_info_or_table() {
        assert_eq!(context_window(&deployment("openai/gpt-4", "")), Some(8_192));
        assert_eq!(
            context_window(&deployment("openai/gpt-4", r#""max_input_tokens":100"#)),
            Some(100)
        );
        assert_eq!(
            context_window(&deployment("openai/x", r#""max_tokens":50"#)),
            Some(50)
        );
        assert_eq!(context_window(&deployment("openai/x", "")), None);
    }

    #[test]
    fn media_prices() {
        use crate::request::Endpoint;
        let d = deployment("openai/dall-e-3", "");
        let body = serde_json::Map::new();
        assert_eq!(
            media_cost(
                &d,
                Endpoint::ImageGenerations,
                &body,
                br#"{"data":[{"url":"a"},{"url":"b"}]}"#
            ),
            Some(0.08)
        );
        let tts = deployment("openai/tts-1", "");
        let mut req = serde_json::Map::new();
        req.insert("input".into(), serde_json::json!("hello"));
        assert_eq!(
            media_cost(&tts, Endpoint::Speech, &req, b""),
            Some(5.0 * 15e-6)
        );
        let hd = deployment("openai/tts-1-hd", "");
        assert_eq!(
            media_cost(&hd, Endpoint::Speech, &req, b""),
            Some(5.0 * 30e-6)
        );
        let w = deployment("openai/whisper-1", r#""input_cost_per_second":0.01"#);
        assert_eq!(
            media_cost(
                &w,
                Endpoint::Transcriptions,
                &body,
                br#"{"text":"x","duration":12.5}"#
            ),
            Some(0.125)
        );
        assert_eq!(
            media_cost(&w, Endpoint::Transcriptions, &body, br#"{"text":"x"}"#),
            None,
            "no duration reported"
        );
    }

    #[test]
    fn usage_parsing() {
        let u = usage_of(
            br#"{"id":"x","usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#,
        )
        .unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (5, 7));
        assert_eq!(usage_of(br#"{"id":"x","usage":null}"#), None);
        assert_eq!(usage_of(br#"{"id":"x"}"#), None);
        assert_eq!(usage_of(b"not json"), None);
    }
}
