//! The README's provider list is the provider table's: every prefix the core knows has its row,
//! and every row names a prefix the core knows (a renamed or removed provider fails here).

// Test code: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use switchyard_core::provider::PROVIDERS;

fn providers_section() -> String {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(readme).expect("README.md");
    let start = text.find("### Providers").expect("a Providers section");
    let rest = &text[start..];
    let end = rest[4..].find("\n### ").map_or(rest.len(), |i| i + 4);
    rest[..end].to_string()
}

#[test]
fn the_readme_lists_every_provider_prefix() {
    let section = providers_section();
    let rows: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('/').map(|(name, _)| name))
        .collect();
    for p in PROVIDERS {
        assert!(
            rows.contains(&p.name),
            "the README's provider table lacks `{}/`",
            p.name
        );
    }
    for name in &rows {
        assert!(
            PROVIDERS.iter().any(|p| p.name == *name),
            "the README lists `{name}/`, which the core does not know"
        );
    }
    assert_eq!(rows.len(), PROVIDERS.len(), "a prefix listed twice");
}
