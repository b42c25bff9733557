//! The memfs tree: directories of named nodes, file content kept as `Bytes` so reads hand out
//! slices of the stored buffer instead of copies.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use fs_core::path::{basename, components, is_within, parent};
use fs_core::{
    Capabilities, Content, ContentBody, Error, FileHandle, FileInfo, FileSystem, GenericHandle,
    Meta, OpenFlags, Result, WriteFlags, read_window,
};
use parking_lot::RwLock;

const PLUGIN: &str = "memfs";

#[derive(Debug)]
enum Kind {
    File(Bytes),
    Dir(BTreeMap<String, Node>),
}

#[derive(Debug)]
struct Node {
    kind: Kind,
    mode: u32,
    mtime: SystemTime,
    /// Bumped on every content change; the ETag.
    version: u64,
}

impl Node {
    fn dir(mode: u32) -> Node {
        Node {
            kind: Kind::Dir(BTreeMap::new()),
            mode,
            mtime: SystemTime::now(),
            version: 0,
        }
    }

    fn file(data: Bytes, mode: u32, version: u64) -> Node {
        Node {
            kind: Kind::File(data),
            mode,
            mtime: SystemTime::now(),
            version,
        }
    }

    fn info(&self, name: &str) -> FileInfo {
        match &self.kind {
            Kind::File(data) => {
                FileInfo::file(name, data.len() as u64, self.mode, Some(self.mtime))
                    .with_meta(Meta::new(PLUGIN, "file"))
            }
            Kind::Dir(_) => {
                FileInfo::dir(name, self.mode, Some(self.mtime)).with_meta(Meta::new(PLUGIN, "dir"))
            }
        }
    }
}

/// An in-memory tree of directories and files.
///
/// One `RwLock` guards the tree: reads and stats share it, mutations take it briefly. File content
/// is `Bytes`; a read returns a reference-counted slice, so serving a large file copies nothing.
#[derive(Debug)]
pub struct MemFs {
    root: RwLock<Node>,
    versions: AtomicU64,
}

impl Default for MemFs {
    fn default() -> Self {
        Self::new()
    }
}

impl MemFs {
    /// An empty tree.
    pub fn new() -> Self {
        MemFs {
            root: RwLock::new(Node::dir(0o755)),
            versions: AtomicU64::new(1),
        }
    }

    /// Adds a read-only file at the root (the plugin's `README`).
    pub fn with_file(self, name: &str, data: Bytes, mode: u32) -> Self {
        if let Kind::Dir(children) = &mut self.root.write().kind {
            children.insert(name.to_string(), Node::file(data, mode, 0));
        }
        self
    }

    /// Creates `path` and any missing parents (`mkdir -p`).
    ///
    /// # Errors
    /// `NotADirectory` when a component is a file.
    pub fn mkdir_all(&self, path: &str, mode: u32) -> Result<()> {
        let mut root = self.root.write();
        let mut node = &mut *root;
        for comp in components(path) {
            let Kind::Dir(children) = &mut node.kind else {
                return Err(Error::not_a_directory(path));
            };
            node = children
                .entry(comp.to_string())
                .or_insert_with(|| Node::dir(mode & 0o7777));
        }
        match node.kind {
            Kind::Dir(_) => Ok(()),
            Kind::File(_) => Err(Error::not_a_directory(path)),
        }
    }

    fn next_version(&self) -> u64 {
        self.versions.fetch_add(1, Ordering::Relaxed)
    }
}

/// Finds the node at `path`.
fn lookup<'a>(root: &'a Node, path: &str) -> Result<&'a Node> {
    let mut node = root;
    for comp in components(path) {
        match &node.kind {
            Kind::Dir(children) => {
                node = children.get(comp).ok_or_else(|| Error::not_found(path))?
            }
            Kind::File(_) => return Err(Error::not_a_directory(path)),
        }
    }
    Ok(node)
}

fn lookup_mut<'a>(root: &'a mut Node, path: &str) -> Result<&'a mut Node> {
    let mut node = root;
    for comp in components(path) {
        match &mut node.kind {
            Kind::Dir(children) => {
                node = children
                    .get_mut(comp)
                    .ok_or_else(|| Error::not_found(path))?
            }
            Kind::File(_) => return Err(Error::not_a_directory(path)),
        }
    }
    Ok(node)
}

/// The children map of the parent directory of `path`, and the last component.
fn parent_dir<'a, 'p>(
    root: &'a mut Node,
    path: &'p str,
) -> Result<(&'a mut BTreeMap<String, Node>, &'p str)> {
    let dir = lookup_mut(root, parent(path)).map_err(|e| e.with_path(path))?;
    match &mut dir.kind {
        Kind::Dir(children) => Ok((children, basename(path))),
        Kind::File(_) => Err(Error::not_a_directory(path)),
    }
}

/// Applies a positional write to `old`, zero-filling any gap; reuses `old`'s buffer when unshared.
fn splice(old: Bytes, data: &[u8], at: usize) -> Bytes {
    let mut buf = old
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
    let end = at + data.len();
    if buf.len() < end {
        buf.resize(end, 0);
    }
    buf[at..end].copy_from_slice(data);
    buf.freeze()
}

fn resized(old: Bytes, size: usize) -> Bytes {
    if size <= old.len() {
        return old.slice(..size);
    }
    let mut buf = old
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
    buf.resize(size, 0);
    buf.freeze()
}

fn no_root(op: &'static str) -> Error {
    Error::permission_denied("/")
        .with_op(op)
        .with_message("permission denied (cannot remove the mount root)")
}

#[async_trait]
impl FileSystem for MemFs {
    fn capabilities(&self) -> Capabilities {
        Capabilities::READ_WRITE
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        let root = self.root.read();
        Ok(lookup(&root, path)?.info(basename(path)))
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        let root = self.root.read();
        match &lookup(&root, path)?.kind {
            Kind::Dir(children) => Ok(children.iter().map(|(name, n)| n.info(name)).collect()),
            Kind::File(_) => Err(Error::not_a_directory(path)),
        }
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        let root = self.root.read();
        match &lookup(&root, path)?.kind {
            Kind::File(data) => Ok(read_window(data, offset, size)),
            Kind::Dir(_) => Err(Error::is_a_directory(path)),
        }
    }

    async fn read_content(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Content> {
        let root = self.root.read();
        let node = lookup(&root, path)?;
        match &node.kind {
            Kind::File(data) => Ok(Content {
                body: ContentBody::Bytes(read_window(data, offset, size)),
                modified: Some(node.mtime),
                etag: Some(format!("{:x}-{:x}", node.version, data.len())),
            }),
            Kind::Dir(_) => Err(Error::is_a_directory(path)),
        }
    }

    async fn write(
        &self,
        path: &str,
        data: Bytes,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let n = data.len() as u64;
        let version = self.next_version();
        let mut root = self.root.write();
        let (children, name) = parent_dir(&mut root, path)?;
        let node = match children.get_mut(name) {
            Some(node) => {
                if flags.contains(WriteFlags::CREATE | WriteFlags::EXCLUSIVE) {
                    return Err(Error::already_exists(path));
                }
                node
            }
            None if flags.is_empty() || flags.contains(WriteFlags::CREATE) => children
                .entry(name.to_string())
                .or_insert_with(|| Node::file(Bytes::new(), 0o644, version)),
            None => return Err(Error::not_found(path)),
        };
        let Kind::File(content) = &mut node.kind else {
            return Err(Error::is_a_directory(path));
        };
        let old = if flags.contains(WriteFlags::TRUNCATE) {
            Bytes::new()
        } else {
            std::mem::take(content)
        };
        *content = match (offset, flags.contains(WriteFlags::APPEND)) {
            (_, true) => {
                let at = old.len();
                splice(old, &data, at)
            }
            // The AGFS default: the body becomes the content, stored as is (no copy).
            (None, false) => data,
            (Some(at), false) => {
                let at =
                    usize::try_from(at).map_err(|_| Error::invalid_argument("offset too large"))?;
                splice(old, &data, at)
            }
        };
        node.mtime = SystemTime::now();
        node.version = version;
        Ok(n)
    }

    async fn create(&self, path: &str) -> Result<()> {
        let version = self.next_version();
        let mut root = self.root.write();
        let (children, name) = parent_dir(&mut root, path)?;
        if children.contains_key(name) {
            return Err(Error::already_exists(path));
        }
        children.insert(name.to_string(), Node::file(Bytes::new(), 0o644, version));
        Ok(())
    }

    async fn mkdir(&self, path: &str, mode: u32) -> Result<()> {
        if path == "/" {
            return Err(Error::already_exists(path));
        }
        let mut root = self.root.write();
        let (children, name) = parent_dir(&mut root, path)?;
        if children.contains_key(name) {
            return Err(Error::already_exists(path));
        }
        children.insert(name.to_string(), Node::dir(mode & 0o7777));
        Ok(())
    }

    async fn remove(&self, path: &str) -> Result<()> {
        if path == "/" {
            return Err(no_root("remove"));
        }
        let mut root = self.root.write();
        let (children, name) = parent_dir(&mut root, path)?;
        match children.get(name) {
            None => Err(Error::not_found(path)),
            Some(Node {
                kind: Kind::Dir(c), ..
            }) if !c.is_empty() => Err(Error::directory_not_empty(path)),
            Some(_) => {
                children.remove(name);
                Ok(())
            }
        }
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        let mut root = self.root.write();
        if path == "/" {
            root.kind = Kind::Dir(BTreeMap::new());
            return Ok(());
        }
        let (children, name) = parent_dir(&mut root, path)?;
        children
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| Error::not_found(path))
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        if from == "/" || to == "/" {
            return Err(Error::invalid_argument("cannot rename the mount root").with_path(from));
        }
        if from == to {
            return self.stat(from).await.map(|_| ());
        }
        if is_within(to, from) {
            return Err(
                Error::invalid_argument("cannot move a directory into its own subtree")
                    .with_path(from),
            );
        }
        let mut root = self.root.write();
        // Check everything before detaching, so a refused rename changes nothing.
        let source_is_dir = matches!(lookup(&root, from)?.kind, Kind::Dir(_));
        {
            let target_parent = lookup(&root, parent(to)).map_err(|e| e.with_path(to))?;
            let Kind::Dir(siblings) = &target_parent.kind else {
                return Err(Error::not_a_directory(to));
            };
            match siblings.get(basename(to)).map(|n| &n.kind) {
                None => {}
                Some(Kind::Dir(c)) if source_is_dir && !c.is_empty() => {
                    return Err(Error::directory_not_empty(to));
                }
                Some(Kind::Dir(_)) if !source_is_dir => return Err(Error::is_a_directory(to)),
                Some(Kind::File(_)) if source_is_dir => return Err(Error::not_a_directory(to)),
                Some(_) => {}
            }
        }
        let (children, name) = parent_dir(&mut root, from)?;
        let mut node = children
            .remove(name)
            .ok_or_else(|| Error::not_found(from))?;
        node.mtime = SystemTime::now();
        let (children, name) = parent_dir(&mut root, to)?;
        children.insert(name.to_string(), node);
        Ok(())
    }

    async fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        let mut root = self.root.write();
        let node = lookup_mut(&mut root, path)?;
        node.mode = mode & 0o7777;
        Ok(())
    }

    async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        let size = usize::try_from(size).map_err(|_| Error::invalid_argument("size too large"))?;
        let version = self.next_version();
        let mut root = self.root.write();
        let node = lookup_mut(&mut root, path)?;
        let Kind::File(content) = &mut node.kind else {
            return Err(Error::is_a_directory(path));
        };
        *content = resized(std::mem::take(content), size);
        node.mtime = SystemTime::now();
        node.version = version;
        Ok(())
    }

    /// The open is one step under the tree lock (exists, exclusive, create with `mode`, truncate),
    /// so two racing `O_CREAT|O_EXCL` opens cannot both succeed; reads and writes then go through
    /// the path like every other request.
    async fn open_handle(
        self: Arc<Self>,
        path: &str,
        flags: OpenFlags,
        mode: u32,
    ) -> Result<Box<dyn FileHandle>> {
        if path == "/" {
            return Err(Error::is_a_directory(path));
        }
        let version = self.next_version();
        {
            let mut root = self.root.write();
            let (children, name) = parent_dir(&mut root, path)?;
            match children.get_mut(name) {
                Some(Node {
                    kind: Kind::Dir(_), ..
                }) => return Err(Error::is_a_directory(path)),
                Some(_) if flags.contains(OpenFlags::CREATE | OpenFlags::EXCL) => {
                    return Err(Error::already_exists(path));
                }
                Some(node) => {
                    if flags.contains(OpenFlags::TRUNC) && flags.writable() {
                        node.kind = Kind::File(Bytes::new());
                        node.mtime = SystemTime::now();
                        node.version = version;
                    }
                }
                None if flags.contains(OpenFlags::CREATE) => {
                    children.insert(
                        name.to_string(),
                        Node::file(Bytes::new(), mode & 0o7777, version),
                    );
                }
                None => return Err(Error::not_found(path)),
            }
        }
        Ok(Box::new(GenericHandle::new(self, path, flags)))
    }

    async fn touch(&self, path: &str) -> Result<()> {
        let version = self.next_version();
        let mut root = self.root.write();
        if path != "/" {
            let (children, name) = parent_dir(&mut root, path)?;
            if !children.contains_key(name) {
                children.insert(name.to_string(), Node::file(Bytes::new(), 0o644, version));
                return Ok(());
            }
        }
        lookup_mut(&mut root, path)?.mtime = SystemTime::now();
        Ok(())
    }
}
