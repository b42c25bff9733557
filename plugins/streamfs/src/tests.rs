//! streamfs: the conformance cases that fit a flat stream layout, plus streamfs's own cases.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fs_core::conformance::{Fixture, assert_kind};
use fs_core::{ByteStream, ErrorKind, FileSystem, ServicePlugin, WriteFlags};
use futures_util::StreamExt;
use serde_json::json;

use super::{README, StreamFs, StreamFsConfig, StreamFsPlugin};

/// How long a test waits for something that should happen at once.
const DEADLINE: Duration = Duration::from_secs(5);

fn new_fs(ring: u64, channel: u64) -> StreamFs {
    StreamFs::new(
        StreamFsConfig {
            ring_buffer_size: ring,
            channel_buffer_size: channel,
        },
        Bytes::from_static(README.as_bytes()),
    )
}

fn default_fs() -> StreamFs {
    new_fs(1 << 20, 1 << 20)
}

// Streams cannot be read back as files, so the cases run with no writable root and `/README` as the
// known file: the root, missing paths, README reads and the capability contract.
mod plugin {
    use super::*;
    fs_core::conformance_tests!(|| async {
        Fixture::read_only(Arc::new(default_fs()), Some(("/README", README.as_bytes())))
    });
}

// The buffer sizes changed on a mounted instance.
mod reconfigure;

async fn put(fs: &dyn FileSystem, path: &str, data: impl Into<Bytes>) {
    fs.write(path, data.into(), None, WriteFlags::NONE)
        .await
        .unwrap_or_else(|e| panic!("write {path}: {e}"));
}

/// The next chunk of `s`, failing after [`DEADLINE`].
async fn next(s: &mut ByteStream) -> Option<Bytes> {
    tokio::time::timeout(DEADLINE, s.next())
        .await
        .expect("no chunk within the deadline")
        .map(|r| r.unwrap())
}

fn meta(fs_info: &fs_core::FileInfo, key: &str) -> u64 {
    fs_info.meta.content.as_ref().unwrap()[key].parse().unwrap()
}

async fn stat_meta(fs: &dyn FileSystem, path: &str, key: &str) -> u64 {
    meta(&fs.stat(path).await.unwrap(), key)
}

#[tokio::test]
async fn open_stream_before_writer_gets_every_chunk_in_order() {
    let fs = default_fs();
    let mut r = fs.open_stream("/live").await.unwrap();
    for i in 0..100 {
        put(&fs, "/live", format!("chunk-{i};")).await;
    }
    for i in 0..100 {
        assert_eq!(next(&mut r).await.unwrap(), format!("chunk-{i};"));
    }
    let info = fs.stat("/live").await.unwrap();
    assert_eq!(info.meta.kind, "stream");
    assert_eq!(info.size, meta(&info, "total_written"));
    assert_eq!(meta(&info, "active_readers"), 1);
    assert_eq!(meta(&info, "dropped_chunks"), 0);
}

#[tokio::test]
async fn open_stream_late_reader_gets_ring_history_then_live() {
    let fs = new_fs(10, 1 << 20);
    for chunk in ["aaaa", "bbbb", "cccc"] {
        put(&fs, "/live", chunk).await;
    }
    let mut r = fs.open_stream("/live").await.unwrap();
    // The ring keeps the most recent 10 bytes' worth of whole chunks.
    assert_eq!(next(&mut r).await.unwrap(), "bbbb");
    assert_eq!(next(&mut r).await.unwrap(), "cccc");
    put(&fs, "/live", "dddd").await;
    assert_eq!(next(&mut r).await.unwrap(), "dddd");
    assert_eq!(fs.stat("/live").await.unwrap().size, 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_stream_ten_concurrent_readers_each_get_everything() {
    let fs = Arc::new(default_fs());
    put(fs.as_ref(), "/live", "history|").await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let mut r = fs.open_stream("/live").await.unwrap();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while got.len() < 51 {
                got.push(next(&mut r).await.unwrap());
            }
            got
        }));
    }
    let expected: Vec<Bytes> = std::iter::once(Bytes::from("history|"))
        .chain((0..50).map(|i| Bytes::from(format!("{i}|"))))
        .collect();
    for i in 0..50 {
        put(fs.as_ref(), "/live", format!("{i}|")).await;
        tokio::task::yield_now().await;
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), expected);
    }
    assert_eq!(stat_meta(fs.as_ref(), "/live", "dropped_chunks").await, 0);
}

#[tokio::test]
async fn write_slow_reader_does_not_block_writer_and_drops_are_counted() {
    let channel = 1024;
    let fs = new_fs(0, channel);
    // Never polled.
    let slow = fs.open_stream("/live").await.unwrap();
    let mut fast = fs.open_stream("/live").await.unwrap();
    let chunk = Bytes::from(vec![b'x'; 100]);
    let writes = 10 * channel as usize / chunk.len();
    let start = Instant::now();
    tokio::time::timeout(DEADLINE, async {
        for _ in 0..writes {
            put(&fs, "/live", chunk.clone()).await;
            // The fast reader keeps up and misses nothing.
            assert_eq!(next(&mut fast).await.unwrap(), chunk);
        }
    })
    .await
    .expect("the writer was blocked");
    assert!(start.elapsed() < DEADLINE);
    let info = fs.stat("/live").await.unwrap();
    assert_eq!(info.size, (writes * chunk.len()) as u64);
    // The slow reader's queue holds 10 chunks (1000 bytes); everything after was dropped for it.
    assert_eq!(meta(&info, "dropped_chunks"), (writes - 10) as u64);
    assert_eq!(meta(&info, "active_readers"), 2);
    drop(slow);
}

#[tokio::test]
async fn open_stream_dropped_reader_frees_its_slot() {
    let fs = default_fs();
    let a = fs.open_stream("/live").await.unwrap();
    let mut b = fs.open_stream("/live").await.unwrap();
    assert_eq!(stat_meta(&fs, "/live", "active_readers").await, 2);
    drop(a);
    let start = Instant::now();
    while stat_meta(&fs, "/live", "active_readers").await != 1 {
        assert!(start.elapsed() < DEADLINE, "dropped reader still counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Writes after the drop go only to the remaining reader and count no drops.
    put(&fs, "/live", "after").await;
    assert_eq!(next(&mut b).await.unwrap(), "after");
    assert_eq!(stat_meta(&fs, "/live", "dropped_chunks").await, 0);
}

#[tokio::test]
async fn remove_ends_readers_after_their_queued_chunks() {
    let fs = Arc::new(default_fs());
    let mut queued = fs.open_stream("/live").await.unwrap();
    let mut waiting = fs.open_stream("/live").await.unwrap();
    put(fs.as_ref(), "/live", "last").await;
    assert_eq!(next(&mut waiting).await.unwrap(), "last");
    // A reader parked in `next` is woken by the removal.
    let parked = tokio::spawn(async move { next(&mut waiting).await });
    tokio::task::yield_now().await;
    fs.remove("/live").await.unwrap();
    assert_eq!(parked.await.unwrap(), None);
    assert_eq!(next(&mut queued).await.unwrap(), "last");
    assert_eq!(next(&mut queued).await, None);
    assert_kind(fs.stat("/live").await, ErrorKind::NotFound);
    assert_kind(fs.remove("/live").await, ErrorKind::NotFound);
}

#[tokio::test]
async fn shutdown_ends_every_reader() {
    let fs = default_fs();
    let mut a = fs.open_stream("/a").await.unwrap();
    let mut b = fs.open_stream("/b").await.unwrap();
    fs.shutdown().await.unwrap();
    assert_eq!(next(&mut a).await, None);
    assert_eq!(next(&mut b).await, None);
}

#[tokio::test]
async fn read_stream_plainly_invalid_argument() {
    let fs = default_fs();
    put(&fs, "/live", "data").await;
    let e = fs.read("/live", 0, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.to_string()
            .contains("use stream mode for reading stream files"),
        "{e}"
    );
    assert!(e.to_string().contains("stream=true"), "{e}");
    assert_kind(
        fs.read_content("/live", 0, None).await.map(|_| ()),
        ErrorKind::InvalidArgument,
    );
    assert_kind(fs.read("/missing", 0, None).await, ErrorKind::NotFound);
    // README is a plain file: reads work and a stream read falls back to them.
    assert!(
        fs.read("/README", 0, None)
            .await
            .unwrap()
            .starts_with(b"# streamfs")
    );
    assert_kind(
        fs.open_stream("/README").await.map(|_| ()),
        ErrorKind::Unsupported,
    );
    assert_kind(
        fs.open_stream("/").await.map(|_| ()),
        ErrorKind::IsADirectory,
    );
}

#[tokio::test]
async fn open_stream_missing_creates_stream() {
    let fs = default_fs();
    let _r = fs.open_stream("/new").await.unwrap();
    let info = fs.stat("/new").await.unwrap();
    assert!(!info.is_dir);
    assert_eq!((info.size, info.mode), (0, 0o644));
    assert_eq!(meta(&info, "active_readers"), 1);
    let names: Vec<String> = fs
        .read_dir("/")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["README", "new"]);
}

#[tokio::test]
async fn create_mkdir_rename_truncate_touch_semantics() {
    let fs = default_fs();
    fs.create("/s").await.unwrap();
    assert_kind(fs.create("/s").await, ErrorKind::AlreadyExists);
    assert_kind(fs.create("/README").await, ErrorKind::AlreadyExists);
    assert_kind(fs.mkdir("/d", 0o755).await, ErrorKind::Unsupported);
    assert_kind(fs.rename("/s", "/t").await, ErrorKind::Unsupported);
    assert_kind(fs.chmod("/s", 0o600).await, ErrorKind::Unsupported);
    fs.truncate("/s", 0).await.unwrap();
    assert_kind(fs.truncate("/missing", 0).await, ErrorKind::NotFound);
    fs.touch("/touched").await.unwrap();
    assert_eq!(fs.stat("/touched").await.unwrap().size, 0);
    fs.touch("/s").await.unwrap();
    assert_kind(
        fs.write("/README", Bytes::from_static(b"x"), None, WriteFlags::NONE)
            .await,
        ErrorKind::PermissionDenied,
    );
    assert_kind(
        fs.write("/s/x", Bytes::from_static(b"x"), None, WriteFlags::NONE)
            .await,
        ErrorKind::NotADirectory,
    );
    assert_kind(
        fs.write("/nodir/x", Bytes::from_static(b"x"), None, WriteFlags::NONE)
            .await,
        ErrorKind::NotFound,
    );
    assert_kind(
        fs.write(
            "/absent",
            Bytes::from_static(b"x"),
            None,
            WriteFlags::TRUNCATE,
        )
        .await,
        ErrorKind::NotFound,
    );
    assert_kind(
        fs.write(
            "/s",
            Bytes::from_static(b"x"),
            None,
            WriteFlags::CREATE | WriteFlags::EXCLUSIVE,
        )
        .await,
        ErrorKind::AlreadyExists,
    );
    assert_kind(fs.read_dir("/s").await, ErrorKind::NotADirectory);
    fs.remove_all("/").await.unwrap();
    let names: Vec<String> = fs
        .read_dir("/")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["README"]);
}

#[test]
fn validate_sizes_parse() {
    let c = StreamFsConfig::from_value(&json!({})).unwrap();
    assert_eq!(c, StreamFsConfig::default());
    assert_eq!(c.ring_buffer_size, 6 * 1024 * 1024);
    let c = StreamFsConfig::from_value(
        &json!({"ring_buffer_size": "512KB", "channel_buffer_size": 4096}),
    )
    .unwrap();
    assert_eq!(
        (c.ring_buffer_size, c.channel_buffer_size),
        (512 * 1024, 4096)
    );
    let c =
        StreamFsConfig::from_value(&json!({"ring_buffer_size": 0, "channel_buffer_size": "6MB"}))
            .unwrap();
    assert_eq!((c.ring_buffer_size, c.channel_buffer_size), (0, 6 << 20));
    for bad in [
        json!({"ring_buffer_size": "lots"}),
        json!({"channel_buffer_size": 0}),
        json!({"channel_buffer_size": -1}),
        json!({"ring_buffer_size": true}),
        json!({"buffer": 1}),
    ] {
        let e = fs_core::plugin::vet(&StreamFsPlugin, &bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
    }
}

#[tokio::test]
async fn initialize_applies_sizes_and_readme() {
    let fs = StreamFsPlugin
        .initialize(fs_core::conformance::mount_context(
            "/streamfs",
            json!({"ring_buffer_size": "4", "channel_buffer_size": "1KB"}),
        ))
        .await
        .unwrap();
    put(fs.as_ref(), "/s", "ab").await;
    put(fs.as_ref(), "/s", "cd").await;
    put(fs.as_ref(), "/s", "ef").await;
    let mut r = fs.open_stream("/s").await.unwrap();
    assert_eq!(next(&mut r).await.unwrap(), "cd");
    assert_eq!(next(&mut r).await.unwrap(), "ef");
    assert!(
        fs.read("/README", 0, None)
            .await
            .unwrap()
            .starts_with(b"# streamfs")
    );
}

#[tokio::test]
async fn handle_reads_wait_a_bounded_time_then_answer_empty() {
    use fs_core::OpenFlags;
    let wait = Duration::from_millis(100);
    let fs = Arc::new(default_fs().with_handle_read_wait(wait));
    let mut reader = fs
        .clone()
        .open_handle("/live", OpenFlags::RDONLY, 0o644)
        .await
        .unwrap();
    let mut writer = fs
        .clone()
        .open_handle("/live", OpenFlags::WRONLY, 0o644)
        .await
        .unwrap();
    let started = Instant::now();
    assert!(reader.read(10).await.unwrap().is_empty());
    assert!(started.elapsed() >= wait && started.elapsed() < DEADLINE);
    // Idle: ask again; data: a piece; removed and drained: the end.
    assert_eq!(reader.read_chunk(10).await.unwrap(), Some(Bytes::new()));
    writer.write(Bytes::from_static(b"chunk")).await.unwrap();
    assert_eq!(reader.read_chunk(3).await.unwrap().unwrap(), "chu");
    assert_eq!(reader.read(10).await.unwrap(), "nk");
    assert_eq!(reader.position(), 5);
    fs.remove("/live").await.unwrap();
    assert_eq!(reader.read_chunk(10).await.unwrap(), None);
    assert_kind(
        writer.write(Bytes::from_static(b"late")).await,
        ErrorKind::NotFound,
    );
    // A writer needs O_CREAT for a stream that does not exist; a reader may wait for one.
    assert_kind(
        fs.clone()
            .open_handle("/new", OpenFlags::WRONLY, 0o644)
            .await,
        ErrorKind::NotFound,
    );
    drop(reader);
    let st = fs.stat("/live").await;
    assert_kind(st, ErrorKind::NotFound);
}
