//! What must never be shown: credentials inside an `api_base` and the router's own secret values
//! echoed back by an upstream. Everything that reaches a client, a log line or the dashboard and
//! could carry one goes through here.

use crate::config::Deployment;

/// An `api_base` fit to show: no `user:password@`, no query string (Azure-style `?key=` or
/// signed URLs), no fragment.
pub fn public_base(api_base: &str) -> String {
    let cut = api_base.find(['?', '#']).unwrap_or(api_base.len());
    let base = &api_base[..cut];
    let Some(scheme_end) = base.find("://") else {
        return base.to_string();
    };
    let rest = &base[scheme_end + 3..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{}{}", &base[..scheme_end + 3], &rest[at + 1..]),
        None => base.to_string(),
    }
}

/// The secret values a deployment's calls carry: what an upstream could echo back.
pub fn secrets_of(d: &Deployment) -> Vec<&str> {
    let mut out: Vec<&str> = [d.api_key.as_deref(), d.azure_ad_token.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if let Some(aws) = &d.aws {
        out.push(&aws.secret_access_key);
        out.extend(aws.session_token.as_deref());
    }
    if let Some(userinfo) = userinfo(&d.api_base) {
        out.push(userinfo);
        out.extend(userinfo.split_once(':').map(|(_, password)| password));
    }
    out
}

fn userinfo(api_base: &str) -> Option<&str> {
    let rest = &api_base[api_base.find("://")? + 3..];
    let host = &rest[..rest.find('/').unwrap_or(rest.len())];
    host.rfind('@').map(|at| &host[..at])
}

/// `text` with every occurrence of each secret (of 6 characters or more: shorter values would
/// match ordinary words) replaced by `[redacted]`.
pub fn scrub(text: &[u8], secrets: &[&str]) -> Vec<u8> {
    let mut out = text.to_vec();
    for s in secrets.iter().filter(|s| s.len() >= 6) {
        out = replace_all(&out, s.as_bytes(), b"[redacted]");
    }
    out
}

fn replace_all(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Whether a name, id or tag holds a control character (a line break in a header value
/// splits the response; a `\r` makes it unsendable).
pub fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_base_drops_credentials_and_queries() {
        assert_eq!(
            public_base("https://user:pa55@host.example/v1?key=abc#x"),
            "https://host.example/v1"
        );
        assert_eq!(
            public_base("https://host.example/v1/a@b"),
            "https://host.example/v1/a@b"
        );
        assert_eq!(public_base("http://127.0.0.1:9/x"), "http://127.0.0.1:9/x");
        assert_eq!(public_base(""), "");
    }

    #[test]
    fn scrub_replaces_every_secret() {
        let out = scrub(
            b"bad key sk-secret-123 (sk-secret-123) ok",
            &["sk-secret-123", "abc"],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "bad key [redacted] ([redacted]) ok"
        );
    }

    #[test]
    fn control_characters_are_found() {
        assert!(has_control("a\nb"));
        assert!(has_control("a\rb"));
        assert!(has_control("a\u{7f}"));
        assert!(!has_control("gpt-4o mini/é"));
    }
}
