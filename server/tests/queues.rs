//! queuefs over real HTTP: concurrent consumers get each message exactly once, a message
//! acknowledged with a 200 survives `kill -9` of the server, and two servers on one database never
//! deliver a message twice — on memory (where it applies), SQLite and MySQL/MariaDB (when
//! `PFS_TEST_MYSQL_DSN` names a server; `scripts/test` starts a MariaDB and sets it).

mod common;

use std::collections::HashSet;
use std::path::Path;

use common::process::{Server, curl, start};

/// The durable backends this machine can test: SQLite always, MySQL when a server is given.
fn durable_backends() -> Vec<&'static str> {
    let mut v = vec!["sqlite"];
    if fs_core::conformance::test_server(
        "PFS_TEST_MYSQL_DSN",
        "scripts/test starts a MariaDB and sets it",
    )
    .is_some()
    {
        v.push("mysql");
    }
    v
}

/// A config mounting queuefs at /queuefs on `backend`; SQLite and MySQL state is fresh per `dir`
/// (MySQL: a database named after the temporary directory, created by the backend).
fn config(dir: &Path, backend: &str) -> std::path::PathBuf {
    let cfg = dir.join(format!("{backend}.yaml"));
    let queuefs = match backend {
        "memory" => "{path: /queuefs}".to_string(),
        "sqlite" => format!(
            "{{path: /queuefs, config: {{backend: sqlite, db_path: '{}'}}}}",
            dir.join("queue.db").display()
        ),
        _ => {
            let dsn = std::env::var("PFS_TEST_MYSQL_DSN").expect("PFS_TEST_MYSQL_DSN");
            let base = dsn
                .rsplit_once('/')
                .map_or(dsn.as_str(), |(b, _)| b)
                .to_string();
            let db: String = dir
                .file_name()
                .unwrap()
                .to_string_lossy()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            format!("{{path: /queuefs, config: {{backend: mysql, dsn: '{base}/pfs_http_{db}'}}}}")
        }
    };
    std::fs::write(&cfg, format!("plugins:\n  queuefs: {queuefs}\n")).unwrap();
    cfg
}

fn server(cfg: &Path) -> (Server, String) {
    let s = start(&["-c", cfg.to_str().unwrap()]);
    let base = s.base.clone();
    (s, base)
}

fn enqueue(base: &str, queue: &str, data: &str) {
    let out = curl(&[
        "-w",
        " %{http_code}",
        "-X",
        "PUT",
        "--data-binary",
        data,
        &format!("{base}/api/v1/files?path=/queuefs/{queue}/enqueue"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.ends_with(" 200"), "enqueue {data}: {text}");
}

/// Dequeues until the queue answers `{}`; returns the `data` of every message received.
fn drain(base: &str, queue: &str) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let out = curl(&[&format!(
            "{base}/api/v1/files?path=/queuefs/{queue}/dequeue"
        )]);
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        match v["data"].as_str() {
            Some(d) => got.push(d.to_string()),
            None => {
                assert_eq!(v, serde_json::json!({}), "an empty queue answers {{}}");
                return got;
            }
        }
    }
}

/// 8 consumer threads over HTTP, spread over `bases`; asserts every one of `n` messages is delivered
/// exactly once.
fn consume_exactly_once(bases: &[String], queue: &str, n: usize) {
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let base = bases[i % bases.len()].clone();
            let q = queue.to_string();
            std::thread::spawn(move || drain(&base, &q))
        })
        .collect();
    let all: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(
        all.len(),
        n,
        "delivered {} messages for {n} enqueued",
        all.len()
    );
    assert_eq!(unique.len(), n, "a message was delivered twice");
    let expected: HashSet<String> = (0..n).map(|i| format!("msg-{i}")).collect();
    assert_eq!(
        unique.into_iter().cloned().collect::<HashSet<_>>(),
        expected
    );
}

#[test]
fn eight_http_consumers_get_each_message_once_on_every_backend() {
    for backend in std::iter::once("memory").chain(durable_backends()) {
        let dir = tempfile::tempdir().unwrap();
        let (_s, base) = server(&config(dir.path(), backend));
        for i in 0..200 {
            enqueue(&base, "work", &format!("msg-{i}"));
        }
        consume_exactly_once(&[base], "work", 200);
    }
}

#[test]
fn fifo_order_holds_over_http() {
    for backend in std::iter::once("memory").chain(durable_backends()) {
        let dir = tempfile::tempdir().unwrap();
        let (_s, base) = server(&config(dir.path(), backend));
        for i in 0..20 {
            enqueue(&base, "ordered", &format!("msg-{i}"));
        }
        let got = drain(&base, "ordered");
        assert_eq!(
            got,
            (0..20).map(|i| format!("msg-{i}")).collect::<Vec<_>>(),
            "{backend}"
        );
    }
}

#[test]
fn acknowledged_messages_survive_kill_9() {
    for backend in durable_backends() {
        survive_kill_9(backend);
    }
}

fn survive_kill_9(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), backend);
    let (mut s, base) = server(&cfg);
    for i in 0..50 {
        enqueue(&base, "durable", &format!("msg-{i}"));
    }
    // Every enqueue above got its 200; now the process dies without any shutdown.
    s.signal("-9");
    s.child.wait().unwrap();
    let (_s2, base2) = server(&cfg);
    let out = curl(&[&format!("{base2}/api/v1/files?path=/queuefs/durable/size")]);
    assert_eq!(out.stdout, b"50");
    assert_eq!(
        drain(&base2, "durable"),
        (0..50).map(|i| format!("msg-{i}")).collect::<Vec<_>>()
    );
}

#[test]
fn two_servers_on_one_database_never_deliver_twice() {
    for backend in durable_backends() {
        two_servers(backend);
    }
}

fn two_servers(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), backend);
    let (_a, base_a) = server(&cfg);
    let (_b, base_b) = server(&cfg);
    for i in 0..200 {
        let base = if i % 2 == 0 { &base_a } else { &base_b };
        enqueue(base, "shared", &format!("msg-{i}"));
    }
    consume_exactly_once(&[base_a, base_b], "shared", 200);
}
