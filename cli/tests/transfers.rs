//! Transfers through the real `pfs` binary against a real server: a big download in pieces is
//! byte-exact with flat memory; a killed download resumes with only the missing pieces; a piece
//! cut once is retried; failed uploads leave the target as it was; `get` of full URLs.

mod common;
mod relay;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use bytes::Bytes;
use common::{DEADLINE, command, eventually, peak_rss_kib};
use fs_core::{FileSystem, WriteFlags};
use pfs_server::{AppState, Config};
use relay::{Relay, Rules};

const MIB: u64 = 1 << 20;

/// A server with memfs at `/memfs` and localfs at `/local` on a temporary directory.
struct Server {
    url: String,
    state: AppState,
    local: tempfile::TempDir,
}

async fn serve() -> Server {
    let local = tempfile::tempdir().expect("temp dir");
    let yaml = format!(
        "plugins:\n  memfs: {{path: /memfs}}\n  localfs: {{path: /local, config: {{local_dir: '{}'}}}}\n",
        local.path().display()
    );
    let state = AppState::new(Config::parse(&yaml).expect("test config parses"));
    pfs_server::start_mounts(&state)
        .await
        .expect("mounts planned")
        .await
        .expect("mount task");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(pfs_server::run(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    Server { url, state, local }
}

/// Byte `i` of the test pattern: a 64-bit mix of the offset, so every block differs and a piece
/// written at the wrong offset shows.
fn pattern(start: u64, buf: &mut [u8]) {
    for (k, b) in buf.iter_mut().enumerate() {
        let i = start + k as u64;
        let word = (i / 8).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        *b = (word >> ((i % 8) * 8)) as u8;
    }
}

fn pattern_bytes(len: u64) -> Bytes {
    let mut v = vec![0u8; len as usize];
    pattern(0, &mut v);
    Bytes::from(v)
}

/// Writes `len` bytes of the pattern to a local file, a block at a time.
fn write_pattern(path: &Path, len: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut buf = vec![0u8; MIB as usize];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(MIB) as usize;
        pattern(at, &mut buf[..n]);
        f.write_all(&buf[..n]).expect("write");
        at += n as u64;
    }
    f.flush().expect("flush");
}

/// Checks a local file against the pattern a block at a time; panics at the first differing block.
fn assert_pattern(path: &Path, len: u64) {
    let meta = std::fs::metadata(path).expect("downloaded file");
    assert_eq!(meta.len(), len, "size of {}", path.display());
    let mut f = std::fs::File::open(path).expect("open");
    let (mut got, mut want) = (vec![0u8; MIB as usize], vec![0u8; MIB as usize]);
    let mut at = 0;
    while at < len {
        let n = (len - at).min(MIB) as usize;
        f.read_exact(&mut got[..n]).expect("read");
        pattern(at, &mut want[..n]);
        assert!(got[..n] == want[..n], "bytes differ in the MiB at {at}");
        at += n as u64;
    }
}

/// Runs `pfs ARGS` against `url` with no input, within the deadline.
async fn run(url: &str, args: &[&str]) -> common::Output {
    let child = command(url)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pfs");
    let out = tokio::time::timeout(DEADLINE * 4, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("pfs {args:?} did not finish"))
        .expect("pfs ran");
    common::Output {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Size of the big download: `PFS_TEST_BIG_MIB` MiB, default 1024 (the debug client moves 1 GiB
/// in about 12 s on a 2-core machine, the whole test with writing and checking takes ~28 s; set
/// it lower on a slow machine).
fn big_size() -> u64 {
    std::env::var("PFS_TEST_BIG_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
        * MIB
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_of_big_file_in_pieces_is_exact_with_flat_memory() {
    let server = serve().await;
    let size = big_size();
    let remote_file = server.local.path().join("big.bin");
    write_pattern(&remote_file, size);
    let out_dir = tempfile::tempdir().expect("temp dir");
    let target = out_dir.path().join("big.bin");
    let started = Instant::now();
    let mut child = command(&server.url)
        .args(["download", "--parallel", "4", "/local/big.bin", s(&target)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id().expect("running");
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(started.elapsed() < DEADLINE * 5, "download too slow");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let elapsed = started.elapsed();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        e.read_to_string(&mut err).await.expect("stderr");
    }
    assert!(status.success(), "{status}: {err}");
    eprintln!(
        "download {} MiB in 8 MiB pieces x4: {elapsed:?}, client peak RSS {peak} KiB",
        size / MIB
    );
    assert!(peak > 0, "no RSS sample was taken");
    // Holding the file (or a piece per request in full) would show; pieces stream to disk.
    assert!(
        peak < 40 * 1024,
        "peak RSS {peak} KiB for a {size}-byte download"
    );
    assert_pattern(&target, size);
    assert!(!out_dir.path().join("big.bin.pfs-part").exists());
    assert!(!out_dir.path().join("big.bin.pfs-state").exists());
    std::fs::remove_file(&remote_file).expect("remove the big file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_killed_midway_resumes_fetching_only_missing_pieces() {
    let server = serve().await;
    let size = 32 * MIB;
    server
        .state
        .fs
        .write(
            "/memfs/r.bin",
            pattern_bytes(size),
            None,
            WriteFlags::CREATE,
        )
        .await
        .expect("write");
    let relay = Relay::start(&server.url).await;
    relay.set(Rules {
        stall_from: Some(20 * MIB),
        ..Rules::default()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("r.bin");
    let args = ["download", "--piece-size", "1M", "/memfs/r.bin", s(&target)];
    let mut child = command(&relay.url)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let state_file = dir.path().join("r.bin.pfs-state");
    // Pieces below 20 MiB all finish; those after stall in the relay, as if the network hung.
    eventually("20 pieces recorded in the state", async || {
        let text = std::fs::read_to_string(&state_file).ok()?;
        text.contains("\"done\":[[0,19]]").then_some(())
    })
    .await;
    child.kill().await.expect("kill the client");
    assert!(dir.path().join("r.bin.pfs-part").exists());
    assert!(
        !target.exists(),
        "an unfinished download is not renamed into place"
    );
    relay.set(Rules::default());
    relay.take_log();
    let out = run(
        &relay.url,
        &[&args[..1], &["--continue"], &args[1..]].concat(),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let starts = relay.ranged_starts();
    assert_eq!(starts.len(), 12, "only the 12 missing pieces: {starts:?}");
    assert!(starts.iter().all(|s| *s >= 20 * MIB), "{starts:?}");
    assert_pattern(&target, size);
    assert!(!state_file.exists() && !dir.path().join("r.bin.pfs-part").exists());

    // A changed remote file makes --continue start over.
    relay.set(Rules {
        stall_from: Some(4 * MIB),
        ..Rules::default()
    });
    std::fs::remove_file(&target).expect("rm");
    let mut child = command(&relay.url)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    eventually("4 pieces recorded", async || {
        let text = std::fs::read_to_string(&state_file).ok()?;
        text.contains("\"done\":[[0,3]]").then_some(())
    })
    .await;
    child.kill().await.expect("kill");
    let changed = pattern_bytes(size + 1);
    server
        .state
        .fs
        .write("/memfs/r.bin", changed, None, WriteFlags::TRUNCATE)
        .await
        .expect("rewrite");
    relay.set(Rules::default());
    relay.take_log();
    let out = run(
        &relay.url,
        &[&args[..1], &["--continue"], &args[1..]].concat(),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        relay.ranged_starts().len(),
        33,
        "a changed file is fetched whole"
    );
    assert_pattern(&target, size + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piece_cut_once_is_retried_alone() {
    let server = serve().await;
    let size = 16 * MIB;
    server
        .state
        .fs
        .write(
            "/memfs/c.bin",
            pattern_bytes(size),
            None,
            WriteFlags::CREATE,
        )
        .await
        .expect("write");
    let relay = Relay::start(&server.url).await;
    relay.set(Rules {
        cut_once_at: Some(5 * MIB),
        ..Rules::default()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("c.bin");
    let out = run(
        &relay.url,
        &["download", "--piece-size", "1M", "/memfs/c.bin", s(&target)],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let starts = relay.ranged_starts();
    assert_eq!(starts.len(), 17, "16 pieces and one retry: {starts:?}");
    let fifth: Vec<_> = starts
        .iter()
        .filter(|s| (5 * MIB..6 * MIB).contains(*s))
        .collect();
    assert_eq!(fifth.len(), 2, "the cut piece was asked twice: {starts:?}");
    assert_pattern(&target, size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_uploads_leave_the_old_target() {
    let server = serve().await;
    let old = Bytes::from_static(b"the old content\n");
    for name in ["/memfs/big", "/memfs/small"] {
        server
            .state
            .fs
            .write(name, old.clone(), None, WriteFlags::CREATE)
            .await
            .expect("write");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let big = dir.path().join("big");
    write_pattern(&big, 6 * MIB);
    let small = dir.path().join("small");
    write_pattern(&small, 2 * MIB);
    let relay = Relay::start(&server.url).await;

    // In pieces: the fourth piece's body is cut every time it is sent.
    relay.set(Rules {
        cut_puts: Some((3 * MIB, 1000)),
        ..Rules::default()
    });
    let out = run(
        &relay.url,
        &[
            "upload",
            "--piece-size",
            "1M",
            "--attempts",
            "2",
            s(&big),
            "/memfs/big",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.starts_with("pfs: upload: "), "{}", out.stderr);
    let puts = relay
        .take_log()
        .iter()
        .filter(|s| s.method == "PUT")
        .count();
    assert_eq!(puts, 3 + 2, "three pieces, then two attempts of the fourth");

    // One body: cut after 1 MiB, every attempt.
    relay.set(Rules {
        cut_puts: Some((0, MIB as usize)),
        ..Rules::default()
    });
    let out = run(
        &relay.url,
        &["upload", "--attempts", "2", s(&small), "/memfs/small"],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);

    for name in ["/memfs/big", "/memfs/small"] {
        let now = server.state.fs.read(name, 0, None).await.expect("read");
        assert_eq!(now, old, "{name} kept its old content");
    }
    let names: Vec<String> = server
        .state
        .fs
        .read_dir("/memfs")
        .await
        .expect("ls")
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert!(
        names.iter().all(|n| !n.contains("pfs-upload")),
        "the temporary file was removed: {names:?}"
    );

    // Without the fault both go through, the big one in pieces through a rename.
    relay.set(Rules::default());
    relay.take_log();
    let out = run(
        &relay.url,
        &[
            "upload",
            "--piece-size",
            "1M",
            s(&big),
            s(&small),
            "/memfs/",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let log = relay.take_log();
    assert!(log.iter().any(|s| s.uri.contains("/rename")), "{log:?}");
    assert_eq!(
        server.state.fs.read("/memfs/big", 0, None).await.unwrap(),
        pattern_bytes(6 * MIB)
    );
    assert_eq!(
        server.state.fs.read("/memfs/small", 0, None).await.unwrap(),
        pattern_bytes(2 * MIB)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_of_full_urls() {
    let server = serve().await;
    let size = 3 * MIB + 5;
    server
        .state
        .fs
        .write(
            "/memfs/g.bin",
            pattern_bytes(size),
            None,
            WriteFlags::CREATE,
        )
        .await
        .expect("write");
    let dir = tempfile::tempdir().expect("temp dir");

    // A pfs files URL: a pfs path on that server (stat, pieces, digest).
    let url = format!("{}/api/v1/files?path=/memfs/g.bin", server.url);
    let out = run(
        "http://127.0.0.1:1",
        &["get", "--piece-size", "1M", &url, "-o", s(dir.path())],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_pattern(&dir.path().join("g.bin"), size);

    // Any other URL: sized by HEAD, then ranged pieces.
    let relay = Relay::start(&server.url).await;
    let url = format!("{}/raw/memfs/g.bin", relay.url);
    let target = dir.path().join("plain.bin");
    let out = run(
        "http://127.0.0.1:1",
        &["get", "--piece-size", "1M", &url, "-o", s(&target)],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_pattern(&target, size);
    let log = relay.take_log();
    assert_eq!(log[0].method, "HEAD", "{log:?}");
    assert_eq!(relay_ranged(&log), 4, "four pieces: {log:?}");

    // A missing URL fails with the server's status.
    let out = run(
        "http://127.0.0.1:1",
        &[
            "get",
            &format!("{}/raw/memfs/nope", relay.url),
            "-o",
            s(&target),
        ],
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.starts_with("pfs: get: "), "{}", out.stderr);
}

fn relay_ranged(log: &[relay::Seen]) -> usize {
    log.iter()
        .filter(|s| s.method == "GET" && s.range_start.is_some())
        .count()
}

/// The content of tree file `i`: its number and a length that varies (0 to 299 bytes).
fn tree_content(i: usize) -> Vec<u8> {
    let head = format!("file {i}\n");
    let mut v = head.into_bytes();
    v.resize(i % 300, b'a' + (i % 26) as u8);
    v
}

/// Every file below `root` with its content, keyed by its path relative to `root`.
fn read_tree(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let e = e.expect("entry");
            let p = e.path();
            if e.file_type().expect("type").is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).expect("below root");
                out.insert(
                    rel.to_string_lossy().into_owned(),
                    std::fs::read(&p).expect("read"),
                );
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_of_10000_files_round_trips() {
    let server = serve().await;
    let src = tempfile::tempdir().expect("temp dir");
    let root = src.path().join("data");
    for i in 0..10_000 {
        let dir = root
            .join(format!("d{:02}", i % 40))
            .join(format!("e{}", i % 3));
        if i < 120 {
            std::fs::create_dir_all(&dir).expect("mkdir");
        }
        std::fs::write(dir.join(format!("f {i}.txt")), tree_content(i)).expect("write");
    }
    std::fs::create_dir_all(root.join("empty")).expect("mkdir");
    let started = Instant::now();
    let out = run(&server.url, &["upload", "-r", s(&root), "/memfs/"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let up = started.elapsed();
    let entries = server
        .state
        .fs
        .read_dir("/memfs/data/d07/e1")
        .await
        .expect("ls");
    assert!(!entries.is_empty());
    let dst = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let out = run(
        &server.url,
        &[
            "cp",
            "-r",
            "/memfs/data",
            &format!("local:{}", s(&dst.path().join("back"))),
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let down = started.elapsed();
    eprintln!("10,000 files: upload {up:?}, download {down:?}");
    let sent = read_tree(&root);
    let got = read_tree(&dst.path().join("back"));
    assert_eq!(sent.len(), 10_000);
    assert!(got == sent, "names or contents differ after the round trip");
    assert!(
        dst.path().join("back/empty").is_dir(),
        "empty directories come along"
    );
}
