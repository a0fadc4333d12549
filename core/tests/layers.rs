//! The core's modules form layers: no module reaches, through `crate::` paths, a module that
//! reaches it back. Read from the source itself (test code excluded), so a new import cycle
//! fails here with the cycle named.

// Test code: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module -> the top-level modules its product code names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).expect("under src");
            let top = rel
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .map(|s| s.trim_end_matches(".rs").to_string())
                .expect("a name");
            let file = rel.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            if matches!(top.as_str(), "lib" | "testing")
                || matches!(file, "tests" | "scenarios")
                || file.ends_with("_tests")
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read file");
            // Unit tests sit at the end of a file, behind `#[cfg(test)] mod tests`.
            let product = match text.find("#[cfg(test)]\nmod tests") {
                Some(at) => &text[..at],
                None => &text,
            };
            let out = edges.entry(top.clone()).or_default();
            for (at, _) in product.match_indices("crate::") {
                let name: String = product[at + 7..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != top {
                    out.insert(name);
                }
            }
        }
    }
    edges
}

/// A path from `from` back to `to`, if there is one.
fn path_back(
    edges: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    to: &str,
    seen: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if from == to {
        return Some(vec![to.to_string()]);
    }
    if !seen.insert(from.to_string()) {
        return None;
    }
    for next in edges.get(from).into_iter().flatten() {
        if let Some(mut rest) = path_back(edges, next, to, seen) {
            rest.insert(0, from.to_string());
            return Some(rest);
        }
    }
    None
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let edges = graph();
    assert!(edges.len() > 10, "the source was read: {edges:?}");
    let mut cycles = Vec::new();
    for (module, targets) in &edges {
        for target in targets {
            if let Some(back) = path_back(&edges, target, module, &mut BTreeSet::new()) {
                cycles.push(format!("{module} -> {}", back.join(" -> ")));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_leaves_stay_leaves() {
    let edges = graph();
    // Data every layer may name: they name nothing above them.
    for (leaf, allowed) in [
        ("endpoint", &[][..]),
        ("names", &[][..]),
        ("overlay", &[][..]),
        ("error", &[][..]),
        ("trace", &[][..]),
        ("http", &["error", "ports", "relay", "trace"][..]),
    ] {
        let uses = edges.get(leaf).cloned().unwrap_or_default();
        let extra: Vec<&String> = uses
            .iter()
            .filter(|u| !allowed.contains(&u.as_str()))
            .collect();
        assert!(extra.is_empty(), "{leaf} names {extra:?}");
    }
}

/// The code block of the README's Layout section.
fn readme_layout() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    readme
        .split("## Layout")
        .nth(1)
        .and_then(|rest| rest.split("```").nth(1))
        .expect("a Layout section with a code block")
        .to_string()
}

#[test]
fn the_readme_layout_names_every_module() {
    let layout = readme_layout();
    let missing: Vec<String> = graph()
        .into_keys()
        .filter(|m| !layout.contains(&format!("{m}.rs")) && !layout.contains(&format!("{m}/")))
        .collect();
    assert!(
        missing.is_empty(),
        "modules the README's layout leaves out: {missing:?}"
    );
}

#[test]
fn each_module_names_only_modules_listed_before_it() {
    let layout = readme_layout();
    let core = layout.split("\nsrc/").next().unwrap_or(&layout);
    let edges = graph();
    // Each module's first mention in the layout is its place in the layers.
    let place = |m: &str| -> Option<usize> {
        [format!("{m}.rs"), format!("{m}/")]
            .iter()
            .filter_map(|n| {
                core.match_indices(n.as_str())
                    .find(|(at, _)| {
                        core[..*at]
                            .chars()
                            .last()
                            .is_none_or(|c| c.is_whitespace() || c == '(')
                    })
                    .map(|(at, _)| at)
            })
            .min()
    };
    let mut wrong = Vec::new();
    for (module, targets) in &edges {
        let Some(here) = place(module) else { continue };
        for t in targets {
            if place(t).is_some_and(|there| there > here) {
                wrong.push(format!("{module} names {t}, listed after it"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
