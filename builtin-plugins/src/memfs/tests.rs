//! memfs: the conformance suite, at the plugin and through the mount router, plus memfs's own cases.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use fs_core::conformance::{Fixture, assert_kind};
use fs_core::{
    ErrorKind, FileSystem, MountContext, MountableFs, ServerInfo, ServicePlugin, WriteFlags,
};
use serde_json::json;

use super::{MemFs, MemFsPlugin};

mod plugin {
    use super::*;
    fs_core::conformance_tests!(|| async { Fixture::writable(Arc::new(MemFs::new()), "/") });
}

fn server() -> ServerInfo {
    ServerInfo {
        version: "test".into(),
        started: SystemTime::now(),
        data_dir: None,
    }
}

async fn mounted_at(path: &'static str) -> Fixture {
    let router = MountableFs::new(server());
    router
        .mount(path, "memfs", None, json!({}), Arc::new(MemFs::new()))
        .await
        .unwrap();
    // A sibling mount, so routing has something to get wrong.
    router
        .mount("/other", "memfs", None, json!({}), Arc::new(MemFs::new()))
        .await
        .ok();
    let caps = router.capabilities_at(path);
    let fs: Arc<dyn FileSystem> = router;
    Fixture::writable(fs, path).with_caps(caps)
}

mod mounted_at_root {
    use super::*;
    fs_core::conformance_tests!(|| mounted_at("/"));
}

mod mounted_at_a_b {
    use super::*;
    fs_core::conformance_tests!(|| mounted_at("/a/b"));
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
    let e = MemFsPlugin.validate(&json!({"init_dir": []})).unwrap_err();
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
