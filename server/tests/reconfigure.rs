//! `POST /api/v1/mounts/config`: a mount's config changed in place (accepted or rejected by the
//! plugin), refused in place with a pointer to a remount, or remounted; `GET /mounts` shows the
//! config in force and its generation. A failure changes nothing.

mod common;

use common::*;
use serde_json::{Value, json};

async fn change(app: &axum::Router, body: Value) -> (axum::http::StatusCode, Value) {
    send_json(app, post_json("/api/v1/mounts/config", &body.to_string())).await
}

#[tokio::test]
async fn heartbeatfs_takes_a_new_timeout_in_place_and_rejects_a_bad_one() {
    let (app, _) = app().await;
    let body = r#"{"fstype":"heartbeatfs","path":"/hb","config":{"default_timeout":"30s"}}"#;
    assert_eq!(
        send_json(&app, post_json("/api/v1/mount", body)).await.0,
        200
    );
    assert_eq!(mount_row(&app, "/hb").await["generation"], 1);
    assert_eq!(
        send_json(&app, post_json("/api/v1/directories?path=/hb/old", ""))
            .await
            .0,
        201
    );

    let (s, v) = change(
        &app,
        json!({"path": "/hb/", "config": {"default_timeout": "5m"}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            &v["message"],
            &v["path"],
            &v["generation"],
            &v["amended"],
            &v["remounted"]
        ),
        (
            &json!("config changed"),
            &json!("/hb"),
            &json!(2),
            &json!(false),
            &json!(false)
        )
    );
    let row = mount_row(&app, "/hb").await;
    assert_eq!(
        (&row["generation"], &row["config"]["default_timeout"]),
        (&json!(2), &json!("5m"))
    );

    // The same instance: the item made before the change is still there, with its own timeout;
    // a new item gets the new one.
    assert_eq!(
        send_json(&app, post_json("/api/v1/directories?path=/hb/new", ""))
            .await
            .0,
        201
    );
    let ctl = |name: &str| format!("/api/v1/files?path=/hb/{name}/ctl");
    let (s, old) = send(&app, get(&ctl("old"))).await;
    assert_eq!(s, 200);
    assert!(
        String::from_utf8_lossy(&old).contains("timeout: 30\n"),
        "{old:?}"
    );
    let (_, new) = send(&app, get(&ctl("new"))).await;
    assert!(
        String::from_utf8_lossy(&new).contains("timeout: 300\n"),
        "{new:?}"
    );

    // Rejected (validate), unknown keys (the key check): nothing changes.
    for (bad, words) in [
        (json!({"default_timeout": 0}), "greater than zero"),
        (
            json!({"default_timout": "1s"}),
            "unknown configuration parameter",
        ),
    ] {
        assert_error(
            change(&app, json!({"path": "/hb", "config": bad})).await,
            400,
            words,
        );
    }
    let row = mount_row(&app, "/hb").await;
    assert_eq!(
        (&row["generation"], &row["config"]["default_timeout"]),
        (&json!(2), &json!("5m"))
    );
}

#[tokio::test]
async fn memfs_and_kvfs_caps_change_in_place_rejected_or_amended() {
    let (app, _) = app().await;
    let body = r#"{"fstype":"memfs","path":"/m","config":{}}"#;
    assert_eq!(
        send_json(&app, post_json("/api/v1/mount", body)).await.0,
        200
    );
    assert_eq!(
        send(&app, put("/api/v1/files?path=/m/f", "x".repeat(3000)))
            .await
            .0,
        200
    );

    // Accepted: the smaller per-file cap holds for the next write; new init_dirs appear.
    let (s, v) = change(
        &app,
        json!({"path": "/m", "config": {"max_file_size": "2KB", "init_dirs": ["/new/dir"]}}),
    )
    .await;
    assert_eq!((s.as_u16(), &v["amended"]), (200, &json!(false)), "{v}");
    assert_eq!(
        send(&app, put("/api/v1/files?path=/m/g", "x".repeat(3000)))
            .await
            .0,
        413
    );
    assert_eq!(
        send_json(&app, get("/api/v1/stat?path=/m/new/dir")).await.0,
        200
    );

    // Rejected: a total below what the mount holds; nothing changes.
    assert_error(
        change(
            &app,
            json!({"path": "/m", "config": {"max_total_size": 1000}}),
        )
        .await,
        400,
        "bytes this mount holds",
    );
    assert_eq!(
        mount_row(&app, "/m").await["config"]["max_file_size"],
        "2KB"
    );

    // Amended: a per-file cap above the total is lowered to it, and the answer says so.
    for (path, fstype) in [("/m", "memfs"), ("/kv", "kvfs")] {
        if fstype == "kvfs" {
            let body = r#"{"fstype":"kvfs","path":"/kv","config":{}}"#;
            assert_eq!(
                send_json(&app, post_json("/api/v1/mount", body)).await.0,
                200
            );
        }
        let (s, v) = change(
            &app,
            json!({"path": path, "config": {"max_file_size": "1MB", "max_total_size": 8192}}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            (
                &v["amended"],
                &v["config"]["max_file_size"],
                &v["config"]["max_total_size"]
            ),
            (&json!(true), &json!(8192), &json!(8192)),
            "{fstype}"
        );
        let row = mount_row(&app, path).await;
        assert_eq!(row["config"]["max_file_size"], 8192, "{fstype}: {row}");
    }
    assert_eq!(
        send(&app, put("/api/v1/files?path=/kv/keys/a", "x".repeat(9000)))
            .await
            .0,
        413
    );
    assert_eq!(
        send(&app, put("/api/v1/files?path=/kv/keys/a", "x".repeat(4000)))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_change_the_plugin_cannot_take_in_place_asks_for_a_remount() {
    // localfs through the API on temporary directories: roots anywhere.
    let (app, _) =
        app_with("server: {mount_roots: ['*']}\nplugins:\n  memfs: {path: /memfs}\n").await;
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(one.path().join("f"), "one").unwrap();
    std::fs::write(two.path().join("f"), "two").unwrap();
    let body = json!({"fstype": "localfs", "path": "/l", "config": {"local_dir": one.path()}});
    assert_eq!(
        send_json(&app, post_json("/api/v1/mount", &body.to_string()))
            .await
            .0,
        200
    );

    let moved = json!({"local_dir": two.path()});
    let (s, v) = change(&app, json!({"path": "/l", "config": moved})).await;
    assert_eq!(s, 501, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("\"remount\": true"),
        "{v}"
    );
    assert_eq!(send(&app, get("/api/v1/files?path=/l/f")).await.1, "one");
    assert_eq!(mount_row(&app, "/l").await["generation"], 1);

    // A remount: a new instance, made with the new config, in the old one's place.
    let (s, v) = change(
        &app,
        json!({"path": "/l", "config": moved, "remount": true}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (&v["message"], &v["generation"], &v["remounted"]),
        (&json!("plugin remounted"), &json!(2), &json!(true))
    );
    assert_eq!(send(&app, get("/api/v1/files?path=/l/f")).await.1, "two");
}

#[tokio::test]
async fn a_remount_that_fails_leaves_the_old_mount_serving() {
    // localfs through the API on temporary directories: roots anywhere.
    let (app, _) =
        app_with("server: {mount_roots: ['*']}\nplugins:\n  memfs: {path: /memfs}\n").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "here").unwrap();
    let body = json!({"fstype": "localfs", "path": "/l", "config": {"local_dir": dir.path()}});
    let (s, v) = send_json(&app, post_json("/api/v1/mount", &body.to_string())).await;
    assert_eq!(s, 200, "{v}");
    let missing = dir.path().join("missing");
    let (s, v) = change(
        &app,
        json!({"path": "/l", "config": {"local_dir": missing}, "remount": true}),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("does not exist"),
        "{v}"
    );
    assert_eq!(send(&app, get("/api/v1/files?path=/l/f")).await.1, "here");
    assert_eq!(mount_row(&app, "/l").await["generation"], 1);
}

#[tokio::test]
async fn nothing_mounted_is_404_and_a_missing_path_400() {
    let (app, _) = app().await;
    assert_error(
        change(&app, json!({"path": "/nothing/here", "config": {}})).await,
        404,
        "no mount at path",
    );
    assert_error(
        change(&app, json!({"config": {}})).await,
        400,
        "path is required",
    );
}

#[tokio::test]
async fn handles_outlive_a_change_in_place_and_close_at_a_remount() {
    let (app, _) = app().await;
    assert_eq!(
        send(&app, put("/api/v1/files?path=/memfs/h", "hello"))
            .await
            .0,
        200
    );
    let read = |id: u64| get_owned(format!("/api/v1/handles/{id}/read?offset=0&size=5"));
    let id = common::handles::open(&app, "/memfs/h", 0, "").await;

    // In place: the same instance serves on, and so does the handle.
    let (s, v) = change(
        &app,
        json!({"path": "/memfs", "config": {"max_file_size": "1MB"}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        send(&app, read(id)).await,
        (axum::http::StatusCode::OK, "hello".into())
    );

    // A remount closes the old instance's handles, as an unmount does.
    let (s, v) = change(
        &app,
        json!({"path": "/memfs", "config": {}, "remount": true}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_error(send_json(&app, read(id)).await, 404, "not found");

    // And an unmount after a change in place still closes the handles opened before it.
    assert_eq!(
        send(&app, put("/api/v1/files?path=/memfs/h", "again"))
            .await
            .0,
        200
    );
    let id = common::handles::open(&app, "/memfs/h", 0, "").await;
    let (s, v) = change(
        &app,
        json!({"path": "/memfs", "config": {"max_file_size": "2MB"}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = send_json(&app, post_json("/api/v1/unmount", r#"{"path":"/memfs"}"#)).await;
    assert_eq!(s, 200);
    assert_error(send_json(&app, read(id)).await, 404, "not found");
}

fn get_owned(uri: String) -> axum::http::Request<axum::body::Body> {
    get(&uri)
}
