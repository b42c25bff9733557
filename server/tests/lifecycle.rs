//! The lifecycle guarantees hold through the server's every path: a config mount, an API mount,
//! a remount, a reload (removed, changed in place, added, a failing start), an unmount, and the
//! server's stop with a shutdown that hangs. `countingfs` journals every call.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use fs_core::conformance::lifecycle::{CountingPlugin, events_at};
use pfs_server::{AppState, Config};
use serde_json::json;

#[tokio::test]
async fn start_and_shutdown_run_once_each_across_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pfs.yaml");
    let yaml = "server: {hook_timeout: 1s}
plugins:
  countingfs:
    - {name: a, path: /c1}
    - {name: b, path: /c2}
    - {name: c, path: /c3, config: {tag: one}}
";
    std::fs::write(&file, yaml).unwrap();
    let state = AppState::new(Config::parse(yaml).unwrap());
    let plugin = CountingPlugin::default();
    let journal = plugin.journal.clone();
    state.registry.register(Arc::new(plugin)).unwrap();
    state.set_config_source(Some(file.clone()));
    pfs_server::start_mounts(&state)
        .await
        .unwrap()
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(pfs_server::run(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    let app = pfs_server::app(state.clone());
    assert_eq!(
        journal.tasks(),
        3,
        "one background task per mounted instance"
    );

    let api = r#"{"fstype":"countingfs","path":"/c4","config":{"shutdown":"panic"}}"#;
    assert_eq!(
        send_json(&app, post_json("/api/v1/mount", api)).await.0,
        200
    );
    let remount = r#"{"path":"/c1","config":{"tag":"x"},"remount":true}"#;
    let (s, v) = send_json(&app, post_json("/api/v1/mounts/config", remount)).await;
    assert_eq!((s.as_u16(), &v["remounted"]), (200, &json!(true)), "{v}");
    assert_eq!(
        events_at(&journal, "/c1"),
        [
            "initialize#1",
            "start#1",
            "initialize#5",
            "start#5",
            "shutdown#1"
        ]
    );

    std::fs::write(
        &file,
        "server: {hook_timeout: 1s}
plugins:
  countingfs:
    - {name: a, path: /c1}
    - {name: c, path: /c3, config: {tag: two}}
    - {name: d, path: /c5, config: {shutdown: hang}}
    - {name: e, path: /c6, config: {start: fail}}
",
    )
    .unwrap();
    let (s, v) = send_json(&app, post("/api/v1/config/reload")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["removed"], json!(["/c2"]));
    assert_eq!(v["added"], json!(["/c5"]));
    assert_eq!(v["kept"], json!(["/dev", "/c1"]), "{v}");
    assert_eq!(v["changed"][0]["path"], "/c3");
    assert_eq!(v["changed"][0]["remounted"], false);
    assert_eq!(v["failed"][0]["path"], "/c6");
    assert!(
        v["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("start failed as configured"),
        "{v}"
    );
    let (s, b) = send(&app, get("/api/v1/files?path=/c3/tag")).await;
    assert_eq!((s.as_u16(), &b[..]), (200, &b"two #3"[..]));
    assert_eq!(
        events_at(&journal, "/c2"),
        ["initialize#2", "start#2", "shutdown#2"]
    );
    assert_eq!(
        events_at(&journal, "/c3"),
        ["initialize#3", "start#3"],
        "changed in place"
    );
    assert_eq!(
        events_at(&journal, "/c6"),
        ["initialize#7", "start#7", "shutdown#7"]
    );
    // The failed start leaves nothing mounted, and its error in /mounts.
    let (_, v) = send_json(&app, get("/api/v1/mounts")).await;
    let row = v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == "/c6")
        .unwrap()
        .clone();
    assert_eq!(row["status"], "failed", "{row}");
    assert!(
        row["error"]
            .as_str()
            .unwrap()
            .contains("start failed as configured"),
        "{row}"
    );
    assert_eq!(send(&app, get("/api/v1/files?path=/c6/tag")).await.0, 404);

    let (s, v) = send_json(&app, post_json("/api/v1/unmount", r#"{"path":"/c4"}"#)).await;
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("panicked")) || s == 200,
        "{s}: {v}"
    );
    assert!(state.fs.mount_at("/c4").is_none());

    // Stop: /c5's shutdown hangs; the server still finishes within its bound.
    let before = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops within the bound")
        .unwrap()
        .unwrap();
    assert!(
        before.elapsed() < Duration::from_secs(5),
        "{:?}",
        before.elapsed()
    );
    assert_eq!(journal.instances(), 7);
    journal.assert_once_each(true);
    assert_eq!(journal.tasks(), 0, "nothing of any instance runs");
    // At stop, newest first: /c5 (6), /c1 (5), /c3 (3).
    let last: Vec<String> = journal
        .events()
        .into_iter()
        .rev()
        .take(3)
        .map(|(_, p, _)| p)
        .collect();
    assert_eq!(last, ["/c3", "/c1", "/c5"]);
}
