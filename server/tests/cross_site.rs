//! Web pages the operator did not allow, in headless Chromium: a page on another site cannot mount,
//! write or dequeue through the user's browser (each attack worked before the site guard), and a
//! DNS-rebound name cannot read answers. Non-browser clients keep working.

mod common;

use bytes::Bytes;
use common::browser::{browse, chromium};
use common::process::curl;
use fs_core::{FileSystem, WriteFlags};
use pfs_server::AppState;
use tokio::net::TcpListener;

/// A server with memfs and queuefs on a real socket; returns its state and port.
async fn pfs(server_section: &str) -> (AppState, u16) {
    let yaml = format!(
        "server: {{{server_section}}}\nplugins:\n  memfs: {{path: /memfs}}\n  queuefs: {{path: /queuefs}}\n"
    );
    let (addr, state) = common::serve(&yaml).await;
    (state, addr.port())
}

async fn put(state: &AppState, path: &str, data: &'static [u8]) {
    state
        .fs
        .write(path, Bytes::from_static(data), None, WriteFlags::NONE)
        .await
        .unwrap();
}

/// The attacker's page: it fires every request a page may send without a CORS preflight, then
/// marks itself done.
fn evil_page(api: &str) -> String {
    format!(
        r#"<!doctype html><html><body><p id="state">running</p><p id="leak"></p>
<img src="{api}/files?path=/queuefs/q/dequeue">
<script>
const api = "{api}";
const plain = {{"Content-Type": "text/plain"}};
Promise.allSettled([
  fetch(api + "/mount", {{method: "POST", mode: "no-cors", headers: plain,
                          body: JSON.stringify({{fstype: "memfs", path: "/evil"}})}}),
  fetch(api + "/write?path=/memfs/pwned", {{method: "POST", mode: "no-cors", headers: plain, body: "owned"}}),
  fetch(api + "/files?path=/queuefs/q/dequeue", {{mode: "no-cors"}}),
  fetch(api + "/files?path=/memfs/secret").then(r => r.text())
    .then(t => {{ document.getElementById("leak").textContent = t; }}),
]).then(() => {{ document.getElementById("state").textContent = "done"; }});
</script></body></html>"#
    )
}

/// Serves `page` at `/` on its own port (another origin, and with the name `localhost`, another
/// site than `127.0.0.1`).
async fn serve_page(page: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::response::Html(page) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

fn dom(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_site_cannot_mount_write_or_dequeue() {
    let Some(bin) = chromium() else { return };
    let (state, port) = pfs("").await;
    put(&state, "/memfs/secret", b"s3cret").await;
    put(&state, "/queuefs/q/enqueue", b"job").await;
    let api = format!("http://127.0.0.1:{port}/api/v1");
    let evil = serve_page(evil_page(&api)).await;
    let out = browse(
        bin,
        format!("http://localhost:{evil}/"),
        vec!["--dump-dom".into(), "--virtual-time-budget=10000".into()],
    )
    .await;
    let page = dom(&out);
    assert!(
        page.contains(r#"<p id="state">done</p>"#),
        "the page did not run: {page}"
    );
    assert!(!page.contains("s3cret"), "the page read the secret: {page}");
    assert!(
        state.fs.mount_at("/evil").is_none(),
        "a page on another site mounted /evil"
    );
    assert_eq!(
        state
            .fs
            .stat("/memfs/pwned")
            .await
            .map(|_| ())
            .unwrap_err()
            .kind(),
        fs_core::ErrorKind::NotFound,
        "a page on another site wrote a file"
    );
    let size = state.fs.read("/queuefs/q/size", 0, None).await.unwrap();
    assert_eq!(size, "1", "a page on another site dequeued the message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebound_name_gets_no_answer_and_an_allowed_one_does() {
    let Some(bin) = chromium() else { return };
    let (state, port) = pfs("allowed_hosts: [pfs.internal]").await;
    put(&state, "/memfs/secret", b"s3cret").await;
    // The browser resolves the attacker's name to this machine, as after a DNS rebinding.
    let resolve = "--host-resolver-rules=MAP rebind.test 127.0.0.1, MAP pfs.internal 127.0.0.1";
    let args = |url: String| (url, vec!["--dump-dom".to_string(), resolve.to_string()]);
    // JSON answers: a file's bytes would be a download, which headless Chromium waits on.
    let (url, extra) = args(format!(
        "http://rebind.test:{port}/api/v1/stat?path=/memfs/secret"
    ));
    let page = dom(&browse(bin, url, extra).await);
    assert!(
        !page.contains(r#""name":"secret""#),
        "a rebound name got an answer: {page}"
    );
    assert!(
        page.contains("rebind.test") && page.contains("allowed_hosts"),
        "{page}"
    );
    let (url, extra) = args(format!(
        "http://pfs.internal:{port}/api/v1/stat?path=/memfs/secret"
    ));
    let page = dom(&browse(bin, url, extra).await);
    assert!(
        page.contains(r#""name":"secret""#),
        "an allowed name was refused: {page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_that_are_not_browsers_are_unaffected() {
    let (_state, port) = pfs("").await;
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let out = curl(&[
        "-w",
        " %{http_code}",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"fstype": "memfs", "path": "/scratch"}"#,
        &format!("{base}/mount"),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        r#"{"message":"plugin mounted"} 200"#
    );
    let out = curl(&[
        "-w",
        " %{http_code}",
        "-H",
        "Host: evil.example",
        &format!("{base}/health"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.ends_with(" 403") && text.contains("allowed_hosts"),
        "{text}"
    );
    let out = curl(&[
        "-w",
        " %{http_code}",
        "-X",
        "POST",
        "-H",
        "Origin: http://evil.example",
        "-d",
        "x",
        &format!("{base}/write?path=/memfs/x"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.ends_with(" 403") && text.contains("allowed_origins"),
        "{text}"
    );
}
