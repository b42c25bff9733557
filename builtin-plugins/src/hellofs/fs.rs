//! [`HelloFs`]: a read-only root holding the single file `/hello`.

use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{
    ByteStream, Capabilities, Content, ContentBody, Error, ErrorKind, FileInfo, FileSystem, Meta,
    Result, WriteFlags,
};

/// The content of `/hello`.
pub(crate) const HELLO: &[u8] = b"Hello, World!\n";

const PLUGIN: &str = "hellofs";
const ROOT_MODE: u32 = 0o555;
const FILE_MODE: u32 = 0o444;

/// What a path names.
enum Node {
    Root,
    Hello,
}

/// The hellofs filesystem: `/` and `/hello`, both read-only.
#[derive(Debug)]
pub struct HelloFs {
    /// When the filesystem was mounted; the modification time of everything in it.
    mounted: SystemTime,
}

impl Default for HelloFs {
    fn default() -> Self {
        Self::new()
    }
}

impl HelloFs {
    /// Creates the filesystem.
    pub fn new() -> Self {
        HelloFs {
            mounted: SystemTime::now(),
        }
    }

    fn node(path: &str) -> Result<Node> {
        match path {
            "/" => Ok(Node::Root),
            "/hello" => Ok(Node::Hello),
            // A file used as a directory.
            p if p.starts_with("/hello/") => Err(Error::not_a_directory(p)),
            p => Err(Error::not_found(p)),
        }
    }

    fn info(&self, node: &Node) -> FileInfo {
        match node {
            Node::Root => FileInfo::dir("/", ROOT_MODE, Some(self.mounted))
                .with_meta(Meta::new(PLUGIN, "dir")),
            Node::Hello => {
                FileInfo::file("hello", HELLO.len() as u64, FILE_MODE, Some(self.mounted))
                    .with_meta(Meta::new(PLUGIN, "file"))
            }
        }
    }
}

/// The answer to every mutating operation.
fn read_only(op: &'static str, path: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        "read-only filesystem: operation not supported",
    )
    .with_op(op)
    .with_path(path)
}

/// The `offset`/`size` window of `data`, empty at or past the end.
fn window(data: &'static [u8], offset: u64, size: Option<u64>) -> Bytes {
    let len = data.len() as u64;
    let start = offset.min(len);
    let end = size.map_or(len, |s| start.saturating_add(s).min(len));
    Bytes::from_static(&data[start as usize..end as usize])
}

#[async_trait]
impl FileSystem for HelloFs {
    fn capabilities(&self) -> Capabilities {
        Capabilities::READ_ONLY
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        Ok(self.info(&Self::node(path)?))
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        match Self::node(path)? {
            Node::Root => Ok(vec![self.info(&Node::Hello)]),
            Node::Hello => Err(Error::not_a_directory(path)),
        }
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        match Self::node(path)? {
            Node::Root => Err(Error::is_a_directory(path)),
            Node::Hello => Ok(window(HELLO, offset, size)),
        }
    }

    async fn read_content(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Content> {
        let body = self.read(path, offset, size).await?;
        Ok(Content {
            body: ContentBody::Bytes(body),
            modified: Some(self.mounted),
            etag: None,
        })
    }

    async fn write(
        &self,
        path: &str,
        _data: Bytes,
        _offset: Option<u64>,
        _flags: WriteFlags,
    ) -> Result<u64> {
        Err(read_only("write", path))
    }

    // Overridden so a refused upload is not read (and size-checked) first.
    async fn write_stream(
        &self,
        path: &str,
        _data: ByteStream,
        _limit: u64,
        _offset: Option<u64>,
        _flags: WriteFlags,
    ) -> Result<u64> {
        Err(read_only("write", path))
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
        Err(read_only("truncate", path))
    }

    async fn touch(&self, path: &str) -> Result<()> {
        Err(read_only("touch", path))
    }
}
