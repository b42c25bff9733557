//! `/symlink` and `/readlink`, and how the other routes treat links: AGFS's cases (agfs-reference.md
//! §5.2) plus pfs's fixes (remove, rename and unmount act on the link; loops are 400).

mod common;

use axum::Router;
use common::*;
use serde_json::Value;

async fn link(app: &Router, path: &str, target: &str) -> (axum::http::StatusCode, Value) {
    let body = serde_json::json!({ "target": target }).to_string();
    send_json(
        app,
        post_json(&format!("/api/v1/symlink?path={}", enc(path)), &body),
    )
    .await
}

async fn ok_link(app: &Router, path: &str, target: &str) {
    let got = link(app, path, target).await;
    assert_eq!(got.0, 201, "{path} -> {target}: {}", got.1);
}

async fn write(app: &Router, path: &str, data: &str) {
    let (s, b) = send(
        app,
        put(
            &format!("/api/v1/files?path={}", enc(path)),
            data.to_string(),
        ),
    )
    .await;
    assert_eq!(s, 200, "write {path}: {b:?}");
}

async fn read(app: &Router, path: &str) -> (u16, String) {
    let (s, b) = send(app, get(&format!("/api/v1/files?path={}", enc(path)))).await;
    (s.as_u16(), String::from_utf8_lossy(&b).into_owned())
}

async fn stat(app: &Router, path: &str) -> (axum::http::StatusCode, Value) {
    send_json(app, get(&format!("/api/v1/stat?path={}", enc(path)))).await
}

async fn names(app: &Router, dir: &str) -> Vec<String> {
    let (s, v) = send_json(app, get(&format!("/api/v1/directories?path={}", enc(dir)))).await;
    assert_eq!(s, 200, "list {dir}: {v}");
    common::listing_names(&v)
        .into_iter()
        .map(str::to_string)
        .collect()
}

async fn mkdir(app: &Router, path: &str) {
    let (s, b) = send(
        app,
        post(&format!("/api/v1/directories?path={}", enc(path))),
    )
    .await;
    assert_eq!(s, 201, "mkdir {path}: {b:?}");
}

#[tokio::test]
async fn symlink_is_created_with_201_and_readlink_returns_the_target_verbatim() {
    let (app, _) = app().await;
    write(&app, "/memfs/a.txt", "A").await;
    let (s, v) = link(&app, "/memfs/l", "/memfs/a.txt").await;
    assert_eq!(
        (s.as_u16(), v),
        (201, serde_json::json!({"message": "symlink created"}))
    );
    ok_link(&app, "/memfs/rel", "./a.txt").await;
    let (s, v) = send_json(&app, get("/api/v1/readlink?path=/memfs/l")).await;
    assert_eq!(
        (s.as_u16(), v),
        (200, serde_json::json!({"target": "/memfs/a.txt"}))
    );
    let (_, v) = send_json(&app, get("/api/v1/readlink?path=/memfs/rel")).await;
    assert_eq!(v["target"], "./a.txt");
    // A name with spaces and signs travels like any path.
    ok_link(&app, "/memfs/a b#%?&ü", "a.txt").await;
    assert_eq!(read(&app, "/memfs/a b#%?&ü").await, (200, "A".into()));
}

#[tokio::test]
async fn readlink_of_something_that_is_no_link_is_404() {
    let (app, _) = app().await;
    write(&app, "/memfs/f", "x").await;
    for p in ["/memfs/f", "/memfs/missing", "/memfs", "/"] {
        assert_error(
            send_json(&app, get(&format!("/api/v1/readlink?path={p}"))).await,
            404,
            "not found",
        );
    }
    assert_error(
        send_json(&app, get("/api/v1/readlink")).await,
        400,
        "path parameter is required",
    );
}

#[tokio::test]
async fn reads_and_writes_go_through_absolute_and_relative_links() {
    let (app, _) = app().await;
    mkdir(&app, "/memfs/d").await;
    write(&app, "/memfs/d/f.txt", "hello").await;
    ok_link(&app, "/memfs/abs", "/memfs/d/f.txt").await;
    ok_link(&app, "/memfs/d/rel", "f.txt").await;
    ok_link(&app, "/memfs/d/up", "../d/./f.txt").await;
    for p in ["/memfs/abs", "/memfs/d/rel", "/memfs/d/up"] {
        assert_eq!(read(&app, p).await, (200, "hello".into()), "{p}");
    }
    // Offsets and sizes apply to the target.
    let (s, b) = send(&app, get("/api/v1/files?path=/memfs/abs&offset=1&size=3")).await;
    assert_eq!((s.as_u16(), &b[..]), (200, &b"ell"[..]));
    // A `Range` is sized by the target, not by the link.
    let req = axum::http::Request::get("/api/v1/files?path=/memfs/abs")
        .header("range", "bytes=3-")
        .body(axum::body::Body::empty())
        .unwrap();
    let (s, h, b) = send_full(&app, req).await;
    assert_eq!((s.as_u16(), &b[..]), (206, &b"lo"[..]));
    assert_eq!(h["content-range"], "bytes 3-4/5");
    // A write through the link changes the target, and the link stays a link.
    write(&app, "/memfs/d/rel", "changed").await;
    assert_eq!(read(&app, "/memfs/d/f.txt").await.1, "changed");
    assert_eq!(
        stat(&app, "/memfs/d/rel").await.1["meta"]["Type"],
        "symlink"
    );
    // Writing through a dangling link creates its target.
    ok_link(&app, "/memfs/new", "/memfs/d/created.txt").await;
    write(&app, "/memfs/new", "made").await;
    assert_eq!(read(&app, "/memfs/d/created.txt").await.1, "made");
    // truncate, touch and chmod reach the target too.
    let (s, _) = send(&app, post("/api/v1/truncate?path=/memfs/abs&size=2")).await;
    assert_eq!(s, 200);
    assert_eq!(read(&app, "/memfs/d/f.txt").await.1, "ch");
    let (s, _) = send(&app, post("/api/v1/touch?path=/memfs/abs")).await;
    assert_eq!(s, 200);
    let (s, _) = send(
        &app,
        post_json("/api/v1/chmod?path=/memfs/abs", r#"{"mode": 384}"#),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(stat(&app, "/memfs/d/f.txt").await.1["mode"], 384);
    assert_eq!(stat(&app, "/memfs/abs").await.1["mode"], 511);
}

#[tokio::test]
async fn a_chain_of_three_links_is_followed() {
    let (app, _) = app().await;
    write(&app, "/memfs/end", "the end").await;
    ok_link(&app, "/memfs/l1", "l2").await;
    ok_link(&app, "/memfs/l2", "/memfs/l3").await;
    ok_link(&app, "/memfs/l3", "end").await;
    assert_eq!(read(&app, "/memfs/l1").await, (200, "the end".into()));
    let (_, v) = send_json(&app, get("/api/v1/readlink?path=/memfs/l1")).await;
    assert_eq!(v["target"], "l2");
}

#[tokio::test]
async fn loops_and_chains_past_the_limit_are_400_not_a_hang() {
    let (app, _) = app().await;
    ok_link(&app, "/memfs/self", "self").await;
    ok_link(&app, "/memfs/a", "/memfs/b").await;
    ok_link(&app, "/memfs/b", "a").await;
    for p in ["/memfs/self", "/memfs/a", "/memfs/b/x"] {
        assert_error(
            send_json(&app, get(&format!("/api/v1/files?path={p}"))).await,
            400,
            "too many levels of symbolic links",
        );
    }
    assert_error(
        send_json(&app, put("/api/v1/files?path=/memfs/a", "x")).await,
        400,
        "too many levels",
    );
    assert_error(
        send_json(&app, get("/api/v1/directories?path=/memfs/a")).await,
        400,
        "too many levels",
    );
    // The loop itself can be inspected, listed and removed.
    let (s, v) = stat(&app, "/memfs/a").await;
    assert_eq!((s.as_u16(), &v["isDir"]), (200, &Value::Bool(false)));
    assert!(names(&app, "/memfs").await.contains(&"self".to_string()));
    let (s, _) = send(&app, delete("/api/v1/files?path=/memfs/self")).await;
    assert_eq!(s, 200);

    // Ten links in a row are followed, eleven are too many (AGFS's limit).
    write(&app, "/memfs/end", "deep").await;
    for i in 0..10 {
        ok_link(&app, &format!("/memfs/c{i}"), &format!("c{}", i + 1)).await;
    }
    ok_link(&app, "/memfs/c10", "end").await;
    assert_eq!(read(&app, "/memfs/c1").await, (200, "deep".into()));
    assert_error(
        send_json(&app, get("/api/v1/files?path=/memfs/c0")).await,
        400,
        "too many levels",
    );
}

#[tokio::test]
async fn a_link_to_a_directory_lists_and_serves_its_contents() {
    let (app, _) = app().await;
    mkdir(&app, "/memfs/dir").await;
    write(&app, "/memfs/dir/one", "1").await;
    ok_link(&app, "/memfs/dl", "dir").await;
    assert_eq!(names(&app, "/memfs/dl").await, ["one"]);
    assert_eq!(read(&app, "/memfs/dl/one").await, (200, "1".into()));
    write(&app, "/memfs/dl/two", "2").await;
    mkdir(&app, "/memfs/dl/sub").await;
    assert_eq!(names(&app, "/memfs/dir").await, ["one", "sub", "two"]);
    // A link made through a link lands in the real directory.
    ok_link(&app, "/memfs/dl/sub/back", "../one").await;
    assert_eq!(names(&app, "/memfs/dir/sub").await, ["back"]);
    assert_eq!(read(&app, "/memfs/dir/sub/back").await, (200, "1".into()));
    // stat of a path below a link describes the target's entry.
    let (_, v) = stat(&app, "/memfs/dl/one").await;
    assert_eq!(
        (&v["name"], &v["size"]),
        (&Value::from("one"), &Value::from(1))
    );
}

#[tokio::test]
async fn stat_of_a_link_shows_the_link_and_listings_include_it() {
    let (app, _) = app().await;
    mkdir(&app, "/memfs/dir").await;
    write(&app, "/memfs/f", "12345").await;
    ok_link(&app, "/memfs/to-dir", "/memfs/dir").await;
    ok_link(&app, "/memfs/to-file", "f").await;
    ok_link(&app, "/memfs/dangling", "/memfs/nothing/here").await;
    let (s, v) = stat(&app, "/memfs/to-dir").await;
    assert_eq!(s, 200);
    assert_eq!(v["name"], "to-dir");
    assert_eq!(v["mode"], 511);
    assert_eq!(v["size"], "/memfs/dir".len());
    assert_eq!(v["isDir"], true);
    assert_eq!(v["meta"]["Type"], "symlink");
    assert_eq!(v["meta"]["Content"]["target"], "/memfs/dir");
    let (_, v) = stat(&app, "/memfs/to-file").await;
    assert_eq!(
        (&v["isDir"], &v["size"]),
        (&Value::Bool(false), &Value::from(1))
    );
    let (_, v) = stat(&app, "/memfs/dangling").await;
    assert_eq!(v["isDir"], false);

    let (_, v) = send_json(&app, get("/api/v1/directories?path=/memfs")).await;
    let files = v["files"].as_array().unwrap();
    let entry = |n: &str| files.iter().find(|f| f["name"] == n).cloned().unwrap();
    for n in ["to-dir", "to-file", "dangling"] {
        let e = entry(n);
        assert_eq!(
            (&e["meta"]["Type"], &e["mode"]),
            (&Value::from("symlink"), &Value::from(511)),
            "{n}"
        );
    }
    assert_eq!(entry("to-dir")["isDir"], true);
    assert_eq!(entry("f")["meta"]["Type"], "file");
}

#[tokio::test]
async fn delete_removes_only_the_link() {
    let (app, _) = app().await;
    mkdir(&app, "/memfs/dir").await;
    write(&app, "/memfs/dir/keep", "kept").await;
    write(&app, "/memfs/f", "file").await;
    ok_link(&app, "/memfs/lf", "f").await;
    ok_link(&app, "/memfs/ld", "dir").await;
    let (s, v) = send_json(&app, delete("/api/v1/files?path=/memfs/lf")).await;
    assert_eq!((s.as_u16(), &v["message"]), (200, &Value::from("deleted")));
    // remove_all on a link to a directory removes the link, never the directory's contents.
    let (s, _) = send(
        &app,
        delete("/api/v1/directories?path=/memfs/ld&recursive=true"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(read(&app, "/memfs/f").await, (200, "file".into()));
    assert_eq!(read(&app, "/memfs/dir/keep").await, (200, "kept".into()));
    for p in ["/memfs/lf", "/memfs/ld"] {
        assert_error(stat(&app, p).await, 404, "not found");
    }
    assert!(
        !names(&app, "/memfs")
            .await
            .iter()
            .any(|n| n == "lf" || n == "ld")
    );
}

#[tokio::test]
async fn directories_holding_links_are_not_empty_and_take_their_links_along() {
    let (app, _) = app().await;
    mkdir(&app, "/memfs/d").await;
    ok_link(&app, "/memfs/d/l", "/memfs/x").await;
    assert_error(
        send_json(&app, delete("/api/v1/files?path=/memfs/d")).await,
        409,
        "directory not empty",
    );
    // A renamed directory keeps its links.
    let (s, _) = send(
        &app,
        post_json("/api/v1/rename?path=/memfs/d", r#"{"newPath":"/memfs/e"}"#),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(names(&app, "/memfs/e").await, ["l"]);
    assert_error(stat(&app, "/memfs/d/l").await, 404, "not found");
    // A recursive delete takes them with it: a new directory of the same name starts empty.
    let (s, _) = send(&app, delete("/api/v1/files?path=/memfs/e&recursive=true")).await;
    assert_eq!(s, 200);
    mkdir(&app, "/memfs/e").await;
    assert!(names(&app, "/memfs/e").await.is_empty());
}

#[tokio::test]
async fn an_existing_path_is_409_and_a_missing_parent_is_404() {
    let (app, _) = app().await;
    write(&app, "/memfs/f", "x").await;
    ok_link(&app, "/memfs/l", "f").await;
    for p in ["/memfs/l", "/memfs/f", "/memfs", "/memfs/README", "/"] {
        assert_error(link(&app, p, "/elsewhere").await, 409, "already exists");
    }
    assert_error(link(&app, "/memfs/no/dir/l", "x").await, 404, "not found");
    assert_error(link(&app, "/nowhere/l", "x").await, 404, "parent directory");
    assert_error(link(&app, "/memfs/f/l", "x").await, 400, "not a directory");
    // A dangling link is still a name: create and mkdir do not follow it.
    ok_link(&app, "/memfs/dangling", "/memfs/none").await;
    assert_error(
        send_json(&app, post("/api/v1/files?path=/memfs/dangling")).await,
        409,
        "already exists",
    );
    assert_error(
        send_json(&app, post("/api/v1/directories?path=/memfs/dangling")).await,
        409,
        "already exists",
    );
}

#[tokio::test]
async fn bad_requests_are_400() {
    let (app, _) = app().await;
    for body in [r#"{}"#, r#"{"target": ""}"#, r#"{"target": null}"#] {
        assert_error(
            send_json(&app, post_json("/api/v1/symlink?path=/memfs/l", body)).await,
            400,
            "target is required",
        );
    }
    assert_error(
        send_json(&app, post_json("/api/v1/symlink?path=/memfs/l", "not json")).await,
        400,
        "invalid request body",
    );
    assert_error(
        send_json(&app, post_json("/api/v1/symlink", r#"{"target":"x"}"#)).await,
        400,
        "path parameter is required",
    );
    assert_error(link(&app, "/memfs/l", "a\0b").await, 400, "NUL");
}

#[tokio::test]
async fn rename_moves_the_link_not_its_target() {
    let (app, _) = app().await;
    mkdir(&app, "/memfs/dir").await;
    write(&app, "/memfs/t", "target").await;
    ok_link(&app, "/memfs/l", "/memfs/t").await;
    let rename = |from: &str, to: &str| {
        post_json(
            &format!("/api/v1/rename?path={}", enc(from)),
            &serde_json::json!({ "newPath": to }).to_string(),
        )
    };
    let (s, _) = send(&app, rename("/memfs/l", "/memfs/dir/moved")).await;
    assert_eq!(s, 200);
    assert_eq!(read(&app, "/memfs/t").await, (200, "target".into()));
    assert_error(stat(&app, "/memfs/l").await, 404, "not found");
    let (_, v) = send_json(&app, get("/api/v1/readlink?path=/memfs/dir/moved")).await;
    assert_eq!(v["target"], "/memfs/t");
    assert_eq!(read(&app, "/memfs/dir/moved").await, (200, "target".into()));
    // A link lives in the router, so it may move to another mount.
    let (s, _) = send(&app, rename("/memfs/dir/moved", "/kvfs/keys/l")).await;
    assert_eq!(s, 200);
    assert_eq!(read(&app, "/kvfs/keys/l").await, (200, "target".into()));
    // It replaces another link, never a file, and needs an existing directory.
    ok_link(&app, "/memfs/other", "/x").await;
    assert_error(
        send_json(&app, rename("/kvfs/keys/l", "/memfs/t")).await,
        409,
        "already exists",
    );
    assert_error(
        send_json(&app, rename("/kvfs/keys/l", "/memfs/no/x")).await,
        404,
        "not found",
    );
    let (s, _) = send(&app, rename("/kvfs/keys/l", "/memfs/other")).await;
    assert_eq!(s, 200);
    assert_eq!(read(&app, "/memfs/other").await, (200, "target".into()));
    // A file renamed onto a link replaces the link.
    write(&app, "/memfs/g", "g").await;
    let (s, _) = send(&app, rename("/memfs/g", "/memfs/other")).await;
    assert_eq!(s, 200);
    assert_eq!(stat(&app, "/memfs/other").await.1["meta"]["Type"], "file");
    assert_eq!(read(&app, "/memfs/other").await, (200, "g".into()));
    assert_eq!(read(&app, "/memfs/t").await, (200, "target".into()));
}

#[tokio::test]
async fn links_cross_mounts_and_live_directly_under_the_root() {
    let (app, _) = app().await;
    write(&app, "/kvfs/keys/user", "alice").await;
    ok_link(&app, "/memfs/user", "/kvfs/keys/user").await;
    assert_eq!(read(&app, "/memfs/user").await, (200, "alice".into()));
    ok_link(&app, "/keys", "/kvfs/keys").await;
    ok_link(&app, "/hello", "hellofs/hello").await;
    assert_eq!(read(&app, "/keys/user").await, (200, "alice".into()));
    assert_eq!(read(&app, "/hello").await, (200, "Hello, World!\n".into()));
    assert_eq!(names(&app, "/keys").await, ["user"]);
    let root = names(&app, "/").await;
    assert!(
        root.contains(&"keys".into()) && root.contains(&"hello".into()),
        "{root:?}"
    );
    let (_, v) = stat(&app, "/keys").await;
    assert_eq!(
        (&v["meta"]["Type"], &v["isDir"]),
        (&Value::from("symlink"), &Value::Bool(true))
    );
    // Writes through a root link land in the mount; a link in a read-only mount follows its rules.
    write(&app, "/keys/new", "v").await;
    assert_eq!(read(&app, "/kvfs/keys/new").await, (200, "v".into()));
    assert_error(
        send_json(&app, put("/api/v1/files?path=/hello", "x")).await,
        501,
        "operation not supported",
    );
    let (s, _) = send(&app, delete("/api/v1/files?path=/keys")).await;
    assert_eq!(s, 200);
    assert!(!names(&app, "/").await.contains(&"keys".to_string()));
    assert_eq!(read(&app, "/kvfs/keys/user").await, (200, "alice".into()));
}

#[tokio::test]
async fn unmount_takes_the_links_inside_the_mount_and_leaves_links_into_it_dangling() {
    let (app, _) = app().await;
    let mount = r#"{"fstype":"memfs","path":"/scratch","config":{}}"#;
    let (s, _) = send(&app, post_json("/api/v1/mount", mount)).await;
    assert_eq!(s, 200);
    write(&app, "/scratch/f", "data").await;
    ok_link(&app, "/scratch/inside", "f").await;
    ok_link(&app, "/memfs/into", "/scratch/f").await;
    ok_link(&app, "/top", "/scratch").await;
    // A mount cannot hide behind a link.
    assert_error(
        send_json(
            &app,
            post_json("/api/v1/mount", r#"{"fstype":"memfs","path":"/top"}"#),
        )
        .await,
        409,
        "already exists",
    );
    assert_error(
        send_json(
            &app,
            post_json("/api/v1/mount", r#"{"fstype":"memfs","path":"/top/m"}"#),
        )
        .await,
        400,
        "symbolic link",
    );
    let (s, _) = send(&app, post_json("/api/v1/unmount", r#"{"path":"/scratch"}"#)).await;
    assert_eq!(s, 200);
    assert_error(stat(&app, "/scratch/inside").await, 404, "not found");
    assert_eq!(read(&app, "/memfs/into").await.0, 404);
    assert_eq!(
        send_json(&app, get("/api/v1/readlink?path=/memfs/into"))
            .await
            .1["target"],
        "/scratch/f"
    );
    assert_eq!(stat(&app, "/top").await.1["isDir"], false);
    // Mounted again, the mount starts without the old links; the links into it work again.
    let (s, _) = send(&app, post_json("/api/v1/mount", mount)).await;
    assert_eq!(s, 200);
    assert!(names(&app, "/scratch").await.iter().all(|n| n != "inside"));
    write(&app, "/scratch/f", "again").await;
    assert_eq!(read(&app, "/memfs/into").await, (200, "again".into()));
    assert_eq!(stat(&app, "/top").await.1["isDir"], true);
    // A link in a virtual directory above a mount point goes when the directory does.
    let (s, _) = send(
        &app,
        post_json("/api/v1/mount", r#"{"fstype":"memfs","path":"/v/m"}"#),
    )
    .await;
    assert_eq!(s, 200);
    ok_link(&app, "/v/l", "/memfs").await;
    assert_eq!(names(&app, "/v").await, ["l", "m"]);
    let (s, _) = send(&app, post_json("/api/v1/unmount", r#"{"path":"/v/m"}"#)).await;
    assert_eq!(s, 200);
    assert_error(stat(&app, "/v/l").await, 404, "not found");
    assert!(!names(&app, "/").await.contains(&"v".to_string()));
}

#[tokio::test]
async fn links_into_localfs_work_and_localfs_stays_confined() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "secret").unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    std::fs::write(root.path().join("sub/in.txt"), "inside").unwrap();
    // An OS-level link inside the localfs root that leads out of it.
    std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
    let yaml = format!(
        "plugins:\n  memfs: {{path: /memfs}}\n  localfs: {{path: /local, config: {{local_dir: \"{}\"}}}}\n",
        root.path().display()
    );
    let (app, _) = app_with(&yaml).await;
    ok_link(&app, "/memfs/in", "/local/sub/in.txt").await;
    ok_link(&app, "/memfs/sub", "/local/sub").await;
    assert_eq!(read(&app, "/memfs/in").await, (200, "inside".into()));
    assert_eq!(names(&app, "/memfs/sub").await, ["in.txt"]);
    write(&app, "/memfs/sub/new.txt", "made").await;
    assert_eq!(
        std::fs::read_to_string(root.path().join("sub/new.txt")).unwrap(),
        "made"
    );
    // A pfs link into localfs cannot make localfs follow its OS link out of the root.
    ok_link(&app, "/memfs/out", "/local/escape/secret").await;
    ok_link(&app, "/local/sub/up", "../escape").await;
    for p in ["/memfs/out", "/local/sub/up/secret"] {
        let (s, body) = read(&app, p).await;
        assert_eq!(s, 403, "{p}: {body}");
        assert!(
            body.contains("led outside of the filesystem"),
            "{p}: {body}"
        );
    }
    assert_eq!(
        send(&app, put("/api/v1/files?path=/memfs/out", "evil"))
            .await
            .0,
        403
    );
    assert_eq!(
        std::fs::read_to_string(outside.path().join("secret")).unwrap(),
        "secret"
    );
    // `..` in a target never climbs out of the pfs tree either.
    ok_link(&app, "/local/sub/etc", "../../../../etc/passwd").await;
    let (_, v) = send_json(&app, get("/api/v1/readlink?path=/local/sub/etc")).await;
    assert_eq!(v["target"], "../../../../etc/passwd");
    assert_eq!(read(&app, "/local/sub/etc").await.0, 404);
    // The link lives in the router: localfs's directory holds no OS link for it.
    assert!(std::fs::symlink_metadata(root.path().join("sub/up")).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_can_be_made_and_removed_while_others_read_through_them() {
    let (app, _) = app().await;
    write(&app, "/memfs/data", "payload").await;
    ok_link(&app, "/memfs/stable", "data").await;
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                for _ in 0..200 {
                    assert_eq!(read(&app, "/memfs/stable").await, (200, "payload".into()));
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let app = app.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    let p = format!("/memfs/w{w}-{i}");
                    ok_link(&app, &p, "data").await;
                    assert_eq!(read(&app, &p).await, (200, "payload".into()));
                    let (s, _) = send(&app, delete(&format!("/api/v1/files?path={p}"))).await;
                    assert_eq!(s, 200);
                }
            })
        })
        .collect();
    for t in readers.into_iter().chain(writers) {
        t.await.unwrap();
    }
    // Many racing creations of one path: exactly one wins.
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { link(&app, "/memfs/race", "data").await.0.as_u16() })
        })
        .collect();
    let mut codes = Vec::new();
    for r in racers {
        codes.push(r.await.unwrap());
    }
    codes.sort();
    assert_eq!(codes, [201, 409, 409, 409, 409, 409, 409, 409]);
    assert_eq!(
        names(&app, "/memfs").await,
        ["README", "data", "race", "stable"]
    );
}
