//! Helpers for the HTTP tests: build `app()` over fresh state and send requests with `oneshot`.

#![allow(dead_code, unreachable_pub)]

pub mod browser;
pub mod handles;
pub mod process;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use pfs_server::{AppState, Config};
use serde_json::Value;
use tower::ServiceExt;

/// An app on the given YAML config, with every config mount mounted.
pub async fn app_with(yaml: &str) -> (Router, AppState) {
    let state = AppState::new(Config::parse(yaml).expect("test config parses"));
    pfs_server::start_mounts(&state)
        .await
        .expect("mounts planned")
        .await
        .expect("mount task");
    (pfs_server::app(state.clone()), state)
}

/// A server on the YAML config, every config mount mounted, serving a real socket on a port the
/// kernel picks (`pfs_server::run`, the connection layer included) until the test ends.
pub async fn serve(yaml: &str) -> (std::net::SocketAddr, AppState) {
    let state = AppState::new(Config::parse(yaml).expect("test config parses"));
    pfs_server::start_mounts(&state)
        .await
        .expect("mounts planned")
        .await
        .expect("mount task");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("the bound address");
    tokio::spawn(pfs_server::run(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    (addr, state)
}

/// An app with memfs at /memfs, kvfs at /kvfs, hellofs at /hellofs (and /dev).
pub async fn app() -> (Router, AppState) {
    app_with(
        "plugins:\n  memfs: {path: /memfs}\n  kvfs: {path: /kvfs}\n  hellofs: {path: /hellofs}\n",
    )
    .await
}

/// Sends a request, returning status, headers and body.
pub async fn send_full(
    app: &Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Bytes) {
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, headers, body)
}

/// The entry names of a `/directories` answer, in the order given.
pub fn listing_names(v: &Value) -> Vec<&str> {
    v["files"]
        .as_array()
        .unwrap_or_else(|| panic!("not a listing: {v}"))
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect()
}

/// Sends a request, returning status and body.
pub async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Bytes) {
    let (s, _, b) = send_full(app, req).await;
    (s, b)
}

/// Sends a request whose answer must be JSON.
pub async fn send_json(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let (s, h, b) = send_full(app, req).await;
    let ct = h
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "{s}: content-type {ct:?}, body {b:?}"
    );
    (
        s,
        serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{s}: not JSON ({e}): {b:?}")),
    )
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

pub fn put(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::put(uri).body(body.into()).unwrap()
}

pub fn post(uri: &str) -> Request<Body> {
    Request::post(uri).body(Body::empty()).unwrap()
}

pub fn post_json(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

pub fn delete(uri: &str) -> Request<Body> {
    Request::delete(uri).body(Body::empty()).unwrap()
}

/// Percent-encodes a path for the `path` query parameter.
pub fn enc(p: &str) -> String {
    let mut out = String::new();
    for b in p.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Asserts an error response: status, JSON body, message containing `words`.
#[track_caller]
pub fn assert_error(got: (StatusCode, Value), status: u16, words: &str) {
    assert_eq!(got.0.as_u16(), status, "body: {}", got.1);
    let msg = got.1["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {}", got.1));
    assert!(msg.contains(words), "error {msg:?} lacks {words:?}");
}

/// The row of `GET /api/v1/mounts` for the mount at `path`, which must be there.
pub async fn mount_row(app: &Router, path: &str) -> Value {
    let (s, v) = send_json(app, get("/api/v1/mounts")).await;
    assert_eq!(s, 200, "{v}");
    v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == path)
        .cloned()
        .unwrap_or_else(|| panic!("{path} is not in {v}"))
}
