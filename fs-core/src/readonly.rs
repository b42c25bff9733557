//! Read-only filesystems: a plugin implements [`ReadOnlySource`] (stat, list, read) and mounts
//! [`ReadOnlyFs`]`(source)`, the [`FileSystem`] whose every mutation answers `Unsupported`, in
//! agreement with `Capabilities::READ_ONLY`.

use async_trait::async_trait;
use bytes::Bytes;

use crate::{
    Background, ByteStream, Capabilities, Content, Error, FileInfo, FileSystem, Health,
    Reconfigured, Result, WriteFlags,
};

/// What a read-only plugin implements: the read side of a filesystem that cannot change. Mount it
/// as [`ReadOnlyFs`]`(source)`.
#[async_trait]
pub trait ReadOnlySource: Send + Sync + std::fmt::Debug + 'static {
    /// As [`FileSystem::stat`].
    async fn stat(&self, path: &str) -> Result<FileInfo>;
    /// As [`FileSystem::read_dir`].
    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>>;
    /// As [`FileSystem::read`].
    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes>;
    /// As [`FileSystem::read_content`].
    async fn read_content(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Content> {
        Ok(Content::from(self.read(path, offset, size).await?))
    }
    /// As [`FileSystem::start`].
    async fn start(&self, background: &Background) -> Result<()> {
        let _ = background;
        Ok(())
    }
    /// As [`FileSystem::reconfigure`]: by default every change is a remount.
    async fn reconfigure(
        &self,
        old: &serde_json::Value,
        new: &serde_json::Value,
    ) -> Result<Reconfigured> {
        let _ = (old, new);
        Err(crate::filesystem::needs_remount())
    }
    /// As [`FileSystem::health`].
    fn health(&self) -> Health {
        Health::Serving
    }
    /// As [`FileSystem::shutdown`].
    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }
}

/// The read-only [`FileSystem`] over a [`ReadOnlySource`]: reads pass through, mutations answer
/// `Unsupported` (`read-only filesystem: operation not supported`, HTTP 501).
#[derive(Debug)]
pub struct ReadOnlyFs<T>(pub T);

fn refuse(op: &'static str, path: &str) -> Error {
    Error::unsupported(op)
        .with_path(path)
        .with_message("read-only filesystem: operation not supported")
}

#[async_trait]
impl<T: ReadOnlySource> FileSystem for ReadOnlyFs<T> {
    fn capabilities(&self) -> Capabilities {
        Capabilities::READ_ONLY
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        self.0.stat(path).await
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        self.0.read_dir(path).await
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        self.0.read(path, offset, size).await
    }

    async fn read_content(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Content> {
        self.0.read_content(path, offset, size).await
    }

    async fn write(&self, path: &str, _: Bytes, _: Option<u64>, _: WriteFlags) -> Result<u64> {
        Err(refuse("write", path))
    }

    async fn write_stream(
        &self,
        path: &str,
        _: ByteStream,
        _: u64,
        _: Option<u64>,
        _: WriteFlags,
    ) -> Result<u64> {
        // Refused before a byte of the body is read.
        Err(refuse("write", path))
    }

    async fn create(&self, path: &str) -> Result<()> {
        Err(refuse("create", path))
    }

    async fn mkdir(&self, path: &str, _: u32) -> Result<()> {
        Err(refuse("mkdir", path))
    }

    async fn remove(&self, path: &str) -> Result<()> {
        Err(refuse("remove", path))
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        Err(refuse("remove", path))
    }

    async fn rename(&self, from: &str, _: &str) -> Result<()> {
        Err(refuse("rename", from))
    }

    async fn chmod(&self, path: &str, _: u32) -> Result<()> {
        Err(refuse("chmod", path))
    }

    async fn truncate(&self, path: &str, _: u64) -> Result<()> {
        Err(refuse("truncate", path))
    }

    async fn touch(&self, path: &str) -> Result<()> {
        Err(refuse("touch", path))
    }

    async fn start(&self, background: &Background) -> Result<()> {
        self.0.start(background).await
    }

    async fn reconfigure(
        &self,
        old: &serde_json::Value,
        new: &serde_json::Value,
    ) -> Result<Reconfigured> {
        self.0.reconfigure(old, new).await
    }

    fn health(&self) -> Health {
        self.0.health()
    }

    async fn shutdown(&self) -> Result<()> {
        self.0.shutdown().await
    }
}
