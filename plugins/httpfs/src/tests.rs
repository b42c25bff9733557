//! httpfs: memfs and httpfs mounted on a router, the listener driven over a real TCP socket
//! (listing, escaping, README, Range, HEAD, types, streaming, containment, errors), the status file
//! and the shared conformance cases; the listener's life (start, unmount, config changes) is in
//! `tests/lifecycle.rs`. The config checks are in `lib.rs`, the `Range` parser's in `serve.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::conformance::{Fixture, assert_kind};
use fs_core::policy::MountPolicy;
use fs_core::{
    Content, ContentBody, ErrorKind, FileInfo, FileSystem, MountableFs, PluginRegistry, ReadOnlyFs,
    ReadOnlySource, Result, ServerInfo, WriteFlags,
};
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{HttpFs, HttpFsConfig, HttpFsPlugin};
use pfs_memfs::MemFsPlugin;

/// The longest any single network step of a test may take.
const STEP: Duration = Duration::from_secs(10);

fn router() -> (Arc<MountableFs>, PluginRegistry) {
    let registry = PluginRegistry::new();
    registry.register(Arc::new(MemFsPlugin)).unwrap();
    registry.register(Arc::new(HttpFsPlugin)).unwrap();
    let fs = MountableFs::new(ServerInfo {
        version: "test".into(),
        started: SystemTime::now(),
        data_dir: None,
    });
    (fs, registry)
}

async fn put(fs: &MountableFs, path: &str, data: &[u8]) {
    fs.write(path, Bytes::copy_from_slice(data), None, WriteFlags::NONE)
        .await
        .unwrap_or_else(|e| panic!("write {path}: {e}"));
}

const HELLO: &[u8] = b"Hello, httpfs!\n";
const ODD: &str = "a & b <i>.txt";
const PERCENT: &str = "100% \u{fc}.txt";

/// memfs at /memfs with `/memfs/www` (published) and `/memfs/secret.txt` (not published).
async fn tree() -> (Arc<MountableFs>, PluginRegistry) {
    let (fs, registry) = router();
    fs.mount_plugin(&registry, "memfs", "/memfs", None, json!({}))
        .await
        .unwrap();
    for d in ["/memfs/www", "/memfs/www/zeta", "/memfs/www/alpha"] {
        fs.mkdir(d, 0o755).await.unwrap();
    }
    put(&fs, "/memfs/secret.txt", b"top secret").await;
    put(&fs, "/memfs/www/hello.txt", HELLO).await;
    put(
        &fs,
        "/memfs/www/README.md",
        b"# Welcome\n\nA <site> & more.\n",
    )
    .await;
    put(&fs, "/memfs/www/page.html", b"<p>hi</p>").await;
    put(&fs, "/memfs/www/data.bin", &[0u8; 3000]).await;
    put(&fs, &format!("/memfs/www/{ODD}"), b"odd").await;
    put(&fs, &format!("/memfs/www/{PERCENT}"), b"percent").await;
    put(&fs, "/memfs/www/alpha/inner.txt", b"inner").await;
    (fs, registry)
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Mounts httpfs at `path` publishing `source` on a free loopback port, and returns the port. A
/// port grabbed by someone else between the probe and the bind is retried with another one.
async fn publish(
    fs: &Arc<MountableFs>,
    registry: &PluginRegistry,
    path: &str,
    source: &str,
) -> u16 {
    for _ in 0..5 {
        let port = free_port();
        let config = json!({"agfs_path": source, "port": port});
        match fs
            .mount_plugin(registry, "httpfs", path, None, config)
            .await
        {
            Ok(()) => return port,
            Err(e) if e.to_string().contains("address already in use") => {}
            Err(e) => panic!("mount httpfs: {e}"),
        }
    }
    panic!("no free port after 5 attempts");
}

async fn www() -> (Arc<MountableFs>, PluginRegistry, u16) {
    let (fs, registry) = tree().await;
    let port = publish(&fs, &registry, "/web", "/memfs/www").await;
    (fs, registry, port)
}

/// An HTTP/1.1 answer read off the socket.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn parse_head(raw: &[u8]) -> (u16, Vec<(String, String)>, usize) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    (status, headers, end + 4)
}

/// Sends one request with `Connection: close` and reads the whole answer.
async fn request(port: u16, method: &str, target: &str, extra: &[(&str, &str)]) -> Resp {
    let io = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.set_nodelay(true).unwrap();
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
        for (k, v) in extra {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        raw
    };
    let raw = tokio::time::timeout(STEP, io)
        .await
        .expect("answer in time");
    let (status, headers, at) = parse_head(&raw);
    Resp {
        status,
        headers,
        body: raw[at..].to_vec(),
    }
}

async fn get(port: u16, target: &str) -> Resp {
    request(port, "GET", target, &[]).await
}

/// The `href` values of a page, in order.
fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect()
}

#[tokio::test]
async fn listing_puts_directories_first_then_files_by_name() {
    let (_fs, _r, port) = www().await;
    let r = get(port, "/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let links = hrefs(&r.text());
    assert_eq!(
        links,
        [
            "/alpha/",
            "/zeta/",
            "/100%25%20%C3%BC.txt",
            "/README.md",
            "/a%20%26%20b%20%3Ci%3E.txt",
            "/data.bin",
            "/hello.txt",
            "/page.html",
        ],
        "{}",
        r.text()
    );
    assert!(r.text().contains("<h1>Index of /</h1>"), "{}", r.text());
    assert!(
        r.text().contains("title=\"3000 bytes\">2.9 KiB<"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn listing_escapes_names_and_links_round_trip() {
    let (_fs, _r, port) = www().await;
    let page = get(port, "/").await.text();
    assert!(page.contains(">a &amp; b &lt;i&gt;.txt<"), "{page}");
    assert!(!page.contains("<i>"), "a name became markup: {page}");
    for (link, body) in [
        ("/a%20%26%20b%20%3Ci%3E.txt", "odd"),
        ("/100%25%20%C3%BC.txt", "percent"),
    ] {
        let r = get(port, link).await;
        assert_eq!((r.status, r.text().as_str()), (200, body), "{link}");
    }
}

#[tokio::test]
async fn listing_shows_the_readme_inline_and_serves_it_as_text() {
    let (_fs, _r, port) = www().await;
    let page = get(port, "/").await.text();
    let section = &page[page
        .find("<section class=\"readme\"")
        .expect("a README section")..];
    assert!(section.contains("<h2>README.md</h2>"), "{section}");
    assert!(
        section.contains("# Welcome\n\nA &lt;site&gt; &amp; more."),
        "{section}"
    );
    let r = get(port, "/README.md").await;
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let sub = get(port, "/alpha/").await.text();
    assert!(
        !sub.contains("class=\"readme\""),
        "no README in /alpha: {sub}"
    );
}

#[tokio::test]
async fn subdirectory_lists_with_a_parent_link_with_or_without_slash() {
    let (_fs, _r, port) = www().await;
    for target in ["/alpha", "/alpha/", "/alpha//"] {
        let r = get(port, target).await;
        assert_eq!(r.status, 200, "{target}");
        assert_eq!(hrefs(&r.text())[..2], ["/", "/alpha/inner.txt"], "{target}");
        assert!(r.text().contains("Index of /alpha/"), "{target}");
    }
}

#[tokio::test]
async fn file_has_type_length_last_modified_and_content() {
    let (_fs, _r, port) = www().await;
    let before = SystemTime::now() - Duration::from_secs(120);
    let r = get(port, "/hello.txt").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, HELLO);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("content-length"), Some("15"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let modified = httpdate::parse_http_date(r.header("last-modified").expect("Last-Modified"))
        .expect("an HTTP date");
    assert!(
        modified > before && modified <= SystemTime::now(),
        "{modified:?}"
    );
    for (target, ctype) in [
        ("/page.html", "text/html; charset=utf-8"),
        ("/data.bin", "application/octet-stream"),
    ] {
        assert_eq!(get(port, target).await.header("content-type"), Some(ctype));
    }
}

#[tokio::test]
async fn ranges_answer_206_with_content_range() {
    let (_fs, _r, port) = www().await;
    for (range, body, content_range) in [
        ("bytes=0-4", "Hello", "bytes 0-4/15"),
        ("bytes=7-", "httpfs!\n", "bytes 7-14/15"),
        ("bytes=-7", "ttpfs!\n", "bytes 8-14/15"),
        ("bytes=10-100", "pfs!\n", "bytes 10-14/15"),
    ] {
        let r = request(port, "GET", "/hello.txt", &[("Range", range)]).await;
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.text(), body, "{range}");
        assert_eq!(r.header("content-range"), Some(content_range), "{range}");
        assert_eq!(r.header("content-length"), Some(&*body.len().to_string()));
    }
    for ignored in ["bytes=5-2", "bytes=0-1,3-4", "items=0-1", "bytes=x-"] {
        let r = request(port, "GET", "/hello.txt", &[("Range", ignored)]).await;
        assert_eq!((r.status, r.body.as_slice()), (200, HELLO), "{ignored}");
    }
}

#[tokio::test]
async fn unsatisfiable_range_is_416() {
    let (_fs, _r, port) = www().await;
    for range in ["bytes=15-", "bytes=20-30", "bytes=-0"] {
        let r = request(port, "GET", "/hello.txt", &[("Range", range)]).await;
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */15"), "{range}");
    }
}

/// A read-only tree with one file, `/big`, whose stream yields a first chunk and then waits for
/// `gate` before the second; it counts reads.
#[derive(Debug, Default)]
struct GatedFs {
    reads: Arc<AtomicUsize>,
    gate: Arc<tokio::sync::Notify>,
}

const CHUNK: usize = 64 * 1024;

#[async_trait]
impl ReadOnlySource for GatedFs {
    async fn stat(&self, path: &str) -> Result<FileInfo> {
        match path {
            "/" => Ok(FileInfo::dir("/", 0o755, None)),
            "/big" => Ok(FileInfo::file("big", 2 * CHUNK as u64, 0o644, None)),
            _ => Err(fs_core::Error::not_found(path)),
        }
    }
    async fn read_dir(&self, _: &str) -> Result<Vec<FileInfo>> {
        Ok(vec![self.stat("/big").await?])
    }
    async fn read(&self, path: &str, _: u64, _: Option<u64>) -> Result<Bytes> {
        Err(fs_core::Error::unsupported("read").with_path(path))
    }
    async fn read_content(&self, path: &str, _: u64, _: Option<u64>) -> Result<Content> {
        self.stat(path).await?;
        self.reads.fetch_add(1, Ordering::SeqCst);
        let gate = self.gate.clone();
        let first = futures_util::stream::once(async { Ok(Bytes::from(vec![b'a'; CHUNK])) });
        let second = futures_util::stream::once(async move {
            gate.notified().await;
            Ok(Bytes::from(vec![b'b'; CHUNK]))
        });
        Ok(Content {
            body: ContentBody::Stream {
                len: Some(2 * CHUNK as u64),
                stream: Box::pin(first.chain(second)),
            },
            modified: None,
            etag: Some("v1".into()),
        })
    }
}

async fn gated() -> (
    Arc<MountableFs>,
    PluginRegistry,
    u16,
    Arc<AtomicUsize>,
    Arc<tokio::sync::Notify>,
) {
    let (fs, registry) = router();
    let gated = GatedFs::default();
    let (reads, gate) = (gated.reads.clone(), gated.gate.clone());
    fs.mount(
        "/gated",
        "gated",
        None,
        json!({}),
        Arc::new(ReadOnlyFs(gated)),
    )
    .await
    .unwrap();
    let port = publish(&fs, &registry, "/web", "/gated").await;
    (fs, registry, port, reads, gate)
}

#[tokio::test]
async fn files_stream_the_first_bytes_arrive_before_the_plugin_finishes() {
    let (_fs, _r, port, reads, gate) = gated().await;
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    // The second chunk exists only after the gate opens: a server that buffered whole files
    // would send nothing, and this read would time out.
    let mut raw = Vec::new();
    let mut buf = vec![0; 16 * 1024];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") || !raw.ends_with(b"a") {
        let n = tokio::time::timeout(STEP, s.read(&mut buf))
            .await
            .expect("the first chunk arrives while the stream is still open")
            .unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&buf[..n]);
    }
    gate.notify_one();
    tokio::time::timeout(STEP, s.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let (status, headers, at) = parse_head(&raw);
    assert_eq!(status, 200);
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    assert_eq!(len.map(|(_, v)| v.as_str()), Some("131072"));
    assert!(
        headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("etag") && v == "\"v1\"")
    );
    let body = &raw[at..];
    assert_eq!(body.len(), 2 * CHUNK);
    assert!(body[..CHUNK].iter().all(|b| *b == b'a') && body[CHUNK..].iter().all(|b| *b == b'b'));
    assert_eq!(reads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn head_answers_headers_without_body_and_without_reading() {
    let (_fs, _r, port, reads, _gate) = gated().await;
    let r = request(port, "HEAD", "/big", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("131072"));
    assert!(r.body.is_empty());
    let r = request(port, "HEAD", "/big", &[("Range", "bytes=10-19")]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-length"), Some("10"));
    assert_eq!(r.header("content-range"), Some("bytes 10-19/131072"));
    assert!(r.body.is_empty());
    let r = request(port, "HEAD", "/", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_ne!(
        r.header("content-length"),
        Some("0"),
        "HEAD of a listing keeps its length"
    );
    assert_eq!(reads.load(Ordering::SeqCst), 0, "HEAD must not read");
}

#[tokio::test]
async fn dot_dot_never_leaves_the_published_path() {
    let (_fs, _r, port) = www().await;
    for target in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/alpha/../../secret.txt",
        "/..%2fsecret.txt",
    ] {
        let r = get(port, target).await;
        assert_eq!(r.status, 404, "{target}: {}", r.text());
        assert!(!r.text().contains("top secret"), "{target}");
    }
    let r = get(port, "/alpha/../hello.txt").await;
    assert_eq!((r.status, r.body.as_slice()), (200, HELLO));
}

#[tokio::test]
async fn missing_is_a_404_page_and_other_methods_are_405() {
    let (_fs, _r, port) = www().await;
    let r = get(port, "/nope/%3Cx%3E").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.text().contains("404 Not Found"), "{}", r.text());
    assert!(r.text().contains("/nope/&lt;x&gt;"), "{}", r.text());
    assert_eq!(get(port, "/hello.txt/x").await.status, 404);
    let r = request(port, "PUT", "/hello.txt", &[("Content-Length", "0")]).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
}

#[tokio::test]
async fn a_published_file_is_served_at_the_root() {
    let (fs, registry) = tree().await;
    let port = publish(&fs, &registry, "/one", "/memfs/www/hello.txt").await;
    let r = get(port, "/").await;
    assert_eq!((r.status, r.body.as_slice()), (200, HELLO));
}

#[tokio::test]
async fn status_file_tells_what_is_published_where() {
    let (fs, _r, port) = www().await;
    let text = String::from_utf8(fs.read("/web", 0, None).await.unwrap().to_vec()).unwrap();
    for line in [
        "HTTPFS Instance Status".to_string(),
        "Virtual Path:    /web".into(),
        "PFS Source Path: /memfs/www".into(),
        "HTTP Host:       127.0.0.1".into(),
        format!("HTTP Port:       {port}"),
        format!("HTTP Endpoint:   http://127.0.0.1:{port}/"),
        "Server Status:   Running".into(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing from:\n{text}"
        );
    }
    let info = fs.stat("/web").await.unwrap();
    assert!(!info.is_dir);
    assert_eq!(
        (info.name.as_str(), info.mode, info.size),
        ("web", 0o444, text.len() as u64)
    );
    let content = info.meta.content.unwrap();
    assert_eq!(content["url"], format!("http://127.0.0.1:{port}/"));
    assert_kind(fs.read_dir("/web").await, ErrorKind::NotADirectory);
    assert_kind(fs.stat("/web/x").await, ErrorKind::NotFound);
    let dir = fs.read_dir("/").await.unwrap();
    assert!(dir.iter().any(|e| e.name == "web"), "{dir:?}");
}

#[tokio::test]
async fn httpfs_refuses_every_mutation() {
    let (fs, _r, _port) = www().await;
    let mount = fs.mount_at("/web").unwrap();
    let fixture = Fixture::read_only(mount.fs.clone(), None);
    fs_core::conformance::caps::unsupported_ops_answer_unsupported(fixture).await;
    assert_kind(
        fs.write("/web", Bytes::new(), None, WriteFlags::NONE).await,
        ErrorKind::Unsupported,
    );
}

/// The shared cases that apply to a mount whose root is its status file: reads at every offset
/// (extreme ones included) and the capability contract. The directory cases do not apply.
mod conformance {
    use super::*;

    async fn fixture() -> Fixture {
        let (fs, _registry, _port) = www().await;
        let mount = fs.mount_at("/web").unwrap();
        let status = mount.fs.read("/", 0, None).await.unwrap();
        // httpfs reaches the tree through a weak reference: the router must outlive the case.
        std::mem::forget(fs);
        Fixture::read_only(mount.fs.clone(), Some(("/", &status)))
    }

    fs_core::conformance_tests!(@cases required, fixture;
        files::existing_file_reads,
        extremes::reads_at_extreme_offsets_are_empty_or_exact,
        caps::unsupported_ops_answer_unsupported,
    );
}

mod lifecycle;
