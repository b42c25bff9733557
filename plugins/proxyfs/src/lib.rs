#![doc = include_str!("../README.md")]

mod client;
mod config;
mod fs;
mod reconfig;
#[cfg(test)]
mod tests;
mod wire;

use std::sync::Arc;

use async_trait::async_trait;
use fs_core::{ConfigParam, FileSystem, MountContext, Result, ServicePlugin};
use serde_json::Value;

pub use client::{RemoteInfo, build_client};
pub use config::{Credentials, DEFAULT_TIMEOUT, Settings, TlsSettings, normalize_base_url};
pub use fs::{ProxyFs, RELOAD, plain_write};
pub use wire::{map_status, parse_rfc3339};

const README: &str = include_str!("../README.md");

/// The proxyfs factory.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProxyFsPlugin;

#[async_trait]
impl ServicePlugin for ProxyFsPlugin {
    fn name(&self) -> &str {
        "proxyfs"
    }

    fn readme(&self) -> &str {
        README
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        fs_core::config::params(&[config::KEYS])
    }

    fn validate(&self, config: &Value) -> Result<()> {
        Settings::parse(config).map(drop)
    }

    /// Connects like AGFS: an unreachable remote fails the mount (reported by `/ready` and
    /// `/mounts`), so a proxy never mounts in a state it cannot serve.
    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let settings = Settings::parse(&ctx.config)?;
        Ok(Arc::new(ProxyFs::connect(&settings).await?))
    }
}
