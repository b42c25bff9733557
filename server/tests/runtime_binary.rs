//! The runtime over real HTTP against the real binary: SIGHUP reloads exactly the difference (an
//! untouched mount's open handle reads on) and a broken file changes nothing; a remount swaps
//! instances while a reader loop sees only the old or the new answer; a plugin change is
//! rejected, accepted and amended; SIGTERM with a plugin whose shutdown hangs still exits within
//! `server.hook_timeout`.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::process::{Server, curl, start, wait_until};
use serde_json::{Value, json};

fn get_json(server: &Server, route: &str) -> Value {
    let out = curl(&[&format!("{}{route}", server.base)]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{route}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn post_json(server: &Server, route: &str, body: &Value) -> (u16, Value) {
    let out = curl(&[
        "-w",
        "\n%{http_code}",
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "--data-binary",
        &body.to_string(),
        &format!("{}{route}", server.base),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (
        code.parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn body(server: &Server, route: &str) -> String {
    String::from_utf8(curl(&[&format!("{}{route}", server.base)]).stdout).unwrap()
}

fn mount<'a>(mounts: &'a Value, path: &str) -> Option<&'a Value> {
    mounts["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == path)
}

#[test]
fn sighup_applies_the_difference_and_a_broken_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pfs.yaml");
    std::fs::write(
        &cfg,
        "plugins:\n  memfs: {path: /keep}\n  kvfs: {path: /gone}\n  heartbeatfs: {path: /hb}\n",
    )
    .unwrap();
    let server = start(&["-c", cfg.to_str().unwrap()]);
    let url = |route: &str| format!("{}{route}", server.base);
    curl(&[
        "-X",
        "PUT",
        "--data-binary",
        "kept bytes",
        &url("/api/v1/files?path=/keep/f"),
    ]);
    let (s, v) = post_json(
        &server,
        "/api/v1/handles/open?path=/keep/f&flags=0",
        &json!({}),
    );
    assert_eq!(s, 200, "{v}");
    let handle = v["handle_id"].as_u64().unwrap();

    std::fs::write(
        &cfg,
        "plugins:\n  memfs: {path: /keep}\n  heartbeatfs: {path: /hb, config: {default_timeout: 5m}}\n  serverinfofs: {path: /new}\n",
    )
    .unwrap();
    server.signal("-HUP");
    wait_until(|| {
        body(&server, "/api/v1/files?path=/new/version").starts_with(env!("CARGO_PKG_VERSION"))
    });
    let mounts = get_json(&server, "/api/v1/mounts");
    assert!(mount(&mounts, "/gone").is_none(), "{mounts}");
    let hb = mount(&mounts, "/hb").unwrap();
    assert_eq!(
        (&hb["generation"], &hb["config"]["default_timeout"]),
        (&json!(2), &json!("5m"))
    );
    assert_eq!(mount(&mounts, "/keep").unwrap()["generation"], 1);
    assert_eq!(
        body(&server, &format!("/api/v1/handles/{handle}/read")),
        "kept bytes"
    );

    // A broken file: logged, nothing changed.
    std::fs::write(
        &cfg,
        "plugins:\n  memfs: {path: /keep, config: {init_dir: [/x]}}\n",
    )
    .unwrap();
    server.signal("-HUP");
    wait_until(|| server.log().contains("config reload refused"));
    assert_eq!(get_json(&server, "/api/v1/mounts"), mounts);
    let (s, v) = post_json(&server, "/api/v1/config/reload", &json!({}));
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("'init_dir'"), "{v}");
    assert_eq!(get_json(&server, "/api/v1/mounts"), mounts);
    let log = server.stop();
    assert!(log.contains("SIGHUP: reloading the config"), "{log}");
}

#[test]
fn a_remount_under_a_reader_loop_answers_only_old_or_new() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pfs.yaml");
    std::fs::write(
        &cfg,
        "plugins:\n  serverinfofs: {path: /info, config: {version: old}}\n",
    )
    .unwrap();
    let server = start(&["-c", cfg.to_str().unwrap()]);
    let url = format!("{}/api/v1/files?path=/info/version", server.base);
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let out = curl(&["-w", " %{http_code}", &url]);
                seen.push(String::from_utf8(out.stdout).unwrap());
            }
            seen
        })
    };
    // Some reads before, several remounts during, some after.
    wait_until(|| body(&server, "/api/v1/files?path=/info/version") == "old\n");
    for i in 0..21 {
        let version = if i % 2 == 0 { "new" } else { "old" };
        let (s, v) = post_json(
            &server,
            "/api/v1/mounts/config",
            &json!({"path": "/info", "config": {"version": version}, "remount": true}),
        );
        assert_eq!((s, &v["remounted"]), (200, &json!(true)), "{v}");
    }
    assert_eq!(body(&server, "/api/v1/files?path=/info/version"), "new\n");
    done.store(true, Ordering::SeqCst);
    let seen = reader.join().unwrap();
    assert!(!seen.is_empty());
    for answer in &seen {
        assert!(
            answer == "old\n 200" || answer == "new\n 200",
            "a half state: {answer:?} in {seen:?}"
        );
    }
    server.stop();
}

#[test]
fn reject_accept_and_amend_over_http() {
    let server = start(&[]);
    for body in [
        json!({"fstype": "memfs", "path": "/m", "config": {"max_total_size": "1MB"}}),
        json!({"fstype": "kvfs", "path": "/k", "config": {}}),
        json!({"fstype": "heartbeatfs", "path": "/h", "config": {}}),
    ] {
        assert_eq!(post_json(&server, "/api/v1/mount", &body).0, 200, "{body}");
    }
    let change = |path: &str, config: Value| {
        post_json(
            &server,
            "/api/v1/mounts/config",
            &json!({"path": path, "config": config}),
        )
    };
    // Accepted, in place.
    for (path, config) in [
        ("/m", json!({"max_total_size": "2MB"})),
        ("/k", json!({"max_total_size": "2MB"})),
        ("/h", json!({"default_timeout": "1m"})),
    ] {
        let (s, v) = change(path, config.clone());
        assert_eq!(
            (s, &v["amended"], &v["generation"]),
            (200, &json!(false), &json!(2)),
            "{path}: {v}"
        );
    }
    // Amended: a per-file cap above the total comes down to it.
    for path in ["/m", "/k"] {
        let (s, v) = change(
            path,
            json!({"max_total_size": "2MB", "max_file_size": "1GB"}),
        );
        assert_eq!((s, &v["amended"]), (200, &json!(true)), "{path}: {v}");
        let total = fs_core::config::parse_size("2MB").unwrap();
        assert_eq!(v["config"]["max_file_size"], json!(total), "{path}: {v}");
    }
    // Rejected: nothing changes.
    curl(&[
        "-X",
        "PUT",
        "--data-binary",
        "x".repeat(1000).as_str(),
        &format!("{}/api/v1/files?path=/m/f", server.base),
    ]);
    let before = get_json(&server, "/api/v1/mounts");
    for (path, config) in [
        ("/m", json!({"max_total_size": 10})),
        ("/h", json!({"default_timeout": "forever"})),
        ("/k", json!({"no_such_key": 1})),
    ] {
        let (s, v) = change(path, config);
        assert_eq!(s, 400, "{path}: {v}");
        assert!(v["error"].is_string(), "{v}");
    }
    assert_eq!(get_json(&server, "/api/v1/mounts"), before);
    server.stop();
}

#[test]
fn sigterm_with_a_hung_plugin_shutdown_exits_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    // hellofs-c, whose PluginShutdown never returns.
    let src = dir.path().join("hang.c");
    std::fs::write(
        &src,
        "#define PluginShutdown hellofs_shutdown\n#include \"hellofs.c\"\n#undef PluginShutdown\n#include <unistd.h>\nconst char* PluginShutdown(void* p) { (void)p; for (;;) sleep(3600); }\n",
    )
    .unwrap();
    let so = dir.path().join("hang.so");
    let ok = Command::new("cc")
        .args(["-std=gnu11", "-shared", "-fPIC", "-O1", "-I"])
        .arg(repo.join("examples/hellofs-c"))
        .arg("-o")
        .arg(&so)
        .arg(&src)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cc builds the hanging plugin");
    let cfg = dir.path().join("pfs.yaml");
    std::fs::write(
        &cfg,
        format!(
            "server: {{hook_timeout: 1s}}\nexternal_plugins: {{enabled: true, plugin_paths: [{}]}}\nplugins:\n  hellofs-c: {{path: /hang}}\n  memfs: {{path: /m}}\n",
            so.display()
        ),
    )
    .unwrap();
    let server = start(&["-c", cfg.to_str().unwrap()]);
    assert_eq!(
        body(&server, "/api/v1/files?path=/hang/hello"),
        "Hello from C plugin!\n"
    );
    let before = Instant::now();
    let log = server.stop();
    let took = before.elapsed();
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    assert!(log.contains("did not finish within 1s"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}
