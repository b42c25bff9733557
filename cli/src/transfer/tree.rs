//! Whole trees: the head step walks the source once (remote listings, or the local directory),
//! the directories are made, then one transfer per file runs with bounded concurrency. A file that
//! fails is reported and the others still move.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::download::download_sized;
use super::local;
use super::remote::{ensure_dir, list_all};
use super::source::Source;
use super::upload::upload_file;
use super::{Options, Report};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::path;

/// A remote tree, walked once: directories (parents first) and files with sizes, relative to
/// its root and joined with `/`.
#[derive(Debug, Default)]
pub struct RemoteTree {
    /// Directories below the root, each after its parent.
    pub dirs: Vec<String>,
    /// Files with their sizes.
    pub files: Vec<(String, u64)>,
    /// Entries left out (symbolic links), with why.
    pub skipped: Vec<(String, String)>,
}

/// Walks the remote directory `root` breadth first, one listing per directory.
///
/// # Errors
/// A failure to list `root`; directories below that cannot be listed go into `skipped`.
pub async fn walk_remote(client: &Client, root: &str) -> Result<RemoteTree> {
    let mut tree = RemoteTree::default();
    let mut queue = std::collections::VecDeque::from([String::new()]);
    let mut first = true;
    while let Some(rel) = queue.pop_front() {
        let dir = join(root, &rel);
        let entries = match list_all(client, &dir).await {
            Ok(e) => e,
            Err(e) if first => return Err(e),
            Err(e) => {
                tree.skipped.push((rel, e.reason()));
                continue;
            }
        };
        first = false;
        for e in entries {
            let child = if rel.is_empty() {
                e.name.clone()
            } else {
                format!("{rel}/{}", e.name)
            };
            if e.is_symlink() {
                tree.skipped.push((child, "symbolic link".into()));
            } else if e.is_dir {
                tree.dirs.push(child.clone());
                queue.push_back(child);
            } else {
                tree.files.push((child, e.size));
            }
        }
    }
    Ok(tree)
}

/// `root` joined with the relative path `rel` (empty: `root` itself).
fn join(root: &str, rel: &str) -> String {
    if rel.is_empty() {
        root.to_string()
    } else {
        path::child(root, rel)
    }
}

/// Downloads the remote tree `remote` into the local directory `local` (made when missing).
/// With `--continue`, a file already there with the remote size is kept.
///
/// # Errors
/// A failure to walk `remote` or to make `local`; failures of files go into the report.
pub async fn download_tree(
    client: &Client,
    remote: &str,
    local: &Path,
    opts: &Options,
) -> Result<Report> {
    let tree = walk_remote(client, remote).await?;
    let mut report = Report {
        skipped: tree
            .skipped
            .iter()
            .map(|(p, why)| (join(remote, p), why.clone()))
            .collect(),
        ..Report::default()
    };
    tokio::fs::create_dir_all(local).await?;
    for d in &tree.dirs {
        let dir = local.join(d);
        match tokio::fs::create_dir_all(&dir).await {
            Ok(()) => report.dirs += 1,
            Err(e) => report.failed.push((dir.display().to_string(), e.into())),
        }
    }
    let bytes = tree.files.iter().map(|f| f.1).sum();
    opts.progress.begin(tree.files.len() as u64, bytes);
    let jobs = tree.files.into_iter().filter_map(|(rel, size)| {
        let target = local.join(&rel);
        let kept = opts.resume && std::fs::metadata(&target).is_ok_and(|m| m.len() == size);
        (!kept).then(|| (join(remote, &rel), target, size))
    });
    let limit = Arc::new(Semaphore::new(opts.parallel.max(1)));
    run_bounded(opts.parallel, jobs, &mut report, |(from, target, size)| {
        let (client, opts, limit) = (client.clone(), opts.clone(), Arc::clone(&limit));
        async move {
            let source = Source::Pfs {
                client,
                path: from.clone(),
            };
            let r = download_sized(&source, &target, size, &opts, &limit).await;
            (from, r)
        }
    })
    .await;
    Ok(report)
}

/// Uploads the local directory `local` to the remote directory `remote` (made when missing).
///
/// # Errors
/// A failure to walk `local` or to make `remote`; failures of files go into the report.
pub async fn upload_tree(
    client: &Client,
    local: &Path,
    remote: &str,
    opts: &Options,
) -> Result<Report> {
    let tree = local::walk(local.to_path_buf()).await?;
    let mut report = Report {
        skipped: tree
            .skipped
            .iter()
            .map(|(p, why)| (local.join(p).display().to_string(), why.clone()))
            .collect(),
        ..Report::default()
    };
    ensure_dir(client, remote).await?;
    for d in &tree.dirs {
        let dir = join(remote, &slashed(d));
        match ensure_dir(client, &dir).await {
            Ok(()) => report.dirs += 1,
            Err(e) => report.failed.push((dir, e)),
        }
    }
    opts.progress.begin(tree.files.len() as u64, tree.bytes());
    let jobs = tree
        .files
        .into_iter()
        .map(|(rel, size)| (local.join(&rel), join(remote, &slashed(&rel)), size));
    let limit = Arc::new(Semaphore::new(opts.parallel.max(1)));
    run_bounded(opts.parallel, jobs, &mut report, |(from, to, _size)| {
        let (client, opts, limit) = (client.clone(), opts.clone(), Arc::clone(&limit));
        async move {
            let r = upload_file(&client, &from, &to, &opts, &limit)
                .await
                .map(|u| u.bytes);
            (from.display().to_string(), r)
        }
    })
    .await;
    Ok(report)
}

/// A relative local path with `/` between its components.
fn slashed(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Runs `job` for every item with at most `parallel` running at once; counts each success
/// (its bytes) into `report`, and each failure with the name the job gave.
async fn run_bounded<I, F, Fut>(parallel: usize, items: I, report: &mut Report, job: F)
where
    I: Iterator,
    F: Fn(I::Item) -> Fut,
    Fut: Future<Output = (String, Result<u64>)> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    let mut tally = |r: std::result::Result<(String, Result<u64>), tokio::task::JoinError>| match r
    {
        Ok((_, Ok(n))) => {
            report.files += 1;
            report.bytes += n;
        }
        Ok((name, Err(e))) => report.failed.push((name, e)),
        Err(e) => report.failed.push((
            String::new(),
            Error::Invalid(format!("a transfer task failed: {e}")),
        )),
    };
    for item in items {
        while tasks.len() >= parallel.max(1) {
            if let Some(r) = tasks.join_next().await {
                tally(r);
            }
        }
        tasks.spawn(job(item));
    }
    while let Some(r) = tasks.join_next().await {
        tally(r);
    }
}

/// Where a copy of `source` lands when the destination `dest` is given: inside `dest` when it is
/// an existing directory (or ends with `/`), else `dest` itself.
pub fn local_target(dest: &Path, dest_given: &str, name: &str) -> PathBuf {
    if dest_given.ends_with('/') || dest.is_dir() {
        dest.join(name)
    } else {
        dest.to_path_buf()
    }
}
