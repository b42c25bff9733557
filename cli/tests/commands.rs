//! What the golden transcripts cannot pin: output that grows with the server (plugins, config),
//! how the server is found (flag, `PFS_URL`, `AGFS_API_URL`), an unreachable server, `--help`
//! on every command, completions and `--version`.

mod common;

use std::process::Stdio;

use common::{DEADLINE, Output, bare_command, pfs, serve};

async fn run(mut c: tokio::process::Command) -> Output {
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = tokio::time::timeout(DEADLINE, c.output())
        .await
        .expect("pfs ends in time")
        .expect("pfs runs");
    Output {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_comes_from_the_flag_then_pfs_url_then_agfs_api_url() {
    let server = serve().await;
    let url = server.url();
    let unreachable = "http://127.0.0.1:1";

    let mut c = bare_command();
    c.env("PFS_URL", &url).args(["ls", "/"]);
    let out = run(c).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("memfs\n"), "{}", out.stdout);

    // AGFS's variable carries the /api/v1 prefix.
    let mut c = bare_command();
    c.env("AGFS_API_URL", format!("{url}/api/v1"))
        .args(["ls", "/"]);
    let out = run(c).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("queuefs\n"), "{}", out.stdout);

    // PFS_URL wins over AGFS_API_URL, and --server over both.
    let mut c = bare_command();
    c.env("PFS_URL", &url)
        .env("AGFS_API_URL", unreachable)
        .args(["cat", "/hellofs/hello"]);
    assert_eq!(run(c).await.stdout, "Hello, World!\n");
    let mut c = bare_command();
    c.env("PFS_URL", unreachable)
        .args(["--server", &url, "cat", "/hellofs/hello"]);
    assert_eq!(run(c).await.stdout, "Hello, World!\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_one_short_error_line_and_exit_1() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut c = bare_command();
    c.args(["--server", &format!("127.0.0.1:{port}"), "ls", "/memfs"]);
    let out = run(c).await;
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        format!(
            "pfs: ls: /memfs: cannot reach the server at http://127.0.0.1:{port}: connection refused\n"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_config_and_mount_errors_name_what_the_server_has() {
    let server = serve().await;
    let out = pfs(&server, &["plugins"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let memfs = out
        .stdout
        .lines()
        .find(|l| l.starts_with("memfs "))
        .unwrap_or_else(|| panic!("no memfs line in {}", out.stdout));
    assert!(memfs.ends_with(" /memfs"), "{memfs}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("localfs ") && l.ends_with(" -"))
    );

    let out = pfs(&server, &["config", "show"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("# pfs-server "), "{}", out.stdout);
    assert!(
        out.stdout.contains("  memfs:\n    path: /memfs\n"),
        "{}",
        out.stdout
    );

    let out = pfs(&server, &["mount", "nosuchfs", "/x", "a=1"], None).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .starts_with("pfs: mount: /x: unknown filesystem type: nosuchfs (available: "),
        "{}",
        out.stderr
    );

    let out = pfs(&server, &["--json", "plugins"], None).await;
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert!(v["plugins"].as_array().is_some_and(|p| p.len() > 5), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_has_help_and_the_binary_has_version_and_completions() {
    for name in pfs_cli::commands::command_names() {
        let mut c = bare_command();
        c.args([name.as_str(), "--help"]);
        let out = run(c).await;
        assert_eq!(out.code, 0, "{name} --help: {}", out.stderr);
        assert!(
            out.stdout.contains(&format!("Usage: pfs {name}")),
            "{name} --help: {}",
            out.stdout
        );
    }
    let mut c = bare_command();
    c.arg("--version");
    let out = run(c).await;
    assert_eq!(out.stdout, format!("pfs {}\n", env!("CARGO_PKG_VERSION")));
    for shell in ["bash", "zsh", "fish"] {
        let mut c = bare_command();
        c.args(["completions", shell]);
        let out = run(c).await;
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(
            out.stdout.contains("mkdir"),
            "{shell} completion lacks commands"
        );
    }
}
