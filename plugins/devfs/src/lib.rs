#![doc = include_str!("../README.md")]

mod fs;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use fs_core::{ConfigParam, FileSystem, MountContext, Result, ServicePlugin};

pub use fs::DevFs;

const README: &str = include_str!("../README.md");

/// The devfs factory.
#[derive(Debug, Clone, Copy, Default)]
pub struct DevFsPlugin;

#[async_trait]
impl ServicePlugin for DevFsPlugin {
    fn name(&self) -> &str {
        "devfs"
    }

    fn readme(&self) -> &str {
        README
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        Vec::new()
    }

    async fn initialize(&self, _ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        Ok(Arc::new(DevFs::new()))
    }
}
