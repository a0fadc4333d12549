//! Runtime deployment changes kept apart from the config: an overlay of added or replaced
//! entries (by deployment id) and deleted ids, applied over the config's own `model_list`. A
//! redeploy whose config adds or changes deployments takes effect with the overlay still
//! applied on top, instead of being replaced by a frozen copy of the old list.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overlay {
    /// Whole `model_list` entries, each with its `model_info.id`: a config deployment with the
    /// same id is replaced in place, others are added after the config's.
    #[serde(default)]
    pub upserts: Vec<Value>,
    /// Ids of config deployments removed.
    #[serde(default)]
    pub deleted: Vec<String>,
}

/// Where a deployment in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Config,
    /// A config deployment changed at runtime.
    ConfigChanged,
    Runtime,
}

impl Origin {
    pub fn label(self) -> &'static str {
        match self {
            Origin::Config => "config",
            Origin::ConfigChanged => "config, changed at runtime",
            Origin::Runtime => "runtime",
        }
    }
}

pub fn id_of(entry: &Value) -> Option<&str> {
    entry.pointer("/model_info/id").and_then(Value::as_str)
}

impl Overlay {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deleted.is_empty()
    }

    /// The model list in force: `base` (the config's entries with their ids) with the overlay
    /// applied.
    pub fn apply(&self, base: &[(String, Value)]) -> Vec<Value> {
        let upsert = |id: &str| self.upserts.iter().find(|e| id_of(e) == Some(id));
        let mut out: Vec<Value> = base
            .iter()
            .filter(|(id, _)| !self.deleted.contains(id))
            .map(|(id, e)| upsert(id).unwrap_or(e).clone())
            .collect();
        out.extend(
            self.upserts
                .iter()
                .filter(|e| !base.iter().any(|(id, _)| Some(id.as_str()) == id_of(e)))
                .cloned(),
        );
        out
    }

    /// Sets the entry for `id` (added, or replacing a config deployment or an earlier change).
    pub fn upsert(&mut self, id: &str, entry: Value) {
        self.deleted.retain(|d| d != id);
        match self.upserts.iter_mut().find(|e| id_of(e) == Some(id)) {
            Some(slot) => *slot = entry,
            None => self.upserts.push(entry),
        }
    }

    pub fn delete(&mut self, id: &str, in_base: bool) {
        self.upserts.retain(|e| id_of(e) != Some(id));
        if in_base && !self.deleted.iter().any(|d| d == id) {
            self.deleted.push(id.to_string());
        }
    }

    /// The overlay that turns `base` into `list` (both with their ids).
    pub fn between(base: &[(String, Value)], list: &[(String, Value)]) -> Overlay {
        let mut o = Overlay::default();
        for (id, _) in base {
            if !list.iter().any(|(l, _)| l == id) {
                o.deleted.push(id.clone());
            }
        }
        for (id, entry) in list {
            if base.iter().any(|(b, e)| b == id && e == entry) {
                continue;
            }
            o.upserts.push(entry.clone());
        }
        o
    }

    pub fn origin(&self, id: &str, in_base: bool) -> Origin {
        match (in_base, self.upserts.iter().any(|e| id_of(e) == Some(id))) {
            (true, false) => Origin::Config,
            (true, true) => Origin::ConfigChanged,
            (false, _) => Origin::Runtime,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(id: &str, group: &str) -> Value {
        json!({"model_name": group, "litellm_params": {"model": "openai/x"}, "model_info": {"id": id}})
    }

    fn base() -> Vec<(String, Value)> {
        vec![("a".into(), entry("a", "g")), ("b".into(), entry("b", "g"))]
    }

    #[test]
    fn applies_over_a_changed_base() {
        let mut o = Overlay::default();
        o.upsert("n", entry("n", "new"));
        o.upsert("a", entry("a", "renamed"));
        o.delete("b", true);
        let list = o.apply(&base());
        assert_eq!(list, vec![entry("a", "renamed"), entry("n", "new")]);
        // The config grows (a redeploy adds group h): the overlay applies on top of it.
        let mut grown = base();
        grown.push(("c".into(), entry("c", "h")));
        let list = o.apply(&grown);
        assert_eq!(
            list,
            vec![entry("a", "renamed"), entry("c", "h"), entry("n", "new")]
        );
        assert_eq!(o.origin("a", true), Origin::ConfigChanged);
        assert_eq!(o.origin("c", true), Origin::Config);
        assert_eq!(o.origin("n", false), Origin::Runtime);
    }

    #[test]
    fn between_gives_back_the_list() {
        let list = vec![("b".into(), entry("b", "g")), ("n".into(), entry("n", "x"))];
        let o = Overlay::between(&base(), &list);
        assert_eq!(o.deleted, vec!["a".to_string()]);
        assert_eq!(o.upserts, vec![entry("n", "x")]);
        assert_eq!(o.apply(&base()), vec![entry("b", "g"), entry("n", "x")]);
        assert!(Overlay::between(&base(), &base()).is_empty());
    }

    #[test]
    fn deleting_a_runtime_deployment_leaves_no_trace() {
        let mut o = Overlay::default();
        o.upsert("n", entry("n", "new"));
        o.delete("n", false);
        assert!(o.is_empty());
    }
}
