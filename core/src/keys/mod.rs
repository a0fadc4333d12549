//! Virtual keys (LiteLLM's `/key/generate`, `/key/info`, `/key/update`, `/key/delete`): keys
//! handed to clients, each with allowed models, rpm/tpm limits, a budget and an expiry. Only a
//! key's SHA-256 is stored. The book of keys lives in one Durable Object (`keys`) so limits and
//! spend are exact across isolates, or in the isolate's memory without one.
//!
//! Here: the book itself (records, the operations on it, their rules), plain data that the
//! `KeyStore` port carries. Admission and settling of model calls are in `api/admission.rs`.

use crate::error::Error;
use crate::state::minute_of;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The hash a key route's `key` names: a key (`sk-...`) is hashed; 64 hex digits are taken
/// as the hash itself (the `token` `/key/list` shows, as LiteLLM's routes accept), so the
/// operator can manage a key whose secret was shown only once.
pub fn hash_of_param(key: &str) -> String {
    if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        key.to_ascii_lowercase()
    } else {
        hash(key)
    }
}

pub fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The last `n` characters of a secret: enough to recognise it, not to use it.
pub fn tail(secret: &str, n: usize) -> String {
    let count = secret.chars().count();
    secret.chars().skip(count.saturating_sub(n)).collect()
}

/// `sk-...abcd`.
pub fn mask(key: &str) -> String {
    format!("sk-...{}", tail(key, 4))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub masked: String,
    #[serde(default)]
    pub key_alias: Option<String>,
    /// Empty: every model.
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub rpm_limit: Option<u64>,
    #[serde(default)]
    pub tpm_limit: Option<u64>,
    #[serde(default)]
    pub max_budget: Option<f64>,
    #[serde(default)]
    pub spend: f64,
    #[serde(default)]
    pub expires_ms: Option<f64>,
    #[serde(default)]
    pub created_ms: f64,
    #[serde(default)]
    pub minute: u64,
    #[serde(default)]
    pub requests_this_minute: u64,
    #[serde(default)]
    pub tokens_this_minute: u64,
    /// What admitted calls still running are expected to cost: counted against the budget
    /// and tpm until each call settles, so parallel calls cannot overshoot.
    #[serde(default)]
    pub holds: Vec<Hold>,
    #[serde(default)]
    pub next_hold: u64,
}

/// One admitted call's expected cost and tokens, held until it settles (or `until_ms`, when a
/// call that never settled lets go of it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    #[serde(default)]
    pub id: u64,
    pub cost: f64,
    pub tokens: u64,
    pub until_ms: f64,
}

impl KeyRecord {
    fn held(&self) -> (f64, u64) {
        self.holds
            .iter()
            .fold((0.0, 0), |(c, t), h| (c + h.cost, t + h.tokens))
    }
}

impl KeyRecord {
    /// The record as `/key/info` shows it (no hash, no secret).
    pub fn info(&self) -> Value {
        let (held, _) = self.held();
        json!({
            "created_at": self.created_ms / 1000.0, "spend_held": held,
            "key_alias": self.key_alias, "key_name": self.masked, "models": self.models,
            "rpm_limit": self.rpm_limit, "tpm_limit": self.tpm_limit, "max_budget": self.max_budget,
            "spend": self.spend,
            "expires": self.expires_ms.map(|e| e / 1000.0),
        })
    }
}

/// An operation on the book of keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum KeyOp {
    Create {
        hash: String,
        record: KeyRecord,
    },
    Get {
        hash: String,
    },
    Update {
        hash: String,
        changes: Value,
    },
    Delete {
        hashes: Vec<String>,
    },
    /// Every key, by hash (for the console's list; records hold no secret).
    List,
    /// Check a request against the key and count it, holding its expected cost and tokens.
    Admit {
        hash: String,
        model: String,
        /// The alias the client called `model` by (`model_group_alias`): a key that lists
        /// either name may use it.
        #[serde(default)]
        alias: Option<String>,
        #[serde(default)]
        hold: Hold,
    },
    /// What a request cost, once known (0 for a failed one); lets go of its hold.
    Charge {
        hash: String,
        tokens: u64,
        cost: f64,
        #[serde(default)]
        hold: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum KeyReply {
    Record {
        record: Option<KeyRecord>,
    },
    Deleted {
        count: usize,
    },
    /// Every key as `(hash, record)`, oldest first.
    Listed {
        keys: Vec<(String, KeyRecord)>,
    },
    /// Admitted: the models the key may use (empty: all) and the hold to settle.
    Admitted {
        #[serde(default)]
        models: Vec<String>,
        #[serde(default)]
        hold: Option<u64>,
    },
    /// Why the key may not do this.
    Refused {
        refusal: Refusal,
    },
    Done,
}

/// Why a key's request was refused: each reason its own variant, rendered in one place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Refusal {
    UnknownKey,
    Expired,
    ModelNotAllowed {
        model: String,
    },
    BudgetExceeded {
        spend: f64,
        held: f64,
        budget: f64,
    },
    RpmLimit {
        retry_after_ms: u64,
    },
    TpmLimit {
        retry_after_ms: u64,
    },
    /// A `/key/update` field that does not check.
    InvalidValue {
        message: String,
    },
}

impl Refusal {
    /// The client's error for it.
    pub fn error(&self) -> Error {
        match self {
            Refusal::UnknownKey => Error::Unauthorized {
                message: "Incorrect API key provided.".into(),
            },
            Refusal::Expired => Error::Unauthorized {
                message: "This API key has expired.".into(),
            },
            Refusal::ModelNotAllowed { model } => Error::Forbidden {
                message: format!("This API key may not use the model `{model}`."),
            },
            Refusal::BudgetExceeded {
                spend,
                held,
                budget,
            } => {
                let reserved = if *held > 0.0 {
                    format!(" (+ {held:.6} reserved by calls in flight)")
                } else {
                    String::new()
                };
                Error::InvalidRequest {
                    message: format!(
                        "Budget has been exceeded: spend {spend:.6}{reserved} >= max_budget {budget:.6}."
                    ),
                    param: None,
                    code: Some("budget_exceeded"),
                }
            }
            Refusal::RpmLimit { retry_after_ms } => Error::KeyRateLimited {
                message: "This API key reached its rpm_limit.".into(),
                retry_after_ms: *retry_after_ms,
            },
            Refusal::TpmLimit { retry_after_ms } => Error::KeyRateLimited {
                message: "This API key reached its tpm_limit.".into(),
                retry_after_ms: *retry_after_ms,
            },
            Refusal::InvalidValue { message } => Error::InvalidRequest {
                message: message.clone(),
                param: None,
                code: Some("invalid_value"),
            },
        }
    }
}

/// The keys and their counters: pure, applied one operation at a time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyBook {
    keys: HashMap<String, KeyRecord>,
}

fn parse_duration_ms(d: &str) -> Option<f64> {
    let d = d.trim();
    let (n, unit) = d.split_at(d.find(|c: char| !c.is_ascii_digit())?);
    let n: f64 = n.parse().ok()?;
    Some(
        n * match unit {
            "s" => 1_000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            "d" => 86_400_000.0,
            _ => return None,
        },
    )
}

/// Reads LiteLLM's `/key/generate` and `/key/update` fields into `rec`.
pub fn apply_fields(rec: &mut KeyRecord, v: &Value, now_ms: f64) -> Result<(), Error> {
    let bad = Error::invalid_value;
    let present = |k: &str| v.get(k).filter(|x| !x.is_null());
    if let Some(m) = present("models") {
        rec.models = m
            .as_array()
            .and_then(|a| a.iter().map(|x| x.as_str().map(str::to_string)).collect())
            .ok_or_else(|| bad("models", "must be a list of model names"))?;
    }
    for (k, slot) in [
        ("rpm_limit", &mut rec.rpm_limit),
        ("tpm_limit", &mut rec.tpm_limit),
    ] {
        if let Some(x) = present(k) {
            *slot = Some(x.as_u64().ok_or_else(|| bad(k, "must be a whole number"))?);
        }
    }
    if let Some(x) = present("max_budget") {
        rec.max_budget = Some(
            x.as_f64()
                .filter(|b| *b >= 0.0)
                .ok_or_else(|| bad("max_budget", "must be a number >= 0"))?,
        );
    }
    if let Some(x) = present("key_alias") {
        let alias = x
            .as_str()
            .ok_or_else(|| bad("key_alias", "must be a string"))?;
        if crate::names::has_control(alias) {
            return Err(bad("key_alias", "must not contain control characters"));
        }
        rec.key_alias = Some(alias.to_string());
    }
    if rec.models.iter().any(|m| crate::names::has_control(m)) {
        return Err(bad("models", "must not contain control characters"));
    }
    if let Some(x) = present("duration") {
        let ms = x
            .as_str()
            .and_then(parse_duration_ms)
            .ok_or_else(|| bad("duration", "must look like 30s, 15m, 12h or 30d"))?;
        rec.expires_ms = Some(now_ms + ms);
    }
    Ok(())
}

impl KeyBook {
    pub fn apply(&mut self, op: KeyOp, now_ms: f64) -> KeyReply {
        match op {
            KeyOp::Create { hash, record } => {
                self.keys.insert(hash, record);
                KeyReply::Done
            }
            KeyOp::Get { hash } => KeyReply::Record {
                record: self.keys.get(&hash).cloned(),
            },
            KeyOp::Update { hash, changes } => match self.keys.get_mut(&hash) {
                // All or nothing: a change with one bad field leaves the key as it was.
                Some(rec) => {
                    let mut next = rec.clone();
                    match apply_fields(&mut next, &changes, now_ms) {
                        Ok(()) => {
                            *rec = next;
                            KeyReply::Record {
                                record: Some(rec.clone()),
                            }
                        }
                        Err(e) => KeyReply::Refused {
                            refusal: Refusal::InvalidValue {
                                message: e.message(),
                            },
                        },
                    }
                }
                None => KeyReply::Record { record: None },
            },
            KeyOp::Delete { hashes } => KeyReply::Deleted {
                count: hashes
                    .iter()
                    .filter(|h| self.keys.remove(*h).is_some())
                    .count(),
            },
            KeyOp::List => {
                let mut keys: Vec<(String, KeyRecord)> = self
                    .keys
                    .iter()
                    .map(|(h, r)| (h.clone(), r.clone()))
                    .collect();
                keys.sort_by(|a, b| {
                    a.1.created_ms
                        .total_cmp(&b.1.created_ms)
                        .then(a.0.cmp(&b.0))
                });
                KeyReply::Listed { keys }
            }
            KeyOp::Admit {
                hash,
                model,
                alias,
                hold,
            } => self.admit(&hash, &model, alias.as_deref(), hold, now_ms),
            KeyOp::Charge {
                hash,
                tokens,
                cost,
                hold,
            } => {
                if let Some(rec) = self.keys.get_mut(&hash) {
                    roll(rec, now_ms);
                    rec.tokens_this_minute += tokens;
                    rec.spend += cost;
                    if let Some(id) = hold {
                        rec.holds.retain(|h| h.id != id);
                    }
                }
                KeyReply::Done
            }
        }
    }

    fn admit(
        &mut self,
        hash: &str,
        model: &str,
        alias: Option<&str>,
        hold: Hold,
        now_ms: f64,
    ) -> KeyReply {
        let refuse = |refusal: Refusal| KeyReply::Refused { refusal };
        let Some(rec) = self.keys.get_mut(hash) else {
            return refuse(Refusal::UnknownKey);
        };
        if rec.expires_ms.is_some_and(|e| now_ms >= e) {
            return refuse(Refusal::Expired);
        }
        let listed = |name: &str| rec.models.iter().any(|m| key_allows(m, name));
        if !rec.models.is_empty() && !listed(model) && !alias.is_some_and(listed) {
            return refuse(Refusal::ModelNotAllowed {
                model: model.to_string(),
            });
        }
        // Holds of calls that never settled (an isolate that died) expire.
        rec.holds.retain(|h| h.until_ms > now_ms);
        let (held_cost, held_tokens) = rec.held();
        if let Some(budget) = rec.max_budget.filter(|b| rec.spend + held_cost >= *b) {
            return refuse(Refusal::BudgetExceeded {
                spend: rec.spend,
                held: held_cost,
                budget,
            });
        }
        roll(rec, now_ms);
        let retry_after_ms = ((minute_of(now_ms) + 1) as f64 * 60_000.0 - now_ms).ceil() as u64;
        if rec.rpm_limit.is_some_and(|l| rec.requests_this_minute >= l) {
            return refuse(Refusal::RpmLimit { retry_after_ms });
        }
        if rec
            .tpm_limit
            .is_some_and(|l| rec.tokens_this_minute + held_tokens >= l)
        {
            return refuse(Refusal::TpmLimit { retry_after_ms });
        }
        rec.requests_this_minute += 1;
        // A hold matters only against a limit it could reach: a key without a budget or tpm
        // limit holds nothing (and its calls settle after the answer, off the critical path).
        let holds = (rec.max_budget.is_some() && hold.cost > 0.0)
            || (rec.tpm_limit.is_some() && hold.tokens > 0);
        let id = if holds {
            rec.next_hold += 1;
            rec.holds.push(Hold {
                id: rec.next_hold,
                ..hold
            });
            Some(rec.next_hold)
        } else {
            None
        };
        KeyReply::Admitted {
            models: rec.models.clone(),
            hold: id,
        }
    }
}

/// Whether a key's `models` entry covers `model`: the same name, `*`, or a pattern such as
/// `openai/*` (the name of a wildcard group).
pub fn key_allows(entry: &str, model: &str) -> bool {
    entry == model || (entry.contains('*') && crate::names::glob(entry, model).is_some())
}

fn roll(rec: &mut KeyRecord, now_ms: f64) {
    let m = minute_of(now_ms);
    if rec.minute != m {
        rec.minute = m;
        rec.requests_this_minute = 0;
        rec.tokens_this_minute = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book_with(fields: Value, now: f64) -> (KeyBook, String) {
        let mut rec = KeyRecord {
            masked: mask("sk-abcdef1234"),
            created_ms: now,
            ..Default::default()
        };
        apply_fields(&mut rec, &fields, now).unwrap();
        let mut b = KeyBook::default();
        let h = hash("sk-abcdef1234");
        b.apply(
            KeyOp::Create {
                hash: h.clone(),
                record: rec,
            },
            now,
        );
        (b, h)
    }

    fn admit(b: &mut KeyBook, h: &str, model: &str, now: f64) -> KeyReply {
        b.apply(
            KeyOp::Admit {
                hash: h.into(),
                model: model.into(),
                alias: None,
                hold: Hold::default(),
            },
            now,
        )
    }

    fn admitted(r: &KeyReply) -> bool {
        matches!(r, KeyReply::Admitted { .. })
    }

    fn admit_holding(b: &mut KeyBook, h: &str, cost: f64, tokens: u64, now: f64) -> KeyReply {
        b.apply(
            KeyOp::Admit {
                hash: h.into(),
                model: "m".into(),
                alias: None,
                hold: Hold {
                    id: 0,
                    cost,
                    tokens,
                    until_ms: now + 60_000.0,
                },
            },
            now,
        )
    }

    #[test]
    fn parallel_calls_hold_their_expected_cost_so_the_budget_holds() {
        // One call (0.4) below a budget of 1.0: of 20 admitted at once, only one passes.
        let (mut b, h) = book_with(json!({"max_budget": 1.0}), 0.0);
        b.apply(
            KeyOp::Charge {
                hash: h.clone(),
                tokens: 0,
                cost: 0.6,
                hold: None,
            },
            0.0,
        );
        let replies: Vec<KeyReply> = (0..20)
            .map(|_| admit_holding(&mut b, &h, 0.4, 100, 1.0))
            .collect();
        assert_eq!(replies.iter().filter(|r| admitted(r)).count(), 1);
        let Some(KeyReply::Admitted { hold: Some(id), .. }) = replies.first().cloned() else {
            panic!("{replies:?}")
        };
        // Settled for less than held: the rest of the budget opens again.
        b.apply(
            KeyOp::Charge {
                hash: h.clone(),
                tokens: 10,
                cost: 0.1,
                hold: Some(id),
            },
            2.0,
        );
        assert!(admitted(&admit_holding(&mut b, &h, 0.2, 1, 3.0)));
        // A fresh key with a budget under one call's cost: exactly one call.
        let (mut b, h) = book_with(json!({"max_budget": 0.01}), 0.0);
        let n = (0..24)
            .filter(|_| admitted(&admit_holding(&mut b, &h, 0.05, 1, 1.0)))
            .count();
        assert_eq!(n, 1);
        // A hold that never settles lets go at its deadline.
        assert!(admitted(&admit_holding(&mut b, &h, 0.05, 1, 61_001.0)));
    }

    #[test]
    fn names_with_control_characters_are_refused() {
        let mut rec = KeyRecord::default();
        for v in [json!({"key_alias": "ci\nx"}), json!({"models": ["a\rb"]})] {
            let e = apply_fields(&mut rec, &v, 0.0).unwrap_err();
            assert!(
                e.message().contains("control characters"),
                "{}",
                e.message()
            );
        }
    }

    #[test]
    fn parallel_calls_hold_their_tokens_against_tpm() {
        let (mut b, h) = book_with(json!({"tpm_limit": 1000}), 0.0);
        let n = (0..10)
            .filter(|_| admitted(&admit_holding(&mut b, &h, 0.0, 300, 1.0)))
            .count();
        assert_eq!(n, 4, "0, 300, 600, 900 held: the 5th would start at 1200");
    }

    #[test]
    fn models_expiry_rpm_and_budget() {
        let now = 5.0 * 60_000.0 + 100.0;
        let (mut b, h) = book_with(
            json!({"models":["gpt-4o"],"rpm_limit":2,"max_budget":1.0,"duration":"1h"}),
            now,
        );
        assert!(admitted(&admit(&mut b, &h, "gpt-4o", now)));
        assert!(matches!(
            admit(&mut b, &h, "other", now),
            KeyReply::Refused {
                refusal: Refusal::ModelNotAllowed { .. }
            }
        ));
        assert!(admitted(&admit(&mut b, &h, "gpt-4o", now)));
        assert!(matches!(
            admit(&mut b, &h, "gpt-4o", now),
            KeyReply::Refused {
                refusal: Refusal::RpmLimit { retry_after_ms }
            } if retry_after_ms > 0
        ));
        assert!(
            admitted(&admit(&mut b, &h, "gpt-4o", now + 60_000.0)),
            "next minute"
        );
        b.apply(
            KeyOp::Charge {
                hash: h.clone(),
                tokens: 10,
                cost: 1.5,
                hold: None,
            },
            now + 60_000.0,
        );
        assert!(matches!(
            admit(&mut b, &h, "gpt-4o", now + 120_000.0),
            KeyReply::Refused {
                refusal: Refusal::BudgetExceeded { .. }
            }
        ));
        assert!(matches!(
            admit(&mut b, &h, "gpt-4o", now + 4e6),
            KeyReply::Refused {
                refusal: Refusal::Expired
            }
        ));
        assert!(matches!(
            admit(&mut b, "nope", "gpt-4o", now),
            KeyReply::Refused {
                refusal: Refusal::UnknownKey
            }
        ));
    }

    #[test]
    fn tpm_update_delete_and_wire_format() {
        let (mut b, h) = book_with(json!({"tpm_limit": 100}), 0.0);
        assert!(admitted(&admit(&mut b, &h, "m", 0.0)));
        b.apply(
            KeyOp::Charge {
                hash: h.clone(),
                tokens: 150,
                cost: 0.0,
                hold: None,
            },
            0.0,
        );
        assert!(matches!(
            admit(&mut b, &h, "m", 1.0),
            KeyReply::Refused {
                refusal: Refusal::TpmLimit { .. }
            }
        ));
        let r = b.apply(
            KeyOp::Update {
                hash: h.clone(),
                changes: json!({"tpm_limit": 1000, "key_alias": "ci"}),
            },
            1.0,
        );
        assert!(
            matches!(r, KeyReply::Record { record: Some(ref rec) } if rec.key_alias.as_deref() == Some("ci"))
        );
        assert!(admitted(&admit(&mut b, &h, "m", 2.0)));
        assert!(matches!(
            b.apply(
                KeyOp::Update {
                    hash: h.clone(),
                    changes: json!({"duration": "soon"})
                },
                0.0
            ),
            KeyReply::Refused {
                refusal: Refusal::InvalidValue { .. }
            }
        ));
        let op = KeyOp::Admit {
            hash: h.clone(),
            model: "m".into(),
            alias: None,
            hold: Hold::default(),
        };
        let text = serde_json::to_string(&op).unwrap();
        assert_eq!(serde_json::from_str::<KeyOp>(&text).unwrap(), op);
        // An older isolate's operation (no hold) still reads.
        let old = format!(r#"{{"op":"admit","hash":"{h}","model":"m"}}"#);
        assert_eq!(serde_json::from_str::<KeyOp>(&old).unwrap(), op);
        assert_eq!(
            b.apply(
                KeyOp::Delete {
                    hashes: vec![h.clone(), "x".into()]
                },
                3.0
            ),
            KeyReply::Deleted { count: 1 }
        );
        assert_eq!(
            b.apply(KeyOp::Get { hash: h }, 3.0),
            KeyReply::Record { record: None }
        );
        assert_eq!(mask("sk-abcdef1234"), "sk-...1234");
        assert_eq!(parse_duration_ms("30d"), Some(30.0 * 86_400_000.0));
    }
}
