//! Who may call what, against a real socket: every line of the permission table with no token,
//! each role and a wrong token (a refusal changes nothing); every route the app registers is in
//! the table; protected mode refuses a client that is not on this machine (a real non-loopback
//! address of this host) and says how to fix it; a reload revokes a token at once.

mod common;

use std::net::{IpAddr, SocketAddr};

use axum::http::Method;
use fs_core::FileSystem;
use pfs_server::auth::routes::{HANDLE_OPEN, Methods, Need, TABLE};
use pfs_server::auth::{Role, TokenDigest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const READER: &str = "reader-token-0123456789";
const WRITER: &str = "writer-token-0123456789";
const ADMIN: &str = "admin-token-0123456789ab";

fn secured() -> String {
    format!(
        "server:
  auth:
    tokens:
      - {{name: reader, role: read, token: {READER}}}
      - {{name: writer, role: write, token_sha256: '{}'}}
      - {{name: admin, role: admin, token: {ADMIN}}}
plugins:
  memfs: {{path: /memfs}}
",
        TokenDigest::of(WRITER.as_bytes()).hex()
    )
}

/// One HTTP/1.1 request on a fresh connection: status and body.
async fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// A concrete request target for a table line: `{x}` segments filled, `path` pointing at `file`
/// (and a handle open asking to write, which is what its line is about).
fn target(template: &str, file: &str) -> String {
    let filled = template.replace("{id}", "1").replace("{op}", "zzz");
    let flags = if template == HANDLE_OPEN {
        "&flags=2"
    } else {
        ""
    };
    format!("{filled}?path={file}{flags}")
}

fn methods(m: Methods) -> Vec<&'static str> {
    match m {
        Methods::Any | Methods::Get => vec!["GET"],
        Methods::Put => vec!["PUT"],
        Methods::Post => vec!["POST"],
        Methods::Delete => vec!["DELETE"],
    }
}

/// A server on the config file `yaml` (a reload re-reads it) on a loopback port.
async fn serve_file(yaml: &str) -> (SocketAddr, pfs_server::AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pfs.yaml");
    std::fs::write(&file, yaml).unwrap();
    let state = pfs_server::AppState::new(pfs_server::Config::parse(yaml).unwrap());
    state.set_config_source(Some(file));
    pfs_server::start_mounts(&state)
        .await
        .unwrap()
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(pfs_server::run(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    (addr, state, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_asks_for_its_role_and_a_refusal_changes_nothing() {
    // Served from a file, so the sweep's allowed reload re-reads the same config.
    let (addr, _state, _dir) = serve_file(&secured()).await;
    let (s, _) = http(
        addr,
        "PUT",
        "/api/v1/files?path=/memfs/sentinel",
        Some(WRITER),
        "original",
    )
    .await;
    assert_eq!(s, 200);
    let callers = [
        (None, None),
        (Some("wrong-token-0123456789"), None),
        (Some(READER), Some(Role::Read)),
        (Some(WRITER), Some(Role::Write)),
        (Some(ADMIN), Some(Role::Admin)),
    ];
    let mut checked = 0;
    for &(template, ms, need) in TABLE {
        for method in methods(ms) {
            for (token, role) in callers {
                let allowed = match (need, role) {
                    (Need::Public, _) => true,
                    (Need::Role(_), None) => false,
                    (Need::Role(n), Some(r)) => r >= n,
                };
                // Refused calls aim at the sentinel (they must not touch it); allowed ones at a
                // path that does not exist (so they change nothing either).
                let file = if allowed {
                    "/memfs/absent"
                } else {
                    "/memfs/sentinel"
                };
                let (status, body) =
                    http(addr, method, &target(template, file), token, "changed").await;
                let what = format!("{method} {template} as {token:?}: {status} {body}");
                if allowed {
                    assert!(status != 401 && status != 403, "{what}");
                } else {
                    let want = if role.is_none() { 401 } else { 403 };
                    assert_eq!(status, want, "{what}");
                    assert!(body.starts_with("{\"error\":"), "{what}");
                    assert!(
                        !body.contains("sentinel"),
                        "a refusal names the path: {what}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= TABLE.len() * callers.len(), "{checked}");
    let (s, body) = http(
        addr,
        "GET",
        "/api/v1/files?path=/memfs/sentinel",
        Some(READER),
        "",
    )
    .await;
    assert_eq!((s, body.as_str()), (200, "original"));
    let (s, body) = http(
        addr,
        "GET",
        "/api/v1/directories?path=/memfs",
        Some(READER),
        "",
    )
    .await;
    assert_eq!(s, 200);
    // The allowed calls ran (a PUT made the absent file); the refused ones left the sentinel.
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names = common::listing_names(&v);
    assert!(
        names.contains(&"absent") && names.contains(&"sentinel"),
        "{names:?}"
    );
    // A handle opened read-only needs only read; for writing, write.
    let (s, _) = http(
        addr,
        "POST",
        &format!("{HANDLE_OPEN}?path=/memfs/sentinel&flags=0"),
        Some(READER),
        "",
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = http(
        addr,
        "POST",
        &format!("{HANDLE_OPEN}?path=/memfs/sentinel&flags=2"),
        Some(READER),
        "",
    )
    .await;
    assert_eq!(s, 403);
}

/// The route templates `app.rs` and the handle routes register, read from their source.
fn registered_routes() -> Vec<String> {
    let src = |f: &str| {
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(f)).unwrap()
    };
    let mut routes = Vec::new();
    for text in [src("src/app.rs"), src("src/routes/handles.rs")] {
        let mut rest = text.as_str();
        while let Some(i) = rest.find(".route(") {
            rest = rest[i + 7..].trim_start();
            let Some(quoted) = rest.strip_prefix('"') else {
                continue;
            };
            let end = quoted.find('"').unwrap();
            routes.push(quoted[..end].to_string());
            rest = &quoted[end..];
        }
    }
    assert!(routes.len() > 30, "{routes:?}");
    routes
}

#[tokio::test]
async fn every_registered_route_is_in_the_table() {
    let (app, _state) = common::app().await;
    let templates: Vec<&str> = TABLE.iter().map(|l| l.0).collect();
    let routes = registered_routes();
    for t in &templates {
        assert!(
            routes.iter().any(|r| r == t),
            "the table has {t}, the app does not"
        );
    }
    for route in &routes {
        let path = route.replace("{id}", "1").replace("{op}", "zzz");
        for method in [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::POST,
            Method::DELETE,
            Method::PATCH,
        ] {
            let req = axum::http::Request::builder()
                .method(method.clone())
                .uri(format!("{path}?path=/memfs/absent"))
                .body(axum::body::Body::empty())
                .unwrap();
            let (status, _, body) = common::send_full(&app, req).await;
            let text = String::from_utf8_lossy(&body);
            let served = status != 405 && !text.contains("no route for");
            let need = pfs_server::auth::need(&method, &path, Some("path=/memfs/absent"));
            assert!(
                !served || need.is_some(),
                "{method} {route} is served ({status}) but has no line in the permission table"
            );
        }
    }
}

/// An address of this host that is not loopback, found by asking the kernel which source
/// address it would use to reach a documentation address (a UDP connect sends nothing).
fn non_loopback_address() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.254:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_mode_refuses_other_machines_with_the_fix() {
    let Some(ip) = non_loopback_address() else {
        eprintln!("skipped: this machine has no non-loopback IPv4 address to connect from");
        return;
    };
    let state = pfs_server::AppState::new(
        pfs_server::Config::parse("plugins:\n  memfs: {path: /memfs}\n").unwrap(),
    );
    pfs_server::start_mounts(&state)
        .await
        .unwrap()
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(pfs_server::run(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    let remote = SocketAddr::new(ip, port);
    // The peer the server sees is `ip` itself: not loopback.
    let (s, body) = http(remote, "PUT", "/api/v1/files?path=/memfs/f", None, "x").await;
    assert_eq!(s, 403, "{body}");
    assert!(
        body.contains("protected mode") && body.contains("server.auth.tokens"),
        "{body}"
    );
    assert!(body.contains("protected_mode: false"), "{body}");
    let (s, _) = http(remote, "GET", "/api/v1/ready", None, "").await;
    assert_eq!(s, 200);
    let (s, _) = http(remote, "GET", "/api/v1/files?path=/memfs/f", None, "").await;
    assert_eq!(s, 403, "nothing was written: the read is refused, not 404");
    assert!(
        state.fs.stat("/memfs/f").await.is_err(),
        "the refused PUT wrote nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_revokes_a_token_at_once() {
    let (addr, _state, dir) = serve_file(&secured()).await;
    let file = dir.path().join("pfs.yaml");
    let (s, _) = http(addr, "GET", "/api/v1/mounts", Some(READER), "").await;
    assert_eq!(s, 200);
    // The reader's line removed: its token stops working with the reload's answer.
    std::fs::write(
        &file,
        secured().replace(
            &format!("      - {{name: reader, role: read, token: {READER}}}\n"),
            "",
        ),
    )
    .unwrap();
    let (s, body) = http(addr, "POST", "/api/v1/config/reload", Some(READER), "").await;
    assert_eq!(s, 403, "a reader may not reload: {body}");
    let (s, body) = http(addr, "POST", "/api/v1/config/reload", Some(ADMIN), "").await;
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["auth_changed"], true, "{v}");
    assert!(!v["restart_required"].to_string().contains("auth"), "{v}");
    let (s, _) = http(addr, "GET", "/api/v1/mounts", Some(READER), "").await;
    assert_eq!(s, 401);
    let (s, _) = http(addr, "GET", "/api/v1/mounts", Some(WRITER), "").await;
    assert_eq!(s, 200);
    // No token is ever shown back.
    let (s, body) = http(addr, "GET", "/api/v1/config", Some(ADMIN), "").await;
    assert_eq!(s, 200);
    assert!(
        !body.contains(ADMIN) && !body.contains(&TokenDigest::of(WRITER.as_bytes()).hex()),
        "{body}"
    );
}
