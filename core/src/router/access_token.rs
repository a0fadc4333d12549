//! Access tokens for deployments whose provider takes OAuth (Vertex AI): fetched from the
//! credentials' token endpoint, kept in this isolate until shortly before they expire, and
//! fetched once for all the requests that need one at the same moment.

use crate::error::{Error, ErrorClass};
use crate::google_auth::{self, AccessToken, GoogleCredentials};
use crate::ports::{Clock, LocalFuture, Rs256Signer, Upstream, UpstreamBody};
use futures::future::{select, Either, FutureExt, Shared};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A token is renewed this long before it expires, so no call goes out with one that lapses
/// on the way (google-auth renews at 3 min 45 s).
pub const RENEW_BEFORE_MS: f64 = 300_000.0;

type Fetch = Shared<LocalFuture<Result<AccessToken, Error>>>;

enum Entry {
    Ready(AccessToken),
    /// A fetch in flight: later callers wait for it instead of starting their own.
    Fetching(Fetch),
}

/// The tokens this isolate holds, by credentials, and what signs a service account's requests
/// for them.
pub struct AccessTokens {
    entries: Rc<RefCell<HashMap<String, Entry>>>,
    signer: Rc<dyn Rs256Signer>,
}

impl Default for AccessTokens {
    fn default() -> Self {
        AccessTokens::new(google_auth::default_signer())
    }
}

impl AccessTokens {
    pub fn new(signer: Rc<dyn Rs256Signer>) -> Self {
        AccessTokens {
            entries: Rc::default(),
            signer,
        }
    }

    /// A token for `credentials` that is good for a while yet, fetched within `timeout_ms` if
    /// none is held.
    pub async fn get(
        &self,
        credentials: &GoogleCredentials,
        upstream: &Rc<dyn Upstream>,
        clock: &Rc<dyn Clock>,
        timeout_ms: u64,
    ) -> Result<String, Error> {
        let key = credentials.identity();
        let now = clock.now_ms();
        let fetch = {
            let mut entries = self.entries.borrow_mut();
            match entries.get(&key) {
                Some(Entry::Ready(t)) if t.expires_at_ms - RENEW_BEFORE_MS > now => {
                    return Ok(t.token.clone());
                }
                Some(Entry::Fetching(f)) => f.clone(),
                _ => {
                    let f = fetch(
                        credentials.clone(),
                        self.signer.clone(),
                        upstream.clone(),
                        clock.clone(),
                        timeout_ms,
                    )
                    .shared();
                    entries.insert(key.clone(), Entry::Fetching(f.clone()));
                    f
                }
            }
        };
        let result = fetch.await;
        let mut entries = self.entries.borrow_mut();
        // The first waiter back files the answer; a failure is not kept (the next request tries
        // again, and the deployment's cooldown spaces those tries out).
        if matches!(entries.get(&key), Some(Entry::Fetching(_))) {
            match &result {
                Ok(t) => {
                    entries.insert(key, Entry::Ready(t.clone()));
                }
                Err(_) => {
                    entries.remove(&key);
                }
            }
        }
        result.map(|t| t.token)
    }

    /// Forgets the token held for `credentials` (the provider refused it).
    pub fn forget(&self, credentials: &GoogleCredentials) {
        self.entries.borrow_mut().remove(&credentials.identity());
    }
}

/// One exchange at the token endpoint.
fn fetch(
    credentials: GoogleCredentials,
    signer: Rc<dyn Rs256Signer>,
    upstream: Rc<dyn Upstream>,
    clock: Rc<dyn Clock>,
    timeout_ms: u64,
) -> LocalFuture<Result<AccessToken, Error>> {
    Box::pin(async move {
        let req = credentials.token_request(clock.now_ms(), &*signer).await?;
        let url = req.url.clone();
        let resp = match select(upstream.send(req), clock.sleep(timeout_ms)).await {
            Either::Left((Ok(r), _)) => r,
            Either::Left((Err(e), _)) => {
                return Err(Error::UpstreamUnreachable {
                    message: format!("Could not reach the token endpoint {url}: {}", e.message),
                })
            }
            Either::Right(_) => {
                return Err(Error::UpstreamTimeout {
                    after_ms: timeout_ms,
                })
            }
        };
        let status = resp.status;
        let body = match resp.body {
            UpstreamBody::Full(b) => b,
            UpstreamBody::Stream(s) => futures::StreamExt::collect::<Vec<_>>(s)
                .await
                .into_iter()
                .flatten()
                .flatten()
                .collect(),
        };
        let body = crate::redact::scrub(&body, &credentials.secrets());
        if (200..300).contains(&status) {
            return google_auth::read_token(&body, clock.now_ms())
                .map_err(|message| refused(502, ErrorClass::InternalServer, &url, None, &message));
        }
        let (code, text) = google_auth::refusal(&body);
        // Refused credentials are the deployment's fault, never the client's: a 401 that
        // cools it down and lets the router fall back. Anything else is the endpoint failing.
        let (status, class) = if (400..500).contains(&status) && status != 429 {
            (401, ErrorClass::Authentication)
        } else if status == 429 {
            (429, ErrorClass::RateLimit)
        } else {
            (503, ErrorClass::InternalServer)
        };
        Err(refused(status, class, &url, code.as_deref(), &text))
    })
}

/// The error for a failed exchange, OpenAI-shaped.
fn refused(status: u16, class: ErrorClass, url: &str, code: Option<&str>, text: &str) -> Error {
    let kind = if class == ErrorClass::Authentication {
        "authentication_error"
    } else {
        "api_error"
    };
    let message =
        format!("The Vertex AI credentials could not get an access token from {url}: {text}");
    Error::Upstream {
        status,
        class,
        body: crate::adapter::openai_error(&message, kind, code.or(Some("token_exchange_failed")))
            .to_string()
            .into_bytes(),
        retry_after_ms: None,
    }
}

impl super::attempt::Calls {
    /// Adds the access token `d`'s provider takes (Vertex AI) to `req`, fetching one within
    /// `timeout_ms` if none is held.
    pub(super) async fn authorize(
        &self,
        d: &crate::config::Deployment,
        req: &mut crate::ports::UpstreamRequest,
        timeout_ms: u64,
    ) -> Result<(), Error> {
        let Some(v) = &d.vertex else {
            return Ok(());
        };
        let token = self
            .tokens
            .get(&v.credentials, &self.upstream, &self.clock, timeout_ms)
            .await?;
        req.headers
            .push(("authorization", format!("Bearer {token}")));
        Ok(())
    }

    /// Drops `d`'s token after the provider refused it (revoked, or the clock was off), so the
    /// next call gets a fresh one.
    pub(super) fn token_refused(&self, d: &crate::config::Deployment, status: u16) {
        if let (Some(v), 401) = (&d.vertex, status) {
            self.tokens.forget(&v.credentials);
        }
    }
}
