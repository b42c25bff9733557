//! `/plugins`: what can be mounted, with config parameters, README and mounted paths.

use axum::Json;
use axum::extract::State;
use fs_core::Error;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::redact;
use crate::error::ApiResult;
use crate::extract::RequestBody;
use crate::state::AppState;

/// `GET /plugins`: every registered plugin, sorted by name.
pub async fn list(State(st): State<AppState>) -> Json<Value> {
    let mounts = st.fs.mounts();
    let plugins: Vec<Value> = st
        .registry
        .list()
        .into_iter()
        .map(|p| {
            let mounted: Vec<Value> = mounts
                .iter()
                .filter(|m| m.plugin == p.name())
                .map(|m| json!({ "path": m.path, "config": redact(&m.config) }))
                .collect();
            let mut v = json!({
                "name": p.name(),
                "is_external": p.library_path().is_some(),
                "mounted_paths": mounted,
                "config_params": p.config_params(),
                "readme": p.readme(),
            });
            if let Some(lib) = p.library_path() {
                v["library_path"] = json!(lib);
                v["isolation"] = json!(if p.isolated() {
                    "process"
                } else {
                    "in-process"
                });
            }
            v
        })
        .collect();
    Json(json!({ "plugins": plugins }))
}

#[derive(Deserialize)]
struct LibraryBody {
    #[serde(default)]
    library_path: String,
    #[serde(default)]
    force: bool,
    /// `process` or `in-process`; absent: the config's `external_plugins.isolation`.
    #[serde(default)]
    isolation: Option<String>,
}

async fn library_body(body: RequestBody) -> ApiResult<LibraryBody> {
    let req: LibraryBody = body.json().await?;
    if req.library_path.is_empty() {
        return Err(Error::invalid_argument("library_path is required").into());
    }
    Ok(req)
}

/// `POST /plugins/load` with `{"library_path", "isolation"?}`: loads a library or plugin program
/// from the plugin directory (or anywhere, with `allow_any_path`) and registers it under its name
/// (`name-1` on a clash); `"isolation": "process"` runs each of its mounts in a process of its own
/// (a program always runs so). Refused before the file is opened when it is not where only the
/// server's user could have put it, or when a mount serves its directory ([`crate::plugin_trust`]).
pub async fn load(State(st): State<AppState>, body: RequestBody) -> ApiResult<Json<Value>> {
    let req = library_body(body).await?;
    let isolation = req
        .isolation
        .as_deref()
        .map(c_abi::Isolation::parse)
        .transpose()?;
    let path = st.host.check_api_path(&req.library_path)?;
    crate::plugin_trust::check(&path, &crate::plugin_trust::exposed_dirs(&st.fs))?;
    let isolation = st.host.isolation_of(&path, isolation);
    let loaded = st.host.load_as(&st.registry, &path, isolation).await?;
    let mut resp = json!({
        "message": "plugin loaded successfully",
        "plugin_name": loaded.name,
        "renamed": loaded.original_name.is_some(),
        "isolation": loaded.isolation.as_str(),
    });
    if let Some(original) = loaded.original_name {
        resp["original_name"] = json!(original);
    }
    Ok(Json(resp))
}

/// `POST /plugins/unload` with `{"library_path", "force"?}`: refused with 409 while mounted, unless
/// `force`, which unmounts first.
pub async fn unload(State(st): State<AppState>, body: RequestBody) -> ApiResult<Json<Value>> {
    let req = library_body(body).await?;
    let name = st
        .host
        .unload(&st.registry, &st.fs, &req.library_path, req.force)
        .await?;
    Ok(Json(
        json!({ "message": "plugin unloaded successfully", "plugin_name": name }),
    ))
}
