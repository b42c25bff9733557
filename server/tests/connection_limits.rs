//! The connection layer over real sockets: idle and slow clients are closed, a stalled body fails
//! with 408 and changes nothing, connections past the cap get a JSON 503, a client that stops
//! reading is dropped, hyper's own error answers carry the JSON body, and a panicking handler is
//! a JSON 500 on a server that keeps serving. Every deadline is polled, never slept on.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{ByteStream, Capabilities, FileInfo, FileSystem, MountableFs, Result, WriteFlags};
use futures_util::StreamExt;
use pfs_server::AppState;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A running in-process server on `yaml` (timeouts of 1 s, four connections unless overridden).
struct Running {
    addr: std::net::SocketAddr,
    state: AppState,
}

async fn start(server_section: &str) -> Running {
    let yaml = format!(
        "server: {{{server_section}}}\nplugins:\n  memfs: {{path: /memfs, config: {{max_file_size: 64MB}}}}\n"
    );
    let (addr, state) = common::serve(&yaml).await;
    Running { addr, state }
}

const QUICK: &str = "idle_timeout: 1, body_timeout: 1, send_timeout: 1, max_connections: 4";

/// Sends `raw` on a fresh connection and reads until the server closes it (at most 10 s).
async fn exchange(addr: std::net::SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits until `s` is closed by the server; returns how long that took.
async fn closed_within(s: &mut (impl AsyncRead + Unpin), limit: Duration) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, s.read(&mut buf)).await {
            Err(_) => panic!("the server kept the connection open past {limit:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

fn big_header(len: usize) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(len)
    )
    .into_bytes()
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
}

fn status(answer: &str) -> u16 {
    answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

/// The JSON body of an answer; panics unless it is `{"error": ...}`.
fn error_of(answer: &str) -> String {
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{answer}"
    );
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    v["error"].as_str().expect("an error field").to_string()
}

#[tokio::test]
async fn idle_and_slow_header_connections_are_closed() {
    let r = start(QUICK).await;
    // Connected, never a byte.
    let mut idle = TcpStream::connect(r.addr).await.unwrap();
    let took = closed_within(&mut idle, Duration::from_secs(10)).await;
    assert!(took >= Duration::from_millis(900), "{took:?}");
    // A head that trickles in a byte every 100 ms never completes (slowloris).
    let (mut rd, mut wr) = TcpStream::connect(r.addr).await.unwrap().into_split();
    let trickle = tokio::spawn(async move {
        let head = b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
        for b in head.iter().chain(std::iter::repeat(&b'a')) {
            if wr.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let took = closed_within(&mut rd, Duration::from_secs(10)).await;
    trickle.abort();
    assert!(took < Duration::from_secs(5), "{took:?}");
    // After an answer, an idle keep-alive connection is closed too.
    let mut ka = TcpStream::connect(r.addr).await.unwrap();
    ka.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let took = closed_within(&mut ka, Duration::from_secs(10)).await;
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(
        status(&exchange(r.addr, get("/api/v1/health").as_bytes()).await),
        200
    );
}

#[tokio::test]
async fn a_quiet_live_stream_outlives_the_idle_timeout() {
    let (addr, _state) = common::serve(&format!(
        "server: {{{QUICK}}}\nplugins:\n  streamfs: {{path: /streamfs}}\n"
    ))
    .await;
    let put = |data: &'static str| async move {
        let raw = format!(
            "PUT /api/v1/files?path=/streamfs/s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{data}",
            data.len()
        );
        assert_eq!(status(&exchange(addr, raw.as_bytes()).await), 200);
    };
    put("first;").await;
    let mut reader = TcpStream::connect(addr).await.unwrap();
    reader
        .write_all(
            b"GET /api/v1/files?path=/streamfs/s&stream=true HTTP/1.1\r\nHost: localhost\r\n\r\n",
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    // Reads until `want` has arrived (at most 10 s); fails if the server closes the stream.
    async fn read_until(s: &mut TcpStream, seen: &mut Vec<u8>, buf: &mut [u8], want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !String::from_utf8_lossy(seen).contains(want) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, s.read(buf)).await {
                Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
                other => panic!("no {want:?} on the stream: {other:?}, {seen:?}"),
            }
        }
    }
    read_until(&mut reader, &mut seen, &mut buf, "first;").await;
    // Three idle timeouts with nothing to send: the request is in flight, not idle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    put("second;").await;
    read_until(&mut reader, &mut seen, &mut buf, "second;").await;
}

#[tokio::test]
async fn a_stalled_body_is_408_and_changes_nothing() {
    let r = start(QUICK).await;
    r.state
        .fs
        .write(
            "/memfs/f",
            Bytes::from_static(b"KEEP"),
            None,
            WriteFlags::NONE,
        )
        .await
        .unwrap();
    for query in ["", "&offset=2", "&flags=append"] {
        let mut s = TcpStream::connect(r.addr).await.unwrap();
        let head = format!(
            "PUT /api/v1/files?path=/memfs/f{query} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
            .await
            .expect("answered")
            .ok();
        let answer = String::from_utf8_lossy(&out);
        assert_eq!(status(&answer), 408, "{answer}");
        assert!(error_of(&answer).contains("body_timeout"), "{answer}");
        assert_eq!(
            r.state.fs.read("/memfs/f", 0, None).await.unwrap(),
            "KEEP",
            "{query}"
        );
    }
}

#[tokio::test]
async fn connections_past_the_cap_get_a_json_503_and_the_server_recovers() {
    let r = start("idle_timeout: 30, max_connections: 4").await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(r.addr).await.unwrap();
        // A served connection answers; the four slots are then held idle.
        s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    let answer = exchange(r.addr, get("/api/v1/health").as_bytes()).await;
    assert_eq!(status(&answer), 503, "{answer}");
    assert!(error_of(&answer).contains("max_connections"), "{answer}");
    drop(held);
    // Freed slots serve again (the server notices the closes as it reads them).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = exchange(r.addr, get("/api/v1/health").as_bytes()).await;
        if status(&answer) == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {answer}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped() {
    let r = start(QUICK).await;
    let big = Bytes::from(vec![7u8; 32 << 20]);
    r.state
        .fs
        .write("/memfs/big", big, None, WriteFlags::NONE)
        .await
        .unwrap();
    let mut s = TcpStream::connect(r.addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(get("/api/v1/files?path=/memfs/big").as_bytes())
        .await
        .unwrap();
    // Read nothing until the send timeout has passed several times over.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got += n,
            Err(_) => panic!("the connection was neither served nor closed"),
        }
    }
    assert!(
        got < 32 << 20,
        "a client that read nothing for 4 s still got all {got} bytes"
    );
    assert_eq!(
        status(&exchange(r.addr, get("/api/v1/health").as_bytes()).await),
        200
    );
}

#[tokio::test]
async fn errors_hyper_answers_itself_carry_a_json_body() {
    let r = start("").await;
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"BLAH\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHost x\r\n\r\n".to_vec(), 400),
        (
            b"PUT /api/v1/files?path=/memfs/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999999999999999\r\n\r\n".to_vec(),
            400,
        ),
        (
            format!("GET /api/v1/stat?path=/{} HTTP/1.1\r\nHost: localhost\r\n\r\n", "a".repeat(70_000)).into_bytes(),
            414,
        ),
        // Past hyper's read buffer, and past MAX_HEADER_BYTES only: both are 431.
        (big_header(500_000), 431),
        (big_header(100_000), 431),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
                (0..150).map(|i| format!("X-H{i}: v\r\n")).collect::<String>()
            )
            .into_bytes(),
            431,
        ),
    ];
    for (raw, want) in cases {
        let answer = exchange(r.addr, &raw).await;
        assert_eq!(status(&answer), want, "{answer}");
        assert!(!error_of(&answer).is_empty(), "{answer}");
    }
    // A path parameter that is not UTF-8 is a JSON 400 too (axum answered it in plain text).
    let answer = exchange(r.addr, get("/api/v1/handles/%ff%fe/read").as_bytes()).await;
    assert_eq!(status(&answer), 400, "{answer}");
    assert!(!error_of(&answer).is_empty());
    assert_eq!(
        status(&exchange(r.addr, get("/api/v1/health").as_bytes()).await),
        200
    );
}

/// A filesystem whose write panics outright, and whose streamed write hands memfs a body that
/// panics after its first chunk: a bug below the routes, mid-change.
#[derive(Debug)]
struct Faulty(Arc<dyn FileSystem>);

#[async_trait]
impl FileSystem for Faulty {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    async fn stat(&self, p: &str) -> Result<FileInfo> {
        self.0.stat(p).await
    }
    async fn read_dir(&self, p: &str) -> Result<Vec<FileInfo>> {
        self.0.read_dir(p).await
    }
    async fn read(&self, p: &str, o: u64, s: Option<u64>) -> Result<Bytes> {
        self.0.read(p, o, s).await
    }
    async fn write(&self, _: &str, _: Bytes, _: Option<u64>, _: WriteFlags) -> Result<u64> {
        panic!("injected fault: write")
    }
    async fn write_stream(
        &self,
        p: &str,
        data: ByteStream,
        limit: u64,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let mut first = true;
        let data: ByteStream = Box::pin(data.map(move |chunk| {
            assert!(
                first,
                "injected fault: the body panics after its first chunk"
            );
            first = false;
            chunk
        }));
        self.0.write_stream(p, data, limit, offset, flags).await
    }
    async fn create(&self, p: &str) -> Result<()> {
        self.0.create(p).await
    }
    async fn mkdir(&self, p: &str, m: u32) -> Result<()> {
        self.0.mkdir(p, m).await
    }
    async fn remove(&self, p: &str) -> Result<()> {
        self.0.remove(p).await
    }
    async fn remove_all(&self, p: &str) -> Result<()> {
        self.0.remove_all(p).await
    }
    async fn rename(&self, a: &str, b: &str) -> Result<()> {
        self.0.rename(a, b).await
    }
}

#[tokio::test]
async fn a_panicking_handler_is_a_json_500_and_changes_nothing() {
    let r = start("").await;
    let inner: Arc<dyn FileSystem> = Arc::new(builtin_plugins::memfs::MemFs::new());
    inner
        .write("/f", Bytes::from_static(b"KEEP"), None, WriteFlags::NONE)
        .await
        .unwrap();
    let fs: &Arc<MountableFs> = &r.state.fs;
    fs.mount(
        "/faulty",
        "faulty",
        None,
        serde_json::json!({}),
        Arc::new(Faulty(inner)),
    )
    .await
    .unwrap();
    // Two chunks, so the streamed write reaches its second one.
    let mut s = TcpStream::connect(r.addr).await.unwrap();
    s.write_all(b"PUT /api/v1/files?path=/faulty/f HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nNEW\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.write_all(b"4\r\nMORE\r\n0\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answered")
        .ok();
    let answer = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(status(&answer), 500, "{answer}");
    assert!(error_of(&answer).contains("bug"), "{answer}");
    let read = exchange(r.addr, get("/api/v1/files?path=/faulty/f").as_bytes()).await;
    assert!(
        read.ends_with("\r\n\r\nKEEP"),
        "the panic left a half-applied change: {read}"
    );
    // The handle route writes through `write`, which panics outright.
    let answer = exchange(
        r.addr,
        b"POST /api/v1/write?path=/faulty/f HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{\"data\":\"x\"}",
    )
    .await;
    assert_eq!(status(&answer), 500, "{answer}");
    assert_eq!(
        status(&exchange(r.addr, get("/api/v1/health").as_bytes()).await),
        200
    );
}
