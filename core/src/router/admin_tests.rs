//! LiteLLM's `Router` management API: deployments added, changed and removed at runtime, with the same
//! checks as the config file and secrets never shown.

use super::*;
use crate::testing::{Fixture, ManualClock, Reply, ScriptedUpstream};
use futures::executor::block_on;
use serde_json::{json, Value};

const OK: &str = r#"{"id":"ok","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#;

/// Runs an admin operation to its end (they are async: they save through a port).
trait Now: std::future::Future + Sized {
    fn now(self) -> Self::Output {
        block_on(self)
    }
}
impl<F: std::future::Future> Now for F {}

fn router(up: &Rc<ScriptedUpstream>) -> Router {
    router_with(up, None)
}

fn router_with(
    up: &Rc<ScriptedUpstream>,
    store: Option<Rc<dyn crate::ports::DeploymentStore>>,
) -> Router {
    let mut f = Fixture::default()
        .upstream(up)
        .secret("B_KEY", "sk-from-env-bbbb5678");
    if let Some(store) = store {
        f = f.deployment_store(store);
    }
    f.router(
        r#"{"model_list":[
            {"model_name":"g","litellm_params":{"model":"openai/gpt-4o","api_base":"http://a.test/v1","api_key":"sk-secret-aaaa1234"},"model_info":{"id":"a"}},
            {"model_name":"g","litellm_params":{"model":"openai/gpt-4o-mini","api_base":"http://b.test/v1","api_key":"os.environ/B_KEY"},"model_info":{"id":"b"}}]}"#,
    )
}

fn chat(r: &Router, model: &str) -> Result<Routed, Error> {
    let req = ModelRequest::parse(
        json!({"model": model, "messages":[{"role":"user","content":"x"}]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    block_on(r.completion(&req))
}

#[test]
fn get_deployments_masks_secrets_and_shows_ids() {
    let up = Rc::new(ScriptedUpstream::default());
    let r = router(&up);
    let list = r.get_deployments();
    let text = serde_json::to_string(&list).unwrap();
    assert!(!text.contains("sk-secret-aaaa1234"), "{text}");
    assert!(!text.contains("sk-from-env"), "{text}");
    assert!(text.contains("****1234"));
    assert!(
        text.contains("os.environ/B_KEY"),
        "references are names, not secrets"
    );
    assert_eq!(list[0]["model_info"]["id"], "a");
    assert_eq!(list.len(), 2);
}

#[test]
fn credentials_written_inline_never_show() {
    let sa: Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/google-service-account.json"
    ))
    .unwrap();
    let r = Fixture::default().router(
        &json!({"model_list": [
            {"model_name": "v", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash", "vertex_ai_credentials": sa}},
            {"model_name": "u", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash", "vertex_project": "p",
                "vertex_credentials": {"type": "authorized_user", "client_id": "c", "client_secret": "cs-very-secret", "refresh_token": "1//refresh-very-secret"}}}
        ]})
        .to_string(),
    );
    let text = serde_json::to_string(&r.get_deployments()).unwrap();
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    assert!(!text.contains("very-secret"), "{text}");
    assert!(text.contains(r#""vertex_ai_credentials":"****""#), "{text}");
}

#[test]
fn add_update_delete_take_effect_for_later_requests() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push("http://c.test/v1/chat/completions", Reply::json(200, OK));
    up.push("http://c2.test/v1/chat/completions", Reply::json(200, OK));
    let r = router(&up);
    let id = r
        .add_deployment(json!({"model_name":"new","litellm_params":{"model":"openai/x","api_base":"http://c.test/v1"}})).now()
        .unwrap();
    assert_eq!(chat(&r, "new").unwrap().deployment_id, id);
    r.update_deployment(&id, json!({"api_base":"http://c2.test/v1"}))
        .now()
        .unwrap();
    assert_eq!(
        chat(&r, "new").unwrap().deployment_id,
        id,
        "the id survives an update"
    );
    assert_eq!(up.calls_to("http://c2.test/v1/chat/completions"), 1);
    assert_eq!(r.overlay().version, 2);
    assert!(r
        .get_deployments()
        .iter()
        .any(
            |d| d["litellm_params"]["api_base"] == "http://c2.test/v1" && d["origin"] == "runtime"
        ));
    r.delete_deployment(&id).now().unwrap();
    assert!(matches!(
        chat(&r, "new").err().unwrap(),
        Error::ModelNotFound { .. }
    ));
    assert!(r.delete_deployment(&id).now().is_err());
    assert!(r.update_deployment("nope", json!({})).now().is_err());
}

#[test]
fn runtime_changes_get_the_config_checks() {
    let up = Rc::new(ScriptedUpstream::default());
    let r = router(&up);
    let e = r
        .add_deployment(json!({"model_name":"bad","litellm_params":{"model":"nope/x"}}))
        .now()
        .unwrap_err();
    assert!(
        e.message().contains("model_list[2].litellm_params.model"),
        "{}",
        e.message()
    );
    let e = r.add_deployment(json!({"model_name":"x","litellm_params":{"model":"openai/x","api_key":"os.environ/MISSING"}})).now().unwrap_err();
    assert!(e.message().contains("MISSING"));
    assert_eq!(
        r.get_deployments().len(),
        2,
        "a rejected change changes nothing"
    );
    let e = r
        .update_deployment("a", json!({"timeout": -3}))
        .now()
        .unwrap_err();
    assert!(e.message().contains("timeout"));
}

#[test]
fn set_model_list_replaces_everything() {
    let up = Rc::new(ScriptedUpstream::default());
    let r = router(&up);
    r.set_model_list(vec![json!({"model_name":"only","litellm_params":{"model":"openai/x","api_base":"http://o.test/v1"}})]).now()
        .unwrap();
    let groups: Vec<String> = r.config().group_order.clone();
    assert_eq!(groups, vec!["only".to_string()]);
}

#[test]
fn cost_map_usage_stats_and_metrics() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push("http://a.test/v1/chat/completions", Reply::json(200, OK));
    up.push("http://b.test/v1/chat/completions", Reply::json(200, OK));
    let r = router(&up);
    let map = r.get_model_cost_map();
    assert_eq!(map["a"]["input_cost_per_token"], json!(2.5e-6));
    assert_eq!(map["a"]["source"], "builtin");
    assert_eq!(map["b"]["max_input_tokens"], json!(128_000));
    for _ in 0..4 {
        chat(&r, "g").unwrap();
    }
    let stats = r.get_usage_stats();
    assert_eq!(stats["total_requests"], 4);
    assert_eq!(stats["total_tokens"], 8);
    assert!(stats["total_cost"].as_f64().unwrap() > 0.0);
    let text = r.print_deployment_metrics();
    assert!(text.contains("requests="), "{text}");
    assert!(text.lines().count() >= 3);
    assert!(!text.contains("sk-"));
}

#[test]
fn health_check_reports_each_deployment() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push("http://a.test/v1/chat/completions", Reply::json(200, OK));
    up.push(
        "http://b.test/v1/chat/completions",
        Reply::json(401, r#"{"error":{"message":"bad key"}}"#),
    );
    let r = router(&up);
    let report: Value = block_on(r.health_check(None)).unwrap();
    assert_eq!(report["healthy_count"], 1);
    assert_eq!(report["unhealthy_count"], 1);
    assert_eq!(report["unhealthy_endpoints"][0]["model_id"], "b");
    assert!(report["unhealthy_endpoints"][0]["error"]
        .as_str()
        .unwrap()
        .contains("bad key"));
    let probe: Value = serde_json::from_slice(&up.calls.borrow()[0].body).unwrap();
    assert_eq!(probe["max_tokens"], 1);
    assert!(!report.to_string().contains("sk-"));
    let only: Value = block_on(r.health_check(Some("g"))).unwrap();
    assert_eq!(
        only["healthy_count"].as_u64().unwrap() + only["unhealthy_count"].as_u64().unwrap(),
        2
    );
    assert!(block_on(r.health_check(Some("zzz"))).is_err());
    // a check never cools anything down
    assert!(!r.state().snapshot("b", 0.0).cooling(0.0));
}

#[test]
fn the_routers_other_methods_route_their_endpoints() {
    let up = Rc::new(ScriptedUpstream::default());
    up.push(
        "http://a.test/v1/embeddings",
        Reply::json(
            200,
            r#"{"object":"list","data":[],"usage":{"prompt_tokens":2,"total_tokens":2}}"#,
        ),
    );
    up.push(
        "http://b.test/v1/embeddings",
        Reply::json(
            200,
            r#"{"object":"list","data":[],"usage":{"prompt_tokens":2,"total_tokens":2}}"#,
        ),
    );
    let r = router(&up);
    let routed = block_on(r.embedding(&json!({"model": "g", "input": "hello"}))).unwrap();
    assert_eq!(routed.group, "g");
    assert!(up.calls.borrow()[0].url.ends_with("/v1/embeddings"));
    let e = block_on(r.text_completion(&json!({"model": "g"})))
        .err()
        .unwrap();
    assert_eq!(e.param(), Some("prompt"));

    // Each of the others reaches its own path (whichever deployment the router picks).
    let answer = |path: &str, body: &str| {
        for base in ["http://a.test", "http://b.test"] {
            up.push(&format!("{base}{path}"), Reply::json(200, body));
        }
    };
    let last_path = || {
        let calls = up.calls.borrow();
        let url = calls.last().map(|c| c.url.clone()).unwrap_or_default();
        url.split_once(".test")
            .map(|(_, p)| p.to_string())
            .unwrap_or(url)
    };
    answer(
        "/v1/images/generations",
        r#"{"created":1,"data":[{"url":"https://x/i.png"}]}"#,
    );
    block_on(r.image_generation(&json!({"model": "g", "prompt": "a cat"}))).unwrap();
    assert_eq!(last_path(), "/v1/images/generations");
    answer(
        "/v1/moderations",
        r#"{"id":"m","model":"x","results":[{"flagged":false}]}"#,
    );
    block_on(r.moderation(&json!({"model": "g", "input": "hello"}))).unwrap();
    assert_eq!(last_path(), "/v1/moderations");
    answer("/v1/audio/speech", "{}");
    block_on(r.speech(&json!({"model": "g", "input": "hello", "voice": "alloy"}))).unwrap();
    assert_eq!(last_path(), "/v1/audio/speech");
    answer("/v1/audio/transcriptions", r#"{"text":"hi"}"#);
    let form = b"--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ng\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n--B--\r\n";
    block_on(r.transcription("multipart/form-data; boundary=B", form.to_vec())).unwrap();
    assert_eq!(last_path(), "/v1/audio/transcriptions");
}

/// A deployments store that can be told to fail, as an unreachable Durable Object would.
#[derive(Default)]
struct Store {
    saved: std::cell::RefCell<crate::ports::SavedOverlay>,
    fail: std::cell::Cell<bool>,
}

impl crate::ports::DeploymentStore for Rc<Store> {
    fn load(&self) -> crate::ports::LocalFuture<Result<crate::ports::SavedOverlay, Error>> {
        let s = self.saved.borrow().clone();
        Box::pin(async move { Ok(s) })
    }
    fn save(
        &self,
        base_version: u64,
        overlay: &Overlay,
    ) -> crate::ports::LocalFuture<Result<crate::ports::SaveOutcome, Error>> {
        use crate::ports::{SaveOutcome, SavedOverlay};
        let result = if self.fail.get() {
            Err(Error::Internal {
                message: "deployments store unreachable".into(),
            })
        } else if base_version != self.saved.borrow().version {
            Ok(SaveOutcome::Conflict(self.saved.borrow().clone()))
        } else {
            let next = SavedOverlay {
                version: base_version + 1,
                overlay: overlay.clone(),
            };
            *self.saved.borrow_mut() = next.clone();
            Ok(SaveOutcome::Saved(next))
        };
        Box::pin(async move { result })
    }
}

#[test]
fn a_change_that_cannot_be_saved_changes_nothing() {
    let up = Rc::new(ScriptedUpstream::default());
    let store = Rc::new(Store::default());
    let r = router_with(&up, Some(Rc::new(store.clone())));
    store.fail.set(true);
    let e = r
        .add_deployment(json!({"model_name":"new","litellm_params":{"model":"openai/x","api_base":"http://c.test/v1"}}))
        .now()
        .unwrap_err();
    assert!(e.message().contains("unreachable"), "{}", e.message());
    assert!(matches!(
        chat(&r, "new").err().unwrap(),
        Error::ModelNotFound { .. }
    ));
    assert_eq!(r.get_deployments().len(), 2, "rolled back");
    assert_eq!(r.overlay().version, 0);
    // Once the store answers again, the same change goes through, saved.
    store.fail.set(false);
    r.add_deployment(json!({"model_name":"new","litellm_params":{"model":"openai/x","api_base":"http://c.test/v1"}}))
        .now()
        .unwrap();
    assert_eq!(store.saved.borrow().version, 1);
    assert_eq!(store.saved.borrow().overlay.upserts.len(), 1);
}

#[test]
fn runtime_changes_are_an_overlay_a_new_config_keeps_its_own_groups() {
    let up = Rc::new(ScriptedUpstream::default());
    let store = Rc::new(Store::default());
    let r = router_with(&up, Some(Rc::new(store.clone())));
    let id = r
        .add_deployment(json!({"model_name":"added","litellm_params":{"model":"openai/x","api_base":"http://c.test/v1"}}))
        .now()
        .unwrap();
    r.delete_deployment("b").now().unwrap();
    let saved = store.saved.borrow().clone();
    // A redeploy: the config now has a new group `h`. The saved changes apply over it.
    let config = Config::from_text(
        r#"{"model_list":[
            {"model_name":"g","litellm_params":{"model":"openai/gpt-4o","api_base":"http://a.test/v1"},"model_info":{"id":"a"}},
            {"model_name":"g","litellm_params":{"model":"openai/gpt-4o-mini","api_base":"http://b.test/v1"},"model_info":{"id":"b"}},
            {"model_name":"h","litellm_params":{"model":"openai/y","api_base":"http://h.test/v1"},"model_info":{"id":"h1"}}]}"#,
        &|_: &str| None,
    )
    .unwrap();
    let next = Router::new(
        config,
        Runtime::new(up.clone(), Rc::new(ManualClock::default()), 1),
    );
    assert!(next.take_saved(saved).unwrap());
    let groups = next.config().group_order.clone();
    assert_eq!(
        groups,
        vec!["g".to_string(), "h".to_string(), "added".to_string()]
    );
    let origins: Vec<(String, String)> = next
        .get_deployments()
        .iter()
        .map(|d| {
            (
                d["model_info"]["id"].as_str().unwrap().to_string(),
                d["origin"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        origins,
        vec![
            ("a".to_string(), "config".to_string()),
            ("h1".to_string(), "config".to_string()),
            (id, "runtime".to_string())
        ]
    );
    // Dropping the overlay brings the config's own list back.
    next.reset_deployments().now().unwrap();
    assert_eq!(next.config().deployments.len(), 3);
}

/// Each deployment is checked with a call of its own kind (`model_info.mode`, else what its
/// provider serves), within `health_check_timeout`; model_info's rpm/tpm are its limits.
#[test]
fn health_checks_call_each_deployment_as_what_it_is() {
    let up = Rc::new(ScriptedUpstream::default());
    for path in [
        "/v1/embeddings",
        "/v1/images/generations",
        "/v1/audio/speech",
        "/v1/audio/transcriptions",
        "/v1/rerank",
        "/v1/moderations",
        "/v1/completions",
        "/v1/chat/completions",
    ] {
        up.push(&format!("http://h.test{path}"), Reply::json(200, "{}"));
    }
    let modes = [
        "embedding",
        "image_generation",
        "audio_speech",
        "audio_transcription",
        "rerank",
        "moderation",
        "completion",
    ];
    let mut list: Vec<String> = modes
        .iter()
        .map(|m| format!(r#"{{"model_name":"{m}","litellm_params":{{"model":"openai/x","api_base":"http://h.test/v1"}},"model_info":{{"mode":"{m}"}}}}"#))
        .collect();
    list.push(r#"{"model_name":"v","litellm_params":{"model":"voyage/voyage-3","api_base":"http://h.test/v1"},"model_info":{"rpm":7,"tpm":70}}"#.into());
    let config = format!(
        r#"{{"model_list":[{}],"general_settings":{{"health_check_timeout":2}}}}"#,
        list.join(",")
    );
    let r = Fixture::default().upstream(&up).router(&config);
    let report: Value = block_on(r.health_check(None)).unwrap();
    assert_eq!(report["healthy_count"], 8, "{report}");
    let mut paths: Vec<String> = up
        .calls
        .borrow()
        .iter()
        .map(|c| c.url.trim_start_matches("http://h.test").to_string())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/v1/audio/speech",
            "/v1/audio/transcriptions",
            "/v1/completions",
            "/v1/embeddings",
            "/v1/embeddings",
            "/v1/images/generations",
            "/v1/moderations",
            "/v1/rerank",
        ],
        "voyage serves no chat: checked with an embedding"
    );
    let upload = up
        .calls
        .borrow()
        .iter()
        .find(|c| c.url.ends_with("/transcriptions"))
        .map(|c| c.body.clone())
        .unwrap();
    assert!(
        String::from_utf8_lossy(&upload).contains("RIFF"),
        "a real WAV file"
    );
    let v = r
        .config()
        .deployments
        .iter()
        .find(|d| d.group == "v")
        .cloned()
        .unwrap();
    assert_eq!((v.rpm, v.tpm), (Some(7), Some(70)));
    assert_eq!(r.config().general.health_check_timeout_ms, 2_000);
}

#[test]
fn a_health_check_gives_up_after_health_check_timeout() {
    for (general, info, waited) in [
        ("", "", 10_000),
        (
            r#","general_settings":{"health_check_timeout":3}"#,
            "",
            3_000,
        ),
        (
            r#","general_settings":{"health_check_timeout":3}"#,
            r#","model_info":{"health_check_timeout":0.5}"#,
            500,
        ),
    ] {
        let f = Fixture::default();
        f.up.push("http://h.test/v1/chat/completions", Reply::Hang);
        let r = f.router(&format!(
            r#"{{"model_list":[{{"model_name":"g","litellm_params":{{"model":"openai/x","api_base":"http://h.test/v1"}}{info}}}]{general}}}"#
        ));
        let report: Value = block_on(r.health_check(None)).unwrap();
        assert_eq!(report["unhealthy_count"], 1);
        assert_eq!(*f.clock.slept.borrow(), [waited], "{general} {info}");
    }
}
