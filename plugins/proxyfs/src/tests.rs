//! proxyfs without a pfs remote: config forms, the status and JSON readers, and the transport
//! failures against real sockets (a closed port, a listener that never answers, a body that
//! stalls, a sink that never answers an upload). The end-to-end cases against real pfs servers
//! live in `server/tests/proxyfs.rs`.

use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use fs_core::conformance::{assert_kind, mount_context};
use fs_core::{ByteStream, ContentBody, Error, ErrorKind, FileSystem, ServicePlugin, WriteFlags};
use futures_util::{StreamExt, stream};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::wire::{self, map_status, parse_rfc3339};
use super::{ProxyFs, ProxyFsPlugin, Settings, normalize_base_url, plain_write};

fn settings(base: &str, timeout: &str) -> Settings {
    Settings::parse(&json!({ "base_url": base, "timeout": timeout })).unwrap()
}

/// A loopback URL where nothing listens.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

/// A listener that accepts connections, reads nothing and never answers.
async fn silent() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    url
}

/// A listener that reads every request byte and never answers.
async fn sink() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    url
}

/// A server that answers every request with a `len`-byte promise, sends 10 bytes and stalls.
async fn stalling(len: u64) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n0123456789");
                let _ = s.write_all(resp.as_bytes()).await;
                tokio::time::sleep(Duration::from_secs(60)).await;
            });
        }
    });
    url
}

#[test]
fn base_url_accepts_agfs_forms() {
    for raw in [
        "http://h:8080",
        "http://h:8080/",
        "http://h:8080/api/v1",
        "http://h:8080/api/v1/",
        " http://h:8080/api/v1 ",
    ] {
        assert_eq!(
            normalize_base_url(raw).unwrap(),
            "http://h:8080/api/v1",
            "{raw}"
        );
    }
    assert_eq!(
        normalize_base_url("http://h/pfs").unwrap(),
        "http://h/pfs/api/v1"
    );
    for bad in [
        "",
        "h:8080",
        "ftp://h/",
        "http://h/?x=1",
        "http://h/#top",
        "http://",
    ] {
        assert_kind(normalize_base_url(bad), ErrorKind::InvalidArgument);
    }
    assert_eq!(normalize_base_url("https://h").unwrap(), "https://h/api/v1");
}

#[test]
fn credentials_in_base_url_become_basic_auth_and_are_never_shown() {
    let s = Settings::parse(&json!({"base_url": "http://al%40ice:p%3Ass@h:8080/"})).unwrap();
    assert_eq!(s.base, "http://h:8080/api/v1");
    let c = s.credentials.clone().unwrap();
    assert_eq!(
        (c.user.as_str(), c.password.as_deref()),
        ("al@ice", Some("p:ss"))
    );
    assert!(!format!("{s:?}").contains("p:ss"), "{s:?}");
    let remote = super::client::Remote::new(&s).unwrap();
    let req = remote
        .request(reqwest::Method::GET, "stat")
        .build()
        .unwrap();
    assert_eq!(req.url().as_str(), "http://h:8080/api/v1/stat");
    // base64("al@ice:p:ss")
    assert_eq!(req.headers()["authorization"], "Basic YWxAaWNlOnA6c3M=");
    // No credentials, no header.
    let plain = super::client::Remote::new(&settings("http://h:1", "1s")).unwrap();
    let req = plain.request(reqwest::Method::GET, "stat").build().unwrap();
    assert!(req.headers().get("authorization").is_none());
    // A bad URL with a password in it is named without the password.
    let e = normalize_base_url("ftp://u:Sup3rSecret@h/").unwrap_err();
    assert!(e.to_string().contains("ftp://u:***@h/"), "{e}");
    let e = normalize_base_url("u:Sup3rSecret@h:1").unwrap_err();
    assert!(!e.to_string().contains("Sup3rSecret"), "{e}");
}

#[test]
fn config_keys_defaults_and_timeouts() {
    let s = Settings::parse(&json!({"base_url": "http://h:1", "mount_path": "/p"})).unwrap();
    assert_eq!(s.root, "/");
    assert_eq!(s.timeout, super::DEFAULT_TIMEOUT);
    let s = Settings::parse(
        &json!({"base_url": "http://h:1", "remote_path": "memfs/a/", "timeout": 2.5}),
    )
    .unwrap();
    assert_eq!(
        (s.root.as_str(), s.timeout),
        ("/memfs/a", Duration::from_millis(2500))
    );
    assert_eq!(
        settings("http://h:1", "250ms").timeout,
        Duration::from_millis(250)
    );
    for bad in [json!("0s"), json!(0), json!("soon"), json!(true)] {
        let r = Settings::parse(&json!({"base_url": "http://h:1", "timeout": bad}));
        assert_kind(r, ErrorKind::InvalidArgument);
    }
    let plugin = ProxyFsPlugin;
    let e = fs_core::plugin::vet(
        &plugin,
        &json!({"base_url": "http://h:1", "remote_url": "/x"}),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("unknown configuration parameter"),
        "{e}"
    );
    let e = fs_core::plugin::vet(&plugin, &json!({})).unwrap_err();
    assert_eq!(e.to_string(), "base_url is required");
    let names: Vec<&str> = plugin.config_params().iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        [
            "base_url",
            "remote_path",
            "timeout",
            "tls_ca",
            "tls_skip_verify"
        ]
    );
}

#[test]
fn remote_statuses_map_back_to_kinds() {
    let cases = [
        (404, "stat: /x: not found", ErrorKind::NotFound),
        (409, "mkdir: /d: already exists", ErrorKind::AlreadyExists),
        (
            409,
            "remove: /d: directory not empty",
            ErrorKind::DirectoryNotEmpty,
        ),
        (
            400,
            "readdir: /f: not a directory",
            ErrorKind::NotADirectory,
        ),
        (400, "read: /d: is a directory", ErrorKind::IsADirectory),
        (400, "invalid offset parameter", ErrorKind::InvalidArgument),
        (
            403,
            "create: /x: permission denied",
            ErrorKind::PermissionDenied,
        ),
        (
            413,
            "request body exceeds maximum size",
            ErrorKind::PayloadTooLarge,
        ),
        (
            501,
            "truncate: operation not supported",
            ErrorKind::Unsupported,
        ),
        (503, "remote is unreachable", ErrorKind::Unavailable),
        (504, "timed out", ErrorKind::Timeout),
        (500, "disk on fire", ErrorKind::Internal),
        (418, "teapot", ErrorKind::Internal),
        // AGFS's untyped plugin errors.
        (500, "no such file or directory: /x", ErrorKind::NotFound),
        (500, "file already exists", ErrorKind::AlreadyExists),
        (
            500,
            "filesystem does not support truncate: /x",
            ErrorKind::Unsupported,
        ),
    ];
    for (status, msg, kind) in cases {
        assert_eq!(map_status(status, msg), kind, "{status} {msg}");
    }
}

#[test]
fn rfc3339_times_with_offsets_parse() {
    let t = |s| parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap());
    assert_eq!(t("1970-01-01T00:00:01Z"), Some(Duration::from_secs(1)));
    assert_eq!(
        t("2025-11-17T15:20:45.434785-08:00"),
        Some(Duration::new(1_763_421_645, 434_785_000))
    );
    assert_eq!(
        t("2025-11-17T23:20:45.434785Z"),
        t("2025-11-17T15:20:45.434785-08:00")
    );
    assert_eq!(
        t("2000-02-29T12:00:00+05:30"),
        Some(Duration::from_secs(951_805_800))
    );
    let now = std::time::SystemTime::now();
    let round = parse_rfc3339(&fs_core::filesystem::format_time(Some(now)));
    assert_eq!(round, Some(now));
    for bad in [
        "0001-01-01T00:00:00Z",
        "2025-13-01T00:00:00Z",
        "yesterday",
        "2025-01-01T00:00:00",
        "2025-01-01T00:00:00.Z",
    ] {
        assert_eq!(parse_rfc3339(bad), None, "{bad}");
    }
}

#[test]
fn file_info_reads_pfs_and_agfs_shapes() {
    let agfs = json!({
        "name": "d", "size": 0, "mode": 2147484141u64, "modTime": "2025-11-17T15:20:45.1-08:00",
        "isDir": true, "meta": {"Name": "localfs", "Type": "local", "Content": {"n": 3, "p": "/x"}}
    });
    let info = wire::file_info(agfs).unwrap();
    assert_eq!(
        (info.name.as_str(), info.mode, info.is_dir),
        ("d", 0o755, true)
    );
    assert!(info.mod_time.is_some());
    let content = info.meta.content.unwrap();
    assert_eq!((content["n"].as_str(), content["p"].as_str()), ("3", "/x"));
    let bare = wire::file_info(json!({"name": "f", "size": 5, "mode": 420, "modTime": "0001-01-01T00:00:00Z", "isDir": false, "meta": {"Name": "", "Type": "", "Content": null}})).unwrap();
    assert_eq!((bare.size, bare.mode, bare.mod_time), (5, 0o644, None));
    assert!(wire::listing(json!({"files": null})).unwrap().is_empty());
    assert!(wire::listing(json!({"nope": []})).is_err());
    assert_eq!(
        wire::written(&json!({"message": "Written 7 bytes", "written": 7})),
        Some(7)
    );
    assert_eq!(
        wire::written(&json!({"message": "Written 12 bytes"})),
        Some(12)
    );
    assert_eq!(
        wire::error_message(br#"{"error":"stat: /x: not found"}"#),
        "stat: /x: not found"
    );
    assert_eq!(
        wire::error_message(b"404 page not found\n"),
        "404 page not found"
    );
    let (caps, flags) = wire::capabilities(
        &json!({"features": ["stream", "write_flags"], "capabilities": {"write": false, "truncate": true}}),
    );
    let caps = caps.unwrap();
    assert!(flags && !caps.write && caps.truncate && caps.live_stream);
    assert_eq!(
        wire::capabilities(&json!({"features": ["handlefs"]})),
        (None, false)
    );
}

#[test]
fn agfs_remotes_get_only_whole_file_writes() {
    assert!(plain_write(None, WriteFlags::NONE));
    assert!(plain_write(None, WriteFlags::CREATE | WriteFlags::TRUNCATE));
    assert!(!plain_write(Some(0), WriteFlags::NONE));
    assert!(!plain_write(None, WriteFlags::APPEND));
    assert!(!plain_write(
        None,
        WriteFlags::CREATE | WriteFlags::EXCLUSIVE
    ));
    // Without CREATE a missing file must fail, which AGFS would not do.
    assert!(!plain_write(None, WriteFlags::TRUNCATE));
}

#[tokio::test]
async fn closed_port_is_unavailable_naming_the_remote() {
    let base = closed_port();
    let fs = ProxyFs::new(&settings(&base, "5s")).unwrap();
    let e = fs.stat("/x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("remote {base}/api/v1 is unreachable")),
        "{e}"
    );
    let e = ProxyFsPlugin
        .initialize(mount_context("/p", json!({"base_url": base})))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    // A failed reload keeps the old client and says why.
    let e = fs
        .write("/reload", Bytes::from_static(b"1"), None, WriteFlags::NONE)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.to_string().contains("reload failed"), "{e}");
    assert_eq!(fs.reloads(), 0);
}

#[tokio::test]
async fn silent_remote_times_out_within_the_timeout() {
    let base = silent().await;
    let fs = ProxyFs::new(&settings(&base, "300ms")).unwrap();
    let started = Instant::now();
    let e = fs.read("/x", 0, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains(&base), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let e = ProxyFsPlugin
        .initialize(mount_context(
            "/p",
            json!({"base_url": base, "timeout": "300ms"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
}

#[tokio::test]
async fn stalled_body_times_out() {
    // Small: collected whole, the stall surfaces from the read itself.
    let fs = ProxyFs::new(&settings(&stalling(1000).await, "300ms")).unwrap();
    assert_kind(fs.read("/f", 0, None).await, ErrorKind::Timeout);
    // Large: streamed with the promised length; the first bytes arrive, then the stall ends it.
    let fs = ProxyFs::new(&settings(&stalling(10 << 20).await, "300ms")).unwrap();
    let content = fs.read_content("/f", 0, None).await.unwrap();
    let ContentBody::Stream { len, mut stream } = content.body else {
        panic!("a 10 MiB answer must stream");
    };
    assert_eq!(len, Some(10 << 20));
    assert_eq!(stream.next().await.unwrap().unwrap(), "0123456789");
    let e = stream.next().await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn upload_failures_are_reported_as_ours() {
    let fs = ProxyFs::new(&settings(&sink().await, "5s")).unwrap();
    let big: ByteStream = Box::pin(stream::iter(vec![Ok(Bytes::from(vec![b'x'; 64]))]));
    assert_kind(
        fs.write_stream("/f", big, 10, None, WriteFlags::NONE).await,
        ErrorKind::PayloadTooLarge,
    );
    let broken: ByteStream = Box::pin(stream::iter(vec![
        Ok(Bytes::from_static(b"partial")),
        Err(Error::internal("client went away")),
    ]));
    let e = fs
        .write_stream("/f", broken, 1 << 20, None, WriteFlags::NONE)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("client went away"), "{e}");
}

#[tokio::test]
async fn reload_file_is_local() {
    let fs = ProxyFs::new(&settings(&closed_port(), "5s")).unwrap();
    let info = fs.stat("/reload").await.unwrap();
    assert_eq!(
        (info.mode, info.is_dir, info.meta.kind.as_str()),
        (0o200, false, "control")
    );
    let text = fs.read("/reload", 0, None).await.unwrap();
    assert!(
        text.starts_with(b"Write to this file to reload"),
        "{text:?}"
    );
    assert_kind(fs.remove("/reload").await, ErrorKind::PermissionDenied);
    assert_kind(
        fs.rename("/a", "/reload").await,
        ErrorKind::PermissionDenied,
    );
    assert_kind(fs.create("/reload").await, ErrorKind::AlreadyExists);
    fs.truncate("/reload", 0).await.unwrap();
}

mod reconfigure;
