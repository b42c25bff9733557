//! Response bodies leave nothing behind: many `GET /api/v1/files` on memfs and localfs, each read
//! to the end or dropped after its first chunk, keep RSS flat and give back every file
//! descriptor (a peer server leaked the cleanup that runs after a body). One test alone in its own
//! binary, so nothing else allocates or opens files in this process while it measures.

mod common;

use std::time::{Duration, Instant};

use axum::Router;
use common::{app_with, get, put, send};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// The file's size: several read chunks, so a body dropped after one is dropped halfway.
const SIZE: usize = 1 << 20;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits (bounded) until the process holds `want` descriptors again: a body dropped mid-read
/// closes its file when the blocking read that was in flight notices.
async fn fds_back_to(want: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds() != want {
        assert!(
            Instant::now() < deadline,
            "{what}: {} descriptors open, {want} before",
            open_fds()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `n` GETs of `path`: read whole (checking the length) or dropped after the first chunk.
async fn gets(app: &Router, path: &str, n: usize, whole: bool) {
    for _ in 0..n {
        let resp = app
            .clone()
            .oneshot(get(&format!("/api/v1/files?path={path}")))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-length"], SIZE.to_string().as_str());
        let mut body = resp.into_body();
        if whole {
            assert_eq!(body.collect().await.unwrap().to_bytes().len(), SIZE);
        } else {
            let first = body.frame().await.unwrap().unwrap();
            let len = first.data_ref().map_or(0, |d| d.len());
            // memfs answers with one slice of its buffer; localfs streams in chunks.
            assert!(
                len > 0 && (len < SIZE || !path.starts_with("/local")),
                "{path}: {len}"
            );
            drop(body);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_read_or_dropped_leave_memory_and_descriptors_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app_with(&format!(
        "plugins:\n  memfs: {{path: /memfs}}\n  localfs: {{path: /local, config: {{local_dir: '{}'}}}}\n",
        dir.path().display()
    ))
    .await;
    let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    for path in ["/memfs/big", "/local/big"] {
        let (s, _) = send(
            &app,
            put(&format!("/api/v1/files?path={path}"), data.clone()),
        )
        .await;
        assert_eq!(s, 200);
    }
    // Warm-up: allocator pools, the blocking pool's threads.
    for path in ["/memfs/big", "/local/big"] {
        gets(&app, path, 200, true).await;
        gets(&app, path, 200, false).await;
    }
    let fds = open_fds();
    fds_back_to(fds, "after the warm-up").await;
    let before = rss_kib();
    for path in ["/memfs/big", "/local/big"] {
        gets(&app, path, 2_000, true).await;
        fds_back_to(fds, &format!("{path} read whole")).await;
        gets(&app, path, 2_000, false).await;
        fds_back_to(fds, &format!("{path} dropped halfway")).await;
    }
    let after = rss_kib();
    println!("8000 GETs of 1 MiB: VmRSS {before} KiB -> {after} KiB, {fds} descriptors");
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
}
