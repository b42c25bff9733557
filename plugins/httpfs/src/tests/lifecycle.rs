//! The listener's life: bound at `initialize` (a taken port fails the mount), served by one
//! background task from `start`, closed by the unmount.

use fs_core::Background;

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
        &MountPolicy::unrestricted(),
    )
    .await
    .unwrap();
    let port = fs.local_addr().port();
    let fs = HttpFsMount::new(fs);
    assert!(!fs.httpfs().is_running(), "served before start");
    let background = Background::new();
    fs.start(&background).await.unwrap();
    assert_eq!(background.running(), 1);
    assert!(fs.httpfs().is_running());
    let r = get(port, "/").await;
    assert_eq!(r.status, 503);
    assert!(background.stop(STEP).await);
    assert!(!fs.httpfs().is_running());
    refused(port).await;
    fs.shutdown().await.unwrap();
    let e = fs.start(&background).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
}
