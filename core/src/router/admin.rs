//! LiteLLM's `Router` management and reporting API: add/update/delete deployments, the model list,
//! health checks, prices, usage statistics and metrics.

use super::usage::{DeploymentUsage, UsageStats};
use super::{Origin, Overlay, Router};
use crate::config::{Config, Deployment};
use crate::cost;
use crate::error::Error;
use crate::ports::UpstreamBody;
use crate::ports::{SaveOutcome, SavedOverlay};
use futures::StreamExt;
use serde_json::{json, Map, Value};
use std::rc::Rc;

/// Keys whose values are secrets wherever they appear in a deployment.
const SECRET_KEYS: &[&str] = &[
    "api_key",
    "azure_ad_token",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_access_key_id",
    "vertex_credentials",
    "vertex_ai_credentials",
    "private_key",
    "refresh_token",
    "client_secret",
    "password",
];

/// At most this many health probes run at once (a Worker may hold six outgoing connections
/// per request).
const HEALTH_CONCURRENCY: usize = 6;

fn not_found(id: &str) -> Error {
    Error::InvalidRequest {
        message: format!("No deployment with id `{id}`."),
        param: Some("id".into()),
        code: Some("deployment_not_found"),
    }
}

impl Router {
    /// Loads every group's shared state this isolate has not heard from yet, so a report
    /// (usage, metrics, health) from a fresh isolate shows what other isolates and earlier
    /// runs recorded, not an empty table.
    pub async fn load_all_state(&self) {
        let config = self.config();
        for group in &config.group_order {
            if let Some(load) = self.state.prepare(group) {
                load.await;
            }
        }
    }

    /// The config for the model list `list` (the config's other settings as written), after
    /// the same checks as a file.
    fn config_for(&self, list: Vec<Value>) -> Result<Config, Error> {
        let mut source = self.base_source.clone();
        if !source.is_object() {
            source = json!({});
        }
        if let Some(m) = source.as_object_mut() {
            m.insert("model_list".into(), Value::Array(list));
        }
        let config = Config::from_value(source, &*self.secrets)?;
        // A file may carry a bad deployment (left out, the others serve); a runtime change
        // that would be left out is refused instead.
        match config.left_out.first() {
            Some(bad) => Err(crate::config::config_error(bad.reason.clone())),
            None => Ok(config),
        }
    }

    fn install(&self, next: Config) {
        self.state.set_deployments(super::deployment_groups(&next));
        *self.config.borrow_mut() = Rc::new(next);
    }

    /// The model list in force, as written, each entry with its id.
    fn list_in_force(&self) -> Vec<Value> {
        self.saved.borrow().overlay.apply(&self.base)
    }

    /// Applies `edit` to the overlay: checked like the config file, then saved (when a store
    /// is bound), and only then put in force. A change that fails its checks or its save
    /// changes nothing, here or elsewhere.
    async fn change_overlay(
        &self,
        edit: impl FnOnce(&mut Overlay) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let current = self.saved.borrow().clone();
        let mut next = current.overlay.clone();
        edit(&mut next)?;
        let config = self.config_for(next.apply(&self.base))?;
        let version = match &self.deployment_store {
            None => current.version + 1,
            Some(store) => match store.save(current.version, &next).await? {
                SaveOutcome::Saved(s) => s.version,
                SaveOutcome::Conflict(newer) => {
                    let _ = self.take_saved(newer);
                    return Err(Error::Conflict {
                        message: "The deployments were changed elsewhere at the same time; this change was not saved. Retry it.".into(),
                    });
                }
            },
        };
        self.install(config);
        *self.saved.borrow_mut() = SavedOverlay {
            version,
            overlay: next,
        };
        Ok(())
    }

    /// Takes runtime changes saved elsewhere (another isolate, an earlier run), if newer than
    /// those in force. Saved changes that no longer pass the config's checks (the config
    /// changed under them) are refused whole, and the config's own list stays in force.
    pub fn take_saved(&self, saved: SavedOverlay) -> Result<bool, Error> {
        if saved.version <= self.saved.borrow().version {
            return Ok(false);
        }
        let result = self
            .config_for(saved.overlay.apply(&self.base))
            .map(|c| self.install(c));
        // The version is taken either way, so a bad overlay is not retried on every check.
        let version = saved.version;
        match result {
            Ok(()) => *self.saved.borrow_mut() = saved,
            Err(_) => self.saved.borrow_mut().version = version,
        }
        result.map(|_| true)
    }

    /// `add_deployment`: one more deployment, checked like the config file, saved, then in
    /// force. Returns its id.
    pub async fn add_deployment(&self, deployment: Value) -> Result<String, Error> {
        if !deployment.is_object() {
            return Err(Error::invalid(
                "A deployment must be an object with model_name and litellm_params.",
                None,
            ));
        }
        // Its id is what the config would give it in that place.
        let mut list = self.list_in_force();
        list.push(deployment.clone());
        let index = list.len() - 1;
        let id = self.config_for(list)?.deployments[index].id.clone();
        let mut entry = deployment;
        set_id(&mut entry, &id);
        self.change_overlay(|o| {
            o.upsert(&id, entry);
            Ok(())
        })
        .await?;
        Ok(id)
    }

    /// `update_deployment`: merges `changes` into the deployment with this id. Keys
    /// `model_name`, `litellm_params` and `model_info` merge at their level; any other key is a
    /// `litellm_params` key (LiteLLM's `Router.update_deployment(id, api_key=...)`). The id stays.
    pub async fn update_deployment(&self, id: &str, changes: Value) -> Result<(), Error> {
        let Value::Object(changes) = changes else {
            return Err(Error::invalid("The changes must be an object.", None));
        };
        let index = self.index_of(id)?;
        let mut entry = self
            .list_in_force()
            .get(index)
            .cloned()
            .filter(Value::is_object)
            .ok_or_else(|| not_found(id))?;
        if let Value::Object(entry) = &mut entry {
            for (k, v) in changes {
                match (k.as_str(), v) {
                    ("model_name", v) => {
                        entry.insert(k, v);
                    }
                    ("litellm_params" | "model_info", Value::Object(m)) => {
                        let slot = entry.entry(k).or_insert_with(|| json!({}));
                        if let Value::Object(target) = slot {
                            target.extend(m);
                        }
                    }
                    (_, v) => {
                        let slot = entry.entry("litellm_params").or_insert_with(|| json!({}));
                        if let Value::Object(target) = slot {
                            target.insert(k, v);
                        }
                    }
                }
            }
        }
        set_id(&mut entry, id);
        self.change_overlay(|o| {
            o.upsert(id, entry);
            Ok(())
        })
        .await
    }

    /// `delete_deployment`.
    pub async fn delete_deployment(&self, id: &str) -> Result<(), Error> {
        self.index_of(id)?;
        let in_base = self.base.iter().any(|(b, _)| b == id);
        self.change_overlay(|o| {
            o.delete(id, in_base);
            Ok(())
        })
        .await
    }

    /// `set_model_list`: replaces every deployment (as an overlay over the config's list).
    pub async fn set_model_list(&self, model_list: Vec<Value>) -> Result<(), Error> {
        let parsed = self.config_for(model_list.clone())?;
        let list: Vec<(String, Value)> = model_list
            .into_iter()
            .zip(&parsed.deployments)
            .map(|(mut e, d)| {
                set_id(&mut e, &d.id);
                (d.id.clone(), e)
            })
            .collect();
        let next = Overlay::between(&self.base, &list);
        self.change_overlay(|o| {
            *o = next;
            Ok(())
        })
        .await
    }

    /// Drops every runtime change: the config's own list is in force again, everywhere.
    pub async fn reset_deployments(&self) -> Result<(), Error> {
        self.change_overlay(|o| {
            *o = Overlay::default();
            Ok(())
        })
        .await
    }

    /// Where the deployment `id` comes from: the config, the config changed at runtime, or a
    /// runtime addition.
    pub fn origin(&self, id: &str) -> Origin {
        let in_base = self.base.iter().any(|(b, _)| b == id);
        self.saved.borrow().overlay.origin(id, in_base)
    }

    fn index_of(&self, id: &str) -> Result<usize, Error> {
        self.config()
            .deployments
            .iter()
            .position(|d| d.id == id)
            .ok_or_else(|| not_found(id))
    }

    /// `get_deployments`: every deployment as configured, secrets masked, with its id.
    pub fn get_deployments(&self) -> Vec<Value> {
        let config = self.config();
        let source = config.source.get("model_list").and_then(Value::as_array);
        config
            .deployments
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut entry = source
                    .and_then(|l| l.get(i))
                    .cloned()
                    .unwrap_or_else(|| json!({"model_name": d.group}));
                mask_secrets(&mut entry);
                set_id(&mut entry, &d.id);
                if let Value::Object(m) = &mut entry {
                    m.insert("origin".into(), json!(self.origin(&d.id).label()));
                }
                entry
            })
            .collect()
    }

    /// `get_model_cost_map`: the price and context window used for each deployment.
    pub fn get_model_cost_map(&self) -> Value {
        let config = self.config();
        let mut out = Map::new();
        for d in &config.deployments {
            let from_info = d.info.input_cost_per_token.is_some();
            let prices = cost::prices(d);
            out.insert(
                d.id.clone(),
                json!({
                    "model_name": d.group,
                    "model": d.model,
                    "input_cost_per_token": prices.map(|p| p.0),
                    "output_cost_per_token": prices.map(|p| p.1),
                    "max_input_tokens": cost::context_window(d),
                    "source": if from_info { "model_info" } else if prices.is_some() { "builtin" } else { "unknown" },
                }),
            );
        }
        Value::Object(out)
    }

    /// `get_usage_stats`: per deployment and in total, since the state began (or was reset),
    /// as JSON (what `/usage` answers).
    pub fn get_usage_stats(&self) -> Value {
        serde_json::to_value(self.usage_stats()).unwrap_or_else(|_| json!({}))
    }

    /// The same, typed (for the metrics renderers).
    pub fn usage_stats(&self) -> UsageStats {
        let config = self.config();
        let now = self.clock.now_ms();
        let totals = self.state.totals();
        let mut stats = UsageStats::default();
        for d in &config.deployments {
            let t = totals
                .iter()
                .find(|(id, _)| *id == d.id)
                .map(|(_, t)| t.clone())
                .unwrap_or_default();
            let snap = self.state.snapshot(&d.id, now);
            stats.total_requests += t.requests;
            stats.total_failures += t.failures;
            stats.total_tokens += t.prompt_tokens + t.completion_tokens;
            stats.total_cost += t.cost;
            stats.deployments.push(DeploymentUsage {
                id: d.id.clone(),
                model_name: d.group.clone(),
                model: d.model.clone(),
                requests: t.requests,
                successes: t.successes,
                failures: t.failures,
                failures_by_class: t
                    .failures_by_class
                    .iter()
                    .map(|(c, n)| (c.label().to_string(), *n))
                    .collect(),
                prompt_tokens: t.prompt_tokens,
                completion_tokens: t.completion_tokens,
                cost: t.cost,
                cooldowns: t.cooldowns,
                in_flight: snap.in_flight,
                cooldown_remaining_s: (snap.cooldown_until_ms - now).max(0.0) / 1000.0,
                rpm_used: snap.requests_this_minute,
                tpm_used: snap.tokens_this_minute,
                rpm_limit: d.rpm,
                tpm_limit: d.tpm,
                latency_ms: snap.latency_ms,
                latency_p50_ms: snap.latency_p50_ms,
                latency_p95_ms: snap.latency_p95_ms,
                duration_buckets_ms: crate::state::DURATION_BUCKETS_MS,
                duration_counts: t.duration_buckets,
                duration_sum_ms: t.duration_sum_ms,
            });
        }
        stats.groups = self.tallies().into_iter().collect();
        stats
    }

    /// `reset_cost`.
    pub fn reset_cost(&self) {
        self.state.reset_cost();
    }

    /// `print_deployment_metrics`: the same figures as one line per deployment, for the log.
    pub fn print_deployment_metrics(&self) -> String {
        let mut out = String::from("deployment metrics:");
        for d in self.usage_stats().deployments {
            let rate = if d.requests > 0 {
                100.0 * d.requests.saturating_sub(d.failures) as f64 / d.requests as f64
            } else {
                100.0
            };
            out.push_str(&format!(
                "\n  {} [{}] requests={} success={:.1}% failures={} latency_ms={} tokens={} cost=${:.6} in_flight={} cooldown_s={:.1}",
                d.id,
                d.model_name,
                d.requests,
                rate,
                serde_json::to_string(&d.failures_by_class).unwrap_or_default(),
                d.latency_ms.map_or("-".to_string(), |l| format!("{l:.1}")),
                d.prompt_tokens + d.completion_tokens,
                d.cost,
                d.in_flight,
                d.cooldown_remaining_s,
            ));
        }
        out
    }

    /// `health_check` / `ahealth_check`: a one-token chat call to each deployment (of `model`,
    /// or all), at most six at a time, each bounded in time. Probes bypass routing, retries and
    /// state, so a check never cools anything down.
    pub async fn health_check(&self, model: Option<&str>) -> Result<Value, Error> {
        let config = self.config();
        let targets: Vec<Deployment> = match model {
            Some(m) => config
                .deployments_for(m)
                .ok_or_else(|| Error::ModelNotFound {
                    model: m.to_string(),
                })?
                .0
                .into_iter()
                .cloned()
                .collect(),
            None => config.deployments.clone(),
        };
        let probes = targets.into_iter().map(|d| async move {
            let result = self.probe(&d).await;
            (d, result)
        });
        let results: Vec<(Deployment, Result<(), Error>)> = futures::stream::iter(probes)
            .buffer_unordered(HEALTH_CONCURRENCY)
            .collect()
            .await;
        let mut healthy = Vec::new();
        let mut unhealthy = Vec::new();
        for (d, r) in results {
            let mut entry = json!({"model": d.model, "model_name": d.group, "model_id": d.id, "api_base": crate::redact::public_base(&d.api_base)});
            match r {
                Ok(()) => healthy.push(entry),
                Err(e) => {
                    entry["error"] = json!(e.message());
                    entry["status"] = json!(e.status());
                    unhealthy.push(entry);
                }
            }
        }
        Ok(json!({
            "healthy_count": healthy.len(),
            "unhealthy_count": unhealthy.len(),
            "healthy_endpoints": healthy,
            "unhealthy_endpoints": unhealthy,
        }))
    }

    async fn probe(&self, d: &Deployment) -> Result<(), Error> {
        let req = probe_request(d)?;
        let mut req = crate::adapter::build(d, &req, self.clock.now_ms())?;
        let within = d
            .info
            .health_check_timeout_ms
            .unwrap_or(self.config().general.health_check_timeout_ms);
        let within = d.timeout_ms.min(within);
        self.calls.authorize(d, &mut req, within).await?;
        let resp = self.calls.send_within(req, within).await?;
        if (200..300).contains(&resp.status) {
            return Ok(());
        }
        let body = match resp.body {
            UpstreamBody::Full(b) => crate::redact::scrub(&b, &d.secrets()),
            UpstreamBody::Stream(_) => Vec::new(),
        };
        Err(crate::adapter::upstream_error(d, resp.status, body, None))
    }
}

/// What a deployment is checked with: a call of its own kind (`model_info.mode`, else the
/// first endpoint its provider serves), as small as that kind allows.
fn probe_request(d: &Deployment) -> Result<crate::request::ModelRequest, Error> {
    use crate::request::{Endpoint, ModelRequest};
    let endpoint = match d.info.mode.as_deref() {
        Some("completion") => Endpoint::Completions,
        Some("embedding") => Endpoint::Embeddings,
        Some("image_generation") => Endpoint::ImageGenerations,
        Some("audio_speech") => Endpoint::Speech,
        Some("audio_transcription") => Endpoint::Transcriptions,
        Some("rerank") => Endpoint::Rerank,
        Some("moderation") => Endpoint::Moderations,
        Some(_) => Endpoint::Chat,
        None if d.provider.serves(Endpoint::Chat) => Endpoint::Chat,
        None => d
            .provider
            .endpoints
            .first()
            .copied()
            .unwrap_or(Endpoint::Chat),
    };
    let m = &d.group;
    let body = match endpoint {
        Endpoint::Transcriptions | Endpoint::Translations => {
            let boundary = "switchyard-health";
            return ModelRequest::parse_upload(
                endpoint,
                &format!("multipart/form-data; boundary={boundary}"),
                silent_wav_form(boundary, m),
            );
        }
        Endpoint::Chat => {
            json!({"model": m, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1})
        }
        Endpoint::Completions => json!({"model": m, "prompt": "ping", "max_tokens": 1}),
        Endpoint::Embeddings | Endpoint::Moderations => json!({"model": m, "input": "ping"}),
        Endpoint::ImageGenerations => json!({"model": m, "prompt": "health check", "n": 1}),
        Endpoint::Speech => json!({"model": m, "input": "ping", "voice": "alloy"}),
        Endpoint::Rerank => json!({"model": m, "query": "ping", "documents": ["ping"]}),
        Endpoint::Responses => json!({"model": m, "input": "ping", "max_output_tokens": 16}),
    };
    ModelRequest::parse_for(endpoint, body.to_string().as_bytes())
}

/// A multipart form with `model` and a tenth of a second of silence as a WAV `file`.
fn silent_wav_form(boundary: &str, model: &str) -> Vec<u8> {
    let samples = 1_600u32; // 16 kHz, 16-bit mono
    let data_len = samples * 2;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&16_000u32.to_le_bytes());
    wav.extend_from_slice(&32_000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    wav.resize(44 + data_len as usize, 0);
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n{model}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"health.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&wav);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    form
}

/// Makes `model_info.id` of a `model_list` entry say `id`.
pub(super) fn set_id(entry: &mut Value, id: &str) {
    if let Value::Object(m) = entry {
        let info = m.entry("model_info").or_insert_with(|| json!({}));
        if let Value::Object(info) = info {
            info.insert("id".into(), Value::String(id.to_string()));
        }
    }
}

/// Replaces secret values with a mask that keeps only their last four characters.
/// `os.environ/NAME` references are names, not secrets, and stay.
fn mask_secrets(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if k == "api_base" {
                    if let Value::String(s) = val {
                        *s = crate::redact::public_base(s);
                    }
                } else if SECRET_KEYS.contains(&k.as_str()) {
                    match val {
                        Value::String(s) => {
                            if !s.starts_with(crate::config::SECRET_PREFIX) {
                                let tail = crate::keys::tail(s, 4);
                                *s = if s.chars().count() > 8 {
                                    format!("****{tail}")
                                } else {
                                    "****".to_string()
                                };
                            }
                        }
                        Value::Null => {}
                        // Credentials written inline (a service account's JSON): none of it shows.
                        other => *other = Value::String("****".to_string()),
                    }
                } else {
                    mask_secrets(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}
