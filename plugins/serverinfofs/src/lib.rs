#![doc = include_str!("../README.md")]

mod fs;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use fs_core::config::Key;
use fs_core::{ConfigParam, FileSystem, MountContext, ReadOnlyFs, Result, ServicePlugin};

pub use fs::ServerInfoFs;

const README: &str = include_str!("../README.md");

fs_core::config_keys! {
    KEYS;
    VERSION: &'static str = Key::unset(
        "version",
        "the text served by `/version` and as `version` in `/server_info`",
    )
    .default_text("the server's version");
}

/// The serverinfofs factory.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerInfoFsPlugin;

#[async_trait]
impl ServicePlugin for ServerInfoFsPlugin {
    fn name(&self) -> &str {
        "serverinfofs"
    }

    fn readme(&self) -> &str {
        README
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        fs_core::config::params(&[KEYS])
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let version = VERSION
            .opt(&ctx.config)?
            .unwrap_or_else(|| ctx.server.version.clone());
        Ok(Arc::new(ReadOnlyFs(ServerInfoFs::new(
            version,
            ctx.server.started,
            README,
        ))))
    }
}
