#![doc = include_str!("README.md")]

mod fs;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{ConfigParam, FileSystem, MountContext, ParamType, Result, ServicePlugin};
use serde::Deserialize;

pub use fs::MemFs;

const README: &str = include_str!("README.md");

/// memfs's config.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemFsConfig {
    /// Directories created at mount time, parents included (default none).
    pub init_dirs: Vec<String>,
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
        vec![ConfigParam::optional(
            "init_dirs",
            ParamType::StringList,
            "[]",
            "directories to create at mount time (parents included)",
        )]
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let config: MemFsConfig = serde_json::from_value(ctx.config)
            .map_err(|e| fs_core::Error::invalid_argument(format!("invalid memfs config: {e}")))?;
        let fs = MemFs::new().with_file("README", Bytes::from_static(README.as_bytes()), 0o444);
        for dir in &config.init_dirs {
            fs.mkdir_all(&fs_core::path::normalize(dir)?, 0o755)?;
        }
        Ok(Arc::new(fs))
    }
}
