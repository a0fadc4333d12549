//! A stored response (`store: true`, the Responses API's default): what `previous_response_id`,
//! `GET` / `DELETE /v1/responses/{id}` and `input_items` read back, and the operations on an
//! owner's store. Each owner (a virtual key, the master key, or an open router's callers) has
//! its own store: the owner is never part of what a request can name.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub id: String,
    /// When it is forgotten (`general_settings.responses_ttl` after it was made).
    pub expires_at_ms: f64,
    /// The response object as the client got it.
    pub response: Value,
    /// The request's input items, each with an id.
    pub input_items: Vec<Value>,
    /// The conversation up to and with this response, as chat messages (without
    /// `instructions`): the history of a request that names it as `previous_response_id`.
    pub conversation: Vec<Value>,
    /// Made by the provider itself (passed through): a request passed through to the same
    /// group may name it upstream as its `previous_response_id`.
    #[serde(default)]
    pub native: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ResponseOp {
    Get {
        id: String,
    },
    /// The response holding the item `item_id` (an `item_reference`), in its output or input.
    GetByItem {
        item_id: String,
    },
    Put {
        record: StoredResponse,
    },
    Delete {
        id: String,
    },
}

impl StoredResponse {
    /// The ids of its items, output and input: what a `GetByItem` finds it by.
    pub fn item_ids(&self) -> impl Iterator<Item = &str> {
        let output = self.response["output"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        output
            .iter()
            .chain(&self.input_items)
            .filter_map(|i| i["id"].as_str())
    }

    /// The item `id`, among its output and input items.
    pub fn item(&self, id: &str) -> Option<&Value> {
        let output = self.response["output"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        output
            .iter()
            .chain(&self.input_items)
            .find(|i| i["id"].as_str() == Some(id))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseReply {
    /// What `Get` or `GetByItem` found (unexpired).
    #[serde(default)]
    pub record: Option<StoredResponse>,
    /// Whether `Delete` removed one.
    #[serde(default)]
    pub deleted: bool,
}

/// The owner of a caller's responses: a virtual key by its hash, else the master key, else
/// everyone (a router with no master key).
pub fn owner_for(key_hash: Option<&str>, master: bool) -> String {
    match (key_hash, master) {
        (Some(hash), _) => format!("key:{hash}"),
        (None, true) => "master".to_string(),
        (None, false) => "open".to_string(),
    }
}
