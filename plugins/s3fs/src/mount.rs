//! A mounted s3fs: the [`S3Fs`] of the config in force, replaced whole when the config changes
//! in place (`POST /api/v1/mounts/config`).
//!
//! Every operation runs on the [`S3Fs`] current when it starts and keeps it to its end: a read
//! streaming its body, a multipart upload (whose upload id only its own endpoint knows) and a
//! directory move finish on the client they began with, while operations that start after the
//! change use the new one. A new config is taken only once a client built from it has reached the
//! bucket; until then, and when it cannot, the old client serves on.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::config::{changed, check_live, params};
use fs_core::{
    ByteStream, Capabilities, Content, Error, FileInfo, FileSystem, Reconfigured, Result,
    WriteFlags,
};
use serde_json::Value;

use super::{CACHE_KEYS, KEYS, S3Config, S3Fs};

/// The longest a new config's check of the bucket may take before the change is refused (its own
/// timeouts, with retries, could hold the change, and every other change of the mount, for minutes).
pub(crate) const CHECK_LIMIT: Duration = Duration::from_secs(30);

/// A bucket (or a prefix of one) mounted, whose client and settings can change in place.
#[derive(Debug)]
pub struct S3Mount {
    /// Read only to clone the `Arc`, written only to replace it: never held across an await.
    current: RwLock<Arc<S3Fs>>,
}

impl S3Mount {
    /// Connects as [`S3Fs::connect`] does.
    ///
    /// # Errors
    /// As [`S3Fs::connect`].
    pub async fn connect(config: S3Config) -> Result<Self> {
        Ok(Self::new(S3Fs::connect(config).await?))
    }

    /// A mount serving `fs`.
    pub fn new(fs: S3Fs) -> Self {
        S3Mount {
            current: RwLock::new(Arc::new(fs)),
        }
    }

    /// The filesystem of the config in force (an operation that starts now runs on it).
    pub fn current(&self) -> Arc<S3Fs> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes `new` in place: a client built from it must reach the bucket (within
    /// [`CHECK_LIMIT`]) before it replaces the current one.
    ///
    /// # Errors
    /// `Unsupported` for a changed `bucket` or `prefix` (another filesystem: a remount);
    /// `InvalidArgument` with the reason when the new client cannot use the bucket.
    async fn take(&self, old: &Value, new: &Value) -> Result<Reconfigured> {
        check_live(&params(&[KEYS, CACHE_KEYS]), old, new)?;
        if changed(&params(&[KEYS]), old, new).is_empty() {
            // Only the unused AGFS cache keys changed: nothing to rebuild.
            return Ok(Reconfigured::Accepted);
        }
        let config = S3Config::from_value(new)?;
        let where_ = config.describe();
        let fs = match tokio::time::timeout(CHECK_LIMIT, S3Fs::connect(config)).await {
            Ok(Ok(fs)) => fs,
            Ok(Err(e)) => {
                return Err(Error::invalid_argument(format!(
                    "{}; the mount keeps its current config",
                    e.message()
                )));
            }
            Err(_) => {
                return Err(Error::invalid_argument(format!(
                    "s3fs cannot use {where_}: no answer within {}s; the mount keeps its current config",
                    CHECK_LIMIT.as_secs()
                )));
            }
        };
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fs);
        Ok(Reconfigured::Accepted)
    }
}

#[async_trait]
impl FileSystem for S3Mount {
    fn capabilities(&self) -> Capabilities {
        self.current().capabilities()
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        self.current().stat(path).await
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        self.current().read_dir(path).await
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        self.current().read(path, offset, size).await
    }

    async fn read_content(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Content> {
        self.current().read_content(path, offset, size).await
    }

    async fn write(
        &self,
        path: &str,
        data: Bytes,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        self.current().write(path, data, offset, flags).await
    }

    async fn write_stream(
        &self,
        path: &str,
        data: ByteStream,
        limit: u64,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        self.current()
            .write_stream(path, data, limit, offset, flags)
            .await
    }

    async fn create(&self, path: &str) -> Result<()> {
        self.current().create(path).await
    }

    async fn mkdir(&self, path: &str, mode: u32) -> Result<()> {
        self.current().mkdir(path, mode).await
    }

    async fn remove(&self, path: &str) -> Result<()> {
        self.current().remove(path).await
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        self.current().remove_all(path).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.current().rename(from, to).await
    }

    async fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        self.current().chmod(path, mode).await
    }

    async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        self.current().truncate(path, size).await
    }

    async fn touch(&self, path: &str) -> Result<()> {
        self.current().touch(path).await
    }

    /// Credentials, endpoint, region, addressing, checksums, timeouts and the upload and rewrite
    /// settings change in place (a new client, checked against the bucket first); `bucket` and
    /// `prefix` name another filesystem and need a remount.
    async fn reconfigure(&self, old: &Value, new: &Value) -> Result<Reconfigured> {
        self.take(old, new).await
    }
}
