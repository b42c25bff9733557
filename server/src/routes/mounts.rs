//! `/mounts`, `/mount`, `/unmount`: the mount table at runtime.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use fs_core::Error;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::config::redact;
use crate::error::ApiResult;
use crate::extract::RequestBody;
use crate::state::{AppState, MountStatus};

/// `GET /mounts`: every mount, live or declared in the config (pending, failed), sorted by path,
/// with secret-looking config values redacted.
pub async fn list(State(st): State<AppState>) -> Json<Value> {
    let mut out: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for (path, r) in st.tracker.records() {
        let mut m = Map::new();
        m.insert("path".into(), json!(path));
        m.insert("pluginName".into(), json!(r.plugin));
        if let Some(i) = r.instance {
            m.insert("instance".into(), json!(i));
        }
        m.insert("status".into(), json!(r.status));
        if let Some(e) = r.error {
            m.insert("error".into(), json!(e));
        }
        m.insert("config".into(), redact(&r.config));
        if r.status != MountStatus::Mounted || st.fs.mount_at(&path).is_some() {
            out.insert(path, m);
        }
    }
    for mount in st.fs.mounts() {
        out.entry(mount.path.clone()).or_insert_with(|| {
            let mut m = Map::new();
            m.insert("path".into(), json!(mount.path));
            m.insert("pluginName".into(), json!(mount.plugin));
            if let Some(i) = &mount.instance {
                m.insert("instance".into(), json!(i));
            }
            m.insert("status".into(), json!(MountStatus::Mounted));
            m.insert("config".into(), redact(&mount.config));
            m
        });
    }
    Json(json!({ "mounts": out.into_values().collect::<Vec<_>>() }))
}

#[derive(Deserialize)]
struct MountBody {
    #[serde(default)]
    fstype: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    config: Value,
}

/// `POST /mount` with `{"fstype", "path", "config"}`.
pub async fn mount(State(st): State<AppState>, body: RequestBody) -> ApiResult<Json<Value>> {
    let req: MountBody = body.json().await?;
    if req.fstype.is_empty() {
        return Err(Error::invalid_argument("fstype is required").into());
    }
    if req.path.is_empty() {
        return Err(Error::invalid_argument("path is required").into());
    }
    let config = if req.config.is_null() {
        Value::Object(Map::new())
    } else {
        req.config
    };
    st.fs
        .mount_plugin_under(
            &st.registry,
            &req.fstype,
            &req.path,
            None,
            config,
            st.api_mount_policy.clone(),
        )
        .await?;
    tracing::info!(path = %req.path, plugin = %req.fstype, "mounted through the API");
    Ok(Json(json!({ "message": "plugin mounted" })))
}

#[derive(Deserialize)]
struct UnmountBody {
    #[serde(default)]
    path: String,
}

/// `POST /unmount` with `{"path"}`: removes the mount and runs the plugin's shutdown once.
pub async fn unmount(State(st): State<AppState>, body: RequestBody) -> ApiResult<Json<Value>> {
    let req: UnmountBody = body.json().await?;
    if req.path.is_empty() {
        return Err(Error::invalid_argument("path is required").into());
    }
    let path = fs_core::path::normalize(&req.path)?;
    let result = st.fs.unmount(&path).await;
    // A failed shutdown still removed the mount; only "nothing mounted there" leaves the record.
    if !matches!(&result, Err(e) if e.kind() == fs_core::ErrorKind::NotFound) {
        st.tracker.forget(&path);
        tracing::info!(path = %path, "unmounted");
    }
    result?;
    Ok(Json(json!({ "message": "plugin unmounted" })))
}
