#![doc = include_str!("../README.md")]

mod fs;
mod item;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::config::Key;
use fs_core::{ConfigParam, Error, FileSystem, MountContext, Result, ServicePlugin};
use serde_json::Value;

pub use fs::HeartbeatFs;

const README: &str = include_str!("../README.md");

/// The timeout of a new item when the config names none (AGFS's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

fs_core::config_keys! {
    KEYS;
    TIMEOUT: Duration = Key::optional(
        "default_timeout",
        DEFAULT_TIMEOUT,
        "the timeout of a new item: seconds as a number (`30`, `2.5`) or a duration (`30s`, `5m`, `1h30m`); more than zero",
    )
    .live();
}

/// The heartbeatfs factory.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeartbeatFsPlugin;

/// The `default_timeout` of a config: seconds as a number, or a duration string (`30s`, `5m`).
fn default_timeout(config: &Value) -> Result<Duration> {
    let timeout = TIMEOUT.get(config)?;
    if timeout.is_zero() {
        return Err(Error::invalid_argument(format!(
            "invalid value for '{}': must be greater than zero",
            TIMEOUT.name()
        )));
    }
    Ok(timeout)
}

#[async_trait]
impl ServicePlugin for HeartbeatFsPlugin {
    fn name(&self) -> &str {
        "heartbeatfs"
    }

    fn readme(&self) -> &str {
        README
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        fs_core::config::params(&[KEYS])
    }

    fn validate(&self, config: &Value) -> Result<()> {
        default_timeout(config).map(|_| ())
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let timeout = default_timeout(&ctx.config)?;
        Ok(Arc::new(HeartbeatFs::new(
            timeout,
            Bytes::from_static(README.as_bytes()),
        )))
    }
}
