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
use fs_core::{
    ConfigParam, Error, FileSystem, MountContext, ParamType, Result, ServicePlugin, path, plugin,
};
use serde_json::Value;

use pfs_streamfs::StreamFsConfig;

pub use fs::StreamRotateFs;
pub use pattern::FilenamePattern;

const README: &str = include_str!("../README.md");

/// The default `rotation_size`: 100 MiB, as in AGFS.
pub const DEFAULT_ROTATION_SIZE: u64 = 100 << 20;
/// The default `filename_pattern`, as in AGFS.
pub const DEFAULT_FILENAME_PATTERN: &str = "{channel}_{timestamp}.dat";

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
        let output_path = match config.get("output_path") {
            Some(Value::String(s)) if s.starts_with('/') => path::normalize(s).map_err(|e| {
                Error::invalid_argument(format!("invalid value for 'output_path': {e}"))
            })?,
            Some(Value::String(_)) => {
                return Err(Error::invalid_argument(
                    "invalid value for 'output_path': must be a pfs path starting with '/', such as /memfs/recordings",
                ));
            }
            None | Some(Value::Null) => {
                return Err(Error::invalid_argument(
                    "missing required parameter 'output_path' (a pfs path such as /memfs/recordings)",
                ));
            }
            Some(_) => {
                return Err(Error::invalid_argument(
                    "invalid value for 'output_path': expected a string",
                ));
            }
        };
        let rotation_size =
            fs_core::config_value::size(config, "rotation_size", DEFAULT_ROTATION_SIZE)?;
        if rotation_size == 0 {
            return Err(Error::invalid_argument(
                "invalid value for 'rotation_size': must be at least 1 byte",
            ));
        }
        let filename_pattern = match config.get("filename_pattern") {
            None | Some(Value::Null) => FilenamePattern::parse(DEFAULT_FILENAME_PATTERN)?,
            Some(Value::String(s)) => FilenamePattern::parse(s)?,
            Some(_) => {
                return Err(Error::invalid_argument(
                    "invalid value for 'filename_pattern': expected a string",
                ));
            }
        };
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
    let invalid = || {
        Error::invalid_argument(
            "invalid value for 'rotation_interval': expected seconds or a duration such as \"1h\" or \"30m\", greater than 0",
        )
    };
    let d = match config.get("rotation_interval") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => plugin::parse_duration(s).map_err(|_| invalid())?,
        Some(Value::Number(n)) => n
            .as_f64()
            .and_then(|f| plugin::seconds(f).ok())
            .ok_or_else(invalid)?,
        Some(_) => return Err(invalid()),
    };
    if d.is_zero() {
        return Err(invalid());
    }
    Ok(Some(d))
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
        let mut params = pfs_streamfs::buffer_params();
        params.extend([
            ConfigParam::required(
                "output_path",
                ParamType::String,
                "pfs directory the rotated files are written to, e.g. /memfs/recordings",
            ),
            ConfigParam::optional(
                "rotation_size",
                ParamType::Size,
                "100MB",
                "bytes after which a stream's output file is rotated (\"10MB\" or bytes)",
            ),
            ConfigParam::optional(
                "rotation_interval",
                ParamType::Duration,
                "",
                "age after which a stream's output file is rotated (\"1h\", \"30m\" or seconds); empty rotates by size only",
            ),
            ConfigParam::optional(
                "filename_pattern",
                ParamType::String,
                DEFAULT_FILENAME_PATTERN,
                "output file name; variables {channel} {timestamp} {date} {time} {datetime} {index} (UTC)",
            ),
        ]);
        params
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
        plugin::check_config(&self.config_params(), &config)
    }

    fn validate(&self, config: &Value) -> Result<()> {
        self.check_keys(config)?;
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
