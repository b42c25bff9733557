//! `/`, `/health`, `/ready`, `/version`, `/capabilities`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::extract::Params;
use crate::state::{AppState, BUILD_TIME, GIT_COMMIT, VERSION};

/// `GET /`: what this server is.
pub async fn root() -> Json<Value> {
    Json(json!({ "service": "pfs", "version": VERSION, "status": "running" }))
}

fn health_body(st: &AppState) -> (bool, Value) {
    let s = st.tracker.summary();
    // Mounted instances that stopped serving on their own (a plugin process restarting or
    // failed).
    let unhealthy: Vec<Value> = st
        .fs
        .mounts()
        .iter()
        .filter_map(|m| match m.fs.health() {
            fs_core::Health::Serving => None,
            fs_core::Health::Restarting(why) => {
                Some(json!({"path": m.path, "status": "restarting", "error": why}))
            }
            fs_core::Health::Failed(why) => {
                Some(json!({"path": m.path, "status": "failed", "error": why}))
            }
        })
        .collect();
    let degraded = s.failed > 0 || !unhealthy.is_empty();
    let ready = s.failed == 0 && s.pending == 0;
    let status = if degraded {
        "degraded"
    } else if !ready {
        "starting"
    } else {
        "healthy"
    };
    let body = json!({
        "status": status,
        "version": VERSION,
        "gitCommit": GIT_COMMIT,
        "buildTime": BUILD_TIME,
        "ready": ready,
        "degraded": degraded,
        "mounts": s,
    });
    let mut body = body;
    if !unhealthy.is_empty() {
        body["unhealthy_mounts"] = Value::Array(unhealthy);
    }
    (ready, body)
}

/// `/health` (any method): always 200; `status` is `healthy`, `starting` or `degraded`.
pub async fn health(State(st): State<AppState>) -> Json<Value> {
    Json(health_body(&st).1)
}

/// `GET /ready`: 200 when every config mount is mounted, else 503 with the same body.
pub async fn ready(State(st): State<AppState>) -> impl IntoResponse {
    let (ready, body) = health_body(&st);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// `GET /version`.
pub async fn version() -> Json<Value> {
    Json(json!({ "version": VERSION, "gitCommit": GIT_COMMIT, "buildTime": BUILD_TIME }))
}

/// The server-wide features this build has: AGFS's (`handlefs`, `grep`, `digest`, `stream`, `touch`)
/// and pfs's own.
pub const FEATURES: &[&str] = &[
    "handlefs",
    "grep",
    "digest",
    "stream",
    "touch",
    "symlink",
    "truncate",
    "range",
    "write_flags",
];

/// `GET /capabilities[?path=]`: the feature list, plus what the filesystem at `path` supports.
pub async fn capabilities(State(st): State<AppState>, params: Params) -> Json<Value> {
    let mut body = json!({ "version": VERSION, "features": FEATURES });
    if let Some(p) = params
        .get("path")
        .and_then(|p| fs_core::path::normalize(&p).ok())
    {
        body["path"] = json!(p);
        body["capabilities"] = json!(st.fs.capabilities_at(&p));
    }
    Json(body)
}
