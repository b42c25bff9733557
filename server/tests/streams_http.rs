//! Live streams over a real socket: `GET /files?stream=true` replays the ring history, follows later
//! writes, and frees its reader when the client leaves; a plain GET of a stream is a 400.

mod common;

use std::time::{Duration, Instant};

use pfs_server::AppState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn serve() -> (std::net::SocketAddr, AppState) {
    common::serve("plugins:\n  streamfs: {path: /streamfs}\n").await
}

/// One request on a fresh connection; returns the whole raw response.
async fn request(addr: std::net::SocketAddr, method: &str, target: &str, body: &str) -> String {
    let mut c = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    c.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    out
}

/// Reads from `conn` into `seen` until it contains `needle` (bounded).
async fn read_until(conn: &mut TcpStream, seen: &mut String, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 4096];
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{needle:?} not received; got {seen:?}");
        let n = tokio::time::timeout(left, conn.read(&mut buf))
            .await
            .expect("stream stalled")
            .unwrap();
        assert!(n > 0, "stream closed early; got {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

async fn active_readers(addr: std::net::SocketAddr) -> String {
    let resp = request(addr, "GET", "/api/v1/stat?path=/streamfs/live", "").await;
    let body = resp.split("\r\n\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["meta"]["Content"]["active_readers"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_replays_history_follows_writes_and_frees_the_reader() {
    let (addr, _state) = serve().await;
    assert!(
        request(
            addr,
            "PUT",
            "/api/v1/files?path=/streamfs/live",
            "first-chunk|"
        )
        .await
        .starts_with("HTTP/1.1 200")
    );

    let mut reader = TcpStream::connect(addr).await.unwrap();
    reader
        .write_all(b"GET /api/v1/files?path=/streamfs/live&stream=true HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut seen = String::new();
    read_until(&mut reader, &mut seen, "first-chunk|").await;
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(
        seen.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{seen}"
    );
    assert_eq!(active_readers(addr).await, "1");

    // A write after the reader attached arrives on the open body.
    assert!(
        request(
            addr,
            "PUT",
            "/api/v1/files?path=/streamfs/live",
            "second-chunk|"
        )
        .await
        .starts_with("HTTP/1.1 200")
    );
    read_until(&mut reader, &mut seen, "second-chunk|").await;
    assert!(
        seen.find("first-chunk|") < seen.find("second-chunk|"),
        "order kept"
    );

    // The client leaves: its reader is freed without any further write.
    drop(reader);
    let deadline = Instant::now() + Duration::from_secs(5);
    while active_readers(addr).await != "0" {
        assert!(
            Instant::now() < deadline,
            "the reader of a gone client was not freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_get_of_a_stream_is_400_naming_stream_mode() {
    let (addr, _state) = serve().await;
    request(addr, "PUT", "/api/v1/files?path=/streamfs/live", "x").await;
    let resp = request(addr, "GET", "/api/v1/files?path=/streamfs/live", "").await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("stream=true"), "{resp}");
}
