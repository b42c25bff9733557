//! Handles on an isolated mount: the generic handle (the server keeps path and position), bound to
//! the process it was opened on. After a restart the plugin's state is gone, so such a handle
//! answers a clear error instead of reaching the new process as if nothing happened.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{Error, ErrorKind, FileHandle, FileInfo, Result, Whence};

use super::fs::Inner;

/// A handle that works only while the process it was opened on serves.
#[derive(Debug)]
pub(crate) struct BoundHandle {
    pub(crate) inner: Box<dyn FileHandle>,
    pub(crate) fs: Arc<Inner>,
    /// [`Inner::restarts`] when the handle was opened.
    pub(crate) epoch: u64,
}

impl BoundHandle {
    fn check(&self) -> Result<()> {
        if self.fs.restarts.load(Ordering::Acquire) == self.epoch {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "plugin {} restarted since this handle was opened, and what it held is gone: open the file again",
                self.fs.label
            ),
        ))
    }
}

#[async_trait]
impl FileHandle for BoundHandle {
    fn position(&self) -> u64 {
        self.inner.position()
    }

    async fn read(&mut self, size: u64) -> Result<Bytes> {
        self.check()?;
        self.inner.read(size).await
    }

    async fn read_at(&mut self, offset: u64, size: u64) -> Result<Bytes> {
        self.check()?;
        self.inner.read_at(offset, size).await
    }

    async fn write(&mut self, data: Bytes) -> Result<u64> {
        self.check()?;
        self.inner.write(data).await
    }

    async fn write_at(&mut self, offset: u64, data: Bytes) -> Result<u64> {
        self.check()?;
        self.inner.write_at(offset, data).await
    }

    async fn seek(&mut self, offset: i64, whence: Whence) -> Result<u64> {
        self.check()?;
        self.inner.seek(offset, whence).await
    }

    async fn sync(&mut self) -> Result<()> {
        self.check()?;
        self.inner.sync().await
    }

    async fn stat(&mut self) -> Result<FileInfo> {
        self.check()?;
        self.inner.stat().await
    }

    async fn truncate(&mut self, size: u64) -> Result<()> {
        self.check()?;
        self.inner.truncate(size).await
    }

    async fn read_chunk(&mut self, max: u64) -> Result<Option<Bytes>> {
        self.check()?;
        self.inner.read_chunk(max).await
    }

    async fn close(&mut self) -> Result<()> {
        self.inner.close().await
    }
}
