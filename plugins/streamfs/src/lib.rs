#![doc = include_str!("../README.md")]

mod fs;
mod handle;
mod stream;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::config::{Key, Size};
use fs_core::{ConfigParam, Error, FileSystem, MountContext, Result, ServicePlugin};
use serde_json::Value;

pub use fs::{HANDLE_READ_WAIT, StreamFs};

const README: &str = include_str!("../README.md");

/// The default of both buffer sizes: 6 MiB, as in AGFS.
pub const DEFAULT_BUFFER_SIZE: u64 = 6 << 20;

fs_core::config_keys! {
    /// The buffer keys of streamfs, shared with streamrotatefs.
    pub BUFFER_KEYS;
    RING_BUFFER_SIZE: Size = Key::optional(
        "ring_buffer_size",
        Size(DEFAULT_BUFFER_SIZE),
        "bytes of recent chunks kept per stream and replayed to each new reader; `0` keeps no history",
    )
    .live();
    CHANNEL_BUFFER_SIZE: Size = Key::optional(
        "channel_buffer_size",
        Size(DEFAULT_BUFFER_SIZE),
        "bytes of live chunks queued per reader; when a reader's queue is full, chunks for that reader are dropped; at least 1",
    )
    .live();
}

/// streamfs's buffer sizes, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamFsConfig {
    /// Bytes of recent chunks kept per stream and replayed to a new reader (default 6 MiB; 0 keeps
    /// no history).
    pub ring_buffer_size: u64,
    /// Bytes of live chunks queued per reader before chunks for that reader are dropped (default
    /// 6 MiB; at least 1).
    pub channel_buffer_size: u64,
}

impl Default for StreamFsConfig {
    fn default() -> Self {
        StreamFsConfig {
            ring_buffer_size: DEFAULT_BUFFER_SIZE,
            channel_buffer_size: DEFAULT_BUFFER_SIZE,
        }
    }
}

impl StreamFsConfig {
    /// Reads the sizes from a plugin config: each a number of bytes or a string such as `512KB`.
    ///
    /// # Errors
    /// `InvalidArgument` naming the key when a value is not a size, or `channel_buffer_size` is 0.
    pub fn from_value(config: &Value) -> Result<Self> {
        let out = StreamFsConfig {
            ring_buffer_size: RING_BUFFER_SIZE.get(config)?,
            channel_buffer_size: CHANNEL_BUFFER_SIZE.get(config)?,
        };
        if out.channel_buffer_size == 0 {
            return Err(Error::invalid_argument(
                "invalid value for 'channel_buffer_size': must be at least 1 byte",
            ));
        }
        Ok(out)
    }
}

/// The streamfs factory.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamFsPlugin;

#[async_trait]
impl ServicePlugin for StreamFsPlugin {
    fn name(&self) -> &str {
        "streamfs"
    }

    fn readme(&self) -> &str {
        README
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        fs_core::config::params(&[BUFFER_KEYS])
    }

    fn validate(&self, config: &Value) -> Result<()> {
        StreamFsConfig::from_value(config).map(|_| ())
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let config = StreamFsConfig::from_value(&ctx.config)?;
        Ok(Arc::new(StreamFs::new(
            config,
            Bytes::from_static(README.as_bytes()),
        )))
    }
}
