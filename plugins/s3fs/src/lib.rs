#![doc = include_str!("../README.md")]

mod bulk;
mod client;
mod fs;
mod keys;
mod requests;
#[cfg(test)]
mod tests;
mod upload;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fs_core::{
    ConfigParam, Error, FileSystem, MountContext, ParamType, Result, ServicePlugin, config_value,
    plugin,
};
use serde_json::Value;

pub use fs::S3Fs;

/// The SDK client s3fs builds for `config` (endpoint, credentials, path style, checksums), for
/// tools and benches that look at the bucket behind s3fs's back.
pub async fn sdk_client(config: &S3Config) -> aws_sdk_s3::Client {
    client::build(config).await
}

const README: &str = include_str!("../README.md");

/// The smallest part S3 accepts in a multipart upload (except the last one).
const MIN_PART_SIZE: u64 = 5 << 20;
/// The default part size of streamed uploads.
const DEFAULT_PART_SIZE: u64 = 8 << 20;
/// The default number of parts uploaded at once.
const DEFAULT_UPLOAD_CONCURRENCY: u64 = 2;
/// Positional writes, appends and truncates rewrite the whole object; this caps the object size.
const DEFAULT_REWRITE_LIMIT: u64 = 64 << 20;

/// When the SDK adds checksums to requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksums {
    /// Only for operations that require one (works with every S3-compatible server).
    WhenRequired,
    /// Whenever the operation supports one (AWS's default; some servers reject the streaming form).
    WhenSupported,
}

/// s3fs's config, read from the AGFS keys plus pfs's own.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// The bucket.
    pub bucket: String,
    /// The region (`us-east-1` by default).
    pub region: String,
    /// A custom endpoint URL (MinIO, moto, s3s-fs, ...); `None` for AWS.
    pub endpoint: Option<String>,
    /// Static credentials; `None` uses the AWS default credential chain.
    pub credentials: Option<(String, String, Option<String>)>,
    /// Keys live under `<prefix>/`; empty for the whole bucket.
    pub prefix: String,
    /// Path-style addressing (`endpoint/bucket/key`).
    pub path_style: bool,
    /// When the SDK sends request checksums.
    pub checksums: Checksums,
    /// Part size of streamed (multipart) uploads.
    pub part_size: u64,
    /// Parts uploaded at once.
    pub upload_concurrency: usize,
    /// The largest object a positional write, append or truncate may rewrite.
    pub rewrite_limit: u64,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Timeout of one attempt of an operation.
    pub operation_timeout: Duration,
}

impl S3Config {
    /// Reads a config already checked by [`plugin::check_config`].
    ///
    /// # Errors
    /// `InvalidArgument` naming the key at fault.
    pub fn from_value(config: &Value) -> Result<Self> {
        let bucket = config_value::string(config, "bucket")?
            .ok_or_else(|| Error::invalid_argument("missing required parameter 'bucket'"))?;
        let region =
            config_value::string(config, "region")?.unwrap_or_else(|| "us-east-1".to_owned());
        let disable_ssl = config_value::boolean(config, "disable_ssl", false)?;
        let endpoint = config_value::string(config, "endpoint")?.map(|e| {
            if e.contains("://") {
                e
            } else if disable_ssl {
                format!("http://{e}")
            } else {
                format!("https://{e}")
            }
        });
        let access = config_value::string(config, "access_key_id")?;
        let secret = config_value::string(config, "secret_access_key")?;
        let token = config_value::string(config, "session_token")?;
        let credentials = match (access, secret) {
            (Some(a), Some(s)) => Some((a, s, token)),
            (None, None) => None,
            _ => {
                return Err(Error::invalid_argument(
                    "'access_key_id' and 'secret_access_key' go together: give both, or neither to use the AWS default credential chain",
                ));
            }
        };
        let prefix =
            keys::normalize_prefix(&config_value::string(config, "prefix")?.unwrap_or_default())?;
        // A custom endpoint is nearly always a server without virtual-host DNS: path style by default.
        let path_style =
            config_value::boolean(config, "use_path_request_style", endpoint.is_some())?;
        let checksums = match config_value::string(config, "checksum")?.as_deref() {
            None if endpoint.is_some() => Checksums::WhenRequired,
            None => Checksums::WhenSupported,
            Some("when_required") => Checksums::WhenRequired,
            Some("when_supported") => Checksums::WhenSupported,
            Some(other) => {
                return Err(Error::invalid_argument(format!(
                    "invalid value for 'checksum': '{other}' (allowed: when_required, when_supported)"
                )));
            }
        };
        let part_size = config_value::size(config, "multipart_part_size", DEFAULT_PART_SIZE)?;
        if part_size < MIN_PART_SIZE {
            return Err(Error::invalid_argument(format!(
                "invalid value for 'multipart_part_size': {part_size} bytes is below S3's minimum part size of 5 MiB"
            )));
        }
        let concurrency =
            config_value::size(config, "upload_concurrency", DEFAULT_UPLOAD_CONCURRENCY)?;
        if !(1..=64).contains(&concurrency) {
            return Err(Error::invalid_argument(
                "invalid value for 'upload_concurrency': must be between 1 and 64",
            ));
        }
        Ok(S3Config {
            bucket,
            region,
            endpoint,
            credentials,
            prefix,
            path_style,
            checksums,
            part_size,
            upload_concurrency: concurrency as usize,
            rewrite_limit: config_value::size(config, "rewrite_limit", DEFAULT_REWRITE_LIMIT)?,
            connect_timeout: config_value::duration(config, "connect_timeout")?
                .unwrap_or(Duration::from_secs(5)),
            operation_timeout: config_value::duration(config, "timeout")?
                .unwrap_or(Duration::from_secs(60)),
        })
    }

    /// Where the bucket is, for messages: `bucket 'b' at http://127.0.0.1:5055`.
    pub(crate) fn describe(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("bucket '{}' at {e}", self.bucket),
            None => format!("bucket '{}' in {}", self.bucket, self.region),
        }
    }
}

/// The s3fs factory.
#[derive(Debug, Clone, Copy, Default)]
pub struct S3FsPlugin;

#[async_trait]
impl ServicePlugin for S3FsPlugin {
    fn name(&self) -> &str {
        "s3fs"
    }

    fn readme(&self) -> &str {
        README
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        use ParamType::{Bool, Duration as Dur, Int, Size, String as Str};
        vec![
            ConfigParam::required("bucket", Str, "the bucket (must exist)"),
            ConfigParam::optional("region", Str, "us-east-1", "the bucket's region"),
            ConfigParam::optional(
                "endpoint",
                Str,
                "",
                "S3-compatible endpoint URL (MinIO, Garage, moto, ...); empty for AWS",
            ),
            ConfigParam::optional(
                "access_key_id",
                Str,
                "",
                "static credentials; without them the AWS default credential chain is used",
            ),
            ConfigParam::optional("secret_access_key", Str, "", "goes with access_key_id"),
            ConfigParam::optional(
                "session_token",
                Str,
                "",
                "optional, with static credentials",
            ),
            ConfigParam::optional(
                "prefix",
                Str,
                "",
                "keys live under '<prefix>/'; mounts with different prefixes never see each other's keys",
            ),
            ConfigParam::optional(
                "use_path_request_style",
                Bool,
                "true with an endpoint, else false",
                "path-style addressing (endpoint/bucket/key)",
            ),
            ConfigParam::optional(
                "disable_ssl",
                Bool,
                "false",
                "use http:// for an endpoint given without a scheme",
            ),
            ConfigParam::optional(
                "checksum",
                Str,
                "when_required with an endpoint, else when_supported",
                "when the SDK adds request checksums: when_required or when_supported (some S3-compatible servers reject streaming checksums)",
            ),
            ConfigParam::optional(
                "multipart_part_size",
                Size,
                "8MB",
                "part size of streamed uploads (at least 5MB); bodies up to this size are one PUT",
            ),
            ConfigParam::optional(
                "upload_concurrency",
                Int,
                "2",
                "parts of one upload sent at once (memory: parts x part size)",
            ),
            ConfigParam::optional(
                "rewrite_limit",
                Size,
                "64MB",
                "the largest object an offset write, append or truncate may rewrite (S3 objects are immutable)",
            ),
            ConfigParam::optional("connect_timeout", Dur, "5s", "TCP connect timeout"),
            ConfigParam::optional("timeout", Dur, "60s", "timeout of one request attempt"),
            ConfigParam::optional(
                "cache_enabled",
                Bool,
                "false",
                "accepted for AGFS compatibility; pfs keeps no cache, so servers sharing a bucket see each other's writes",
            ),
            ConfigParam::optional("cache_ttl", Dur, "30s", "accepted, unused (no cache)"),
            ConfigParam::optional("stat_cache_ttl", Dur, "60s", "accepted, unused (no cache)"),
            ConfigParam::optional("cache_max_size", Int, "1000", "accepted, unused (no cache)"),
        ]
    }

    fn validate(&self, config: &Value) -> Result<()> {
        plugin::check_config(&self.config_params(), config)?;
        S3Config::from_value(config).map(drop)
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let config = S3Config::from_value(&ctx.config)?;
        Ok(Arc::new(S3Fs::connect(config).await?))
    }
}
