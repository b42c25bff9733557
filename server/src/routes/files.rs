//! `/files` (read, write, create, delete) and the `/write` alias.

use std::time::SystemTime;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use fs_core::mountable::Routed;
use fs_core::{ByteStream, Content, ContentBody, Error, ErrorKind, FileSystem, WriteFlags};
use futures_util::TryStreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Params, RangeHeader, RequestBody};
use crate::state::AppState;

/// `GET /files?path=&offset=&size=&stream=`: the file's bytes, honouring `Range`.
///
/// A file whose read has side effects (queuefs `dequeue`) is read at most once per request: `HEAD`
/// answers from `stat` without reading, and a `Range` is cut from one whole read (see
/// `read_once_ranged`).
pub async fn read(
    State(st): State<AppState>,
    method: Method,
    params: Params,
    RangeHeader(range): RangeHeader,
) -> ApiResult<Response> {
    // The path is resolved once, here (links followed, mount found): a `Range` or `HEAD` sizes
    // the target, not the link.
    let given = params.path()?;
    let target = st.fs.route(&given, "read")?;
    let path = target.path();
    let offset = params.u64("offset")?.unwrap_or(0);
    let size = params.read_size()?;
    let side_effects = target.read_has_side_effects();
    if side_effects && method == Method::HEAD {
        return head_from_stat(&st, path).await;
    }
    if params.flag("stream") {
        match target.open_stream().await {
            Ok(stream) => return Ok(live_stream(stream)),
            // Not a live stream: stream the file's current content instead.
            Err(e) if e.kind() == ErrorKind::Unsupported => {}
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(range) = range.as_deref() {
        if side_effects {
            return read_once_ranged(&target, range).await;
        }
        let info = st.fs.stat(path).await?;
        if info.is_dir {
            return Err(Error::is_a_directory(path).with_op("read").into());
        }
        match parse_range(range, info.size) {
            Some(Ok((start, end))) => {
                let content = target.read_content(start, Some(end + 1 - start)).await?;
                let mut resp = content_response(content);
                *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
                let cr = format!("bytes {start}-{end}/{}", info.size);
                resp.headers_mut().insert(
                    header::CONTENT_RANGE,
                    HeaderValue::from_str(&cr).expect("ascii"),
                );
                return Ok(resp);
            }
            Some(Err(())) => return Err(ApiError::RangeNotSatisfiable(info.size)),
            // A Range we do not serve (several ranges, another unit): answer with the whole file.
            None => {}
        }
    }
    let content = target.read_content(offset, size).await?;
    Ok(content_response(content))
}

/// `HEAD` of a file whose read has side effects: the headers a `GET` would send, from `stat`, with
/// no read (which would consume what it reads).
async fn head_from_stat(st: &AppState, path: &str) -> ApiResult<Response> {
    let info = st.fs.stat(path).await?;
    if info.is_dir {
        return Err(Error::is_a_directory(path).with_op("read").into());
    }
    let mut resp = content_response(Content {
        body: ContentBody::Bytes(Bytes::new()),
        modified: info.mod_time,
        etag: None,
    });
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(info.size));
    Ok(resp)
}

/// A `Range` on a file whose read has side effects: one whole read, then the range is cut from what
/// it returned, so the size and the bytes come from the same read (a `stat` first could size one
/// queue message and the read consume the next). A range that the bytes read cannot satisfy is
/// answered with all of them (200): they are consumed, so an error would lose them.
async fn read_once_ranged(target: &Routed<'_>, range: &str) -> ApiResult<Response> {
    let content = target.read_content(0, None).await?;
    let (modified, etag) = (content.modified, content.etag.clone());
    let data = content.into_bytes().await?;
    let total = data.len() as u64;
    let Some(Ok((start, end))) = parse_range(range, total) else {
        return Ok(content_response(Content {
            body: ContentBody::Bytes(data),
            modified,
            etag,
        }));
    };
    let mut resp = content_response(Content {
        body: ContentBody::Bytes(data.slice(start as usize..end as usize + 1)),
        modified,
        etag,
    });
    *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    let cr = format!("bytes {start}-{end}/{total}");
    resp.headers_mut().insert(
        header::CONTENT_RANGE,
        HeaderValue::from_str(&cr).expect("ascii"),
    );
    Ok(resp)
}

/// Parses a single `bytes=` range against a file of `size` bytes into inclusive `(start, end)`.
/// `None`: not a single byte range (ignored, per RFC 9110). `Some(Err)`: unsatisfiable.
fn parse_range(header: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let suffix: u64 = b.parse().ok()?;
        if suffix == 0 || size == 0 {
            return Some(Err(()));
        }
        (size.saturating_sub(suffix), size - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end: u64 = if b.is_empty() {
            u64::MAX
        } else {
            b.parse().ok()?
        };
        if end < start {
            return None;
        }
        if start >= size {
            return Some(Err(()));
        }
        (start, end.min(size - 1))
    };
    Some(Ok(range))
}

fn content_response(content: Content) -> Response {
    let mut resp = match content.body {
        ContentBody::Bytes(bytes) => Response::new(Body::from(bytes)),
        ContentBody::Stream { len, stream } => {
            let mut resp = Response::new(Body::from_stream(stream.map_err(std::io::Error::other)));
            if let Some(len) = len {
                resp.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
            resp
        }
    };
    let h = resp.headers_mut();
    // Room for every header below at once, instead of growing the map insert by insert.
    h.reserve(6);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(etag) = content.etag {
        let mut quoted = String::with_capacity(etag.len() + 2);
        quoted.push('"');
        quoted.push_str(&etag);
        quoted.push('"');
        if let Ok(v) = HeaderValue::try_from(quoted) {
            h.insert(header::ETAG, v);
        }
    }
    if let Some(v) = content.modified.and_then(http_date) {
        h.insert(header::LAST_MODIFIED, v);
    }
    resp
}

/// `t` as an HTTP date (`Last-Modified`), `None` before 1970. The last one formatted is kept per
/// thread: reads of one file ask for the same date again and again, and formatting it cost more
/// than every other header of the answer together.
fn http_date(t: SystemTime) -> Option<HeaderValue> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(u64, HeaderValue)>> =
            const { std::cell::RefCell::new(None) };
    }
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    LAST.with_borrow_mut(|last| match last {
        Some((s, v)) if *s == secs => Some(v.clone()),
        _ => {
            let v = HeaderValue::try_from(httpdate::fmt_http_date(t)).ok()?;
            *last = Some((secs, v.clone()));
            Some(v)
        }
    })
}

fn live_stream(stream: ByteStream) -> Response {
    let mut resp = Response::new(Body::from_stream(stream.map_err(std::io::Error::other)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Parses `flags`: comma-separated names (`append,create,exclusive,truncate,sync`) or the numeric bits.
fn parse_flags(params: &Params) -> fs_core::Result<WriteFlags> {
    match params.get("flags") {
        None => Ok(WriteFlags::NONE),
        Some(v) => match v.trim().parse::<u32>() {
            Ok(bits) if bits < 32 => Ok(WriteFlags::from_bits_truncate(bits)),
            Ok(_) => Err(Error::invalid_argument(format!(
                "invalid flags parameter: unknown bits in {v}"
            ))),
            Err(_) => WriteFlags::parse(&v),
        },
    }
}

/// The answer to a write, `{"message":"Written N bytes","written":N}`, put together by hand: it
/// follows every write, and `format!` cost more than storing a small file.
fn written(n: u64) -> Response {
    let mut digits = itoa::Buffer::new();
    let n = digits.format(n);
    let mut body = String::with_capacity(48);
    for part in [
        r#"{"message":"Written "#,
        n,
        r#" bytes","written":"#,
        n,
        "}",
    ] {
        body.push_str(part);
    }
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// `PUT /files?path=&offset=&flags=`: writes the body, streaming it to the plugin.
pub async fn write(
    State(st): State<AppState>,
    params: Params,
    body: RequestBody,
) -> ApiResult<Response> {
    let limit = body.limit();
    let data = body.stream()?;
    let path = params.path()?;
    let offset = params.u64("offset")?;
    let flags = parse_flags(&params)?;
    let n = st
        .fs
        .write_stream(&path, data, limit, offset, flags)
        .await?;
    Ok(written(n))
}

#[derive(Deserialize)]
struct WriteJson {
    data: String,
}

/// `POST /write?path=`: the JSON form `{"data": "..."}` when the content type says JSON, otherwise
/// the same as `PUT /files`.
pub async fn write_alias(
    State(st): State<AppState>,
    params: Params,
    body: RequestBody,
) -> ApiResult<Response> {
    if !body.is_json() {
        return write(State(st), params, body).await;
    }
    // AGFS words this one `invalid JSON body`.
    let WriteJson { data } = body.json().await.map_err(|e| match e.kind() {
        ErrorKind::InvalidArgument => {
            e.with_message("invalid JSON body: expected {\"data\": \"...\"}")
        }
        _ => e,
    })?;
    let path = params.path()?;
    let n = st
        .fs
        .write(&path, data.into(), None, WriteFlags::NONE)
        .await?;
    Ok(written(n))
}

/// `POST /files?path=`: creates an empty file.
pub async fn create(State(st): State<AppState>, params: Params) -> ApiResult<impl IntoResponse> {
    let path = params.path()?;
    st.fs.create(&path).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "message": "file created" })),
    ))
}

/// `DELETE /files?path=&recursive=` (also `DELETE /directories`).
pub async fn delete(State(st): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let path = params.path()?;
    if params.flag("recursive") {
        st.fs.remove_all(&path).await?;
    } else {
        st.fs.remove(&path).await?;
    }
    Ok(Json(json!({ "message": "deleted" })))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_parse_like_rfc_9110() {
        assert_eq!(parse_range("bytes=0-4", 10), Some(Ok((0, 4))));
        assert_eq!(parse_range("bytes=5-", 10), Some(Ok((5, 9))));
        assert_eq!(parse_range("bytes=-3", 10), Some(Ok((7, 9))));
        assert_eq!(parse_range("bytes=-30", 10), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=8-100", 10), Some(Ok((8, 9))));
        assert_eq!(parse_range("bytes=10-", 10), Some(Err(())));
        assert_eq!(parse_range("bytes=-0", 10), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,3-4", 10), None);
        assert_eq!(parse_range("items=0-1", 10), None);
        assert_eq!(parse_range("bytes=5-2", 10), None);
    }

    #[test]
    fn http_dates_follow_the_time_given() {
        use std::time::{Duration, SystemTime};
        let at = |s| super::http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(s)).unwrap();
        assert_eq!(at(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(at(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(at(784111778), "Sun, 06 Nov 1994 08:49:38 GMT");
        assert_eq!(
            super::http_date(SystemTime::UNIX_EPOCH - Duration::from_secs(1)),
            None
        );
    }
}
