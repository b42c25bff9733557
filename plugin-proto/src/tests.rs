//! The two sides against each other over an in-memory channel: memfs served by [`serve`] and
//! called through a [`Connection`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fs_core::ErrorKind;
use serde_json::{Value, json};

use crate::client::Connection;
use crate::frame::{Frame, read_frame, write_frame};
use crate::serve;

const T: Duration = Duration::from_secs(5);

async fn served_memfs() -> Connection {
    let (server_side, plugin_side) = tokio::io::duplex(1 << 20);
    let (plugin_in, plugin_out) = tokio::io::split(plugin_side);
    tokio::spawn(serve(
        Arc::new(pfs_memfs::MemFsPlugin),
        plugin_in,
        plugin_out,
    ));
    let (r, w) = tokio::io::split(server_side);
    let (conn, hello) = Connection::open(r, w, T).await.unwrap();
    assert_eq!(hello.name, "memfs");
    assert!(
        hello
            .config_params
            .unwrap()
            .iter()
            .any(|p| p["name"] == "init_dirs")
    );
    conn
}

#[tokio::test]
async fn calls_round_trip_with_payloads_and_errors() {
    let conn = served_memfs().await;
    let e = conn
        .call("stat", json!({"path": "/"}), Bytes::new(), T)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("before initialize"), "{e}");
    let (ok, _) = conn
        .call(
            "initialize",
            json!({"config": {"mount_path": "/m"}}),
            Bytes::new(),
            T,
        )
        .await
        .unwrap();
    assert_eq!(ok["capabilities"]["write"], true);
    let (ok, _) = conn
        .call(
            "write",
            json!({"path": "/a", "offset": null, "flags": {"create": true}}),
            Bytes::from_static(b"hello world"),
            T,
        )
        .await
        .unwrap();
    assert_eq!(ok, json!({"written": 11}));
    let (ok, data) = conn
        .call(
            "read",
            json!({"path": "/a", "offset": 6, "size": 100}),
            Bytes::new(),
            T,
        )
        .await
        .unwrap();
    assert_eq!((ok, &data[..]), (json!({"eof": true}), &b"world"[..]));
    let (ok, _) = conn
        .call("stat", json!({"path": "/a"}), Bytes::new(), T)
        .await
        .unwrap();
    assert_eq!((&ok["name"], &ok["size"]), (&json!("a"), &json!(11)));
    let e = conn
        .call(
            "read",
            json!({"path": "/nope", "offset": 0, "size": 1}),
            Bytes::new(),
            T,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = conn
        .call("frobnicate", json!({}), Bytes::new(), T)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    // Many calls in flight at once, each answered to its caller.
    let conn = Arc::new(conn);
    let calls = (0..50).map(|i| {
        let conn = conn.clone();
        tokio::spawn(async move {
            let path = format!("/f{i}");
            let body = Bytes::from(format!("body {i}"));
            conn.call(
                "write",
                json!({"path": path, "offset": null, "flags": {"create": true}}),
                body.clone(),
                T,
            )
            .await
            .unwrap();
            let (_, data) = conn
                .call(
                    "read",
                    json!({"path": path, "offset": 0, "size": 64}),
                    Bytes::new(),
                    T,
                )
                .await
                .unwrap();
            assert_eq!(data, body);
        })
    });
    for c in calls {
        c.await.unwrap();
    }
    conn.call("shutdown", Value::Null, Bytes::new(), T)
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_silent_plugin_times_out_and_breaks_the_channel() {
    let (server_side, mut plugin_side) = tokio::io::duplex(1 << 16);
    let hello = crate::wire::Hello {
        protocol: crate::PROTOCOL_VERSION,
        cookie: crate::MAGIC_COOKIE_VALUE.into(),
        name: "mute".into(),
        readme: String::new(),
        config_params: None,
    };
    write_frame(&mut plugin_side, &Frame::new(hello.to_json()))
        .await
        .unwrap();
    let (r, w) = tokio::io::split(server_side);
    let (conn, _) = Connection::open(r, w, T).await.unwrap();
    let e = conn
        .call("ping", Value::Null, Bytes::new(), T)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(conn.broken().unwrap().contains("no answer"));
    // The request did reach the plugin; later calls fail at once.
    let f = read_frame(&mut plugin_side).await.unwrap();
    assert_eq!(f.header["op"], "ping");
    let e = conn
        .call("ping", Value::Null, Bytes::new(), T)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
}

#[tokio::test]
async fn a_plugin_that_exits_fails_every_waiting_call() {
    let (server_side, mut plugin_side) = tokio::io::duplex(1 << 16);
    let hello = json!({"hello": 1, "cookie": crate::MAGIC_COOKIE_VALUE, "name": "dying"});
    write_frame(&mut plugin_side, &Frame::new(hello))
        .await
        .unwrap();
    let (r, w) = tokio::io::split(server_side);
    let (conn, _) = Connection::open(r, w, T).await.unwrap();
    let conn = Arc::new(conn);
    let waiting = {
        let conn = conn.clone();
        tokio::spawn(async move { conn.call("ping", Value::Null, Bytes::new(), T).await })
    };
    read_frame(&mut plugin_side).await.unwrap();
    drop(plugin_side);
    let e = waiting.await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains("exited"), "{e}");
}

#[tokio::test]
async fn a_wrong_handshake_is_named() {
    for (hello, says) in [
        (
            json!({"hello": 2, "cookie": crate::MAGIC_COOKIE_VALUE, "name": "x"}),
            "version 2",
        ),
        (json!({"hello": 1, "cookie": "nope", "name": "x"}), "'nope'"),
        (json!({"id": 1, "ok": null}), "did not begin with a hello"),
    ] {
        let (server_side, mut plugin_side) = tokio::io::duplex(1 << 16);
        write_frame(&mut plugin_side, &Frame::new(hello))
            .await
            .unwrap();
        let (r, w) = tokio::io::split(server_side);
        let e = Connection::open(r, w, T).await.unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
    }
}
