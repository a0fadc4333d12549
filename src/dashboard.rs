//! The dashboard (`www/`), embedded in the Worker: no assets binding and no build step. The page
//! is static; everything it shows comes from the admin API with the master key.

use worker::{Headers, Response, ResponseBuilder};

const INDEX: &str = include_str!("../www/index.html");
const APP: &str = include_str!("../www/app.js");
const STYLE: &str = include_str!("../www/style.css");

/// The dashboard file for `path`, if it is one.
pub fn serve(path: &str) -> Option<worker::Result<Response>> {
    let (body, content_type) = match path {
        "/" | "/dashboard" | "/dashboard/" => (INDEX, "text/html; charset=utf-8"),
        "/dashboard/app.js" => (APP, "text/javascript; charset=utf-8"),
        "/dashboard/style.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return None,
    };
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v);
    let result = set("content-type", content_type)
        .and_then(|_| set("cache-control", "no-cache"))
        .and_then(|_| set("x-content-type-options", "nosniff"))
        .and_then(|_| set("referrer-policy", "no-referrer"))
        .and_then(|_| {
            set(
                "content-security-policy",
                "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
            )
        });
    Some(result.map(|_| {
        ResponseBuilder::new()
            .with_headers(headers)
            .fixed(body.as_bytes().to_vec())
    }))
}
