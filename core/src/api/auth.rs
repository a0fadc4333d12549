//! Who is calling: the master key, a virtual key (by its hash), or anyone (no master key
//! configured); and what each may reach.

use crate::error::Error;
use crate::http::HttpRequest;
use crate::ports::KeyStore;
use crate::router::Router;

/// Who is calling.
pub enum Caller {
    /// No master key is configured: the API is open (and the admin API off).
    Open,
    Master,
    /// A virtual key, by its hash, with the models it may use as its record said when the
    /// request was authorized (empty: all).
    Key {
        hash: String,
        models: Vec<String>,
        /// Its alias, else its masked name (`sk-...abcd`): how the request log names it.
        label: String,
    },
}

impl Caller {
    /// How the request log names the caller: never a key.
    pub fn label(&self) -> &str {
        match self {
            Caller::Open => "none",
            Caller::Master => "master",
            Caller::Key { label, .. } => label,
        }
    }
}

/// With a `master_key`, every API call must carry it, or a virtual key, as
/// `Authorization: Bearer` (or `api-key`).
pub(super) async fn authorize(
    router: &Router,
    keys: &dyn KeyStore,
    req: &HttpRequest,
) -> Result<Caller, Error> {
    let config = router.config();
    let Some(master) = config.general.master_key.as_deref() else {
        return Ok(Caller::Open);
    };
    let presented = req
        .header("authorization")
        .map(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .unwrap_or(v)
                .trim()
        })
        .or_else(|| req.header("api-key").map(str::trim))
        .or_else(|| req.header("x-api-key").map(str::trim));
    let incorrect = || Error::Unauthorized {
        message: "Incorrect API key provided.".into(),
    };
    match presented {
        None | Some("") => Err(Error::Unauthorized {
            message: "Missing API key. Send it as `Authorization: Bearer <key>`.".into(),
        }),
        Some(k) if constant_time_eq(k.as_bytes(), master.as_bytes()) => Ok(Caller::Master),
        Some(k) => {
            let hash = crate::keys::hash(k);
            match keys
                .apply(crate::keys::KeyOp::Get { hash: hash.clone() })
                .await?
            {
                crate::keys::KeyReply::Record { record: Some(rec) } => Ok(Caller::Key {
                    hash,
                    models: rec.models,
                    label: rec.key_alias.unwrap_or(rec.masked),
                }),
                _ => Err(incorrect()),
            }
        }
    }
}

pub(super) fn require_master(router: &Router, caller: &Caller) -> Result<(), Error> {
    match caller {
        Caller::Master => Ok(()),
        Caller::Key { .. } => Err(Error::Forbidden {
            message: "This route needs the master key.".into(),
        }),
        Caller::Open if router.config().general.master_key.is_none() => Err(Error::Forbidden {
            message: "The admin API is off: set general_settings.master_key to use it.".into(),
        }),
        Caller::Open => Err(Error::Forbidden {
            message: "This route needs the master key.".into(),
        }),
    }
}

/// Compares without returning early on the first different byte.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
