//! The filesystem logic, written once over [`Tx`]: one call of [`execute`] is one operation inside
//! one transaction, which the backend commits when it returns `Ok` and rolls back otherwise.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::write::check_size;
use fs_core::{
    Error, ErrorKind, FileInfo, MAX_FILE_SIZE, Meta, Result, WriteFlags, WritePlan, path,
};

/// Bytes per chunk row: a file is `ceil(size / CHUNK)` rows, a range read touches only the rows
/// it overlaps, a pwrite only the rows it changes.
pub(crate) const CHUNK: u64 = 256 * 1024;

/// Permission bits only.
const PERM: u32 = 0o7777;
const FILE_MODE: u32 = 0o644;

/// A row of the node table.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) id: i64,
    pub(crate) is_dir: bool,
    pub(crate) mode: u32,
    pub(crate) size: u64,
    pub(crate) mtime_ns: i64,
}

/// The statements of one transaction; every path and value is bound, never spliced into SQL.
///
/// Chunk rows may be shorter than their extent in the file (or missing): the rest reads as zeros.
#[async_trait]
pub(crate) trait Tx: Send {
    /// The node at `path` (locked until commit in write transactions on MySQL).
    async fn node(&mut self, path: &str) -> Result<Option<Node>>;
    /// Inserts a node, returning its id.
    async fn insert(
        &mut self,
        path: &str,
        parent: &str,
        is_dir: bool,
        mode: u32,
        now: i64,
    ) -> Result<i64>;
    /// Sets size and modification time.
    async fn set_size(&mut self, id: i64, size: u64, now: i64) -> Result<()>;
    /// Sets the permission bits.
    async fn set_mode(&mut self, id: i64, mode: u32) -> Result<()>;
    /// One chunk row.
    async fn chunk(&mut self, id: i64, idx: u64) -> Result<Option<Vec<u8>>>;
    /// The chunk rows with `lo <= idx < hi`.
    async fn chunks(&mut self, id: i64, lo: u64, hi: u64) -> Result<Vec<(u64, Vec<u8>)>>;
    /// Inserts or replaces one chunk row.
    async fn put_chunk(&mut self, id: i64, idx: u64, data: &[u8]) -> Result<()>;
    /// Deletes the chunk rows with `idx >= from`.
    async fn delete_chunks_from(&mut self, id: i64, from: u64) -> Result<()>;
    /// Deletes a node and its chunks.
    async fn delete_node(&mut self, id: i64) -> Result<()>;
    /// The direct children of the directory `dir`: (path, node).
    async fn children(&mut self, dir: &str) -> Result<Vec<(String, Node)>>;
    /// Whether `dir` has any child.
    async fn has_children(&mut self, dir: &str) -> Result<bool>;
    /// Deletes every node strictly below `dir`, with their chunks.
    async fn delete_below(&mut self, dir: &str) -> Result<()>;
    /// Moves one node to `to` (its parent `parent`).
    async fn move_node(&mut self, id: i64, to: &str, parent: &str) -> Result<()>;
    /// Moves every node strictly below `from` to the same place below `to`.
    async fn move_below(&mut self, from: &str, to: &str) -> Result<()>;
    /// How many chunk rows `id` has.
    async fn chunk_count(&mut self, id: i64) -> Result<u64>;
    /// Gives node `id` the id `new_id`, so the chunk rows of `new_id` become its content.
    async fn renumber(&mut self, id: i64, new_id: i64) -> Result<()>;
}

/// `(lo, hi)` such that `lo < p < hi` holds exactly for the paths strictly below `dir` (`0`
/// follows `/`), so no `LIKE` pattern (and no wildcard escaping) is ever needed.
pub(crate) fn below_range(dir: &str) -> (String, String) {
    if dir == "/" {
        ("/".to_string(), "0".to_string())
    } else {
        (format!("{dir}/"), format!("{dir}0"))
    }
}

/// One filesystem operation.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Stat(String),
    ReadDir(String),
    Read {
        path: String,
        offset: u64,
        size: Option<u64>,
    },
    Write {
        path: String,
        data: Bytes,
        offset: Option<u64>,
        flags: WriteFlags,
    },
    /// Makes the chunk rows staged under `staged` ([`super::stream`]) the whole content of `path`:
    /// `chunks` rows holding `size` bytes, checked like a whole-file [`Op::Write`].
    Commit {
        path: String,
        staged: i64,
        chunks: u64,
        size: u64,
        flags: WriteFlags,
    },
    /// Fails as a whole-file write of `path` with `flags` would, changing nothing.
    CheckWrite(String, WriteFlags),
    Create(String),
    Mkdir(String, u32),
    Remove(String),
    RemoveAll(String),
    Rename(String, String),
    Chmod(String, u32),
    Truncate(String, u64),
}

impl Op {
    /// Whether the operation changes anything (an immediate / locking transaction).
    pub(crate) fn is_write(&self) -> bool {
        !matches!(
            self,
            Op::Stat(_) | Op::ReadDir(_) | Op::Read { .. } | Op::CheckWrite(..)
        )
    }

    /// Whether the write asks to be durable before returning (the `SYNC` flag).
    pub(crate) fn is_sync(&self) -> bool {
        matches!(self, Op::Write { flags, .. } | Op::Commit { flags, .. }
            if flags.contains(WriteFlags::SYNC))
    }
}

/// The result of an [`Op`].
#[derive(Debug)]
pub(crate) enum Out {
    Unit,
    Info(FileInfo),
    List(Vec<FileInfo>),
    /// The bytes, how many chunk rows were fetched, and the file's version.
    Data(Bytes, u64, Version),
    Written(u64),
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

/// Runs one operation; `kind` is the backend name shown in `meta.Type`.
pub(crate) async fn execute(tx: &mut dyn Tx, op: Op, kind: &str) -> Result<Out> {
    match op {
        Op::Stat(p) => {
            let n = lookup(tx, &p).await?;
            Ok(Out::Info(info(&p, &n, kind)))
        }
        Op::ReadDir(p) => {
            let n = lookup(tx, &p).await?;
            if !n.is_dir {
                return Err(Error::not_a_directory(p));
            }
            let rows = tx.children(&p).await?;
            Ok(Out::List(
                rows.iter().map(|(cp, n)| info(cp, n, kind)).collect(),
            ))
        }
        Op::Read { path, offset, size } => read(tx, &path, offset, size).await,
        Op::Write {
            path,
            data,
            offset,
            flags,
        } => write(tx, &path, &data, offset, flags).await,
        Op::Commit {
            path,
            staged,
            chunks,
            size,
            flags,
        } => commit(tx, &path, staged, chunks, size, flags).await,
        Op::CheckWrite(p, flags) => {
            target(tx, &p, None, flags, 0, 0, true).await?;
            Ok(Out::Unit)
        }
        Op::Create(p) => {
            if tx.node(&p).await?.is_some() {
                return Err(Error::already_exists(p));
            }
            require_parent(tx, &p).await?;
            tx.insert(&p, path::parent(&p), false, FILE_MODE, now_ns())
                .await?;
            Ok(Out::Unit)
        }
        Op::Mkdir(p, mode) => {
            if tx.node(&p).await?.is_some() {
                return Err(Error::already_exists(p));
            }
            require_parent(tx, &p).await?;
            tx.insert(&p, path::parent(&p), true, mode & PERM, now_ns())
                .await?;
            Ok(Out::Unit)
        }
        Op::Remove(p) => {
            if p == "/" {
                return Err(Error::permission_denied(p));
            }
            let n = lookup(tx, &p).await?;
            if n.is_dir && tx.has_children(&p).await? {
                return Err(Error::directory_not_empty(p));
            }
            tx.delete_node(n.id).await?;
            Ok(Out::Unit)
        }
        Op::RemoveAll(p) => {
            let n = lookup(tx, &p).await?;
            if n.is_dir {
                tx.delete_below(&p).await?;
            }
            if p != "/" {
                tx.delete_node(n.id).await?;
            }
            Ok(Out::Unit)
        }
        Op::Rename(from, to) => rename(tx, &from, &to).await,
        Op::Chmod(p, mode) => {
            let n = lookup(tx, &p).await?;
            tx.set_mode(n.id, mode & PERM).await?;
            Ok(Out::Unit)
        }
        Op::Truncate(p, size) => {
            check_size(&p, size, MAX_FILE_SIZE)?;
            let n = lookup(tx, &p).await?;
            if n.is_dir {
                return Err(Error::is_a_directory(p));
            }
            truncate(tx, &n, size).await?;
            tx.set_size(n.id, size, now_ns()).await?;
            Ok(Out::Unit)
        }
    }
}

async fn read(tx: &mut dyn Tx, p: &str, offset: u64, size: Option<u64>) -> Result<Out> {
    let n = lookup(tx, p).await?;
    if n.is_dir {
        return Err(Error::is_a_directory(p));
    }
    let end = size.map_or(n.size, |s| offset.saturating_add(s).min(n.size));
    if offset >= end {
        return Ok(Out::Data(Bytes::new(), 0, (n.size, mtime(&n))));
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
    Ok(Out::Data(Bytes::from(out), fetched, (n.size, mtime(&n))))
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
) -> Result<Out> {
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
    Ok(Out::Written(data.len() as u64))
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
) -> Result<Out> {
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
    Ok(Out::Written(size))
}

async fn rename(tx: &mut dyn Tx, from: &str, to: &str) -> Result<Out> {
    path::check_rename(from, to)?;
    let src = lookup(tx, from).await?;
    if from == to {
        return Ok(Out::Unit);
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
    Ok(Out::Unit)
}
