//! Google's OAuth 2.0 for Vertex AI, from the credentials JSON a LiteLLM user already has
//! (`vertex_credentials`): a service account's key signs an RS256 JWT that Google's token
//! endpoint exchanges for an access token (RFC 7523); an `authorized_user` file (what
//! `gcloud auth application-default login` writes) trades its refresh token. Pure: this writes
//! the token request and reads the answer; `router/access_token.rs` makes the call and keeps the
//! token until it expires.

use crate::error::Error;
use crate::ports::{LocalFuture, Rs256Signer, UpstreamRequest};
use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use der::{Decode, Encode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The scope Vertex AI's API takes.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's token endpoint, when the credentials name none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// How long a signed assertion is good for: Google takes at most an hour.
const ASSERTION_SECS: u64 = 3600;

/// Credentials read from a credentials JSON, checked when the config is loaded (a key that does
/// not parse leaves its deployment out, instead of failing every request).
#[derive(Clone, PartialEq)]
pub enum GoogleCredentials {
    ServiceAccount {
        client_email: String,
        /// The PEM as written; parsed again at each signing (about once an hour).
        private_key: String,
        private_key_id: Option<String>,
        token_uri: String,
        project_id: Option<String>,
    },
    AuthorizedUser {
        client_id: String,
        client_secret: String,
        refresh_token: String,
        token_uri: String,
        quota_project_id: Option<String>,
    },
}

/// Names who the credentials are, never their secrets (a Deployment may be printed).
impl std::fmt::Debug for GoogleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GoogleCredentials({})", self.identity())
    }
}

#[derive(Deserialize)]
struct CredentialsFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
    project_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
    quota_project_id: Option<String>,
}

/// An access token and when it stops working.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessToken {
    pub token: String,
    pub expires_at_ms: f64,
}

impl GoogleCredentials {
    /// Reads `vertex_credentials`: the JSON itself (a string, as a secret holds it, or an object
    /// written inline in the config). A file path cannot be read at the edge: it is refused with
    /// a message that says what to do instead.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let parsed: Result<CredentialsFile, _> = match value {
            Value::String(s) => {
                let text = s.trim();
                if !text.starts_with('{') {
                    return Err(
                        "must be the credentials JSON itself (put the file's contents in a secret and write `os.environ/NAME`); a file path cannot be read at the edge"
                            .to_string(),
                    );
                }
                serde_json::from_str(text)
            }
            Value::Object(_) => serde_json::from_value(value.clone()),
            _ => return Err("must be the credentials JSON (a string or an object)".to_string()),
        };
        let f = parsed.map_err(|e| format!("is not a credentials JSON: {e}"))?;
        let token_uri = f
            .token_uri
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string());
        if !(token_uri.starts_with("https://") || token_uri.starts_with("http://")) {
            return Err(format!(
                "token_uri must be an http(s) URL, got `{token_uri}`"
            ));
        }
        let need = |field: Option<String>, name: &str, kind: &str| {
            field
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("a {kind} credentials JSON needs `{name}`"))
        };
        match f.kind.as_deref().unwrap_or("service_account") {
            "service_account" => {
                let kind = "service_account";
                let private_key = need(f.private_key, "private_key", kind)?;
                pkcs8_der(&private_key)?;
                Ok(GoogleCredentials::ServiceAccount {
                    client_email: need(f.client_email, "client_email", kind)?,
                    private_key,
                    private_key_id: f.private_key_id.filter(|k| !k.is_empty()),
                    token_uri,
                    project_id: f.project_id.filter(|p| !p.is_empty()),
                })
            }
            "authorized_user" => {
                let kind = "authorized_user";
                Ok(GoogleCredentials::AuthorizedUser {
                    client_id: need(f.client_id, "client_id", kind)?,
                    client_secret: need(f.client_secret, "client_secret", kind)?,
                    refresh_token: need(f.refresh_token, "refresh_token", kind)?,
                    token_uri,
                    quota_project_id: f.quota_project_id.filter(|p| !p.is_empty()),
                })
            }
            other => Err(format!(
                "credentials of type `{other}` are not supported at the edge; use a service_account or authorized_user JSON"
            )),
        }
    }

    /// The project the credentials belong to, for a deployment that names none.
    pub fn project(&self) -> Option<&str> {
        match self {
            GoogleCredentials::ServiceAccount { project_id, .. } => project_id.as_deref(),
            GoogleCredentials::AuthorizedUser {
                quota_project_id, ..
            } => quota_project_id.as_deref(),
        }
    }

    /// What tells two credentials apart in the token cache (never a secret).
    pub fn identity(&self) -> String {
        match self {
            GoogleCredentials::ServiceAccount {
                client_email,
                private_key_id,
                token_uri,
                ..
            } => format!(
                "sa:{client_email}:{}:{token_uri}",
                private_key_id.as_deref().unwrap_or("")
            ),
            GoogleCredentials::AuthorizedUser {
                client_id,
                refresh_token,
                token_uri,
                ..
            } => format!(
                "user:{client_id}:{}:{token_uri}",
                crate::keys::hash(refresh_token)
            ),
        }
    }

    /// The secret values in these credentials, for scrubbing what an upstream echoes.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            GoogleCredentials::ServiceAccount { private_key, .. } => vec![private_key.as_str()],
            GoogleCredentials::AuthorizedUser {
                client_secret,
                refresh_token,
                ..
            } => vec![client_secret.as_str(), refresh_token.as_str()],
        }
    }

    /// The POST to the token endpoint that gets an access token at `now_ms`.
    pub async fn token_request(
        &self,
        now_ms: f64,
        signer: &dyn Rs256Signer,
    ) -> Result<UpstreamRequest, Error> {
        let (url, form) = match self {
            GoogleCredentials::ServiceAccount { token_uri, .. } => {
                let assertion = self.assertion(now_ms, signer).await?;
                (
                    token_uri,
                    format!(
                        "grant_type={}&assertion={assertion}",
                        form_encode("urn:ietf:params:oauth:grant-type:jwt-bearer")
                    ),
                )
            }
            GoogleCredentials::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
                ..
            } => (
                token_uri,
                format!(
                    "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
                    form_encode(client_id),
                    form_encode(client_secret),
                    form_encode(refresh_token)
                ),
            ),
        };
        Ok(UpstreamRequest {
            method: "POST",
            url: url.clone(),
            headers: vec![(
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            )],
            body: form.into_bytes(),
            stream: false,
        })
    }

    /// The signed JWT a service account presents (`header.claims.signature`, each base64url).
    pub async fn assertion(&self, now_ms: f64, signer: &dyn Rs256Signer) -> Result<String, Error> {
        let GoogleCredentials::ServiceAccount {
            client_email,
            private_key,
            private_key_id,
            token_uri,
            ..
        } = self
        else {
            return Err(Error::Internal {
                message: "only a service account signs an assertion".to_string(),
            });
        };
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'a str,
            typ: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            kid: Option<&'a str>,
        }
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            scope: &'a str,
            aud: &'a str,
            iat: u64,
            exp: u64,
        }
        let iat = (now_ms / 1000.0).max(0.0) as u64;
        let header = Header {
            alg: "RS256",
            typ: "JWT",
            kid: private_key_id.as_deref(),
        };
        let claims = Claims {
            iss: client_email,
            scope: CLOUD_PLATFORM_SCOPE,
            aud: token_uri,
            iat,
            exp: iat + ASSERTION_SECS,
        };
        let part = |v: Vec<u8>| Base64UrlUnpadded::encode_string(&v);
        let json = |e: serde_json::Error| Error::Internal {
            message: format!("could not write the JWT: {e}"),
        };
        let mut out = part(serde_json::to_vec(&header).map_err(json)?);
        out.push('.');
        out.push_str(&part(serde_json::to_vec(&claims).map_err(json)?));
        let key = pkcs8_der(private_key).map_err(|message| Error::Internal { message })?;
        let signature = signer
            .sign(&key, out.as_bytes())
            .await
            .map_err(|e| Error::Internal {
                message: format!("could not sign the JWT: {e}"),
            })?;
        out.push('.');
        out.push_str(&part(signature));
        Ok(out)
    }
}

/// The key in a PEM block as PKCS#8 DER (what WebCrypto imports): a `PRIVATE KEY` block
/// (PKCS#8, as Google writes it) checked to hold an RSA key, or an `RSA PRIVATE KEY` block
/// (PKCS#1) wrapped into PKCS#8.
fn pkcs8_der(pem: &str) -> Result<Vec<u8>, String> {
    let pem = pem.replace("\\n", "\n");
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    let der = Base64::decode_vec(&body)
        .map_err(|_| "private_key is not a PEM block (its base64 does not decode)".to_string())?;
    let not_rsa = |e: &dyn std::fmt::Display| format!("private_key is not an RSA private key: {e}");
    if pem.contains("BEGIN RSA PRIVATE KEY") {
        pkcs1::RsaPrivateKeyRef::from_der(&der).map_err(|e| not_rsa(&e))?;
        let key = der::asn1::OctetStringRef::new(&der).map_err(|e| not_rsa(&e))?;
        return pkcs8::PrivateKeyInfoRef::new(pkcs1::ALGORITHM_ID, key)
            .to_der()
            .map_err(|e| not_rsa(&e));
    }
    let info = pkcs8::PrivateKeyInfoRef::from_der(&der).map_err(|e| not_rsa(&e))?;
    if info.algorithm.oid != pkcs1::ALGORITHM_OID {
        return Err(not_rsa(&format!("its algorithm is {}", info.algorithm.oid)));
    }
    pkcs1::RsaPrivateKeyRef::from_der(info.private_key.as_bytes()).map_err(|e| not_rsa(&e))?;
    Ok(der)
}

/// RS256 with the `rsa` crate (constant-time), for native builds and tests.
#[cfg(feature = "rsa-signer")]
pub struct RsaCrateSigner;

#[cfg(feature = "rsa-signer")]
impl Rs256Signer for RsaCrateSigner {
    fn sign(&self, pkcs8: &[u8], message: &[u8]) -> LocalFuture<Result<Vec<u8>, String>> {
        use rsa::pkcs8::DecodePrivateKey;
        use rsa::signature::{SignatureEncoding, Signer};
        let signed = rsa::PrivateKey::from_pkcs8_der(pkcs8)
            .map_err(|e| e.to_string())
            .and_then(|key| {
                rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key)
                    .try_sign(message)
                    .map(|s| s.to_vec())
                    .map_err(|e| e.to_string())
            });
        Box::pin(std::future::ready(signed))
    }
}

/// The signer a router uses when the host gives none: the `rsa` crate where it is built in,
/// else one that says the host must give one.
pub fn default_signer() -> std::rc::Rc<dyn Rs256Signer> {
    #[cfg(feature = "rsa-signer")]
    {
        std::rc::Rc::new(RsaCrateSigner)
    }
    #[cfg(not(feature = "rsa-signer"))]
    {
        struct Missing;
        impl Rs256Signer for Missing {
            fn sign(&self, _: &[u8], _: &[u8]) -> LocalFuture<Result<Vec<u8>, String>> {
                Box::pin(std::future::ready(Err(
                    "this build has no RS256 signer (Runtime.signer)".to_string(),
                )))
            }
        }
        std::rc::Rc::new(Missing)
    }
}

/// Reads the token endpoint's 2xx answer (`{access_token, expires_in, token_type}`) received
/// at `now_ms`.
pub fn read_token(body: &[u8], now_ms: f64) -> Result<AccessToken, String> {
    #[derive(Deserialize)]
    struct Answer {
        access_token: String,
        #[serde(default)]
        expires_in: Option<f64>,
    }
    let a: Answer = serde_json::from_slice(body)
        .map_err(|e| format!("the token endpoint's answer is not a token: {e}"))?;
    if a.access_token.is_empty() || crate::names::has_control(&a.access_token) {
        return Err("the token endpoint answered an unusable access_token".to_string());
    }
    // Google's tokens last an hour; one without `expires_in` is trusted for five minutes.
    let secs = a.expires_in.filter(|s| s.is_finite()).unwrap_or(300.0);
    Ok(AccessToken {
        token: a.access_token,
        expires_at_ms: now_ms + secs.max(0.0) * 1000.0,
    })
}

/// What the token endpoint's refusal says (`{"error": ..., "error_description": ...}`).
pub fn refusal(body: &[u8]) -> (Option<String>, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = v.get("error").and_then(Value::as_str).map(str::to_string);
    let text = v
        .get("error_description")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| code.clone())
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    (code, text)
}

/// `application/x-www-form-urlencoded` for one value (RFC 3986's unreserved set stays).
fn form_encode(s: &str) -> String {
    crate::sigv4::uri_encode(s, false)
}

#[cfg(test)]
mod tests;
