//! The `/api/v1` router.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use fs_core::Error;

use crate::error::{ApiError, error_body};
use crate::routes::{directories, files, health, mounts, ops, plugins};
use crate::state::AppState;

/// Builds the whole HTTP application over `state`.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/health", any(health::health))
        .route("/ready", get(health::ready))
        .route("/version", get(health::version))
        .route("/capabilities", get(health::capabilities))
        .route(
            "/files",
            get(files::read)
                .put(files::write)
                .post(files::create)
                .delete(files::delete),
        )
        .route("/write", post(files::write_alias))
        .route(
            "/directories",
            get(directories::list)
                .post(directories::mkdir)
                .delete(files::delete),
        )
        .route("/list", get(directories::list))
        .route("/mkdir", post(directories::mkdir))
        .route("/stat", get(ops::stat))
        .route("/rename", post(ops::rename))
        .route("/chmod", post(ops::chmod))
        .route("/truncate", post(ops::truncate))
        .route("/touch", post(ops::touch))
        .route("/mounts", get(mounts::list))
        .route("/mount", post(mounts::mount))
        .route("/unmount", post(mounts::unmount))
        .route("/plugins", get(plugins::list))
        .route("/plugins/load", post(plugins::not_yet))
        .route("/plugins/unload", post(plugins::not_yet))
        // Routes of a later issue: a JSON 501 tells clients (the FUSE client included) to fall back.
        .route("/symlink", post(later))
        .route("/readlink", get(later))
        .route("/grep", post(later))
        .route("/digest", post(later))
        .route("/handles", any(later))
        .route("/handles/", any(later))
        .route("/handles/{*rest}", any(later));
    Router::new()
        .route("/", any(health::root))
        .nest("/api/v1", api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Bodies are limited by the handlers themselves (413 with the AGFS message, streaming-aware).
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

async fn later(method: Method, uri: axum::http::Uri) -> ApiError {
    Error::unsupported("api")
        .with_message(format!(
            "operation not supported: {method} {} is not available in this build yet",
            uri.path()
        ))
        .into()
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

/// Logs each request at debug level (and nothing when debug is off).
async fn log_request(req: Request, next: Next) -> Response {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return next.run(req).await;
    }
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let start = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::debug!(%method, %uri, status = resp.status().as_u16(), elapsed_us = start.elapsed().as_micros() as u64, "request");
    resp
}
