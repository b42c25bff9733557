//! localfs's config changed on a mounted instance: `read_only` and `allow_special_bits` flip in
//! place (open handles follow), a new `local_dir` needs a remount.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use bytes::Bytes;
use fs_core::conformance::assert_kind;
use fs_core::{ErrorKind, FileSystem, OpenFlags, Reconfigured, ServicePlugin, WriteFlags};
use serde_json::{Value, json};

use super::super::{LocalFs, LocalFsPlugin};

/// A localfs on a fresh directory holding `/f` ("old"), and its config.
fn mounted() -> (tempfile::TempDir, Arc<LocalFs>, Value) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"old").unwrap();
    let config = json!({"local_dir": dir.path()});
    let fs = Arc::new(LocalFs::open(dir.path().to_str().unwrap(), false).unwrap());
    (dir, fs, config)
}

/// `config` with `key` set to `value`.
fn with(config: &Value, key: &str, value: Value) -> Value {
    let mut c = config.clone();
    c[key] = value;
    c
}

async fn change(fs: &LocalFs, old: &Value, new: Value) -> Value {
    fs_core::plugin::vet(&LocalFsPlugin, &new).unwrap();
    assert_eq!(
        fs.reconfigure(old, &new).await.unwrap(),
        Reconfigured::Accepted
    );
    new
}

fn put(data: &'static str) -> Bytes {
    Bytes::from_static(data.as_bytes())
}

#[tokio::test]
async fn read_only_flips_in_place_for_requests_and_open_handles() {
    let (dir, fs, config) = mounted();
    let mut h = fs
        .clone()
        .open_handle("/f", OpenFlags::RDWR, 0)
        .await
        .unwrap();

    let config = change(&fs, &config, with(&config, "read_only", json!(true))).await;
    assert!(!fs.capabilities().write);
    assert_kind(
        fs.write("/f", put("new"), None, WriteFlags::NONE).await,
        ErrorKind::Unsupported,
    );
    assert_kind(fs.mkdir("/d", 0o755).await, ErrorKind::Unsupported);
    assert_kind(fs.remove("/f").await, ErrorKind::Unsupported);
    assert_kind(fs.rename("/f", "/g").await, ErrorKind::Unsupported);
    assert_kind(fs.truncate("/f", 0).await, ErrorKind::Unsupported);
    // The handle opened for writing before the flip reads on, and writes no more.
    assert_eq!(h.read_at(0, 10).await.unwrap(), "old");
    assert_kind(
        h.write(put("via handle")).await,
        ErrorKind::PermissionDenied,
    );
    assert_kind(h.write_at(0, put("x")).await, ErrorKind::PermissionDenied);
    assert_kind(h.truncate(0).await, ErrorKind::PermissionDenied);
    assert_kind(
        fs.clone().open_handle("/f", OpenFlags::WRONLY, 0).await,
        ErrorKind::PermissionDenied,
    );
    assert!(
        fs.clone()
            .open_handle("/f", OpenFlags::RDONLY, 0)
            .await
            .is_ok()
    );
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"old");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing was created"
    );

    // Back to writable: requests and the same handle write again.
    change(&fs, &config, with(&config, "read_only", json!(false))).await;
    assert!(fs.capabilities().write);
    h.write_at(3, put("!")).await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"old!");
    fs.write("/g", put("new"), None, WriteFlags::NONE)
        .await
        .unwrap();
    assert_eq!(std::fs::read(dir.path().join("g")).unwrap(), b"new");
}

#[tokio::test]
async fn allow_special_bits_flips_in_place() {
    let (dir, fs, config) = mounted();
    let mode = || {
        std::fs::metadata(dir.path().join("f"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    fs.chmod("/f", 0o6755).await.unwrap();
    assert_eq!(mode(), 0o755);
    let config = change(
        &fs,
        &config,
        with(&config, "allow_special_bits", json!(true)),
    )
    .await;
    fs.chmod("/f", 0o6755).await.unwrap();
    assert_eq!(mode(), 0o6755);
    change(
        &fs,
        &config,
        with(&config, "allow_special_bits", json!(false)),
    )
    .await;
    // Not allowed any more: the next write into the file clears them, as on a fresh mount.
    fs.write("/f", put("x"), Some(0), WriteFlags::NONE)
        .await
        .unwrap();
    assert_eq!(mode(), 0o755);
}

#[tokio::test]
async fn a_new_local_dir_needs_a_remount_and_changes_nothing() {
    let (dir, fs, config) = mounted();
    let other = tempfile::tempdir().unwrap();
    let e = fs
        .reconfigure(
            &config,
            &json!({"local_dir": other.path(), "read_only": true}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("'local_dir' cannot change"), "{e}");
    // read_only, in the same refused change, was not applied.
    assert!(fs.capabilities().write);
    fs.write("/f", put("still mine"), None, WriteFlags::NONE)
        .await
        .unwrap();
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"still mine");
    assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 0);
}

#[test]
fn read_only_and_allow_special_bits_are_live_local_dir_is_not() {
    for p in LocalFsPlugin.config_params() {
        let live = p.change == fs_core::config::Change::Live;
        assert_eq!(live, p.name != "local_dir", "{}", p.name);
    }
}
