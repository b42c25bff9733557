#![doc = include_str!("../README.md")]

mod bulk;
mod client;
mod fs;
mod keys;
mod mount;
mod requests;
#[cfg(test)]
mod tests;
mod upload;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fs_core::config::{Key, Size};
use fs_core::{ConfigParam, Error, FileSystem, MountContext, Result, ServicePlugin};
use serde_json::Value;

pub use fs::S3Fs;
pub use mount::S3Mount;

/// The SDK client s3fs builds for `config` (endpoint, credentials, path style, checksums), for
/// tools and benches that look at the bucket behind s3fs's back.
pub async fn sdk_client(config: &S3Config) -> aws_sdk_s3::Client {
    client::build(config).await
}

const README: &str = include_str!("../README.md");

/// The smallest part S3 accepts in a multipart upload (except the last one).
const MIN_PART_SIZE: u64 = 5 << 20;
/// The largest part S3 accepts in a multipart upload.
const MAX_PART_SIZE: u64 = 5 << 30;
/// The default part size of streamed uploads.
const DEFAULT_PART_SIZE: u64 = 8 << 20;
/// The default number of parts uploaded at once.
const DEFAULT_UPLOAD_CONCURRENCY: u64 = 2;
/// Positional writes, appends and truncates rewrite the whole object; this caps the object size.
const DEFAULT_REWRITE_LIMIT: u64 = 64 << 20;

fs_core::config_keys! {
    KEYS;
    BUCKET: &'static str = Key::required("bucket", "the bucket (it must exist)");
    REGION: &'static str = Key::optional("region", "us-east-1", "the bucket's region").live();
    ENDPOINT: &'static str = Key::unset(
        "endpoint",
        "an S3-compatible endpoint URL (MinIO, Garage, moto, ...); without a scheme, `https://` unless `disable_ssl`; absent for AWS",
    )
    .live();
    ACCESS_KEY_ID: &'static str = Key::unset(
        "access_key_id",
        "static credentials, with `secret_access_key`; without them the AWS default credential chain is used",
    )
    .live();
    SECRET_ACCESS_KEY: &'static str = Key::unset("secret_access_key", "goes with `access_key_id`; masked in `GET /mounts`").live();
    SESSION_TOKEN: &'static str = Key::unset("session_token", "optional, with static credentials").live();
    PREFIX: &'static str = Key::unset(
        "prefix",
        "keys live under `<prefix>/`; mounts with different prefixes never see each other's keys",
    );
    USE_PATH_REQUEST_STYLE: bool = Key::unset(
        "use_path_request_style",
        "path-style addressing (`endpoint/bucket/key`)",
    )
    .default_text("true with an endpoint, else false")
    .live();
    DISABLE_SSL: bool = Key::optional(
        "disable_ssl",
        false,
        "use `http://` for an endpoint given without a scheme",
    )
    .live();
    CHECKSUM: &'static str = Key::unset(
        "checksum",
        "when the SDK adds request checksums: `when_required` or `when_supported` (some S3-compatible servers reject streaming checksums)",
    )
    .default_text("when_required with an endpoint, else when_supported")
    .live();
    MULTIPART_PART_SIZE: Size = Key::optional(
        "multipart_part_size",
        Size(DEFAULT_PART_SIZE),
        "the part size of streamed uploads (5MB to 5GB, S3's limits); bodies up to this size are one PUT",
    )
    .live();
    UPLOAD_CONCURRENCY: u64 = Key::optional(
        "upload_concurrency",
        DEFAULT_UPLOAD_CONCURRENCY,
        "parts of one upload sent at once, 1-64 (memory: parts x part size)",
    )
    .live();
    REWRITE_LIMIT: Size = Key::optional(
        "rewrite_limit",
        Size(DEFAULT_REWRITE_LIMIT),
        "the largest object an offset write, append or truncate may rewrite (S3 objects are immutable); larger ones answer 501",
    )
    .live();
    CONNECT_TIMEOUT: Duration = Key::optional("connect_timeout", Duration::from_secs(5), "the TCP connect timeout; more than 0").live();
    TIMEOUT: Duration = Key::optional("timeout", Duration::from_secs(60), "the timeout of one request attempt; more than 0").live();
}

fs_core::config_keys! {
    /// AGFS's cache keys: accepted, and unused.
    CACHE_KEYS;
    CACHE_ENABLED: bool = Key::optional(
        "cache_enabled",
        false,
        "accepted for AGFS compatibility; pfs keeps no cache, so servers sharing a bucket see each other's writes",
    )
    .live();
    CACHE_TTL: Duration = Key::optional("cache_ttl", Duration::from_secs(30), "accepted, unused (no cache)").live();
    STAT_CACHE_TTL: Duration = Key::optional("stat_cache_ttl", Duration::from_secs(60), "accepted, unused (no cache)").live();
    CACHE_MAX_SIZE: u64 = Key::optional("cache_max_size", 1000, "accepted, unused (no cache)").live();
}

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
    /// Reads a config whose keys were checked ([`ServicePlugin::check_keys`]).
    ///
    /// # Errors
    /// `InvalidArgument` naming the key at fault.
    pub fn from_value(config: &Value) -> Result<Self> {
        let bucket = BUCKET.get(config)?;
        let region = REGION.get(config)?;
        let disable_ssl = DISABLE_SSL.get(config)?;
        let endpoint = ENDPOINT
            .opt(config)?
            .map(|e| {
                let e = e.trim();
                let e = if e.contains("://") {
                    e.to_owned()
                } else if disable_ssl {
                    format!("http://{e}")
                } else {
                    format!("https://{e}")
                };
                check_endpoint(&e).map(|()| e)
            })
            .transpose()?;
        let access = ACCESS_KEY_ID.opt(config)?;
        let secret = SECRET_ACCESS_KEY.opt(config)?;
        let token = SESSION_TOKEN.opt(config)?;
        let credentials = match (access, secret) {
            (Some(a), Some(s)) => Some((a, s, token)),
            (None, None) => None,
            _ => {
                return Err(Error::invalid_argument(
                    "'access_key_id' and 'secret_access_key' go together: give both, or neither to use the AWS default credential chain",
                ));
            }
        };
        let prefix = keys::normalize_prefix(&PREFIX.opt(config)?.unwrap_or_default())?;
        // A custom endpoint is nearly always a server without virtual-host DNS: path style by default.
        let path_style = USE_PATH_REQUEST_STYLE
            .opt(config)?
            .unwrap_or(endpoint.is_some());
        let checksums = match CHECKSUM.opt(config)?.as_deref() {
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
        let part_size = MULTIPART_PART_SIZE.get(config)?;
        if part_size < MIN_PART_SIZE {
            return Err(Error::invalid_argument(format!(
                "invalid value for 'multipart_part_size': {part_size} bytes is below S3's minimum part size of 5 MiB"
            )));
        }
        if part_size > MAX_PART_SIZE {
            return Err(Error::invalid_argument(format!(
                "invalid value for 'multipart_part_size': {part_size} bytes is above S3's maximum part size of 5 GiB"
            )));
        }
        let concurrency = UPLOAD_CONCURRENCY.get(config)?;
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
            rewrite_limit: REWRITE_LIMIT.get(config)?,
            connect_timeout: positive(CONNECT_TIMEOUT.name(), CONNECT_TIMEOUT.get(config)?)?,
            operation_timeout: positive(TIMEOUT.name(), TIMEOUT.get(config)?)?,
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

/// A timeout of zero would fail every request.
fn positive(key: &str, d: Duration) -> Result<Duration> {
    if d.is_zero() {
        return Err(Error::invalid_argument(format!(
            "invalid value for '{key}': must be more than 0"
        )));
    }
    Ok(d)
}

/// Checks the shape of an endpoint URL (the SDK would only fail at the first request): `http` or
/// `https`, a host with an optional numeric port, an optional path; no credentials, query,
/// fragment, spaces or control characters.
fn check_endpoint(url: &str) -> Result<()> {
    let bad = |why: &str| {
        // An endpoint with an `@` may carry credentials: not repeated in the message.
        let shown = if url.contains('@') {
            "(not shown)"
        } else {
            url
        };
        Error::invalid_argument(format!("invalid value for 'endpoint': {shown}: {why}"))
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
    if !matches!(scheme, "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("spaces or control characters"));
    }
    if rest.contains(['?', '#']) {
        return Err(bad("a query or fragment is not allowed"));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(bad(
            "credentials belong in access_key_id and secret_access_key",
        ));
    }
    let (host, port) = match authority.rsplit_once(':') {
        // `[v6]` without a port: the last `:` is inside the brackets.
        Some((h, _)) if !h.ends_with(']') && h.contains(':') => (authority, None),
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if host.is_empty() || host == "[]" {
        return Err(bad("no host"));
    }
    if let Some(p) = port
        && p.parse::<u16>().ok().filter(|p| *p > 0).is_none()
    {
        return Err(bad("the port must be a number in 1..65535"));
    }
    Ok(())
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
        fs_core::config::params(&[KEYS, CACHE_KEYS])
    }

    fn validate(&self, config: &Value) -> Result<()> {
        S3Config::from_value(config).map(drop)
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let config = S3Config::from_value(&ctx.config)?;
        Ok(Arc::new(S3Mount::connect(config).await?))
    }
}
