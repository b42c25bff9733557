//! heartbeatfs: the conformance cases that fit a fixed layout, plus heartbeatfs's own cases.
//!
//! Cases about time run under tokio's paused clock: both the expiry clock and the wall clock of the
//! filesystem follow it in tests, so `tokio::time::advance` moves them exactly and at once.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use fs_core::conformance::{Fixture, assert_kind};
use fs_core::policy::MountPolicy;
use fs_core::{
    Background, ErrorKind, FileSystem, MountableFs, PluginRegistry, ServerInfo, ServicePlugin,
    WriteFlags,
};
use serde_json::json;

use super::fs::SWEEP_EVERY;
use super::{HeartbeatFs, HeartbeatFsPlugin, README};

fn new_fs(timeout: Duration) -> HeartbeatFs {
    HeartbeatFs::new(timeout, Bytes::from_static(README.as_bytes()))
}

/// A filesystem whose sweeper runs on the returned background, as the mount router starts it.
async fn started(timeout: Duration) -> (HeartbeatFs, Background) {
    let fs = new_fs(timeout);
    let background = Background::new();
    fs.start(&background).await.unwrap();
    (fs, background)
}

fn router() -> Arc<MountableFs> {
    MountableFs::new(ServerInfo {
        version: "9.9.9".into(),
        started: SystemTime::now(),
        data_dir: None,
    })
}

// heartbeatfs is not a free tree: the cases run with no writable root and `/README` as the known
// file, which covers the root, missing paths, README reads and the capability contract.
async fn plugin_fixture() -> Fixture {
    Fixture::read_only(
        Arc::new(new_fs(Duration::from_secs(60))),
        Some(("/README", README.as_bytes())),
    )
}

mod plugin {
    use super::*;
    fs_core::conformance_tests!(plugin_fixture);
}

mod through_the_router {
    use super::*;
    fs_core::conformance_tests!(|| fs_core::conformance::mounted_at("/hb", plugin_fixture));
}

async fn text(fs: &dyn FileSystem, path: &str) -> String {
    let b = fs
        .read(path, 0, None)
        .await
        .unwrap_or_else(|e| panic!("read {path}: {e}"));
    String::from_utf8(b.to_vec()).unwrap()
}

/// The `key: value` lines of a ctl read.
fn ctl_fields(ctl: &str) -> Vec<(String, String)> {
    ctl.lines()
        .map(|l| {
            let (k, v) = l
                .split_once(": ")
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn field(ctl: &str, key: &str) -> String {
    ctl_fields(ctl)
        .into_iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("{key} missing from {ctl:?}"))
        .1
}

async fn write(fs: &dyn FileSystem, path: &str, data: &'static [u8]) -> fs_core::Result<u64> {
    fs.write(path, Bytes::from_static(data), None, WriteFlags::NONE)
        .await
}

/// Lets every timer due within `d` fire, the sweeper's included, in order: under a paused clock
/// the runtime jumps from one timer to the next, so this takes no real time.
async fn run_for(d: Duration) {
    tokio::time::sleep(d).await;
}

#[tokio::test]
async fn mkdir_item_lists_keepalive_and_ctl_with_ctl_format() {
    let fs = new_fs(Duration::from_secs(300));
    fs.mkdir("/svc", 0o755).await.unwrap();
    let info = fs.stat("/svc").await.unwrap();
    assert!(info.is_dir);
    assert_eq!((info.name.as_str(), info.mode), ("svc", 0o755));
    let content = info.meta.content.unwrap();
    assert_eq!(content["status"], "alive");
    assert_eq!(content["timeout"], "300");

    let root: Vec<String> = fs
        .read_dir("/")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(root, ["README", "svc"]);
    let listed = fs.read_dir("/svc").await.unwrap();
    let names: Vec<(&str, u32, bool)> = listed
        .iter()
        .map(|i| (i.name.as_str(), i.mode, i.is_dir))
        .collect();
    assert_eq!(names, [("keepalive", 0o644, false), ("ctl", 0o644, false)]);

    let ctl = text(&fs, "/svc/ctl").await;
    let keys: Vec<String> = ctl_fields(&ctl).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        ["last_heartbeat_ts", "expire_ts", "timeout", "status"]
    );
    assert!(ctl.ends_with("status: alive\n"), "{ctl}");
    assert_eq!(field(&ctl, "timeout"), "300");
    let last = humantime::parse_rfc3339(&field(&ctl, "last_heartbeat_ts")).unwrap();
    let expire = humantime::parse_rfc3339(&field(&ctl, "expire_ts")).unwrap();
    assert_eq!(
        expire.duration_since(last).unwrap(),
        Duration::from_secs(300)
    );
    // The heartbeat in ctl is the item's modification time.
    assert_eq!(
        field(&ctl, "last_heartbeat_ts"),
        humantime::format_rfc3339_seconds(info.mod_time.unwrap()).to_string()
    );
    assert_eq!(fs.stat("/svc/ctl").await.unwrap().size, ctl.len() as u64);
    assert_eq!(text(&fs, "/svc/keepalive").await, "");
}

#[tokio::test]
async fn mkdir_existing_reserved_or_nested_refused() {
    let fs = new_fs(Duration::from_secs(60));
    fs.mkdir("/a", 0o755).await.unwrap();
    assert_kind(fs.mkdir("/a", 0o755).await, ErrorKind::AlreadyExists);
    assert_kind(fs.mkdir("/README", 0o755).await, ErrorKind::AlreadyExists);
    assert_kind(fs.mkdir("/", 0o755).await, ErrorKind::AlreadyExists);
    assert_kind(fs.mkdir("/a/ctl", 0o755).await, ErrorKind::AlreadyExists);
    assert_kind(fs.mkdir("/a/sub", 0o755).await, ErrorKind::InvalidArgument);
    assert_kind(fs.mkdir("/missing/sub", 0o755).await, ErrorKind::NotFound);
}

#[tokio::test(start_paused = true)]
async fn write_keepalive_refreshes_heartbeat() {
    let fs = new_fs(Duration::from_secs(60));
    fs.mkdir("/svc", 0o755).await.unwrap();
    let before = fs.stat("/svc/keepalive").await.unwrap().mod_time.unwrap();
    tokio::time::advance(Duration::from_millis(20)).await;
    assert_eq!(
        fs.stat("/svc/keepalive").await.unwrap().mod_time.unwrap(),
        before,
        "a stat alone does not refresh"
    );
    assert_eq!(write(&fs, "/svc/keepalive", b"beat\n").await.unwrap(), 5);
    let after = fs.stat("/svc/keepalive").await.unwrap().mod_time.unwrap();
    assert_eq!(
        after.duration_since(before).unwrap(),
        Duration::from_millis(20)
    );
    // The content is not kept.
    assert_eq!(text(&fs, "/svc/keepalive").await, "");
}

#[tokio::test(start_paused = true)]
async fn touch_keepalive_refreshes_and_keeps_item_alive() {
    let timeout = Duration::from_millis(800);
    let fs = new_fs(timeout);
    fs.mkdir("/svc", 0o755).await.unwrap();
    // Touch every 100 ms for twice the timeout: the item must outlive it.
    for _ in 0..16 {
        tokio::time::advance(Duration::from_millis(100)).await;
        fs.touch("/svc/keepalive").await.unwrap();
    }
    // It then lives exactly one timeout from the last touch.
    tokio::time::advance(timeout - Duration::from_millis(1)).await;
    assert!(fs.stat("/svc").await.is_ok());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_kind(fs.stat("/svc").await, ErrorKind::NotFound);
    fs.mkdir("/svc", 0o755).await.unwrap();
    assert_kind(fs.touch("/svc/ctl").await, ErrorKind::InvalidArgument);
    assert_kind(fs.touch("/svc").await, ErrorKind::InvalidArgument);
    assert_kind(fs.touch("/new").await, ErrorKind::Unsupported);
    assert_kind(fs.touch("/missing/keepalive").await, ErrorKind::NotFound);
}

#[tokio::test(start_paused = true)]
async fn ctl_timeout_one_second_item_expires_and_is_swept() {
    let (fs, _background) = started(Duration::from_secs(300)).await;
    // The sweeper's first run is now (t0), so it runs again at t0 + 500 ms, + 1 s, + 1.5 s...
    run_for(Duration::from_millis(1)).await;
    // ...and the item, made at t0 + 1 ms, expires between two runs.
    fs.mkdir("/svc", 0o755).await.unwrap();
    assert_eq!(write(&fs, "/svc/ctl", b"timeout=1\n").await.unwrap(), 10);
    let ctl = text(&fs, "/svc/ctl").await;
    assert_eq!(field(&ctl, "timeout"), "1");
    assert_eq!(field(&ctl, "status"), "alive");
    // The timeout counts from the last heartbeat (the mkdir): alive until exactly 1 s after it.
    // (`run_for`, not `advance`: the sweeper must run when due, not at the next step's time.)
    run_for(Duration::from_millis(999)).await;
    assert_eq!(field(&text(&fs, "/svc/ctl").await, "status"), "alive");
    run_for(Duration::from_millis(1)).await;
    assert_eq!(fs.stored_items(), 1, "not swept yet...");
    assert_kind(fs.stat("/svc").await, ErrorKind::NotFound);
    assert_kind(fs.stat("/svc/ctl").await, ErrorKind::NotFound);
    assert_kind(fs.read("/svc/ctl", 0, None).await, ErrorKind::NotFound);
    assert_kind(write(&fs, "/svc/keepalive", b"").await, ErrorKind::NotFound);
    let root: Vec<String> = fs
        .read_dir("/")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(root, ["README"]);
    // ...but invisible already. The sweeper deletes it from memory at its next run.
    run_for(SWEEP_EVERY).await;
    assert_eq!(fs.stored_items(), 0, "the sweeper did not delete the item");
    // The name can be used again.
    fs.mkdir("/svc", 0o755).await.unwrap();
    assert_eq!(field(&text(&fs, "/svc/ctl").await, "timeout"), "300");
}

#[tokio::test]
async fn ctl_bad_command_invalid_argument() {
    let fs = new_fs(Duration::from_secs(60));
    fs.mkdir("/svc", 0o755).await.unwrap();
    for bad in [&b"timeout=0"[..], b"timeout=abc", b"ttl=5", b"hello"] {
        let e = fs
            .write("/svc/ctl", Bytes::from_static(bad), None, WriteFlags::NONE)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(
            e.to_string()
                .contains("invalid ctl command, use 'timeout=N' (seconds)"),
            "{e}"
        );
    }
    assert_eq!(field(&text(&fs, "/svc/ctl").await, "timeout"), "60");
}

#[tokio::test]
async fn create_rename_chmod_and_readme_refused() {
    let fs = new_fs(Duration::from_secs(60));
    fs.mkdir("/svc", 0o755).await.unwrap();
    let e = fs.create("/x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(
        e.to_string()
            .contains("use mkdir to create heartbeat items"),
        "{e}"
    );
    assert_kind(write(&fs, "/x", b"1").await, ErrorKind::Unsupported);
    assert_kind(
        write(&fs, "/svc/other", b"1").await,
        ErrorKind::PermissionDenied,
    );
    assert_kind(
        write(&fs, "/README", b"1").await,
        ErrorKind::PermissionDenied,
    );
    assert_kind(write(&fs, "/svc", b"1").await, ErrorKind::IsADirectory);
    assert_kind(fs.rename("/svc", "/svc2").await, ErrorKind::Unsupported);
    assert_kind(fs.chmod("/svc", 0o700).await, ErrorKind::Unsupported);
    assert_kind(fs.read("/svc", 0, None).await, ErrorKind::IsADirectory);
    assert_kind(fs.stat("/svc/keepalive/x").await, ErrorKind::NotADirectory);
    assert_kind(fs.stat("/README/x").await, ErrorKind::NotADirectory);
    assert_kind(fs.read_dir("/svc/ctl").await, ErrorKind::NotADirectory);
    // truncate is a no-op on the two files.
    fs.truncate("/svc/ctl", 0).await.unwrap();
    assert_kind(fs.truncate("/svc", 0).await, ErrorKind::IsADirectory);
    assert_kind(fs.truncate("/nope", 0).await, ErrorKind::NotFound);
}

#[tokio::test]
async fn remove_item_deletes_it_and_files_stay_fixed() {
    let fs = new_fs(Duration::from_secs(60));
    fs.mkdir("/a", 0o755).await.unwrap();
    fs.mkdir("/b", 0o755).await.unwrap();
    assert_kind(fs.remove("/a/keepalive").await, ErrorKind::PermissionDenied);
    fs.remove("/a").await.unwrap();
    assert_kind(fs.stat("/a").await, ErrorKind::NotFound);
    assert_kind(fs.remove("/a").await, ErrorKind::NotFound);
    fs.remove_all("/b").await.unwrap();
    assert_kind(fs.stat("/b").await, ErrorKind::NotFound);
    fs.mkdir("/c", 0o755).await.unwrap();
    fs.remove_all("/").await.unwrap();
    assert_kind(fs.stat("/c").await, ErrorKind::NotFound);
    assert!(fs.stat("/README").await.is_ok());
    assert_kind(fs.remove("/README").await, ErrorKind::PermissionDenied);
}

#[tokio::test(start_paused = true)]
async fn a_stopped_background_ends_the_sweeper() {
    let (fs, background) = started(Duration::from_secs(60)).await;
    assert!(fs.sweeper_exists());
    fs.mkdir("/svc", 0o755).await.unwrap();
    assert_eq!(write(&fs, "/svc/ctl", b"timeout=0.1").await.unwrap(), 11);
    assert!(background.stop(Duration::from_secs(1)).await);
    fs.shutdown().await.unwrap();
    assert!(!fs.sweeper_exists());
    // Many sweep periods later the expired item is still stored: nothing swept it.
    let sweeps = fs.sweeps();
    run_for(SWEEP_EVERY * 10).await;
    assert_eq!(fs.sweeps(), sweeps, "a sweep ran after the shutdown");
    assert_eq!(fs.stored_items(), 1, "an item was swept after shutdown");
    // The filesystem still answers; the expired item stays invisible without the sweeper, and its
    // name can be used again.
    assert_kind(fs.stat("/svc").await, ErrorKind::NotFound);
    fs.mkdir("/svc", 0o755).await.unwrap();
    assert_eq!(field(&text(&fs, "/svc/ctl").await, "timeout"), "60");
}

/// The sweeper is the mount's one background task: none before the mount, the same one across a
/// config change in place (which the sweeper then applies), none after the unmount, and no sweep
/// runs after it.
#[tokio::test(start_paused = true)]
async fn the_sweeper_lives_from_mount_to_unmount_on_the_mounts_background() {
    let registry = PluginRegistry::new();
    registry.register(Arc::new(HeartbeatFsPlugin)).unwrap();
    let router = router();
    let fs = Arc::new(new_fs(Duration::from_secs(60)));
    run_for(SWEEP_EVERY * 3).await;
    assert_eq!(
        (fs.sweeps(), fs.sweeper_exists()),
        (0, false),
        "nothing runs before start"
    );

    router
        .mount("/hb", "heartbeatfs", None, json!({}), fs.clone())
        .await
        .unwrap();
    let mount = router.mount_at("/hb").unwrap();
    assert_eq!(mount.background_tasks(), 1);
    // Sweeps at 0, 500, 1000 and 1500 ms.
    run_for(SWEEP_EVERY * 3 + SWEEP_EVERY / 2).await;
    assert_eq!(fs.sweeps(), 4);

    // A change in place keeps the instance and its one sweeper, which deletes the items the new
    // timeout expires.
    let change = router
        .reconfigure(
            &registry,
            "/hb",
            json!({"default_timeout": "1s"}),
            false,
            MountPolicy::unrestricted(),
        )
        .await
        .unwrap();
    assert!(!change.remounted && change.generation == 2, "{change:?}");
    let mount = router.mount_at("/hb").unwrap();
    assert_eq!(mount.background_tasks(), 1);
    router.mkdir("/hb/svc", 0o755).await.unwrap();
    run_for(Duration::from_secs(1) + SWEEP_EVERY).await;
    assert_eq!(fs.stored_items(), 0, "the sweeper did not delete the item");

    router.unmount("/hb").await.unwrap();
    assert_eq!(mount.background_tasks(), 0);
    assert!(
        !fs.sweeper_exists(),
        "the sweeper task outlived the unmount"
    );
    let sweeps = fs.sweeps();
    fs.mkdir("/svc", 0o755).await.unwrap();
    assert_eq!(write(&*fs, "/svc/ctl", b"timeout=0.1").await.unwrap(), 11);
    run_for(SWEEP_EVERY * 10).await;
    assert_eq!(fs.sweeps(), sweeps, "a sweep ran after the unmount");
    assert_eq!(fs.stored_items(), 1);
}

#[tokio::test]
async fn unmount_drops_filesystem_and_sweeper() {
    let router = router();
    let fs = HeartbeatFsPlugin
        .initialize(fs_core::conformance::mount_context("/hb", json!({})))
        .await
        .unwrap();
    let weak = Arc::downgrade(&fs);
    router
        .mount("/hb", "heartbeatfs", None, json!({}), fs)
        .await
        .unwrap();
    router.mkdir("/hb/svc", 0o755).await.unwrap();
    router.unmount("/hb").await.unwrap();
    // Nothing (the sweeper included) keeps the filesystem alive after unmount.
    assert_eq!(
        weak.strong_count(),
        0,
        "the filesystem outlived its unmount"
    );
}

#[test]
fn validate_default_timeout_forms() {
    for ok in [
        json!({}),
        json!({"default_timeout": 30}),
        json!({"default_timeout": 2.5}),
        json!({"default_timeout": "30s"}),
        json!({"default_timeout": "5m"}),
    ] {
        fs_core::plugin::vet(&HeartbeatFsPlugin, &ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        json!({"default_timeout": 0}),
        json!({"default_timeout": -5}),
        json!({"default_timeout": "soon"}),
        json!({"default_timeout": "0s"}),
        json!({"timeout": 5}),
    ] {
        let e = fs_core::plugin::vet(&HeartbeatFsPlugin, &bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
    }
}

#[tokio::test]
async fn initialize_default_timeout_applies_to_new_items() {
    let fs = HeartbeatFsPlugin
        .initialize(fs_core::conformance::mount_context(
            "/hb",
            json!({"default_timeout": "30s"}),
        ))
        .await
        .unwrap();
    fs.mkdir("/svc", 0o755).await.unwrap();
    assert_eq!(field(&text(fs.as_ref(), "/svc/ctl").await, "timeout"), "30");
    assert!(
        text(fs.as_ref(), "/README")
            .await
            .starts_with("# heartbeatfs")
    );
}
