//! [`Routed`]: a path resolved once — links followed, its mount found — for a caller that makes
//! several calls on it (a GET asks whether its read has side effects, then reads). The router's
//! own read methods go through it too, so both give the same answers and the same errors.

use std::borrow::Cow;
use std::sync::Arc;

use super::{Mount, MountableFs, ctx};
use crate::path::strip;
use crate::{ByteStream, Content, Result};

/// A path with links followed and the mount that serves it ([`MountableFs::route`]).
#[derive(Debug)]
pub struct Routed<'p> {
    mount: Arc<Mount>,
    path: Cow<'p, str>,
}

impl MountableFs {
    /// Resolves the normalized `path` for reading: every link on it is followed, the last
    /// component's included, and the mount that serves the result is found.
    ///
    /// # Errors
    /// `InvalidArgument` for a link loop; `NotFound` outside every mount; `IsADirectory` for the
    /// root and the virtual directories above mounts; each with `op`.
    pub fn route<'p>(&self, path: &'p str, op: &'static str) -> Result<Routed<'p>> {
        let path = self.follow(path, op)?;
        let mount = self.routed(&path, op)?.mount;
        Ok(Routed { mount, path })
    }
}

impl Routed<'_> {
    /// The path the data lives at (links followed).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The mount that serves it.
    pub fn mount(&self) -> &Arc<Mount> {
        &self.mount
    }

    /// The path inside the mount.
    fn rel(&self) -> &str {
        strip(&self.path, &self.mount.path)
    }

    /// Whether reading the path changes something ([`crate::FileSystem::read_has_side_effects`]).
    pub fn read_has_side_effects(&self) -> bool {
        self.mount.fs.read_has_side_effects(self.rel())
    }

    /// Reads `size` bytes (all, when `None`) from `offset`, with the plugin's validators.
    ///
    /// # Errors
    /// The plugin's, with the full path and `read`.
    pub async fn read_content(&self, offset: u64, size: Option<u64>) -> Result<Content> {
        self.mount
            .fs
            .read_content(self.rel(), offset, size)
            .await
            .map_err(|e| ctx(e, "read", &self.mount, &self.path))
    }

    /// Opens the path as a live stream.
    ///
    /// # Errors
    /// The plugin's, with the full path and `stream`; `Unsupported` when it is not a stream.
    pub async fn open_stream(&self) -> Result<ByteStream> {
        self.mount
            .fs
            .open_stream(self.rel())
            .await
            .map_err(|e| ctx(e, "stream", &self.mount, &self.path))
    }
}
