//! `/mounts`, `/mount`, `/unmount`: the mount table at runtime.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use fs_core::{Error, Mount};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::config::redact;
use crate::error::ApiResult;
use crate::extract::RequestBody;
use crate::state::{AppState, MountStatus};

/// One row of `GET /mounts`. Fields in alphabetical order: the order the JSON has always had.
#[derive(Serialize)]
struct MountRow<'a> {
    config: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<std::borrow::Cow<'a, str>>,
    /// Live mounts: 1 when mounted, one more with each applied config change.
    #[serde(skip_serializing_if = "Option::is_none")]
    generation: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<&'a str>,
    path: &'a str,
    #[serde(rename = "pluginName")]
    plugin_name: &'a str,
    status: MountStatus,
}

#[derive(Serialize)]
struct MountList<'a> {
    mounts: Vec<MountRow<'a>>,
}

/// `GET /mounts`: every mount, live or declared in the config (pending, failed), sorted by path,
/// with secret-looking config values redacted.
pub async fn list(State(st): State<AppState>) -> Response {
    let records = st.tracker.records();
    let mounts = st.fs.mounts();
    // Both are sorted by path: merge them; a live mount without a config record (made through
    // the API) gets a row of its own, a config record shows only while it is not stale.
    let mut rows = Vec::with_capacity(records.len() + mounts.len());
    let mut live = mounts.iter().peekable();
    for (path, r) in &records {
        while let Some(m) = live.next_if(|m| m.path < *path) {
            rows.push(live_row(m));
        }
        // A live mount shows the config in force (it may have changed since the file's).
        if let Some(m) = live.next_if(|m| m.path == *path) {
            rows.push(live_row(m));
        } else if r.status != MountStatus::Mounted {
            rows.push(MountRow {
                config: redact(&r.config),
                error: r.error.as_deref().map(std::borrow::Cow::Borrowed),
                generation: None,
                instance: r.instance.as_deref(),
                path,
                plugin_name: &r.plugin,
                status: r.status,
            });
        }
    }
    rows.extend(live.map(|m| live_row(m)));
    Json(MountList { mounts: rows }).into_response()
}

fn live_row(m: &Mount) -> MountRow<'_> {
    let (status, error) = match m.fs.health() {
        fs_core::Health::Serving => (MountStatus::Mounted, None),
        fs_core::Health::Restarting(why) => (MountStatus::Restarting, Some(why)),
        fs_core::Health::Failed(why) => (MountStatus::Failed, Some(why)),
    };
    MountRow {
        config: redact(&m.config),
        error: error.map(std::borrow::Cow::Owned),
        generation: Some(m.generation),
        instance: m.instance.as_deref(),
        path: &m.path,
        plugin_name: &m.plugin,
        status,
    }
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

#[derive(Deserialize)]
struct ConfigBody {
    #[serde(default)]
    path: String,
    #[serde(default)]
    config: Value,
    #[serde(default)]
    remount: bool,
}

/// `POST /mounts/config` with `{"path", "config", "remount"?}`: gives a mount a new config, in
/// place when its plugin takes the change (it may amend it), or, with `"remount": true`, by a new
/// instance swapped in once initialized. Any failure leaves the mount as it was.
pub async fn reconfigure(State(st): State<AppState>, body: RequestBody) -> ApiResult<Json<Value>> {
    let req: ConfigBody = body.json().await?;
    if req.path.is_empty() {
        return Err(Error::invalid_argument("path is required").into());
    }
    let config = if req.config.is_null() {
        Value::Object(Map::new())
    } else {
        req.config
    };
    let change = st
        .fs
        .reconfigure(
            &st.registry,
            &req.path,
            config,
            req.remount,
            st.api_mount_policy.clone(),
        )
        .await?;
    tracing::info!(path = %req.path, generation = change.generation, remounted = change.remounted, amended = change.amended, "mount config changed");
    if let Some(e) = &change.shutdown_error {
        tracing::warn!(path = %req.path, error = %e, "remount: the old instance's shutdown failed");
    }
    Ok(Json(json!({
        "message": if change.remounted { "plugin remounted" } else { "config changed" },
        "path": fs_core::path::normalize(&req.path)?,
        "generation": change.generation,
        "config": redact(&change.config),
        "amended": change.amended,
        "remounted": change.remounted,
    })))
}
