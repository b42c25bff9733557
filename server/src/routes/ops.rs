//! Metadata operations: `/stat`, `/rename`, `/chmod`, `/truncate`, `/touch`.

use axum::Json;
use axum::extract::State;
use fs_core::{Error, FileInfo, FileSystem};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::extract::{Params, RequestBody, parse_octal_mode};
use crate::state::AppState;

/// `GET /stat?path=`: the FileInfo.
pub async fn stat(State(st): State<AppState>, params: Params) -> ApiResult<Json<FileInfo>> {
    let path = params.path()?;
    Ok(Json(st.fs.stat(&path).await?))
}

#[derive(Deserialize)]
struct RenameBody {
    #[serde(rename = "newPath", default)]
    new_path: Option<String>,
}

/// `POST /rename?path=` with `{"newPath": "..."}`.
pub async fn rename(
    State(st): State<AppState>,
    params: Params,
    body: RequestBody,
) -> ApiResult<Json<Value>> {
    let req: RenameBody = body.json().await?;
    let from = params.path()?;
    let to = match req.new_path {
        Some(p) if !p.is_empty() => fs_core::path::normalize(&p)?,
        _ => return Err(Error::invalid_argument("newPath is required").into()),
    };
    st.fs.rename(&from, &to).await?;
    Ok(Json(json!({ "message": "renamed" })))
}

#[derive(Deserialize)]
struct ChmodBody {
    #[serde(default)]
    mode: Option<Value>,
}

/// `POST /chmod?path=` with `{"mode": 420}` (decimal, as AGFS) or `{"mode": "644"}` (octal text).
pub async fn chmod(
    State(st): State<AppState>,
    params: Params,
    body: RequestBody,
) -> ApiResult<Json<Value>> {
    let req: ChmodBody = body.json().await?;
    let path = params.path()?;
    let mode = match req.mode {
        Some(Value::Number(n)) => n.as_u64().filter(|m| *m <= 0o7777).ok_or_else(|| {
            Error::invalid_argument(format!("invalid mode: {n} is not a permission mode"))
        })? as u32,
        Some(Value::String(s)) => parse_octal_mode(&s, "mode")?,
        _ => {
            return Err(
                Error::invalid_argument("mode is required (a number, e.g. 420 for 0644)").into(),
            );
        }
    };
    st.fs.chmod(&path, mode).await?;
    Ok(Json(json!({ "message": "permissions changed" })))
}

/// `POST /truncate?path=&size=`.
pub async fn truncate(State(st): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let path = params.path()?;
    let size = match params.get("size").as_deref() {
        None | Some("") => return Err(Error::invalid_argument("size parameter is required").into()),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n < 0 => {
                return Err(Error::invalid_argument("size must be non-negative").into());
            }
            Ok(n) => n as u64,
            Err(_) => {
                return Err(
                    Error::invalid_argument(format!("invalid size parameter: '{v}'")).into(),
                );
            }
        },
    };
    st.fs.truncate(&path, size).await?;
    Ok(Json(json!({ "message": "truncated" })))
}

/// `POST /touch?path=`: creates the file or updates its modification time.
pub async fn touch(State(st): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let path = params.path()?;
    st.fs.touch(&path).await?;
    Ok(Json(json!({ "message": "touched" })))
}
