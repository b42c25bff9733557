//! Streamed whole-file writes on both backends: staged chunks round trip, failures and the body
//! limit leave the old content and no staged rows, readers see the old content during an upload,
//! and the mount-time sweep removes only stale staged rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use fs_core::conformance::assert_kind;
use fs_core::{ByteStream, Error, ErrorKind, FileSystem, WriteFlags};
use futures_util::StreamExt;
use serde_json::Value;

use super::{drop_database, mysql_config, mysql_dsn, pattern, sqlfs, sqlite_config};
use crate::ops::{self, CHUNK};
use crate::stream::{STALE_AFTER_SECS, staging_id};
use crate::{SqlFs, Store};

on_both_backends!(
    write_stream_odd_pieces_round_trip_byte_exact,
    write_stream_checks_flags_and_parent_before_staging,
    write_stream_failure_or_limit_keeps_old_content_and_no_staged_rows,
    write_stream_reader_sees_old_content_during_upload,
    mount_sweeps_stale_staged_rows_only,
);

/// `data` cut into pieces of the sizes in `sizes`, cycled.
fn pieces(data: &[u8], sizes: &[usize]) -> ByteStream {
    let mut out = Vec::new();
    let (mut pos, mut i) = (0, 0);
    while pos < data.len() {
        let n = sizes[i % sizes.len()].min(data.len() - pos);
        out.push(Ok(Bytes::copy_from_slice(&data[pos..pos + n])));
        pos += n;
        i += 1;
    }
    Box::pin(futures_util::stream::iter(out))
}

fn stream_of(items: Vec<fs_core::Result<Bytes>>) -> ByteStream {
    Box::pin(futures_util::stream::iter(items))
}

async fn stage_raw(raw: &SqlFs, id: i64, idx: u64, data: &[u8]) {
    let data = Bytes::copy_from_slice(data);
    let ok = match &raw.store() {
        Store::Sqlite(pool) => crate::sqlite::stage(pool, id, idx, data).await,
        Store::Mysql(pool) => crate::mysql::stage(pool, id, idx, data).await,
    };
    assert!(ok.unwrap(), "staging id {id} taken");
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn write_stream_odd_pieces_round_trip_byte_exact(config: Value) {
    let (fs, raw) = sqlfs(config).await;
    fs.write(
        "/f",
        Bytes::from(pattern(900_000, 9)),
        None,
        WriteFlags::NONE,
    )
    .await
    .unwrap();
    let data = pattern(3 * 1024 * 1024 + 5, 3);
    let body = pieces(&data, &[1, 4095, 65_537, 300_001, 7, 262_144]);
    let n = fs
        .write_stream("/f", body, u64::MAX, None, WriteFlags::NONE)
        .await
        .unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(fs.stat("/f").await.unwrap().size, data.len() as u64);
    let before = raw.chunks_read();
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), data);
    assert_eq!(
        raw.chunks_read() - before,
        13,
        "3 MiB + 5 bytes = 13 chunks"
    );
    let off = 2 * CHUNK as usize - 3;
    let got = fs.read("/f", off as u64, Some(6)).await.unwrap();
    assert_eq!(&got[..], &data[off..off + 6]);
    // The old file's chunks went with it; nothing staged is left.
    assert_eq!(raw.orphan_chunks().await, 0);
    // A pwrite into the streamed file still works on its (new) id.
    fs.write("/f", Bytes::from_static(b"XY"), Some(5), WriteFlags::NONE)
        .await
        .unwrap();
    let mut expect = data.clone();
    expect[5..7].copy_from_slice(b"XY");
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), expect);
    // Exactly one chunk, a small body and an empty one take the one-transaction path.
    for len in [CHUNK as usize, 10, 0] {
        let d = pattern(len, 4);
        let body = pieces(&d, &[1000, 3]);
        fs.write_stream("/g", body, u64::MAX, None, WriteFlags::NONE)
            .await
            .unwrap();
        assert_eq!(fs.read("/g", 0, None).await.unwrap(), d);
    }
    // A new file, created by the streamed write (CREATE|TRUNCATE as the server sends them).
    let d = pattern(CHUNK as usize + 1, 5);
    let flags = WriteFlags::CREATE | WriteFlags::TRUNCATE;
    fs.write_stream("/new", pieces(&d, &[100_000]), u64::MAX, None, flags)
        .await
        .unwrap();
    assert_eq!(fs.read("/new", 0, None).await.unwrap(), d);
    fs.rename("/new", "/moved").await.unwrap();
    assert_eq!(fs.read("/moved", 0, None).await.unwrap(), d);
    fs.remove("/moved").await.unwrap();
    assert_eq!(raw.orphan_chunks().await, 0);
}

async fn write_stream_checks_flags_and_parent_before_staging(config: Value) {
    let (fs, raw) = sqlfs(config).await;
    fs.write("/f", Bytes::from_static(b"old"), None, WriteFlags::NONE)
        .await
        .unwrap();
    fs.mkdir("/d", 0o755).await.unwrap();
    // 64 MiB offered; a doomed write must stop after the first chunk or so.
    let long = || {
        let polled = Arc::new(AtomicUsize::new(0));
        let p = polled.clone();
        let s: ByteStream = Box::pin(
            futures_util::stream::repeat(Bytes::from(vec![7u8; 64 * 1024]))
                .take(1024)
                .map(move |b| {
                    p.fetch_add(1, Ordering::Relaxed);
                    Ok(b)
                }),
        );
        (s, polled)
    };
    let excl = WriteFlags::CREATE | WriteFlags::EXCLUSIVE;
    let cases: [(&str, WriteFlags, ErrorKind); 4] = [
        ("/missing/f", WriteFlags::NONE, ErrorKind::NotFound),
        ("/d", WriteFlags::NONE, ErrorKind::IsADirectory),
        ("/f", excl, ErrorKind::AlreadyExists),
        ("/f/x", WriteFlags::CREATE, ErrorKind::NotADirectory),
    ];
    for (path, flags, kind) in cases {
        let (body, polled) = long();
        assert_kind(
            fs.write_stream(path, body, u64::MAX, None, flags).await,
            kind,
        );
        assert!(polled.load(Ordering::Relaxed) <= 8, "{path}: read on");
    }
    // Without CREATE (but another flag), a missing file is NotFound.
    let (body, _) = long();
    assert_kind(
        fs.write_stream("/nope", body, u64::MAX, None, WriteFlags::TRUNCATE)
            .await,
        ErrorKind::NotFound,
    );
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "old");
    assert_eq!(raw.orphan_chunks().await, 0);
}

async fn write_stream_failure_or_limit_keeps_old_content_and_no_staged_rows(config: Value) {
    let (fs, raw) = sqlfs(config).await;
    let old = pattern(600_000, 1);
    fs.write("/f", Bytes::from(old.clone()), None, WriteFlags::NONE)
        .await
        .unwrap();
    let big = Bytes::from(pattern(1024 * 1024, 2));
    // The client goes away after 1 MiB (four chunks staged).
    let broken = stream_of(vec![
        Ok(big.clone()),
        Ok(Bytes::from_static(b"more")),
        Err(Error::internal("client gone")),
    ]);
    assert_kind(
        fs.write_stream("/f", broken, u64::MAX, None, WriteFlags::NONE)
            .await,
        ErrorKind::Internal,
    );
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), old);
    assert_eq!(raw.orphan_chunks().await, 0);
    // Past the limit: PayloadTooLarge, on a staged upload and on a small one.
    for (limit, len) in [(1_000_000u64, 3 * 1024 * 1024), (100, 101)] {
        let d = pattern(len, 3);
        assert_kind(
            fs.write_stream("/f", pieces(&d, &[70_000]), limit, None, WriteFlags::NONE)
                .await,
            ErrorKind::PayloadTooLarge,
        );
        assert_eq!(fs.read("/f", 0, None).await.unwrap(), old);
        assert_eq!(raw.orphan_chunks().await, 0);
    }
    // At the limit exactly: accepted.
    let d = pattern(1_000_000, 4);
    fs.write_stream(
        "/g",
        pieces(&d, &[99_999]),
        1_000_000,
        None,
        WriteFlags::NONE,
    )
    .await
    .unwrap();
    // The final transaction fails: staged rows go, the old content stays.
    raw.set_fail_before_commit(true);
    assert_kind(
        fs.write_stream(
            "/f",
            stream_of(vec![Ok(big.clone())]),
            u64::MAX,
            None,
            WriteFlags::NONE,
        )
        .await,
        ErrorKind::Internal,
    );
    raw.set_fail_before_commit(false);
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), old);
    assert_eq!(fs.read("/g", 0, None).await.unwrap(), d);
    assert_eq!(raw.orphan_chunks().await, 0);
    // A cancelled upload (the request future dropped mid-body) is cleaned up in the background.
    let (tx, rx) = tokio::sync::mpsc::channel::<fs_core::Result<Bytes>>(4);
    let body: ByteStream = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (b, rx))
    }));
    let fs2 = fs.clone();
    let upload = tokio::spawn(async move {
        fs2.write_stream("/f", body, u64::MAX, None, WriteFlags::NONE)
            .await
    });
    tx.send(Ok(big.clone())).await.unwrap();
    wait_for_staged(&raw, 3).await;
    upload.abort();
    let _ = upload.await;
    for _ in 0..200 {
        if raw.orphan_chunks().await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(raw.orphan_chunks().await, 0);
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), old);
}

/// Waits until at least `n` chunk rows are staged.
async fn wait_for_staged(raw: &SqlFs, n: u64) {
    for _ in 0..500 {
        if raw.orphan_chunks().await >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("fewer than {n} chunks staged");
}

async fn write_stream_reader_sees_old_content_during_upload(config: Value) {
    let (fs, raw) = sqlfs(config).await;
    let old = pattern(300_000, 6);
    fs.write("/f", Bytes::from(old.clone()), None, WriteFlags::NONE)
        .await
        .unwrap();
    let new = pattern(2 * 1024 * 1024 + 17, 7);
    let (tx, rx) = tokio::sync::mpsc::channel::<fs_core::Result<Bytes>>(4);
    let body: ByteStream = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (b, rx))
    }));
    let fs2: Arc<dyn FileSystem> = fs.clone();
    let upload = tokio::spawn(async move {
        fs2.write_stream("/f", body, u64::MAX, None, WriteFlags::NONE)
            .await
    });
    let half = new.len() / 2;
    tx.send(Ok(Bytes::copy_from_slice(&new[..half])))
        .await
        .unwrap();
    wait_for_staged(&raw, 3).await;
    // Mid-upload: readers see the old file, and other writers are not held up.
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), old);
    assert_eq!(fs.stat("/f").await.unwrap().size, old.len() as u64);
    fs.write("/other", Bytes::from_static(b"x"), None, WriteFlags::NONE)
        .await
        .unwrap();
    fs.write("/f", Bytes::from_static(b"!"), Some(0), WriteFlags::NONE)
        .await
        .unwrap();
    let mut old = old;
    old[0] = b'!';
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), old);
    tx.send(Ok(Bytes::copy_from_slice(&new[half..])))
        .await
        .unwrap();
    drop(tx);
    let n = upload.await.unwrap().unwrap();
    assert_eq!(n, new.len() as u64);
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), new);
    assert_eq!(raw.orphan_chunks().await, 0);
}

async fn mount_sweeps_stale_staged_rows_only(config: Value) {
    let (_, raw) = sqlfs(config.clone()).await;
    let now = now_secs();
    let stale = staging_id(now - STALE_AFTER_SECS - 60, 12345);
    let fresh = staging_id(now - STALE_AFTER_SECS + 3600, 678);
    let current = staging_id(now, 9);
    for id in [stale, fresh, current] {
        stage_raw(&raw, id, 0, b"abc").await;
        stage_raw(&raw, id, 1, b"def").await;
    }
    // A file committed long ago from staged rows keeps its (old, negative) id: not swept.
    let committed = staging_id(now - 3 * STALE_AFTER_SECS, 42);
    stage_raw(&raw, committed, 0, b"kept").await;
    let op = ops::Commit {
        path: "/kept".into(),
        staged: committed,
        chunks: 1,
        size: 4,
        flags: WriteFlags::NONE,
    };
    assert_eq!(raw.run(op).await.unwrap(), 4);
    // A staging id is taken while its rows or a node use it.
    let store = raw.store();
    let taken = |id: i64| {
        let store = store.clone();
        async move {
            let d = Bytes::from_static(b"z");
            match &store {
                Store::Sqlite(p) => crate::sqlite::stage(p, id, 0, d).await.unwrap(),
                Store::Mysql(p) => crate::mysql::stage(p, id, 0, d).await.unwrap(),
            }
        }
    };
    assert!(!taken(fresh).await);
    assert!(!taken(committed).await);
    assert_eq!(raw.orphan_chunks().await, 6);
    // Mounting again sweeps: the stale upload goes, the younger ones (maybe another server's,
    // still running) stay.
    let (fs, again) = sqlfs(config).await;
    assert_eq!(again.orphan_chunks().await, 4);
    assert_eq!(fs.read("/kept", 0, None).await.unwrap(), "kept");
    assert!(taken(stale).await, "the stale id is free again");
}
