//! The listener's life: bound at `initialize` (a taken port fails the mount), served by one
//! background task from `start`, closed by the unmount; moved by a config change in place (the
//! new address bound first, the old port closed once the change returns) or left serving where
//! it was when the new address cannot be had.

use fs_core::policy::Listen;
use fs_core::{Background, ConfigChange};
use serde_json::Value;

use super::*;
use crate::HttpFsMount;

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

async fn status(fs: &MountableFs, path: &str) -> String {
    String::from_utf8(fs.read(path, 0, None).await.unwrap().to_vec()).unwrap()
}

/// Gives the httpfs mount at `/web` the config `config`, in place.
async fn change(
    fs: &Arc<MountableFs>,
    registry: &PluginRegistry,
    config: Value,
) -> Result<ConfigChange> {
    // The policy applies to a remount's new instance only; in place, the instance keeps its own.
    fs.reconfigure(registry, "/web", config, false, MountPolicy::unrestricted())
        .await
}

/// Changes `/web` to `config` with `port_key` set to a free port, and returns the port. A port
/// grabbed by someone else between the probe and the bind is retried with another one.
async fn change_port(
    fs: &Arc<MountableFs>,
    registry: &PluginRegistry,
    mut config: Value,
    port_key: &str,
) -> (u16, ConfigChange) {
    for _ in 0..5 {
        let port = free_port();
        config[port_key] = json!(port);
        match change(fs, registry, config.clone()).await {
            Ok(c) => return (port, c),
            Err(e) if e.to_string().contains("address already in use") => {}
            Err(e) => panic!("change to {config}: {e}"),
        }
    }
    panic!("no free port after 5 attempts");
}

/// Sends `GET target` on an open keep-alive connection and reads one answer (body by
/// `Content-Length`).
async fn get_on(s: &mut TcpStream, target: &str) -> Resp {
    let io = async {
        let req = format!("GET {target} HTTP/1.1\r\nHost: test\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "the connection closed before a whole answer");
            raw.extend_from_slice(&buf[..n]);
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let (status, headers, at) = parse_head(&raw);
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, v)| v.parse().unwrap());
                if raw.len() >= end + 4 + len {
                    let body = raw[at..at + len].to_vec();
                    return Resp {
                        status,
                        headers,
                        body,
                    };
                }
            }
        }
    };
    tokio::time::timeout(STEP, io)
        .await
        .expect("answer in time")
}

#[tokio::test]
async fn the_listener_is_the_mounts_one_background_task_until_unmount() {
    let (fs, registry, port) = www().await;
    let mount = fs.mount_at("/web").unwrap();
    assert_eq!(mount.background_tasks(), 1);
    assert_eq!(get(port, "/hello.txt").await.status, 200);
    fs.unmount("/web").await.unwrap();
    assert_eq!(mount.background_tasks(), 0);
    // Closed when the unmount returns: the port can be bound again at once.
    let again = std::net::TcpListener::bind(("127.0.0.1", port));
    assert!(again.is_ok(), "port {port} not free: {again:?}");
    drop(again);
    refused(port).await;
    let text = mount.fs.read("/", 0, None).await.unwrap();
    assert!(String::from_utf8_lossy(&text).contains("Server Status:   Stopped"));
    // The same port can be published again at once.
    let config = json!({"agfs_path": "/memfs/www", "port": port});
    fs.mount_plugin(&registry, "httpfs", "/web", None, config)
        .await
        .unwrap();
    assert_eq!(get(port, "/hello.txt").await.body, HELLO);
}

#[tokio::test]
async fn a_taken_port_fails_the_mount_naming_host_and_port() {
    let (fs, registry) = tree().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = json!({"agfs_path": "/memfs/www", "port": port});
    let e = fs
        .mount_plugin(&registry, "httpfs", "/web", None, config)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{e}"
    );
    assert!(e.to_string().contains("address already in use"), "{e}");
    assert!(fs.mount_at("/web").is_none());
}

/// Outside a router: bound by `initialize`, served from `start` by one task on the background,
/// closed when the background stops.
#[tokio::test]
async fn served_from_start_until_the_background_stops_and_a_vanished_tree_is_503() {
    let config = HttpFsConfig {
        source: "/".into(),
        host: "127.0.0.1".into(),
        port: free_port(),
    };
    let fs = HttpFs::bind(
        "/web",
        &config,
        std::sync::Weak::new(),
        MountPolicy::unrestricted(),
    )
    .await
    .unwrap();
    let port = fs.local_addr().port();
    let fs: HttpFsMount = fs_core::ReadOnlyFs(fs);
    assert!(!fs.0.is_running(), "served before start");
    let background = Background::new();
    fs.start(&background).await.unwrap();
    assert_eq!(background.running(), 1);
    assert!(fs.0.is_running());
    let r = get(port, "/").await;
    assert_eq!(r.status, 503);
    assert!(background.stop(STEP).await);
    assert!(!fs.0.is_running());
    refused(port).await;
    fs.shutdown().await.unwrap();
    let e = fs.start(&background).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
}

#[tokio::test]
async fn a_new_port_is_served_and_the_old_one_closed_in_place() {
    let (fs, registry, old) = www().await;
    let id = fs.mount_at("/web").unwrap().id;
    let (port, c) = change_port(&fs, &registry, json!({"agfs_path": "/memfs/www"}), "port").await;
    assert_eq!((c.generation, c.remounted, c.amended), (2, false, false));
    refused(old).await;
    assert_eq!(get(port, "/hello.txt").await.body, HELLO);
    let mount = fs.mount_at("/web").unwrap();
    assert_eq!(
        (mount.id, mount.background_tasks()),
        (id, 1),
        "the same instance"
    );
    let text = status(&fs, "/web").await;
    for line in [
        format!("HTTP Port:       {port}"),
        format!("HTTP Endpoint:   http://127.0.0.1:{port}/"),
        "Server Status:   Running".into(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in:\n{text}");
    }

    // A new published path, given by its other names with the port unchanged: the listener stays
    // (a connection opened before the change is served after it) and serves the new path.
    let mut open = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    open.set_nodelay(true).unwrap();
    assert_eq!(get_on(&mut open, "/hello.txt").await.body, HELLO);
    let c = change(
        &fs,
        &registry,
        json!({"pfs_path": "/memfs/www/alpha", "http_port": port.to_string()}),
    )
    .await
    .unwrap();
    assert_eq!((c.generation, c.remounted), (3, false));
    let r = get_on(&mut open, "/inner.txt").await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"inner"[..]));
    assert_eq!(get(port, "/hello.txt").await.status, 404);
    assert!(
        status(&fs, "/web")
            .await
            .contains("PFS Source Path: /memfs/www/alpha\n")
    );
}

#[tokio::test]
async fn an_address_that_cannot_be_bound_is_rejected_and_the_old_one_serves_on() {
    let (fs, registry, port) = www().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other = taken.local_addr().unwrap().port();
    // The published path of a rejected change does not change either.
    let e = change(
        &fs,
        &registry,
        json!({"agfs_path": "/memfs/www/alpha", "port": other}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    for words in [
        format!("httpfs: cannot listen on 127.0.0.1:{other}: address already in use"),
        format!("the mount serves on at 127.0.0.1:{port}"),
    ] {
        assert!(e.to_string().contains(&words), "{words:?} in {e}");
    }
    // A new host on the same port: the old listener holds the port.
    let e = change(
        &fs,
        &registry,
        json!({"agfs_path": "/memfs/www", "host": "0.0.0.0", "port": port}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.to_string().contains("change the port too"), "{e}");

    let mount = fs.mount_at("/web").unwrap();
    assert_eq!((mount.generation, mount.background_tasks()), (1, 1));
    assert_eq!(get(port, "/hello.txt").await.body, HELLO);
    let text = status(&fs, "/web").await;
    assert!(
        text.contains(&format!("HTTP Port:       {port}\n")),
        "{text}"
    );
    assert!(text.contains("PFS Source Path: /memfs/www\n"), "{text}");
}

/// A mount made under a listen policy keeps it: a new address must pass it too. And a change in
/// place never widens who can reach the listener (a new address beyond loopback and the one it
/// has): that needs a remount, which the caller's policy limits.
#[tokio::test]
async fn a_new_address_passes_the_mounts_policy_and_widening_needs_a_remount() {
    let (fs, registry) = tree().await;
    let api = MountPolicy {
        listen: Listen::LoopbackAnd(vec![]),
        source: "server.api_mount_listen",
        ..MountPolicy::default()
    };
    let port = free_port();
    let config = json!({"agfs_path": "/memfs/www", "port": port});
    fs.mount_plugin_under(&registry, "httpfs", "/web", None, config, api)
        .await
        .unwrap();
    let wide = free_port();
    let e = change(
        &fs,
        &registry,
        json!({"agfs_path": "/memfs/www", "host": "0.0.0.0", "port": wide}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("server.api_mount_listen"), "{e}");
    refused(wide).await;
    assert_eq!(get(port, "/hello.txt").await.body, HELLO);
    assert_eq!(fs.mount_at("/web").unwrap().generation, 1);
    // Loopback passes.
    let (moved, _) = change_port(
        &fs,
        &registry,
        json!({"agfs_path": "/memfs/www", "host": "127.0.0.1"}),
        "port",
    )
    .await;
    assert_eq!(get(moved, "/hello.txt").await.body, HELLO);

    // An unrestricted (config) mount: in place, no wider than it was; by a remount, as allowed.
    let (fs, registry, port) = www().await;
    let wide = free_port();
    let to_all = json!({"agfs_path": "/memfs/www", "host": "0.0.0.0", "port": wide});
    let e = change(&fs, &registry, to_all.clone()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("\"remount\": true"), "{e}");
    refused(wide).await;
    assert_eq!(get(port, "/hello.txt").await.body, HELLO);
    let c = fs
        .reconfigure(&registry, "/web", to_all, true, MountPolicy::unrestricted())
        .await
        .unwrap();
    assert!(c.remounted, "{c:?}");
    refused(port).await;
    assert_eq!(get(wide, "/hello.txt").await.body, HELLO);
}
