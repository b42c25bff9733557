//! `/handles`: stateful file access (AGFS's HandleFS API, used by FUSE clients and the SDKs) with
//! real leases, a listing, and a bound on open handles. The table lives in `crate::handles`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::Response;
use axum::routing::{any, get, post, put};
use bytes::Bytes;
use fs_core::{Error, ErrorKind, OpenFlags, Whence};
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::extract::{Params, PathParam, RequestBody, parse_octal_mode};
use crate::handles::{DEFAULT_LEASE_SECS, HandleEntry, MAX_LEASE_SECS, Opened};
use crate::state::AppState;

/// What a handle read returns when `size` is absent (AGFS: 4 KiB).
const DEFAULT_READ: u64 = 4096;
/// What a handle read returns at most when `size` is negative (AGFS: 1 MiB).
const NEGATIVE_READ: u64 = 1 << 20;
/// The most one handle read returns, whatever `size` asks (a short read; clients loop on
/// `X-Bytes-Read`).
const MAX_READ: u64 = 64 << 20;
/// The piece size of `GET /handles/{id}/stream`.
const STREAM_CHUNK: u64 = 64 * 1024;

/// The `/handles` routes, to merge into the app.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/handles", any(list))
        .route("/api/v1/handles/", any(list))
        .route("/api/v1/handles/open", post(open))
        .route("/api/v1/handles/{id}", get(info).delete(close))
        .route("/api/v1/handles/{id}/read", get(read))
        .route("/api/v1/handles/{id}/write", put(write))
        .route("/api/v1/handles/{id}/seek", post(seek))
        .route("/api/v1/handles/{id}/sync", post(sync))
        .route("/api/v1/handles/{id}/stat", get(stat))
        .route("/api/v1/handles/{id}/stream", get(stream))
        .route("/api/v1/handles/{id}/renew", post(renew))
        .route("/api/v1/handles/{id}/truncate", post(truncate))
        .route("/api/v1/handles/{id}/{op}", any(unknown_op))
}

fn parse_id(id: &str) -> fs_core::Result<u64> {
    id.parse::<u64>()
        .map_err(|_| Error::invalid_argument("invalid handle ID: must be a number"))
}

/// The open handle named by the path segment `id`.
fn entry(st: &AppState, id: &str) -> fs_core::Result<Arc<HandleEntry>> {
    st.handles.get(parse_id(id)?)
}

/// An integer parameter, `None` when absent.
fn int_param(params: &Params, name: &str) -> fs_core::Result<Option<i64>> {
    params
        .get(name)
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                Error::invalid_argument(format!("invalid {name} parameter: must be a number"))
            })
        })
        .transpose()
}

/// The `lease` parameter: seconds, 1 to a day; absent or 0 means the default.
fn lease_param(params: &Params) -> fs_core::Result<Option<Duration>> {
    match int_param(params, "lease")? {
        None | Some(0) => Ok(None),
        Some(s) if s > 0 && s as u64 <= MAX_LEASE_SECS => Ok(Some(Duration::from_secs(s as u64))),
        Some(s) => Err(Error::invalid_argument(format!(
            "invalid lease parameter: {s} (seconds, 1 to {MAX_LEASE_SECS}; 0 or none for {DEFAULT_LEASE_SECS})"
        ))),
    }
}

/// `GET /handles` (and `/handles/`): every open handle. Another method: 400, as AGFS.
pub async fn list(method: Method, State(st): State<AppState>) -> ApiResult<Json<Value>> {
    if method != Method::GET {
        return Err(Error::invalid_argument("handle ID required").into());
    }
    let handles: Vec<Value> = st
        .handles
        .list()
        .iter()
        .map(|e| st.handles.info(e))
        .collect();
    Ok(Json(json!({
        "count": handles.len(),
        "handles": handles,
        "max": st.handles.max(),
    })))
}

/// `POST /handles/open?path=&flags=&mode=&lease=`.
pub async fn open(State(st): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let path = params.path()?;
    let flags_given = int_param(&params, "flags")?.unwrap_or(0);
    let flags = OpenFlags::from_bits(flags_given)?;
    let mode = match params.get("mode") {
        Some(v) => parse_octal_mode(&v, "mode")?,
        None => 0o644,
    };
    let lease = lease_param(&params)?.unwrap_or(Duration::from_secs(DEFAULT_LEASE_SECS));
    // The place comes first: a refused open must not have created or truncated anything.
    let slot = st.handles.reserve()?;
    let (mount, handle) = st.fs.open_handle_at(&path, flags, mode).await?;
    let entry = st.handles.insert(Opened {
        slot,
        path: path.into_owned(),
        flags_given,
        flags,
        lease,
        mount: &mount,
        handle,
    });
    // An unmount that ran while the plugin opened the file missed this handle: close it here.
    let still_mounted = st
        .fs
        .mount_at(&mount.path)
        .is_some_and(|m| Arc::ptr_eq(&m, &mount));
    if !still_mounted {
        let _ = st.handles.remove(entry.id);
        return Err(Error::not_found(&entry.path)
            .with_op("openhandle")
            .with_message("not found (unmounted while opening)")
            .into());
    }
    let info = st.handles.info(&entry);
    Ok(Json(json!({
        "handle_id": entry.id,
        "path": entry.path,
        "flags": flags_given,
        "lease": info["lease"],
        "expires_at": info["expires_at"],
    })))
}

/// `GET /handles/{id}`: the handle's description (does not renew the lease).
pub async fn info(
    State(st): State<AppState>,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<Value>> {
    let e = entry(&st, &id)?;
    Ok(Json(st.handles.info(&e)))
}

/// `DELETE /handles/{id}`: closes the handle.
pub async fn close(
    State(st): State<AppState>,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<Value>> {
    let e = st.handles.remove(parse_id(&id)?)?;
    // An operation still running keeps the plugin's handle until it ends; then it drops.
    if let Ok(mut h) = e.try_lock_for_close() {
        h.close().await.map_err(|err| e.context(err))?;
    }
    Ok(Json(json!({ "message": "handle closed" })))
}

/// `POST /handles/{id}/renew?lease=`: renews the lease (with a new length when `lease` is given).
pub async fn renew(
    State(st): State<AppState>,
    PathParam(id): PathParam<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let e = entry(&st, &id)?;
    let lease = lease_param(&params)?;
    st.handles.renew(&e, lease);
    Ok(Json(st.handles.info(&e)))
}

/// `GET /handles/{id}/read?size=&offset=`: sequential, or at `offset` without moving the position.
pub async fn read(
    State(st): State<AppState>,
    PathParam(id): PathParam<String>,
    params: Params,
) -> ApiResult<Response> {
    let e = entry(&st, &id)?;
    let size = match int_param(&params, "size")? {
        None => DEFAULT_READ,
        Some(n) if n < 0 => NEGATIVE_READ,
        Some(n) => (n as u64).min(MAX_READ),
    };
    let offset = params.u64("offset")?;
    e.flags.check_read()?;
    let _use = st.handles.begin_use(&e);
    let mut h = e.lock().await?;
    let data = match offset {
        Some(off) => h.read_at(off, size).await,
        None => h.read(size).await,
    }
    .map_err(|err| e.context(err))?;
    drop(h);
    Ok(bytes_read(data))
}

fn bytes_read(data: Bytes) -> Response {
    let n = data.len();
    let mut resp = Response::new(Body::from(data));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert("x-bytes-read", HeaderValue::from(n));
    resp
}

/// `PUT /handles/{id}/write?offset=`: writes the body at the position (at `offset`, or at the end
/// with `O_APPEND`).
pub async fn write(
    State(st): State<AppState>,
    PathParam(id): PathParam<String>,
    params: Params,
    body: RequestBody,
) -> ApiResult<Json<Value>> {
    let e = entry(&st, &id)?;
    let offset = params.u64("offset")?;
    e.flags.check_write()?;
    let data = body.bytes().await?;
    let _use = st.handles.begin_use(&e);
    let mut h = e.lock().await?;
    let n = match offset {
        Some(off) => h.write_at(off, data).await,
        None => h.write(data).await,
    }
    .map_err(|err| e.context(err))?;
    // AGFS always answers 0 here; pfs gives the position after the write.
    Ok(Json(
        json!({ "bytes_written": n, "position": h.position() }),
    ))
}

/// `POST /handles/{id}/seek?offset=&whence=`.
pub async fn seek(
    State(st): State<AppState>,
    PathParam(id): PathParam<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let e = entry(&st, &id)?;
    let offset = int_param(&params, "offset")?
        .ok_or_else(|| Error::invalid_argument("offset parameter is required"))?;
    let whence = Whence::from_number(int_param(&params, "whence")?.unwrap_or(0))?;
    let _use = st.handles.begin_use(&e);
    let mut h = e.lock().await?;
    let position = h.seek(offset, whence).await.map_err(|err| e.context(err))?;
    Ok(Json(json!({ "position": position })))
}

/// `POST /handles/{id}/sync`.
pub async fn sync(
    State(st): State<AppState>,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<Value>> {
    let e = entry(&st, &id)?;
    let _use = st.handles.begin_use(&e);
    let mut h = e.lock().await?;
    h.sync().await.map_err(|err| e.context(err))?;
    Ok(Json(json!({ "message": "synced" })))
}

/// `POST /handles/{id}/truncate?size=`: sets the open file's size (ftruncate; the position stays).
/// AGFS has no such route (404), though its Python SDK calls it.
pub async fn truncate(
    State(st): State<AppState>,
    PathParam(id): PathParam<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let e = entry(&st, &id)?;
    let size = match int_param(&params, "size")? {
        None => return Err(Error::invalid_argument("size parameter is required").into()),
        Some(n) if n < 0 => return Err(Error::invalid_argument("size must be non-negative").into()),
        Some(n) => n as u64,
    };
    e.flags.check_write()?;
    let _use = st.handles.begin_use(&e);
    let mut h = e.lock().await?;
    h.truncate(size).await.map_err(|err| e.context(err))?;
    Ok(Json(
        json!({ "message": "truncated", "position": h.position() }),
    ))
}

/// `GET /handles/{id}/stat`: the open file's FileInfo.
pub async fn stat(
    State(st): State<AppState>,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<fs_core::FileInfo>> {
    let e = entry(&st, &id)?;
    let _use = st.handles.begin_use(&e);
    let mut h = e.lock().await?;
    Ok(Json(h.stat().await.map_err(|err| e.context(err))?))
}

/// `GET /handles/{id}/stream`: the rest of the file from the position, in 64 KiB pieces, until the
/// end (a live stream: until it is removed) or the client goes away.
///
/// Nothing runs after the body: the body owns a reference to the handle and drops it, whether it
/// was sent to the end or abandoned midway; the handle itself stays open.
pub async fn stream(
    State(st): State<AppState>,
    PathParam(id): PathParam<String>,
) -> ApiResult<Response> {
    let e = entry(&st, &id)?;
    e.flags.check_read()?;
    let pieces = futures_util::stream::unfold(Some((st, e)), |state| async move {
        let (st, e) = state?;
        loop {
            let step = {
                let _use = st.handles.begin_use(&e);
                let Ok(mut h) = e.lock().await else {
                    return None; // closed meanwhile
                };
                h.read_chunk(STREAM_CHUNK).await
            };
            match step {
                // A live stream with nothing new: wait again (the lease was renewed).
                Ok(Some(b)) if b.is_empty() => continue,
                Ok(Some(b)) => return Some((Ok(b), Some((st, e)))),
                Ok(None) => return None,
                Err(err) => {
                    let err = std::io::Error::other(e.context(err));
                    return Some((Err(err), None));
                }
            }
        }
    });
    let mut resp = Response::new(Body::from_stream(pieces));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

/// `/handles/{id}/{op}` for any other `op`: 404 `unknown operation: <op>` (AGFS's words).
pub async fn unknown_op(
    PathParam((id, op)): PathParam<(String, String)>,
) -> ApiResult<Json<Value>> {
    parse_id(&id)?;
    Err(Error::new(ErrorKind::NotFound, format!("unknown operation: {op}")).into())
}
