//! Config reload (`POST /api/v1/config/reload`): exactly the difference is applied (added,
//! removed, changed in place or remounted, untouched mounts not touched: their handles read on),
//! API mounts are left alone, a bad file changes nothing and names every problem; and
//! `GET /api/v1/config` gives back a config that makes the same mounts.

mod common;

use std::path::PathBuf;

use common::*;
use pfs_server::{AppState, Config};
use serde_json::{Value, json};

/// An app on the config file `yaml` (written to a temporary directory), every mount mounted.
async fn app_on_file(yaml: &str) -> (axum::Router, AppState, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pfs.yaml");
    std::fs::write(&file, yaml).unwrap();
    let state = AppState::new(Config::parse(yaml).unwrap());
    state.set_config_source(Some(file.clone()));
    pfs_server::start_mounts(&state)
        .await
        .unwrap()
        .await
        .unwrap();
    (pfs_server::app(state.clone()), state, dir, file)
}

async fn reload(app: &axum::Router) -> (axum::http::StatusCode, Value) {
    send_json(app, post("/api/v1/config/reload")).await
}

async fn mounts(app: &axum::Router) -> Value {
    let (s, v) = send_json(app, get("/api/v1/mounts")).await;
    assert_eq!(s, 200);
    v["mounts"].clone()
}

fn row<'a>(mounts: &'a Value, path: &str) -> Option<&'a Value> {
    mounts
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == path)
}

const BEFORE: &str = "plugins:
  memfs: {path: /keep}
  kvfs: {path: /gone}
  heartbeatfs: {path: /hb, config: {default_timeout: 30s}}
  queuefs: {path: /q}
";

#[tokio::test]
async fn a_reload_adds_removes_changes_and_leaves_the_rest_alone() {
    let (app, state, dir, file) = app_on_file(BEFORE).await;
    assert_eq!(
        send(&app, put("/api/v1/files?path=/keep/f", "kept bytes"))
            .await
            .0,
        200
    );
    let handle = handles::open(&app, "/keep/f", 0, "").await;
    let api = r#"{"fstype":"memfs","path":"/api-made","config":{}}"#;
    assert_eq!(
        send_json(&app, post_json("/api/v1/mount", api)).await.0,
        200
    );
    let keep_id = state.fs.mount_at("/keep").unwrap().id;

    let db = dir.path().join("q.db");
    std::fs::write(
        &file,
        format!(
            "plugins:
  memfs: {{path: /keep}}
  heartbeatfs: {{path: /hb, config: {{default_timeout: 5m}}}}
  queuefs: {{path: /q, config: {{backend: sqlite, db_path: '{}'}}}}
  serverinfofs: {{path: /new}}
",
            db.display()
        ),
    )
    .unwrap();
    let (s, v) = reload(&app).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["message"], "config reloaded");
    assert_eq!(v["added"], json!(["/new"]));
    assert_eq!(v["removed"], json!(["/gone"]));
    assert_eq!(v["kept"], json!(["/dev", "/keep"]));
    assert_eq!(
        v["changed"],
        json!([
            {"path": "/hb", "remounted": false, "amended": false, "generation": 2},
            {"path": "/q", "remounted": true, "amended": false, "generation": 2},
        ])
    );
    assert_eq!(
        (&v["failed"], &v["adopted"], &v["restart_required"]),
        (&json!([]), &json!([]), &json!([]))
    );

    // The untouched mount is the same instance, and its open handle still reads.
    assert_eq!(state.fs.mount_at("/keep").unwrap().id, keep_id);
    let (s, b) = send(&app, get(&format!("/api/v1/handles/{handle}/read"))).await;
    assert_eq!((s.as_u16(), &b[..]), (200, &b"kept bytes"[..]));
    // Removed, added, changed, and the API's mount left alone.
    assert_eq!(
        send(&app, get("/api/v1/directories?path=/gone")).await.0,
        404
    );
    assert_eq!(
        send(&app, get("/api/v1/files?path=/new/version")).await.0,
        200
    );
    let m = mounts(&app).await;
    assert_eq!(row(&m, "/hb").unwrap()["config"]["default_timeout"], "5m");
    assert_eq!(row(&m, "/q").unwrap()["config"]["backend"], "sqlite");
    assert!(row(&m, "/api-made").is_some(), "{m}");
    assert!(db.is_file(), "the remounted queuefs opened its database");

    // Reloading the same file again changes nothing at all.
    let (s, v) = reload(&app).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["kept"],
        json!(["/dev", "/keep", "/hb", "/q", "/new"]),
        "file order"
    );
    assert_eq!((&v["added"], &v["removed"]), (&json!([]), &json!([])));
    assert_eq!(v["changed"], json!([]));
    assert_eq!(mounts(&app).await, m);
}

#[tokio::test]
async fn a_bad_file_changes_nothing_and_names_every_problem() {
    let (app, state, _dir, file) = app_on_file(BEFORE).await;
    let before = mounts(&app).await;
    let ids: Vec<u64> = state.fs.mounts().iter().map(|m| m.id).collect();
    for (yaml, words) in [
        ("plugins: [not, a, map\n", vec!["invalid config"]),
        (
            "plugins:\n  memfs: {path: /keep, config: {init_dir: [/a]}}\n  kvfs: {path: /gone, config: {no_such: 1}}\n",
            vec!["'init_dir'", "'no_such'"],
        ),
        (
            "plugins:\n  memfs: {path: /keep}\n  heartbeatfs: {path: /hb, config: {default_timeout: -1s}}\n",
            vec!["default_timeout"],
        ),
        ("server: {adress: ':1'}\n", vec!["adress"]),
    ] {
        std::fs::write(&file, yaml).unwrap();
        let (s, v) = reload(&app).await;
        assert_eq!(s, 400, "{yaml}: {v}");
        let problems = v["problems"].as_array().unwrap();
        assert_eq!(problems.len(), words.len(), "{v}");
        for w in words {
            assert!(v["error"].as_str().unwrap().contains(w), "{w}: {v}");
        }
        assert_eq!(mounts(&app).await, before, "{yaml}: nothing changed");
        let now: Vec<u64> = state.fs.mounts().iter().map(|m| m.id).collect();
        assert_eq!(now, ids);
    }
    std::fs::remove_file(&file).unwrap();
    let (s, v) = reload(&app).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("cannot read"), "{v}");
}

#[tokio::test]
async fn the_file_wins_a_path_an_api_mount_holds() {
    let (app, state, _dir, file) = app_on_file("plugins:\n  memfs: {path: /m}\n").await;
    for body in [
        r#"{"fstype":"kvfs","path":"/same","config":{}}"#,
        r#"{"fstype":"memfs","path":"/other","config":{}}"#,
    ] {
        assert_eq!(
            send_json(&app, post_json("/api/v1/mount", body)).await.0,
            200
        );
    }
    let same = state.fs.mount_at("/same").unwrap().id;
    std::fs::write(
        &file,
        "plugins:\n  memfs: {path: /m}\n  kvfs: {path: /same}\n  heartbeatfs: {path: /other}\n",
    )
    .unwrap();
    let (s, v) = reload(&app).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["adopted"], json!(["/same"]));
    assert_eq!(v["added"], json!(["/other"]));
    assert_eq!(
        state.fs.mount_at("/same").unwrap().id,
        same,
        "adopted as it is"
    );
    assert_eq!(state.fs.mount_at("/other").unwrap().plugin, "heartbeatfs");
    // Adopted mounts are the file's now: dropping them from the file unmounts them.
    std::fs::write(&file, "plugins:\n  memfs: {path: /m}\n").unwrap();
    let (s, v) = reload(&app).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["removed"], json!(["/other", "/same"]));
}

#[tokio::test]
async fn get_config_gives_back_a_config_that_makes_the_same_mounts() {
    let yaml = "plugins:
  memfs:
    - {name: a, path: /a, config: {init_dirs: [/x]}}
    - {name: b, path: /b}
  heartbeatfs: {path: /hb}
  nosuchfs: {path: /broken}
";
    let (app, state, _dir, _file) = app_on_file(yaml).await;
    let api = r#"{"fstype":"kvfs","path":"/api","config":{"max_total_size":"1MB"}}"#;
    assert_eq!(
        send_json(&app, post_json("/api/v1/mount", api)).await.0,
        200
    );
    let change = r#"{"path":"/hb","config":{"default_timeout":"2m"}}"#;
    assert_eq!(
        send_json(&app, post_json("/api/v1/mounts/config", change))
            .await
            .0,
        200
    );
    let (s, h, body) = send_full(&app, get("/api/v1/config")).await;
    assert_eq!(s, 200);
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/yaml")
    );
    let text = String::from_utf8(body.to_vec()).unwrap();
    let back = Config::parse(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    let plan = back.plan(&state.registry).unwrap();
    let mut planned: Vec<(String, String, Value)> = plan
        .mounts
        .iter()
        .map(|m| (m.path.clone(), m.plugin.clone(), m.config.clone()))
        .collect();
    planned.sort_by(|a, b| a.0.cmp(&b.0));
    let live: Vec<(String, String, Value)> = state
        .fs
        .mounts()
        .iter()
        .map(|m| (m.path.clone(), m.plugin.clone(), m.config.clone()))
        .collect();
    assert_eq!(planned, live, "{text}");
    assert_eq!(
        plan.unknown
            .iter()
            .map(|u| u.mount.path.as_str())
            .collect::<Vec<_>>(),
        ["/broken"],
        "the failed entry is kept: {text}"
    );
    assert_eq!(back.server.address, "127.0.0.1:8080");
}

#[tokio::test]
async fn a_reload_loads_and_unloads_the_external_plugins_the_file_lists() {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let ok = std::process::Command::new("make")
        .args(["-s", "-C"])
        .arg(repo.join("examples/hellofs-c"))
        .arg(format!("OUT={}", dir.path().display()))
        .status()
        .unwrap()
        .success();
    assert!(ok, "make builds hellofs-c");
    let so = dir.path().join("hellofs-c.so");
    let (app, state, _cfg_dir, file) = app_on_file("plugins:\n  memfs: {path: /m}\n").await;
    assert!(state.registry.get("hellofs-c").is_err());

    let with = format!(
        "external_plugins: {{enabled: true, plugin_paths: [{}]}}\nplugins:\n  memfs: {{path: /m}}\n  hellofs-c: {{path: /c}}\n",
        so.display()
    );
    std::fs::write(&file, &with).unwrap();
    let (s, v) = reload(&app).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["plugins_loaded"], json!(["hellofs-c"]));
    assert_eq!(
        v["added"],
        json!(["/c"]),
        "the new plugin's mount, after it loaded: {v}"
    );
    assert_eq!(
        send(&app, get("/api/v1/files?path=/c/hello")).await.1,
        &b"Hello from C plugin!\n"[..]
    );

    std::fs::write(&file, "plugins:\n  memfs: {path: /m}\n").unwrap();
    let (s, v) = reload(&app).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["plugins_unloaded"], json!(["hellofs-c"]));
    assert!(state.registry.get("hellofs-c").is_err());
    assert!(state.fs.mount_at("/c").is_none());
}
