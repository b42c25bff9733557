//! `/handles` requests the handle tests share.

use axum::Router;

use super::{delete, get, post, send, send_json};

/// Opens `path` with `flags` (plus extra query text such as `&lease=1`) and returns the handle id.
pub async fn open(app: &Router, path: &str, flags: u32, extra: &str) -> u64 {
    let (s, v) = send_json(
        app,
        post(&format!(
            "/api/v1/handles/open?path={path}&flags={flags}{extra}"
        )),
    )
    .await;
    assert_eq!(s, 200, "open {path}: {v}");
    v["handle_id"].as_u64().expect("handle_id")
}

/// Closes handle `id`, which must be open.
pub async fn close(app: &Router, id: u64) {
    let (s, _) = send(app, delete(&format!("/api/v1/handles/{id}"))).await;
    assert_eq!(s, 200);
}

/// The whole file at `path`, read with `GET /files`.
pub async fn file(app: &Router, path: &str) -> String {
    let (s, b) = send(app, get(&format!("/api/v1/files?path={path}"))).await;
    assert_eq!(s, 200, "{path}: {}", String::from_utf8_lossy(&b));
    String::from_utf8_lossy(&b).into_owned()
}
