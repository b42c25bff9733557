//! Handles over many open/close cycles: ids keep rising, the table ends empty, and memory stays
//! flat over 100 K cycles. One test in its own binary, so no other test allocates in this process
//! while it reads its RSS (`bench/handles.sh` measures the release server the same way).

mod common;

use axum::Router;
use common::handles::{close, open};
use common::{app_with, put, send};

/// VmRSS of this process in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// `n` open/close cycles on one file; returns the last id.
async fn cycles(app: &Router, n: usize, mut last: u64) -> u64 {
    for _ in 0..n {
        let id = open(app, "/memfs/f", 0, "").await;
        assert!(id > last, "ids go up: {id} after {last}");
        last = id;
        close(app, id).await;
    }
    last
}

#[tokio::test]
async fn memory_stays_flat_over_100k_open_close_cycles() {
    let (app, state) = app_with("plugins:\n  memfs: {path: /memfs}\n").await;
    send(&app, put("/api/v1/files?path=/memfs/f", "x")).await;
    // Warm-up: allocator pools, the sweeper task.
    let last = cycles(&app, 10_000, 0).await;
    assert!(state.handles.is_empty());
    let before = rss_kib();
    let last = cycles(&app, 100_000, last).await;
    let after = rss_kib();
    println!("100000 open/close cycles: VmRSS {before} KiB -> {after} KiB, last id {last}");
    assert_eq!(last, 110_000, "one new id per open");
    assert!(state.handles.is_empty());
    assert!(
        after < before + 8 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
}
