#![doc = include_str!("../README.md")]

mod fs;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{
    ConfigParam, Error, FileSystem, MountContext, ParamType, Result, ServicePlugin, plugin,
};
use serde_json::Value;

pub use fs::HeartbeatFs;

const README: &str = include_str!("../README.md");

/// The timeout of a new item when the config names none (AGFS's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The heartbeatfs factory.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeartbeatFsPlugin;

/// The `default_timeout` of a config: seconds as a number, or a duration string (`30s`, `5m`).
fn default_timeout(config: &Value) -> Result<Duration> {
    let invalid =
        |why: &str| Error::invalid_argument(format!("invalid value for 'default_timeout': {why}"));
    let timeout = match config.get("default_timeout") {
        None | Some(Value::Null) => return Ok(DEFAULT_TIMEOUT),
        Some(Value::Number(n)) => {
            let secs = n.as_f64().unwrap_or(-1.0);
            plugin::seconds(secs).map_err(|e| invalid(e.message()))?
        }
        Some(Value::String(s)) => plugin::parse_duration(s).map_err(|e| invalid(e.message()))?,
        Some(_) => return Err(invalid("expected seconds or a duration such as \"30s\"")),
    };
    if timeout.is_zero() {
        return Err(invalid("must be greater than zero"));
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
        vec![ConfigParam::optional(
            "default_timeout",
            ParamType::Duration,
            "300",
            "timeout of new items: seconds as a number, or a duration such as \"30s\" or \"5m\"",
        )]
    }

    fn validate(&self, config: &Value) -> Result<()> {
        plugin::check_config(&self.config_params(), config)?;
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
