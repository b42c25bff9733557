//! Downloads: the head step (a file's size and version, or a whole remote tree walked once), then
//! a big file as ranged pieces fetched in parallel and written at their offsets into
//! `FILE.pfs-part`, each piece retried on its own; a small file as one request; a tree as one
//! download per file with bounded concurrency. Finished files are verified and renamed into place.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::{CONTENT_RANGE, ETAG};
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;

use super::Options;
use super::local;
use super::pieces::{self, Failure, Piece, with_retries};
use super::progress::FileProgress;
use super::resume::{State, part_path};
use super::source::{Head, Source, header};
use super::verify;
use crate::error::{Error, Result};

/// Bytes gathered from a response before one positional write.
const WRITE_BATCH: usize = 1 << 20;

/// Downloads one file from `source` into the local file `target` (replaced when it exists);
/// returns its size. Requests in flight are bounded by `limit`.
///
/// # Errors
/// The head's error (`not found`, `is a directory`), a piece that failed every attempt, a
/// verification mismatch, or a local write error. A pieced download that fails keeps its part
/// and state files for `--continue`.
pub async fn download_file(
    source: &Source,
    target: &Path,
    opts: &Options,
    limit: &Arc<Semaphore>,
) -> Result<u64> {
    let head = source.head(opts.piece_size).await?;
    let name = display_name(target);
    match head.size {
        Some(size) if head.ranges && size > opts.piece_size => {
            fetch_pieces(source, target, &head, size, opts, limit, &name).await
        }
        size => fetch_whole(source, target, size, opts, limit, &name).await,
    }
}

/// Downloads a file whose size the head step of a tree already learned: a small one in one
/// request with no `stat` first, a big one as [`download_file`] does.
///
/// # Errors
/// As [`download_file`].
pub async fn download_sized(
    source: &Source,
    target: &Path,
    size: u64,
    opts: &Options,
    limit: &Arc<Semaphore>,
) -> Result<u64> {
    if size > opts.piece_size {
        download_file(source, target, opts, limit).await
    } else {
        let name = display_name(target);
        fetch_whole(source, target, Some(size), opts, limit, &name).await
    }
}

/// The name a progress bar shows.
fn display_name(target: &Path) -> String {
    local::file_name(target).unwrap_or_else(|| target.display().to_string())
}

/// One request for the whole file, streamed into the part file and renamed into place; a failed
/// attempt starts over. `size`, when known, is checked at the end.
async fn fetch_whole(
    source: &Source,
    target: &Path,
    size: Option<u64>,
    opts: &Options,
    limit: &Arc<Semaphore>,
    name: &str,
) -> Result<u64> {
    let part = part_path(target);
    let progress = opts.progress.file(name, size);
    let got = with_retries(opts.attempts, |_| {
        let (part, progress) = (&part, &progress);
        async move {
            let _permit = limit.acquire().await.map_err(|_| closed())?;
            let resp = source.get(None).await?;
            let file = Arc::new(File::create(part)?);
            let mut stream = resp.bytes_stream();
            let mut written = 0u64;
            let mut batch = Batch::default();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| Failure::Retry(Error::Http(e)))?;
                if batch.push(chunk) {
                    written += batch.flush(&file, written, progress.as_ref()).await?;
                }
            }
            written += batch.flush(&file, written, progress.as_ref()).await?;
            if let Some(s) = size
                && written != s
            {
                return Err(Failure::Retry(Error::Invalid(format!(
                    "expected {s} bytes, got {written}"
                ))));
            }
            Ok(written)
        }
    })
    .await;
    drop(progress);
    match got {
        Ok(n) => {
            tokio::fs::rename(&part, target).await?;
            Ok(n)
        }
        Err(e) => {
            local::remove_quietly(&part);
            Err(e)
        }
    }
}

/// Chunks of a response gathered for one positional write.
#[derive(Default)]
struct Batch {
    chunks: Vec<Bytes>,
    len: usize,
}

impl Batch {
    /// Adds a chunk; true when the batch is big enough to write.
    fn push(&mut self, chunk: Bytes) -> bool {
        self.len += chunk.len();
        self.chunks.push(chunk);
        self.len >= WRITE_BATCH
    }

    /// Writes the batch at `at` and reports it; returns its length.
    async fn flush(
        &mut self,
        file: &Arc<File>,
        at: u64,
        progress: &dyn FileProgress,
    ) -> Result<u64, Failure> {
        if self.len == 0 {
            return Ok(0);
        }
        let chunks = std::mem::take(&mut self.chunks);
        self.len = 0;
        let n = local::write_at(Arc::clone(file), chunks, at)
            .await
            .map_err(Failure::Fatal)?;
        progress.add(n);
        Ok(n)
    }
}

fn closed() -> Failure {
    Failure::Fatal(Error::Invalid("the transfer was cancelled".into()))
}

/// The pieced download: resume state loaded or started, missing pieces fetched in parallel, then
/// verified and renamed into place.
async fn fetch_pieces(
    source: &Source,
    target: &Path,
    head: &Head,
    size: u64,
    opts: &Options,
    limit: &Arc<Semaphore>,
    name: &str,
) -> Result<u64> {
    let identity = source.identity();
    let part = part_path(target);
    let kept = if opts.resume {
        match State::load(target).await {
            Some(s) if s.matches(&identity, size, head) && part_len(&part) == Some(size) => Some(s),
            _ => None,
        }
    } else {
        None
    };
    let (state, file) = match kept {
        Some(s) => (s, OpenOptions::new().write(true).open(&part)?),
        None => {
            State::remove(target).await;
            let f = File::create(&part)?;
            f.set_len(size)?;
            (State::new(identity, size, head, opts.piece_size), f)
        }
    };
    state.save(target).await?;
    let progress: Arc<dyn FileProgress> = Arc::from(opts.progress.file(name, Some(size)));
    let piece_size = state.piece_size;
    let missing: Vec<u64> = (0..state.done.len() as u64)
        .filter(|i| !state.done[*i as usize])
        .collect();
    let already: u64 = (0..state.done.len() as u64)
        .filter(|i| state.done[*i as usize])
        .map(|i| pieces::piece(size, piece_size, i).len)
        .sum();
    progress.add(already);
    let state = Arc::new(Mutex::new(state));
    let file = Arc::new(file);
    let mut tasks = JoinSet::new();
    let mut failed = None;
    for index in missing {
        // A failed piece ends the download: stop starting others.
        while let Some(done) = tasks.try_join_next() {
            if let Err(e) = joined(done) {
                failed.get_or_insert(e);
            }
        }
        if failed.is_some() {
            break;
        }
        let permit = Arc::clone(limit)
            .acquire_owned()
            .await
            .map_err(|_| closed().into_error())?;
        let job = PieceJob {
            source: source.clone(),
            file: Arc::clone(&file),
            piece: pieces::piece(size, piece_size, index),
            etag: head.etag.clone(),
            attempts: opts.attempts,
            progress: Arc::clone(&progress),
        };
        let (state, target) = (Arc::clone(&state), target.to_path_buf());
        tasks.spawn(async move {
            let _permit = permit;
            job.run().await?;
            let mut s = state.lock().await;
            s.done[index as usize] = true;
            s.save(&target).await
        });
    }
    while failed.is_none() {
        match tasks.join_next().await {
            Some(done) => failed = joined(done).err(),
            None => break,
        }
    }
    tasks.abort_all();
    drop(progress);
    if let Some(e) = failed {
        return Err(e);
    }
    drop(file);
    finish(source, target, &part, size, opts).await?;
    Ok(size)
}

/// A finished piece task's result.
fn joined(r: std::result::Result<Result<()>, tokio::task::JoinError>) -> Result<()> {
    r.map_err(|e| Error::Invalid(format!("a piece task failed: {e}")))?
}

/// The size of a local file, `None` when it is missing.
fn part_len(p: &Path) -> Option<u64> {
    std::fs::metadata(p).ok().map(|m| m.len())
}

/// Checks the size and, where the server offers one, the digest; then renames the part into
/// place and drops the state. A mismatch removes both, since resuming could only repeat it.
async fn finish(
    source: &Source,
    target: &Path,
    part: &Path,
    size: u64,
    opts: &Options,
) -> Result<()> {
    verify::check_size(part, size).await?;
    if opts.verify && matches!(source, Source::Pfs { .. }) {
        let (remote, local) = tokio::join!(source.digest(), verify::xxh3_file(part));
        if let Some(remote) = remote
            && remote != local?
        {
            local::remove_quietly(part);
            State::remove(target).await;
            return Err(Error::Invalid(format!(
                "digest mismatch: the server's xxh3 is {remote}, the local file's differs"
            )));
        }
    }
    tokio::fs::rename(part, target).await?;
    State::remove(target).await;
    Ok(())
}

/// One piece to fetch, with what it needs to run on its own task.
struct PieceJob {
    source: Source,
    file: Arc<File>,
    piece: Piece,
    etag: Option<String>,
    attempts: u32,
    progress: Arc<dyn FileProgress>,
}

impl PieceJob {
    /// Fetches the piece; a retry asks only for the bytes the failed attempt did not write.
    async fn run(&self) -> Result<()> {
        let done = AtomicU64::new(0);
        with_retries(self.attempts, |_| self.attempt(&done)).await
    }

    /// One attempt from byte `done` of the piece; `done` grows as batches are written.
    async fn attempt(&self, done: &AtomicU64) -> Result<(), Failure> {
        let p = self.piece;
        let start = p.offset + done.load(Ordering::Relaxed);
        let resp = self.source.get(Some((start, p.last()))).await?;
        if resp.status().as_u16() != 206 {
            return Err(Failure::Fatal(Error::Invalid(
                "the server ignored the Range header".into(),
            )));
        }
        let range_ok = header(&resp, CONTENT_RANGE)
            .is_some_and(|v| v.starts_with(&format!("bytes {start}-{}/", p.last())));
        if !range_ok {
            return Err(Failure::Fatal(Error::Invalid(
                "the server answered another range than the one asked".into(),
            )));
        }
        if let (Some(want), Some(got)) = (&self.etag, header(&resp, ETAG))
            && *want != got
        {
            return Err(Failure::Fatal(Error::Invalid(
                "the remote file changed during the download".into(),
            )));
        }
        let mut at = done.load(Ordering::Relaxed);
        let mut stream = resp.bytes_stream();
        let mut batch = Batch::default();
        loop {
            let chunk = match stream.next().await {
                Some(c) => c.map_err(|e| Failure::Retry(Error::Http(e)))?,
                None => break,
            };
            if at + (batch.len + chunk.len()) as u64 > p.len {
                return Err(Failure::Fatal(Error::Invalid(
                    "the server sent more bytes than the range asked".into(),
                )));
            }
            if batch.push(chunk) {
                at += batch
                    .flush(&self.file, p.offset + at, self.progress.as_ref())
                    .await?;
                done.store(at, Ordering::Relaxed);
            }
        }
        at += batch
            .flush(&self.file, p.offset + at, self.progress.as_ref())
            .await?;
        done.store(at, Ordering::Relaxed);
        if at < p.len {
            return Err(Failure::Retry(Error::Invalid(format!(
                "piece {} ended {} bytes early",
                p.index,
                p.len - at
            ))));
        }
        Ok(())
    }
}
