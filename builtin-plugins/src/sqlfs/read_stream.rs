//! Large reads as streams: a window over [`STREAM_ABOVE`] bytes is sent in batches of
//! [`BATCH`] bytes, each read in its own short transaction, so a GET of a large file holds one batch
//! in memory rather than the file.
//!
//! Consistency: after every batch the file's size and modification time are compared with the ones
//! the read started from. A write committed meanwhile ends the stream with an error (the client
//! sees a failed transfer), never with a mix of two versions.

use bytes::Bytes;
use fs_core::{ByteStream, Content, ContentBody, Error, ErrorKind, FileSystem, Result};

use super::SqlFs;
use super::ops::{Op, Out};

/// Windows up to this size are read in one transaction and answered whole.
pub(crate) const STREAM_ABOVE: u64 = 4 << 20;
/// Bytes per batch of a streamed read (16 chunks).
const BATCH: u64 = 4 << 20;

/// `read_content` of sqlfs: whole for small windows, streamed in batches above [`STREAM_ABOVE`].
pub(crate) async fn read_content(
    fs: &SqlFs,
    path: &str,
    offset: u64,
    size: Option<u64>,
) -> Result<Content> {
    let info = fs.stat(path).await?;
    if info.is_dir {
        return Err(Error::is_a_directory(path));
    }
    let end = size.map_or(info.size, |s| offset.saturating_add(s).min(info.size));
    let len = end.saturating_sub(offset);
    if len <= STREAM_ABOVE {
        return Ok(Content {
            body: ContentBody::Bytes(fs.read(path, offset, size).await?),
            modified: info.mod_time,
            etag: None,
        });
    }
    let state = Batches {
        store: fs.store.clone(),
        path: super::norm(path)?,
        pos: offset,
        end,
        version: (info.size, info.mod_time),
    };
    let stream: ByteStream = Box::pin(futures_util::stream::try_unfold(state, next_batch));
    Ok(Content {
        body: ContentBody::Stream {
            len: Some(len),
            stream,
        },
        modified: info.mod_time,
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
    version: (u64, Option<std::time::SystemTime>),
}

async fn next_batch(mut b: Batches) -> Result<Option<(Bytes, Batches)>> {
    if b.pos >= b.end {
        return Ok(None);
    }
    let want = (b.end - b.pos).min(BATCH);
    let op = Op::Read {
        path: b.path.clone(),
        offset: b.pos,
        size: Some(want),
    };
    let Out::Data(data, _) = b.store.run(op, false).await? else {
        return Err(Error::internal("sqlfs: unexpected result"));
    };
    let now = match b.store.run(Op::Stat(b.path.clone()), false).await? {
        Out::Info(i) => (i.size, i.mod_time),
        _ => return Err(Error::internal("sqlfs: unexpected result")),
    };
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
