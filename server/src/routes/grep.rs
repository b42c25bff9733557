//! `POST /grep`: regex search over a file or a directory tree, read as streams line by line,
//! answered as one JSON object or as NDJSON sent while the search runs.
//!
//! The search runs in its own task and hands matches over a bounded channel: the JSON answer
//! collects them, the NDJSON answer writes each as it arrives. When the client goes away the channel
//! closes and the search stops at its next chunk.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use fs_core::{ContentBody, Error, ErrorKind, FileSystem, MountableFs, Result};
use futures_util::StreamExt;
use regex::bytes::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::error::ApiResult;
use crate::extract::RequestBody;
use crate::state::AppState;

/// The longest line kept in memory: a longer line is matched, and reported, on its first
/// `MAX_LINE` bytes; the rest of it is read and dropped (line numbers stay right).
pub const MAX_LINE: usize = 1 << 20;
/// How deep a recursive search descends below its start: a guard against mount loops (a proxyfs
/// pointing at its own server).
pub const MAX_DEPTH: usize = 64;
/// In-memory content is searched in slices of this size, so matches leave early and a `limit`
/// stops the work early.
const SLICE: usize = 64 * 1024;
/// Matches waiting between the search task and the response writer.
const CHANNEL: usize = 64;

#[derive(Deserialize)]
struct GrepRequest {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    recursive: Option<bool>,
    #[serde(default)]
    case_insensitive: Option<bool>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    limit: Option<i64>,
}

/// One matching line, as AGFS sends it.
#[derive(Debug, Serialize)]
pub struct GrepMatch {
    /// The file's path.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// The line without its `\n` (or `\r\n`), as lossy UTF-8.
    pub content: String,
}

/// The JSON answer: `matches` is `[]`, never `null`, when nothing matched.
#[derive(Serialize)]
struct GrepResponse {
    matches: Vec<GrepMatch>,
    count: u64,
}

/// What the search task sends.
enum Event {
    Match(GrepMatch),
    /// The last event: how many matches were sent, and the error that ended the search early.
    Done {
        count: u64,
        error: Option<Error>,
    },
}

/// `POST /grep` with `{"path", "pattern", "recursive", "case_insensitive", "limit", "stream"}`.
///
/// Errors before any match is sent are JSON errors with their status (also in stream mode); an
/// error after the NDJSON stream started goes into the summary line's `error`.
pub async fn grep(State(st): State<AppState>, body: RequestBody) -> ApiResult<Response> {
    let req: GrepRequest = body.json().await?;
    let given = match req.path {
        Some(p) if !p.is_empty() => p,
        _ => return Err(Error::invalid_argument("path is required").into()),
    };
    let pattern = match req.pattern {
        Some(p) if !p.is_empty() => p,
        _ => return Err(Error::invalid_argument("pattern is required").into()),
    };
    let re = RegexBuilder::new(&pattern)
        .case_insensitive(req.case_insensitive.unwrap_or(false))
        .build()
        .map_err(|e| Error::invalid_argument(format!("invalid regex pattern: {e}")))?;
    // Links on the way are resolved once, here: every read below then goes to the same place the
    // side-effect check looked at. Matches still show the path as the client named it.
    let shown = fs_core::path::normalize(&given)?;
    let path = st.fs.resolve_links(&shown)?;
    let info = st
        .fs
        .stat(&path)
        .await
        .map_err(|e| Error::new(e.kind(), format!("failed to stat path: {e}")))?;
    if info.is_dir && !req.recursive.unwrap_or(false) {
        return Err(Error::new(
            ErrorKind::IsADirectory,
            "path is a directory, use recursive=true to search",
        )
        .with_path(path)
        .with_op("grep")
        .into());
    }
    if !info.is_dir && st.fs.read_has_side_effects(&path) {
        return Err(side_effects(&path).into());
    }
    let limit = req.limit.filter(|n| *n > 0).map(|n| n as u64);
    let (tx, rx) = mpsc::channel(CHANNEL);
    let search = Search {
        fs: st.fs.clone(),
        root: (path.clone(), shown),
        re,
        limit,
        count: 0,
        tx,
    };
    tokio::spawn(fs_core::hops::propagate(search.run(path, info.is_dir)));
    if req.stream.unwrap_or(false) {
        Ok(ndjson(rx))
    } else {
        collect(rx).await
    }
}

fn side_effects(path: &str) -> Error {
    Error::invalid_argument(
        "cannot search a file whose read has side effects (reading it would consume data)",
    )
    .with_path(path)
    .with_op("grep")
}

/// Gathers every event into the JSON answer.
async fn collect(mut rx: mpsc::Receiver<Event>) -> ApiResult<Response> {
    let mut matches = Vec::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Match(m) => matches.push(m),
            Event::Done { error: Some(e), .. } => {
                return Err(Error::new(e.kind(), format!("grep failed: {e}")).into());
            }
            Event::Done { count, error: None } => {
                return Ok(Json(GrepResponse { matches, count }).into_response());
            }
        }
    }
    Err(Error::internal("grep failed: the search task ended early").into())
}

/// The NDJSON answer: one match per line, then `{"type":"summary","count":N}` (with `error` when
/// the search failed).
fn ndjson(rx: mpsc::Receiver<Event>) -> Response {
    let lines = futures_util::stream::unfold(rx, |mut rx| async move {
        let ev = rx.recv().await?;
        let mut line = match ev {
            Event::Match(m) => serde_json::to_vec(&m).expect("a match serializes"),
            Event::Done { count, error } => {
                let mut summary = serde_json::json!({ "type": "summary", "count": count });
                if let Some(e) = error {
                    summary["error"] = e.to_string().into();
                }
                serde_json::to_vec(&summary).expect("a summary serializes")
            }
        };
        line.push(b'\n');
        Some((Ok::<_, Infallible>(Bytes::from(line)), rx))
    });
    let mut resp = Response::new(Body::from_stream(lines));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    resp
}

/// Whether the search goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    /// The limit is reached or the client is gone.
    Stop,
}

/// One search: the pattern, what is left of the limit, and where matches go.
struct Search {
    fs: Arc<MountableFs>,
    /// The searched path with links resolved, and as the client named it.
    root: (String, String),
    re: Regex,
    limit: Option<u64>,
    count: u64,
    tx: mpsc::Sender<Event>,
}

impl Search {
    /// Searches `path` (a directory tree when `is_dir`), then sends the summary.
    async fn run(mut self, path: String, is_dir: bool) {
        let result = if is_dir {
            self.walk(&path).await
        } else {
            self.file(&path).await
        };
        let error = result.err();
        let done = Event::Done {
            count: self.count,
            error,
        };
        // A closed channel means nobody waits for the summary.
        let _ = self.tx.send(done).await;
    }

    /// Searches every file below `root`, depth first, entries in name order. Symbolic links met on
    /// the way are not followed (as `grep -r`), files whose read has side effects are not read,
    /// and an entry that fails is logged and skipped; only a failure to list `root` is an error.
    async fn walk(&mut self, root: &str) -> Result<Flow> {
        // (path, is_dir, depth)
        let mut stack = vec![(root.to_string(), true, 0usize)];
        while let Some((path, is_dir, depth)) = stack.pop() {
            if self.tx.is_closed() {
                return Ok(Flow::Stop);
            }
            if !is_dir {
                if self.fs.read_has_side_effects(&path) {
                    tracing::debug!(%path, "grep: skipped, its read has side effects");
                    continue;
                }
                match self.file(&path).await {
                    Ok(Flow::Continue) => continue,
                    Ok(Flow::Stop) => return Ok(Flow::Stop),
                    Err(e) => {
                        tracing::debug!(%path, "grep: skipped: {e}");
                        continue;
                    }
                }
            }
            let mut entries = match self.fs.read_dir(&path).await {
                Ok(entries) => entries,
                Err(e) if depth == 0 => return Err(e),
                Err(e) => {
                    tracing::debug!(%path, "grep: directory skipped: {e}");
                    continue;
                }
            };
            entries.retain(|e| {
                !e.name.is_empty()
                    && e.name != "."
                    && e.name != ".."
                    && !e.name.contains('/')
                    && e.meta.kind != "symlink"
                    && (!e.is_dir || depth < MAX_DEPTH)
            });
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            // Reversed, so the first name is popped first.
            for e in entries.into_iter().rev() {
                stack.push((fs_core::path::child(&path, &e.name), e.is_dir, depth + 1));
            }
        }
        Ok(Flow::Continue)
    }

    /// Searches one file, line by line, as its content streams in.
    async fn file(&mut self, path: &str) -> Result<Flow> {
        let content = self.fs.read_content(path, 0, None).await?;
        let mut lines = Lines::default();
        let mut found = Vec::new();
        match content.body {
            ContentBody::Bytes(data) => {
                for slice in data.chunks(SLICE) {
                    lines.feed(slice, |n, line| self.check(path, n, line, &mut found));
                    if self.send(&mut found).await == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
            }
            ContentBody::Stream { mut stream, .. } => {
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk?;
                    lines.feed(&chunk, |n, line| self.check(path, n, line, &mut found));
                    if self.send(&mut found).await == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
            }
        }
        lines.finish(|n, line| self.check(path, n, line, &mut found));
        Ok(self.send(&mut found).await)
    }

    /// `path` as the client sees it: below the path it named, not below where links led.
    fn shown(&self, path: &str) -> String {
        let (real, shown) = &self.root;
        match fs_core::path::strip(path, real) {
            "/" => shown.clone(),
            rest => fs_core::path::join(shown, rest),
        }
    }

    /// Adds line `n` to `found` when it matches and the limit leaves room.
    fn check(&self, path: &str, n: u64, line: &[u8], found: &mut Vec<GrepMatch>) {
        let room = self
            .limit
            .is_none_or(|l| self.count + (found.len() as u64) < l);
        if room && self.re.is_match(line) {
            found.push(GrepMatch {
                file: self.shown(path),
                line: n,
                content: String::from_utf8_lossy(line).into_owned(),
            });
        }
    }

    /// Sends the matches found so far; `Stop` when the limit is reached or the client is gone.
    async fn send(&mut self, found: &mut Vec<GrepMatch>) -> Flow {
        for m in found.drain(..) {
            if self.tx.send(Event::Match(m)).await.is_err() {
                return Flow::Stop;
            }
            self.count += 1;
        }
        if self.limit.is_some_and(|l| self.count >= l) || self.tx.is_closed() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

/// Splits a byte stream into lines (`\n`, with a trailing `\r` dropped, as Go's `bufio.ScanLines`)
/// and numbers them from 1. A final line without `\n` counts; an empty tail after the last `\n`
/// does not. A line longer than [`MAX_LINE`] is cut to its first `MAX_LINE` bytes.
#[derive(Debug, Default)]
pub struct Lines {
    /// The start of a line whose end has not arrived yet (at most `MAX_LINE` bytes).
    pending: Vec<u8>,
    /// Whether the pending line is longer than what `pending` holds.
    pending_any: bool,
    /// Lines finished so far.
    number: u64,
}

impl Lines {
    /// Feeds the next chunk, calling `on_line(number, line)` for every line it completes.
    pub fn feed(&mut self, mut chunk: &[u8], mut on_line: impl FnMut(u64, &[u8])) {
        while let Some(i) = chunk.iter().position(|b| *b == b'\n') {
            let (head, rest) = (&chunk[..i], &chunk[i + 1..]);
            self.number += 1;
            if self.pending_any {
                self.keep(head);
                on_line(self.number, trim_cr(&self.pending));
                self.pending.clear();
                self.pending_any = false;
            } else {
                // The whole line is inside this chunk: no copy.
                on_line(self.number, trim_cr(&head[..head.len().min(MAX_LINE)]));
            }
            chunk = rest;
        }
        if !chunk.is_empty() {
            self.keep(chunk);
            self.pending_any = true;
        }
    }

    /// Ends the input: the last line, when it has no `\n`, is passed to `on_line`.
    pub fn finish(&mut self, mut on_line: impl FnMut(u64, &[u8])) {
        if self.pending_any {
            self.number += 1;
            on_line(self.number, trim_cr(&self.pending));
            self.pending.clear();
            self.pending_any = false;
        }
    }

    fn keep(&mut self, part: &[u8]) {
        let room = MAX_LINE - self.pending.len();
        self.pending
            .extend_from_slice(&part[..part.len().min(room)]);
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut lines = Lines::default();
        for c in chunks {
            lines.feed(c, |n, l| out.push((n, l.to_vec())));
        }
        lines.finish(|n, l| out.push((n, l.to_vec())));
        out
    }

    fn owned(v: &[(u64, &str)]) -> Vec<(u64, Vec<u8>)> {
        v.iter().map(|(n, s)| (*n, s.as_bytes().to_vec())).collect()
    }

    #[test]
    fn lines_split_like_go_scanlines_across_chunks() {
        let want = owned(&[(1, "alpha"), (2, ""), (3, "beta"), (4, "gamma")]);
        assert_eq!(split(&[b"alpha\n\nbeta\r\ngamma"]), want);
        assert_eq!(
            split(&[b"al", b"pha\n", b"\n", b"be", b"ta\r", b"\nga", b"mma"]),
            want
        );
        assert_eq!(split(&[b"a\n"]), owned(&[(1, "a")]));
        assert_eq!(split(&[b""]), owned(&[]));
        assert_eq!(split(&[b"\n"]), owned(&[(1, "")]));
    }

    #[test]
    fn a_giant_line_is_cut_and_the_count_stays_right() {
        let big = vec![b'x'; MAX_LINE + 10];
        for chunks in [
            vec![&big[..], b"\nnext\n"],
            vec![&big[..1000], &big[1000..], b"\nnext"],
        ] {
            let got = split(&chunks);
            assert_eq!(got.len(), 2);
            assert_eq!(got[0].1.len(), MAX_LINE);
            assert_eq!(got[1], (2, b"next".to_vec()));
        }
    }
}
