//! `os.environ/NAME` values: LiteLLM's way to keep secrets out of the config. At the edge NAME is
//! a Worker secret (`wrangler secret put NAME`) or variable.

use crate::error::Error;
use crate::ports::Secrets;
use serde_json::Value;

pub const SECRET_PREFIX: &str = "os.environ/";

/// Replaces every `os.environ/NAME` string in the tree with the value of NAME. A name that is not
/// set is an error naming the key path and the secret, never a silent empty key.
pub(super) fn resolve(tree: &mut Value, env: &dyn Secrets) -> Result<(), Error> {
    resolve_at(tree, "", env)
}

/// [`resolve`] for a subtree found at `path` (`model_list[2]`), which its errors name.
pub(super) fn resolve_at(tree: &mut Value, path: &str, env: &dyn Secrets) -> Result<(), Error> {
    walk(tree, &mut path.to_string(), env)
}

fn walk(v: &mut Value, path: &mut String, env: &dyn Secrets) -> Result<(), Error> {
    match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix(SECRET_PREFIX) {
                let name = name.trim();
                match env.secret(name) {
                    Some(value) => *s = value,
                    None => {
                        return Err(Error::Config {
                            message: format!(
                                "Invalid router config: {path}: the secret or variable `{name}` is not set (wrangler secret put {name}, or add it to .dev.vars)"
                            ),
                        })
                    }
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path, env)?;
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                walk(item, path, env)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}
