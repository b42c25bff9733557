//! The `pfs-server` binary itself: the embedded default config, Go-style flags, `--version`,
//! `--print-sample-config`, startup errors, and a clean exit on SIGTERM.

mod common;

use std::process::Command;

use common::process::{BIN, curl, start};

#[test]
fn embedded_default_serves_the_seed_paths_and_stops_on_sigterm() {
    let server = start(&[]);
    let base = server.base.clone();
    let out = curl(&[&format!("{base}/api/v1/files?path=/hellofs/hello")]);
    assert_eq!(out.stdout, b"Hello, World!\n");
    let out = curl(&[&format!("{base}/api/v1/directories?path=/")]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names = common::listing_names(&v);
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

    let log = server.stop();
    assert!(
        log.contains("shutdown signal received") && log.contains("stopped"),
        "{log}"
    );
}

#[test]
fn default_sqlfs_keeps_files_in_the_data_directory_across_restarts() {
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().to_str().unwrap();
    let run = |body: Option<&str>| {
        let server = start(&["-data-dir", data_arg]);
        let url = format!("{}/api/v1/files?path=/sqlfs/kept.txt", server.base);
        let out = match body {
            Some(b) => curl(&["-X", "PUT", "--data-binary", b, &url]),
            None => curl(&[&url]),
        };
        (String::from_utf8(out.stdout).unwrap(), server.stop())
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
    // The default is port 8080; the kernel never picks it for port 0 (outside the ephemeral range).
    let server = start(&["-addr", "127.0.0.1:0"]);
    assert_ne!(server.port(), 8080, "{}", server.log());
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
fn unknown_plugin_in_config_is_a_strict_startup_error_naming_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.yaml");
    std::fs::write(
        &cfg,
        "server: {address: '127.0.0.1:0'}\nplugins:\n  memfz: {path: /m}\n",
    )
    .unwrap();
    // Without --strict the server serves with the mount failed (tests/agfs_configs.rs).
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&cfg)
        .arg("--strict")
        .output()
        .unwrap();
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
    let server = start(&["-c", cfg.to_str().unwrap()]);
    let out = curl(&[&format!("{}/api/v1/files?path=/helloc/hello", server.base)]);
    assert_eq!(out.stdout, b"Hello from C plugin!\n");
    let log = server.stop();
    let canonical = so.canonicalize().unwrap();
    let line = format!("load [hellofs-c] plugin from {}", canonical.display());
    assert_eq!(log.matches(&line).count(), 1, "{log}");
}

/// The start log says which auth mode is in force; listening beyond loopback without tokens is
/// worth a warning (protected mode, or none at all when it is off); loopback is not.
#[test]
fn the_start_log_names_the_auth_mode_and_warns_beyond_loopback() {
    let protected = start(&["--addr", "0.0.0.0:0"]);
    let log = protected.stop();
    assert!(log.contains("auth: protected mode"), "{log}");
    assert!(
        log.contains("reachable from other machines, but no tokens are configured: protected mode refuses them"),
        "{log}"
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pfs.yaml");
    std::fs::write(
        &cfg,
        "server:\n  auth: {protected_mode: false}\nplugins: {}\n",
    )
    .unwrap();
    let open = start(&["--addr", "0.0.0.0:0", "-c", cfg.to_str().unwrap()]);
    let log = open.stop();
    assert!(log.contains("auth: OFF"), "{log}");
    assert!(
        log.contains("reachable from other machines and the API has no authentication"),
        "{log}"
    );
    let local = start(&[]);
    let log = local.stop();
    assert!(!log.contains("reachable from other machines"), "{log}");
}

/// Every refusal and every admin call leaves an audit line naming the peer, the route, the status
/// or the principal — and never the token.
#[test]
fn refusals_and_admin_calls_are_audited_without_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pfs.yaml");
    std::fs::write(
        &cfg,
        "server:\n  auth:\n    tokens:\n      - {name: ops, role: admin, token: audit-admin-token-0123}\n      - {name: viewer, role: read, token: audit-read-token-01234}\nplugins:\n  memfs: {path: /memfs}\n",
    )
    .unwrap();
    let server = start(&["-c", cfg.to_str().unwrap()]);
    let call = |args: &[&str]| {
        let out = curl(args);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let files = format!("{}/api/v1/files?path=/memfs/x", server.base);
    assert_eq!(
        call(&["-o", "/dev/null", "-w", "%{http_code}", &files]),
        "401"
    );
    assert_eq!(
        call(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Authorization: Bearer audit-read-token-01234",
            "-X",
            "PUT",
            "-d",
            "x",
            &files
        ]),
        "403"
    );
    let mount = format!("{}/api/v1/mount", server.base);
    assert_eq!(
        call(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Authorization: Bearer audit-admin-token-0123",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"fstype":"memfs","path":"/m2"}"#,
            &mount
        ]),
        "200"
    );
    let log = server.stop();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("audit:")).collect();
    assert!(
        lines.iter().any(|l| l.contains("refused")
            && l.contains("status=401")
            && l.contains("/api/v1/files")),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| l.contains("refused")
            && l.contains("status=403")
            && l.contains("principal=viewer")),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| l.contains("admin call")
            && l.contains("principal=ops")
            && l.contains("/api/v1/mount")),
        "{log}"
    );
    assert!(
        !log.contains("audit-admin-token") && !log.contains("audit-read-token"),
        "{log}"
    );
}

/// A token file that is not there stops the start with the entry and the file named (the config
/// itself parses: files are read when the server starts, not when a config is only read).
#[test]
fn a_missing_token_file_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pfs.yaml");
    let missing = dir.path().join("nope.token");
    std::fs::write(
        &cfg,
        format!(
            "server:\n  address: \"127.0.0.1:0\"\n  auth:\n    tokens: [{{name: ci, role: read, token_file: {}}}]\nplugins: {{}}\n",
            missing.display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.auth.tokens[0] (ci)") && err.contains("nope.token"),
        "{err}"
    );
}
