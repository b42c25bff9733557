//! This machine's side of a transfer: the `local:` prefix that tells `cp` a local path from a
//! remote one, walking a local tree once, and writing received bytes at their offsets.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};

/// The prefix that marks a local path in `cp` (AGFS's shell uses the same word): `local:./a.txt`,
/// `local:/tmp/x`. Every other operand is a remote path.
pub const LOCAL_PREFIX: &str = "local:";

/// One operand of `cp`: a path on this machine or on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// A local path (the `local:` prefix removed).
    Local(PathBuf),
    /// A remote path, as given.
    Remote(String),
}

impl Operand {
    /// Reads one operand: `local:PATH` is local, anything else remote.
    ///
    /// ```
    /// use pfs_cli::transfer::local::Operand;
    /// assert_eq!(Operand::parse("local:a/b"), Operand::Local("a/b".into()));
    /// assert_eq!(Operand::parse("/memfs/a"), Operand::Remote("/memfs/a".into()));
    /// assert_eq!(Operand::parse("local:"), Operand::Local(".".into()));
    /// ```
    pub fn parse(arg: &str) -> Self {
        match arg.strip_prefix(LOCAL_PREFIX) {
            Some("") => Operand::Local(PathBuf::from(".")),
            Some(p) => Operand::Local(PathBuf::from(p)),
            None => Operand::Remote(arg.to_string()),
        }
    }

    /// Whether this is a local path.
    pub fn is_local(&self) -> bool {
        matches!(self, Operand::Local(_))
    }
}

/// A local path given to `upload` or `download`, where the side is known: an optional `local:`
/// prefix is dropped.
pub fn local_path(arg: &str) -> PathBuf {
    match Operand::parse(arg) {
        Operand::Local(p) => p,
        Operand::Remote(p) => PathBuf::from(p),
    }
}

/// The last component of a local path, for naming its copy (`.` and `/` give `None`).
pub fn file_name(p: &Path) -> Option<String> {
    p.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// A local tree, walked once: its directories (parents first) and files, relative to its root.
#[derive(Debug, Default)]
pub struct LocalTree {
    /// Directories below the root, each after its parent.
    pub dirs: Vec<PathBuf>,
    /// Files with their sizes; a link to a file counts as the file.
    pub files: Vec<(PathBuf, u64)>,
    /// Entries left out (links to directories, sockets, devices), with why.
    pub skipped: Vec<(PathBuf, String)>,
}

impl LocalTree {
    /// Bytes of all files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|(_, s)| s).sum()
    }
}

/// Walks the directory `root` (breadth first, names sorted); links to files are followed, links
/// to directories are skipped so the walk cannot loop.
///
/// # Errors
/// A failure to read `root` itself; unreadable directories below go into `skipped`.
pub async fn walk(root: PathBuf) -> Result<LocalTree> {
    tokio::task::spawn_blocking(move || walk_blocking(&root))
        .await
        .map_err(|e| Error::Invalid(format!("local walk failed: {e}")))?
}

fn walk_blocking(root: &Path) -> Result<LocalTree> {
    let mut tree = LocalTree::default();
    let mut queue = std::collections::VecDeque::from([PathBuf::new()]);
    let mut first = true;
    while let Some(rel) = queue.pop_front() {
        let dir = root.join(&rel);
        let read = match std::fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) if first => return Err(Error::Io(e)),
            Err(e) => {
                tree.skipped.push((rel, e.to_string()));
                continue;
            }
        };
        first = false;
        let mut entries: Vec<_> = read.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let child = rel.join(entry.file_name());
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                tree.dirs.push(child.clone());
                queue.push_back(child);
            } else if kind.is_file() {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                tree.files.push((child, size));
            } else if kind.is_symlink() {
                match std::fs::metadata(entry.path()) {
                    Ok(m) if m.is_file() => tree.files.push((child, m.len())),
                    Ok(m) if m.is_dir() => {
                        tree.skipped.push((child, "link to a directory".into()));
                    }
                    _ => tree.skipped.push((child, "dangling link".into())),
                }
            } else {
                tree.skipped.push((child, "not a regular file".into()));
            }
        }
    }
    Ok(tree)
}

/// Writes `chunks` one after another at `offset` of `file`, on the blocking pool; returns the
/// bytes written.
///
/// # Errors
/// The local write's error.
pub async fn write_at(file: Arc<File>, chunks: Vec<Bytes>, offset: u64) -> Result<u64> {
    tokio::task::spawn_blocking(move || {
        let mut at = offset;
        for c in &chunks {
            file.write_all_at(c, at)?;
            at += c.len() as u64;
        }
        Ok(at - offset)
    })
    .await
    .map_err(|e| Error::Invalid(format!("local write failed: {e}")))?
    .map_err(Error::Io)
}

/// Removes a local file, ignoring that it is already gone.
pub fn remove_quietly(p: &Path) {
    let _ = std::fs::remove_file(p);
}
