//! httpfs through the server: mounted with `POST /api/v1/mount`, its listing opened in headless
//! Chromium (`--dump-dom`, `--screenshot`), its status file read through `/files`, mount errors
//! mapped to statuses, and the port free again after `POST /api/v1/unmount`.

mod common;

use std::path::{Path, PathBuf};

use axum::Router;
use bytes::Bytes;
use common::browser::{WINDOW, browse, chromium};
use common::{post_json, send, send_json};
use fs_core::{FileSystem, WriteFlags};
use pfs_server::AppState;

const README: &str = "# Team share\n\nDrafts live in docs/, pictures in photos/.\nEverything here is \
published by httpfs from the pfs path /memfs/site.\n";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

async fn put(state: &AppState, path: &str, data: &[u8]) {
    state
        .fs
        .write(path, Bytes::copy_from_slice(data), None, WriteFlags::NONE)
        .await
        .unwrap_or_else(|e| panic!("write {path}: {e}"));
}

/// memfs with `/memfs/site`: two directories and a handful of files, one with markup in its name.
async fn site() -> (Router, AppState) {
    let (app, state) = common::app_with("plugins:\n  memfs: {path: /memfs}\n").await;
    for d in ["/memfs/site", "/memfs/site/docs", "/memfs/site/photos"] {
        state.fs.mkdir(d, 0o755).await.unwrap();
    }
    put(&state, "/memfs/site/README.md", README.as_bytes()).await;
    put(&state, "/memfs/site/report-2025.pdf", &vec![b'%'; 48_213]).await;
    put(&state, "/memfs/site/notes & ideas.txt", b"ship it\n").await;
    put(&state, "/memfs/site/data.csv", b"id,name\n1,pfs\n").await;
    put(
        &state,
        "/memfs/site/\u{dc}nicode & <tags>.txt",
        b"escaped\n",
    )
    .await;
    put(&state, "/memfs/site/docs/plan.md", b"plan\n").await;
    (app, state)
}

/// Mounts httpfs at `/httpfs-site` through the API (with the seed README's key names) on a free
/// port and returns the port; a port taken between the probe and the bind is retried.
async fn mount_site(app: &Router) -> u16 {
    for _ in 0..5 {
        let port = free_port();
        let body = format!(
            r#"{{"fstype": "httpfs", "path": "/httpfs-site", "config": {{"pfs_path": "/memfs/site", "http_port": "{port}"}}}}"#
        );
        let (status, v) = send_json(app, post_json("/api/v1/mount", &body)).await;
        match status.as_u16() {
            200 => return port,
            409 if v["error"]
                .as_str()
                .unwrap()
                .contains("address already in use") => {}
            s => panic!("mount httpfs: {s} {v}"),
        }
    }
    panic!("no free port after 5 attempts");
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert_eq!(&png[12..16], b"IHDR", "no IHDR chunk first");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

fn docs_screenshot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/httpfs-listing.png")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_renders_in_headless_chromium() {
    let Some(bin) = chromium() else { return };
    let (app, _state) = site().await;
    let port = mount_site(&app).await;
    let url = format!("http://127.0.0.1:{port}/");

    let dom = browse(bin, url.clone(), vec!["--dump-dom".into()]).await;
    let dom = String::from_utf8(dom.stdout).expect("a UTF-8 DOM");
    assert!(dom.contains("<title>Index of /</title>"), "{dom}");
    // Directories first, then files by name; every name as text, markup in names escaped.
    let order = [
        ">docs/</a>",
        ">photos/</a>",
        ">README.md</a>",
        ">data.csv</a>",
        ">notes &amp; ideas.txt</a>",
        ">report-2025.pdf</a>",
        ">\u{dc}nicode &amp; &lt;tags&gt;.txt</a>",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|s| {
            dom.find(s)
                .unwrap_or_else(|| panic!("{s} not rendered:\n{dom}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "order {at:?}:\n{dom}");
    assert!(!dom.contains("<tags>"), "a name became an element:\n{dom}");
    assert!(
        dom.contains("href=\"/%C3%9Cnicode%20%26%20%3Ctags%3E.txt\""),
        "{dom}"
    );
    assert!(dom.contains("title=\"48213 bytes\">47.1 KiB<"), "{dom}");
    let readme = &dom[dom.find("id=\"readme\"").expect("README section")..];
    assert!(readme.contains("# Team share"), "{readme}");
    assert!(
        readme.find("</table>").is_none(),
        "README must follow the listing"
    );

    let shots = tempfile::tempdir().unwrap();
    let png_path = shots.path().join("listing.png");
    browse(
        bin,
        url,
        vec![format!("--screenshot={}", png_path.display())],
    )
    .await;
    let png = std::fs::read(&png_path).expect("chromium wrote the screenshot");
    assert_eq!(png_size(&png), WINDOW);
    // A blank page of this size compresses to a few KiB; text, rules and links take far more.
    assert!(
        png.len() > 15_000,
        "screenshot looks empty: {} bytes",
        png.len()
    );
    if std::env::var_os("PFS_UPDATE_SCREENSHOT").is_some() {
        std::fs::write(docs_screenshot(), &png).unwrap();
    }
}

#[tokio::test]
async fn status_file_errors_and_unmount_through_the_api() {
    let (app, _state) = site().await;
    let port = mount_site(&app).await;

    let (status, body) = send(&app, common::get("/api/v1/files?path=/httpfs-site")).await;
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("PFS Source Path: /memfs/site\n"), "{text}");
    assert!(
        text.contains(&format!("HTTP Endpoint:   http://127.0.0.1:{port}/\n")),
        "{text}"
    );
    let (status, v) = send_json(&app, common::get("/api/v1/stat?path=/httpfs-site")).await;
    assert_eq!(
        (status.as_u16(), &v["isDir"], &v["meta"]["Type"]),
        (200, &false.into(), &"status".into())
    );

    // The same port again: 409 naming the address; a bad key: 400 naming the allowed ones.
    let clash = format!(
        r#"{{"fstype": "httpfs", "path": "/again", "config": {{"agfs_path": "/memfs", "port": {port}}}}}"#
    );
    common::assert_error(
        send_json(&app, post_json("/api/v1/mount", &clash)).await,
        409,
        &format!("httpfs: cannot listen on 127.0.0.1:{port}: address already in use"),
    );
    let typo =
        r#"{"fstype": "httpfs", "path": "/again", "config": {"agfs_path": "/memfs", "prot": 1}}"#;
    common::assert_error(
        send_json(&app, post_json("/api/v1/mount", typo)).await,
        400,
        "unknown configuration parameter(s) 'prot'",
    );

    let (status, v) = send_json(
        &app,
        post_json("/api/v1/unmount", r#"{"path": "/httpfs-site"}"#),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "port {port} still accepts connections after unmount"
    );
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "port {port} not free"
    );
}

/// A mount made through the API cannot publish a tree beyond loopback unless the operator allows
/// it (`server.api_mount_listen`); the same mount in the config file is the operator's own.
#[tokio::test]
async fn api_mounts_listen_only_where_the_config_allows() {
    let mount = |host: &str, port: u16| {
        format!(
            r#"{{"fstype": "httpfs", "path": "/pub", "config": {{"pfs_path": "/memfs", "host": "{host}", "port": {port}}}}}"#
        )
    };
    let (app, state) = common::app_with("plugins:\n  memfs: {path: /memfs}\n").await;
    for host in ["0.0.0.0", "::"] {
        let port = free_port();
        let (status, v) = send_json(&app, post_json("/api/v1/mount", &mount(host, port))).await;
        assert_eq!(status.as_u16(), 403, "{host}: {v}");
        let e = v["error"].as_str().unwrap();
        assert!(e.contains("server.api_mount_listen"), "{e}");
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "a refused mount left its listener on {port}"
        );
        assert!(state.fs.mount_at("/pub").is_none());
    }
    let port = free_port();
    let (status, v) = send_json(&app, post_json("/api/v1/mount", &mount("127.0.0.1", port))).await;
    assert_eq!(status.as_u16(), 200, "{v}");

    let (app, _) =
        common::app_with("server: {api_mount_listen: ['*']}\nplugins:\n  memfs: {path: /memfs}\n")
            .await;
    let (status, v) = send_json(
        &app,
        post_json("/api/v1/mount", &mount("0.0.0.0", free_port())),
    )
    .await;
    assert_eq!(status.as_u16(), 200, "{v}");

    let port = free_port();
    let yaml = format!(
        "plugins:\n  memfs: {{path: /memfs}}\n  httpfs: {{path: /pub, config: {{pfs_path: /memfs, host: 0.0.0.0, port: {port}}}}}\n"
    );
    let (_app, state) = common::app_with(&yaml).await;
    assert!(
        state.fs.mount_at("/pub").is_some(),
        "a config mount is the operator's own"
    );

    let e = pfs_server::Config::parse("server: {api_mount_listen: [somewhere]}\n").unwrap_err();
    assert!(e.to_string().contains("api_mount_listen"), "{e}");
}
