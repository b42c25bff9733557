//! memfs: the conformance suite, at the plugin and through the mount router, plus memfs's own cases.

use std::sync::Arc;

use bytes::Bytes;
use fs_core::conformance::{Fixture, assert_kind};
use fs_core::{ErrorKind, FileSystem, MountContext, ServicePlugin, WriteFlags};
use serde_json::json;

use super::{MemFs, MemFsPlugin};

async fn plugin_fixture() -> Fixture {
    Fixture::writable(Arc::new(MemFs::new()), "/")
}

mod plugin {
    use super::*;
    fs_core::conformance_tests!(plugin_fixture);
}

mod mounted_at_root {
    use super::*;
    fs_core::conformance_tests!(|| fs_core::conformance::mounted_at("/", plugin_fixture));
}

mod mounted_at_a_b {
    use super::*;
    fs_core::conformance_tests!(|| fs_core::conformance::mounted_at("/a/b", plugin_fixture));
}

fn ctx(config: serde_json::Value) -> MountContext {
    fs_core::conformance::mount_context("/memfs", config)
}

#[tokio::test]
async fn initialize_creates_init_dirs_and_readme() {
    let fs = MemFsPlugin
        .initialize(ctx(json!({"init_dirs": ["/home/user", "/tmp"]})))
        .await
        .unwrap();
    assert!(fs.stat("/home/user").await.unwrap().is_dir);
    assert!(fs.stat("/tmp").await.unwrap().is_dir);
    let readme = fs.read("/README", 0, None).await.unwrap();
    assert!(std::str::from_utf8(&readme).unwrap().starts_with("# memfs"));
    assert_eq!(fs.stat("/README").await.unwrap().mode, 0o444);
}

#[tokio::test]
async fn validate_unknown_key_names_allowed_keys() {
    let e = fs_core::plugin::vet(&MemFsPlugin, &json!({"init_dir": []})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.to_string().contains("'init_dir'") && e.to_string().contains("'init_dirs'"),
        "{e}"
    );
}

#[tokio::test]
async fn read_returns_a_slice_of_the_stored_buffer() {
    let fs = MemFs::new();
    let data = Bytes::from(vec![7u8; 1 << 20]);
    let ptr = data.as_ptr();
    fs.write("/big", data, None, WriteFlags::NONE)
        .await
        .unwrap();
    let whole = fs.read("/big", 0, None).await.unwrap();
    assert_eq!(
        whole.as_ptr(),
        ptr,
        "the stored body must be handed out without a copy"
    );
    let part = fs.read("/big", 10, Some(5)).await.unwrap();
    assert_eq!(part.as_ptr(), ptr.wrapping_add(10));
}

#[tokio::test]
async fn read_content_carries_mtime_and_a_changing_etag() {
    let fs = MemFs::new();
    fs.write("/f", Bytes::from_static(b"one"), None, WriteFlags::NONE)
        .await
        .unwrap();
    let a = fs.read_content("/f", 0, None).await.unwrap();
    assert!(a.modified.is_some());
    fs.write("/f", Bytes::from_static(b"two"), None, WriteFlags::NONE)
        .await
        .unwrap();
    let b = fs.read_content("/f", 0, None).await.unwrap();
    assert_ne!(
        a.etag, b.etag,
        "same length, new content: the ETag must change"
    );
}

#[tokio::test]
async fn remove_of_root_is_permission_denied() {
    let fs = MemFs::new();
    assert_kind(fs.remove("/").await, ErrorKind::PermissionDenied);
}

#[tokio::test]
async fn rename_file_over_directory_is_refused_without_loss() {
    let fs = MemFs::new();
    fs.mkdir("/d", 0o755).await.unwrap();
    fs.write("/f", Bytes::from_static(b"x"), None, WriteFlags::NONE)
        .await
        .unwrap();
    assert_kind(fs.rename("/f", "/d").await, ErrorKind::IsADirectory);
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "x");
    assert!(fs.stat("/d").await.unwrap().is_dir);
}

#[tokio::test]
async fn concurrent_writers_to_different_files_all_land() {
    let fs = Arc::new(MemFs::new());
    let mut tasks = Vec::new();
    for i in 0..16 {
        let fs = fs.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..50 {
                let p = format!("/f{i}");
                fs.write(&p, Bytes::from(format!("{j}")), None, WriteFlags::NONE)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for i in 0..16 {
        assert_eq!(fs.read(&format!("/f{i}"), 0, None).await.unwrap(), "49");
    }
}

fn capped(file: u64, total: u64) -> MemFs {
    MemFs::with_limits(fs_core::MemoryLimits {
        max_file_size: file,
        max_total_size: total,
    })
}

async fn put(fs: &MemFs, p: &str, data: &'static [u8]) -> fs_core::Result<u64> {
    fs.write(p, Bytes::from_static(data), None, WriteFlags::NONE)
        .await
}

/// The crashes: a pwrite at 1 TiB and at 2^64-1, a truncate to 1 TiB and a handle seek to
/// 2^62 are refused by the default caps and leave the file as it was.
#[tokio::test]
async fn far_writes_truncates_and_seeks_are_refused_by_the_default_cap() {
    let fs = Arc::new(MemFs::new());
    put(&fs, "/x", b"KEEP").await.unwrap();
    for off in [1u64 << 40, u64::MAX] {
        let e = fs
            .write("/x", Bytes::from_static(b"YZ"), Some(off), WriteFlags::NONE)
            .await
            .unwrap_err();
        let want = if off == u64::MAX {
            ErrorKind::InvalidArgument
        } else {
            ErrorKind::PayloadTooLarge
        };
        assert_eq!(e.kind(), want, "{off}: {e}");
    }
    assert_kind(fs.truncate("/x", 1 << 40).await, ErrorKind::PayloadTooLarge);
    let mut h = fs
        .clone()
        .open_handle("/x", fs_core::OpenFlags::RDWR, 0)
        .await
        .unwrap();
    assert_kind(
        h.seek(1 << 62, fs_core::Whence::Set).await,
        ErrorKind::InvalidArgument,
    );
    assert_eq!(fs.read("/x", 0, None).await.unwrap(), "KEEP");
}

#[tokio::test]
async fn max_file_size_refuses_growth_past_it_and_allows_up_to_it() {
    let fs = capped(8, 1 << 20);
    put(&fs, "/f", b"12345678").await.unwrap();
    let e = fs
        .write("/f", Bytes::from_static(b"9"), None, WriteFlags::APPEND)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PayloadTooLarge);
    assert!(e.to_string().contains("8 bytes per file"), "{e}");
    assert_kind(
        put(&fs, "/g", b"123456789").await,
        ErrorKind::PayloadTooLarge,
    );
    assert_kind(fs.stat("/g").await, ErrorKind::NotFound);
    assert_kind(fs.truncate("/f", 9).await, ErrorKind::PayloadTooLarge);
    fs.truncate("/f", 2).await.unwrap();
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "12");
    assert_eq!(fs.capabilities().max_file_size, 8);
}

/// Every way bytes come and go keeps the total right: writes, truncates, removes, a rename over
/// a file, `remove_all` and an `O_TRUNC` open.
#[tokio::test]
async fn max_total_size_counts_every_change() {
    let fs = Arc::new(capped(100, 10));
    put(&fs, "/a", b"12345").await.unwrap();
    put(&fs, "/b", b"12345").await.unwrap();
    let e = put(&fs, "/c", b"1").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PayloadTooLarge);
    assert!(e.to_string().contains("max_total_size of 10"), "{e}");
    // Replacing a file counts the difference only.
    put(&fs, "/a", b"abcde").await.unwrap();
    fs.truncate("/a", 2).await.unwrap();
    put(&fs, "/c", b"123").await.unwrap();
    assert_kind(put(&fs, "/d", b"1").await, ErrorKind::PayloadTooLarge);
    fs.remove("/c").await.unwrap();
    // /a (2) + /b (5): a rename of /a over /b frees /b's 5.
    fs.rename("/a", "/b").await.unwrap();
    put(&fs, "/e", b"12345678").await.unwrap();
    assert_kind(put(&fs, "/f", b"1").await, ErrorKind::PayloadTooLarge);
    // An O_TRUNC open frees /e's 8.
    fs.clone()
        .open_handle(
            "/e",
            fs_core::OpenFlags::RDWR | fs_core::OpenFlags::TRUNC,
            0,
        )
        .await
        .unwrap();
    fs.mkdir("/d", 0o755).await.unwrap();
    put(&fs, "/d/x", b"12345678").await.unwrap();
    assert_kind(put(&fs, "/y", b"1").await, ErrorKind::PayloadTooLarge);
    fs.remove_all("/d").await.unwrap();
    put(&fs, "/y", b"12345678").await.unwrap();
    fs.remove_all("/").await.unwrap();
    put(&fs, "/z", b"1234567890").await.unwrap();
}

#[tokio::test]
async fn caps_come_from_the_config_and_bad_values_are_refused() {
    let fs = MemFsPlugin
        .initialize(ctx(
            json!({"max_file_size": "1KB", "max_total_size": "4KB"}),
        ))
        .await
        .unwrap();
    assert_eq!(fs.capabilities().max_file_size, 1024);
    let big = Bytes::from(vec![1u8; 1025]);
    assert_kind(
        fs.write("/f", big, None, WriteFlags::NONE).await,
        ErrorKind::PayloadTooLarge,
    );
    for bad in [
        json!({"max_file_size": 0}),
        json!({"max_total_size": "lots"}),
    ] {
        assert_kind(
            fs_core::plugin::vet(&MemFsPlugin, &bad),
            ErrorKind::InvalidArgument,
        );
    }
}

/// A write to the mount root used to create a file named `/` that nothing could delete.
#[tokio::test]
async fn the_mount_root_takes_no_file() {
    let fs = MemFs::new();
    assert_kind(put(&fs, "/", b"root").await, ErrorKind::IsADirectory);
    assert_kind(fs.create("/").await, ErrorKind::AlreadyExists);
    fs.touch("/").await.unwrap();
    assert!(
        fs_core::conformance::names(&fs, "/")
            .await
            .unwrap()
            .is_empty()
    );
}
