#![doc = include_str!("../README.md")]

mod fs;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use fs_core::{
    ConfigParam, FileSystem, MountContext, ParamType, ReadOnlyFs, Result, ServicePlugin,
};

pub use fs::ServerInfoFs;

const README: &str = include_str!("../README.md");

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
        vec![ConfigParam::optional(
            "version",
            ParamType::String,
            "",
            "version shown in /version and /server_info (default: the server's version)",
        )]
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let version = match ctx.config.get("version") {
            Some(serde_json::Value::String(v)) => v.clone(),
            _ => ctx.server.version.clone(),
        };
        Ok(Arc::new(ReadOnlyFs(ServerInfoFs::new(
            version,
            ctx.server.started,
            README,
        ))))
    }
}
