#![doc = include_str!("../README.md")]

mod fs;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::config::{Key, List};
use fs_core::{ConfigParam, FileSystem, MemoryLimits, MountContext, Result, ServicePlugin};
use serde_json::Value;

pub use fs::MemFs;

const README: &str = include_str!("../README.md");

fs_core::config_keys! {
    KEYS;
    INIT_DIRS: List = Key::optional(
        "init_dirs",
        List(&[]),
        "directories created at mount time, parents included (and by a config change, those it adds)",
    )
    .live();
}

/// memfs's config: the directories to make, and the size caps.
#[derive(Debug)]
struct MemFsConfig {
    init_dirs: Vec<String>,
    limits: MemoryLimits,
}

impl MemFsConfig {
    fn parse(config: &Value) -> Result<MemFsConfig> {
        Ok(MemFsConfig {
            init_dirs: INIT_DIRS.get(config)?,
            limits: MemoryLimits::from_config(config)?,
        })
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
        fs_core::config::params(&[KEYS, MemoryLimits::KEYS])
    }

    fn validate(&self, config: &Value) -> Result<()> {
        MemFsConfig::parse(config).map(drop)
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let config = MemFsConfig::parse(&ctx.config)?;
        let fs = MemFs::with_limits(config.limits).with_file(
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
