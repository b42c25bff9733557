//! `/plugins`: what can be mounted, with config parameters, README and mounted paths.

use axum::Json;
use axum::extract::State;
use fs_core::Error;
use serde_json::{Value, json};

use crate::config::redact;
use crate::error::ApiResult;
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
            }
            v
        })
        .collect();
    Json(json!({ "plugins": plugins }))
}

/// `POST /plugins/load` and `/plugins/unload`: external plugins arrive with the C-ABI work; until
/// then these answer 501.
pub async fn not_yet() -> ApiResult<Json<Value>> {
    Err(Error::unsupported("plugins")
        .with_message(
            "operation not supported: loading external plugins is not available in this build yet",
        )
        .into())
}
