//! Runtime deployment changes (`/model/new`, `/model/update`, `/model/delete`) shared by every
//! isolate: saved, versioned, in the `deployments` Durable Object. An isolate loads the saved
//! list before its first request, checks for a newer one at most every `CHECK_MS` (after a
//! response, never before one), and saves its own changes before answering the admin call.

use crate::state_backend::BINDING;
use crate::state_object::{DeploymentsChange, SavedDeployments};
use std::cell::Cell;
use switchyard_core::{Error, Router};
use wasm_bindgen::JsValue;
use worker::{Env, Method, Request, RequestInit};

/// How stale an isolate's model list may get, in ms.
pub const CHECK_MS: f64 = 2_000.0;
const OBJECT: &str = "deployments";

pub struct DeploymentsSync {
    env: Env,
    /// The saved version this isolate's list matches (0: the config's own list).
    version: Cell<u64>,
    /// `Router::generation` when the list last matched `version`.
    generation: Cell<u64>,
    checked_at: Cell<f64>,
    loaded: Cell<bool>,
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal {
        message: format!("deployments: {e}"),
    }
}

impl DeploymentsSync {
    pub fn new(env: Env) -> Self {
        DeploymentsSync {
            env,
            version: Cell::new(0),
            generation: Cell::new(0),
            checked_at: Cell::new(f64::MIN),
            loaded: Cell::new(false),
        }
    }

    async fn call(
        &self,
        method: Method,
        body: Option<String>,
    ) -> Result<(u16, SavedDeployments), Error> {
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
        let saved = serde_json::from_slice(&bytes).map_err(internal)?;
        Ok((status, saved))
    }

    fn apply(&self, router: &Router, saved: SavedDeployments) {
        if saved.version > self.version.get() {
            if let Err(e) = router.set_model_list(saved.model_list) {
                worker::console_error!("switchyard: saved deployments rejected: {}", e.message());
            }
            self.version.set(saved.version);
        }
        self.generation.set(router.generation());
        self.checked_at.set(js_sys::Date::now());
    }

    /// Before the first request: take the saved list, if any.
    pub async fn load_once(&self, router: &Router) {
        if self.loaded.replace(true) {
            return;
        }
        match self.call(Method::Get, None).await {
            Ok((_, saved)) => self.apply(router, saved),
            Err(e) => worker::console_error!("switchyard: {}", e.message()),
        }
    }

    /// After a config reload: the new router has the config's list, so take the saved list
    /// again on the next request.
    pub fn rebase(&self) {
        self.version.set(0);
        self.generation.set(0);
        self.loaded.set(false);
    }

    pub fn check_due(&self) -> bool {
        js_sys::Date::now() - self.checked_at.get() >= CHECK_MS
    }

    /// Takes a newer saved list, if there is one.
    pub async fn refresh(&self, router: &Router) {
        self.checked_at.set(js_sys::Date::now());
        if let Ok((_, saved)) = self.call(Method::Get, None).await {
            self.apply(router, saved);
        }
    }

    /// Saves this isolate's change to the list, if it made one. A concurrent change elsewhere
    /// wins: this isolate takes it and the caller gets a 409 to retry.
    pub async fn save_if_changed(&self, router: &Router) -> Result<(), Error> {
        if router.generation() == self.generation.get() {
            return Ok(());
        }
        let change = DeploymentsChange {
            base_version: self.version.get(),
            model_list: router.model_list_source(),
        };
        let body = serde_json::to_string(&change).map_err(internal)?;
        let (status, saved) = self.call(Method::Put, Some(body)).await?;
        if status == 409 {
            self.version.set(0);
            self.apply(router, saved);
            return Err(Error::Conflict {
                message: "The deployments were changed elsewhere at the same time; this change was not saved. Retry it.".into(),
            });
        }
        self.version.set(saved.version);
        self.generation.set(router.generation());
        Ok(())
    }
}
