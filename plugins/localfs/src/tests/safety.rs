//! localfs and the machine it runs on: no setuid/setgid/sticky bits from clients unless the config
//! allows them, staging files of killed servers swept, and a root directory removed and made again
//! served again.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use fs_core::conformance::assert_kind;
use fs_core::{ErrorKind, FileSystem, OpenFlags, WriteFlags};

use super::super::LocalFs;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn set_mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

async fn put(fs: &LocalFs, p: &str, data: &'static [u8], offset: Option<u64>) {
    fs.write(p, Bytes::from_static(data), offset, WriteFlags::NONE)
        .await
        .unwrap();
}

#[tokio::test]
async fn clients_cannot_make_setuid_setgid_or_sticky_files() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(LocalFs::open(dir.path().to_str().unwrap(), false).unwrap());
    put(&fs, "/tool", b"#!/bin/sh\n", None).await;
    fs.chmod("/tool", 0o6755).await.unwrap();
    assert_eq!(mode(&dir.path().join("tool")), 0o755, "chmod 6755");
    fs.mkdir("/shared", 0o7777).await.unwrap();
    assert_eq!(mode(&dir.path().join("shared")), 0o777, "mkdir 7777");
    let h = fs
        .clone()
        .open_handle("/opened", OpenFlags::WRONLY | OpenFlags::CREATE, 0o4755)
        .await
        .unwrap();
    drop(h);
    assert_eq!(mode(&dir.path().join("opened")), 0o755, "open mode 4755");

    // A setuid file made outside pfs loses the bit when pfs writes new content into it, as the
    // kernel does for a writer without privileges.
    let suid = dir.path().join("suid");
    for (i, how) in ["replace", "pwrite", "append", "handle"]
        .into_iter()
        .enumerate()
    {
        std::fs::write(&suid, b"old").unwrap();
        set_mode(&suid, 0o4755);
        match i {
            0 => put(&fs, "/suid", b"new", None).await,
            1 => put(&fs, "/suid", b"N", Some(1)).await,
            2 => {
                fs.write("/suid", Bytes::from_static(b"+"), None, WriteFlags::APPEND)
                    .await
                    .unwrap();
            }
            _ => {
                let mut h = fs
                    .clone()
                    .open_handle("/suid", OpenFlags::RDWR, 0)
                    .await
                    .unwrap();
                h.write(Bytes::from_static(b"h")).await.unwrap();
            }
        }
        assert_eq!(mode(&suid), 0o755, "after a {how} write");
    }
}

#[tokio::test]
async fn allow_special_bits_lets_them_through() {
    let dir = tempfile::tempdir().unwrap();
    let fs = LocalFs::open(dir.path().to_str().unwrap(), false)
        .unwrap()
        .allow_special_bits(true);
    put(&fs, "/tool", b"x", None).await;
    fs.chmod("/tool", 0o6755).await.unwrap();
    assert_eq!(mode(&dir.path().join("tool")), 0o6755);
    put(&fs, "/tool", b"y", Some(0)).await;
    assert_eq!(mode(&dir.path().join("tool")), 0o6755, "kept when allowed");
    fs.mkdir("/tmp", 0o1777).await.unwrap();
    assert_eq!(mode(&dir.path().join("tmp")), 0o1777);
}

/// A pid that no process has: the first unused one counting down from the top of the range.
fn dead_pid() -> u32 {
    (100_000..4_000_000)
        .rev()
        .find(|p| !Path::new(&format!("/proc/{p}")).exists())
        .unwrap()
}

#[tokio::test]
async fn staging_files_of_stopped_servers_are_swept_and_live_ones_kept() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    let elsewhere = outer.path().join("elsewhere");
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let dead = dead_pid();
    let stale = [
        root.join(format!(".pfs-tmp-{dead}-0")),
        root.join(format!("a/b/.pfs-tmp-{dead}-7")),
    ];
    let kept = [
        root.join(format!(".pfs-tmp-{}-3", std::process::id())),
        root.join(".pfs-tmp-notapid"),
        root.join("a/regular"),
        elsewhere.join(format!(".pfs-tmp-{dead}-1")),
    ];
    for f in stale.iter().chain(&kept) {
        std::fs::write(f, vec![0u8; 1000]).unwrap();
    }
    // A link out of the root is not followed.
    std::os::unix::fs::symlink(&elsewhere, root.join("link")).unwrap();
    let fs = LocalFs::open(root.to_str().unwrap(), false).unwrap();
    assert_eq!(fs.sweep_stale_staging().await, (2, 2000));
    for f in &stale {
        assert!(!f.exists(), "{} stayed", f.display());
    }
    for f in &kept {
        assert!(f.exists(), "{} was removed", f.display());
    }
}

#[tokio::test]
async fn a_root_removed_and_made_again_is_served_again() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let fs = LocalFs::open(root.to_str().unwrap(), false).unwrap();
    put(&fs, "/old", b"1", None).await;
    std::fs::remove_dir_all(&root).unwrap();
    // Gone, and nothing in its place: the mount's state, not a missing path.
    assert_kind(fs.read("/old", 0, None).await, ErrorKind::Unavailable);
    assert_kind(fs.read_dir("/").await, ErrorKind::Unavailable);
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("new"), b"fresh").unwrap();
    assert_eq!(fs.read("/new", 0, None).await.unwrap(), "fresh");
    let names = fs_core::conformance::names(&fs, "/").await.unwrap();
    assert_eq!(names, ["new"]);
    put(&fs, "/written", b"2", None).await;
    assert_eq!(std::fs::read(root.join("written")).unwrap(), b"2");
    // Made again once more, found by a listing of the root alone.
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("third"), b"3").unwrap();
    let names = fs_core::conformance::names(&fs, "/").await.unwrap();
    assert_eq!(names, ["third"]);
}

/// The sweep is the mount's background work: it runs after `start` (not for a read-only mount),
/// and nothing of it is left once the mount is gone.
#[tokio::test]
async fn the_sweep_runs_as_background_work_of_a_writable_mount() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join(format!(".pfs-tmp-{}-0", dead_pid()));
    let root = fs_core::MountableFs::new(fs_core::ServerInfo {
        version: "0".into(),
        started: std::time::SystemTime::now(),
        data_dir: None,
    });
    let registry = fs_core::PluginRegistry::new();
    registry
        .register(Arc::new(super::super::LocalFsPlugin))
        .unwrap();
    let local = dir.path().to_str().unwrap();
    std::fs::write(&stale, b"x").unwrap();
    let config = serde_json::json!({"local_dir": local, "read_only": true});
    root.mount_plugin(&registry, "localfs", "/ro", None, config)
        .await
        .unwrap();
    let m = root.mount_at("/ro").unwrap();
    assert_eq!(m.background_tasks(), 0, "a read-only mount sweeps nothing");
    root.unmount("/ro").await.unwrap();
    assert!(stale.exists());

    let config = serde_json::json!({"local_dir": local});
    root.mount_plugin(&registry, "localfs", "/rw", None, config)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while stale.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "not swept within 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let m = root.mount_at("/rw").unwrap();
    root.unmount("/rw").await.unwrap();
    assert_eq!(m.background_tasks(), 0);
}
