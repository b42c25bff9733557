//! Answers parsed while they arrive: a directory listing entry by entry (`{"files":[...]}`), and
//! NDJSON line by line, so a 100,000-entry listing is never held whole.

use bytes::{Buf, BytesMut};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;

use crate::client::{ByteStream, FileInfo};
use crate::error::{Error, Result};

/// The entries of a `GET /directories` answer, parsed one object at a time from the body stream.
///
/// The answer is `{"files":[{...},{...}]}` (or `"files":null`): the scanner tracks nesting and
/// strings byte by byte and hands each complete element of the array to serde.
pub struct Listing {
    stream: ByteStream,
    buf: BytesMut,
    /// Next byte of `buf` to scan.
    pos: usize,
    /// Open `{`/`[` count: 1 inside the answer, 2 inside the array, 3 inside an entry.
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// Where the entry being scanned starts in `buf`.
    start: Option<usize>,
    /// Whether the answer's opening `{` was seen.
    started: bool,
}

impl std::fmt::Debug for Listing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listing")
            .field("buffered", &self.buf.len())
            .finish()
    }
}

impl Listing {
    /// A listing read from `stream`, the body of a `GET /directories` answer.
    pub fn new(stream: ByteStream) -> Self {
        Listing {
            stream,
            buf: BytesMut::new(),
            pos: 0,
            depth: 0,
            in_string: false,
            escaped: false,
            start: None,
            started: false,
        }
    }

    /// The next entry, `None` after the last.
    ///
    /// # Errors
    /// The transport's errors, and `Invalid` for an answer that is not a listing or ends early.
    pub async fn next(&mut self) -> Option<Result<FileInfo>> {
        loop {
            if let Some(entry) = self.scan() {
                return Some(entry);
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                Some(Err(e)) => return Some(Err(e)),
                None if self.started && self.depth == 0 => return None,
                None => return Some(Err(truncated())),
            }
        }
    }

    /// Every remaining entry.
    ///
    /// # Errors
    /// As [`Listing::next`].
    pub async fn collect(mut self) -> Result<Vec<FileInfo>> {
        let mut all = Vec::new();
        while let Some(e) = self.next().await {
            all.push(e?);
        }
        Ok(all)
    }

    /// Scans the buffered bytes; returns an entry as soon as one is complete.
    fn scan(&mut self) -> Option<Result<FileInfo>> {
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            self.pos += 1;
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    self.started = true;
                    if self.depth == 3 && b == b'{' {
                        self.start = Some(self.pos - 1);
                    }
                }
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 2
                        && b == b'}'
                        && let Some(start) = self.start.take()
                    {
                        let entry = serde_json::from_slice(&self.buf[start..self.pos])
                            .map_err(|e| Error::Invalid(format!("bad listing entry: {e}")));
                        self.buf.advance(self.pos);
                        self.pos = 0;
                        return Some(entry);
                    }
                }
                _ => {}
            }
        }
        // Nothing complete: keep only the entry begun, if any.
        let keep_from = self.start.unwrap_or(self.pos);
        self.buf.advance(keep_from);
        self.pos -= keep_from;
        if let Some(s) = self.start.as_mut() {
            *s = 0;
        }
        None
    }
}

fn truncated() -> Error {
    Error::Invalid("the listing ended early".to_string())
}

/// Parses an NDJSON body into one value per non-empty line, as lines arrive.
pub fn ndjson<T: DeserializeOwned + Send + 'static>(
    stream: ByteStream,
) -> impl Stream<Item = Result<T>> + Send {
    futures_util::stream::unfold(
        (stream, BytesMut::new(), false),
        |(mut stream, mut buf, mut ended)| async move {
            loop {
                if let Some(i) = buf.iter().position(|b| *b == b'\n') {
                    let line = buf.split_to(i + 1);
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let item = serde_json::from_slice(&line)
                        .map_err(|e| Error::Invalid(format!("bad answer line: {e}")));
                    return Some((item, (stream, buf, ended)));
                }
                if ended {
                    if buf.iter().all(u8::is_ascii_whitespace) {
                        return None;
                    }
                    let line = buf.split();
                    let item = serde_json::from_slice(&line)
                        .map_err(|e| Error::Invalid(format!("bad answer line: {e}")));
                    return Some((item, (stream, buf, ended)));
                }
                match stream.next().await {
                    Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                    Some(Err(e)) => {
                        ended = true;
                        buf.clear();
                        return Some((Err(e), (stream, buf, ended)));
                    }
                    None => ended = true,
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn chunks(parts: &[&str]) -> ByteStream {
        let items: Vec<Result<Bytes>> = parts
            .iter()
            .map(|p| Ok(Bytes::copy_from_slice(p.as_bytes())))
            .collect();
        Box::pin(futures_util::stream::iter(items))
    }

    async fn names(parts: &[&str]) -> Result<Vec<String>> {
        let all = Listing::new(chunks(parts)).collect().await?;
        Ok(all.into_iter().map(|f| f.name).collect())
    }

    #[tokio::test]
    async fn listing_parses_entries_split_across_chunks() {
        let body = r#"{"files":[{"name":"a }{ \"b","size":1,"isDir":false,"meta":{"Name":"m","Type":"file","Content":null}},{"name":"c","size":0,"isDir":true,"meta":{"Name":"m","Type":"dir","Content":{"k":"]"}}}]}"#;
        for split in [1, 7, 40, body.len()] {
            let parts: Vec<&str> = body
                .as_bytes()
                .chunks(split)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            assert_eq!(
                names(&parts).await.unwrap(),
                ["a }{ \"b", "c"],
                "split {split}"
            );
        }
    }

    #[tokio::test]
    async fn listing_of_null_or_empty_has_no_entries_and_truncation_fails() {
        assert!(names(&[r#"{"files":null}"#]).await.unwrap().is_empty());
        assert!(names(&[r#"{"files":[]}"#]).await.unwrap().is_empty());
        assert!(names(&[r#"{"files":[{"name":"a""#]).await.is_err());
    }

    #[tokio::test]
    async fn ndjson_yields_each_line() {
        let got: Vec<serde_json::Value> =
            ndjson(chunks(&["{\"a\":1}\n{\"a\"", ":2}\n", "{\"a\":3}"]))
                .map(|r| r.unwrap())
                .collect()
                .await;
        assert_eq!(
            got,
            [
                serde_json::json!({"a":1}),
                serde_json::json!({"a":2}),
                serde_json::json!({"a":3})
            ]
        );
    }
}
