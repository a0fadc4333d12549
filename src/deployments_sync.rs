//! Runtime deployment changes (`/model/new`, `/model/update`, `/model/delete`, `/model/reset`)
//! shared by every isolate: an overlay over the config's own list, saved and versioned in the
//! `deployments` Durable Object. The core saves a change through [`DurableDeployments`] before
//! putting it in force; an isolate loads the saved overlay before its first request and checks
//! for a newer one at most every `CHECK_MS` (after a response, never before one).

use crate::state_backend::BINDING;
use crate::state_object::DeploymentsChange;
use std::cell::Cell;
use switchyard_core::ports::{DeploymentStore, LocalFuture, SaveOutcome, SavedOverlay};
use switchyard_core::router::Overlay;
use switchyard_core::{Error, Router};
use wasm_bindgen::JsValue;
use worker::{Env, Method, Request, RequestInit};

/// How stale an isolate's model list may get, in ms.
pub const CHECK_MS: f64 = 2_000.0;
const OBJECT: &str = "deployments";

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal {
        message: format!("deployments: {e}"),
    }
}

/// The `deployments` Durable Object as the core's [`DeploymentStore`].
#[derive(Clone)]
pub struct DurableDeployments {
    pub env: Env,
}

impl DurableDeployments {
    async fn call(
        &self,
        method: Method,
        body: Option<String>,
    ) -> Result<(u16, SavedOverlay), Error> {
        let stub = self
            .env
            .durable_object(BINDING)
            .and_then(|ns| ns.get_by_name(OBJECT))
            .map_err(internal)?;
        let mut init = RequestInit::new();
        init.with_method(method)
            .with_body(body.map(|b| JsValue::from_str(&b)));
        let req =
            Request::new_with_init("https://router-state/deployments", &init).map_err(internal)?;
        let mut resp = stub.fetch_with_request(req).await.map_err(internal)?;
        let status = resp.status_code();
        let bytes = resp.bytes().await.map_err(internal)?;
        if !(200..300).contains(&status) && status != 409 {
            return Err(internal(format!(
                "the deployments object answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            )));
        }
        let saved = serde_json::from_slice(&bytes).map_err(internal)?;
        Ok((status, saved))
    }
}

impl DeploymentStore for DurableDeployments {
    fn load(&self) -> LocalFuture<Result<SavedOverlay, Error>> {
        let this = self.clone();
        Box::pin(async move { this.call(Method::Get, None).await.map(|(_, s)| s) })
    }

    fn save(
        &self,
        base_version: u64,
        overlay: &Overlay,
    ) -> LocalFuture<Result<SaveOutcome, Error>> {
        let this = self.clone();
        let change = DeploymentsChange {
            base_version,
            overlay: overlay.clone(),
        };
        Box::pin(async move {
            let body = serde_json::to_string(&change).map_err(internal)?;
            let (status, saved) = this.call(Method::Put, Some(body)).await?;
            Ok(if status == 409 {
                SaveOutcome::Conflict(saved)
            } else {
                SaveOutcome::Saved(saved)
            })
        })
    }
}

/// When this isolate last took the saved overlay.
pub struct DeploymentsSync {
    store: DurableDeployments,
    checked_at: Cell<f64>,
    loaded: Cell<bool>,
}

impl DeploymentsSync {
    pub fn new(env: Env) -> Self {
        DeploymentsSync {
            store: DurableDeployments { env },
            checked_at: Cell::new(f64::MIN),
            loaded: Cell::new(false),
        }
    }

    pub fn store(&self) -> DurableDeployments {
        self.store.clone()
    }

    fn take(&self, router: &Router, saved: SavedOverlay) {
        if let Err(e) = router.take_saved(saved) {
            worker::console_error!(
                "switchyard: the saved deployment changes do not fit this config, keeping the config's list: {}",
                e.message()
            );
        }
        self.checked_at.set(js_sys::Date::now());
    }

    /// Before the first request: take the saved overlay, if any.
    pub async fn load_once(&self, router: &Router) {
        if self.loaded.replace(true) {
            return;
        }
        match self.store.load().await {
            Ok(saved) => self.take(router, saved),
            Err(e) => worker::console_error!("switchyard: {}", e.message()),
        }
    }

    /// After a config reload: the new router has only the config's list, so take the saved
    /// overlay again on the next request.
    pub fn rebase(&self) {
        self.loaded.set(false);
    }

    pub fn check_due(&self) -> bool {
        js_sys::Date::now() - self.checked_at.get() >= CHECK_MS
    }

    /// Takes a newer saved overlay, if there is one.
    pub async fn refresh(&self, router: &Router) {
        self.checked_at.set(js_sys::Date::now());
        if let Ok(saved) = self.store.load().await {
            self.take(router, saved);
        }
    }
}
