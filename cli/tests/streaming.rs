//! Streaming end to end: `cat` of a 64 MiB file and `ls` of a 100,000-entry directory keep the
//! client's peak memory below the size of what they move; `tail -f` follows a growing file and a
//! live stream; `cat --stream` sees what `write --stream` sends while both run; a closed output
//! pipe ends `cat` quietly.

mod common;

use std::process::Stdio;

use bytes::Bytes;
use common::{DEADLINE, command, eventually, peak_rss_kib, pfs, serve};
use fs_core::{FileSystem, WriteFlags};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const MIB: usize = 1 << 20;

/// Reads a child's whole standard output, sampling its peak RSS every `every` bytes; returns the
/// byte count and the last sample taken while it ran (the high-water mark up to that point).
async fn drain_sampling(child: &mut tokio::process::Child, every: usize) -> (usize, u64) {
    let pid = child.id().expect("running");
    let mut out = child.stdout.take().expect("stdout piped");
    let mut buf = vec![0u8; MIB];
    let (mut total, mut next, mut peak) = (0usize, every, 0u64);
    loop {
        let n = tokio::time::timeout(DEADLINE, out.read(&mut buf))
            .await
            .expect("output within the deadline")
            .expect("read stdout");
        if n == 0 {
            break;
        }
        total += n;
        if total >= next {
            next += every;
            if let Some(kib) = peak_rss_kib(pid) {
                peak = peak.max(kib);
            }
        }
    }
    (total, peak)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cat_of_64_mib_streams_with_flat_memory() {
    let server = serve().await;
    let size = 64 * MIB;
    let data = Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    server
        .state
        .fs
        .write("/memfs/big", data, None, WriteFlags::CREATE)
        .await
        .expect("write 64 MiB in-process");
    let mut child = command(&server.url())
        .args(["cat", "/memfs/big"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let (total, peak_kib) = drain_sampling(&mut child, 4 * MIB).await;
    let status = child.wait().await.expect("wait");
    assert!(status.success(), "{status}");
    eprintln!("cat 64 MiB: client peak RSS {peak_kib} KiB");
    assert_eq!(total, size, "every byte arrived");
    assert!(peak_kib > 0, "no RSS sample was taken");
    // A client holding the file would peak above 64 MiB; streaming stays near its baseline.
    assert!(
        peak_kib < 32 * 1024,
        "peak RSS {peak_kib} KiB while streaming 64 MiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ls_of_100k_entries_streams_with_memory_below_the_listing_size() {
    let server = serve().await;
    server
        .state
        .fs
        .mkdir("/memfs/many", 0o755)
        .await
        .expect("mkdir");
    let pad = "x".repeat(100);
    let count = 100_000;
    for i in 0..count {
        let path = format!("/memfs/many/{i:06}-{pad}");
        server
            .state
            .fs
            .write(&path, Bytes::new(), None, WriteFlags::CREATE)
            .await
            .expect("create entry");
    }
    // The listing's JSON size, measured the way any client gets it.
    let raw = pfs(&server, &["--json", "ls", "/memfs/many"], None).await;
    assert_eq!(raw.code, 0, "{}", raw.stderr);
    let json_bytes = raw.stdout.len();
    assert!(json_bytes > 20 * MIB, "listing is {json_bytes} bytes");

    let mut child = command(&server.url())
        .args(["ls", "/memfs/many"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let (total, peak_kib) = drain_sampling(&mut child, MIB).await;
    assert!(child.wait().await.expect("wait").success());
    eprintln!("ls {count} entries ({json_bytes} JSON bytes): client peak RSS {peak_kib} KiB");
    assert_eq!(total, count * (6 + 1 + 100 + 1), "one line per entry");
    assert!(peak_kib > 0, "no RSS sample was taken");
    // Holding the body alone would take `json_bytes`; entries are parsed and printed one by one.
    assert!(
        (peak_kib as usize) * 1024 < json_bytes,
        "peak RSS {peak_kib} KiB for a {json_bytes}-byte listing"
    );
}

/// Reads lines from a child's output until one equals `want`, within the deadline.
async fn expect_line(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    want: &str,
) {
    let found = tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.expect("read line") {
            if line == want {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or_else(|_| panic!("no line {want:?} within {DEADLINE:?}"));
    assert!(found, "output ended before {want:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_f_prints_the_last_lines_then_what_is_appended() {
    let server = serve().await;
    let first = pfs(&server, &["write", "/memfs/log"], Some(b"a\nb\nc\n")).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    let mut child = command(&server.url())
        .args(["tail", "-n", "2", "-f", "-s", "0.05", "/memfs/log"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    expect_line(&mut lines, "b").await;
    expect_line(&mut lines, "c").await;
    let more = pfs(&server, &["write", "-a", "/memfs/log"], Some(b"appended\n")).await;
    assert_eq!(more.code, 0, "{}", more.stderr);
    expect_line(&mut lines, "appended").await;
    child.kill().await.expect("kill tail -f");
}

/// Waits until the stream at `path` has `n` readers.
async fn readers(server: &common::Server, path: &str, n: &str) {
    eventually(&format!("{n} readers on {path}"), async || {
        let info = server.state.fs.stat(path).await.ok()?;
        let content = info.meta.content?;
        (content.get("active_readers").map(String::as_str) == Some(n)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cat_stream_and_tail_f_see_what_write_stream_sends() {
    let server = serve().await;
    let created = pfs(&server, &["touch", "/streamfs/live"], None).await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let mut cat = command(&server.url())
        .args(["cat", "--stream", "/streamfs/live"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn cat");
    let mut tail = command(&server.url())
        .args(["tail", "-f", "/streamfs/live"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn tail");
    readers(&server, "/streamfs/live", "2").await;
    let mut writer = command(&server.url())
        .args(["write", "--stream", "/streamfs/live"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn writer");
    let mut input = writer.stdin.take().expect("piped");
    let mut cat_lines = BufReader::new(cat.stdout.take().expect("piped")).lines();
    let mut tail_lines = BufReader::new(tail.stdout.take().expect("piped")).lines();
    // The writer is still running (its input is open): each chunk went out on its own.
    input.write_all(b"first\n").await.expect("write");
    input.flush().await.expect("flush");
    expect_line(&mut cat_lines, "first").await;
    expect_line(&mut tail_lines, "first").await;
    input.write_all(b"second\n").await.expect("write");
    drop(input);
    expect_line(&mut cat_lines, "second").await;
    expect_line(&mut tail_lines, "second").await;
    let status = tokio::time::timeout(DEADLINE, writer.wait())
        .await
        .expect("writer ends with its input")
        .expect("wait");
    assert!(status.success(), "{status}");
    cat.kill().await.expect("kill cat");
    tail.kill().await.expect("kill tail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cat_into_a_closed_pipe_exits_141_quietly() {
    let server = serve().await;
    let data = Bytes::from(vec![b'x'; 16 * MIB]);
    server
        .state
        .fs
        .write("/memfs/big", data, None, WriteFlags::CREATE)
        .await
        .expect("write");
    let mut child = command(&server.url())
        .args(["cat", "/memfs/big"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("piped");
    let mut first = [0u8; 1024];
    out.read_exact(&mut first).await.expect("some output");
    drop(out);
    let output = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .expect("cat ends once its reader left")
        .expect("wait");
    assert_eq!(output.status.code(), Some(141));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}
