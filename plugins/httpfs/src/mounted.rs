//! [`HttpFsMount`]: what an httpfs mount is. Its files are [`ReadOnlyFs`] over [`HttpFs`] (the
//! status file, every change refused); its lifecycle hooks and config change, which
//! `ReadOnlyFs` does not forward, are [`HttpFs`]'s.

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{
    Background, ByteStream, Capabilities, Content, FileInfo, FileSystem, ReadOnlyFs, Reconfigured,
    Result, WriteFlags,
};

use super::HttpFs;

/// The filesystem an httpfs mount serves.
#[derive(Debug)]
pub struct HttpFsMount(ReadOnlyFs<HttpFs>);

impl HttpFsMount {
    /// Mounts `fs`.
    pub fn new(fs: HttpFs) -> Self {
        HttpFsMount(ReadOnlyFs(fs))
    }

    /// The listener's side.
    pub fn httpfs(&self) -> &HttpFs {
        &self.0.0
    }
}

#[async_trait]
impl FileSystem for HttpFsMount {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
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

    async fn write(
        &self,
        path: &str,
        data: Bytes,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        self.0.write(path, data, offset, flags).await
    }

    async fn write_stream(
        &self,
        path: &str,
        data: ByteStream,
        limit: u64,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        self.0.write_stream(path, data, limit, offset, flags).await
    }

    async fn create(&self, path: &str) -> Result<()> {
        self.0.create(path).await
    }

    async fn mkdir(&self, path: &str, mode: u32) -> Result<()> {
        self.0.mkdir(path, mode).await
    }

    async fn remove(&self, path: &str) -> Result<()> {
        self.0.remove(path).await
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        self.0.remove_all(path).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.0.rename(from, to).await
    }

    async fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        self.0.chmod(path, mode).await
    }

    async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        self.0.truncate(path, size).await
    }

    async fn touch(&self, path: &str) -> Result<()> {
        self.0.touch(path).await
    }

    /// Every key changes in place: see [`HttpFs::change`].
    async fn reconfigure(
        &self,
        old: &serde_json::Value,
        new: &serde_json::Value,
    ) -> Result<Reconfigured> {
        self.httpfs().change(old, new).await?;
        Ok(Reconfigured::Accepted)
    }

    /// Serves the listener bound at `initialize` on `background`: see [`HttpFs::run`].
    async fn start(&self, background: &Background) -> Result<()> {
        self.httpfs().run(background)
    }

    async fn shutdown(&self) -> Result<()> {
        self.0.shutdown().await
    }
}
