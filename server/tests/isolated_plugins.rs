//! Isolated plugins against the real binary, with real processes and real signals: a plugin that
//! segfaults, aborts, exits, spins or allocates without bound costs its own mount a 503/504 while
//! other mounts serve on; it comes back, and fails for good after too many crashes; `kill -9` of
//! a plugin process mid-request, and of the server (no process left behind); a wrong handshake;
//! the Python example mounted like any plugin; and the same crashy plugin in-process, which takes
//! the server down.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::process::{Server, curl, start, start_unready, wait_until};
use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn make(dir: &str, product: &str, out: &Path) -> PathBuf {
    let ok = Command::new("make")
        .args(["-s", "-C"])
        .arg(repo().join(dir))
        .arg(format!("OUT={}", out.display()))
        .status()
        .unwrap()
        .success();
    assert!(ok, "make builds {dir}");
    out.join(product)
}

/// Status code and body of a GET.
fn get(server: &Server, route: &str) -> (u16, String) {
    let out = curl(&["-w", "\n%{http_code}", &format!("{}{route}", server.base)]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.parse().unwrap_or(0), body.to_string())
}

fn json(server: &Server, route: &str) -> Value {
    serde_json::from_str(&get(server, route).1).unwrap()
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                s.rsplit_once(") ")
                    .and_then(|(_, rest)| rest.split(' ').nth(1)?.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')))
}

/// Writes an executable file (a plugin program) at `path`.
fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(path, perms).unwrap();
}

fn config(dir: &Path, body: &str) -> PathBuf {
    let cfg = dir.join("pfs.yaml");
    std::fs::write(&cfg, body).unwrap();
    cfg
}

#[test]
fn a_crashing_plugin_costs_its_own_mount_only_and_fails_after_too_many_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let so = make("tests/plugins/crashy", "crashy.so", dir.path());
    let cfg = config(
        dir.path(),
        &format!(
            "external_plugins:
  enabled: true
  plugin_paths: [{{path: {}, isolation: process}}]
  process: {{call_timeout: 2s, max_restarts: 4, memory_limit: 256MB}}
plugins:
  crashy: {{path: /c}}
  memfs: {{path: /m}}
",
            so.display()
        ),
    );
    let server = start(&["-c", cfg.to_str().unwrap()]);
    assert_eq!(
        get(&server, "/api/v1/files?path=/c/ok"),
        (200, "still here\n".into())
    );
    let plugins = json(&server, "/api/v1/plugins");
    let crashy = plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "crashy")
        .unwrap();
    assert_eq!(crashy["isolation"], "process");
    curl(&[
        "-X",
        "PUT",
        "-d",
        "other mount",
        &format!("{}/api/v1/files?path=/m/f", server.base),
    ]);

    // A reader on the other mount the whole time: never an error.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, url) = (
            stop.clone(),
            format!("{}/api/v1/files?path=/m/f", server.base),
        );
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let out = curl(&["-w", " %{http_code}", &url]);
                assert_eq!(String::from_utf8_lossy(&out.stdout), "other mount 200");
                n += 1;
            }
            n
        })
    };
    for (file, status) in [("segv", 503), ("abort", 503), ("exit", 503), ("loop", 504)] {
        let started = Instant::now();
        let (code, body) = get(&server, &format!("/api/v1/files?path=/c/{file}"));
        assert_eq!(code, status, "{file}: {body}");
        assert!(
            body.contains("crashy"),
            "{file}: the error names the plugin: {body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{file}: bounded"
        );
        // It comes back and serves again.
        wait_until(|| get(&server, "/api/v1/files?path=/c/ok").0 == 200);
    }
    // The fifth crash within the window: failed, for good, and said so.
    let (code, body) = get(&server, "/api/v1/files?path=/c/alloc");
    assert_eq!(code, 504, "alloc: {body}");
    wait_until(|| {
        json(&server, "/api/v1/mounts")["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["path"] == "/c" && m["status"] == "failed")
    });
    let (code, body) = get(&server, "/api/v1/files?path=/c/ok");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("remount"), "{body}");
    let health = json(&server, "/api/v1/health");
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["unhealthy_mounts"][0]["path"], "/c", "{health}");
    stop.store(true, Ordering::SeqCst);
    assert!(reader.join().unwrap() > 0);
    server.stop();
}

#[test]
fn kill_9_of_a_plugin_mid_request_and_of_the_server_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let so = make("tests/plugins/crashy", "crashy.so", dir.path());
    let cfg = config(
        dir.path(),
        &format!(
            "external_plugins:
  enabled: true
  isolation: process
  plugin_paths: [{}]
plugins:
  crashy: [{{name: a, path: /a}}, {{name: b, path: /b}}]
",
            so.display()
        ),
    );
    let server = start(&["-c", cfg.to_str().unwrap()]);
    let hosts = children(server.child.id());
    assert_eq!(hosts.len(), 2, "one process per mount: {hosts:?}");
    // A handle opened on the process about to die.
    let out = curl(&[
        "-X",
        "POST",
        &format!("{}/api/v1/handles/open?path=/a/ok&flags=0", server.base),
    ]);
    let handle: Value = serde_json::from_slice(&out.stdout).unwrap();
    let read = format!("/api/v1/handles/{}/read", handle["handle_id"]);
    assert_eq!(get(&server, &read), (200, "still here\n".into()));
    // A request stuck in the plugin, then its process killed: the request answers at once.
    let url = format!("{}/api/v1/files?path=/a/loop", server.base);
    let stuck = std::thread::spawn(move || {
        let started = Instant::now();
        let out = curl(&["-w", " %{http_code}", &url]);
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            started.elapsed(),
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    // /a's process is the one spinning: the one with CPU time.
    let busy = *hosts
        .iter()
        .max_by_key(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    let rest = s.rsplit_once(") ")?.1.to_string();
                    let f: Vec<&str> = rest.split(' ').collect();
                    Some(f[11].parse::<u64>().ok()? + f[12].parse::<u64>().ok()?)
                })
                .unwrap_or(0)
        })
        .unwrap();
    assert!(
        Command::new("kill")
            .args(["-9", &busy.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let (answer, took) = stuck.join().unwrap();
    assert!(answer.ends_with(" 503"), "{answer}");
    assert!(
        took < Duration::from_secs(4),
        "answered when the process died: {took:?}"
    );
    wait_until(|| get(&server, "/api/v1/files?path=/a/ok").0 == 200);
    // The handle belonged to the dead process: a clear error, not the new one's answer.
    let (code, body) = get(&server, &read);
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("restarted since this handle was opened"),
        "{body}"
    );

    let hosts = children(server.child.id());
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    server.signal("-9");
    let deadline = Instant::now() + Duration::from_secs(10);
    while hosts.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "plugin processes outlived the server: {hosts:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_wrong_handshake_is_a_clear_load_error_and_python_mounts_like_any_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let script = |name: &str, hello: &str| {
        let path = dir.path().join(name);
        executable(
            &path,
            &format!(
                "#!/usr/bin/env python3\nimport json, struct, sys\nh = json.dumps({hello}).encode()\nsys.stdout.buffer.write(struct.pack('>II', len(h), 0) + h)\nsys.stdout.buffer.flush()\nsys.stdin.read()\n"
            ),
        );
        path
    };
    let v2 = script(
        "v2.py",
        r#"{"hello": 2, "cookie": "d3e5f1c2-pfs-plugin", "name": "v2"}"#,
    );
    let badcookie = script(
        "cookie.py",
        r#"{"hello": 1, "cookie": "nope", "name": "c"}"#,
    );
    let py = repo().join("examples/hellofs-py/hellofs.py");
    let cfg = config(
        dir.path(),
        &format!(
            "external_plugins:
  enabled: true
  allow_any_path: true
  plugin_paths: [{}]
plugins:
  hellofs-py: {{path: /py, config: {{greeting: Hi}}}}
",
            py.display()
        ),
    );
    let server = start(&["-c", cfg.to_str().unwrap()]);
    let load = |path: &Path| {
        let out = curl(&[
            "-w",
            " %{http_code}",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-d",
            &serde_json::json!({"library_path": path}).to_string(),
            &format!("{}/api/v1/plugins/load", server.base),
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let answer = load(&v2);
    assert!(
        answer.ends_with(" 400") && answer.contains("version 2") && answer.contains("version 1"),
        "{answer}"
    );
    let answer = load(&badcookie);
    assert!(
        answer.ends_with(" 400") && answer.contains("'nope'"),
        "{answer}"
    );

    assert_eq!(
        get(&server, "/api/v1/files?path=/py/hello"),
        (200, "Hi, from Python!\n".into())
    );
    curl(&[
        "-X",
        "PUT",
        "-d",
        "kept?",
        &format!("{}/api/v1/files?path=/py/new", server.base),
    ]);
    assert_eq!(get(&server, "/api/v1/files?path=/py/new").1, "kept?");
    // Its process killed: it comes back, with its config (and a fresh tree).
    let py_pid = children(server.child.id());
    assert_eq!(py_pid.len(), 1);
    assert!(
        Command::new("kill")
            .args(["-9", &py_pid[0].to_string()])
            .status()
            .unwrap()
            .success()
    );
    wait_until(|| {
        get(&server, "/api/v1/files?path=/py/hello") == (200, "Hi, from Python!\n".into())
    });
    assert_eq!(get(&server, "/api/v1/files?path=/py/new").0, 404);
    server.stop();
}

/// The difference isolation makes: the same plugin in-process takes the whole server down.
#[test]
fn the_same_crash_in_process_kills_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let so = make("tests/plugins/crashy", "crashy.so", dir.path());
    let cfg = config(
        dir.path(),
        &format!(
            "external_plugins: {{enabled: true, plugin_paths: [{}]}}\nplugins:\n  crashy: {{path: /c}}\n",
            so.display()
        ),
    );
    let mut server = start_unready(&["-c", cfg.to_str().unwrap()]);
    wait_until(|| get(&server, "/api/v1/files?path=/c/ok").0 == 200);
    let _ = get(&server, "/api/v1/files?path=/c/segv");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the server survived a segfault in-process?"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "{status}");
}

/// A config change reaches an isolated plugin (PFSReconfigure through the protocol), and its
/// process sees none of the server's environment.
#[test]
fn an_isolated_plugin_takes_config_changes_and_inherits_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let so = make("examples/memfs-c", "memfs-c.so", dir.path());
    // A plugin program that publishes its environment as its README.
    let env_py = dir.path().join("envfs.py");
    executable(
        &env_py,
        "#!/usr/bin/env python3\nimport json, os, struct, sys\nh = json.dumps({'hello': 1, 'cookie': os.environ.get('PFS_PLUGIN_MAGIC_COOKIE', ''), 'name': 'envfs', 'readme': json.dumps(sorted(os.environ))}).encode()\nsys.stdout.buffer.write(struct.pack('>II', len(h), 0) + h)\nsys.stdout.buffer.flush()\nsys.stdin.read()\n",
    );
    let cfg = config(
        dir.path(),
        &format!(
            "external_plugins:
  enabled: true
  plugin_paths: [{{path: {}, isolation: process}}, {}]
plugins:
  memfs-c: {{path: /iso}}
",
            so.display(),
            env_py.display()
        ),
    );
    // A secret in the server's environment (set for the server process only).
    let server = common::process::start_with_env(
        &["-c", cfg.to_str().unwrap()],
        &[("PFS_TEST_SECRET_TOKEN", "hunter2")],
    );
    let plugins = json(&server, "/api/v1/plugins");
    let envfs = plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "envfs")
        .unwrap();
    let seen: Vec<String> = serde_json::from_str(envfs["readme"].as_str().unwrap()).unwrap();
    assert!(
        !seen.iter().any(|k| k == "PFS_TEST_SECRET_TOKEN"),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|k| k == "PFS_PLUGIN_MAGIC_COOKIE"),
        "{seen:?}"
    );

    curl(&[
        "-X",
        "PUT",
        "-d",
        "0123456789",
        &format!("{}/api/v1/files?path=/iso/f", server.base),
    ]);
    let change = |config: &str| {
        let out = curl(&[
            "-w",
            " %{http_code}",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-d",
            &format!(r#"{{"path": "/iso", "config": {config}}}"#),
            &format!("{}/api/v1/mounts/config", server.base),
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let answer = change(r#"{"max_file_size": 4}"#);
    assert!(
        answer.ends_with(" 400") && answer.contains("largest file"),
        "{answer}"
    );
    let answer = change(r#"{"max_file_size": 99999999999}"#);
    assert!(
        answer.ends_with(" 200") && answer.contains(r#""amended":true"#),
        "{answer}"
    );
    assert!(answer.contains("2147483647"), "{answer}");
    assert_eq!(get(&server, "/api/v1/files?path=/iso/f").1, "0123456789");
    server.stop();
}
