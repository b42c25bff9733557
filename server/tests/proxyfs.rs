//! proxyfs end to end against real `pfs-server` processes: the conformance suite through a proxy,
//! a two-level chain A → B → C, remote statuses kept, a dead remote (503) and a frozen one (504),
//! 64 MiB byte-exact both ways, uploads that stream, a proxied live stream, and `reload`.
//! A is the in-process app; B and C are processes.

mod common;

use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Body;
use builtin_plugins::proxyfs::ProxyFsPlugin;
use bytes::Bytes;
use common::process::{self, Server, curl};
use common::{app_with, assert_error, get, post, post_json, put, send, send_json};
use fs_core::conformance::{Fixture, mount_context};
use fs_core::{
    ByteStream, Capabilities, Content, FileInfo, FileSystem, Result, ServicePlugin, WriteFlags,
};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

/// A `pfs-server` process on a loopback port with its config file, killed when dropped.
struct Pfs {
    server: Server,
    /// `http://127.0.0.1:<port>`.
    url: String,
    _dir: tempfile::TempDir,
}

impl Pfs {
    /// A server on `yaml`, on a port the kernel picks.
    fn start(yaml: &str) -> Pfs {
        Pfs::start_with(yaml, &[])
    }

    /// A server on `yaml` at `port` (to bring a stopped server back at its old address).
    fn start_on(port: u16, yaml: &str) -> Pfs {
        Pfs::start_with(yaml, &["--addr", &format!("127.0.0.1:{port}")])
    }

    fn start_with(yaml: &str, extra: &[&str]) -> Pfs {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, yaml).unwrap();
        let mut args = vec!["-c", config.to_str().unwrap()];
        args.extend_from_slice(extra);
        let server = process::start(&args);
        Pfs {
            url: server.base.clone(),
            server,
            _dir: dir,
        }
    }

    /// The API root as proxyfs names it.
    fn api(&self) -> String {
        format!("{}/api/v1", self.url)
    }

    /// `curl -s <args> <url>/api/v1/<rest>`: the body.
    fn curl(&self, args: &[&str], rest: &str) -> String {
        let url = format!("{}/api/v1/{rest}", self.url);
        let mut all = args.to_vec();
        all.push(&url);
        String::from_utf8(curl(&all).stdout).unwrap()
    }

    /// Stops every thread (SIGSTOP) and returns once they are stopped.
    fn freeze(&self) {
        self.server.freeze();
    }

    /// Lets a frozen server run again (SIGCONT).
    fn thaw(&self) {
        self.server.signal("-CONT");
    }
}

/// A proxy filesystem that keeps its remote process alive for as long as the case runs.
#[derive(Debug)]
struct KeepAlive {
    fs: Arc<dyn FileSystem>,
    _remote: Arc<PfsGuard>,
}

struct PfsGuard(Pfs);

impl std::fmt::Debug for PfsGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pfs({})", self.0.url)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl FileSystem for KeepAlive {
    fn capabilities(&self) -> Capabilities {
        self.fs.capabilities()
    }
    async fn stat(&self, p: &str) -> Result<FileInfo> {
        self.fs.stat(p).await
    }
    async fn read_dir(&self, p: &str) -> Result<Vec<FileInfo>> {
        self.fs.read_dir(p).await
    }
    async fn read(&self, p: &str, off: u64, size: Option<u64>) -> Result<Bytes> {
        self.fs.read(p, off, size).await
    }
    async fn read_content(&self, p: &str, off: u64, size: Option<u64>) -> Result<Content> {
        self.fs.read_content(p, off, size).await
    }
    async fn write(&self, p: &str, d: Bytes, off: Option<u64>, f: WriteFlags) -> Result<u64> {
        self.fs.write(p, d, off, f).await
    }
    async fn write_stream(
        &self,
        p: &str,
        d: ByteStream,
        limit: u64,
        off: Option<u64>,
        f: WriteFlags,
    ) -> Result<u64> {
        self.fs.write_stream(p, d, limit, off, f).await
    }
    async fn create(&self, p: &str) -> Result<()> {
        self.fs.create(p).await
    }
    async fn mkdir(&self, p: &str, mode: u32) -> Result<()> {
        self.fs.mkdir(p, mode).await
    }
    async fn remove(&self, p: &str) -> Result<()> {
        self.fs.remove(p).await
    }
    async fn remove_all(&self, p: &str) -> Result<()> {
        self.fs.remove_all(p).await
    }
    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.fs.rename(from, to).await
    }
    async fn chmod(&self, p: &str, mode: u32) -> Result<()> {
        self.fs.chmod(p, mode).await
    }
    async fn truncate(&self, p: &str, size: u64) -> Result<()> {
        self.fs.truncate(p, size).await
    }
    async fn touch(&self, p: &str) -> Result<()> {
        self.fs.touch(p).await
    }
    async fn open_stream(&self, p: &str) -> Result<ByteStream> {
        self.fs.open_stream(p).await
    }
    fn read_has_side_effects(&self, p: &str) -> bool {
        self.fs.read_has_side_effects(p)
    }
    async fn open_handle(
        self: Arc<Self>,
        p: &str,
        flags: fs_core::OpenFlags,
        mode: u32,
    ) -> Result<Box<dyn fs_core::FileHandle>> {
        self.fs.clone().open_handle(p, flags, mode).await
    }
    async fn reconfigure(
        &self,
        old: &serde_json::Value,
        new: &serde_json::Value,
    ) -> Result<fs_core::Reconfigured> {
        self.fs.reconfigure(old, new).await
    }
    async fn start(&self, background: &fs_core::Background) -> Result<()> {
        self.fs.start(background).await
    }
    fn health(&self) -> fs_core::Health {
        self.fs.health()
    }
    async fn shutdown(&self) -> Result<()> {
        self.fs.shutdown().await
    }
}

/// A proxy over `remote_path` of a fresh remote started with `yaml`, as the plugin mounts it.
async fn proxy_of(yaml: &str, remote_path: &str) -> (Arc<dyn FileSystem>, Arc<PfsGuard>) {
    let remote = Arc::new(PfsGuard(Pfs::start(yaml)));
    let config = json!({ "base_url": remote.0.api(), "remote_path": remote_path });
    let fs = ProxyFsPlugin
        .initialize(mount_context("/proxy", config))
        .await
        .expect("the proxy mounts");
    (fs, remote)
}

mod conformance {
    use super::*;

    async fn fixture() -> Fixture {
        let (fs, remote) = proxy_of("plugins:\n  memfs: {path: /memfs}\n", "/memfs").await;
        Fixture::writable(
            Arc::new(KeepAlive {
                fs,
                _remote: remote,
            }),
            "/",
        )
    }

    fs_core::conformance_tests!(fixture);
}

/// A's config: proxyfs at `/b` on `remote` (its whole tree).
fn a_config(remote: &Pfs, extra: &str) -> String {
    format!(
        "server: {{max_request_body_bytes: 134217728}}\nplugins:\n  memfs: {{path: /memfs}}\n  proxyfs: {{path: /b, config: {{base_url: \"{}\"{extra}}}}}\n",
        remote.url
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_a_b_c_carries_data_both_ways_and_errors_end_to_end() {
    let c = Pfs::start("plugins:\n  memfs: {path: /memfs}\n");
    let b = Pfs::start(&format!(
        "plugins:\n  proxyfs: {{path: /c, config: {{base_url: \"{}\", remote_path: /memfs}}}}\n",
        c.api()
    ));
    let (a, _) = app_with(&a_config(&b, "")).await;

    let (s, v) = send_json(
        &a,
        put("/api/v1/files?path=/b/c/from-a.txt", "written at A"),
    )
    .await;
    assert_eq!((s.as_u16(), &v["written"]), (200, &json!(12)), "{v}");
    assert_eq!(c.curl(&[], "files?path=/memfs/from-a.txt"), "written at A");

    c.curl(
        &["-X", "PUT", "--data-binary", "written at C"],
        "files?path=/memfs/from-c.txt",
    );
    let (s, body) = send(&a, get("/api/v1/files?path=/b/c/from-c.txt")).await;
    assert_eq!((s.as_u16(), &body[..]), (200, &b"written at C"[..]));

    let (_, v) = send_json(&a, get("/api/v1/directories?path=/b/c")).await;
    let names = common::listing_names(&v);
    assert_eq!(names, ["README", "from-a.txt", "from-c.txt", "reload"]);
    let (_, v) = send_json(&a, get("/api/v1/stat?path=/b/c/from-c.txt")).await;
    assert_eq!(
        (&v["size"], &v["meta"]["Content"]["remote-url"]),
        (&json!(12), &json!(b.api()))
    );

    // C's 404 reaches A as a 404 that names both hops.
    let got = send_json(&a, get("/api/v1/files?path=/b/c/missing")).await;
    assert_error(got.clone(), 404, "not found");
    let msg = got.1["error"].as_str().unwrap();
    assert!(
        msg.contains(&format!("remote {} answered 404", b.api())),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("remote {} answered 404", c.api())),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_statuses_are_kept_with_the_remote_named() {
    let b = Pfs::start(
        "server: {max_request_body_bytes: 1024}\nplugins:\n  memfs: {path: /memfs}\n  hellofs: {path: /hellofs}\n",
    );
    let (a, _) = app_with(&a_config(&b, "")).await;
    let from_b = format!("remote {} answered", b.api());

    assert_error(
        send_json(&a, get("/api/v1/stat?path=/b/memfs/nope")).await,
        404,
        &from_b,
    );
    let (s, _) = send(&a, post("/api/v1/directories?path=/b/memfs/d")).await;
    assert_eq!(s, 201);
    assert_error(
        send_json(&a, post("/api/v1/directories?path=/b/memfs/d")).await,
        409,
        "already exists",
    );
    send(&a, put("/api/v1/files?path=/b/memfs/d/x", "x")).await;
    assert_error(
        send_json(&a, common::delete("/api/v1/files?path=/b/memfs/d")).await,
        409,
        "directory not empty",
    );
    assert_error(
        send_json(&a, get("/api/v1/files?path=/b/memfs/d")).await,
        400,
        "is a directory",
    );
    assert_error(
        send_json(&a, get("/api/v1/directories?path=/b/memfs/d/x")).await,
        400,
        "not a directory",
    );
    assert_error(
        send_json(&a, put("/api/v1/files?path=/b/hellofs/hello", "bye")).await,
        501,
        &from_b,
    );
    assert_error(
        send_json(&a, post("/api/v1/files?path=/b/outside")).await,
        403,
        "permission denied",
    );
    let big = vec![b'x'; 2048];
    assert_error(
        send_json(&a, put("/api/v1/files?path=/b/memfs/big", big)).await,
        413,
        "maximum size of 1024 bytes",
    );
    assert_error(
        send_json(&a, get("/api/v1/stat?path=/b/memfs/big")).await,
        404,
        "not found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_remote_is_503_and_a_frozen_one_504() {
    let b = Pfs::start("plugins:\n  memfs: {path: /memfs}\n");
    let (a, _) = app_with(&a_config(&b, ", timeout: 500ms")).await;
    let (s, _) = send(&a, put("/api/v1/files?path=/b/memfs/x", "x")).await;
    assert_eq!(s, 200);

    // Frozen: the kernel still accepts, nothing answers.
    b.freeze();
    let started = Instant::now();
    let got = send_json(&a, get("/api/v1/files?path=/b/memfs/x")).await;
    b.thaw();
    assert_error(got, 504, &b.api());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let (s, body) = send(&a, get("/api/v1/files?path=/b/memfs/x")).await;
    assert_eq!(
        (s.as_u16(), &body[..]),
        (200, &b"x"[..]),
        "the remote answers again after SIGCONT"
    );

    let api = b.api();
    drop(b);
    let got = send_json(&a, get("/api/v1/files?path=/b/memfs/x")).await;
    assert_error(got, 503, &format!("remote {api} is unreachable"));

    // Mounting onto a dead remote fails the mount, at runtime and from the config.
    let body =
        json!({"fstype": "proxyfs", "path": "/late", "config": {"base_url": api}}).to_string();
    assert_error(
        send_json(&a, post_json("/api/v1/mount", &body)).await,
        503,
        &api,
    );
    let (dead, _) = app_with(&format!(
        "plugins:\n  proxyfs: {{path: /p, config: {{base_url: \"{api}\"}}}}\n"
    ))
    .await;
    let (s, _) = send(&dead, get("/api/v1/ready")).await;
    assert_eq!(s, 503);
    let (_, v) = send_json(&dead, get("/api/v1/mounts")).await;
    let p = v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == "/p")
        .unwrap()
        .clone();
    assert_eq!(p["status"], "failed");
    assert!(p["error"].as_str().unwrap().contains(&api), "{p}");
}

/// Chunk `i` of the big file: its index, then a pattern.
fn chunk(i: usize) -> Bytes {
    let mut v: Vec<u8> = (0..1usize << 20).map(|j| (j % 251) as u8).collect();
    v[..8].copy_from_slice(&(i as u64).to_be_bytes());
    Bytes::from(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mib_pass_byte_exact_both_ways() {
    const CHUNKS: usize = 64;
    let b = Pfs::start(
        "server: {max_request_body_bytes: 134217728}\nplugins:\n  memfs: {path: /memfs}\n",
    );
    let (a, _) = app_with(&a_config(&b, "")).await;
    let body = Body::from_stream(
        futures_util::stream::iter(0..CHUNKS).map(|i| Ok::<_, std::io::Error>(chunk(i))),
    );
    let (s, v) = send_json(&a, put("/api/v1/files?path=/b/memfs/big.bin", body)).await;
    assert_eq!(
        (s.as_u16(), &v["written"]),
        (200, &json!(CHUNKS << 20)),
        "{v}"
    );

    let resp = a
        .clone()
        .oneshot(get("/api/v1/files?path=/b/memfs/big.bin"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let len = resp.headers()["content-length"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        len,
        (CHUNKS << 20).to_string(),
        "the remote's length is passed on"
    );
    let data = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(data.len(), CHUNKS << 20);
    for i in 0..CHUNKS {
        assert!(
            data[i << 20..(i + 1) << 20] == chunk(i)[..],
            "chunk {i} differs"
        );
    }
}

/// The size of the newest `.pfs-tmp-*` file in `dir` (localfs's upload temporary).
fn temp_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".pfs-tmp"))
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_reach_the_remote_before_the_body_ends() {
    let data_dir = tempfile::tempdir().unwrap();
    let root: PathBuf = data_dir.path().to_path_buf();
    let yaml = format!(
        "plugins:\n  localfs: {{path: /local, config: {{local_dir: \"{}\"}}}}\n",
        root.display()
    );
    let (fs, _remote) = proxy_of(&yaml, "/local").await;
    let (release, wait) = tokio::sync::oneshot::channel::<()>();
    let head = futures_util::stream::iter((0..8).map(|i| Ok(chunk(i))));
    let tail = futures_util::stream::once(async move {
        wait.await.expect("released");
        Ok(chunk(8))
    });
    let body: ByteStream = Box::pin(head.chain(tail));
    let upload = tokio::spawn(async move {
        fs.write_stream("/up.bin", body, u64::MAX, None, WriteFlags::NONE)
            .await
    });
    // 4 MiB land on the remote's disk while the last chunk is still held back.
    let deadline = Instant::now() + Duration::from_secs(30);
    while temp_size(&root) < 4 << 20 {
        assert!(
            Instant::now() < deadline,
            "nothing streamed to the remote before the body ended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!upload.is_finished());
    release.send(()).unwrap();
    assert_eq!(upload.await.unwrap().unwrap(), 9 << 20);
    assert_eq!(
        std::fs::metadata(root.join("up.bin")).unwrap().len(),
        9 << 20
    );
}

/// Reads `body` into `seen` until it contains `needle` (bounded).
async fn read_until(body: &mut Body, seen: &mut String, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, body.frame())
            .await
            .unwrap_or_else(|_| panic!("{needle:?} not received; got {seen:?}"))
            .expect("stream ended early")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_true_follows_a_remote_live_stream() {
    let b = Pfs::start("plugins:\n  streamfs: {path: /streamfs}\n");
    let (a, _) = app_with(&a_config(&b, ", timeout: 500ms")).await;
    b.curl(
        &["-X", "PUT", "--data-binary", "first|"],
        "files?path=/streamfs/live",
    );
    let resp = a
        .clone()
        .oneshot(get("/api/v1/files?path=/b/streamfs/live&stream=true"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "first|").await;
    // Longer than the proxy's timeout: a live stream may be silent.
    let quiet = tokio::time::timeout(Duration::from_millis(800), body.frame()).await;
    assert!(quiet.is_err(), "the stream must stay open and silent");
    b.curl(
        &["-X", "PUT", "--data-binary", "second|"],
        "files?path=/streamfs/live",
    );
    read_until(&mut body, &mut seen, "second|").await;
    assert_eq!(seen, "first|second|");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_rechecks_the_remote_and_learns_it_anew() {
    let b1 = Pfs::start("plugins:\n  memfs: {path: /m}\n");
    let port = b1.server.port();
    let (a, _) = app_with(&a_config(&b1, ", remote_path: /m")).await;
    let (_, v) = send_json(&a, get("/api/v1/capabilities?path=/b")).await;
    assert_eq!(v["capabilities"]["write"], true, "{v}");
    let (s, text) = send(&a, get("/api/v1/files?path=/b/reload")).await;
    assert_eq!(s, 200);
    assert!(
        String::from_utf8_lossy(&text).contains("reloads: 0"),
        "{text:?}"
    );

    drop(b1);
    let got = send_json(&a, put("/api/v1/files?path=/b/reload", "1")).await;
    assert_error(got, 503, "reload failed");

    // The same address now serves a read-only plugin at /m.
    let _b2 = Pfs::start_on(port, "plugins:\n  hellofs: {path: /m}\n");
    let (s, v) = send_json(&a, put("/api/v1/files?path=/b/reload", "1")).await;
    assert_eq!((s.as_u16(), &v["written"]), (200, &json!(1)), "{v}");
    let (_, text) = send(&a, get("/api/v1/files?path=/b/reload")).await;
    assert!(
        String::from_utf8_lossy(&text).contains("reloads: 1"),
        "{text:?}"
    );
    let (_, v) = send_json(&a, get("/api/v1/capabilities?path=/b")).await;
    assert_eq!(
        v["capabilities"]["write"], false,
        "reload re-learns the remote: {v}"
    );
    let (s, body) = send(&a, get("/api/v1/files?path=/b/hello")).await;
    assert_eq!((s.as_u16(), &body[..]), (200, &b"Hello, World!\n"[..]));
    let (_, v) = send_json(&a, post("/api/v1/touch?path=/b/reload")).await;
    assert_eq!(v["message"], "touched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_dequeue_is_never_read_by_head_grep_or_a_handle() {
    let b = Pfs::start("plugins:\n  queuefs: {path: /queuefs}\n");
    let (a, _) = app_with(&a_config(&b, "")).await;
    b.curl(&["-X", "POST"], "directories?path=/queuefs/jobs");
    b.curl(
        &["-X", "PUT", "--data-binary", "job one"],
        "files?path=/queuefs/jobs/enqueue",
    );
    // HEAD, a recursive grep and a handle open all stay away from the consuming file.
    let (s, _) = send(
        &a,
        axum::http::Request::head("/api/v1/files?path=/b/queuefs/jobs/dequeue")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s.as_u16(), 200);
    let (s, v) = send_json(
        &a,
        post_json(
            "/api/v1/grep",
            r#"{"path": "/b/queuefs", "pattern": "job", "recursive": true}"#,
        ),
    )
    .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    let (s, _) = send_json(
        &a,
        post("/api/v1/handles/open?path=/b/queuefs/jobs/dequeue&flags=0"),
    )
    .await;
    assert_eq!(s.as_u16(), 501);
    assert_eq!(b.curl(&[], "files?path=/queuefs/jobs/size"), "1");
    // A plain read is what consumes it.
    let (_, body) = send(&a, get("/api/v1/files?path=/b/queuefs/jobs/dequeue")).await;
    assert!(String::from_utf8_lossy(&body).contains("job one"));
    assert_eq!(b.curl(&[], "files?path=/queuefs/jobs/size"), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_base_url_work_and_stay_hidden() {
    let b = Pfs::start("plugins:\n  memfs: {path: /memfs}\n");
    let with_auth = b.url.replace("http://", "http://reader:Sup3rSecretPw@");
    let (a, _) = app_with(&format!(
        "plugins:\n  proxyfs: {{path: /b, config: {{base_url: \"{with_auth}\"}}}}\n"
    ))
    .await;
    let (s, _) = send(&a, put("/api/v1/files?path=/b/memfs/x", "x")).await;
    assert_eq!(s, 200);
    let (_, mounts) = send(&a, get("/api/v1/mounts")).await;
    let mounts = String::from_utf8_lossy(&mounts);
    assert!(mounts.contains("reader:***@"), "{mounts}");
    assert!(!mounts.contains("Sup3rSecretPw"), "{mounts}");
    let (_, status) = send(&a, get("/api/v1/files?path=/b/reload")).await;
    assert!(!String::from_utf8_lossy(&status).contains("Sup3rSecretPw"));
    // A token travels as the user name alone: masked whole, in /mounts and /plugins alike.
    let with_token = b.url.replace("http://", "http://Sup3rTok3n@");
    let body = format!(
        r#"{{"fstype": "proxyfs", "path": "/t", "config": {{"base_url": "{with_token}"}}}}"#
    );
    let (s, v) = send_json(&a, post_json("/api/v1/mount", &body)).await;
    assert_eq!(s, 200, "{v}");
    for listing in ["/api/v1/mounts", "/api/v1/plugins"] {
        let (_, text) = send(&a, get(listing)).await;
        let text = String::from_utf8_lossy(&text);
        assert!(!text.contains("Sup3rTok3n"), "{listing}: {text}");
        assert!(text.contains("http://***@127.0.0.1"), "{listing}: {text}");
    }
    // Errors name the remote without its credentials.
    drop(b);
    let (_, v) = send_json(&a, get("/api/v1/files?path=/b/memfs/x")).await;
    assert!(v["error"].as_str().unwrap().contains("unreachable"), "{v}");
    assert!(!v.to_string().contains("Sup3rSecretPw"), "{v}");
}

/// A throw-away CA and a server certificate it signed for `localhost` and `127.0.0.1` (openssl),
/// as `(ca.pem, server.pem, server-key.pem)`.
fn test_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let f = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    for args in [
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=pfs test CA",
            "-keyout",
            &f("ca-key.pem"),
            "-out",
            &f("ca.pem"),
        ],
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &f("server-key.pem"),
            "-out",
            &f("server.csr"),
        ],
        vec![
            "x509",
            "-req",
            "-in",
            &f("server.csr"),
            "-CA",
            &f("ca.pem"),
            "-CAkey",
            &f("ca-key.pem"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &f("san.ext"),
            "-out",
            &f("server.pem"),
        ],
    ] {
        let out = std::process::Command::new("openssl")
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    }
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server-key.pem"),
    )
}

/// A TLS endpoint on a loopback port that forwards every connection to `backend` (a plain pfs):
/// an https remote, as a pfs behind a TLS-terminating proxy is. Returns the port.
async fn tls_front(cert: &Path, key: &Path, backend: String) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let certs = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, backend) = (acceptor.clone(), backend.clone());
            tokio::spawn(async move {
                // A client that refuses our certificate ends the handshake: nothing to forward.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut plain = tokio::net::TcpStream::connect(&backend).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_remotes_are_verified_against_the_given_ca() {
    let b = Pfs::start("plugins:\n  memfs: {path: /memfs}\n");
    let pki = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_pki(pki.path());
    let port = tls_front(&cert, &key, b.url.trim_start_matches("http://").to_owned()).await;
    let (a, _) = app_with("plugins:\n  memfs: {path: /memfs}\n").await;
    let mount = |path: &str, config: serde_json::Value| {
        let body = json!({"fstype": "proxyfs", "path": path, "config": config}).to_string();
        let a = a.clone();
        async move { send_json(&a, post_json("/api/v1/mount", &body)).await }
    };
    let ca = ca.to_str().unwrap();

    let (s, v) = mount(
        "/tls",
        json!({"base_url": format!("https://127.0.0.1:{port}"), "tls_ca": ca}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let data: Vec<u8> = (0..256 * 1024).map(|i| (i % 253) as u8).collect();
    let (s, _) = send(&a, put("/api/v1/files?path=/tls/memfs/x", data.clone())).await;
    assert_eq!(s, 200);
    let (s, body) = send(&a, get("/api/v1/files?path=/tls/memfs/x")).await;
    assert_eq!((s.as_u16(), body.len()), (200, data.len()));
    assert!(body[..] == data[..], "bytes differ through TLS");
    // By name too: the certificate names localhost.
    let (s, v) = mount(
        "/by-name",
        json!({"base_url": format!("https://localhost:{port}"), "tls_ca": ca}),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    // Without the CA the certificate cannot be checked, and the mount says so.
    let (s, v) = mount(
        "/untrusted",
        json!({"base_url": format!("https://127.0.0.1:{port}")}),
    )
    .await;
    assert_eq!(s, 503, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("certificate"),
        "{v}"
    );
    // Unless verification is off.
    let (s, v) = mount(
        "/unchecked",
        json!({"base_url": format!("https://127.0.0.1:{port}"), "tls_skip_verify": true}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (_, body) = send(&a, get("/api/v1/files?path=/unchecked/memfs/x")).await;
    assert_eq!(body.len(), data.len());

    // A tls_ca that is no certificate is a config error.
    std::fs::write(pki.path().join("junk.pem"), "not a certificate").unwrap();
    let (s, v) = mount(
        "/junk",
        json!({"base_url": format!("https://127.0.0.1:{port}"),
               "tls_ca": pki.path().join("junk.pem")}),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("tls_ca"), "{v}");
}
