//! The filesystem logic, written once over [`Tx`]: each operation is a type of its own that
//! implements [`Operation`], answering its own result type. A backend runs one operation inside one
//! transaction, which it commits when [`Operation::apply`] returns `Ok` and rolls back otherwise.
//!
//! Paths are used as given: the mount router normalizes every path once, before any plugin sees it
//! ([`fs_core::path`]). What is checked here are the tree's own rules: the root is never removed,
//! a directory never moves into its own subtree, a parent must exist and be a directory.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fs_core::write::check_size;
use fs_core::{
    Error, ErrorKind, FileInfo, MAX_FILE_SIZE, Meta, Result, WriteFlags, WritePlan, path,
};

use super::tx::{Node, Tx};

/// Bytes per chunk row: a file is `ceil(size / CHUNK)` rows, a range read touches only the rows
/// it overlaps, a pwrite only the rows it changes.
pub(crate) const CHUNK: u64 = 256 * 1024;

/// Permission bits only.
const PERM: u32 = 0o7777;
const FILE_MODE: u32 = 0o644;

/// One filesystem operation, run by a backend inside one transaction of its own.
pub(crate) trait Operation: Send + Sync + 'static {
    /// What the operation answers.
    type Output: Send + 'static;

    /// Whether the operation changes anything: a write transaction (SQLite's writer thread,
    /// locking reads on MySQL), else a read-only snapshot.
    const WRITES: bool;

    /// Whether the write asks to be durable before returning (the `SYNC` flag).
    fn sync(&self) -> bool {
        false
    }

    /// The statements of the operation in `tx`; `kind` is the backend name shown in `meta.Type`.
    /// Takes `&self` so a backend can run it again (a MySQL deadlock victim is retried whole).
    fn apply(
        &self,
        tx: &mut dyn Tx,
        kind: &'static str,
    ) -> impl Future<Output = Result<Self::Output>> + Send;
}

/// What a read answers.
#[derive(Debug)]
pub(crate) struct Data {
    /// The bytes read.
    pub(crate) bytes: Bytes,
    /// How many chunk rows were fetched.
    pub(crate) chunks: u64,
    /// The file's version the bytes belong to.
    pub(crate) version: Version,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// A file's size and modification time as a read saw them (streamed reads compare them between
/// batches).
pub(crate) type Version = (u64, Option<SystemTime>);

fn mtime(n: &Node) -> Option<SystemTime> {
    u64::try_from(n.mtime_ns)
        .ok()
        .map(|ns| UNIX_EPOCH + Duration::from_nanos(ns))
}

fn info(p: &str, n: &Node, kind: &str) -> FileInfo {
    let t = mtime(n);
    let name = path::basename(p);
    let meta = Meta::new("sqlfs", kind);
    if n.is_dir {
        FileInfo::dir(name, n.mode & PERM, t).with_meta(meta)
    } else {
        FileInfo::file(name, n.size, n.mode & PERM, t).with_meta(meta)
    }
}

/// The node at `p`: `NotFound`, or `NotADirectory` when its parent is a file.
async fn lookup(tx: &mut dyn Tx, p: &str) -> Result<Node> {
    if let Some(n) = tx.node(p).await? {
        return Ok(n);
    }
    if p != "/"
        && let Some(parent) = tx.node(path::parent(p)).await?
        && !parent.is_dir
    {
        return Err(Error::not_a_directory(p));
    }
    Err(Error::not_found(p))
}

/// Checks that the parent of `p` exists and is a directory.
async fn require_parent(tx: &mut dyn Tx, p: &str) -> Result<()> {
    match tx.node(path::parent(p)).await? {
        Some(n) if n.is_dir => Ok(()),
        Some(_) => Err(Error::not_a_directory(p)),
        None => Err(Error::not_found(p)),
    }
}

/// `stat`.
#[derive(Debug)]
pub(crate) struct Stat(pub(crate) String);

impl Operation for Stat {
    type Output = FileInfo;
    const WRITES: bool = false;

    async fn apply(&self, tx: &mut dyn Tx, kind: &'static str) -> Result<FileInfo> {
        let n = lookup(tx, &self.0).await?;
        Ok(info(&self.0, &n, kind))
    }
}

/// `read_dir`.
#[derive(Debug)]
pub(crate) struct ReadDir(pub(crate) String);

impl Operation for ReadDir {
    type Output = Vec<FileInfo>;
    const WRITES: bool = false;

    async fn apply(&self, tx: &mut dyn Tx, kind: &'static str) -> Result<Vec<FileInfo>> {
        let p = &self.0;
        let n = lookup(tx, p).await?;
        if !n.is_dir {
            return Err(Error::not_a_directory(p));
        }
        let rows = tx.children(p).await?;
        Ok(rows.iter().map(|(cp, n)| info(cp, n, kind)).collect())
    }
}

/// A read of up to `size` bytes (to the end when `None`) at `offset`.
#[derive(Debug)]
pub(crate) struct Read {
    pub(crate) path: String,
    pub(crate) offset: u64,
    pub(crate) size: Option<u64>,
}

impl Operation for Read {
    type Output = Data;
    const WRITES: bool = false;

    async fn apply(&self, tx: &mut dyn Tx, _: &'static str) -> Result<Data> {
        read(tx, &self.path, self.offset, self.size).await
    }
}

/// A write of `data` at `offset` (see [`WritePlan`]); answers the bytes written.
#[derive(Debug)]
pub(crate) struct Write {
    pub(crate) path: String,
    pub(crate) data: Bytes,
    pub(crate) offset: Option<u64>,
    pub(crate) flags: WriteFlags,
}

impl Operation for Write {
    type Output = u64;
    const WRITES: bool = true;

    fn sync(&self) -> bool {
        self.flags.contains(WriteFlags::SYNC)
    }

    async fn apply(&self, tx: &mut dyn Tx, _: &'static str) -> Result<u64> {
        write(tx, &self.path, &self.data, self.offset, self.flags).await
    }
}

/// Makes the chunk rows staged under `staged` ([`super::stream`]) the whole content of `path`:
/// `chunks` rows holding `size` bytes, checked like a whole-file [`Write`]; answers `size`.
#[derive(Debug)]
pub(crate) struct Commit {
    pub(crate) path: String,
    pub(crate) staged: i64,
    pub(crate) chunks: u64,
    pub(crate) size: u64,
    pub(crate) flags: WriteFlags,
}

impl Operation for Commit {
    type Output = u64;
    const WRITES: bool = true;

    fn sync(&self) -> bool {
        self.flags.contains(WriteFlags::SYNC)
    }

    async fn apply(&self, tx: &mut dyn Tx, _: &'static str) -> Result<u64> {
        commit(
            tx,
            &self.path,
            self.staged,
            self.chunks,
            self.size,
            self.flags,
        )
        .await
    }
}

/// Fails as a whole-file write of `path` with `flags` would, changing nothing.
#[derive(Debug)]
pub(crate) struct CheckWrite {
    pub(crate) path: String,
    pub(crate) flags: WriteFlags,
}

impl Operation for CheckWrite {
    type Output = ();
    const WRITES: bool = false;

    async fn apply(&self, tx: &mut dyn Tx, _: &'static str) -> Result<()> {
        target(tx, &self.path, None, self.flags, 0, 0, true)
            .await
            .map(drop)
    }
}

/// `create`: a new empty file.
#[derive(Debug)]
pub(crate) struct Create(pub(crate) String);

impl Operation for Create {
    type Output = ();
    const WRITES: bool = true;

    async fn apply(&self, tx: &mut dyn Tx, _: &'static str) -> Result<()> {
        insert_new(tx, &self.0, false, FILE_MODE).await
    }
}

/// `mkdir`.
#[derive(Debug)]
pub(crate) struct Mkdir {
    pub(crate) path: String,
    pub(crate) mode: u32,
}

impl Operation for Mkdir {
    type Output = ();
    const WRITES: bool = true;

    async fn apply(&self, tx: &mut dyn Tx, _: &'static str) -> Result<()> {
        insert_new(tx, &self.path, true, self.mode & PERM).await
    }
}

/// `remove`: a file or an empty directory, never the root.
#[derive(Debug)]
pub(crate) struct Remove(pub(crate) String);

impl Operation for Remove {
    type Output = ();
    const WRITES: bool = true;

    async fn apply(&self, tx: &mut dyn Tx, _: &'static str) -> Result<()> {
        let p = &self.0;
        if p == "/" {
            return Err(Error::permission_denied(p));
        }
        let n = lookup(tx, p).await?;
        if n.is_dir && tx.has_children(p).await? {
            return Err(Error::directory_not_empty(p));
        }
        tx.delete_node(n.id).await
    }
}

/// `remove_all`: a node and everything below it (below only, for the root).
#[derive(Debug)]
pub(crate) struct RemoveAll(pub(crate) String);

impl Operation for RemoveAll {
    type Output = ();
    const WRITES: bool = true;

    async fn apply(&self, tx: &mut dyn Tx, _: &'static str) -> Result<()> {
        let p = &self.0;
        let n = lookup(tx, p).await?;
        if n.is_dir {
            tx.delete_below(p).await?;
        }
        if p != "/" {
            tx.delete_node(n.id).await?;
        }
        Ok(())
    }
}

/// `rename`, moving a directory's whole subtree.
#[derive(Debug)]
pub(crate) struct Rename {
    pub(crate) from: String,
    pub(crate) to: String,
}

impl Operation for Rename {
    type Output = ();
    const WRITES: bool = true;

    async fn apply(&self, tx: &mut dyn Tx, _: &'static str) -> Result<()> {
        rename(tx, &self.from, &self.to).await
    }
}

/// `chmod`: the permission bits of `mode`.
#[derive(Debug)]
pub(crate) struct Chmod {
    pub(crate) path: String,
    pub(crate) mode: u32,
}

impl Operation for Chmod {
    type Output = ();
    const WRITES: bool = true;

    async fn apply(&self, tx: &mut dyn Tx, _: &'static str) -> Result<()> {
        let n = lookup(tx, &self.path).await?;
        tx.set_mode(n.id, self.mode & PERM).await
    }
}

/// `truncate` (or extend with zeros) to `size` bytes.
#[derive(Debug)]
pub(crate) struct Truncate {
    pub(crate) path: String,
    pub(crate) size: u64,
}

impl Operation for Truncate {
    type Output = ();
    const WRITES: bool = true;

    async fn apply(&self, tx: &mut dyn Tx, _: &'static str) -> Result<()> {
        let (p, size) = (&self.path, self.size);
        check_size(p, size, MAX_FILE_SIZE)?;
        let n = lookup(tx, p).await?;
        if n.is_dir {
            return Err(Error::is_a_directory(p));
        }
        truncate(tx, &n, size).await?;
        tx.set_size(n.id, size, now_ns()).await
    }
}

/// Creates the file or directory `p`, which must not exist, in an existing directory.
async fn insert_new(tx: &mut dyn Tx, p: &str, is_dir: bool, mode: u32) -> Result<()> {
    if tx.node(p).await?.is_some() {
        return Err(Error::already_exists(p));
    }
    require_parent(tx, p).await?;
    tx.insert(p, path::parent(p), is_dir, mode, now_ns())
        .await
        .map(drop)
}

async fn read(tx: &mut dyn Tx, p: &str, offset: u64, size: Option<u64>) -> Result<Data> {
    let n = lookup(tx, p).await?;
    if n.is_dir {
        return Err(Error::is_a_directory(p));
    }
    let end = size.map_or(n.size, |s| offset.saturating_add(s).min(n.size));
    if offset >= end {
        return Ok(Data {
            bytes: Bytes::new(),
            chunks: 0,
            version: (n.size, mtime(&n)),
        });
    }
    let (lo, hi) = (offset / CHUNK, (end - 1) / CHUNK + 1);
    let rows = tx.chunks(n.id, lo, hi).await?;
    let fetched = rows.len() as u64;
    // A whole read of a far-grown sparse file could ask for more than the machine has: fail, not
    // abort (streamed reads, `read_content`, never buffer it whole).
    let want = usize::try_from(end - offset).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    out.try_reserve_exact(want).map_err(|_| {
        Error::new(
            ErrorKind::Unavailable,
            format!(
                "{p}: not enough memory to read {want} bytes at once; read a range or stream it"
            ),
        )
    })?;
    out.resize(want, 0);
    for (idx, data) in rows {
        let start = idx * CHUNK;
        let stop = start + data.len() as u64;
        let (a, b) = (start.max(offset), stop.min(end));
        if a < b {
            out[(a - offset) as usize..(b - offset) as usize]
                .copy_from_slice(&data[(a - start) as usize..(b - start) as usize]);
        }
    }
    Ok(Data {
        bytes: Bytes::from(out),
        chunks: fetched,
        version: (n.size, mtime(&n)),
    })
}

/// Cuts the chunk rows of `n` to `size` bytes (growing needs nothing: missing bytes read as zeros).
async fn truncate(tx: &mut dyn Tx, n: &Node, size: u64) -> Result<()> {
    if size >= n.size {
        return Ok(());
    }
    tx.delete_chunks_from(n.id, size.div_ceil(CHUNK)).await?;
    let cut = (size % CHUNK) as usize;
    if cut > 0 {
        let idx = size / CHUNK;
        if let Some(mut c) = tx.chunk(n.id, idx).await?
            && c.len() > cut
        {
            c.truncate(cut);
            tx.put_chunk(n.id, idx, &c).await?;
        }
    }
    Ok(())
}

/// The file a write goes to and what the write does to it ([`WritePlan`]: the flags, offset and
/// length checked against the file as it is). A missing file is created when the plan says so;
/// with `check_only` nothing is created (the node returned for a missing file then has id 0).
async fn target(
    tx: &mut dyn Tx,
    p: &str,
    offset: Option<u64>,
    flags: WriteFlags,
    len: u64,
    now: i64,
    check_only: bool,
) -> Result<(Node, WritePlan)> {
    let found = tx.node(p).await?;
    match &found {
        Some(n) if n.is_dir => return Err(Error::is_a_directory(p)),
        // The lookup names a parent that is missing or a file.
        None if !flags.creates() => {
            return Err(lookup(tx, p)
                .await
                .err()
                .unwrap_or_else(|| Error::not_found(p)));
        }
        _ => {}
    }
    let plan = WritePlan::new(
        p,
        found.as_ref().map(|n| n.size),
        offset,
        flags,
        len,
        MAX_FILE_SIZE,
    )?;
    let node = match found {
        Some(n) => n,
        None => {
            require_parent(tx, p).await?;
            let id = if check_only {
                0
            } else {
                tx.insert(p, path::parent(p), false, FILE_MODE, now).await?
            };
            Node {
                id,
                is_dir: false,
                mode: FILE_MODE,
                size: 0,
                mtime_ns: now,
            }
        }
    };
    Ok((node, plan))
}

async fn write(
    tx: &mut dyn Tx,
    p: &str,
    data: &[u8],
    offset: Option<u64>,
    flags: WriteFlags,
) -> Result<u64> {
    let now = now_ns();
    let (node, plan) = target(tx, p, offset, flags, data.len() as u64, now, false).await?;
    if plan.keep == 0 && node.size > 0 {
        tx.delete_chunks_from(node.id, 0).await?;
    }
    // The plan bounds `at + data.len()` by MAX_FILE_SIZE: no sum below can wrap.
    let (kept, off) = (plan.keep, plan.at);
    let mut pos = 0usize;
    while pos < data.len() {
        let abs = off + pos as u64;
        let idx = abs / CHUNK;
        let within = (abs % CHUNK) as usize;
        let n = (CHUNK as usize - within).min(data.len() - pos);
        let part = &data[pos..pos + n];
        if within == 0 && n == CHUNK as usize {
            tx.put_chunk(node.id, idx, part).await?;
        } else {
            let mut buf = if idx * CHUNK < kept {
                tx.chunk(node.id, idx).await?.unwrap_or_default()
            } else {
                Vec::new()
            };
            if buf.len() < within + n {
                buf.resize(within + n, 0);
            }
            buf[within..within + n].copy_from_slice(part);
            tx.put_chunk(node.id, idx, &buf).await?;
        }
        pos += n;
    }
    tx.set_size(node.id, plan.size, now).await?;
    Ok(data.len() as u64)
}

/// Swaps in staged content: the node takes the staging id instead of the chunk rows taking the
/// node's, so no chunk row is rewritten and the transaction stays short whatever the file size.
async fn commit(
    tx: &mut dyn Tx,
    p: &str,
    staged: i64,
    chunks: u64,
    size: u64,
    flags: WriteFlags,
) -> Result<u64> {
    let now = now_ns();
    let (node, _) = target(tx, p, None, flags, size, now, false).await?;
    // Rows swept as stale (an upload older than the sweep age) must not become a file of zeros.
    let found = tx.chunk_count(staged).await?;
    if found != chunks {
        return Err(Error::new(
            ErrorKind::Unavailable,
            format!("{p}: the upload's staged data is gone ({found} of {chunks} chunks left)"),
        ));
    }
    tx.delete_chunks_from(node.id, 0).await?;
    tx.renumber(node.id, staged).await?;
    tx.set_size(staged, size, now).await?;
    Ok(size)
}

async fn rename(tx: &mut dyn Tx, from: &str, to: &str) -> Result<()> {
    path::check_rename(from, to)?;
    let src = lookup(tx, from).await?;
    if from == to {
        return Ok(());
    }
    require_parent(tx, to).await?;
    if let Some(dst) = tx.node(to).await? {
        match (src.is_dir, dst.is_dir) {
            (false, true) => return Err(Error::is_a_directory(to)),
            (true, false) => return Err(Error::not_a_directory(to)),
            (true, true) if tx.has_children(to).await? => {
                return Err(Error::directory_not_empty(to));
            }
            _ => {}
        }
        tx.delete_node(dst.id).await?;
    }
    tx.move_node(src.id, to, path::parent(to)).await?;
    if src.is_dir {
        tx.move_below(from, to).await?;
    }
    Ok(())
}
