#![doc = include_str!("../README.md")]

mod fs;
mod pattern;
// The tests record into memfs and use hellofs as a read-only target.
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::config::Key;
use fs_core::{ConfigParam, Error, FileSystem, MountContext, Result, ServicePlugin, path};
use serde_json::Value;

use pfs_streamfs::StreamFsConfig;

pub use fs::StreamRotateFs;
pub use pattern::FilenamePattern;

const README: &str = include_str!("../README.md");

/// The default `rotation_size`: 100 MiB, as in AGFS.
pub const DEFAULT_ROTATION_SIZE: u64 = 100 << 20;
/// The default `filename_pattern`, as in AGFS.
pub const DEFAULT_FILENAME_PATTERN: &str = "{channel}_{timestamp}.dat";

fs_core::config_keys! {
    KEYS;
    OUTPUT_PATH: &'static str = Key::required(
        "output_path",
        "the pfs directory the files go to; must start with `/` and lie outside this mount (e.g. `/memfs/recordings`); missing directories are created (`mkdir -p`)",
    );
    ROTATION_SIZE: fs_core::config::Size = Key::optional(
        "rotation_size",
        fs_core::config::Size(DEFAULT_ROTATION_SIZE),
        "a new file starts when the next chunk would take the current one past this many bytes; at least 1",
    )
    .live();
    ROTATION_INTERVAL: Duration = Key::unset(
        "rotation_interval",
        "a new file starts when the current one is this old (checked at each write); absent or `\"\"` rotates by size only",
    )
    .default_text("none")
    .live();
    FILENAME_PATTERN: &'static str = Key::optional(
        "filename_pattern",
        DEFAULT_FILENAME_PATTERN,
        "the name of each file, relative to `output_path`; may contain `/` for subdirectories; variables below",
    )
    .live();
}

/// Where and how streamrotatefs records streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationConfig {
    /// The pfs directory the files go to, normalized (required; e.g. `/memfs/recordings`).
    pub output_path: String,
    /// Bytes after which a new file starts (default 100 MiB; at least 1).
    pub rotation_size: u64,
    /// Age after which a new file starts (default none: rotation by size only).
    pub rotation_interval: Option<Duration>,
    /// How files are named (default `{channel}_{timestamp}.dat`).
    pub filename_pattern: FilenamePattern,
}

impl RotationConfig {
    /// Reads the rotation keys of a plugin config.
    ///
    /// # Errors
    /// `InvalidArgument` naming the key: `output_path` missing or not an absolute path, a size or
    /// duration that does not parse or is 0, an unknown `{variable}` in `filename_pattern`.
    pub fn from_value(config: &Value) -> Result<Self> {
        let output_path = OUTPUT_PATH.get(config)?;
        if !output_path.starts_with('/') {
            return Err(Error::invalid_argument(
                "invalid value for 'output_path': must be a pfs path starting with '/', such as /memfs/recordings",
            ));
        }
        let output_path = path::normalize(&output_path).map_err(|e| {
            Error::invalid_argument(format!("invalid value for 'output_path': {e}"))
        })?;
        let rotation_size = ROTATION_SIZE.get(config)?;
        if rotation_size == 0 {
            return Err(Error::invalid_argument(
                "invalid value for 'rotation_size': must be at least 1 byte",
            ));
        }
        let filename_pattern = FilenamePattern::parse(&FILENAME_PATTERN.get(config)?)?;
        Ok(RotationConfig {
            output_path,
            rotation_size,
            rotation_interval: interval(config)?,
            filename_pattern,
        })
    }
}

/// `rotation_interval`: absent, null or `""` mean none.
fn interval(config: &Value) -> Result<Option<Duration>> {
    if ROTATION_INTERVAL
        .raw(config)
        .and_then(Value::as_str)
        .is_some_and(|s| s.trim().is_empty())
    {
        return Ok(None);
    }
    match ROTATION_INTERVAL.opt(config)? {
        Some(d) if d.is_zero() => Err(Error::invalid_argument(
            "invalid value for 'rotation_interval': must be greater than 0",
        )),
        d => Ok(d),
    }
}

/// The streamrotatefs factory.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamRotateFsPlugin;

#[async_trait]
impl ServicePlugin for StreamRotateFsPlugin {
    fn name(&self) -> &str {
        "streamrotatefs"
    }

    fn readme(&self) -> &str {
        README
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        fs_core::config::params(&[pfs_streamfs::BUFFER_KEYS, KEYS])
    }

    fn check_keys(&self, config: &Value) -> Result<()> {
        // AGFS configs spell "no interval" as an empty string, which is not a duration.
        let mut config = config.clone();
        if let Some(map) = config.as_object_mut()
            && map
                .get("rotation_interval")
                .and_then(Value::as_str)
                .is_some_and(|s| s.trim().is_empty())
        {
            map.remove("rotation_interval");
        }
        fs_core::config::check_config(&self.config_params(), &config)
    }

    fn validate(&self, config: &Value) -> Result<()> {
        StreamFsConfig::from_value(config)?;
        RotationConfig::from_value(config).map(|_| ())
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let streams = StreamFsConfig::from_value(&ctx.config)?;
        let rotation = RotationConfig::from_value(&ctx.config)?;
        if path::is_within(&rotation.output_path, &ctx.mount_path) {
            // Recording into itself would turn every chunk into another stream write.
            return Err(Error::invalid_argument(format!(
                "invalid value for 'output_path': {} lies inside this mount ({})",
                rotation.output_path, ctx.mount_path
            )));
        }
        Ok(Arc::new(StreamRotateFs::new(
            streams,
            rotation,
            ctx.root,
            Bytes::from_static(README.as_bytes()),
        )))
    }
}
