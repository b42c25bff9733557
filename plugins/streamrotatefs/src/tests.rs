//! streamrotatefs: the streamfs conformance subset, then recording through a real mount tree
//! (memfs at `/memfs`, hellofs at `/hellofs`, streamrotatefs at `/rot`).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use fs_core::conformance::Fixture;
use fs_core::{ErrorKind, FileSystem, MountableFs, PluginRegistry, ServerInfo, WriteFlags};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::{README, RotationConfig, StreamRotateFs, StreamRotateFsPlugin};
use pfs_streamfs::StreamFsConfig;

/// How long a test waits for something that should happen at once.
const DEADLINE: Duration = Duration::from_secs(5);

// As for streamfs: streams cannot be read back as files, so the cases run read-only with `/README`.
mod plugin {
    use super::*;
    fs_core::conformance_tests!(|| async {
        let fs = StreamRotateFs::new(
            StreamFsConfig::default(),
            RotationConfig::from_value(&json!({"output_path": "/memfs/out"})).unwrap(),
            Weak::new(),
            Bytes::from_static(README.as_bytes()),
        );
        Fixture::read_only(Arc::new(fs), Some(("/README", README.as_bytes())))
    });
}

// The config changed on a mounted instance.
mod reconfigure;

/// A tree with memfs at `/memfs`, hellofs at `/hellofs` and streamrotatefs at `/rot` with `config`.
async fn tree(config: Value) -> Arc<MountableFs> {
    let router = MountableFs::new(ServerInfo {
        version: "9.9.9".into(),
        started: SystemTime::now(),
        data_dir: None,
    });
    let registry = PluginRegistry::new();
    register(&registry);
    for (plugin, path, config) in [
        ("memfs", "/memfs", json!({})),
        ("hellofs", "/hellofs", json!({})),
        ("streamrotatefs", "/rot", config),
    ] {
        router
            .mount_plugin(&registry, plugin, path, None, config)
            .await
            .unwrap_or_else(|e| panic!("mount {plugin}: {e}"));
    }
    router
}

async fn put(fs: &MountableFs, path: &str, data: &'static str) {
    let n = fs
        .write(
            path,
            Bytes::from_static(data.as_bytes()),
            None,
            WriteFlags::NONE,
        )
        .await
        .unwrap_or_else(|e| panic!("write {path}: {e}"));
    assert_eq!(n, data.len() as u64);
}

/// The files in `dir`, sorted by name, with their content.
async fn files(fs: &MountableFs, dir: &str) -> Vec<(String, String)> {
    let mut names: Vec<String> = fs
        .read_dir(dir)
        .await
        .unwrap_or_else(|e| panic!("read_dir {dir}: {e}"))
        .into_iter()
        .filter(|i| !i.is_dir)
        .map(|i| i.name)
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let data = fs.read(&format!("{dir}/{name}"), 0, None).await.unwrap();
        out.push((name, String::from_utf8(data.to_vec()).unwrap()));
    }
    out
}

async fn stream_meta(fs: &MountableFs, path: &str, key: &str) -> String {
    let info = fs.stat(path).await.unwrap();
    info.meta
        .content
        .as_ref()
        .and_then(|c| c.get(key))
        .unwrap_or_else(|| panic!("{path}: no meta {key} in {:?}", info.meta))
        .clone()
}

#[tokio::test]
async fn write_records_chunks_in_order() {
    let fs = tree(json!({"output_path": "/memfs/out", "filename_pattern": "{channel}.dat"})).await;
    for chunk in ["one ", "two ", "three"] {
        put(&fs, "/rot/live", chunk).await;
    }
    assert_eq!(
        files(&fs, "/memfs/out").await,
        [("live.dat".to_string(), "one two three".to_string())]
    );
    assert_eq!(
        stream_meta(&fs, "/rot/live", "current_file").await,
        "/memfs/out/live.dat"
    );
    assert_eq!(stream_meta(&fs, "/rot/live", "files_written").await, "1");
    assert_eq!(
        stream_meta(&fs, "/rot/live", "bytes_in_current_file").await,
        "13"
    );
    assert_eq!(stream_meta(&fs, "/rot/live", "output_errors").await, "0");
    // streamfs's own fields are still there.
    assert_eq!(stream_meta(&fs, "/rot/live", "total_written").await, "13");
    assert_eq!(
        fs.stat("/rot/live").await.unwrap().meta.name,
        "streamrotatefs"
    );
}

#[tokio::test]
async fn write_past_rotation_size_starts_new_files() {
    let fs = tree(json!({
        "output_path": "/memfs/rec/deep",
        "rotation_size": 10,
        "filename_pattern": "{channel}_{index}.dat",
    }))
    .await;
    let chunks = ["abcd", "efgh", "ij", "klmnopq", "r", "stuvwxyz0123", "45"];
    for chunk in chunks {
        put(&fs, "/rot/s", chunk).await;
    }
    let got = files(&fs, "/memfs/rec/deep").await;
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "s_000000.dat",
            "s_000001.dat",
            "s_000002.dat",
            "s_000003.dat"
        ]
    );
    // Every byte exactly once, in order; no file past the size unless one chunk is larger.
    let all: String = got.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(all, chunks.concat());
    assert_eq!(got[0].1, "abcdefghij");
    assert_eq!(got[2].1, "stuvwxyz0123");
    assert_eq!(stream_meta(&fs, "/rot/s", "files_written").await, "4");
    assert_eq!(
        stream_meta(&fs, "/rot/s", "current_file").await,
        "/memfs/rec/deep/s_000003.dat"
    );
    assert_eq!(
        stream_meta(&fs, "/rot/s", "bytes_in_current_file").await,
        "2"
    );
}

#[tokio::test]
async fn write_after_rotation_interval_starts_new_file() {
    let fs = tree(json!({
        "output_path": "/memfs/out",
        "rotation_interval": "1s",
        "filename_pattern": "{channel}_{index}.dat",
    }))
    .await;
    put(&fs, "/rot/tick", "first").await;
    let opened = Instant::now();
    put(&fs, "/rot/tick", "+").await;
    assert_eq!(files(&fs, "/memfs/out").await.len(), 1);
    // Wait out the interval (measured from just after the file was opened), then write again.
    while opened.elapsed() < Duration::from_millis(1100) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    put(&fs, "/rot/tick", "second").await;
    assert_eq!(
        files(&fs, "/memfs/out").await,
        [
            ("tick_000000.dat".to_string(), "first+".to_string()),
            ("tick_000001.dat".to_string(), "second".to_string()),
        ]
    );
}

#[tokio::test]
async fn open_stream_reader_gets_every_chunk_while_recording() {
    let fs = tree(json!({
        "output_path": "/memfs/out",
        "rotation_size": 8,
        "filename_pattern": "{channel}_{index}.dat",
    }))
    .await;
    let mut reader = fs.open_stream("/rot/feed").await.unwrap();
    let chunks: Vec<String> = (0..20).map(|i| format!("chunk-{i:02};")).collect();
    for chunk in &chunks {
        fs.write(
            "/rot/feed",
            Bytes::from(chunk.clone()),
            None,
            WriteFlags::NONE,
        )
        .await
        .unwrap();
    }
    for want in &chunks {
        let got = tokio::time::timeout(DEADLINE, reader.next())
            .await
            .expect("reader stalled")
            .expect("stream ended")
            .unwrap();
        assert_eq!(got, want.as_bytes());
    }
    let recorded = files(&fs, "/memfs/out").await;
    assert_eq!(
        recorded.len(),
        20,
        "one file per chunk larger than the size"
    );
    assert_eq!(
        recorded.iter().map(|(_, d)| d.as_str()).collect::<String>(),
        chunks.concat()
    );
}

#[tokio::test]
async fn write_expands_pattern_variables() {
    let fs = tree(json!({
        "output_path": "/memfs/out",
        "filename_pattern": "{channel}/{date}-{time}-{datetime}-{timestamp}-{index}.log",
    }))
    .await;
    let before = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    put(&fs, "/rot/cam", "x").await;
    let got = files(&fs, "/memfs/out/cam").await;
    assert_eq!(got.len(), 1);
    let name = &got[0].0;
    // Shape: DDDDDDDD-DDDDDD-DDDDDDDD_DDDDDD-<secs>-000000.log
    let fields: Vec<&str> = name.trim_end_matches(".log").split('-').collect();
    assert_eq!(fields.len(), 5, "{name}");
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    assert!(digits(fields[0], 8), "{name}");
    assert!(digits(fields[1], 6), "{name}");
    let (d, t) = fields[2].split_once('_').unwrap();
    assert_eq!((d, t), (fields[0], fields[1]), "{name}");
    let secs: u64 = fields[3].parse().unwrap();
    assert!(secs >= before && secs <= before + 5, "{name}");
    assert_eq!(fields[4], "000000");
    assert!(name.ends_with(".log"));
}

#[tokio::test]
async fn write_when_name_taken_adds_suffix() {
    let config = json!({"output_path": "/memfs/out", "filename_pattern": "{channel}.dat"});
    let fs = tree(config).await;
    put(&fs, "/rot/live", "old").await;
    // A removed and recreated stream starts a new file; the old recording is kept.
    fs.remove("/rot/live").await.unwrap();
    put(&fs, "/rot/live", "new").await;
    assert_eq!(
        files(&fs, "/memfs/out").await,
        [
            ("live-1.dat".to_string(), "new".to_string()),
            ("live.dat".to_string(), "old".to_string()),
        ]
    );
}

#[tokio::test]
async fn write_to_read_only_output_succeeds_and_counts_errors() {
    let fs = tree(json!({"output_path": "/hellofs/out"})).await;
    let mut reader = fs.open_stream("/rot/live").await.unwrap();
    put(&fs, "/rot/live", "a").await;
    put(&fs, "/rot/live", "b").await;
    for want in ["a", "b"] {
        let got = tokio::time::timeout(DEADLINE, reader.next())
            .await
            .expect("reader stalled")
            .expect("stream ended")
            .unwrap();
        assert_eq!(got, want);
    }
    assert_eq!(stream_meta(&fs, "/rot/live", "output_errors").await, "2");
    assert_eq!(stream_meta(&fs, "/rot/live", "files_written").await, "0");
    assert_eq!(stream_meta(&fs, "/rot/live", "current_file").await, "");
    assert!(
        !stream_meta(&fs, "/rot/live", "last_output_error")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn write_after_root_gone_counts_error() {
    let fs = StreamRotateFs::new(
        StreamFsConfig::default(),
        RotationConfig::from_value(&json!({"output_path": "/memfs/out"})).unwrap(),
        Weak::new(),
        Bytes::from_static(README.as_bytes()),
    );
    fs.write("/s", Bytes::from_static(b"x"), None, WriteFlags::NONE)
        .await
        .unwrap();
    let info = fs.stat("/s").await.unwrap();
    assert_eq!(info.meta.content.unwrap()["output_errors"], "1");
}

#[tokio::test]
async fn write_without_create_to_missing_stream_fails_and_leaves_nothing() {
    let fs = tree(json!({"output_path": "/memfs/out"})).await;
    let err = fs
        .write(
            "/rot/none",
            Bytes::from_static(b"x"),
            None,
            WriteFlags::APPEND,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        fs.stat("/memfs/out").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn mount_with_output_inside_itself_fails() {
    let router = MountableFs::new(ServerInfo {
        version: "9.9.9".into(),
        started: SystemTime::now(),
        data_dir: None,
    });
    let registry = PluginRegistry::new();
    register(&registry);
    let err = router
        .mount_plugin(
            &registry,
            "streamrotatefs",
            "/rot",
            None,
            json!({"output_path": "/rot/out"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("output_path"), "{err}");
}

#[test]
fn validate_without_output_path_names_it() {
    let err = fs_core::plugin::vet(&StreamRotateFsPlugin, &json!({})).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("output_path"), "{err}");
}

#[test]
fn validate_config_forms() {
    for ok in [
        json!({"output_path": "/memfs/r"}),
        json!({"output_path": "/memfs/r", "rotation_size": "10MB", "rotation_interval": "1h"}),
        json!({"output_path": "/memfs/r", "rotation_size": 1, "rotation_interval": 2.5}),
        json!({"output_path": "/memfs/r", "rotation_interval": ""}),
        json!({"output_path": "/memfs/r", "ring_buffer_size": "512KB", "filename_pattern": "{date}/{channel}_{time}.bin"}),
    ] {
        fs_core::plugin::vet(&StreamRotateFsPlugin, &ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for (bad, key) in [
        (json!({"output_path": "memfs/r"}), "output_path"),
        (json!({"output_path": 3}), "output_path"),
        (
            json!({"output_path": "/m", "rotation_size": 0}),
            "rotation_size",
        ),
        (
            json!({"output_path": "/m", "rotation_size": "lots"}),
            "rotation_size",
        ),
        (
            json!({"output_path": "/m", "rotation_interval": "0s"}),
            "rotation_interval",
        ),
        (
            json!({"output_path": "/m", "rotation_interval": "soon"}),
            "rotation_interval",
        ),
        (
            json!({"output_path": "/m", "filename_pattern": "{x}.dat"}),
            "{x}",
        ),
        (
            json!({"output_path": "/m", "channel_buffer_size": 0}),
            "channel_buffer_size",
        ),
        (json!({"output_path": "/m", "bogus": 1}), "bogus"),
    ] {
        let err = fs_core::plugin::vet(&StreamRotateFsPlugin, &bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
        assert!(err.to_string().contains(key), "{bad}: {err}");
    }
}

/// The plugins these tests mount: streamrotatefs, and memfs and hellofs as targets.
fn register(registry: &PluginRegistry) {
    registry
        .register(Arc::new(crate::StreamRotateFsPlugin))
        .unwrap();
    registry.register(Arc::new(pfs_memfs::MemFsPlugin)).unwrap();
    registry
        .register(Arc::new(pfs_hellofs::HelloFsPlugin))
        .unwrap();
}
