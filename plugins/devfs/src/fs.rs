//! [`DevFs`]: a fixed directory of device files; today only `/null`.

use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{Capabilities, Error, ErrorKind, FileInfo, FileSystem, Meta, Result, WriteFlags};

const PLUGIN: &str = "devfs";
const ROOT_MODE: u32 = 0o755;
const NULL_MODE: u32 = 0o666;

/// What a path names.
enum Node {
    Root,
    Null,
}

/// The devfs filesystem: `/` and the device `/null`.
#[derive(Debug)]
pub struct DevFs {
    /// When the filesystem was mounted; the modification time of everything in it.
    mounted: SystemTime,
}

impl Default for DevFs {
    fn default() -> Self {
        Self::new()
    }
}

impl DevFs {
    /// Creates the filesystem.
    pub fn new() -> Self {
        DevFs {
            mounted: SystemTime::now(),
        }
    }

    fn node(path: &str) -> Result<Node> {
        match path {
            "/" => Ok(Node::Root),
            "/null" => Ok(Node::Null),
            // A device used as a directory.
            p if p.starts_with("/null/") => Err(Error::not_a_directory(p)),
            p => Err(Error::not_found(p)),
        }
    }

    fn info(&self, node: &Node) -> FileInfo {
        match node {
            Node::Root => FileInfo::dir("/", ROOT_MODE, Some(self.mounted))
                .with_meta(Meta::new(PLUGIN, "dir")),
            Node::Null => FileInfo::file("null", 0, NULL_MODE, Some(self.mounted))
                .with_meta(Meta::new(PLUGIN, "device")),
        }
    }
}

/// The answer to operations devfs cannot do: it has a fixed set of files.
fn read_only(op: &'static str, path: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        "operation not supported: devfs has a fixed set of device files",
    )
    .with_op(op)
    .with_path(path)
}

#[async_trait]
impl FileSystem for DevFs {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            write: true,
            truncate: true,
            ..Capabilities::READ_ONLY
        }
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        Ok(self.info(&Self::node(path)?))
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        match Self::node(path)? {
            Node::Root => Ok(vec![self.info(&Node::Null)]),
            Node::Null => Err(Error::not_a_directory(path)),
        }
    }

    async fn read(&self, path: &str, _offset: u64, _size: Option<u64>) -> Result<Bytes> {
        match Self::node(path)? {
            Node::Root => Err(Error::is_a_directory(path)),
            Node::Null => Ok(Bytes::new()),
        }
    }

    async fn write(
        &self,
        path: &str,
        data: Bytes,
        _offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        match Self::node(path) {
            Ok(Node::Null) if flags.is_exclusive() => Err(Error::already_exists(path)),
            Ok(Node::Null) => Ok(data.len() as u64),
            Ok(Node::Root) => Err(Error::is_a_directory(path)),
            // A write that would create a file: devices cannot be created.
            Err(e) if e.kind() == ErrorKind::NotFound && flags.creates() => {
                Err(read_only("write", path))
            }
            Err(e) => Err(e),
        }
    }

    async fn create(&self, path: &str) -> Result<()> {
        Err(read_only("create", path))
    }

    async fn mkdir(&self, path: &str, _mode: u32) -> Result<()> {
        Err(read_only("mkdir", path))
    }

    async fn remove(&self, path: &str) -> Result<()> {
        Err(read_only("remove", path))
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        Err(read_only("remove_all", path))
    }

    async fn rename(&self, from: &str, _to: &str) -> Result<()> {
        Err(read_only("rename", from))
    }

    async fn chmod(&self, path: &str, _mode: u32) -> Result<()> {
        Err(read_only("chmod", path))
    }

    async fn truncate(&self, path: &str, _size: u64) -> Result<()> {
        match Self::node(path)? {
            Node::Root => Err(Error::is_a_directory(path)),
            Node::Null => Ok(()),
        }
    }

    async fn touch(&self, path: &str) -> Result<()> {
        match Self::node(path) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(read_only("touch", path)),
            Err(e) => Err(e),
        }
    }
}
