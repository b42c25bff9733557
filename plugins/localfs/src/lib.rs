#![doc = include_str!("../README.md")]

mod fs;
mod handle;
mod open_files;
mod root;
mod settings;
#[cfg(test)]
mod tests;
mod tree;
mod write;

use std::sync::Arc;

use async_trait::async_trait;
use fs_core::config::Key;
use fs_core::{ConfigParam, FileSystem, MountContext, Result, ServicePlugin};
use serde_json::Value;

pub use fs::{LocalFs, map_io_error};

const README: &str = include_str!("../README.md");

fs_core::config_keys! {
    KEYS;
    LOCAL_DIR: &'static str = Key::required(
        "local_dir",
        "the directory served as the mount root; must exist and be a directory. A mount made through the API must name one under the server's `mount_roots` (default: its data directory; 403 otherwise)",
    );
    READ_ONLY: bool = Key::optional("read_only", false, "refuse every change (`501 Unsupported`)")
        .live();
    ALLOW_SPECIAL_BITS: bool = Key::optional(
        "allow_special_bits",
        false,
        "let clients set setuid, setgid and sticky bits (chmod, mkdir, handle open); otherwise they are stripped, and cleared from files pfs writes into",
    )
    .live();
}

/// localfs's config.
#[derive(Debug)]
pub struct LocalFsConfig {
    /// The directory served as the mount root; must exist and be a directory.
    pub local_dir: String,
    /// Refuse every mutation (`Unsupported`), default false.
    pub read_only: bool,
    /// Let clients set setuid, setgid and sticky bits (chmod, mkdir, handle open), default false:
    /// they are stripped, and cleared from a file pfs writes in place.
    pub allow_special_bits: bool,
}

impl LocalFsConfig {
    fn parse(config: &Value) -> Result<Self> {
        Ok(LocalFsConfig {
            local_dir: LOCAL_DIR.get(config)?,
            read_only: READ_ONLY.get(config)?,
            allow_special_bits: ALLOW_SPECIAL_BITS.get(config)?,
        })
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
        fs_core::config::params(&[KEYS])
    }

    fn validate(&self, config: &Value) -> Result<()> {
        let config = LocalFsConfig::parse(config)?;
        fs::check_base(&config.local_dir).map(|_| ())
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let config = LocalFsConfig::parse(&ctx.config)?;
        // A mount made through the API serves only a directory under the operator's roots.
        ctx.policy
            .check_local_path(std::path::Path::new(&config.local_dir))?;
        let fs = Arc::new(
            LocalFs::open(&config.local_dir, config.read_only)?
                .allow_special_bits(config.allow_special_bits),
        );
        Ok(fs)
    }
}
