//! `/files`, `/write`: reads (offset, size, Range, ETag), writes (offset, flags, limit), create, delete.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::*;

#[tokio::test]
async fn put_then_get_roundtrips_names_with_special_characters() {
    let (app, _) = app().await;
    for name in [
        "a b.txt",
        "hash#tag",
        "100%",
        "what?",
        "this&that",
        "plus+sign",
        "ünïcødé ✓",
    ] {
        let uri = format!("/api/v1/files?path={}", enc(&format!("/memfs/{name}")));
        let (s, v) = send_json(&app, put(&uri, name.to_string())).await;
        assert_eq!(s, 200, "{name}: {v}");
        assert_eq!(v["written"], name.len());
        assert_eq!(v["message"], format!("Written {} bytes", name.len()));
        let (s, body) = send(&app, get(&uri)).await;
        assert_eq!((s.as_u16(), &body[..]), (200, name.as_bytes()), "{name}");
    }
    let (_, v) = send_json(&app, get("/api/v1/directories?path=/memfs")).await;
    let names = common::listing_names(&v);
    assert!(
        names.contains(&"ünïcødé ✓") && names.contains(&"this&that"),
        "{names:?}"
    );
}

#[tokio::test]
async fn get_without_path_is_400_json() {
    let (app, _) = app().await;
    assert_error(
        send_json(&app, get("/api/v1/files")).await,
        400,
        "path parameter is required",
    );
}

#[tokio::test]
async fn get_missing_file_is_404_not_found() {
    let (app, _) = app().await;
    let got = send_json(&app, get("/api/v1/files?path=/memfs/nope")).await;
    assert_error(got.clone(), 404, "not found");
    assert!(
        got.1["error"]
            .as_str()
            .unwrap()
            .contains("no such file or directory")
    );
    assert_error(
        send_json(&app, get("/api/v1/files?path=/nomount/x")).await,
        404,
        "not found",
    );
}

#[tokio::test]
async fn get_offset_and_size_slice_and_eof_is_empty() {
    let (app, _) = app().await;
    send(&app, put("/api/v1/files?path=/memfs/r", "0123456789")).await;
    let (_, b) = send(&app, get("/api/v1/files?path=/memfs/r&offset=2&size=3")).await;
    assert_eq!(&b[..], b"234");
    let (_, b) = send(&app, get("/api/v1/files?path=/memfs/r&offset=7")).await;
    assert_eq!(&b[..], b"789");
    let (s, b) = send(&app, get("/api/v1/files?path=/memfs/r&offset=100")).await;
    assert_eq!((s.as_u16(), b.len()), (200, 0));
    let (s, b) = send(&app, get("/api/v1/files?path=/memfs/r&size=0")).await;
    assert_eq!((s.as_u16(), b.len()), (200, 0));
    let (_, b) = send(&app, get("/api/v1/files?path=/memfs/r&size=-1")).await;
    assert_eq!(&b[..], b"0123456789");
}

#[tokio::test]
async fn get_bad_offset_or_size_is_400_naming_the_field() {
    let (app, _) = app().await;
    send(&app, put("/api/v1/files?path=/memfs/r", "x")).await;
    assert_error(
        send_json(&app, get("/api/v1/files?path=/memfs/r&offset=abc")).await,
        400,
        "offset",
    );
    assert_error(
        send_json(&app, get("/api/v1/files?path=/memfs/r&offset=-1")).await,
        400,
        "offset",
    );
    assert_error(
        send_json(&app, get("/api/v1/files?path=/memfs/r&size=lots")).await,
        400,
        "size",
    );
}

#[tokio::test]
async fn get_range_is_206_with_content_range_and_416_when_unsatisfiable() {
    let (app, _) = app().await;
    send(&app, put("/api/v1/files?path=/memfs/r", "0123456789")).await;
    let req = Request::get("/api/v1/files?path=/memfs/r")
        .header("range", "bytes=2-4")
        .body(Body::empty())
        .unwrap();
    let (s, h, b) = send_full(&app, req).await;
    assert_eq!(s, 206);
    assert_eq!(&b[..], b"234");
    assert_eq!(h["content-range"], "bytes 2-4/10");
    let req = Request::get("/api/v1/files?path=/memfs/r")
        .header("range", "bytes=-3")
        .body(Body::empty())
        .unwrap();
    let (s, _, b) = send_full(&app, req).await;
    assert_eq!((s.as_u16(), &b[..]), (206, &b"789"[..]));
    let req = Request::get("/api/v1/files?path=/memfs/r")
        .header("range", "bytes=10-")
        .body(Body::empty())
        .unwrap();
    let (s, h, b) = send_full(&app, req).await;
    assert_eq!(s, 416);
    assert_eq!(h["content-range"], "bytes */10");
    assert!(serde_json::from_slice::<serde_json::Value>(&b).unwrap()["error"].is_string());
}

#[tokio::test]
async fn get_sends_etag_last_modified_and_length() {
    let (app, _) = app().await;
    send(&app, put("/api/v1/files?path=/memfs/e", "hello")).await;
    let (s, h, _) = send_full(&app, get("/api/v1/files?path=/memfs/e")).await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(h["content-length"], "5");
    assert!(h["etag"].to_str().unwrap().starts_with('"'));
    assert!(h.contains_key("last-modified"));
    send(&app, put("/api/v1/files?path=/memfs/e", "world")).await;
    let (_, h2, _) = send_full(&app, get("/api/v1/files?path=/memfs/e")).await;
    assert_ne!(h["etag"], h2["etag"]);
}

#[tokio::test]
async fn get_of_a_directory_is_400_is_a_directory() {
    let (app, _) = app().await;
    send(&app, post("/api/v1/directories?path=/memfs/d")).await;
    assert_error(
        send_json(&app, get("/api/v1/files?path=/memfs/d")).await,
        400,
        "is a directory",
    );
}

#[tokio::test]
async fn put_with_offset_pwrites_and_flags_append() {
    let (app, _) = app().await;
    send(&app, put("/api/v1/files?path=/memfs/p", "hello world")).await;
    let (s, v) = send_json(&app, put("/api/v1/files?path=/memfs/p&offset=6", "WORLD")).await;
    assert_eq!((s.as_u16(), v["written"].as_u64()), (200, Some(5)));
    let (_, b) = send(&app, get("/api/v1/files?path=/memfs/p")).await;
    assert_eq!(&b[..], b"hello WORLD");
    send(&app, put("/api/v1/files?path=/memfs/p&flags=append", "!")).await;
    let (_, b) = send(&app, get("/api/v1/files?path=/memfs/p")).await;
    assert_eq!(&b[..], b"hello WORLD!");
    // No parameters: create + replace, the AGFS default.
    send(&app, put("/api/v1/files?path=/memfs/p", "new")).await;
    let (_, b) = send(&app, get("/api/v1/files?path=/memfs/p")).await;
    assert_eq!(&b[..], b"new");
}

#[tokio::test]
async fn put_exclusive_on_existing_is_409_and_keeps_content() {
    let (app, _) = app().await;
    let (s, _) = send(
        &app,
        put(
            "/api/v1/files?path=/memfs/x&flags=create,exclusive",
            "first",
        ),
    )
    .await;
    assert_eq!(s, 200);
    assert_error(
        send_json(
            &app,
            put(
                "/api/v1/files?path=/memfs/x&flags=create,exclusive",
                "second",
            ),
        )
        .await,
        409,
        "already exists",
    );
    assert_eq!(
        &send(&app, get("/api/v1/files?path=/memfs/x")).await.1[..],
        b"first"
    );
}

#[tokio::test]
async fn put_unknown_flag_is_400_naming_it() {
    let (app, _) = app().await;
    assert_error(
        send_json(
            &app,
            put("/api/v1/files?path=/memfs/x&flags=create,bogus", "x"),
        )
        .await,
        400,
        "bogus",
    );
}

#[tokio::test]
async fn put_missing_parent_is_404_and_outside_mounts_is_403() {
    let (app, _) = app().await;
    assert_error(
        send_json(&app, put("/api/v1/files?path=/memfs/no/such", "x")).await,
        404,
        "not found",
    );
    assert_error(
        send_json(&app, put("/api/v1/files?path=/elsewhere", "x")).await,
        403,
        "permission denied",
    );
}

#[tokio::test]
async fn put_over_the_body_limit_is_413_and_leaves_the_old_content() {
    let (app, _) =
        app_with("server: {max_request_body_bytes: 32}\nplugins:\n  memfs: {path: /memfs}\n").await;
    send(&app, put("/api/v1/files?path=/memfs/keep", "old")).await;
    let body = "x".repeat(33);
    assert_error(
        send_json(&app, put("/api/v1/files?path=/memfs/keep", body.clone())).await,
        413,
        "maximum size of 32 bytes",
    );
    assert_eq!(
        &send(&app, get("/api/v1/files?path=/memfs/keep")).await.1[..],
        b"old"
    );
    assert_error(
        send_json(&app, put("/api/v1/files?path=/memfs/new", body.clone())).await,
        413,
        "maximum size of 32 bytes",
    );
    assert_eq!(
        send_json(&app, get("/api/v1/stat?path=/memfs/new")).await.0,
        404
    );
    // Without Content-Length (a streamed body) the limit still holds.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
        Ok(bytes::Bytes::from("x".repeat(20))),
        Ok(bytes::Bytes::from("y".repeat(20))),
    ];
    let streamed = Body::from_stream(futures_util::stream::iter(chunks));
    assert_error(
        send_json(&app, put("/api/v1/files?path=/memfs/keep", streamed)).await,
        413,
        "maximum size",
    );
    assert_eq!(
        &send(&app, get("/api/v1/files?path=/memfs/keep")).await.1[..],
        b"old"
    );
    // A body at the limit is fine.
    assert_eq!(
        send(&app, put("/api/v1/files?path=/memfs/keep", "z".repeat(32)))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn post_creates_201_then_409() {
    let (app, _) = app().await;
    let (s, v) = send_json(&app, post("/api/v1/files?path=/memfs/c")).await;
    assert_eq!(
        (s.as_u16(), v["message"].as_str()),
        (201, Some("file created"))
    );
    assert_error(
        send_json(&app, post("/api/v1/files?path=/memfs/c")).await,
        409,
        "already exists",
    );
    assert_error(
        send_json(&app, post("/api/v1/files?path=/c")).await,
        403,
        "use mount instead",
    );
}

#[tokio::test]
async fn delete_file_dir_and_recursive() {
    let (app, _) = app().await;
    send(&app, post("/api/v1/directories?path=/memfs/d")).await;
    send(&app, put("/api/v1/files?path=/memfs/d/f", "x")).await;
    assert_error(
        send_json(&app, delete("/api/v1/files?path=/memfs/d")).await,
        409,
        "directory not empty",
    );
    let (s, v) = send_json(&app, delete("/api/v1/files?path=/memfs/d&recursive=true")).await;
    assert_eq!((s.as_u16(), v["message"].as_str()), (200, Some("deleted")));
    assert_eq!(
        send_json(&app, get("/api/v1/stat?path=/memfs/d/f")).await.0,
        404
    );
    assert_error(
        send_json(&app, delete("/api/v1/files?path=/memfs/d")).await,
        404,
        "not found",
    );
    send(&app, post("/api/v1/directories?path=/memfs/e")).await;
    assert_eq!(
        send_json(&app, delete("/api/v1/directories?path=/memfs/e"))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn write_alias_takes_json_or_raw() {
    let (app, _) = app().await;
    let (s, v) = send_json(
        &app,
        post_json("/api/v1/write?path=/memfs/w", r#"{"data":"from json"}"#),
    )
    .await;
    assert_eq!((s.as_u16(), v["written"].as_u64()), (200, Some(9)));
    assert_eq!(
        &send(&app, get("/api/v1/files?path=/memfs/w")).await.1[..],
        b"from json"
    );
    let raw = Request::post("/api/v1/write?path=/memfs/w")
        .body(Body::from("raw"))
        .unwrap();
    assert_eq!(send(&app, raw).await.0, 200);
    assert_eq!(
        &send(&app, get("/api/v1/files?path=/memfs/w")).await.1[..],
        b"raw"
    );
    assert_error(
        send_json(&app, post_json("/api/v1/write?path=/memfs/w", "{nope")).await,
        400,
        "invalid JSON body",
    );
}

#[tokio::test]
async fn read_only_plugin_write_is_501() {
    let (app, _) = app().await;
    assert_error(
        send_json(&app, put("/api/v1/files?path=/hellofs/hello", "x")).await,
        501,
        "not supported",
    );
    assert_eq!(
        &send(&app, get("/api/v1/files?path=/hellofs/hello")).await.1[..],
        b"Hello, World!\n"
    );
}

#[tokio::test]
async fn stream_true_on_a_plain_file_streams_its_content() {
    let (app, _) = app().await;
    send(&app, put("/api/v1/files?path=/memfs/s", "streamed")).await;
    let (s, b) = send(&app, get("/api/v1/files?path=/memfs/s&stream=true")).await;
    assert_eq!((s.as_u16(), &b[..]), (200, &b"streamed"[..]));
}

/// `fields` keeps only the keys asked for (name always), in AGFS's order; an unknown key is a
/// 400 naming the known ones; without it, every key.
#[tokio::test]
async fn listing_fields_keep_only_the_keys_asked_for() {
    let (app, _) = common::app().await;
    send(&app, post("/api/v1/directories?path=/memfs/t")).await;
    send(&app, put("/api/v1/files?path=/memfs/t/a", "abc")).await;
    send(&app, post("/api/v1/directories?path=/memfs/t/d")).await;
    let keys = |v: &serde_json::Value| -> Vec<Vec<String>> {
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_object().unwrap().keys().cloned().collect())
            .collect()
    };
    let (s, v) = send_json(&app, get("/api/v1/directories?path=/memfs/t&fields=name")).await;
    assert_eq!(s, 200);
    assert_eq!(common::listing_names(&v), ["a", "d"]);
    assert!(keys(&v).iter().all(|k| k == &["name"]), "{v}");
    let (_, v) = send_json(
        &app,
        get("/api/v1/directories?path=/memfs/t&fields=isDir,size"),
    )
    .await;
    assert_eq!(
        v["files"][0],
        serde_json::json!({"name": "a", "size": 3, "isDir": false})
    );
    assert_eq!(v["files"][1]["isDir"], true);
    let (_, v) = send_json(&app, get("/api/v1/directories?path=/memfs/t")).await;
    let all = ["name", "size", "mode", "modTime", "isDir", "meta"];
    assert!(keys(&v).iter().all(|k| k.len() == all.len()), "{v}");
    let (s, v) = send_json(
        &app,
        get("/api/v1/directories?path=/memfs/t&fields=name,owner"),
    )
    .await;
    assert_eq!(s, 400);
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("'owner'") && e.contains("modTime"), "{e}");
}
