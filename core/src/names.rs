//! Names as clients and configs write them: wildcard patterns (`openai/*`, `claude-*`) and the
//! characters a name may not hold.

/// `pattern` with `*` matching any run of characters: what the `*`s matched, joined, or
/// `None` when `name` does not match (or the `*`s would match nothing).
pub fn glob(pattern: &str, name: &str) -> Option<String> {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = parts.split_first()?;
    let mut at = name.strip_prefix(first)?;
    let mut matched = String::new();
    for (i, part) in rest.iter().enumerate() {
        let last = i == rest.len() - 1;
        let found = if last {
            at.ends_with(part).then(|| at.len() - part.len())
        } else {
            at.find(part)
        }?;
        matched.push_str(&at[..found]);
        at = &at[found + part.len()..];
    }
    (!matched.is_empty()).then_some(matched)
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
    fn globs_match_prefixes_suffixes_and_everything() {
        assert_eq!(glob("*", "gpt-4o"), Some("gpt-4o".into()));
        assert_eq!(glob("openai/*", "openai/gpt-4o"), Some("gpt-4o".into()));
        assert_eq!(glob("claude-*", "claude-3-haiku"), Some("3-haiku".into()));
        assert_eq!(glob("a*-x", "abc-x"), Some("bc".into()));
        assert_eq!(glob("openai/*", "groq/x"), None);
        assert_eq!(
            glob("openai/*", "openai/"),
            None,
            "the star matches something"
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
