//! Streamed whole-file writes: the body goes to the database chunk by chunk as it arrives, staged
//! under a negative id that no node has (so no reader sees it), each chunk in a short transaction
//! of its own; one last transaction checks the write and swaps the staged rows in.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use fs_core::{ByteStream, Error, ErrorKind, Result, WriteFlags};
use futures_util::StreamExt;

use super::ops::{self, CHUNK};
use super::{SqlFs, Store, mysql, sqlite};

/// Low bits of a staging id below its start time, random, so uploads started in the same second
/// (here or on another server sharing the database) get different ids.
const RANDOM_BITS: u32 = 28;
/// Staged rows older than this belong to an upload whose server died; the next mount deletes them.
/// Younger ones may be another live server's upload in progress.
pub(crate) const STALE_AFTER_SECS: u64 = 24 * 3600;
/// Fresh ids tried when the first one is taken (a clash needs the same second and 28 random bits).
const CLAIM_ATTEMPTS: usize = 8;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The staging id of an upload started `secs` after the epoch: `-(secs << 28 | random)`, so a
/// later start gives a lower id and the age of leftovers is a range of ids.
pub(crate) fn staging_id(secs: u64, random: u64) -> i64 {
    let secs = i64::try_from(secs.min(i64::MAX as u64 >> RANDOM_BITS)).unwrap_or(0);
    let random = i64::try_from(random & ((1 << RANDOM_BITS) - 1)).unwrap_or(0);
    -((secs << RANDOM_BITS) | random)
}

fn random_bits() -> u64 {
    // The low 62 bits of a v7 UUID are random.
    uuid::Uuid::now_v7().as_u128() as u64
}

/// Staged rows with ids in `(sweep_bound(), 0)` were started more than [`STALE_AFTER_SECS`] ago.
pub(crate) fn sweep_bound() -> i64 {
    staging_id(now_secs().saturating_sub(STALE_AFTER_SECS), 0)
}

impl Store {
    async fn stage(&self, id: i64, idx: u64, data: Bytes) -> Result<bool> {
        match self {
            Store::Sqlite(pool) => sqlite::stage(pool, id, idx, data).await,
            Store::Mysql(pool) => mysql::stage(pool, id, idx, data).await,
        }
    }

    async fn discard_staged(&self, id: i64) -> Result<()> {
        match self {
            Store::Sqlite(pool) => sqlite::discard_staged(pool, id).await,
            Store::Mysql(pool) => mysql::discard_staged(pool, id).await,
        }
    }
}

/// The staged rows of one upload. Dropped while still live (the request was cancelled mid-way),
/// it deletes them in the background.
#[derive(Debug)]
struct Staging {
    store: Store,
    id: i64,
    /// Rows staged so far (indexes `0..chunks`).
    chunks: u64,
    live: bool,
}

impl Staging {
    /// Claims a fresh id by inserting chunk 0 under it: the insert fails when the id is taken, and
    /// every upload starts with chunk 0, so two uploads can never share an id.
    async fn start(store: &Store, first: Bytes) -> Result<Self> {
        for _ in 0..CLAIM_ATTEMPTS {
            let id = staging_id(now_secs(), random_bits());
            if store.stage(id, 0, first.clone()).await? {
                return Ok(Staging {
                    store: store.clone(),
                    id,
                    chunks: 1,
                    live: true,
                });
            }
        }
        Err(Error::internal("sqlfs: no free staging id for the upload"))
    }

    async fn push(&mut self, data: Bytes) -> Result<()> {
        if !self.store.stage(self.id, self.chunks, data).await? {
            return Err(Error::internal(format!(
                "sqlfs: staging id {} was taken during the upload",
                self.id
            )));
        }
        self.chunks += 1;
        Ok(())
    }

    /// Deletes the staged rows (best effort: leftovers go with the sweep at a later mount).
    async fn discard(mut self) {
        let _ = self.store.discard_staged(self.id).await;
        self.live = false;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.live
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let (store, id) = (self.store.clone(), self.id);
            rt.spawn(async move {
                let _ = store.discard_staged(id).await;
            });
        }
    }
}

/// Body bytes received but not staged yet: at most one chunk plus the last piece received.
#[derive(Debug, Default)]
struct Pending {
    parts: VecDeque<Bytes>,
    len: usize,
}

impl Pending {
    fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.len += b.len();
            self.parts.push_back(b);
        }
    }

    /// The first `n` bytes (all when fewer), without a copy when one piece holds them.
    fn take(&mut self, n: usize) -> Bytes {
        let n = n.min(self.len);
        self.len -= n;
        if let Some(front) = self.parts.front_mut()
            && front.len() >= n
        {
            let out = front.split_to(n);
            if front.is_empty() {
                self.parts.pop_front();
            }
            return out;
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            let Some(front) = self.parts.front_mut() else {
                break;
            };
            let k = (n - out.len()).min(front.len());
            out.extend_from_slice(&front.split_to(k));
            if front.is_empty() {
                self.parts.pop_front();
            }
        }
        out.freeze()
    }
}

fn too_large(limit: u64) -> Error {
    Error::new(
        ErrorKind::PayloadTooLarge,
        format!("request body exceeds maximum size of {limit} bytes"),
    )
}

/// Writes the whole content of `path` (offset `None`, no `APPEND`) from `data`.
///
/// A body of at most one chunk is one ordinary write transaction. A longer one is staged chunk by
/// chunk (after checking, once, that the write could succeed, so a doomed upload stops early) and
/// committed by [`ops::Commit`]; on any failure the staged rows are deleted and the file stays as
/// it was.
pub(crate) async fn write_whole(
    fs: &SqlFs,
    path: String,
    mut data: ByteStream,
    limit: u64,
    flags: WriteFlags,
) -> Result<u64> {
    let chunk = CHUNK as usize;
    let mut pending = Pending::default();
    let mut total = 0u64;
    let mut staging: Option<Staging> = None;
    let received = async {
        while let Some(piece) = data.next().await {
            let piece = piece?;
            total += piece.len() as u64;
            if total > limit {
                return Err(too_large(limit));
            }
            pending.push(piece);
            // Strictly more: a body of exactly one chunk is still one transaction.
            while pending.len > chunk {
                let part = pending.take(chunk);
                match &mut staging {
                    Some(s) => s.push(part).await?,
                    None => {
                        let check = ops::CheckWrite {
                            path: path.clone(),
                            flags,
                        };
                        fs.run(check).await?;
                        staging = Some(Staging::start(&fs.store(), part).await?);
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    let Some(mut staging) = staging else {
        received?;
        let data = pending.take(pending.len);
        return fs
            .run(ops::Write {
                path,
                data,
                offset: None,
                flags,
            })
            .await;
    };
    let staged = match received {
        Ok(()) if pending.len > 0 => staging.push(pending.take(pending.len)).await,
        other => other,
    };
    if let Err(e) = staged {
        staging.discard().await;
        return Err(e);
    }
    let op = ops::Commit {
        path,
        staged: staging.id,
        chunks: staging.chunks,
        size: total,
        flags,
    };
    match fs.run(op).await {
        Ok(n) => {
            staging.live = false;
            Ok(n)
        }
        Err(e) => {
            staging.discard().await;
            Err(e)
        }
    }
}
