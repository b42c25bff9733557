#![doc = include_str!("../README.md")]

mod fs;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::config::{Key, MapKey};
use fs_core::{ConfigParam, Error, FileSystem, MemoryLimits, MountContext, Result, ServicePlugin};
use serde_json::Value;

pub use fs::KvFs;

const README: &str = include_str!("../README.md");

fs_core::config_keys! {
    KEYS;
    INITIAL_DATA: MapKey = Key::optional(
        "initial_data",
        MapKey,
        "keys stored at mount time, each a single path component; values are strings, numbers or bools, numbers and bools stored as their text (`42`, `true`)",
    );
}

/// The kvfs factory.
#[derive(Debug, Clone, Copy, Default)]
pub struct KvFsPlugin;

/// The `initial_data` of a config, as key and value bytes. Scalars become their text form (`42`,
/// `true`); `null` becomes an empty value.
fn initial_data(config: &Value) -> Result<Vec<(String, Bytes)>> {
    INITIAL_DATA
        .get(config)?
        .iter()
        .map(|(k, v)| {
            fs::check_key(k).map_err(|e| {
                Error::invalid_argument(format!("invalid value for 'initial_data': {}", e.message()))
            })?;
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                Value::Bool(_) | Value::Number(_) => v.to_string(),
                Value::Array(_) | Value::Object(_) => {
                    return Err(Error::invalid_argument(format!(
                        "invalid value for 'initial_data': the value of '{k}' must be a string, number or bool"
                    )));
                }
            };
            Ok((k.clone(), Bytes::from(text)))
        })
        .collect()
}

#[async_trait]
impl ServicePlugin for KvFsPlugin {
    fn name(&self) -> &str {
        "kvfs"
    }

    fn readme(&self) -> &str {
        README
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        fs_core::config::params(&[KEYS, MemoryLimits::KEYS])
    }

    fn validate(&self, config: &Value) -> Result<()> {
        MemoryLimits::from_config(config)?;
        initial_data(config).map(|_| ())
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let limits = MemoryLimits::from_config(&ctx.config)?;
        let fs = KvFs::with_limits(Bytes::from_static(README.as_bytes()), limits);
        for (key, value) in initial_data(&ctx.config)? {
            fs.insert(&key, value)?;
        }
        Ok(Arc::new(fs))
    }
}
