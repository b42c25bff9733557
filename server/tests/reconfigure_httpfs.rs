//! `POST /api/v1/mounts/config` on an httpfs mount made through the API: a new port is bound
//! first and swapped in (the old port closed when the answer comes, the same instance serving on
//! the new one); a port that cannot be bound, a hostile port number or an address the API's listen
//! policy refuses is rejected with the mount serving on where it was, its generation unchanged.

mod common;

use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use common::{assert_error, get, mount_row, post_json, send_json};
use fs_core::{FileSystem, WriteFlags};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest any single network step of a test may take.
const STEP: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `GET target` on the loopback `port` with `Connection: close`: status and body.
async fn fetch(port: u16, target: &str) -> (u16, String) {
    let io = async {
        let mut s = TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("connect to {port}: {e}"));
        s.set_nodelay(true).unwrap();
        let req = format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        String::from_utf8(raw).unwrap()
    };
    let raw = tokio::time::timeout(STEP, io)
        .await
        .expect("answer in time");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response head");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// Waits until a connection to the loopback `port` is refused, polling (no sleeps) up to [`STEP`].
async fn refused(port: u16) {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        match TcpStream::connect(("127.0.0.1", port)).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
            Err(e) => panic!("connect to {port}: {e}"),
            Ok(s) => {
                s.set_nodelay(true).unwrap();
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "port {port} still accepts connections after {STEP:?}"
                );
                tokio::task::yield_now().await;
            }
        }
    }
}

async fn change(app: &Router, config: Value) -> (axum::http::StatusCode, Value) {
    let body = json!({"path": "/web", "config": config});
    send_json(app, post_json("/api/v1/mounts/config", &body.to_string())).await
}

/// memfs with `/memfs/www/hello.txt`, and httpfs at `/web` publishing `/memfs/www`, mounted
/// through the API on a free loopback port (a port taken between the probe and the bind is
/// retried); returns the port.
async fn site() -> (Router, u16) {
    let (app, state) = common::app_with("plugins:\n  memfs: {path: /memfs}\n").await;
    state.fs.mkdir("/memfs/www", 0o755).await.unwrap();
    state
        .fs
        .write(
            "/memfs/www/hello.txt",
            Bytes::from_static(b"hello"),
            None,
            WriteFlags::NONE,
        )
        .await
        .unwrap();
    for _ in 0..5 {
        let port = free_port();
        let body = json!({"fstype": "httpfs", "path": "/web", "config": {"agfs_path": "/memfs/www", "port": port}});
        let (s, v) = send_json(&app, post_json("/api/v1/mount", &body.to_string())).await;
        match s.as_u16() {
            200 => return (app, port),
            409 if v["error"]
                .as_str()
                .unwrap()
                .contains("address already in use") => {}
            s => panic!("mount httpfs: {s} {v}"),
        }
    }
    panic!("no free port after 5 attempts");
}

#[tokio::test]
async fn a_new_port_is_served_in_place_and_the_old_one_refuses() {
    let (app, old) = site().await;
    assert_eq!(mount_row(&app, "/web").await["generation"], 1);
    let (port, v) = 'bound: {
        for _ in 0..5 {
            let port = free_port();
            let (s, v) = change(&app, json!({"agfs_path": "/memfs/www", "port": port})).await;
            match s.as_u16() {
                200 => break 'bound (port, v),
                400 if v["error"]
                    .as_str()
                    .unwrap()
                    .contains("address already in use") => {}
                s => panic!("change: {s} {v}"),
            }
        }
        panic!("no free port after 5 attempts");
    };
    assert_eq!(
        (
            &v["message"],
            &v["generation"],
            &v["remounted"],
            &v["config"]["port"]
        ),
        (
            &json!("config changed"),
            &json!(2),
            &json!(false),
            &json!(port)
        ),
        "{v}"
    );
    refused(old).await;
    assert_eq!(fetch(port, "/hello.txt").await, (200, "hello".into()));
    let row = mount_row(&app, "/web").await;
    assert_eq!(
        (&row["generation"], &row["config"]["port"]),
        (&json!(2), &json!(port))
    );
    let (s, status) = common::send(&app, get("/api/v1/files?path=/web")).await;
    assert_eq!(s, 200);
    let status = String::from_utf8_lossy(&status);
    assert!(
        status.contains(&format!("HTTP Endpoint:   http://127.0.0.1:{port}/\n")),
        "{status}"
    );
}

#[tokio::test]
async fn an_address_that_cannot_be_had_is_rejected_and_the_old_port_serves_on() {
    let (app, port) = site().await;
    let unchanged = |what: &'static str| {
        let app = app.clone();
        async move {
            let row = mount_row(&app, "/web").await;
            assert_eq!(
                (&row["generation"], &row["config"]["port"]),
                (&json!(1), &json!(port)),
                "after {what}"
            );
            assert_eq!(
                fetch(port, "/hello.txt").await,
                (200, "hello".into()),
                "after {what}"
            );
        }
    };

    // A port another listener holds: 400 naming the address, the mount serving on.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other = taken.local_addr().unwrap().port();
    let (s, v) = change(&app, json!({"agfs_path": "/memfs/www", "port": other})).await;
    assert_eq!(s, 400, "{v}");
    let e = v["error"].as_str().unwrap();
    for words in [
        format!("httpfs: cannot listen on 127.0.0.1:{other}: address already in use"),
        format!("the mount serves on at 127.0.0.1:{port}"),
    ] {
        assert!(e.contains(&words), "{words:?} in {e}");
    }
    unchanged("a taken port").await;

    // Hostile port numbers never reach a bind: 400 naming the key.
    for bad in [
        json!(0),
        json!(70000),
        json!(65536),
        json!(-1),
        json!(1.5),
        json!("http"),
        json!(true),
        json!(null),
    ] {
        let (s, v) = change(&app, json!({"agfs_path": "/memfs/www", "port": bad})).await;
        assert_eq!(s, 400, "port {bad}: {v}");
        let e = v["error"].as_str().unwrap();
        assert!(e.contains("port"), "port {bad}: {e}");
    }
    unchanged("hostile ports").await;

    // A privileged port: a bind error naming it, unless this process may bind it.
    match std::net::TcpListener::bind("127.0.0.1:1") {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            assert_error(
                change(&app, json!({"agfs_path": "/memfs/www", "port": 1})).await,
                400,
                "httpfs: cannot listen on 127.0.0.1:1",
            );
            unchanged("a privileged port").await;
        }
        other => eprintln!(
            "NOTE: the privileged-port case was not run: this process may bind port 1 ({other:?})"
        ),
    }

    // An address that is not this machine's: the bind's own error, naming it.
    assert_error(
        change(
            &app,
            json!({"agfs_path": "/memfs/www", "host": "192.0.2.1", "port": port}),
        )
        .await,
        400,
        &format!("httpfs: cannot listen on 192.0.2.1:{port}: "),
    );
    unchanged("an address not here").await;

    // An address the API's listen policy refuses (the policy the mount was made under).
    let wide = free_port();
    assert_error(
        change(
            &app,
            json!({"agfs_path": "/memfs/www", "host": "0.0.0.0", "port": wide}),
        )
        .await,
        403,
        "server.api_mount_listen",
    );
    refused(wide).await;
    unchanged("a refused address").await;
}
