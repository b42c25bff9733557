//! kvfs: the conformance suite plus kvfs's own cases, one through the mount router.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use fs_core::conformance::{Fixture, assert_kind};
use fs_core::{
    ContentBody, ErrorKind, FileSystem, MountContext, MountableFs, ServerInfo, ServicePlugin,
    WriteFlags,
};
use serde_json::json;

use super::{KvFs, KvFsPlugin};

fn server() -> ServerInfo {
    ServerInfo {
        version: "9.9.9".into(),
        started: SystemTime::now(),
        data_dir: None,
    }
}

fn ctx(config: serde_json::Value) -> MountContext {
    fs_core::conformance::mount_context("/kvfs", config)
}

mod plugin {
    use super::*;
    fs_core::conformance_tests!(|| async { Fixture::writable(Arc::new(KvFs::new()), "/keys") });
}

mod through_the_router {
    use super::*;
    fs_core::conformance_tests!(|| fs_core::conformance::mounted_at("/kv", || async {
        Fixture::writable(Arc::new(KvFs::new()), "/keys")
    }));
}

async fn kvfs(config: serde_json::Value) -> Arc<dyn FileSystem> {
    fs_core::plugin::vet(&KvFsPlugin, &config).unwrap();
    KvFsPlugin.initialize(ctx(config)).await.unwrap()
}

async fn get(fs: &Arc<dyn FileSystem>, path: &str) -> Bytes {
    fs.read(path, 0, None)
        .await
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
}

#[tokio::test]
async fn initialize_initial_data_applied_with_scalars_as_text() {
    let fs =
        kvfs(json!({"initial_data": {"greeting": "hello", "answer": 42, "pi": 1.5, "on": true}}))
            .await;
    assert_eq!(get(&fs, "/keys/greeting").await, "hello");
    assert_eq!(get(&fs, "/keys/answer").await, "42");
    assert_eq!(get(&fs, "/keys/pi").await, "1.5");
    assert_eq!(get(&fs, "/keys/on").await, "true");
    let names: Vec<String> = fs
        .read_dir("/keys")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["answer", "greeting", "on", "pi"]);
    assert_eq!(fs.stat("/keys/answer").await.unwrap().size, 2);
}

#[test]
fn validate_bad_initial_data_key_invalid_argument() {
    let e = fs_core::plugin::vet(&KvFsPlugin, &json!({"initial_data": {"a/b": "x"}})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("'a/b'"), "{e}");
    let e = fs_core::plugin::vet(&KvFsPlugin, &json!({"initial_data": {"a": [1]}})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(fs_core::plugin::vet(&KvFsPlugin, &json!({"initial_data": null})).is_ok());
}

#[test]
fn validate_unknown_key_names_allowed_keys() {
    let e = fs_core::plugin::vet(&KvFsPlugin, &json!({"initial": {}})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let msg = e.to_string();
    assert!(
        msg.contains("'initial'") && msg.contains("allowed parameters are: 'initial_data'"),
        "{msg}"
    );
}

#[tokio::test]
async fn stat_layout_root_readme_and_keys() {
    let fs = kvfs(json!({})).await;
    let root = fs.stat("/").await.unwrap();
    assert!(root.is_dir);
    assert_eq!(root.name, "/");
    let names: Vec<String> = fs
        .read_dir("/")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["README", "keys"]);
    let keys = fs.stat("/keys").await.unwrap();
    assert!(keys.is_dir);
    assert_eq!((keys.name.as_str(), keys.mode), ("keys", 0o755));
    let readme = fs.stat("/README").await.unwrap();
    assert_eq!(readme.mode, 0o444);
    assert!(get(&fs, "/README").await.starts_with(b"# kvfs"));
    assert_eq!(readme.size, KvFsPlugin.readme().len() as u64);
}

#[tokio::test]
async fn write_readme_permission_denied() {
    let fs = kvfs(json!({})).await;
    let r = fs
        .write("/README", Bytes::from_static(b"x"), None, WriteFlags::NONE)
        .await;
    assert_kind(r, ErrorKind::PermissionDenied);
    assert_kind(fs.truncate("/README", 0).await, ErrorKind::PermissionDenied);
    assert_kind(fs.remove("/README").await, ErrorKind::PermissionDenied);
    assert!(get(&fs, "/README").await.starts_with(b"# kvfs"));
}

#[tokio::test]
async fn write_outside_keys_permission_denied() {
    let fs = kvfs(json!({})).await;
    let x = || Bytes::from_static(b"x");
    assert_kind(
        fs.write("/top", x(), None, WriteFlags::NONE).await,
        ErrorKind::PermissionDenied,
    );
    assert_kind(
        fs.write("/top", x(), None, WriteFlags::TRUNCATE).await,
        ErrorKind::NotFound,
    );
    assert_kind(fs.create("/top").await, ErrorKind::PermissionDenied);
    assert_kind(
        fs.write("/keys", x(), None, WriteFlags::NONE).await,
        ErrorKind::IsADirectory,
    );
    assert_kind(fs.stat("/top").await, ErrorKind::NotFound);
}

#[tokio::test]
async fn truncate_key_cuts_and_zero_extends() {
    let fs = kvfs(json!({"initial_data": {"k": "abcdef"}})).await;
    fs.truncate("/keys/k", 3).await.unwrap();
    assert_eq!(get(&fs, "/keys/k").await, "abc");
    fs.truncate("/keys/k", 5).await.unwrap();
    assert_eq!(get(&fs, "/keys/k").await, &b"abc\0\0"[..]);
    assert_eq!(fs.stat("/keys/k").await.unwrap().size, 5);
    assert_kind(fs.truncate("/keys/missing", 1).await, ErrorKind::NotFound);
    assert_kind(fs.truncate("/keys", 0).await, ErrorKind::IsADirectory);
}

#[tokio::test]
async fn stat_nested_key_path_not_found() {
    let fs = kvfs(json!({"initial_data": {"a": "1"}})).await;
    let x = || Bytes::from_static(b"x");
    // No such key: the parent does not exist.
    assert_kind(fs.stat("/keys/missing/b").await, ErrorKind::NotFound);
    assert_kind(
        fs.write("/keys/missing/b", x(), None, WriteFlags::NONE)
            .await,
        ErrorKind::NotFound,
    );
    assert_kind(fs.create("/keys/missing/b").await, ErrorKind::NotFound);
    // An existing key is a file, not a directory.
    assert_kind(fs.stat("/keys/a/b").await, ErrorKind::NotADirectory);
    assert_kind(
        fs.write("/keys/a/b", x(), None, WriteFlags::NONE).await,
        ErrorKind::NotADirectory,
    );
    assert_kind(fs.read_dir("/keys/a").await, ErrorKind::NotADirectory);
    assert_eq!(get(&fs, "/keys/a").await, "1");
}

#[tokio::test]
async fn mkdir_anywhere_unsupported() {
    let fs = kvfs(json!({})).await;
    assert_kind(fs.mkdir("/keys/dir", 0o755).await, ErrorKind::Unsupported);
    assert_kind(fs.mkdir("/keys", 0o755).await, ErrorKind::Unsupported);
    assert_kind(fs.mkdir("/other", 0o755).await, ErrorKind::Unsupported);
    assert_kind(fs.chmod("/keys", 0o700).await, ErrorKind::Unsupported);
}

#[tokio::test]
async fn remove_keys_dir_not_empty_then_denied() {
    let fs = kvfs(json!({"initial_data": {"a": "1"}})).await;
    assert_kind(fs.remove("/keys").await, ErrorKind::DirectoryNotEmpty);
    fs.remove("/keys/a").await.unwrap();
    assert_kind(fs.remove("/keys/a").await, ErrorKind::NotFound);
    assert_kind(fs.remove("/keys").await, ErrorKind::PermissionDenied);
    assert_kind(fs.remove("/").await, ErrorKind::PermissionDenied);
    assert!(fs.stat("/keys").await.unwrap().is_dir);
}

#[tokio::test]
async fn remove_all_keys_and_root_wipe_keys_only() {
    let fs = kvfs(json!({"initial_data": {"a": "1", "b": "2"}})).await;
    fs.remove_all("/keys").await.unwrap();
    assert!(fs.read_dir("/keys").await.unwrap().is_empty());
    fs.write("/keys/c", Bytes::from_static(b"3"), None, WriteFlags::NONE)
        .await
        .unwrap();
    fs.remove_all("/").await.unwrap();
    assert!(fs.read_dir("/keys").await.unwrap().is_empty());
    assert!(fs.stat("/README").await.is_ok());
    assert_kind(fs.remove_all("/keys/gone").await, ErrorKind::NotFound);
}

#[tokio::test]
async fn rename_outside_keys_refused() {
    let fs = kvfs(json!({"initial_data": {"a": "1"}})).await;
    assert_kind(
        fs.rename("/keys/a", "/top").await,
        ErrorKind::PermissionDenied,
    );
    assert_kind(
        fs.rename("/keys/a", "/README").await,
        ErrorKind::PermissionDenied,
    );
    assert_kind(fs.rename("/keys/a", "/keys").await, ErrorKind::IsADirectory);
    assert_kind(
        fs.rename("/README", "/keys/r").await,
        ErrorKind::PermissionDenied,
    );
    assert_kind(fs.rename("/keys", "/k2").await, ErrorKind::PermissionDenied);
    fs.rename("/keys/a", "/keys/a").await.unwrap();
    assert_eq!(get(&fs, "/keys/a").await, "1");
}

// Under tokio's paused clock kvfs's wall clock stands still until a test advances it.
#[tokio::test(start_paused = true)]
async fn rename_key_keeps_modification_time() {
    let fs = kvfs(json!({"initial_data": {"a": "1"}})).await;
    let before = fs.stat("/keys/a").await.unwrap().mod_time;
    tokio::time::advance(Duration::from_secs(1)).await;
    fs.rename("/keys/a", "/keys/b").await.unwrap();
    assert_eq!(fs.stat("/keys/b").await.unwrap().mod_time, before);
}

#[tokio::test(start_paused = true)]
async fn stat_key_modification_time_is_stored() {
    let fs = kvfs(json!({"initial_data": {"a": "1"}})).await;
    let first = fs.stat("/keys/a").await.unwrap().mod_time.unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        fs.stat("/keys/a").await.unwrap().mod_time,
        Some(first),
        "stat must not report now"
    );
    fs.touch("/keys/a").await.unwrap();
    let touched = fs.stat("/keys/a").await.unwrap().mod_time.unwrap();
    assert_eq!(
        touched.duration_since(first).unwrap(),
        Duration::from_secs(1)
    );
    assert_eq!(get(&fs, "/keys/a").await, "1");
}

#[tokio::test]
async fn read_content_slices_stored_value_with_mtime() {
    let fs = KvFs::new();
    let value = Bytes::from(vec![7u8; 1024]);
    fs.write("/keys/big", value.clone(), None, WriteFlags::NONE)
        .await
        .unwrap();
    let c = fs.read_content("/keys/big", 16, Some(32)).await.unwrap();
    assert_eq!(c.modified, fs.stat("/keys/big").await.unwrap().mod_time);
    let ContentBody::Bytes(b) = c.body else {
        panic!("expected bytes")
    };
    assert_eq!(b.len(), 32);
    // The same allocation, not a copy.
    assert_eq!(b.as_ptr(), value[16..].as_ptr());
}

#[tokio::test]
async fn write_through_router_stores_key() {
    let router = MountableFs::new(server());
    let fs = KvFsPlugin
        .initialize(ctx(json!({"initial_data": {"a": "1"}})))
        .await
        .unwrap();
    router
        .mount("/kv", "kvfs", None, json!({}), fs)
        .await
        .unwrap();
    router
        .write(
            "/kv/keys/b",
            Bytes::from_static(b"22"),
            None,
            WriteFlags::NONE,
        )
        .await
        .unwrap();
    let listed: Vec<String> = router
        .read_dir("/kv/keys")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(listed, ["a", "b"]);
    assert_eq!(router.read("/kv/keys/b", 0, None).await.unwrap(), "22");
    let e = router.stat("/kv/keys/missing").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.path(), Some("/kv/keys/missing"));
}

/// A write at 2^63-1 used to panic (capacity overflow); past the caps every value change is 413,
/// the old value kept, and renames, removes and `initial_data` count towards the total.
#[tokio::test]
async fn value_and_total_caps_refuse_without_changing_anything() {
    let fs = kvfs(json!({
        "max_file_size": 8,
        "max_total_size": 12,
        "initial_data": {"seed": "1234"}
    }))
    .await;
    fs.write(
        "/keys/a",
        Bytes::from_static(b"KEEP"),
        None,
        WriteFlags::NONE,
    )
    .await
    .unwrap();
    let far = fs
        .write(
            "/keys/a",
            Bytes::from_static(b"YZ"),
            Some(i64::MAX as u64),
            WriteFlags::NONE,
        )
        .await
        .unwrap_err();
    assert_eq!(far.kind(), ErrorKind::InvalidArgument, "{far}");
    assert_kind(
        fs.write(
            "/keys/a",
            Bytes::from_static(b"YZ"),
            Some(7),
            WriteFlags::NONE,
        )
        .await,
        ErrorKind::PayloadTooLarge,
    );
    assert_kind(fs.truncate("/keys/a", 9).await, ErrorKind::PayloadTooLarge);
    assert_eq!(get(&fs, "/keys/a").await, "KEEP");
    // seed 4 + a 4 = 8 of 12.
    let over = fs
        .write(
            "/keys/b",
            Bytes::from_static(b"12345"),
            None,
            WriteFlags::NONE,
        )
        .await
        .unwrap_err();
    assert!(over.to_string().contains("max_total_size of 12"), "{over}");
    fs.rename("/keys/a", "/keys/seed").await.unwrap();
    // a replaced seed: 4 of 12.
    fs.write(
        "/keys/b",
        Bytes::from_static(b"12345678"),
        None,
        WriteFlags::NONE,
    )
    .await
    .unwrap();
    fs.remove("/keys/b").await.unwrap();
    fs.write(
        "/keys/c",
        Bytes::from_static(b"12345678"),
        None,
        WriteFlags::NONE,
    )
    .await
    .unwrap();
    assert_kind(
        fs.write("/keys/d", Bytes::from_static(b"1"), None, WriteFlags::NONE)
            .await,
        ErrorKind::PayloadTooLarge,
    );
    fs.remove_all("/keys").await.unwrap();
    fs.write(
        "/keys/e",
        Bytes::from_static(b"12345678"),
        None,
        WriteFlags::NONE,
    )
    .await
    .unwrap();
    assert_eq!(fs.capabilities().max_file_size, 8);
}
