//! Uploads: a local file streamed from disk (never whole in memory). A file up to the upload piece
//! size goes as one body straight to the target: the server applies a write only once its body
//! is complete, so a failure leaves the target as it was. A bigger file goes in pieces (offset
//! writes, one after another) to a temporary name in the target's directory, which is renamed
//! over the target only once every piece is in and verified.

use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::Semaphore;

use super::Options;
use super::pieces::{self, Failure, with_retries};
use super::progress::FileProgress;
use crate::client::{Client, WriteOptions};
use crate::error::{Error, Result};
use crate::path;

/// Chunk size of a body read from a local file.
const CHUNK: usize = 256 * 1024;

/// What an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uploaded {
    /// Bytes sent.
    pub bytes: u64,
    /// Whether the pieces were written over the target itself (its mount cannot rename), so a
    /// failure would have left it partly written.
    pub in_place: bool,
}

/// Uploads the local file `local` to the remote file `remote` (replaced when it exists).
///
/// # Errors
/// A local read error, the server's refusal, or a piece that failed every attempt; the target is
/// then as it was (unless its mount cannot rename and the file needed pieces), and a temporary
/// file is removed.
pub async fn upload_file(
    client: &Client,
    local: &Path,
    remote: &str,
    opts: &Options,
    limit: &Arc<Semaphore>,
) -> Result<Uploaded> {
    let size = tokio::fs::metadata(local).await?.len();
    let name = path::basename(remote).to_string();
    let progress: Arc<dyn FileProgress> = Arc::from(opts.progress.file(&name, Some(size)));
    if size <= opts.upload_piece_size {
        let piece = pieces::piece(size, size.max(1), 0);
        with_retries(opts.attempts, |_| {
            send_piece(client, local, remote, piece, None, &progress, limit)
        })
        .await?;
        return Ok(Uploaded {
            bytes: size,
            in_place: false,
        });
    }
    let in_place = !can_rename(client, path::parent(remote)).await;
    let temp = if in_place {
        remote.to_string()
    } else {
        temp_name(remote)
    };
    let sent = send_pieces(client, local, &temp, size, opts, &progress, limit).await;
    let renamed = match sent {
        Ok(()) if in_place => Ok(()),
        Ok(()) => client.rename(&temp, remote).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = renamed {
        if !in_place {
            let _ = client.remove(&temp, false).await;
        }
        return Err(e);
    }
    Ok(Uploaded {
        bytes: size,
        in_place,
    })
}

/// Every piece of a big file in order, each retried on its own, then the remote size checked.
async fn send_pieces(
    client: &Client,
    local: &Path,
    to: &str,
    size: u64,
    opts: &Options,
    progress: &Arc<dyn FileProgress>,
    limit: &Arc<Semaphore>,
) -> Result<()> {
    let piece_size = opts.upload_piece_size.max(1);
    for index in 0..pieces::count(size, piece_size) {
        let piece = pieces::piece(size, piece_size, index);
        // The first piece replaces whatever the name held; the others write at their offsets.
        let offset = (index > 0).then_some(piece.offset);
        with_retries(opts.attempts, |_| {
            send_piece(client, local, to, piece, offset, progress, limit)
        })
        .await?;
    }
    let got = client.stat(to).await?.value.size;
    if got != size {
        return Err(Error::Invalid(format!(
            "size mismatch after upload: sent {size} bytes, the server has {got}"
        )));
    }
    Ok(())
}

/// One body: `piece`'s bytes of `local`, streamed from the file, written at `offset` of `to`.
async fn send_piece(
    client: &Client,
    local: &Path,
    to: &str,
    piece: pieces::Piece,
    offset: Option<u64>,
    progress: &Arc<dyn FileProgress>,
    limit: &Arc<Semaphore>,
) -> Result<(), Failure> {
    let _permit = limit
        .acquire()
        .await
        .map_err(|_| Failure::Fatal(Error::Invalid("the transfer was cancelled".into())))?;
    let mut file = tokio::fs::File::open(local).await?;
    if piece.offset > 0 {
        file.seek(std::io::SeekFrom::Start(piece.offset)).await?;
    }
    let counted = Arc::clone(progress);
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(piece.len), CHUNK).inspect(
        move |c| {
            if let Ok(c) = c {
                counted.add(c.len() as u64);
            }
        },
    );
    let opts = WriteOptions {
        append: false,
        offset,
    };
    let reply = client
        .write_body(to, reqwest::Body::wrap_stream(stream), opts)
        .await
        .map_err(|e| match e.status() {
            Some(413) => Failure::Fatal(Error::Invalid(format!(
                "the server refused a {}-byte body as too large: use a smaller --piece-size",
                piece.len
            ))),
            _ => Failure::from_error(e),
        })?;
    match reply.value["written"].as_u64() {
        Some(n) if n != piece.len => Err(Failure::Retry(Error::Invalid(format!(
            "the server wrote {n} of {} bytes",
            piece.len
        )))),
        _ => Ok(()),
    }
}

/// Whether the mount holding `dir` can rename (`GET /capabilities?path=`); an older server that
/// cannot say is taken to rename.
async fn can_rename(client: &Client, dir: &str) -> bool {
    let req = client
        .request(Method::GET, "capabilities")
        .query(&[("path", dir)]);
    match client.send_json::<Value>(req).await {
        Ok(r) => r.value["capabilities"]["rename"].as_bool().unwrap_or(true),
        Err(_) => true,
    }
}

/// A temporary name next to `remote`: hidden, and unique to this process and moment.
///
/// ```
/// let t = pfs_cli::transfer::upload::temp_name("/memfs/d/big.iso");
/// assert!(t.starts_with("/memfs/d/.big.iso.pfs-upload-"), "{t}");
/// ```
pub fn temp_name(remote: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        ".{}.pfs-upload-{}-{nanos:08x}",
        path::basename(remote),
        std::process::id()
    );
    path::child(path::parent(remote), &name)
}
