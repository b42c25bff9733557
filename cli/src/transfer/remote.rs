//! Copies between remote paths, within a mount or across mounts: a file's bytes go from the read
//! response straight into the write request as they arrive, never held whole; and `du`'s walk.

use crate::client::{Client, FileInfo, ReadOptions, WriteOptions};
use crate::error::{Error, Result};
use crate::path;

/// Copies one remote file to another path (replacing it), streaming; returns the bytes written.
///
/// # Errors
/// The read's or the write's error. The server applies a write only once its body is complete,
/// so a failed copy leaves the target as it was.
pub async fn copy_file(client: &Client, from: &str, to: &str) -> Result<u64> {
    let resp = client.read(from, ReadOptions::default()).await?;
    let body = reqwest::Body::wrap_stream(resp.bytes_stream());
    let reply = client.write_body(to, body, WriteOptions::default()).await?;
    Ok(reply.value["written"].as_u64().unwrap_or(0))
}

/// What a tree copy did, and the entries that failed (each with its source path).
#[derive(Debug, Default)]
pub struct TreeReport {
    /// Files copied.
    pub files: u64,
    /// Directories made.
    pub dirs: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Entries that could not be copied; the copy went on without them.
    pub failed: Vec<(String, Error)>,
}

/// Copies the tree at `from` to `to` (made when missing): directories, files and links (a link
/// is copied as a link, not followed). The walk is depth first, one directory listed at a time.
///
/// # Errors
/// Only a failure to list `from` or to make `to`; failures below go into the report.
pub async fn copy_tree(client: &Client, from: &str, to: &str) -> Result<TreeReport> {
    let mut report = TreeReport::default();
    ensure_dir(client, to).await?;
    report.dirs += 1;
    let mut pending = vec![(from.to_string(), to.to_string())];
    let mut first = true;
    while let Some((src, dst)) = pending.pop() {
        let entries = match list_all(client, &src).await {
            Ok(e) => e,
            Err(e) if first => return Err(e),
            Err(e) => {
                report.failed.push((src, e));
                continue;
            }
        };
        first = false;
        for entry in entries {
            let s = path::child(&src, &entry.name);
            let d = path::child(&dst, &entry.name);
            let result = if entry.is_symlink() {
                copy_link(client, &s, &d).await
            } else if entry.is_dir {
                match ensure_dir(client, &d).await {
                    Ok(()) => {
                        report.dirs += 1;
                        pending.push((s.clone(), d));
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            } else {
                copy_file(client, &s, &d).await.map(|n| {
                    report.files += 1;
                    report.bytes += n;
                })
            };
            if let Err(e) = result {
                report.failed.push((s, e));
            }
        }
    }
    Ok(report)
}

/// Every entry of a directory.
pub(crate) async fn list_all(client: &Client, dir: &str) -> Result<Vec<FileInfo>> {
    client.list(dir).await?.collect().await
}

/// Makes `dir` unless a directory is already there.
pub(crate) async fn ensure_dir(client: &Client, dir: &str) -> Result<()> {
    match client.mkdir(dir, None).await {
        Ok(_) => Ok(()),
        Err(e) if e.status() == Some(409) => match client.stat(dir).await {
            Ok(i) if i.value.is_dir => Ok(()),
            _ => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Recreates the link at `from` as `to`, with the same target.
async fn copy_link(client: &Client, from: &str, to: &str) -> Result<()> {
    let reply = client.readlink(from).await?;
    let target = reply.value["target"]
        .as_str()
        .ok_or_else(|| Error::Invalid("readlink answered without a target".into()))?
        .to_string();
    client.symlink(&target, to).await.map(|_| ())
}

/// Sums the sizes below `root` (a file: its own size) by walking listings; no file is read.
/// `each_dir` receives every directory's total, children before parents (`du`'s order).
///
/// # Errors
/// Only a failure to stat or list `root`; unreadable directories below count as empty.
pub async fn disk_usage(
    client: &Client,
    root: &str,
    mut each_dir: impl FnMut(&str, u64),
) -> Result<u64> {
    let info = client.stat(root).await?.value;
    if !info.is_dir || info.is_symlink() {
        return Ok(info.size);
    }
    // Depth-first; each frame is (path, total so far, entries left to visit).
    let mut stack = vec![(
        root.to_string(),
        0u64,
        reversed(list_all(client, root).await?),
    )];
    loop {
        let Some(top) = stack.last_mut() else {
            return Ok(0);
        };
        match top.2.pop() {
            Some(e) if e.is_dir && !e.is_symlink() => {
                let p = path::child(&top.0, &e.name);
                let entries = list_all(client, &p).await.unwrap_or_default();
                stack.push((p, 0, reversed(entries)));
            }
            Some(e) => top.1 += e.size,
            None => {
                let (p, total, _) = stack.pop().expect("non-empty");
                each_dir(&p, total);
                match stack.last_mut() {
                    Some(parent) => parent.1 += total,
                    None => return Ok(total),
                }
            }
        }
    }
}

/// Entries in reverse, so popping visits them in name order.
fn reversed(mut entries: Vec<FileInfo>) -> Vec<FileInfo> {
    entries.reverse();
    entries
}

/// Copies `from` to `to` for `mv` across mounts: a copy, then the source removed only when the
/// whole copy succeeded.
///
/// # Errors
/// The copy's first failure (the source stays), or the removal's.
pub async fn move_across(client: &Client, from: &str, to: &str, is_dir: bool) -> Result<()> {
    if is_dir {
        let mut report = copy_tree(client, from, to).await?;
        if let Some((_, e)) = report.failed.drain(..).next() {
            return Err(e);
        }
    } else {
        copy_file(client, from, to).await?;
    }
    client.remove(from, is_dir).await.map(|_| ())
}
