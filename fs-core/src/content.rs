//! What a read answers ([`Content`]: whole bytes or a stream, with validators) and the helpers that
//! slice and collect bodies.

use std::fmt;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::filesystem::ByteStream;
use crate::{Error, ErrorKind, Result};

/// The answer to a read: the bytes (whole or streamed) plus what the plugin knows cheaply about them.
pub struct Content {
    /// The bytes.
    pub body: ContentBody,
    /// Last modification time, sent as `Last-Modified`.
    pub modified: Option<SystemTime>,
    /// A strong validator, sent as `ETag` (without quotes).
    pub etag: Option<String>,
}

/// The bytes of a [`Content`].
pub enum ContentBody {
    /// All bytes at once. For in-memory plugins this is a slice of the stored buffer: no copy.
    Bytes(Bytes),
    /// A stream of chunks, for data too large to hold; `len` is the exact total when known.
    Stream {
        /// Exact number of bytes the stream yields, when known (sent as `Content-Length`).
        len: Option<u64>,
        /// The chunks.
        stream: ByteStream,
    },
}

impl From<Bytes> for Content {
    fn from(b: Bytes) -> Self {
        Content {
            body: ContentBody::Bytes(b),
            modified: None,
            etag: None,
        }
    }
}

impl fmt::Debug for ContentBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentBody::Bytes(b) => write!(f, "Bytes({})", b.len()),
            ContentBody::Stream { len, .. } => write!(f, "Stream({len:?})"),
        }
    }
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Content")
            .field("body", &self.body)
            .field("modified", &self.modified)
            .field("etag", &self.etag)
            .finish()
    }
}

impl Content {
    /// Collects the whole content into one buffer (for callers that need it all, such as tests).
    pub async fn into_bytes(self) -> Result<Bytes> {
        match self.body {
            ContentBody::Bytes(b) => Ok(b),
            ContentBody::Stream { stream, .. } => collect_stream(stream, u64::MAX).await,
        }
    }
}

/// The `offset`/`size` window of `data` (to the end when `size` is `None`), empty at or past the
/// end; a slice of the same buffer, never a copy.
///
/// ```
/// use bytes::Bytes;
/// use fs_core::read_window;
/// let data = Bytes::from_static(b"0123456789");
/// assert_eq!(read_window(&data, 2, Some(3)), "234");
/// assert_eq!(read_window(&data, 8, None), "89");
/// assert_eq!(read_window(&data, 20, Some(5)), "");
/// ```
pub fn read_window(data: &Bytes, offset: u64, size: Option<u64>) -> Bytes {
    let len = data.len() as u64;
    let start = offset.min(len);
    let end = size.map_or(len, |s| start.saturating_add(s).min(len));
    data.slice(start as usize..end as usize)
}

/// Collects a stream into one buffer, failing with `PayloadTooLarge` past `limit` bytes.
pub async fn collect_stream(mut stream: ByteStream, limit: u64) -> Result<Bytes> {
    let first = match stream.next().await {
        None => return Ok(Bytes::new()),
        Some(chunk) => chunk?,
    };
    let Some(second) = stream.next().await else {
        // One chunk: hand it on without copying.
        return check_limit(first.len() as u64, limit).map(|_| first);
    };
    let mut buf = BytesMut::from(&first[..]);
    buf.extend_from_slice(&second?);
    check_limit(buf.len() as u64, limit)?;
    while let Some(chunk) = stream.next().await {
        buf.extend_from_slice(&chunk?);
        check_limit(buf.len() as u64, limit)?;
    }
    Ok(buf.freeze())
}

fn check_limit(len: u64, limit: u64) -> Result<()> {
    if len > limit {
        Err(Error::new(
            ErrorKind::PayloadTooLarge,
            format!("request body exceeds maximum size of {limit} bytes"),
        ))
    } else {
        Ok(())
    }
}
