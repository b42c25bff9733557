//! What a read answers ([`Content`]: whole bytes or a stream, with validators) and the helpers that
//! slice and collect bodies.

use std::fmt;
use std::time::SystemTime;

use bytes::Bytes;
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
///
/// The buffer is a fresh allocation of exactly the stream's length, even for a stream of one
/// chunk: a chunk of a request body is a slice of the connection's read buffer (up to 256 KiB),
/// and a plugin that keeps what it was given (memfs, kvfs, streamfs, queuefs) would otherwise
/// pin that whole buffer for every small file it holds. The chunks are kept until the end and
/// copied once, so a large body is never copied again as a growing buffer doubles (at most twice
/// its size is held, for the moment of that copy).
pub async fn collect_stream(mut stream: ByteStream, limit: u64) -> Result<Bytes> {
    // Most bodies are one chunk: the list is made only for a second one.
    let (mut first, mut more) = (None, Vec::new());
    let mut total: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        total += chunk.len() as u64;
        check_limit(total, limit)?;
        if first.is_none() {
            first = Some(chunk);
        } else if !chunk.is_empty() {
            more.push(chunk);
        }
    }
    let mut buf = Vec::with_capacity(usize::try_from(total).unwrap_or(usize::MAX));
    for chunk in first.iter().chain(&more) {
        buf.extend_from_slice(chunk);
    }
    Ok(Bytes::from(buf))
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn chunks(parts: Vec<Bytes>) -> ByteStream {
        Box::pin(stream::iter(parts.into_iter().map(Ok)))
    }

    /// Whether `inner` points into `outer`'s memory.
    fn shares(inner: &Bytes, outer: &Bytes) -> bool {
        let range = outer.as_ptr_range();
        range.contains(&inner.as_ptr())
    }

    #[tokio::test]
    async fn a_collected_body_owns_its_bytes_and_never_pins_the_buffer_it_came_from() {
        let read_buffer = Bytes::from(vec![b'x'; 64 * 1024]);
        let one = collect_stream(chunks(vec![read_buffer.slice(..1)]), 10)
            .await
            .unwrap();
        assert_eq!(one, "x");
        assert!(
            !shares(&one, &read_buffer),
            "a one-chunk body was handed on as a view"
        );
        let two = collect_stream(
            chunks(vec![read_buffer.slice(..3), read_buffer.slice(10..12)]),
            10,
        )
        .await
        .unwrap();
        assert_eq!(two, "xxxxx");
        assert!(!shares(&two, &read_buffer));
        let e = collect_stream(
            chunks(vec![read_buffer.slice(..6), read_buffer.slice(..5)]),
            10,
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PayloadTooLarge);
        assert_eq!(collect_stream(chunks(vec![]), 10).await.unwrap(), "");
    }
}
