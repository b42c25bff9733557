//! Large reads as streams: a window over [`STREAM_ABOVE`] bytes is sent in batches of
//! [`BATCH`] bytes, each read in its own short transaction, so a GET of a large file holds one batch
//! in memory rather than the file.
//!
//! Consistency: every batch's transaction also reads the file's size and modification time, which
//! must equal the ones the read started from. A write committed meanwhile ends the stream with an
//! error (the client sees a failed transfer), never with a mix of two versions.

use bytes::Bytes;
use fs_core::{ByteStream, Content, ContentBody, Error, ErrorKind, Result};
use futures_util::StreamExt;

use super::SqlFs;
use super::ops::{self, Data, Version};

/// Windows up to this size are read in one transaction and answered whole.
pub(crate) const STREAM_ABOVE: u64 = 4 << 20;
/// Bytes per batch of a streamed read (16 chunks).
const BATCH: u64 = 4 << 20;

/// `read_content` of sqlfs: whole for small windows, streamed in batches above [`STREAM_ABOVE`].
///
/// The first read (at most one batch) also reports the file's size and version, so a small read
/// is one transaction and a large one starts its stream with those bytes.
pub(crate) async fn read_content(
    fs: &SqlFs,
    path: &str,
    offset: u64,
    size: Option<u64>,
) -> Result<Content> {
    let path = path.to_owned();
    let first = ops::Read {
        path: path.clone(),
        offset,
        size: Some(size.map_or(BATCH, |s| s.min(BATCH))),
    };
    let Data {
        bytes: data,
        version,
        ..
    } = fs.read_chunks(first).await?;
    let (file_size, modified) = version;
    let end = size.map_or(file_size, |s| offset.saturating_add(s).min(file_size));
    let len = end.saturating_sub(offset);
    if len <= STREAM_ABOVE {
        return Ok(Content {
            body: ContentBody::Bytes(data),
            modified,
            etag: None,
        });
    }
    let state = Batches {
        store: fs.store(),
        pos: offset + data.len() as u64,
        path,
        end,
        version,
    };
    let rest = futures_util::stream::try_unfold(state, next_batch);
    let stream: ByteStream = Box::pin(futures_util::stream::once(async { Ok(data) }).chain(rest));
    Ok(Content {
        body: ContentBody::Stream {
            len: Some(len),
            stream,
        },
        modified,
        etag: None,
    })
}

/// Where a streamed read is.
struct Batches {
    store: super::Store,
    path: String,
    pos: u64,
    end: u64,
    /// Size and modification time at the start.
    version: Version,
}

async fn next_batch(mut b: Batches) -> Result<Option<(Bytes, Batches)>> {
    if b.pos >= b.end {
        return Ok(None);
    }
    let want = (b.end - b.pos).min(BATCH);
    let op = ops::Read {
        path: b.path.clone(),
        offset: b.pos,
        size: Some(want),
    };
    // The version comes from the same transaction as the bytes.
    let Data {
        bytes: data,
        version: now,
        ..
    } = b.store.run(op, false).await?;
    if now != b.version || data.len() as u64 != want {
        return Err(Error::new(
            ErrorKind::Unavailable,
            format!("{} changed while it was being read; read it again", b.path),
        )
        .with_path(b.path.clone()));
    }
    b.pos += want;
    Ok(Some((data, b)))
}
