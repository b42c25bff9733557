//! Small files cost their size plus a bounded overhead, and give their memory back when deleted:
//! 1,000,000 one-byte memfs files written to the real binary over keep-alive connections (where
//! a request body is a slice of the connection's read buffer, which a stored file must not pin),
//! then deleted, with the server's RSS read from /proc before, full and after.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::process::start;

const FILES: usize = 1_000_000;
const CONNECTIONS: usize = 4;
/// Requests written before their answers are read (HTTP/1.1 pipelining).
const BATCH: usize = 500;
/// What a file may cost beyond its bytes (the performance issue's target).
const OVERHEAD: usize = 256;

fn rss_kib(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Sends `requests` on one connection in pipelined batches and checks every answer is a success.
fn pipeline(addr: SocketAddr, requests: impl Iterator<Item = String>) {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_nodelay(true).unwrap();
    let requests: Vec<String> = requests.collect();
    let mut buf = vec![0u8; 1 << 16];
    for batch in requests.chunks(BATCH) {
        conn.write_all(batch.concat().as_bytes()).unwrap();
        // Every answer here is a head and a JSON body that ends the answer with its only `}`.
        let (mut ends, mut seen) = (0, Vec::new());
        while ends < batch.len() {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "the server closed the connection");
            ends += buf[..n].iter().filter(|b| **b == b'}').count();
            seen.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&seen);
        let ok = text.matches("HTTP/1.1 200 ").count() + text.matches("HTTP/1.1 201 ").count();
        assert_eq!(ok, batch.len(), "an answer was not a success: {text}");
    }
}

/// Writes files `range` of `/memfs/d` over [`CONNECTIONS`] connections.
fn write_files(addr: SocketAddr, range: std::ops::Range<usize>) {
    std::thread::scope(|s| {
        for c in 0..CONNECTIONS {
            let range = range.clone();
            s.spawn(move || {
                pipeline(
                    addr,
                    range.filter(|i| i % CONNECTIONS == c).map(|i| {
                        format!(
                            "PUT /api/v1/files?path=/memfs/d/f{i} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n\r\nx"
                        )
                    }),
                )
            });
        }
    });
}

fn request(addr: SocketAddr, method: &str, query: &str) {
    pipeline(
        addr,
        std::iter::once(format!(
            "{method} /api/v1/{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )),
    );
}

/// Deletes `/memfs/d` with every file in it, and makes it again, empty.
fn delete_all(addr: SocketAddr) {
    request(addr, "DELETE", "files?path=/memfs/d&recursive=true");
    request(addr, "POST", "directories?path=/memfs/d");
}

#[test]
fn a_million_small_files_cost_their_size_and_come_back_when_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("memfs.yaml");
    std::fs::write(&config, "plugins:\n  memfs: {path: /memfs}\n").unwrap();
    let server = start(&["-c", config.to_str().unwrap()]);
    let addr: SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let pid = server.child.id();
    request(addr, "POST", "directories?path=/memfs/d");
    // Warm-up: connections, allocator pages, the tree's first nodes.
    write_files(addr, 0..20_000);
    delete_all(addr);
    let start = rss_kib(pid);
    write_files(addr, 0..FILES);
    let full = rss_kib(pid);
    delete_all(addr);
    // The allocator hands freed pages back to the system as it next runs: poll with requests, up
    // to a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let end = loop {
        request(addr, "GET", "health");
        let rss = rss_kib(pid);
        if rss as f64 <= start as f64 * 1.10 || std::time::Instant::now() > deadline {
            break rss;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let per_file = (full.saturating_sub(start) * 1024) as f64 / FILES as f64;
    println!(
        "{FILES} one-byte files: VmRSS {start} KiB -> {full} KiB ({per_file:.0} bytes a file) -> {end} KiB after deleting them"
    );
    assert!(
        per_file <= (1 + OVERHEAD) as f64,
        "a one-byte file costs {per_file:.0} bytes"
    );
    assert!(
        end as f64 <= start as f64 * 1.10,
        "RSS did not come back: {start} KiB at the start, {end} KiB 10 s after deleting every file"
    );
    server.stop();
}
