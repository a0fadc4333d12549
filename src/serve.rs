//! One request, as a task: the config and the saved deployment changes first (once per
//! isolate), then the core's two halves with the body read between them, then the answer and
//! the work for after it (each a background task JavaScript hands to `waitUntil`).

use crate::convert::{read_body, respond};
use crate::host::executor::{current, now, spawn_background};
use crate::isolate::Isolate;
use crate::log;
use std::rc::Rc;
use switchyard_core::{App, HttpRequest, HttpResponse};

/// How long after a request starts its shared-state report may go out.
const SYNC_AFTER_START_MS: u64 = 50;

pub async fn serve(isolate: Rc<Isolate>, mut req: HttpRequest) {
    let (task, _) = current();
    if let Some(reload) = &isolate.reload {
        if let Some(text) = reload.first_load().await {
            isolate.replace_app(&text);
        }
    }
    let app = isolate.app();
    if let (Some(sync), Some(router)) = (&isolate.deployments, app.router()) {
        sync.load_once(router).await;
    }
    // A sync that starts shortly after this request's call does, so other isolates learn of
    // calls in flight (least-busy, max_parallel_requests) before they end.
    if let Some(job) = isolate
        .view
        .as_ref()
        .and_then(|v| v.sync_job(SYNC_AFTER_START_MS))
    {
        spawn_background(job);
    }
    // Route and key first: a request refused on its headers is answered before its body is read.
    let begun = app.begin(&req).await;
    if !App::refused(&begun) {
        if let Err(e) = read_body(task, &mut req, app.max_body_bytes(), app.body_timeout_ms()).await
        {
            return respond(task, HttpResponse::from_error(&e));
        }
    }
    let method = req.method.clone();
    let path = req.path.clone();
    let started = now();
    let mut resp = app.finish(req, begun).await;
    for job in std::mem::take(&mut resp.background) {
        spawn_background(job);
    }
    if let Some(stream_log) = resp.stream_log.take() {
        spawn_background(async move {
            if let Some(line) = stream_log.await {
                log::info(&line);
            }
        });
    }
    after_response(&isolate, &app);
    if resp.status >= 500 || app.request_log() {
        let line = switchyard_core::api::log_line(&method, &path, &resp, now() - started);
        if resp.status >= 500 {
            log::error(&line);
        } else {
            log::info(&line);
        }
    }
    respond(task, resp);
}

/// What an isolate catches up on after a response, never in its place: other isolates' admin
/// changes (its own were saved inside their operation), the outcomes to report to the shards,
/// a changed config in KV.
fn after_response(isolate: &Rc<Isolate>, app: &Rc<App>) {
    if isolate
        .deployments
        .as_ref()
        .is_some_and(|s| s.check_due() && app.router().is_some())
    {
        let app = app.clone();
        let isolate = isolate.clone();
        spawn_background(async move {
            if let (Some(sync), Some(router)) = (&isolate.deployments, app.router()) {
                sync.refresh(router).await;
            }
        });
    }
    if let Some(job) = isolate.view.as_ref().and_then(|v| v.sync_job(0)) {
        spawn_background(job);
    }
    if isolate.reload.as_ref().is_some_and(|r| r.due()) {
        let isolate = isolate.clone();
        spawn_background(async move {
            let changed = match &isolate.reload {
                Some(reload) => reload.check().await,
                None => None,
            };
            if let Some(text) = changed {
                isolate.replace_app(&text);
            }
        });
    }
}
