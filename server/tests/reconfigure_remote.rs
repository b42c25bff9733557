//! `POST /api/v1/mounts/config` on the plugins that talk to another server: proxyfs re-pointed at
//! another pfs (real servers on real sockets), s3fs given new credentials and an endpoint (moto and
//! s3s-fs, from `scripts/s3-start`), sqlfs's pool resized. Each change is taken in place (the
//! same instance, generation + 1), refused with 400 (config, generation and data unchanged), or
//! sent to a remount; a request already running when the change lands finishes on the old
//! connection.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use bytes::Bytes;
use common::*;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn change(app: &Router, body: Value) -> (StatusCode, Value) {
    send_json(app, post_json("/api/v1/mounts/config", &body.to_string())).await
}

async fn mount(app: &Router, fstype: &str, path: &str, config: &Value) {
    let body = json!({"fstype": fstype, "path": path, "config": config});
    let (s, v) = send_json(app, post_json("/api/v1/mount", &body.to_string())).await;
    assert_eq!(s, 200, "{v}");
}

async fn read(app: &Router, path: &str) -> (StatusCode, Bytes) {
    send(app, get(&format!("/api/v1/files?path={}", enc(path)))).await
}

/// Asserts a refused change: `status`, a message with `words`, and the mount as it was.
async fn refused(app: &Router, body: Value, status: u16, words: &str) {
    let path = body["path"].as_str().unwrap().to_string();
    let before = mount_row(app, &path).await;
    assert_error(change(app, body).await, status, words);
    assert_eq!(mount_row(app, &path).await, before, "the mount changed");
}

/// Starts `GET path` and returns its status and body, of which nothing has been read yet.
async fn start_read(app: &Router, path: &str) -> (StatusCode, Body) {
    let req = get(&format!("/api/v1/files?path={}", enc(path)));
    let resp = app.clone().oneshot(req).await.expect("infallible");
    (resp.status(), resp.into_body())
}

/// The next data frame of `body` (`None` at its end).
async fn next_bytes(body: &mut Body) -> Option<Bytes> {
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("the body streams").into_data() {
            return Some(data);
        }
    }
    None
}

/// Byte `i` of a pattern body is `i % 251`.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A pfs server on a real socket with memfs at /memfs, its URL, and an app on its state (to put
/// data in it directly).
async fn remote() -> (String, Router) {
    let (addr, state) = serve("plugins:\n  memfs: {path: /memfs}\n").await;
    (format!("http://{addr}"), pfs_server::app(state))
}

/// A loopback URL nobody listens on.
fn closed_url() -> String {
    format!("http://127.0.0.1:{}", process::free_port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxyfs_moves_to_another_remote_in_place_and_refuses_a_dead_one() {
    let ((a, app_a), (b, app_b)) = (remote().await, remote().await);
    let big = pattern(24 << 20);
    for (app, name, data) in [
        (&app_a, "f", b"from A".to_vec()),
        (&app_a, "big", big.clone()),
        (&app_b, "f", b"from B".to_vec()),
    ] {
        let uri = format!("/api/v1/files?path=/memfs/{name}");
        assert_eq!(send(app, put(&uri, data)).await.0, 200);
    }
    let (app, _) = app().await;
    let on_a = json!({"base_url": a, "remote_path": "/memfs"});
    mount(&app, "proxyfs", "/r", &on_a).await;
    assert_eq!(read(&app, "/r/f").await.1, "from A");

    // A 24 MiB read from A is under way ...
    let (s, mut body) = start_read(&app, "/r/big").await;
    assert_eq!(s, 200);
    let mut got = next_bytes(&mut body).await.unwrap().to_vec();
    assert!(got.len() < big.len());

    // ... when the mount moves to B, with another timeout and TLS setting.
    let on_b = json!({"base_url": format!("{b}/api/v1/"), "remote_path": "/memfs", "timeout": "5s",
        "tls_skip_verify": true});
    let (s, v) = change(&app, json!({"path": "/r", "config": on_b})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (&v["generation"], &v["amended"], &v["remounted"]),
        (&json!(2), &json!(false), &json!(false))
    );
    assert_eq!(mount_row(&app, "/r").await["config"], on_b);
    assert_eq!(read(&app, "/r/f").await.1, "from B");
    let (_, v) = send_json(&app, get("/api/v1/stat?path=/r/f")).await;
    assert_eq!(v["meta"]["Content"]["remote-url"], format!("{b}/api/v1"));
    assert_eq!(read(&app, "/r/big").await.0, 404);

    // The read that began on A still ends whole.
    while let Some(chunk) = next_bytes(&mut body).await {
        got.extend_from_slice(&chunk);
    }
    assert_eq!(got.len(), big.len());
    assert!(got == big, "the streamed bytes differ from A's file");

    // Refused: a remote that does not answer, a URL that does not parse, another remote path.
    let dead = json!({"path": "/r", "config": {"base_url": closed_url(), "remote_path": "/memfs"}});
    refused(&app, dead, 400, "the mount keeps its current config").await;
    let bad =
        json!({"path": "/r", "config": {"base_url": "http//nowhere", "remote_path": "/memfs"}});
    refused(&app, bad, 400, "invalid base_url").await;
    let moved = json!({"path": "/r", "config": {"base_url": b, "remote_path": "/"}});
    refused(&app, moved, 501, "\"remount\": true").await;
    assert_eq!(read(&app, "/r/f").await.1, "from B");
}

/// The test server at `var`, or `None` (a skip notice; a failure under `CI`).
fn test_server(var: &str, hint: &str) -> Option<String> {
    fs_core::conformance::test_server(var, hint)
}

/// A name no other test uses (buckets, databases).
fn unique_name() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    format!(
        "pfs-reconf-{}-{}",
        std::process::id(),
        micros % 1_000_000_000
    )
}

/// Creates `bucket` on an S3 server with `curl` (signed: s3s-fs checks signatures).
fn create_bucket(endpoint: &str, bucket: &str) {
    let url = format!("{endpoint}/{bucket}");
    let out = process::curl(&[
        "--aws-sigv4",
        "aws:amz:us-east-1:s3",
        "--user",
        "test:test",
        "-H",
        "x-amz-content-sha256: UNSIGNED-PAYLOAD",
        "-X",
        "PUT",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &url,
    ]);
    let code = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(code, "200", "creating {url}: {out:?}");
}

fn s3_config(endpoint: &str, bucket: &str, key: &str, secret: &str) -> Value {
    json!({"bucket": bucket, "endpoint": endpoint, "access_key_id": key,
        "secret_access_key": secret, "multipart_part_size": "5MB"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3fs_takes_new_credentials_and_endpoint_and_refuses_bad_ones() {
    let hint = "scripts/s3-start starts moto and s3s-fs";
    let (Some(moto), Some(s3s)) = (
        test_server("PFS_TEST_S3_ENDPOINT", hint),
        test_server("PFS_TEST_S3S_ENDPOINT", hint),
    ) else {
        return;
    };
    let bucket = unique_name();
    create_bucket(&moto, &bucket);
    create_bucket(&s3s, &bucket);
    let (app, _) = app_with("server: {max_request_body_bytes: 67108864}\nplugins: {}\n").await;
    let on_s3s = s3_config(&s3s, &bucket, "test", "test");
    mount(&app, "s3fs", "/s3", &on_s3s).await;
    mount(
        &app,
        "s3fs",
        "/moto",
        &s3_config(&moto, &bucket, "test", "test"),
    )
    .await;
    let big = pattern(24 << 20);
    for (path, data) in [
        ("/s3/f", b"on s3s-fs".to_vec()),
        ("/s3/big", big.clone()),
        ("/moto/f", b"on moto".to_vec()),
    ] {
        let (s, b) = send(&app, put(&format!("/api/v1/files?path={path}"), data)).await;
        assert_eq!(s, 200, "{path}: {b:?}");
    }

    // A read of 24 MiB streams from s3s-fs ...
    let (s, mut body) = start_read(&app, "/s3/big").await;
    assert_eq!(s, 200);
    let mut got = next_bytes(&mut body).await.unwrap().to_vec();
    assert!(got.len() < big.len());

    // ... when the mount is given moto's endpoint and other credentials (moto takes any).
    let on_moto = s3_config(&moto, &bucket, "rotated", "rotated-secret");
    let (s, v) = change(&app, json!({"path": "/s3", "config": on_moto})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (&v["generation"], &v["amended"], &v["remounted"]),
        (&json!(2), &json!(false), &json!(false))
    );
    // The config in force, credentials masked as ever.
    let row = mount_row(&app, "/s3").await;
    assert_eq!(
        (
            &row["generation"],
            &row["config"]["endpoint"],
            &row["config"]["access_key_id"],
            &row["config"]["secret_access_key"]
        ),
        (&json!(2), &json!(moto), &json!("***"), &json!("***"))
    );
    assert_eq!(read(&app, "/s3/f").await.1, "on moto");
    while let Some(chunk) = next_bytes(&mut body).await {
        got.extend_from_slice(&chunk);
    }
    assert_eq!(got.len(), big.len());
    assert!(
        got == big,
        "the streamed bytes differ from the object on s3s-fs"
    );

    // Refused: credentials s3s-fs rejects, an endpoint with credentials in it, another bucket.
    let wrong = s3_config(&s3s, &bucket, "test", "wrong");
    refused(
        &app,
        json!({"path": "/s3", "config": wrong}),
        400,
        "the mount keeps its current config",
    )
    .await;
    let hostile = s3_config("http://admin:hunter2@127.0.0.1:1", &bucket, "k", "s");
    let got = change(&app, json!({"path": "/s3", "config": hostile})).await;
    assert!(!got.1.to_string().contains("hunter2"), "{}", got.1);
    assert_error(got, 400, "'endpoint'");
    let other = s3_config(&moto, "another-bucket", "rotated", "rotated-secret");
    refused(
        &app,
        json!({"path": "/s3", "config": other}),
        501,
        "'bucket' cannot change",
    )
    .await;
    assert_eq!(mount_row(&app, "/s3").await["generation"], 2);
    assert_eq!(read(&app, "/s3/f").await.1, "on moto");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlfs_resizes_its_pool_in_place_and_sends_a_new_database_to_a_remount() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sqlfs.db");
    // sqlfs through the API on a temporary directory: roots anywhere.
    let (app, _) =
        app_with("server: {mount_roots: ['*']}\nplugins:\n  memfs: {path: /memfs}\n").await;
    let config = json!({"backend": "sqlite", "db_path": db, "pool_size": 2});
    mount(&app, "sqlfs", "/q", &config).await;
    assert_eq!(
        send(&app, put("/api/v1/files?path=/q/f", "kept")).await.0,
        200
    );

    let bigger = json!({"backend": "sqlite", "db_path": db, "pool_size": 8});
    let (s, v) = change(&app, json!({"path": "/q", "config": bigger})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (&v["generation"], &v["amended"], &v["config"]),
        (&json!(2), &json!(false), &bigger)
    );
    assert_eq!(mount_row(&app, "/q").await["config"], bigger);
    assert_eq!(read(&app, "/q/f").await.1, "kept");

    for (config, status, words) in [
        (
            json!({"backend": "sqlite", "db_path": db, "pool_size": 0}),
            400,
            "'pool_size'",
        ),
        (
            json!({"backend": "sqlite", "db_path": db, "pool_size": 1u64 << 40}),
            400,
            "'pool_size'",
        ),
        (
            json!({"backend": "sqlite", "db_path": db, "pool_size": "lots"}),
            400,
            "'pool_size'",
        ),
        (
            json!({"backend": "sqlite", "db_path": dir.path().join("other.db"), "pool_size": 8}),
            501,
            "'db_path' cannot change",
        ),
    ] {
        refused(&app, json!({"path": "/q", "config": config}), status, words).await;
    }
    assert_eq!(read(&app, "/q/f").await.1, "kept");

    // A remount opens the other database.
    let moved = json!({"backend": "sqlite", "db_path": dir.path().join("other.db")});
    let (s, v) = change(
        &app,
        json!({"path": "/q", "config": moved, "remount": true}),
    )
    .await;
    assert_eq!((s.as_u16(), &v["remounted"]), (200, &json!(true)), "{v}");
    assert_eq!(read(&app, "/q/f").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlfs_on_mysql_lowers_a_pool_above_the_server_limit_and_says_so() {
    let Some(dsn) = test_server("PFS_TEST_MYSQL_DSN", "scripts/mariadb-start sets it") else {
        return;
    };
    // A database of its own, emptied at the end (scripts/mariadb-stop removes the server).
    let database = unique_name().replace('-', "_");
    let config = json!({"backend": "mysql", "dsn": dsn, "database": database, "pool_size": 4});
    let (app, _) = app().await;
    mount(&app, "sqlfs", "/q", &config).await;
    assert_eq!(
        send(&app, put("/api/v1/files?path=/q/f", "kept")).await.0,
        200
    );

    let huge = json!({"backend": "mysql", "dsn": dsn, "database": database, "pool_size": 1000});
    let (s, v) = change(&app, json!({"path": "/q", "config": huge})).await;
    assert_eq!(s, 200, "{v}");
    let size = v["config"]["pool_size"].as_u64().unwrap();
    // Lowered to the server's max_connections (151 by default; 500 under scripts/mariadb-start).
    assert_eq!(v["amended"], json!(size < 1000), "{v}");
    assert!((1..1000).contains(&size), "{v}");
    assert_eq!(mount_row(&app, "/q").await["config"]["pool_size"], size);
    assert_eq!(read(&app, "/q/f").await.1, "kept");

    let other = json!({"backend": "mysql", "dsn": dsn, "database": "elsewhere", "pool_size": 4});
    refused(
        &app,
        json!({"path": "/q", "config": other}),
        501,
        "'database' cannot change",
    )
    .await;
    let (s, _) = send(&app, common::delete("/api/v1/files?path=/q/f")).await;
    assert_eq!(s, 200);
}
