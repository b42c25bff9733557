#![doc = include_str!("../README.md")]

mod fs;
mod handle;
mod open_files;
mod root;
#[cfg(test)]
mod tests;
mod tree;
mod write;

use std::sync::Arc;

use async_trait::async_trait;
use fs_core::{ConfigParam, Error, FileSystem, MountContext, ParamType, Result, ServicePlugin};
use serde::Deserialize;
use serde_json::Value;

pub use fs::{LocalFs, map_io_error};

const README: &str = include_str!("../README.md");

/// localfs's config.
#[derive(Debug, Deserialize)]
pub struct LocalFsConfig {
    /// The directory served as the mount root; must exist and be a directory.
    pub local_dir: String,
    /// Refuse every mutation (`Unsupported`), default false.
    #[serde(default)]
    pub read_only: bool,
    /// Let clients set setuid, setgid and sticky bits (chmod, mkdir, handle open), default false:
    /// they are stripped, and cleared from a file pfs writes in place.
    #[serde(default)]
    pub allow_special_bits: bool,
}

impl LocalFsConfig {
    fn parse(config: &Value) -> Result<Self> {
        let mut config = config.clone();
        if let Value::Object(m) = &mut config {
            m.remove(fs_core::plugin::MOUNT_PATH_KEY);
        }
        serde_json::from_value(config)
            .map_err(|e| Error::invalid_argument(format!("invalid localfs config: {e}")))
    }
}

/// The localfs factory.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalFsPlugin;

#[async_trait]
impl ServicePlugin for LocalFsPlugin {
    fn name(&self) -> &str {
        "localfs"
    }

    fn readme(&self) -> &str {
        README
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        vec![
            ConfigParam::required(
                "local_dir",
                ParamType::String,
                "existing local directory served as the mount root",
            ),
            ConfigParam::optional(
                "read_only",
                ParamType::Bool,
                "false",
                "refuse every mutation",
            ),
            ConfigParam::optional(
                "allow_special_bits",
                ParamType::Bool,
                "false",
                "let clients set setuid, setgid and sticky bits (stripped otherwise)",
            ),
        ]
    }

    fn validate(&self, config: &Value) -> Result<()> {
        self.check_keys(config)?;
        let config = LocalFsConfig::parse(config)?;
        fs::check_base(&config.local_dir).map(|_| ())
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let config = LocalFsConfig::parse(&ctx.config)?;
        let fs = Arc::new(
            LocalFs::open(&config.local_dir, config.read_only)?
                .allow_special_bits(config.allow_special_bits),
        );
        if !config.read_only {
            // In the background: a big tree takes a while to walk, and the mount serves meanwhile.
            let sweeper = fs.clone();
            tokio::spawn(async move {
                let (files, bytes) = sweeper.sweep_stale_staging().await;
                if files > 0 {
                    tracing::info!(dir = %sweeper.base().display(), files, bytes, "localfs: removed the staging files of servers that stopped mid-write");
                }
            });
        }
        Ok(fs)
    }
}
