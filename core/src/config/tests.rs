use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "OPENAI_API_KEY" => Some("sk-secret-1".into()),
        "MASTER" => Some("sk-master".into()),
        _ => None,
    }
}

fn load(text: &str) -> Result<Config, Error> {
    Config::from_text(text, &env)
}

fn message(e: Error) -> String {
    e.message()
}

const YAML: &str = r#"
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY
      weight: 3
      temperature: 0.2
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: http://127.0.0.1:9999/v1
      timeout: 2.5
    model_info:
      id: local-1
      input_cost_per_token: 0.000001
router_settings:
  routing_strategy: simple-shuffle
  timeout: 30
general_settings:
  master_key: os.environ/MASTER
"#;

#[test]
fn yaml_config_loads_with_secrets_and_defaults() {
    let c = load(YAML).unwrap();
    assert_eq!(c.deployments.len(), 2);
    assert_eq!(c.group_order, vec!["gpt-4o".to_string()]);
    let d0 = &c.deployments[0];
    assert_eq!(d0.api_key.as_deref(), Some("sk-secret-1"));
    assert_eq!(d0.api_base, "https://api.openai.com/v1");
    assert_eq!(d0.model, "gpt-4o");
    assert_eq!(d0.weight, Some(3.0));
    assert_eq!(d0.timeout_ms, 30_000, "router timeout applies");
    assert_eq!(
        d0.body_defaults.get("temperature"),
        Some(&serde_json::json!(0.2))
    );
    let d1 = &c.deployments[1];
    assert_eq!(d1.id, "local-1");
    assert_eq!(d1.timeout_ms, 2_500, "deployment timeout wins");
    assert_eq!(
        d1.stream_timeout_ms, 2_500,
        "stream timeout defaults to timeout"
    );
    assert_eq!(d1.info.input_cost_per_token, Some(0.000001));
    assert_eq!(c.general.master_key.as_deref(), Some("sk-master"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn json_config_is_the_same_as_yaml() {
    let yaml: Value = serde_yaml_ng::from_str(YAML).unwrap();
    let json_text = serde_json::to_string(&yaml).unwrap();
    assert_eq!(load(&json_text).unwrap(), load(YAML).unwrap());
}

#[test]
fn generated_ids_are_stable_and_independent_of_secret_values() {
    let a = load(YAML).unwrap().deployments[0].id.clone();
    let other_env = |n: &str| {
        if n == "MASTER" {
            Some("m".into())
        } else {
            Some("other-secret".into())
        }
    };
    let b = Config::from_text(YAML, &other_env).unwrap().deployments[0]
        .id
        .clone();
    assert_eq!(a, b);
    assert_eq!(a.len(), 16);
    assert!(!a.contains("secret"));
}

#[test]
fn missing_secret_names_path_and_variable() {
    let text = r#"{"model_list":[{"model_name":"m","litellm_params":{"model":"gpt-4o","api_key":"os.environ/NOPE"}}]}"#;
    let m = message(load(text).unwrap_err());
    assert!(m.contains("model_list[0].litellm_params.api_key"), "{m}");
    assert!(m.contains("`NOPE`"), "{m}");
}

#[test]
fn wrong_type_names_the_key_path() {
    let text = r#"{"model_list":[{"model_name":"m","litellm_params":{"model":"gpt-4o","timeout":"soon"}}]}"#;
    let e = load(text).unwrap_err();
    assert_eq!(e.status(), 500);
    let m = message(e);
    assert!(m.contains("model_list[0].litellm_params.timeout"), "{m}");
}

#[test]
fn missing_required_field_is_named() {
    let m =
        message(load(r#"{"model_list":[{"model_name":"m","litellm_params":{}}]}"#).unwrap_err());
    assert!(m.contains("model"), "{m}");
    let m = message(load(r#"{"model_list":[{"litellm_params":{"model":"x"}}]}"#).unwrap_err());
    assert!(m.contains("model_name"), "{m}");
}

#[test]
fn unknown_keys_are_warnings_not_errors() {
    let text = r#"{"model_list":[{"model_name":"m","litellm_params":{"model":"gpt-4o","frobnicate":1}}],
                  "router_settings":{"zzz":true},"something_else":{}}"#;
    let c = load(text).unwrap();
    let w = c.warnings.join("\n");
    assert!(w.contains("model_list[0].litellm_params.frobnicate"), "{w}");
    assert!(w.contains("router_settings.zzz"), "{w}");
    assert!(w.contains("something_else"), "{w}");
}

#[test]
fn invalid_values_are_rejected() {
    for (text, needle) in [
        (
            r#"{"model_list":[{"model_name":"m","litellm_params":{"model":"gpt-4o","timeout":-1}}]}"#,
            "timeout",
        ),
        (
            r#"{"model_list":[{"model_name":"m","litellm_params":{"model":"gpt-4o","weight":-2}}]}"#,
            "weight",
        ),
        (
            r#"{"model_list":[{"model_name":"m","litellm_params":{"model":"gpt-4o","api_base":"ftp://x"}}]}"#,
            "api_base",
        ),
        (
            r#"{"model_list":[{"model_name":"m","litellm_params":{"model":"hosted_vllm/x"}}]}"#,
            "required",
        ),
        (
            r#"{"model_list":[{"model_name":"m","litellm_params":{"model":"bogus/x"}}]}"#,
            "unknown provider",
        ),
        (
            r#"{"model_list":[{"model_name":" ","litellm_params":{"model":"gpt-4o"}}]}"#,
            "model_name",
        ),
        (
            r#"{"router_settings":{"routing_strategy":"nope"}}"#,
            "routing_strategy",
        ),
        (
            r#"{"general_settings":{"max_request_size_mb":0}}"#,
            "max_request_size_mb",
        ),
        (
            r#"{"general_settings":{"request_body_timeout":-1}}"#,
            "request_body_timeout",
        ),
        (r#"{"general_settings":{"master_key":""}}"#, "master_key"),
        ("[1,2]", "mapping"),
        ("", "empty"),
        ("{not json", "JSON"),
        ("model_list: [unclosed", "YAML"),
    ] {
        let m = message(load(text).expect_err(text));
        assert!(m.contains(needle), "{text}: {m}");
    }
}

#[test]
fn a_duplicate_id_is_left_out() {
    let text = r#"{"model_list":[
        {"model_name":"a","litellm_params":{"model":"gpt-4o"},"model_info":{"id":"x"}},
        {"model_name":"b","litellm_params":{"model":"gpt-4o"},"model_info":{"id":"x"}}]}"#;
    let c = load(text).unwrap();
    assert_eq!(c.deployments.len(), 1);
    assert_eq!(c.left_out[0].index, 1);
    assert!(c.left_out[0].reason.contains("`x`"));
}

/// LiteLLM's behaviour: one deployment that cannot be used (an unknown provider, a missing
/// secret, a wrong type) is left out with a warning naming it; the others serve. Only a list
/// with nothing usable fails.
#[test]
fn a_bad_deployment_is_left_out_and_the_others_serve() {
    let text = r#"
model_list:
  - { model_name: good, litellm_params: { model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY } }
  - { model_name: bad-provider, litellm_params: { model: nosuch/x } }
  - { model_name: bad-secret, litellm_params: { model: openai/gpt-4o, api_key: os.environ/NOT_SET } }
  - { model_name: bad-type, litellm_params: { model: openai/gpt-4o, rpm: lots } }
  - { model_name: good, litellm_params: { model: openai/gpt-4o-mini } }
"#;
    let c = load(text).unwrap();
    assert_eq!(c.deployments.len(), 2);
    assert_eq!(c.group_order, ["good"]);
    assert_eq!(c.groups["good"], [0, 1]);
    let out: Vec<(usize, &str)> = c
        .left_out
        .iter()
        .map(|l| (l.index, l.model_name.as_str()))
        .collect();
    assert_eq!(
        out,
        [(1, "bad-provider"), (2, "bad-secret"), (3, "bad-type")]
    );
    assert!(
        c.left_out[1].reason.contains("NOT_SET"),
        "{:?}",
        c.left_out[1]
    );
    assert!(
        c.left_out[2]
            .reason
            .contains("model_list[3].litellm_params.rpm"),
        "{:?}",
        c.left_out[2]
    );
    assert!(c
        .warnings
        .iter()
        .any(|w| w.contains("model_list[1]") && w.contains("left out")));
    // The written list keeps only what serves, in step with the deployments.
    let written = c.source["model_list"].as_array().unwrap();
    assert_eq!(written.len(), 2);
    assert_eq!(written[1]["litellm_params"]["model"], "openai/gpt-4o-mini");
    // Nothing usable: the config fails, naming every reason.
    let e = message(
        load("model_list: [{ model_name: a, litellm_params: { model: nosuch/x } }, { model_name: b, litellm_params: { model: openai/m, rpm: x } }]")
            .unwrap_err(),
    );
    assert!(e.contains("no deployment of model_list is usable"), "{e}");
    assert!(
        e.contains("model_list[0]") && e.contains("model_list[1]"),
        "{e}"
    );
    // A secret outside the model list is still the whole config's.
    let e = message(
        load(
            "model_list: []
general_settings: { master_key: os.environ/NOT_SET }",
        )
        .unwrap_err(),
    );
    assert!(e.contains("NOT_SET"), "{e}");
}

#[test]
fn groups_keep_config_order() {
    let text = r#"{"model_list":[
        {"model_name":"b","litellm_params":{"model":"gpt-4o"}},
        {"model_name":"a","litellm_params":{"model":"gpt-4o-mini"}},
        {"model_name":"b","litellm_params":{"model":"gpt-4.1"}}]}"#;
    let c = load(text).unwrap();
    assert_eq!(c.group_order, vec!["b".to_string(), "a".to_string()]);
    let b: Vec<&str> = c.group("b").unwrap().map(|d| d.model.as_str()).collect();
    assert_eq!(b, vec!["gpt-4o", "gpt-4.1"]);
    assert!(c.group("zzz").is_none());
}

#[test]
fn defaults_without_settings() {
    let c =
        load(r#"{"model_list":[{"model_name":"m","litellm_params":{"model":"gpt-4o"}}]}"#).unwrap();
    assert_eq!(c.router.timeout_ms, 600_000);
    assert_eq!(c.general.max_request_size_bytes, 10 * 1024 * 1024);
    assert!(c.general.master_key.is_none());
    assert!(c.general.cors_allowed_origins.is_empty());
    assert!(c.general.request_log, "one log line per request by default");
    assert_eq!(c.router.routing_strategy, RoutingStrategy::SimpleShuffle);
}

#[test]
fn litellm_settings_request_timeout_applies_when_router_has_none() {
    let c = load(
        r#"{"model_list":[{"model_name":"m","litellm_params":{"model":"gpt-4o"}}],
                     "litellm_settings":{"request_timeout":12}}"#,
    )
    .unwrap();
    assert_eq!(c.deployments[0].timeout_ms, 12_000);
}

#[test]
fn model_group_alias_in_both_spellings() {
    let c = load(
        r#"
model_list:
  - { model_name: g, litellm_params: { model: openai/m, num_retries: 1 } }
router_settings:
  model_group_alias:
    gpt-4: g
    quiet: { model: g, hidden: true }
    g: g
    lost: nowhere
"#,
    )
    .unwrap();
    assert_eq!(c.alias_target("gpt-4"), Some("g"));
    assert!(c.router.aliases["quiet"].hidden);
    assert!(!c.router.aliases["gpt-4"].hidden);
    assert_eq!(c.deployments[0].num_retries, Some(1));
    assert!(
        c.deployments[0].body_defaults.get("num_retries").is_none(),
        "never sent upstream"
    );
    let warned = |needle: &str| c.warnings.iter().any(|w| w.contains(needle));
    assert!(
        warned("model_group_alias.g: also a model group"),
        "{:?}",
        c.warnings
    );
    assert!(warned(
        "model_group_alias.lost: `nowhere` is not a model group"
    ));
    for (bad, path) in [
        ("{ x: 3 }", "model_group_alias.x"),
        ("{ x: { hidden: true } }", "model_group_alias.x.model"),
        (
            "{ x: { model: g, hidden: maybe } }",
            "model_group_alias.x.hidden",
        ),
    ] {
        let text = format!(
            "model_list: [{{ model_name: g, litellm_params: {{ model: openai/m }} }}]\nrouter_settings: {{ model_group_alias: {bad} }}"
        );
        let e = message(load(&text).unwrap_err());
        assert!(e.contains(path), "{bad}: {e}");
    }
}

#[test]
fn yaml_1_1_spellings_load_as_litellm_reads_them() {
    let c = load(
        "model_list:\n  - { model_name: g, litellm_params: { model: openai/m, rpm: 20_000, timeout: 1_0 } }\nrouter_settings: { cache_responses: yes, enable_pre_call_checks: on }\n",
    )
    .unwrap();
    assert_eq!(c.deployments[0].rpm, Some(20_000));
    assert_eq!(c.deployments[0].timeout_ms, 10_000);
    assert!(c.cache.is_some());
    assert!(c.router.pre_call_checks);
    // JSON has no such spellings: a string stays a string, and is refused where a number goes.
    let e = load(r#"{"model_list":[{"model_name":"g","litellm_params":{"model":"openai/m","rpm":"20_000"}}]}"#)
        .unwrap_err();
    assert!(message(e).contains("rpm"));
}

#[test]
fn supported_call_types_choose_what_is_cached() {
    use crate::endpoint::Endpoint;
    let with = |types: &str| {
        load(&format!(
            "model_list: [{{ model_name: g, litellm_params: {{ model: openai/m }} }}]\nlitellm_settings: {{ cache: true, cache_params: {{ supported_call_types: {types} }} }}"
        ))
    };
    assert_eq!(with("[]").unwrap().cache.unwrap().endpoints, []);
    assert_eq!(
        with("[acompletion, completion, text_completion, arerank]")
            .unwrap()
            .cache
            .unwrap()
            .endpoints,
        [Endpoint::Chat, Endpoint::Completions, Endpoint::Rerank]
    );
    let c = with("[embedding, atranscription]").unwrap();
    assert_eq!(c.cache.as_ref().unwrap().endpoints, [Endpoint::Embeddings]);
    assert!(
        c.warnings.iter().any(|w| w.contains("atranscription")),
        "{:?}",
        c.warnings
    );
    let e = message(with("[chat]").unwrap_err());
    assert!(
        e.contains("supported_call_types") && e.contains("`chat`"),
        "{e}"
    );
    let all = load("model_list: []\nrouter_settings: { cache_responses: true }").unwrap();
    assert_eq!(
        all.cache.unwrap().endpoints,
        [
            Endpoint::Chat,
            Endpoint::Completions,
            Endpoint::Embeddings,
            Endpoint::Rerank
        ]
    );
}

#[test]
fn empty_sections_and_aws_credentials_from_the_environment() {
    // Everything under general_settings commented out: a null section, read as absent.
    let c = load("model_list: [{ model_name: g, litellm_params: { model: openai/m } }]\ngeneral_settings:\nrouter_settings:\n").unwrap();
    assert_eq!(c.deployments.len(), 1);
    let env = |n: &str| match n {
        "AWS_ACCESS_KEY_ID" => Some("AKID".to_string()),
        "AWS_SECRET_ACCESS_KEY" => Some("SECRET".to_string()),
        "AWS_REGION" => Some("eu-west-3".to_string()),
        _ => None,
    };
    let text = "model_list:\n  - { model_name: b, litellm_params: { model: bedrock/anthropic.claude-3-haiku-20240307-v1:0 } }\n  - { model_name: own, litellm_params: { model: bedrock/x, aws_access_key_id: MINE, aws_secret_access_key: S2 } }\n";
    let c = Config::from_text(text, &env).unwrap();
    let aws = c.deployments[0].aws.as_ref().unwrap();
    assert_eq!(
        (aws.access_key_id.as_str(), aws.region.as_str()),
        ("AKID", "eu-west-3")
    );
    assert_eq!(
        c.deployments[1].aws.as_ref().unwrap().access_key_id,
        "MINE",
        "its own win"
    );
    assert!(c.left_out.is_empty());
    // Without them in the environment either, that deployment is left out, naming the keys.
    let c = load(text).unwrap();
    assert_eq!(c.left_out.len(), 1);
    assert!(c.left_out[0].reason.contains("aws_access_key_id"));
}

#[test]
fn load_balancer_style_limits_beside_litellm_params() {
    let c = load("model_list:\n  - model_name: g\n    litellm_params: { model: openai/m }\n    rpm: 3\n    tpm: 20000\n").unwrap();
    assert_eq!(
        (c.deployments[0].rpm, c.deployments[0].tpm),
        (Some(3), Some(20_000))
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

use crate::google_auth::GoogleCredentials;

const SERVICE_ACCOUNT: &str = include_str!("../../../tests/fixtures/google-service-account.json");

#[test]
fn vertex_deployments_read_litellm_spellings_and_the_environment() {
    let env = |n: &str| match n {
        "SA" | "VERTEXAI_CREDENTIALS" => Some(SERVICE_ACCOUNT.to_string()),
        "VERTEXAI_LOCATION" => Some("europe-west4".to_string()),
        _ => None,
    };
    let text = r#"
model_list:
  - model_name: own
    litellm_params: { model: vertex_ai/gemini-2.5-pro, vertex_project: p-1, vertex_location: global, vertex_credentials: os.environ/SA }
  - model_name: aliases
    litellm_params: { model: vertex_ai_beta/gemini-2.0-flash, vertex_ai_project: p-2, vertex_ai_location: asia-northeast1, vertex_ai_credentials: os.environ/SA }
  - model_name: from-env
    litellm_params: { model: gemini-2.0-flash, custom_llm_provider: vertex_ai }
  - model_name: proxied
    litellm_params:
      model: vertex_ai/gemini-2.0-flash
      api_base: https://gateway.ai.cloudflare.com/v1/acct/gw/google-vertex-ai/v1/projects/p-3/locations/us-east5/publishers/google/models/gemini-2.0-flash
      vertex_credentials: os.environ/SA
"#;
    let c = Config::from_text(text, &env).unwrap();
    assert!(c.left_out.is_empty(), "{:?}", c.left_out);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let v = |i: usize| c.deployments[i].vertex.as_ref().unwrap();
    assert_eq!(
        (v(0).project.as_str(), v(0).location.as_str()),
        ("p-1", "global")
    );
    assert_eq!(
        c.deployments[0].api_base,
        "https://aiplatform.googleapis.com"
    );
    assert_eq!(
        (v(1).project.as_str(), v(1).location.as_str()),
        ("p-2", "asia-northeast1")
    );
    assert_eq!(
        c.deployments[1].api_base,
        "https://asia-northeast1-aiplatform.googleapis.com"
    );
    // Nothing written: VERTEXAI_* from the environment, the project from the credentials.
    assert_eq!(
        (v(2).project.as_str(), v(2).location.as_str()),
        ("switchyard-test", "europe-west4")
    );
    assert!(!v(2).custom_base && v(3).custom_base);
    assert!(c.deployments[3]
        .api_base
        .ends_with("/models/gemini-2.0-flash"));
    // The private key is a secret: scrubbed from anything an upstream echoes.
    let GoogleCredentials::ServiceAccount { private_key, .. } = &v(0).credentials else {
        panic!("a service account")
    };
    assert!(c.deployments[0].secrets().contains(&private_key.as_str()));
}

#[test]
fn a_vertex_deployment_that_cannot_authenticate_is_left_out_with_the_reason() {
    let env = |n: &str| (n == "SA").then(|| SERVICE_ACCOUNT.to_string());
    let mut broken: serde_json::Value = serde_json::from_str(SERVICE_ACCOUNT).unwrap();
    broken["private_key"] =
        serde_json::json!("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----");
    broken.as_object_mut().unwrap().remove("project_id");
    let text = serde_json::json!({"model_list": [
        {"model_name": "ok", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash", "vertex_credentials": "os.environ/SA"}},
        {"model_name": "none", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash"}},
        {"model_name": "path", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash", "vertex_credentials": "/secrets/sa.json"}},
        {"model_name": "key", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash", "vertex_project": "p", "vertex_credentials": broken}},
        {"model_name": "project", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash", "vertex_project": "p/../../x", "vertex_credentials": "os.environ/SA"}},
        {"model_name": "model", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash:predict", "vertex_credentials": "os.environ/SA"}}
    ]})
    .to_string();
    let c = Config::from_text(&text, &env).unwrap();
    assert_eq!(c.deployments.len(), 1);
    let reason = |name: &str| {
        c.left_out
            .iter()
            .find(|l| l.model_name == name)
            .map(|l| l.reason.clone())
            .unwrap_or_default()
    };
    assert!(
        reason("none").contains("need vertex_credentials"),
        "{}",
        reason("none")
    );
    assert!(reason("path").contains("file path"), "{}", reason("path"));
    assert!(
        reason("key").contains("not an RSA private key"),
        "{}",
        reason("key")
    );
    assert!(
        reason("project").contains("not a Google Cloud project"),
        "{}",
        reason("project")
    );
    assert!(
        reason("model").contains("not a Gemini model name"),
        "{}",
        reason("model")
    );
}

#[test]
fn hedge_after_reads_seconds_auto_and_off_and_refuses_the_rest() {
    let with = |v: &str| {
        load(&format!(
            "model_list: [{{model_name: g, litellm_params: {{model: openai/x}}}}]\nrouter_settings: {{hedge_after: {v}}}\n"
        ))
    };
    let hedge = |v: &str| with(v).unwrap().router.hedge;
    assert_eq!(
        load("model_list: [{model_name: g, litellm_params: {model: openai/x}}]")
            .unwrap()
            .router
            .hedge,
        Hedge::Adaptive
    );
    assert_eq!(hedge("2.5"), Hedge::After(2_500));
    assert_eq!(hedge("auto"), Hedge::Adaptive);
    for off in ["false", "off", "no"] {
        assert_eq!(hedge(off), Hedge::Off, "{off}");
    }
    for bad in ["0", "-1", "soon", "[1]"] {
        let e = message(with(bad).unwrap_err());
        assert!(e.contains("router_settings.hedge_after"), "{bad}: {e}");
    }
    // The adaptive point: streams only, twice the p95 within [2 s, 10 s], 10 s unmeasured.
    assert_eq!(Hedge::Adaptive.after_ms(false, Some(100.0)), None);
    assert_eq!(Hedge::Adaptive.after_ms(true, None), Some(10_000));
    assert_eq!(Hedge::Adaptive.after_ms(true, Some(300.0)), Some(2_000));
    assert_eq!(Hedge::Adaptive.after_ms(true, Some(3_000.0)), Some(6_000));
    assert_eq!(Hedge::Adaptive.after_ms(true, Some(60_000.0)), Some(10_000));
    assert_eq!(Hedge::After(700).after_ms(false, None), Some(700));
    assert_eq!(Hedge::Off.after_ms(true, None), None);
}

#[test]
fn a_deployment_hedge_after_overrides_the_routers() {
    let c = load(
        "model_list:\n  - {model_name: g, litellm_params: {model: openai/x, hedge_after: off}}\n  - {model_name: g, litellm_params: {model: openai/y, hedge_after: 30}}\n  - {model_name: g, litellm_params: {model: openai/z}}\nrouter_settings: {hedge_after: 4}\n",
    )
    .unwrap();
    let hedges: Vec<Hedge> = c.deployments.iter().map(|d| d.hedge).collect();
    assert_eq!(
        hedges,
        [Hedge::Off, Hedge::After(30_000), Hedge::After(4_000)]
    );
    let e =
        load("model_list: [{model_name: g, litellm_params: {model: openai/x, hedge_after: soon}}]")
            .unwrap_err();
    assert!(message(e).contains("litellm_params.hedge_after"));
}
