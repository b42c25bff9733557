//! hellofs: the conformance suite (read-only subset) plus hellofs's own cases.

use std::sync::Arc;

use bytes::Bytes;
use fs_core::conformance::{Fixture, assert_kind};
use fs_core::{ErrorKind, FileSystem, MountContext, ReadOnlyFs, ServicePlugin, WriteFlags};
use serde_json::json;

use super::fs::HELLO;
use super::{HelloFs, HelloFsPlugin};

fs_core::conformance_tests!(|| async {
    Fixture::read_only(
        Arc::new(ReadOnlyFs(HelloFs::new())),
        Some(("/hello", HELLO)),
    )
});

fn ctx(config: serde_json::Value) -> MountContext {
    fs_core::conformance::mount_context("/hellofs", config)
}

#[tokio::test]
async fn read_hello_returns_exact_greeting() {
    let fs = HelloFsPlugin.initialize(ctx(json!({}))).await.unwrap();
    assert_eq!(fs.read("/hello", 0, None).await.unwrap(), "Hello, World!\n");
    let info = fs.stat("/hello").await.unwrap();
    assert_eq!(
        (info.name.as_str(), info.size, info.mode, info.is_dir),
        ("hello", 14, 0o444, false)
    );
    assert_eq!(
        (info.meta.name.as_str(), info.meta.kind.as_str()),
        ("hellofs", "file")
    );
    let c = fs.read_content("/hello", 7, Some(5)).await.unwrap();
    assert!(c.modified.is_some());
    assert_eq!(c.into_bytes().await.unwrap(), "World");
}

#[tokio::test]
async fn stat_root_is_read_only_directory() {
    let fs = ReadOnlyFs(HelloFs::new());
    let root = fs.stat("/").await.unwrap();
    assert!(root.is_dir);
    assert_eq!((root.name.as_str(), root.mode), ("/", 0o555));
    let names: Vec<String> = fs
        .read_dir("/")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["hello"], "no README at the hellofs root");
}

#[tokio::test]
async fn stat_unknown_paths_not_found() {
    let fs = ReadOnlyFs(HelloFs::new());
    assert_kind(fs.stat("/README").await, ErrorKind::NotFound);
    assert_kind(fs.read("/nope/deeper", 0, None).await, ErrorKind::NotFound);
    assert_kind(fs.stat("/hello/x").await, ErrorKind::NotADirectory);
    assert_kind(fs.read_dir("/hello").await, ErrorKind::NotADirectory);
    assert_kind(fs.read("/", 0, None).await, ErrorKind::IsADirectory);
}

#[tokio::test]
async fn mutations_existing_file_unsupported_and_unchanged() {
    let fs = ReadOnlyFs(HelloFs::new());
    let u = ErrorKind::Unsupported;
    let e = fs
        .write("/hello", Bytes::from_static(b"bye"), None, WriteFlags::NONE)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), u);
    assert!(
        e.to_string()
            .contains("read-only filesystem: operation not supported"),
        "{e}"
    );
    assert_kind(fs.touch("/hello").await, u);
    assert_kind(fs.touch("/new").await, u);
    assert_kind(fs.truncate("/hello", 0).await, u);
    assert_kind(fs.remove("/hello").await, u);
    assert_kind(fs.rename("/hello", "/bye").await, u);
    assert_kind(fs.chmod("/hello", 0o777).await, u);
    assert_eq!(fs.read("/hello", 0, None).await.unwrap(), HELLO);
}

#[test]
fn validate_unknown_key_names_allowed_keys() {
    let e = fs_core::plugin::vet(&HelloFsPlugin, &json!({"greeting": "hi"})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let msg = e.to_string();
    assert!(
        msg.contains("'greeting'") && msg.contains("allowed parameters are: none"),
        "{msg}"
    );
    assert!(fs_core::plugin::vet(&HelloFsPlugin, &json!({})).is_ok());
}
