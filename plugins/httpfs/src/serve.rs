//! The HTTP side of httpfs: one fallback handler that maps a request path into the published pfs
//! path and answers with a listing, a file (ranges included) or an error page.

use std::sync::{Arc, Weak};
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use fs_core::path::{basename, child, join, normalize};
use fs_core::{ContentBody, Error, ErrorKind, FileInfo, FileSystem, MountableFs};
use percent_encoding::percent_decode_str;

use super::html::{self, Readme};

/// The most bytes of a README shown inline under a listing.
pub(crate) const README_INLINE_LIMIT: u64 = 256 * 1024;

/// What a server publishes: a pfs path of a mount tree.
#[derive(Debug)]
pub(crate) struct Site {
    /// The published pfs path, normalized; a config change sets it while the site is served.
    pub(crate) source: parking_lot::RwLock<String>,
    /// The whole tree; gone when the server stops.
    pub(crate) root: Weak<MountableFs>,
}

/// The router of one httpfs listener: every path and method goes to [`handle`].
pub(crate) fn router(site: Arc<Site>) -> Router {
    Router::new().fallback(handle).with_state(site)
}

/// A `Range` header, resolved against a length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// No usable range (absent, malformed, several ranges or another unit): the whole file.
    Full,
    /// Bytes `first..=last`.
    Part(u64, u64),
    /// No byte of the file is in the range: 416.
    Unsatisfiable,
}

/// Resolves a single-range `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) against `len`.
/// What it does not understand it ignores, as RFC 9110 allows.
pub(crate) fn parse_range(header: &str, len: u64) -> ByteRange {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return ByteRange::Full;
    };
    if spec.contains(',') {
        return ByteRange::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return ByteRange::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (a.is_empty(), b.is_empty()) {
        // bytes=-n: the last n bytes.
        (true, false) => match num(b) {
            None => ByteRange::Full,
            Some(0) => ByteRange::Unsatisfiable,
            Some(_) if len == 0 => ByteRange::Unsatisfiable,
            Some(n) => ByteRange::Part(len.saturating_sub(n), len - 1),
        },
        // bytes=a-: from a to the end.
        (false, true) => match num(a) {
            None => ByteRange::Full,
            Some(first) if first >= len => ByteRange::Unsatisfiable,
            Some(first) => ByteRange::Part(first, len - 1),
        },
        (false, false) => match (num(a), num(b)) {
            (Some(first), Some(last)) if first <= last => {
                if first >= len {
                    ByteRange::Unsatisfiable
                } else {
                    ByteRange::Part(first, last.min(len - 1))
                }
            }
            _ => ByteRange::Full,
        },
        (true, true) => ByteRange::Full,
    }
}

/// The path asked for, decoded and normalized (`..` never climbs above the published root).
fn request_path(raw: &str) -> Option<String> {
    let decoded = percent_decode_str(raw).decode_utf8().ok()?;
    normalize(&decoded).ok()
}

async fn handle(
    State(site): State<Arc<Site>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut resp = page(
            StatusCode::METHOD_NOT_ALLOWED,
            uri.path(),
            "only GET and HEAD are served",
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let Some(rel) = request_path(uri.path()) else {
        return page(StatusCode::BAD_REQUEST, uri.path(), "invalid path");
    };
    let Some(root) = site.root.upgrade() else {
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            &rel,
            "the pfs server is shutting down",
        );
    };
    let full = join(&site.source.read(), &rel);
    let info = match root.stat(&full).await {
        Ok(info) => info,
        Err(e) => return error_response(&e, &rel),
    };
    if info.is_dir {
        listing(&root, &full, &rel).await
    } else {
        file(&root, &full, &rel, &info, &headers, method == Method::HEAD).await
    }
}

/// An HTML error page with `status`.
fn page(status: StatusCode, rel: &str, detail: &str) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = html::error_page(status.as_u16(), reason, rel, detail);
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The page for a filesystem error: a missing path (or a file used as a directory) is 404.
fn error_response(e: &Error, rel: &str) -> Response {
    let status = match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory => StatusCode::NOT_FOUND,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::InvalidArgument | ErrorKind::IsADirectory => StatusCode::BAD_REQUEST,
        ErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::LoopDetected => StatusCode::LOOP_DETECTED,
        ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        ErrorKind::AlreadyExists
        | ErrorKind::DirectoryNotEmpty
        | ErrorKind::PayloadTooLarge
        | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let detail = if status == StatusCode::NOT_FOUND {
        "not found"
    } else {
        e.message()
    };
    page(status, rel, detail)
}

async fn listing(root: &MountableFs, full: &str, rel: &str) -> Response {
    let mut entries = match root.read_dir(full).await {
        Ok(v) => v,
        Err(e) => return error_response(&e, rel),
    };
    entries.retain(|e| !e.name.is_empty() && !e.name.contains('/'));
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    let readme = inline_readme(root, full, &entries).await;
    let body = html::listing(rel, full, &entries, readme.as_ref());
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The first README file of a listing, read up to [`README_INLINE_LIMIT`]; `None` when there is
/// none or it cannot be read (the listing is shown anyway).
async fn inline_readme(root: &MountableFs, dir: &str, entries: &[FileInfo]) -> Option<Readme> {
    let entry = entries
        .iter()
        .find(|e| !e.is_dir && html::is_readme(&e.name))?;
    let data = root
        .read(&child(dir, &entry.name), 0, Some(README_INLINE_LIMIT + 1))
        .await
        .ok()?;
    let truncated = data.len() as u64 > README_INLINE_LIMIT;
    let shown = &data[..data.len().min(README_INLINE_LIMIT as usize)];
    Some(Readme {
        name: entry.name.clone(),
        text: String::from_utf8_lossy(shown).into_owned(),
        truncated,
    })
}

fn http_date(t: Option<SystemTime>) -> Option<HeaderValue> {
    let t = t.filter(|t| *t > SystemTime::UNIX_EPOCH)?;
    HeaderValue::from_str(&httpdate::fmt_http_date(t)).ok()
}

async fn file(
    root: &MountableFs,
    full: &str,
    rel: &str,
    info: &FileInfo,
    headers: &HeaderMap,
    head: bool,
) -> Response {
    let total = info.size;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map_or(ByteRange::Full, |h| parse_range(h, total));
    let mut resp = Response::new(Body::empty());
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(html::content_type(basename(full))),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let (offset, want) = match range {
        ByteRange::Unsatisfiable => {
            let mut resp = page(
                StatusCode::RANGE_NOT_SATISFIABLE,
                rel,
                &format!("range not satisfiable: the file has {total} bytes"),
            );
            resp.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{total}")),
            );
            return resp;
        }
        ByteRange::Full => (0, None),
        ByteRange::Part(first, last) => (first, Some(last - first + 1)),
    };
    if head {
        // Answered from stat alone: a read may have side effects (a queue's dequeue file).
        if let Some(v) = http_date(info.mod_time) {
            h.insert(header::LAST_MODIFIED, v);
        }
        let len = want.unwrap_or(total);
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        if want.is_some() {
            set_partial(&mut resp, offset, len, total);
        }
        return resp;
    }
    let content = match root.read_content(full, offset, want).await {
        Ok(c) => c,
        Err(e) => return error_response(&e, rel),
    };
    if let Some(v) = http_date(content.modified.or(info.mod_time)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if let Some(tag) = content.etag.as_deref()
        && let Ok(v) = HeaderValue::from_str(&format!("\"{tag}\""))
    {
        h.insert(header::ETAG, v);
    }
    // The length the plugin vouches for; a stream of unknown length goes out chunked.
    let len = match content.body {
        ContentBody::Bytes(b) => {
            let n = b.len() as u64;
            *resp.body_mut() = Body::from(b);
            Some(n)
        }
        ContentBody::Stream { len, stream } => {
            *resp.body_mut() = Body::from_stream(stream);
            len
        }
    };
    if let Some(n) = len {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    if let Some(w) = want {
        set_partial(&mut resp, offset, len.unwrap_or(w), total);
    }
    resp
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Makes `resp` a 206 for `len` bytes from `offset` of a `total`-byte file.
fn set_partial(resp: &mut Response, offset: u64, len: u64, total: u64) {
    *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    let last = (offset + len).saturating_sub(1).max(offset);
    resp.headers_mut().insert(
        header::CONTENT_RANGE,
        header_value(&format!("bytes {offset}-{last}/{total}")),
    );
}

#[cfg(test)]
mod tests {
    use super::{ByteRange, parse_range};

    #[test]
    fn parse_range_covers_the_single_range_forms() {
        assert_eq!(parse_range("bytes=0-0", 1), ByteRange::Part(0, 0));
        assert_eq!(parse_range(" bytes=-100 ", 10), ByteRange::Part(0, 9));
        assert_eq!(parse_range("bytes=0-", 0), ByteRange::Unsatisfiable);
        assert_eq!(parse_range("bytes=-5", 0), ByteRange::Unsatisfiable);
        assert_eq!(parse_range("bytes=-", 10), ByteRange::Full);
        assert_eq!(parse_range("bytes=+1-2", 10), ByteRange::Full);
    }
}
