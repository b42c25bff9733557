//! devfs: the conformance suite plus devfs's own cases.

use std::sync::Arc;

use bytes::Bytes;
use fs_core::conformance::{Fixture, assert_kind};
use fs_core::{ErrorKind, FileSystem, MountContext, ServicePlugin, WriteFlags};
use serde_json::json;

use super::{DevFs, DevFsPlugin};

fs_core::conformance_tests!(|| async {
    Fixture::read_only(Arc::new(DevFs::new()), Some(("/null", b"")))
});

fn ctx(config: serde_json::Value) -> MountContext {
    fs_core::conformance::mount_context("/dev", config)
}

#[tokio::test]
async fn write_null_discards_and_counts_bytes() {
    let fs = DevFsPlugin.initialize(ctx(json!({}))).await.unwrap();
    let n = fs
        .write(
            "/null",
            Bytes::from_static(b"into the void"),
            None,
            WriteFlags::NONE,
        )
        .await
        .unwrap();
    assert_eq!(n, 13);
    let n = fs
        .write(
            "/null",
            Bytes::from_static(b"more"),
            Some(100),
            WriteFlags::APPEND,
        )
        .await
        .unwrap();
    assert_eq!(n, 4);
    assert!(fs.read("/null", 0, None).await.unwrap().is_empty());
    assert_eq!(fs.stat("/null").await.unwrap().size, 0);
}

#[tokio::test]
async fn stat_null_is_device_with_mode_0666() {
    let fs = DevFs::new();
    let info = fs.stat("/null").await.unwrap();
    assert_eq!(
        (info.name.as_str(), info.mode, info.size, info.is_dir),
        ("null", 438, 0, false)
    );
    assert_eq!(
        (info.meta.name.as_str(), info.meta.kind.as_str()),
        ("devfs", "device")
    );
    let listed = fs.read_dir("/").await.unwrap();
    assert_eq!(listed, [info]);
}

#[tokio::test]
async fn truncate_and_touch_null_succeed() {
    let fs = DevFs::new();
    fs.truncate("/null", 10).await.unwrap();
    fs.touch("/null").await.unwrap();
    assert_eq!(fs.stat("/null").await.unwrap().size, 0);
    assert_kind(fs.truncate("/zero", 0).await, ErrorKind::NotFound);
    assert_kind(fs.truncate("/", 0).await, ErrorKind::IsADirectory);
}

#[tokio::test]
async fn write_unknown_path_unsupported_or_not_found() {
    let fs = DevFs::new();
    let data = || Bytes::from_static(b"x");
    assert_kind(
        fs.write("/new", data(), None, WriteFlags::NONE).await,
        ErrorKind::Unsupported,
    );
    assert_kind(
        fs.write("/new", data(), None, WriteFlags::CREATE).await,
        ErrorKind::Unsupported,
    );
    assert_kind(
        fs.write("/new", data(), None, WriteFlags::TRUNCATE).await,
        ErrorKind::NotFound,
    );
    assert_kind(
        fs.write("/", data(), None, WriteFlags::NONE).await,
        ErrorKind::IsADirectory,
    );
    assert_kind(fs.touch("/new").await, ErrorKind::Unsupported);
    assert_kind(fs.stat("/new").await, ErrorKind::NotFound);
}

#[tokio::test]
async fn remove_null_unsupported_and_null_stays() {
    let fs = DevFs::new();
    assert_kind(fs.remove("/null").await, ErrorKind::Unsupported);
    assert_kind(fs.rename("/null", "/void").await, ErrorKind::Unsupported);
    assert_kind(fs.create("/null").await, ErrorKind::Unsupported);
    assert!(fs.stat("/null").await.is_ok());
}

#[test]
fn validate_unknown_key_names_allowed_keys() {
    let e = fs_core::plugin::vet(&DevFsPlugin, &json!({"devices": ["zero"]})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let msg = e.to_string();
    assert!(
        msg.contains("'devices'") && msg.contains("allowed parameters are: none"),
        "{msg}"
    );
}
