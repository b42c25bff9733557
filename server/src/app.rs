//! The `/api/v1` router.

use crate::error::error_body;
use crate::routes::{
    config, digest, directories, files, grep, handles, health, links, mounts, ops, plugins,
};
use crate::state::AppState;
use axum::Router;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};

/// Builds the whole HTTP application over `state`. Routes are registered with their full path
/// (no `nest`), which saves rebuilding the URI on every request.
pub fn app(state: AppState) -> Router {
    let router = Router::new()
        .route("/", any(health::root))
        .route("/api/v1/health", any(health::health))
        .route("/api/v1/ready", get(health::ready))
        .route("/api/v1/version", get(health::version))
        .route("/api/v1/capabilities", get(health::capabilities))
        .route(
            "/api/v1/files",
            get(files::read)
                .put(files::write)
                .post(files::create)
                .delete(files::delete),
        )
        .route("/api/v1/write", post(files::write_alias))
        .route(
            "/api/v1/directories",
            get(directories::list)
                .post(directories::mkdir)
                .delete(files::delete),
        )
        .route("/api/v1/list", get(directories::list))
        .route("/api/v1/mkdir", post(directories::mkdir))
        .route("/api/v1/stat", get(ops::stat))
        .route("/api/v1/rename", post(ops::rename))
        .route("/api/v1/chmod", post(ops::chmod))
        .route("/api/v1/truncate", post(ops::truncate))
        .route("/api/v1/touch", post(ops::touch))
        .route("/api/v1/symlink", post(links::symlink))
        .route("/api/v1/readlink", get(links::readlink))
        .route("/api/v1/config", get(config::show))
        .route("/api/v1/config/reload", post(config::reload))
        .route("/api/v1/mounts", get(mounts::list))
        .route("/api/v1/mounts/config", post(mounts::reconfigure))
        .route("/api/v1/mount", post(mounts::mount))
        .route("/api/v1/unmount", post(mounts::unmount))
        .route("/api/v1/plugins", get(plugins::list))
        .route("/api/v1/plugins/load", post(plugins::load))
        .route("/api/v1/plugins/unload", post(plugins::unload))
        .route("/api/v1/grep", post(grep::grep))
        .route("/api/v1/digest", post(digest::digest))
        .merge(handles::router());
    // No `DefaultBodyLimit` layer: bodies are read only through `RequestBody`, which applies the
    // server's own limit (413 with the AGFS message, streaming-aware), and the layer cost a
    // request-extension insert (a map allocation) on every request.
    let router = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    // The request log costs a boxed future per request; add it only when it would print.
    let router = if tracing::enabled!(tracing::Level::DEBUG) {
        router.layer(middleware::from_fn(log_request))
    } else {
        router
    };
    router.with_state(state)
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        error_body(&format!("not found: no route for {method} {}", uri.path())),
    )
        .into_response()
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        error_body("method not allowed"),
    )
        .into_response()
}

/// Logs each request at debug level.
async fn log_request(req: Request, next: Next) -> Response {
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let start = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::debug!(%method, %uri, status = resp.status().as_u16(), elapsed_us = start.elapsed().as_micros() as u64, "request");
    resp
}
