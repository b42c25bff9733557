//! `/symlink` and `/readlink`: the router's virtual symbolic links (AGFS's shapes).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use fs_core::Error;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::extract::{Params, RequestBody};
use crate::state::AppState;

#[derive(Deserialize)]
struct SymlinkBody {
    #[serde(default)]
    target: Option<String>,
}

/// `POST /symlink?path=<link>` with `{"target": "..."}`: 201 `{"message":"symlink created"}`.
pub async fn symlink(
    State(st): State<AppState>,
    params: Params,
    body: RequestBody,
) -> ApiResult<impl IntoResponse> {
    let req: SymlinkBody = body.json().await?;
    let link = params.path()?;
    let target = match req.target {
        Some(t) if !t.is_empty() => t,
        _ => return Err(Error::invalid_argument("target is required").into()),
    };
    st.fs.symlink(&target, &link).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "message": "symlink created" })),
    ))
}

/// `GET /readlink?path=<link>`: `{"target": "..."}`, the target as it was given.
pub async fn readlink(State(st): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let link = params.path()?;
    let target = st.fs.readlink(&link)?;
    Ok(Json(json!({ "target": target })))
}
