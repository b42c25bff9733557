#![doc = include_str!("../README.md")]

mod fs;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{
    ConfigParam, FileSystem, MemoryLimits, MountContext, ParamType, Result, ServicePlugin,
};
use serde::Deserialize;
use serde_json::Value;

pub use fs::MemFs;

const README: &str = include_str!("../README.md");

/// memfs's config besides its size caps ([`MemoryLimits`]); unknown keys are refused before it is
/// read ([`ServicePlugin::check_keys`]).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MemFsConfig {
    /// Directories created at mount time, parents included (default none).
    pub init_dirs: Vec<String>,
}

impl MemFsConfig {
    fn parse(config: &Value) -> Result<(MemFsConfig, MemoryLimits)> {
        let dirs: MemFsConfig = serde_json::from_value(config.clone())
            .map_err(|e| fs_core::Error::invalid_argument(format!("invalid memfs config: {e}")))?;
        Ok((dirs, MemoryLimits::from_config(config)?))
    }
}

/// The memfs factory.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemFsPlugin;

#[async_trait]
impl ServicePlugin for MemFsPlugin {
    fn name(&self) -> &str {
        "memfs"
    }

    fn readme(&self) -> &str {
        README
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        let mut params = vec![ConfigParam::optional(
            "init_dirs",
            ParamType::StringList,
            "[]",
            "directories to create at mount time (parents included)",
        )];
        params.extend(MemoryLimits::PARAMS);
        params
    }

    fn validate(&self, config: &Value) -> Result<()> {
        self.check_keys(config)?;
        MemFsConfig::parse(config).map(drop)
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let (config, limits) = MemFsConfig::parse(&ctx.config)?;
        let fs = MemFs::with_limits(limits).with_file(
            "README",
            Bytes::from_static(README.as_bytes()),
            0o444,
        );
        for dir in &config.init_dirs {
            fs.mkdir_all(&fs_core::path::normalize(dir)?, 0o755)?;
        }
        Ok(Arc::new(fs))
    }
}
