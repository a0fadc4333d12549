use super::*;
use futures::FutureExt;
use serde_json::json;

const SERVICE_ACCOUNT: &str = include_str!("../../../tests/fixtures/google-service-account.json");
/// Signed by OpenSSL with the fixture's key at 2026-01-01T00:00:00Z (tests/fixtures/README.md).
const OPENSSL_JWT: &str = include_str!("../../../tests/fixtures/google-jwt-1767225600.txt");
const AT_2026_MS: f64 = 1_767_225_600_000.0;

fn account() -> GoogleCredentials {
    GoogleCredentials::parse(&Value::String(SERVICE_ACCOUNT.to_string())).unwrap()
}

#[test]
fn the_assertion_is_byte_for_byte_what_openssl_signs() {
    assert_eq!(
        account()
            .assertion(AT_2026_MS, &RsaCrateSigner)
            .now_or_never()
            .unwrap()
            .unwrap(),
        OPENSSL_JWT.trim()
    );
}

#[test]
fn the_assertion_names_the_account_the_scope_and_the_audience_for_an_hour() {
    let jwt = account()
        .assertion(AT_2026_MS + 5_000.0, &RsaCrateSigner)
        .now_or_never()
        .unwrap()
        .unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let decode = |p: &str| -> Value {
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(p).unwrap()).unwrap()
    };
    assert_eq!(
        decode(parts[0]),
        json!({"alg": "RS256", "typ": "JWT", "kid": "0123456789abcdef0123456789abcdef01234567"})
    );
    let claims = decode(parts[1]);
    assert_eq!(
        claims["iss"],
        "router@switchyard-test.iam.gserviceaccount.com"
    );
    assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token");
    assert_eq!(claims["scope"], CLOUD_PLATFORM_SCOPE);
    assert_eq!(claims["iat"], 1_767_225_605);
    assert_eq!(claims["exp"], 1_767_225_605 + 3600);
    // A 2048-bit key signs 256 bytes.
    assert_eq!(Base64UrlUnpadded::decode_vec(parts[2]).unwrap().len(), 256);
}

#[test]
fn the_token_request_is_the_jwt_bearer_grant_as_a_form() {
    let r = account()
        .token_request(AT_2026_MS, &RsaCrateSigner)
        .now_or_never()
        .unwrap()
        .unwrap();
    assert_eq!(r.method, "POST");
    assert_eq!(r.url, "https://oauth2.googleapis.com/token");
    assert_eq!(
        r.headers,
        vec![(
            "content-type",
            "application/x-www-form-urlencoded".to_string()
        )]
    );
    let body = String::from_utf8(r.body).unwrap();
    assert_eq!(
        body,
        format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={}",
            OPENSSL_JWT.trim()
        )
    );
}

#[test]
fn an_authorized_user_trades_its_refresh_token() {
    let c = GoogleCredentials::parse(&json!({
        "type": "authorized_user",
        "client_id": "764086051850-x.apps.googleusercontent.com",
        "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty",
        "refresh_token": "1//0g refresh+token/=",
        "quota_project_id": "billing-project"
    }))
    .unwrap();
    assert_eq!(c.project(), Some("billing-project"));
    let r = c
        .token_request(AT_2026_MS, &RsaCrateSigner)
        .now_or_never()
        .unwrap()
        .unwrap();
    assert_eq!(r.url, DEFAULT_TOKEN_URI);
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "grant_type=refresh_token&client_id=764086051850-x.apps.googleusercontent.com&client_secret=d-FL95Q19q7MQmFpd7hHD0Ty&refresh_token=1%2F%2F0g%20refresh%2Btoken%2F%3D"
    );
    assert!(!c.identity().contains("refresh"), "{}", c.identity());
    assert!(c
        .assertion(AT_2026_MS, &RsaCrateSigner)
        .now_or_never()
        .unwrap()
        .is_err());
}

#[test]
fn credentials_that_cannot_work_are_refused_with_the_reason() {
    let refused = |v: Value| GoogleCredentials::parse(&v).unwrap_err();
    assert!(refused(json!("/home/me/sa.json")).contains("file path"));
    assert!(refused(json!("{not json")).contains("not a credentials JSON"));
    assert!(refused(json!(42)).contains("credentials JSON"));
    let mut sa: Value = serde_json::from_str(SERVICE_ACCOUNT).unwrap();
    sa["private_key"] = json!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    assert!(refused(sa.clone()).contains("not an RSA private key"));
    sa["private_key"] = json!("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n");
    assert!(refused(sa.clone()).contains("base64"));
    sa.as_object_mut().unwrap().remove("private_key");
    assert!(refused(sa).contains("`private_key`"));
    let mut sa: Value = serde_json::from_str(SERVICE_ACCOUNT).unwrap();
    sa["token_uri"] = json!("file:///etc/passwd");
    assert!(refused(sa).contains("token_uri"));
    assert!(
        refused(json!({"type": "external_account", "audience": "x"})).contains("external_account")
    );
}

#[test]
fn an_inline_object_and_an_escaped_key_read_the_same() {
    let mut sa: Value = serde_json::from_str(SERVICE_ACCOUNT).unwrap();
    // Pasted into a one-line secret, the PEM's newlines arrive as `\n` characters.
    let escaped = sa["private_key"].as_str().unwrap().replace('\n', "\\n");
    sa["private_key"] = json!(escaped);
    let c = GoogleCredentials::parse(&sa).unwrap();
    assert_eq!(c.project(), Some("switchyard-test"));
    assert_eq!(
        c.assertion(AT_2026_MS, &RsaCrateSigner)
            .now_or_never()
            .unwrap()
            .unwrap(),
        OPENSSL_JWT.trim()
    );
}

#[test]
fn a_token_answer_lasts_what_it_says() {
    let t = read_token(
        br#"{"access_token":"ya29.a0","expires_in":3599,"token_type":"Bearer"}"#,
        1000.0,
    )
    .unwrap();
    assert_eq!(t.token, "ya29.a0");
    assert_eq!(t.expires_at_ms, 1000.0 + 3_599_000.0);
    assert!(read_token(br#"{"id_token":"x"}"#, 0.0).is_err());
    assert!(read_token(b"{\"access_token\":\"a\\nb\"}", 0.0).is_err());
    let (code, text) =
        refusal(br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#);
    assert_eq!(code.as_deref(), Some("invalid_grant"));
    assert_eq!(text, "Invalid JWT Signature.");
}

#[test]
fn printing_credentials_shows_who_not_the_secrets() {
    let printed = format!("{:?}", account());
    assert!(printed.contains("router@switchyard-test"), "{printed}");
    assert!(
        !printed.contains("PRIVATE KEY") && !printed.contains("MII"),
        "{printed}"
    );
}

#[test]
fn a_pkcs1_key_is_wrapped_into_pkcs8_and_signs_the_same() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let mut sa: Value = serde_json::from_str(SERVICE_ACCOUNT).unwrap();
    let pkcs8 = pkcs8_der(sa["private_key"].as_str().unwrap()).unwrap();
    let key = rsa::PrivateKey::from_pkcs8_der(&pkcs8).unwrap();
    let pkcs1 = key.to_pkcs1_der().unwrap();
    let body = Base64::encode_string(pkcs1.as_bytes());
    sa["private_key"] = json!(format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\n"
    ));
    let c = GoogleCredentials::parse(&sa).unwrap();
    let jwt = c
        .assertion(AT_2026_MS, &RsaCrateSigner)
        .now_or_never()
        .unwrap()
        .unwrap();
    assert_eq!(jwt, OPENSSL_JWT.trim());
}
