//! `/directories`, `/stat`, `/rename`, `/chmod`, `/truncate`, `/touch` and the routing rules of the
//! mount tree as seen over HTTP.

mod common;

use common::*;

#[tokio::test]
async fn list_empty_directory_is_an_empty_array() {
    let (app, _) = app().await;
    send(&app, post("/api/v1/directories?path=/memfs/empty")).await;
    let (s, v) = send_json(&app, get("/api/v1/directories?path=/memfs/empty")).await;
    assert_eq!(s, 200);
    assert_eq!(v, serde_json::json!({"files": []}));
}

#[tokio::test]
async fn list_root_shows_mount_points_sorted() {
    let (app, _) = app().await;
    let (_, v) = send_json(&app, get("/api/v1/directories")).await;
    let names = common::listing_names(&v);
    assert_eq!(names, ["dev", "hellofs", "kvfs", "memfs"]);
    assert_eq!(v["files"][0]["meta"]["Type"], "mount-point");
    assert_eq!(v["files"][0]["mode"], 493);
    let (_, v) = send_json(&app, get("/api/v1/list?path=/")).await;
    assert_eq!(v["files"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn file_info_has_the_agfs_shape() {
    let (app, _) = app().await;
    send(&app, put("/api/v1/files?path=/memfs/f.txt", "12345")).await;
    let (s, v) = send_json(&app, get("/api/v1/stat?path=/memfs/f.txt")).await;
    assert_eq!(s, 200);
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["isDir", "meta", "modTime", "mode", "name", "size"]);
    assert_eq!(
        (v["name"].as_str(), v["size"].as_u64(), v["isDir"].as_bool()),
        (Some("f.txt"), Some(5), Some(false))
    );
    assert_eq!(v["mode"], 420);
    let meta: Vec<&String> = v["meta"].as_object().unwrap().keys().collect();
    assert_eq!(meta, ["Content", "Name", "Type"]);
    let t = v["modTime"].as_str().unwrap();
    assert!(t.ends_with('Z') && t.contains('T') && t.len() >= 20, "{t}");
}

#[tokio::test]
async fn mkdir_mode_is_octal_and_reported_without_type_bits() {
    let (app, _) = app().await;
    let (s, v) = send_json(&app, post("/api/v1/directories?path=/memfs/d&mode=700")).await;
    assert_eq!(
        (s.as_u16(), v["message"].as_str()),
        (201, Some("directory created"))
    );
    let (_, v) = send_json(&app, get("/api/v1/stat?path=/memfs/d")).await;
    assert_eq!(
        (v["mode"].as_u64(), v["isDir"].as_bool()),
        (Some(0o700), Some(true))
    );
    assert_error(
        send_json(&app, post("/api/v1/directories?path=/memfs/e&mode=999")).await,
        400,
        "invalid mode",
    );
    assert_error(
        send_json(&app, post("/api/v1/directories?path=/memfs/d")).await,
        409,
        "already exists",
    );
    assert_error(
        send_json(&app, post("/api/v1/directories?path=/memfs/no/parent")).await,
        404,
        "not found",
    );
    assert_error(
        send_json(&app, post("/api/v1/mkdir?path=/outside")).await,
        403,
        "permission denied",
    );
    assert_eq!(
        send_json(&app, post("/api/v1/mkdir?path=/memfs/alias"))
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn stat_root_virtual_dirs_and_mount_points() {
    let (app, st) = app().await;
    let (_, v) = send_json(&app, get("/api/v1/stat?path=/")).await;
    assert_eq!(
        (
            v["name"].as_str(),
            v["isDir"].as_bool(),
            v["meta"]["Type"].as_str()
        ),
        (Some("/"), Some(true), Some("root"))
    );
    st.fs
        .mount_plugin(
            &st.registry,
            "memfs",
            "/proxy/r1",
            None,
            serde_json::json!({}),
        )
        .await
        .unwrap();
    let (_, v) = send_json(&app, get("/api/v1/stat?path=/proxy")).await;
    assert_eq!(
        (v["isDir"].as_bool(), v["meta"]["Type"].as_str()),
        (Some(true), Some("mount-point"))
    );
    let (_, v) = send_json(&app, get("/api/v1/stat?path=/memfs")).await;
    assert_eq!(v["name"], "memfs");
    assert_error(
        send_json(&app, get("/api/v1/stat?path=/nothing")).await,
        404,
        "not found",
    );
}

#[tokio::test]
async fn routing_respects_component_boundaries_and_nesting() {
    let (app, st) = app_with("plugins:\n  memfs: [{path: /data}, {path: /data/users}]\n").await;
    send(&app, put("/api/v1/files?path=/data/x", "outer")).await;
    send(&app, put("/api/v1/files?path=/data/users/y", "inner")).await;
    assert_eq!(
        st.fs
            .mount_at("/data/users")
            .unwrap()
            .fs
            .read("/y", 0, None)
            .await
            .unwrap(),
        "inner"
    );
    assert_eq!(
        st.fs
            .mount_at("/data")
            .unwrap()
            .fs
            .read("/x", 0, None)
            .await
            .unwrap(),
        "outer"
    );
    assert_error(
        send_json(&app, get("/api/v1/files?path=/dataset")).await,
        404,
        "not found",
    );
    assert_error(
        send_json(&app, put("/api/v1/files?path=/dataset", "x")).await,
        403,
        "permission denied",
    );
    let (_, v) = send_json(&app, get("/api/v1/directories?path=/data")).await;
    let names = common::listing_names(&v);
    assert!(
        names.contains(&"users") && names.contains(&"x"),
        "{names:?}"
    );
}

#[tokio::test]
async fn root_mount_catches_everything() {
    let (app, _) = app_with("plugins:\n  memfs: {path: /}\n").await;
    assert_eq!(
        send(&app, put("/api/v1/files?path=/top.txt", "t")).await.0,
        200
    );
    let (_, v) = send_json(&app, get("/api/v1/directories?path=/")).await;
    let names = common::listing_names(&v);
    assert!(
        names.contains(&"top.txt") && names.contains(&"dev") && names.contains(&"README"),
        "{names:?}"
    );
}

#[tokio::test]
async fn paths_are_normalized_once() {
    let (app, _) = app().await;
    send(&app, post("/api/v1/directories?path=/memfs/a")).await;
    assert_eq!(
        send(&app, put("/api/v1/files?path=memfs//a/./b/../c.txt/", "n"))
            .await
            .0,
        200
    );
    assert_eq!(
        &send(&app, get("/api/v1/files?path=/memfs/a/c.txt")).await.1[..],
        b"n"
    );
    assert_eq!(
        &send(&app, get("/api/v1/files?path=/memfs/../../memfs/a/c.txt"))
            .await
            .1[..],
        b"n"
    );
    assert_error(
        send_json(&app, get("/api/v1/files?path=/memfs/a%00b")).await,
        400,
        "NUL",
    );
    let long = format!("/memfs/{}", "a".repeat(5000));
    assert_error(
        send_json(&app, get(&format!("/api/v1/files?path={long}"))).await,
        400,
        "longer than",
    );
}

#[tokio::test]
async fn rename_moves_within_a_mount_and_refuses_across() {
    let (app, _) = app().await;
    send(&app, put("/api/v1/files?path=/memfs/a", "A")).await;
    let (s, v) = send_json(
        &app,
        post_json("/api/v1/rename?path=/memfs/a", r#"{"newPath":"/memfs/b"}"#),
    )
    .await;
    assert_eq!((s.as_u16(), v["message"].as_str()), (200, Some("renamed")));
    assert_eq!(
        &send(&app, get("/api/v1/files?path=/memfs/b")).await.1[..],
        b"A"
    );
    assert_error(
        send_json(&app, post_json("/api/v1/rename?path=/memfs/b", r#"{}"#)).await,
        400,
        "newPath is required",
    );
    assert_error(
        send_json(
            &app,
            post_json(
                "/api/v1/rename?path=/memfs/b",
                r#"{"newPath":"/kvfs/keys/b"}"#,
            ),
        )
        .await,
        400,
        "across different mounts",
    );
    assert_error(
        send_json(&app, post_json("/api/v1/rename?path=/memfs/b", "{oops")).await,
        400,
        "invalid request body",
    );
    assert_error(
        send_json(&app, post_json("/api/v1/rename?path=/memfs/b", "")).await,
        400,
        "invalid request body",
    );
    assert_eq!(
        &send(&app, get("/api/v1/files?path=/memfs/b")).await.1[..],
        b"A"
    );
}

#[tokio::test]
async fn chmod_takes_decimal_or_octal_text() {
    let (app, _) = app().await;
    send(&app, put("/api/v1/files?path=/memfs/m", "x")).await;
    let (s, v) = send_json(
        &app,
        post_json("/api/v1/chmod?path=/memfs/m", r#"{"mode":384}"#),
    )
    .await;
    assert_eq!(
        (s.as_u16(), v["message"].as_str()),
        (200, Some("permissions changed"))
    );
    assert_eq!(
        send_json(&app, get("/api/v1/stat?path=/memfs/m")).await.1["mode"],
        384
    );
    send(
        &app,
        post_json("/api/v1/chmod?path=/memfs/m", r#"{"mode":"755"}"#),
    )
    .await;
    assert_eq!(
        send_json(&app, get("/api/v1/stat?path=/memfs/m")).await.1["mode"],
        493
    );
    assert_error(
        send_json(&app, post_json("/api/v1/chmod?path=/memfs/m", "{}")).await,
        400,
        "mode is required",
    );
    assert_error(
        send_json(
            &app,
            post_json("/api/v1/chmod?path=/hellofs/hello", r#"{"mode":420}"#),
        )
        .await,
        501,
        "not supported",
    );
}

#[tokio::test]
async fn truncate_checks_size_and_cuts() {
    let (app, _) = app().await;
    send(&app, put("/api/v1/files?path=/memfs/t", "abcdef")).await;
    let (s, v) = send_json(&app, post("/api/v1/truncate?path=/memfs/t&size=2")).await;
    assert_eq!(
        (s.as_u16(), v["message"].as_str()),
        (200, Some("truncated"))
    );
    assert_eq!(
        &send(&app, get("/api/v1/files?path=/memfs/t")).await.1[..],
        b"ab"
    );
    assert_error(
        send_json(&app, post("/api/v1/truncate?path=/memfs/t")).await,
        400,
        "size parameter is required",
    );
    assert_error(
        send_json(&app, post("/api/v1/truncate?path=/memfs/t&size=-1")).await,
        400,
        "non-negative",
    );
    assert_error(
        send_json(&app, post("/api/v1/truncate?path=/memfs/t&size=x")).await,
        400,
        "invalid size",
    );
    assert_error(
        send_json(&app, post("/api/v1/truncate?path=/hellofs/hello&size=0")).await,
        501,
        "not supported",
    );
}

#[tokio::test]
async fn touch_creates_and_keeps_existing_content() {
    let (app, _) = app().await;
    let (s, v) = send_json(&app, post("/api/v1/touch?path=/memfs/new")).await;
    assert_eq!((s.as_u16(), v["message"].as_str()), (200, Some("touched")));
    assert_eq!(
        send_json(&app, get("/api/v1/stat?path=/memfs/new")).await.1["size"],
        0
    );
    send(&app, put("/api/v1/files?path=/memfs/old", "keep me")).await;
    // AGFS answers 500 "EOF" here; pfs updates the time and keeps the bytes.
    assert_eq!(
        send_json(&app, post("/api/v1/touch?path=/memfs/old"))
            .await
            .0,
        200
    );
    assert_eq!(
        &send(&app, get("/api/v1/files?path=/memfs/old")).await.1[..],
        b"keep me"
    );
    send(&app, put("/api/v1/files?path=/kvfs/keys/k", "v")).await;
    assert_eq!(
        send_json(&app, post("/api/v1/touch?path=/kvfs/keys/k"))
            .await
            .0,
        200
    );
    assert_eq!(
        &send(&app, get("/api/v1/files?path=/kvfs/keys/k")).await.1[..],
        b"v"
    );
}
