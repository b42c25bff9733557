//! [`HelloFs`]: a read-only root holding the single file `/hello` (mounted as
//! `ReadOnlyFs(HelloFs)`).

use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{Content, ContentBody, Error, FileInfo, Meta, ReadOnlySource, Result, read_window};

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

#[async_trait]
impl ReadOnlySource for HelloFs {
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
            Node::Hello => Ok(read_window(&Bytes::from_static(HELLO), offset, size)),
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
}
