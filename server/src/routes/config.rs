//! `/config`: the running configuration as YAML, and the config reload.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use crate::config::redact;
use crate::reload::{Rejected, ReloadReport};
use crate::state::{AppState, MountStatus};

/// `POST /config/reload`: re-reads the config file and applies the difference; 400 with every
/// problem (nothing changed) when the file is bad.
pub async fn reload(State(st): State<AppState>) -> Response {
    match st.reload().await {
        Ok(report) => {
            log_report(&report);
            let mut body = serde_json::to_value(&report).unwrap_or_default();
            body["message"] = json!("config reloaded");
            Json(body).into_response()
        }
        Err(rejected) => {
            log_rejected(&rejected);
            let message = rejected.message();
            (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "error": message,
                    "source": rejected.source,
                    "problems": rejected.problems,
                })),
            )
                .into_response()
        }
    }
}

/// Logs what a reload did (the route and `SIGHUP` alike).
pub fn log_report(r: &ReloadReport) {
    tracing::info!(
        source = %r.source,
        added = ?r.added,
        removed = ?r.removed,
        changed = ?r.changed.iter().map(|c| &c.path).collect::<Vec<_>>(),
        kept = r.kept.len(),
        adopted = ?r.adopted,
        plugins_loaded = ?r.plugins_loaded,
        plugins_unloaded = ?r.plugins_unloaded,
        "config reloaded"
    );
    for f in &r.failed {
        tracing::error!(path = %f.path, "config reload: {}", f.error);
    }
    if !r.restart_required.is_empty() {
        tracing::warn!(
            keys = ?r.restart_required,
            "config reload: these server keys take effect at the next start"
        );
    }
}

/// Logs a refused reload, one line per problem.
pub fn log_rejected(r: &Rejected) {
    for p in &r.problems {
        tracing::error!(source = %r.source, "config reload refused, nothing changed: {p}");
    }
}

/// `GET /config`: the running configuration in the config file's schema, as YAML: the `server`
/// and `external_plugins` sections last read, and every mount as it is now (made by the file or
/// through the API, with the config in force), plus the file's failed entries. Secret-looking
/// values are masked as `***`. Fed back to `-c` (with the secrets filled in), it makes the same
/// mounts.
pub async fn show(State(st): State<AppState>) -> Response {
    let running = st.running.lock().await.clone();
    let mut plugins: IndexMap<String, Vec<Value>> = IndexMap::new();
    let mut entry = |plugin: &str, instance: Option<&str>, path: &str, config: &Value| {
        let mut e = Map::new();
        if let Some(name) = instance {
            e.insert("name".into(), json!(name));
        }
        e.insert("path".into(), json!(path));
        if config.as_object().is_some_and(|c| !c.is_empty()) {
            e.insert("config".into(), redact(config));
        }
        plugins
            .entry(plugin.to_string())
            .or_default()
            .push(Value::Object(e));
    };
    for m in st.fs.mounts() {
        entry(&m.plugin, m.instance.as_deref(), &m.path, &m.config);
    }
    for (path, r) in st.tracker.records() {
        if r.status != MountStatus::Mounted && st.fs.mount_at(&path).is_none() {
            entry(&r.plugin, r.instance.as_deref(), &path, &r.config);
        }
    }
    let plugins: Map<String, Value> = plugins
        .into_iter()
        .map(|(name, mut list)| {
            let one = list.len() == 1 && list[0].get("name").is_none();
            let v = if one {
                list.remove(0)
            } else {
                Value::Array(list)
            };
            (name, v)
        })
        .collect();
    let doc = json!({
        "server": serde_json::to_value(&running.server).unwrap_or_default(),
        "external_plugins": serde_json::to_value(&running.external_plugins).unwrap_or_default(),
        "plugins": plugins,
    });
    match serde_saphyr::to_string(&doc) {
        Ok(yaml) => (
            [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
            format!(
                "# pfs-server {}: the running configuration (secret values masked as ***)\n{yaml}",
                crate::state::VERSION
            ),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            crate::error::error_body(&format!("cannot render the config as YAML: {e}")),
        )
            .into_response(),
    }
}
