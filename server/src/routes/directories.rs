//! `/directories` (list, mkdir) and the `/list` and `/mkdir` aliases.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use fs_core::filesystem::InfoFields;
use fs_core::{FileInfo, FileSystem};
use serde::Serialize;
use serde_json::json;

use crate::error::ApiResult;
use crate::extract::{Params, parse_octal_mode};
use crate::state::AppState;

/// A directory listing, serialized straight from the entries (key order as AGFS).
#[derive(Debug)]
pub struct Listing {
    files: Vec<FileInfo>,
    fields: InfoFields,
}

impl Serialize for Listing {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeSeq, SerializeStruct};
        struct Files<'a>(&'a Listing);
        impl Serialize for Files<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.0.files.len()))?;
                for f in &self.0.files {
                    seq.serialize_element(&f.only(self.0.fields))?;
                }
                seq.end()
            }
        }
        let mut st = s.serialize_struct("Listing", 1)?;
        st.serialize_field("files", &Files(self))?;
        st.end()
    }
}

/// `GET /directories?path=&fields=` (path default `/`): `{"files": [FileInfo...]}`, sorted by
/// name; `[]` when empty. `fields` (a pfs extension; AGFS ignores it) keeps only the listed keys
/// of each entry (`name` always): `pfs ls` asks for names only.
pub async fn list(State(st): State<AppState>, params: Params) -> ApiResult<Json<Listing>> {
    let path = params.path_or_root()?;
    let fields = match params.get("fields") {
        Some(list) => InfoFields::parse(&list)?,
        None => InfoFields::ALL,
    };
    let mut files = st.fs.read_dir(&path).await?;
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(Listing { files, fields }))
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
