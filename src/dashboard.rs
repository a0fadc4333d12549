//! The dashboard (`www/`), embedded in the Worker: no assets binding and no build step. The page
//! is static; everything it shows comes from the admin API with the master key.

use switchyard_core::{HttpBody, HttpResponse};

const INDEX: &str = include_str!("../www/index.html");
const APP: &str = include_str!("../www/app.js");
const STYLE: &str = include_str!("../www/style.css");

/// The dashboard file for `path`, if it is one.
pub fn serve(path: &str) -> Option<HttpResponse> {
    let (body, content_type) = match path {
        "/" | "/dashboard" | "/dashboard/" => (INDEX, "text/html; charset=utf-8"),
        "/dashboard/app.js" => (APP, "text/javascript; charset=utf-8"),
        "/dashboard/style.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return None,
    };
    let mut page = HttpResponse::json(200, body.as_bytes().to_vec());
    page.headers = vec![
        ("content-type", content_type.into()),
        ("cache-control", "no-cache".into()),
        ("x-content-type-options", "nosniff".into()),
        ("referrer-policy", "no-referrer".into()),
        (
            "content-security-policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'".into(),
        ),
    ];
    debug_assert!(matches!(page.body, HttpBody::Bytes(_)));
    Some(page)
}
