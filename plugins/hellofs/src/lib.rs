#![doc = include_str!("../README.md")]

mod fs;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use fs_core::{ConfigParam, FileSystem, MountContext, ReadOnlyFs, Result, ServicePlugin};

pub use fs::HelloFs;

const README: &str = include_str!("../README.md");

/// The hellofs factory.
#[derive(Debug, Clone, Copy, Default)]
pub struct HelloFsPlugin;

#[async_trait]
impl ServicePlugin for HelloFsPlugin {
    fn name(&self) -> &str {
        "hellofs"
    }

    fn readme(&self) -> &str {
        README
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        Vec::new()
    }

    async fn initialize(&self, _ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        Ok(Arc::new(ReadOnlyFs(HelloFs::new())))
    }
}
