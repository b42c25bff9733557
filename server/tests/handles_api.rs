//! `/handles` through the shipped `app()`: every handle case of agfs-reference.md §5.2 (the e2e
//! lifecycle with unmount, seek, sequential and offset reads, O_APPEND, O_EXCL, O_TRUNC, access
//! modes, stat, unknown op, bad id, the 501), the response shapes, the listing, leases and limits.

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::handles::{file, open};
use common::{
    app_with, assert_error, delete, get, post, post_json, put, send, send_full, send_json,
};
use serde_json::{Value, json};

const MEMFS: &str = "plugins:\n  memfs: {path: /memfs}\n";

async fn read(app: &axum::Router, id: u64, query: &str) -> (u16, String) {
    let (s, h, b) = send_full(app, get(&format!("/api/v1/handles/{id}/read?{query}"))).await;
    if s == 200 {
        assert_eq!(h["x-bytes-read"], b.len().to_string().as_str());
    }
    (s.as_u16(), String::from_utf8_lossy(&b).into_owned())
}

async fn write(app: &axum::Router, id: u64, query: &str, body: &str) -> Value {
    let (s, v) = send_json(
        app,
        put(
            &format!("/api/v1/handles/{id}/write?{query}"),
            body.to_string(),
        ),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn seek(app: &axum::Router, id: u64, offset: i64, whence: u8) -> (StatusCode, Value) {
    send_json(
        app,
        post(&format!(
            "/api/v1/handles/{id}/seek?offset={offset}&whence={whence}"
        )),
    )
    .await
}

async fn memfs_with(content: &str) -> axum::Router {
    let (app, _) = app_with(MEMFS).await;
    let (s, _) = send(
        &app,
        put("/api/v1/files?path=/memfs/f.txt", content.to_string()),
    )
    .await;
    assert_eq!(s, 200);
    app
}

#[tokio::test]
async fn lifecycle_unmount_closes_the_handle_agfs_e2e_case_6() {
    let app = memfs_with("hello handles").await;
    let id = open(&app, "/memfs/f.txt", 2, "").await;
    assert_eq!(read(&app, id, "size=7").await, (200, "hello h".into()));
    let (s, _) = send_json(&app, post_json("/api/v1/unmount", r#"{"path":"/memfs"}"#)).await;
    assert_eq!(s, 200);
    let (s, v) = send_json(&app, get(&format!("/api/v1/handles/{id}/read?size=7"))).await;
    assert_eq!(
        (s.as_u16(), v.to_string()),
        (404, r#"{"error":"not found"}"#.into())
    );
    let (s, v) = send_json(&app, delete(&format!("/api/v1/handles/{id}"))).await;
    assert_eq!(
        (s.as_u16(), v.to_string()),
        (404, r#"{"error":"not found"}"#.into())
    );
}

#[tokio::test]
async fn open_answers_the_agfs_shape_with_a_real_lease() {
    let app = memfs_with("x").await;
    let (s, v) = send_json(&app, post("/api/v1/handles/open?path=/memfs/f.txt&flags=0")).await;
    assert_eq!(s, 200);
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["expires_at", "flags", "handle_id", "lease", "path"]);
    assert_eq!(v["path"], "/memfs/f.txt");
    assert_eq!(v["flags"], 0);
    assert_eq!(v["lease"], 60);
    let expires = humantime::parse_rfc3339(v["expires_at"].as_str().unwrap()).unwrap();
    let ahead = expires
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(
        ahead > Duration::from_secs(50) && ahead <= Duration::from_secs(61),
        "{ahead:?}"
    );
}

#[tokio::test]
async fn sequential_reads_advance_and_offset_reads_do_not() {
    let app = memfs_with("0123456789").await;
    let id = open(&app, "/memfs/f.txt", 0, "").await;
    assert_eq!(read(&app, id, "size=3").await.1, "012");
    assert_eq!(read(&app, id, "size=2&offset=7").await.1, "78");
    assert_eq!(read(&app, id, "size=3").await.1, "345");
    // Default size 4096, negative size 1 MiB: both take the rest.
    assert_eq!(read(&app, id, "").await.1, "6789");
    assert_eq!(read(&app, id, "size=5").await, (200, String::new()));
    assert_eq!(read(&app, id, "size=-1&offset=0").await.1, "0123456789");
    assert_eq!(read(&app, id, "size=0&offset=0").await.1, "");
}

#[tokio::test]
async fn seek_with_whence_set_current_and_end() {
    let app = memfs_with("0123456789").await;
    let id = open(&app, "/memfs/f.txt", 0, "").await;
    assert_eq!(seek(&app, id, 4, 0).await.1["position"], 4);
    assert_eq!(read(&app, id, "size=2").await.1, "45");
    assert_eq!(seek(&app, id, -3, 1).await.1["position"], 3);
    assert_eq!(seek(&app, id, -2, 2).await.1["position"], 8);
    assert_eq!(read(&app, id, "size=10").await.1, "89");
    // Past the end is allowed; a negative result is not.
    assert_eq!(seek(&app, id, 5, 2).await.1["position"], 15);
    assert_error(seek(&app, id, -11, 2).await, 400, "negative position");
    assert_error(seek(&app, id, 0, 3).await, 400, "invalid whence parameter");
    let got = send_json(&app, post(&format!("/api/v1/handles/{id}/seek"))).await;
    assert_error(got, 400, "offset parameter is required");
    let got = send_json(&app, post(&format!("/api/v1/handles/{id}/seek?offset=x"))).await;
    assert_error(got, 400, "invalid offset parameter");
}

#[tokio::test]
async fn writes_are_sequential_positional_or_appended() {
    let app = memfs_with("0123456789").await;
    let id = open(&app, "/memfs/f.txt", 2, "").await;
    let v = write(&app, id, "", "ab").await;
    assert_eq!(
        (v["bytes_written"].as_u64(), v["position"].as_u64()),
        (Some(2), Some(2))
    );
    let v = write(&app, id, "offset=8", "XYZ").await;
    assert_eq!(
        (v["bytes_written"].as_u64(), v["position"].as_u64()),
        (Some(3), Some(2))
    );
    write(&app, id, "", "c").await;
    assert_eq!(file(&app, "/memfs/f.txt").await, "abc34567XYZ");
    // Writing past the end zero-fills the gap.
    write(&app, id, "offset=13", "!").await;
    assert_eq!(file(&app, "/memfs/f.txt").await, "abc34567XYZ\0\0!");

    let id = open(&app, "/memfs/f.txt", 1 | 8, "").await;
    seek(&app, id, 0, 0).await;
    let v = write(&app, id, "", "+end").await;
    assert_eq!(v["position"], 18);
    write(&app, id, "offset=0", "+at").await;
    assert_eq!(file(&app, "/memfs/f.txt").await, "abc34567XYZ\0\0!+end+at");
}

#[tokio::test]
async fn create_excl_and_trunc_follow_open2() {
    let app = memfs_with("old content").await;
    // O_CREAT|O_EXCL on an existing file fails; on a new one it creates with `mode` (octal).
    let got = send_json(
        &app,
        post("/api/v1/handles/open?path=/memfs/f.txt&flags=49"),
    )
    .await;
    assert_error(got, 409, "already exists");
    let id = open(&app, "/memfs/new.txt", 1 | 16 | 32, "&mode=600").await;
    write(&app, id, "", "fresh").await;
    let (_, st) = send_json(&app, get("/api/v1/stat?path=/memfs/new.txt")).await;
    assert_eq!(
        (st["mode"].as_u64(), st["size"].as_u64()),
        (Some(0o600), Some(5))
    );
    // Without O_CREAT a missing file is 404.
    let got = send_json(&app, post("/api/v1/handles/open?path=/memfs/none&flags=2")).await;
    assert_error(got, 404, "not found");
    // O_TRUNC empties the file on open.
    let id = open(&app, "/memfs/f.txt", 2 | 64, "").await;
    assert_eq!(file(&app, "/memfs/f.txt").await, "");
    write(&app, id, "", "new").await;
    assert_eq!(file(&app, "/memfs/f.txt").await, "new");
}

#[tokio::test]
async fn access_modes_are_enforced() {
    let app = memfs_with("data").await;
    let w = open(&app, "/memfs/f.txt", 1, "").await;
    let got = send_json(&app, get(&format!("/api/v1/handles/{w}/read"))).await;
    assert_error(got, 400, "handle not opened for reading");
    let got = send_json(&app, get(&format!("/api/v1/handles/{w}/stream"))).await;
    assert_error(got, 400, "handle not opened for reading");
    let r = open(&app, "/memfs/f.txt", 0, "").await;
    let got = send_json(&app, put(&format!("/api/v1/handles/{r}/write"), "x")).await;
    assert_error(got, 400, "handle not opened for writing");
    assert_eq!(file(&app, "/memfs/f.txt").await, "data");
}

#[tokio::test]
async fn stat_sync_info_and_stream_of_an_open_file() {
    let app = memfs_with("0123456789").await;
    let id = open(&app, "/memfs/f.txt", 2, "").await;
    let (s, v) = send_json(&app, get(&format!("/api/v1/handles/{id}/stat"))).await;
    assert_eq!(s, 200);
    assert_eq!(
        (v["name"].as_str(), v["size"].as_u64()),
        (Some("f.txt"), Some(10))
    );
    let (s, v) = send_json(&app, post(&format!("/api/v1/handles/{id}/sync"))).await;
    assert_eq!(
        (s.as_u16(), v.to_string()),
        (200, r#"{"message":"synced"}"#.into())
    );
    let (s, v) = send_json(&app, get(&format!("/api/v1/handles/{id}"))).await;
    assert_eq!(s, 200);
    for key in [
        "handle_id",
        "path",
        "flags",
        "lease",
        "expires_at",
        "created_at",
        "last_access",
    ] {
        assert!(v.get(key).is_some(), "{key} missing in {v}");
    }
    read(&app, id, "size=4").await;
    let (s, h, b) = send_full(&app, get(&format!("/api/v1/handles/{id}/stream"))).await;
    assert_eq!(s, 200);
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(&b[..], b"456789");
    let (s, v) = send_json(&app, delete(&format!("/api/v1/handles/{id}"))).await;
    assert_eq!(
        (s.as_u16(), v.to_string()),
        (200, r#"{"message":"handle closed"}"#.into())
    );
    let (s, _) = send(&app, get(&format!("/api/v1/handles/{id}/stat"))).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn bad_ids_unknown_ops_and_wrong_methods() {
    let app = memfs_with("x").await;
    let got = send_json(&app, get("/api/v1/handles/abc/read")).await;
    assert_error(got, 400, "invalid handle ID: must be a number");
    let got = send_json(&app, delete("/api/v1/handles/-1")).await;
    assert_error(got, 400, "invalid handle ID: must be a number");
    let (s, v) = send_json(&app, get("/api/v1/handles/999999")).await;
    assert_eq!(
        (s.as_u16(), v.to_string()),
        (404, r#"{"error":"not found"}"#.into())
    );
    let id = open(&app, "/memfs/f.txt", 0, "").await;
    let (s, v) = send_json(&app, post(&format!("/api/v1/handles/{id}/frobnicate"))).await;
    assert_eq!(
        (s.as_u16(), v.to_string()),
        (404, r#"{"error":"unknown operation: frobnicate"}"#.into())
    );
    let got = send_json(&app, post("/api/v1/handles/x/frob")).await;
    assert_error(got, 400, "invalid handle ID");
    let got = send_json(&app, post("/api/v1/handles")).await;
    assert_error(got, 400, "handle ID required");
    let got = send_json(&app, delete("/api/v1/handles/")).await;
    assert_error(got, 400, "handle ID required");
    let got = send_json(&app, post(&format!("/api/v1/handles/{id}/read"))).await;
    assert_error(got, 405, "method not allowed");
}

#[tokio::test]
async fn open_parameters_are_checked() {
    let app = memfs_with("x").await;
    for (query, words) in [
        ("flags=rw", "invalid flags parameter: must be a number"),
        ("flags=3", "invalid flags parameter"),
        ("flags=-2", "invalid flags parameter"),
        ("flags=16&mode=9z", "invalid mode parameter"),
        ("lease=-5", "invalid lease parameter"),
        ("lease=99999999", "invalid lease parameter"),
    ] {
        let got = send_json(
            &app,
            post(&format!("/api/v1/handles/open?path=/memfs/f.txt&{query}")),
        )
        .await;
        assert_error(got, 400, words);
    }
    let got = send_json(&app, post("/api/v1/handles/open")).await;
    assert_error(got, 400, "path parameter is required");
    let got = send_json(&app, post("/api/v1/handles/open?path=/memfs")).await;
    assert_error(got, 400, "is a directory");
    let got = send_json(&app, post("/api/v1/handles/open?path=/nowhere/x")).await;
    assert_error(got, 404, "not found");
    let got = send_json(&app, post("/api/v1/handles/open?path=/nowhere/x&flags=17")).await;
    assert_error(got, 403, "permission denied");
    // Bits outside the server numbering are ignored, as AGFS does; the answer echoes them.
    let (s, v) = send_json(
        &app,
        post("/api/v1/handles/open?path=/memfs/f.txt&flags=1024"),
    )
    .await;
    assert_eq!((s.as_u16(), v["flags"].as_u64()), (200, Some(1024)));
}

#[tokio::test]
async fn a_plugin_without_handles_answers_the_exact_agfs_501() {
    let (app, _) = app_with(
        "plugins:\n  memfs: {path: /memfs}\n  streamrotatefs: {path: /rot, config: {output_path: /memfs/rec}}\n",
    )
    .await;
    let (s, v) = send_json(&app, post("/api/v1/handles/open?path=/rot/live&flags=1")).await;
    assert_eq!(
        (s.as_u16(), v.to_string()),
        (
            501,
            r#"{"error":"openhandle: /rot/live: operation not supported"}"#.into()
        )
    );
}

#[tokio::test]
async fn listing_shows_open_handles_and_ids_are_never_reused() {
    let app = memfs_with("x").await;
    let (_, v) = send_json(&app, get("/api/v1/handles")).await;
    assert_eq!(v.to_string(), r#"{"count":0,"handles":[],"max":10000}"#);
    let a = open(&app, "/memfs/f.txt", 0, "").await;
    let b = open(&app, "/memfs/f.txt", 2, "&lease=5").await;
    let (_, v) = send_json(&app, get("/api/v1/handles/")).await;
    assert_eq!(v["count"], 2);
    let hs = v["handles"].as_array().unwrap();
    assert_eq!(
        (hs[0]["id"].as_u64(), hs[1]["handle_id"].as_u64()),
        (Some(a), Some(b))
    );
    assert_eq!(
        (
            hs[1]["path"].as_str(),
            hs[1]["flags"].as_u64(),
            hs[1]["lease"].as_u64()
        ),
        (Some("/memfs/f.txt"), Some(2), Some(5))
    );
    for key in ["expires_at", "created_at", "last_access"] {
        humantime::parse_rfc3339(hs[0][key].as_str().unwrap()).unwrap();
    }
    send(&app, delete(&format!("/api/v1/handles/{a}"))).await;
    let c = open(&app, "/memfs/f.txt", 0, "").await;
    assert!(c > b && b > a, "{a} {b} {c}");
    let (_, v) = send_json(&app, get("/api/v1/handles")).await;
    let ids: Vec<u64> = v["handles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [b, c]);
}

#[tokio::test]
async fn a_lease_expires_without_use_and_renew_extends_it() {
    let app = memfs_with("x").await;
    let idle = open(&app, "/memfs/f.txt", 0, "&lease=1").await;
    let used = open(&app, "/memfs/f.txt", 0, "&lease=1").await;
    let renewed = open(&app, "/memfs/f.txt", 0, "&lease=1").await;
    let (s, v) = send_json(
        &app,
        post(&format!("/api/v1/handles/{renewed}/renew?lease=30")),
    )
    .await;
    assert_eq!((s.as_u16(), v["lease"].as_u64()), (200, Some(30)));
    let started = Instant::now();
    // Use one handle every 200 ms until the idle one is gone (or give up after 10 s).
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the idle handle never expired"
        );
        assert_eq!(
            read(&app, used, "size=1&offset=0").await.0,
            200,
            "a used handle expired"
        );
        let (s, _) = send(&app, get(&format!("/api/v1/handles/{idle}"))).await;
        if s == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "expired early"
    );
    assert_eq!(read(&app, idle, "size=1").await.0, 404);
    let (s, _) = send(&app, get(&format!("/api/v1/handles/{renewed}"))).await;
    assert_eq!(s, 200);
    let (_, v) = send_json(&app, get("/api/v1/handles")).await;
    assert_eq!(v["count"], 2);
}

#[tokio::test]
async fn open_handles_are_bounded_by_max_handles() {
    let (app, _) = app_with("server: {max_handles: 3}\nplugins:\n  memfs: {path: /memfs}\n").await;
    send(&app, put("/api/v1/files?path=/memfs/f.txt", "x")).await;
    let ids = [
        open(&app, "/memfs/f.txt", 0, "").await,
        open(&app, "/memfs/f.txt", 0, "").await,
        open(&app, "/memfs/f.txt", 0, "").await,
    ];
    let got = send_json(&app, post("/api/v1/handles/open?path=/memfs/new&flags=17")).await;
    assert_error(
        got,
        503,
        "too many open handles: the limit is 3 (server.max_handles)",
    );
    // A refused open changed nothing.
    let (s, _) = send(&app, get("/api/v1/stat?path=/memfs/new")).await;
    assert_eq!(s, 404);
    let (_, v) = send_json(&app, get("/api/v1/handles")).await;
    assert_eq!((v["count"].as_u64(), v["max"].as_u64()), (Some(3), Some(3)));
    send(&app, delete(&format!("/api/v1/handles/{}", ids[1]))).await;
    open(&app, "/memfs/f.txt", 0, "").await;
}

#[tokio::test]
async fn writes_over_the_body_limit_are_413() {
    let (app, _) =
        app_with("server: {max_request_body_bytes: 8}\nplugins:\n  memfs: {path: /memfs}\n").await;
    let id = open(&app, "/memfs/f", 1 | 16, "").await;
    let req = Request::put(format!("/api/v1/handles/{id}/write"))
        .body(Body::from("123456789"))
        .unwrap();
    let got = send_json(&app, req).await;
    assert_error(got, 413, "maximum size of 8 bytes");
    assert_eq!(file(&app, "/memfs/f").await, "");
}

#[tokio::test]
async fn an_abandoned_stream_body_releases_the_handle() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    // PEER-LESSONS: cleanup must not wait for a body to be sent to the end. A streamfs handle's
    // stream waits for data; the client goes away while it waits; the handle must then be free to
    // expire (a leaked "in use" mark would keep it forever).
    let (app, _) = app_with("plugins:\n  streamfs: {path: /streamfs}\n").await;
    let id = open(&app, "/streamfs/live", 0, "&lease=1").await;
    let w = open(&app, "/streamfs/live", 1, "").await;
    write(&app, w, "", "first").await;
    let resp = app
        .clone()
        .oneshot(get(&format!("/api/v1/handles/{id}/stream")))
        .await
        .unwrap();
    let mut body = resp.into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "first");
    // The next frame waits for a chunk that never comes; give up on it and drop the body.
    let pending = tokio::time::timeout(Duration::from_millis(300), body.frame()).await;
    assert!(pending.is_err(), "a chunk came from nowhere");
    drop(body);
    let started = Instant::now();
    loop {
        let (s, _) = send(&app, get(&format!("/api/v1/handles/{id}"))).await;
        if s == 404 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the handle stayed busy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `POST /handles/{id}/truncate?size=` (the Python SDK's `FileHandle.truncate`; AGFS has no such
/// route): cuts or extends the open file, keeps the position, needs a writable handle.
#[tokio::test]
async fn truncate_through_a_handle_cuts_and_extends_and_keeps_the_position() {
    let app = memfs_with("hello world").await;
    let id = open(&app, "/memfs/f.txt", 2, "").await;
    let (s, v) = send_json(
        &app,
        post(&format!("/api/v1/handles/{id}/seek?offset=11&whence=0")),
    )
    .await;
    assert_eq!((s.as_u16(), &v["position"]), (200, &json!(11)));
    let (s, v) = send_json(&app, post(&format!("/api/v1/handles/{id}/truncate?size=5"))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"message": "truncated", "position": 11}));
    assert_eq!(file(&app, "/memfs/f.txt").await, "hello");
    let (s, _) = send_json(&app, post(&format!("/api/v1/handles/{id}/truncate?size=8"))).await;
    assert_eq!(s, 200);
    assert_eq!(file(&app, "/memfs/f.txt").await, "hello\0\0\0");

    assert_error(
        send_json(&app, post(&format!("/api/v1/handles/{id}/truncate"))).await,
        400,
        "size parameter is required",
    );
    assert_error(
        send_json(
            &app,
            post(&format!("/api/v1/handles/{id}/truncate?size=-1")),
        )
        .await,
        400,
        "size must be non-negative",
    );
    let ro = open(&app, "/memfs/f.txt", 0, "").await;
    assert_error(
        send_json(&app, post(&format!("/api/v1/handles/{ro}/truncate?size=0"))).await,
        400,
        "handle not opened for writing",
    );
    assert_eq!(file(&app, "/memfs/f.txt").await, "hello\0\0\0");
}
