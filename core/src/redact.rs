//! What must never be shown: credentials inside an `api_base` and the router's own secret values
//! echoed back by an upstream. Everything that reaches a client, a log line or the dashboard and
//! could carry one goes through here.

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
}
