//! `/directories` (list, mkdir) and the `/list` and `/mkdir` aliases.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use fs_core::{FileInfo, FileSystem};
use serde::Serialize;
use serde_json::json;

use crate::error::ApiResult;
use crate::extract::{Params, parse_octal_mode};
use crate::state::AppState;

/// A directory listing, serialized straight from the entries (key order as AGFS).
#[derive(Serialize, Debug)]
pub struct Listing {
    files: Vec<FileInfo>,
}

/// `GET /directories?path=` (default `/`): `{"files": [FileInfo...]}`, sorted by name; `[]` when empty.
pub async fn list(State(st): State<AppState>, params: Params) -> ApiResult<Json<Listing>> {
    let path = params.path_or_root()?;
    let mut files = st.fs.read_dir(&path).await?;
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(Listing { files }))
}

/// `POST /directories?path=&mode=` (mode octal, default `755`).
pub async fn mkdir(State(st): State<AppState>, params: Params) -> ApiResult<impl IntoResponse> {
    let path = params.path()?;
    let mode = match params.get("mode") {
        Some(m) if !m.is_empty() => parse_octal_mode(&m, "mode")?,
        _ => 0o755,
    };
    st.fs.mkdir(&path, mode).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "message": "directory created" })),
    ))
}
