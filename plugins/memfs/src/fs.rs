//! The memfs tree: directories of named nodes, file content kept as `Bytes` so reads hand out
//! slices of the stored buffer instead of copies.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use fs_core::path::{basename, check_rename, components, parent};
use fs_core::write::check_size;
use fs_core::{
    Capabilities, Content, ContentBody, Error, FileHandle, FileInfo, FileSystem, GenericHandle,
    MemoryLimits, Meta, OpenFlags, Result, WriteFlags, WritePlan, read_window,
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

/// The ETag of a file's content, `<version>-<length>` in hex; written by hand because it goes out
/// with every read and `format!` cost more than the read itself.
fn etag(version: u64, len: u64) -> String {
    fn push_hex(out: &mut String, n: u64) {
        let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
        for shift in (0..digits).rev() {
            let d = (n >> (shift * 4)) & 0xf;
            out.push(char::from_digit(d as u32, 16).unwrap_or('0'));
        }
    }
    let mut out = String::with_capacity(33);
    push_hex(&mut out, version);
    out.push('-');
    push_hex(&mut out, len);
    out
}

/// An in-memory tree of directories and files.
///
/// One `RwLock` guards the tree: reads and stats share it, mutations take it briefly. File content
/// is `Bytes`; a read returns a reference-counted slice, so serving a large file copies nothing.
/// Every mutation checks the size caps ([`MemoryLimits`]) before it changes anything and computes
/// the new content before it stores it, so a refused (or panicking) request leaves the tree as it
/// was.
#[derive(Debug)]
pub struct MemFs {
    tree: RwLock<Tree>,
    versions: AtomicU64,
}

/// The tree and the bytes its files hold in all (for `max_total_size`).
#[derive(Debug)]
struct Tree {
    root: Node,
    used: u64,
    /// The caps, beside what they limit: a config change sets them under the same lock.
    limits: MemoryLimits,
}

impl Tree {
    /// Records that a file of `old` bytes now holds `new`.
    fn replaced(&mut self, old: u64, new: u64) {
        self.used = self.used.saturating_sub(old).saturating_add(new);
    }
}

/// The bytes the files at and below `node` hold.
fn content_size(node: &Node) -> u64 {
    match &node.kind {
        Kind::File(data) => data.len() as u64,
        Kind::Dir(children) => children.values().map(content_size).sum(),
    }
}

impl Default for MemFs {
    fn default() -> Self {
        Self::new()
    }
}

impl MemFs {
    /// An empty tree with the default caps.
    pub fn new() -> Self {
        Self::with_limits(MemoryLimits::default())
    }

    /// An empty tree whose files and total stay within `limits`.
    pub fn with_limits(limits: MemoryLimits) -> Self {
        MemFs {
            tree: RwLock::new(Tree {
                root: Node::dir(0o755),
                used: 0,
                limits,
            }),
            versions: AtomicU64::new(1),
        }
    }

    /// Adds a read-only file at the root (the plugin's `README`).
    pub fn with_file(self, name: &str, data: Bytes, mode: u32) -> Self {
        {
            let mut tree = self.tree.write();
            let len = data.len() as u64;
            if let Kind::Dir(children) = &mut tree.root.kind {
                children.insert(name.to_string(), Node::file(data, mode, 0));
            }
            tree.used += len;
        }
        self
    }

    /// Creates `path` and any missing parents (`mkdir -p`).
    ///
    /// # Errors
    /// `NotADirectory` when a component is a file.
    pub fn mkdir_all(&self, path: &str, mode: u32) -> Result<()> {
        let mut tree = self.tree.write();
        let mut node = &mut tree.root;
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
    /// Every key changes in place: the caps apply to the next change (a total below what the
    /// mount holds is refused; a per-file cap above the total is amended down to it), and new
    /// `init_dirs` are created (parents included); nothing that exists is removed.
    async fn reconfigure(
        &self,
        old: &serde_json::Value,
        new: &serde_json::Value,
    ) -> Result<fs_core::Reconfigured> {
        use fs_core::config::{check_live, params};
        check_live(&params(&[crate::KEYS, MemoryLimits::KEYS]), old, new)?;
        let dirs = crate::INIT_DIRS
            .get(new)?
            .iter()
            .map(|d| fs_core::path::normalize(d))
            .collect::<Result<Vec<_>>>()?;
        // Refused caps change nothing: checked before any directory is made, and again (with what
        // the mount holds then) as they are applied.
        MemoryLimits::for_change(new, self.tree.read().used)?;
        for dir in &dirs {
            self.mkdir_all(dir, 0o755)?;
        }
        let amended = {
            let mut tree = self.tree.write();
            let (limits, amended) = MemoryLimits::for_change(new, tree.used)?;
            tree.limits = limits;
            amended
        };
        Ok(amended.map_or(
            fs_core::Reconfigured::Accepted,
            fs_core::Reconfigured::Amended,
        ))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_file_size: self.tree.read().limits.max_file_size,
            ..Capabilities::READ_WRITE
        }
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        let tree = self.tree.read();
        Ok(lookup(&tree.root, path)?.info(basename(path)))
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        let tree = self.tree.read();
        match &lookup(&tree.root, path)?.kind {
            Kind::Dir(children) => Ok(children.iter().map(|(name, n)| n.info(name)).collect()),
            Kind::File(_) => Err(Error::not_a_directory(path)),
        }
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        let tree = self.tree.read();
        match &lookup(&tree.root, path)?.kind {
            Kind::File(data) => Ok(read_window(data, offset, size)),
            Kind::Dir(_) => Err(Error::is_a_directory(path)),
        }
    }

    async fn read_content(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Content> {
        let tree = self.tree.read();
        let node = lookup(&tree.root, path)?;
        match &node.kind {
            Kind::File(data) => Ok(Content {
                body: ContentBody::Bytes(read_window(data, offset, size)),
                modified: Some(node.mtime),
                etag: Some(etag(node.version, data.len() as u64)),
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
        if path == "/" {
            return Err(Error::is_a_directory(path));
        }
        let n = data.len() as u64;
        let version = self.next_version();
        let mut guard = self.tree.write();
        let tree = &mut *guard;
        let (children, name) = parent_dir(&mut tree.root, path)?;
        let current = match children.get(name).map(|node| &node.kind) {
            Some(Kind::Dir(_)) => return Err(Error::is_a_directory(path)),
            Some(Kind::File(content)) => Some(content.len() as u64),
            None => None,
        };
        let limits = tree.limits;
        let plan = WritePlan::new(path, current, offset, flags, n, limits.max_file_size)?;
        let old_len = current.unwrap_or(0);
        limits.check_total(path, tree.used, old_len, plan.size)?;
        // Everything is checked: from here on the write cannot fail, and the new content is
        // built before it replaces the old one.
        let node = children
            .entry(name.to_string())
            .or_insert_with(|| Node::file(Bytes::new(), 0o644, version));
        let Kind::File(content) = &mut node.kind else {
            unreachable!("checked above: not a directory");
        };
        *content = plan.apply(std::mem::take(content), data);
        node.mtime = SystemTime::now();
        node.version = version;
        tree.replaced(old_len, plan.size);
        Ok(n)
    }

    async fn create(&self, path: &str) -> Result<()> {
        if path == "/" {
            return Err(Error::already_exists(path));
        }
        let version = self.next_version();
        let mut tree = self.tree.write();
        let (children, name) = parent_dir(&mut tree.root, path)?;
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
        let mut tree = self.tree.write();
        let (children, name) = parent_dir(&mut tree.root, path)?;
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
        let mut guard = self.tree.write();
        let tree = &mut *guard;
        let (children, name) = parent_dir(&mut tree.root, path)?;
        match children.get(name) {
            None => Err(Error::not_found(path)),
            Some(Node {
                kind: Kind::Dir(c), ..
            }) if !c.is_empty() => Err(Error::directory_not_empty(path)),
            Some(_) => {
                let freed = children.remove(name).map_or(0, |n| content_size(&n));
                tree.replaced(freed, 0);
                Ok(())
            }
        }
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        let mut guard = self.tree.write();
        let tree = &mut *guard;
        if path == "/" {
            tree.root.kind = Kind::Dir(BTreeMap::new());
            tree.used = 0;
            return Ok(());
        }
        let (children, name) = parent_dir(&mut tree.root, path)?;
        let removed = children
            .remove(name)
            .ok_or_else(|| Error::not_found(path))?;
        tree.replaced(content_size(&removed), 0);
        Ok(())
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        check_rename(from, to)?;
        if from == to {
            return self.stat(from).await.map(|_| ());
        }
        let mut guard = self.tree.write();
        let tree = &mut *guard;
        // Check everything before detaching, so a refused rename changes nothing.
        let source_is_dir = matches!(lookup(&tree.root, from)?.kind, Kind::Dir(_));
        {
            let target_parent = lookup(&tree.root, parent(to)).map_err(|e| e.with_path(to))?;
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
        let (children, name) = parent_dir(&mut tree.root, from)?;
        let mut node = children
            .remove(name)
            .ok_or_else(|| Error::not_found(from))?;
        node.mtime = SystemTime::now();
        let (children, name) = parent_dir(&mut tree.root, to)?;
        let replaced = children.insert(name.to_string(), node);
        tree.replaced(replaced.map_or(0, |n| content_size(&n)), 0);
        Ok(())
    }

    async fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        let mut tree = self.tree.write();
        let node = lookup_mut(&mut tree.root, path)?;
        node.mode = mode & 0o7777;
        Ok(())
    }

    async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        let version = self.next_version();
        let mut guard = self.tree.write();
        let tree = &mut *guard;
        check_size(path, size, tree.limits.max_file_size)?;
        let (used, limits) = (tree.used, tree.limits);
        let node = lookup_mut(&mut tree.root, path)?;
        let Kind::File(content) = &mut node.kind else {
            return Err(Error::is_a_directory(path));
        };
        let old_len = content.len() as u64;
        limits.check_total(path, used, old_len, size)?;
        // Under the per-file cap, which fits in memory.
        *content = resized(std::mem::take(content), size as usize);
        node.mtime = SystemTime::now();
        node.version = version;
        tree.replaced(old_len, size);
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
            let mut guard = self.tree.write();
            let tree = &mut *guard;
            let (children, name) = parent_dir(&mut tree.root, path)?;
            let mut freed = 0;
            match children.get_mut(name) {
                Some(Node {
                    kind: Kind::Dir(_), ..
                }) => return Err(Error::is_a_directory(path)),
                Some(_) if flags.contains(OpenFlags::CREATE | OpenFlags::EXCL) => {
                    return Err(Error::already_exists(path));
                }
                Some(node) => {
                    if flags.contains(OpenFlags::TRUNC) && flags.writable() {
                        freed = content_size(node);
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
            tree.replaced(freed, 0);
        }
        Ok(Box::new(GenericHandle::new(self, path, flags)))
    }

    async fn touch(&self, path: &str) -> Result<()> {
        let version = self.next_version();
        let mut tree = self.tree.write();
        if path != "/" {
            let (children, name) = parent_dir(&mut tree.root, path)?;
            if !children.contains_key(name) {
                children.insert(name.to_string(), Node::file(Bytes::new(), 0o644, version));
                return Ok(());
            }
        }
        lookup_mut(&mut tree.root, path)?.mtime = SystemTime::now();
        Ok(())
    }
}

#[cfg(test)]
mod etag_tests {
    #[test]
    fn etags_are_version_and_length_in_hex() {
        for (v, len) in [(0, 0), (1, 1024), (0xabc, 15), (u64::MAX, u64::MAX >> 1)] {
            assert_eq!(super::etag(v, len), format!("{v:x}-{len:x}"));
        }
    }
}
