//! The `pfs-server` binary itself: the embedded default config, Go-style flags, `--version`,
//! `--print-sample-config`, startup errors, and a clean exit on SIGTERM.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::process::{BIN, curl, free_port, start, wait_ready};

#[test]
fn embedded_default_serves_the_seed_paths_and_stops_on_sigterm() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = start(&["--addr", &addr]);
    let base = format!("http://{addr}");
    wait_ready(&base, &mut server.0);
    let out = curl(&[&format!("{base}/api/v1/files?path=/hellofs/hello")]);
    assert_eq!(out.stdout, b"Hello, World!\n");
    let out = curl(&[&format!("{base}/api/v1/directories?path=/")]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "dev",
            "heartbeatfs",
            "hellofs",
            "kvfs",
            "memfs",
            "queuefs",
            "serverinfofs",
            "sqlfs",
            "streamfs"
        ]
    );

    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = server.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let mut log = String::new();
    std::io::Read::read_to_string(server.0.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(
        log.contains("shutdown signal received") && log.contains("stopped"),
        "{log}"
    );
}

/// Stops a server with SIGTERM and returns its log.
fn stop(mut server: common::process::Server) -> String {
    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = server.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut log = String::new();
    std::io::Read::read_to_string(server.0.stderr.as_mut().unwrap(), &mut log).unwrap();
    log
}

#[test]
fn default_sqlfs_keeps_files_in_the_data_directory_across_restarts() {
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().to_str().unwrap();
    let run = |body: Option<&str>| {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut server = start(&[
            "--addr",
            &format!("127.0.0.1:{port}"),
            "-data-dir",
            data_arg,
        ]);
        wait_ready(&base, &mut server.0);
        let url = format!("{base}/api/v1/files?path=/sqlfs/kept.txt");
        let out = match body {
            Some(b) => curl(&["-X", "PUT", "--data-binary", b, &url]),
            None => curl(&[&url]),
        };
        (String::from_utf8(out.stdout).unwrap(), stop(server))
    };
    let (written, log) = run(Some("survives a restart"));
    assert!(written.contains("\"written\":18"), "{written}");
    // The flag wins over $PFS_DATA_DIR, and the log says where the data is.
    assert!(log.contains(&format!("data directory {data_arg}")), "{log}");
    assert!(data.path().join("sqlfs.db").is_file());
    let (read, _) = run(None);
    assert_eq!(read, "survives a restart");
}

#[test]
fn go_style_addr_flag_is_accepted() {
    let port = free_port();
    let mut server = start(&["-addr", &format!("127.0.0.1:{port}")]);
    wait_ready(&format!("http://127.0.0.1:{port}"), &mut server.0);
}

#[test]
fn version_flag_prints_the_version() {
    for flag in ["--version", "-version"] {
        let out = Command::new(BIN).arg(flag).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.starts_with(&format!(
                "pfs-server version: {}",
                env!("CARGO_PKG_VERSION")
            )),
            "{text}"
        );
    }
}

#[test]
fn print_sample_config_prints_a_config_that_parses() {
    let out = Command::new(BIN)
        .arg("--print-sample-config")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("plugins:"), "{text}");
    pfs_server::Config::parse(&text).unwrap();
}

#[test]
fn unknown_plugin_in_config_is_a_startup_error_naming_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.yaml");
    std::fs::write(
        &cfg,
        format!(
            "server: {{address: '127.0.0.1:{}'}}\nplugins:\n  memfz: {{path: /m}}\n",
            free_port()
        ),
    )
    .unwrap();
    let out = Command::new(BIN).arg("-c").arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("unknown plugin 'memfz'") && err.contains("memfs"),
        "{err}"
    );
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let out = Command::new(BIN)
        .args(["-c", "/nonexistent/pfs.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("cannot read config /nonexistent/pfs.yaml")
    );
}

#[test]
fn each_loaded_plugin_logs_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let status = Command::new("make")
        .args(["-s", "-C"])
        .arg(repo.join("examples/hellofs-c"))
        .arg(format!("OUT={}", dir.path().display()))
        .status()
        .unwrap();
    assert!(status.success());
    let so = dir.path().join("hellofs-c.so");
    let cfg = dir.path().join("pfs.yaml");
    std::fs::write(
        &cfg,
        format!(
            "external_plugins: {{enabled: true, plugin_paths: [{}]}}\nplugins:\n  hellofs-c: {{path: /helloc}}\n",
            so.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = start(&["-c", cfg.to_str().unwrap(), "--addr", &addr]);
    wait_ready(&format!("http://{addr}"), &mut server.0);
    let out = curl(&[&format!("http://{addr}/api/v1/files?path=/helloc/hello")]);
    assert_eq!(out.stdout, b"Hello from C plugin!\n");
    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut log = String::new();
    std::io::Read::read_to_string(server.0.stderr.as_mut().unwrap(), &mut log).unwrap();
    let canonical = so.canonicalize().unwrap();
    let line = format!("load [hellofs-c] plugin from {}", canonical.display());
    assert_eq!(log.matches(&line).count(), 1, "{log}");
}
