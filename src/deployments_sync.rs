//! Runtime deployment changes (`/model/new`, `/model/update`, `/model/delete`, `/model/reset`)
//! shared by every isolate: an overlay over the config's own list, saved and versioned in the
//! `deployments` Durable Object. The core saves a change through [`DurableDeployments`] before
//! putting it in force; an isolate loads the saved overlay before its first request and checks
//! for a newer one at most every `CHECK_MS` (after a response, never before one).

use crate::host::executor::now;
use crate::log;
use crate::state_backend::call;
use std::cell::Cell;
use switchyard_core::ports::{DeploymentStore, LocalFuture, SaveOutcome, SavedOverlay};
use switchyard_core::router::Overlay;
use switchyard_core::{Error, Router};

/// How stale an isolate's model list may get, in ms.
pub const CHECK_MS: f64 = 2_000.0;
const OBJECT: &str = "deployments";

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal {
        message: format!("deployments: {e}"),
    }
}

/// A change: the new overlay and the version it was made from (what `PUT /deployments` takes).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct DeploymentsChange {
    pub base_version: u64,
    pub overlay: Overlay,
}

/// The `deployments` Durable Object as the core's [`DeploymentStore`].
#[derive(Clone)]
pub struct DurableDeployments;

impl DurableDeployments {
    async fn call(&self, method: &str, body: &str) -> Result<(u16, SavedOverlay), Error> {
        let (status, bytes) = call(OBJECT, method, "/deployments", body)
            .await
            .map_err(internal)?;
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
        Box::pin(async move { this.call("GET", "").await.map(|(_, s)| s) })
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
            let (status, saved) = this.call("PUT", &body).await?;
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
    pub fn new() -> Self {
        DeploymentsSync {
            store: DurableDeployments,
            checked_at: Cell::new(f64::MIN),
            loaded: Cell::new(false),
        }
    }

    pub fn store(&self) -> DurableDeployments {
        self.store.clone()
    }

    fn take(&self, router: &Router, saved: SavedOverlay) {
        if let Err(e) = router.take_saved(saved) {
            log::error(&format!(
                "switchyard: the saved deployment changes do not fit this config, keeping the config's list: {}",
                e.message()
            ));
        }
        self.checked_at.set(now());
    }

    /// Before the first request: take the saved overlay, if any.
    pub async fn load_once(&self, router: &Router) {
        if self.loaded.replace(true) {
            return;
        }
        match self.store.load().await {
            Ok(saved) => self.take(router, saved),
            Err(e) => log::error(&format!("switchyard: {}", e.message())),
        }
    }

    /// After a config reload: the new router has only the config's list, so take the saved
    /// overlay again on the next request.
    pub fn rebase(&self) {
        self.loaded.set(false);
    }

    pub fn check_due(&self) -> bool {
        now() - self.checked_at.get() >= CHECK_MS
    }

    /// Takes a newer saved overlay, if there is one.
    pub async fn refresh(&self, router: &Router) {
        self.checked_at.set(now());
        if let Ok(saved) = self.store.load().await {
            self.take(router, saved);
        }
    }
}
