//! localfs: the conformance suite on a temporary directory (at the plugin and through the mount
//! router), an escape corpus, atomic and streamed writes, streamed reads, chmod and config checks.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use fs_core::conformance::{Fixture, assert_kind};
use fs_core::{ByteStream, ContentBody, Error, ErrorKind, FileSystem, ServicePlugin, WriteFlags};
use serde_json::json;

use super::{LocalFs, LocalFsPlugin};

/// A localfs over a fresh temporary directory that lives as long as the filesystem.
fn fresh() -> LocalFs {
    let dir = tempfile::tempdir().unwrap();
    let mut fs = LocalFs::open(dir.path().to_str().unwrap(), false).unwrap();
    fs.guard = Some(dir);
    fs
}

/// Setuid bits, staging sweeps, a removed root.
mod safety;

/// Small whole-file writes rewritten in place, and when they are not.
mod in_place;

/// `read_only` and `allow_special_bits` changed on a mounted instance.
mod reconfigure;

mod plugin {
    use super::*;
    fs_core::conformance_tests!(|| async { Fixture::writable(Arc::new(fresh()), "/") });
}

mod mounted_at_local {
    use super::*;
    fs_core::conformance_tests!(|| fs_core::conformance::mounted_at("/local", || async {
        Fixture::writable(Arc::new(fresh()), "/")
    }));
}

/// `outer/root` is served; `outer/outside` holds a sentinel no request may read or change.
struct Escape {
    _outer: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    fs: LocalFs,
}

const SENTINEL: &[u8] = b"do not touch";

fn escape_setup() -> Escape {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    let outside = outer.path().join("outside");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("sentinel.txt"), SENTINEL).unwrap();
    std::fs::set_permissions(
        outside.join("sentinel.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/x"), b"inside").unwrap();
    symlink("/etc", root.join("abs_etc")).unwrap();
    symlink(&outside, root.join("abs_out")).unwrap();
    symlink("../outside", root.join("rel_link")).unwrap();
    symlink("../outside/sentinel.txt", root.join("file_link")).unwrap();
    symlink("../../outside", root.join("sub/up")).unwrap();
    symlink("sub", root.join("inside_link")).unwrap();
    symlink("sub/x", root.join("inside_file_link")).unwrap();
    let fs = LocalFs::open(root.to_str().unwrap(), false).unwrap();
    Escape {
        _outer: outer,
        root,
        outside,
        fs,
    }
}

/// Names (recursively) and contents and modes of everything outside the root.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "root" {
            continue;
        }
        let m = std::fs::symlink_metadata(e.path()).unwrap();
        let content = if m.is_file() {
            std::fs::read(e.path()).unwrap()
        } else {
            Vec::new()
        };
        out.push((
            e.file_name().to_string_lossy().into_owned(),
            content,
            m.permissions().mode(),
        ));
        if m.is_dir() {
            out.extend(snapshot(&e.path()));
        }
    }
    out.sort();
    out
}

fn data(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

#[track_caller]
fn refused<T: std::fmt::Debug>(what: &str, r: fs_core::Result<T>) {
    match r {
        Err(e) => assert!(
            matches!(
                e.kind(),
                ErrorKind::PermissionDenied | ErrorKind::NotFound | ErrorKind::AlreadyExists
            ),
            "{what}: unexpected error kind {:?}: {e}",
            e.kind()
        ),
        Ok(v) => panic!("{what}: escaped, got Ok({v:?})"),
    }
}

#[tokio::test]
async fn escape_corpus_is_refused_and_leaves_outside_untouched() {
    let t = escape_setup();
    let before = snapshot(t.outer_dir());
    let fs = &t.fs;
    let none = WriteFlags::NONE;
    let create = WriteFlags::CREATE;
    // `..`, un-normalized, straight at the filesystem.
    for p in [
        "/../outside/sentinel.txt",
        "/a/../../outside/sentinel.txt",
        "/sub/../../outside/sentinel.txt",
        "..",
        "/../../../../etc/passwd",
    ] {
        refused(p, fs.read(p, 0, None).await);
        refused(p, fs.read_content(p, 0, None).await.map(|_| ()));
        refused(p, fs.stat(p).await);
        refused(p, fs.write(p, data("evil"), None, none).await);
        refused(p, fs.write(p, data("evil"), Some(0), none).await);
        refused(p, fs.chmod(p, 0o777).await);
        refused(p, fs.truncate(p, 0).await);
        refused(p, fs.remove(p).await);
    }
    for p in ["/../outside/new", "/a/../../outside/new", "/../outside"] {
        refused(p, fs.write(p, data("evil"), None, create).await);
        refused(p, fs.create(p).await);
        refused(p, fs.mkdir(p, 0o755).await);
        refused(p, fs.read_dir(p).await);
        refused(p, fs.touch(p).await);
        refused(p, fs.remove_all(p).await);
    }
    // Absolute symlinks (to /etc and to the outside directory).
    refused("abs_etc read", fs.read("/abs_etc/passwd", 0, None).await);
    refused("abs_etc stat", fs.stat("/abs_etc/passwd").await);
    refused("abs_etc list", fs.read_dir("/abs_etc").await);
    refused("abs_out list", fs.read_dir("/abs_out").await);
    refused(
        "abs_out write",
        fs.write("/abs_out/new", data("evil"), None, none).await,
    );
    refused("abs_out mkdir", fs.mkdir("/abs_out/newdir", 0o755).await);
    // Relative symlinks leading out, at the end and in the middle of a path.
    for dir in ["/rel_link", "/sub/up"] {
        refused(dir, fs.read_dir(dir).await);
        refused(dir, fs.read(&format!("{dir}/sentinel.txt"), 0, None).await);
        refused(dir, fs.stat(&format!("{dir}/sentinel.txt")).await);
        refused(
            dir,
            fs.write(&format!("{dir}/sentinel.txt"), data("evil"), None, none)
                .await,
        );
        refused(
            dir,
            fs.write(&format!("{dir}/new"), data("evil"), None, none)
                .await,
        );
        refused(
            dir,
            fs.write(&format!("{dir}/new"), data("evil"), Some(0), create)
                .await,
        );
        refused(dir, fs.create(&format!("{dir}/new")).await);
        refused(dir, fs.mkdir(&format!("{dir}/newdir"), 0o755).await);
        refused(dir, fs.touch(&format!("{dir}/new")).await);
        refused(dir, fs.chmod(&format!("{dir}/sentinel.txt"), 0o777).await);
        refused(dir, fs.truncate(&format!("{dir}/sentinel.txt"), 0).await);
        refused(dir, fs.remove(&format!("{dir}/sentinel.txt")).await);
        refused(dir, fs.remove_all(&format!("{dir}/sentinel.txt")).await);
        // Rename out of and into the outside through the link.
        refused(
            dir,
            fs.rename(&format!("{dir}/sentinel.txt"), "/stolen").await,
        );
        refused(dir, fs.rename("/sub/x", &format!("{dir}/planted")).await);
    }
    // A symlink to a file outside.
    refused("file_link read", fs.read("/file_link", 0, None).await);
    refused("file_link stat", fs.stat("/file_link").await);
    refused(
        "file_link pwrite",
        fs.write("/file_link", data("evil"), Some(0), none).await,
    );
    refused(
        "file_link append",
        fs.write("/file_link", data("evil"), None, WriteFlags::APPEND)
            .await,
    );
    refused(
        "file_link replace",
        fs.write("/file_link", data("evil"), None, none).await,
    );
    refused(
        "file_link truncate flag",
        fs.write("/file_link", data("e"), Some(0), WriteFlags::TRUNCATE)
            .await,
    );
    refused("file_link truncate", fs.truncate("/file_link", 0).await);
    refused("file_link chmod", fs.chmod("/file_link", 0o777).await);
    refused("file_link touch", fs.touch("/file_link").await);
    refused("file_link create", fs.create("/file_link").await);
    assert!(!t.root.join("stolen").exists());
    assert_eq!(snapshot(t.outer_dir()), before, "the outside changed");
    assert_eq!(
        std::fs::read(t.outside.join("sentinel.txt")).unwrap(),
        SENTINEL
    );
    assert_eq!(std::fs::read(t.root.join("sub/x")).unwrap(), b"inside");
}

impl Escape {
    /// The directory holding the root and the outside (the root itself is skipped by
    /// [`snapshot`]), so a file landing next to the root is seen too.
    fn outer_dir(&self) -> &Path {
        self._outer.path()
    }
}

#[tokio::test]
async fn escaping_links_are_listed_as_links_without_their_target() {
    let t = escape_setup();
    let list = t.fs.read_dir("/").await.unwrap();
    let link = list.iter().find(|i| i.name == "file_link").unwrap();
    assert!(!link.is_dir);
    assert_ne!(
        link.size,
        SENTINEL.len() as u64,
        "the outside file's size leaked"
    );
    // Removing or renaming a link acts on the link, inside the root.
    t.fs.rename("/file_link", "/moved_link").await.unwrap();
    t.fs.remove("/moved_link").await.unwrap();
    t.fs.remove_all("/rel_link").await.unwrap();
    assert_eq!(
        std::fs::read(t.outside.join("sentinel.txt")).unwrap(),
        SENTINEL
    );
}

#[tokio::test]
async fn symlinks_that_stay_inside_are_followed() {
    let t = escape_setup();
    assert_eq!(
        t.fs.read("/inside_link/x", 0, None).await.unwrap(),
        "inside"
    );
    assert_eq!(
        t.fs.read("/inside_file_link", 0, None).await.unwrap(),
        "inside"
    );
    assert!(t.fs.stat("/inside_link").await.unwrap().is_dir);
    t.fs.write("/inside_link/y", data("new"), None, WriteFlags::NONE)
        .await
        .unwrap();
    assert_eq!(std::fs::read(t.root.join("sub/y")).unwrap(), b"new");
}

fn failing_stream() -> ByteStream {
    Box::pin(futures_util::stream::iter([
        Ok(data("partial new content ")),
        Err(Error::internal("client went away")),
    ]))
}

fn temp_files(root: &Path) -> Vec<String> {
    std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".pfs-tmp-"))
        .collect()
}

#[tokio::test]
async fn failed_stream_keeps_old_content_and_leaves_no_temp_file() {
    let fs = fresh();
    let root = fs.base().to_path_buf();
    fs.write("/f", data("old"), None, WriteFlags::NONE)
        .await
        .unwrap();
    let e = fs
        .write_stream("/f", failing_stream(), u64::MAX, None, WriteFlags::NONE)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Internal);
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "old");
    assert!(temp_files(&root).is_empty(), "{:?}", temp_files(&root));
    // A stream that fails on a new file creates nothing.
    fs.write_stream("/g", failing_stream(), u64::MAX, None, WriteFlags::NONE)
        .await
        .unwrap_err();
    assert_kind(fs.stat("/g").await, ErrorKind::NotFound);
    assert!(temp_files(&root).is_empty());
}

#[tokio::test]
async fn oversized_stream_keeps_old_content_and_leaves_no_temp_file() {
    let fs = fresh();
    let root = fs.base().to_path_buf();
    fs.write("/f", data("old"), None, WriteFlags::NONE)
        .await
        .unwrap();
    let body: ByteStream = Box::pin(futures_util::stream::iter([
        Ok(data("1234")),
        Ok(data("5678")),
    ]));
    assert_kind(
        fs.write_stream("/f", body, 6, None, WriteFlags::NONE).await,
        ErrorKind::PayloadTooLarge,
    );
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "old");
    assert!(temp_files(&root).is_empty());
}

/// Positional, append and truncating writes: a body that fails or is too large leaves the file as
/// it was (the body is staged beside it first); a whole one lands where the flags say.
#[tokio::test]
async fn failed_positional_append_and_truncating_writes_keep_old_content() {
    let fs = fresh();
    let root = fs.base().to_path_buf();
    fs.write("/f", data("old content"), None, WriteFlags::NONE)
        .await
        .unwrap();
    for (what, offset, flags) in [
        ("pwrite", Some(4), WriteFlags::NONE),
        ("append", None, WriteFlags::APPEND),
        ("truncate at 0", Some(0), WriteFlags::TRUNCATE),
        ("truncate at 3", Some(3), WriteFlags::TRUNCATE),
        (
            "append+truncate",
            None,
            WriteFlags::APPEND | WriteFlags::TRUNCATE,
        ),
    ] {
        fs.write_stream("/f", failing_stream(), u64::MAX, offset, flags)
            .await
            .unwrap_err();
        assert_eq!(
            fs.read("/f", 0, None).await.unwrap(),
            "old content",
            "{what}"
        );
        let big: ByteStream = Box::pin(futures_util::stream::iter([
            Ok(data("1234")),
            Ok(data("5678")),
        ]));
        assert_kind(
            fs.write_stream("/f", big, 6, offset, flags).await,
            ErrorKind::PayloadTooLarge,
        );
        assert_eq!(
            fs.read("/f", 0, None).await.unwrap(),
            "old content",
            "{what}"
        );
        assert!(
            temp_files(&root).is_empty(),
            "{what}: {:?}",
            temp_files(&root)
        );
    }
    // A failed positional write to a missing file creates nothing.
    fs.write_stream(
        "/g",
        failing_stream(),
        u64::MAX,
        Some(2),
        WriteFlags::CREATE,
    )
    .await
    .unwrap_err();
    assert_kind(fs.stat("/g").await, ErrorKind::NotFound);

    // Whole bodies land as the flags say.
    let put = |offset, flags, body: &'static str| {
        let fs = &fs;
        async move { fs.write("/f", data(body), offset, flags).await.unwrap() }
    };
    assert_eq!(put(Some(4), WriteFlags::NONE, "CONTENT").await, 7);
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "old CONTENT");
    put(None, WriteFlags::APPEND, "!").await;
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "old CONTENT!");
    put(Some(2), WriteFlags::TRUNCATE, "xy").await;
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "\0\0xy");
    put(Some(1), WriteFlags::NONE, "Z").await;
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "\0Zxy");
    put(Some(10), WriteFlags::CREATE, "new").await;
    assert_eq!(fs.stat("/f").await.unwrap().size, 13);
    assert_kind(
        fs.write(
            "/f",
            data("x"),
            Some(0),
            WriteFlags::CREATE | WriteFlags::EXCLUSIVE,
        )
        .await,
        ErrorKind::AlreadyExists,
    );
    assert!(temp_files(&root).is_empty());
}

#[tokio::test]
async fn replace_keeps_mode_and_sync_flag_works() {
    let fs = fresh();
    fs.write("/f", data("one"), None, WriteFlags::NONE)
        .await
        .unwrap();
    fs.chmod("/f", 0o600).await.unwrap();
    fs.write(
        "/f",
        data("two!"),
        None,
        WriteFlags::SYNC | WriteFlags::CREATE,
    )
    .await
    .unwrap();
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "two!");
    assert_eq!(fs.stat("/f").await.unwrap().mode, 0o600);
    fs.write("/f", data("!"), None, WriteFlags::APPEND | WriteFlags::SYNC)
        .await
        .unwrap();
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "two!!");
}

#[tokio::test]
async fn large_file_read_content_streams_with_exact_len() {
    let fs = fresh();
    let size = 5 * 1024 * 1024 + 123;
    let content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    std::fs::write(fs.base().join("big"), &content).unwrap();
    let c = fs.read_content("/big", 0, None).await.unwrap();
    assert!(c.modified.is_some() && c.etag.is_some());
    match &c.body {
        ContentBody::Stream { len, .. } => assert_eq!(*len, Some(size as u64)),
        other => panic!("expected a stream, got {other:?}"),
    }
    assert_eq!(c.into_bytes().await.unwrap(), content);
    // A window.
    let c = fs
        .read_content("/big", 1_000_000, Some(200_000))
        .await
        .unwrap();
    match &c.body {
        ContentBody::Stream { len, .. } => assert_eq!(*len, Some(200_000)),
        other => panic!("expected a stream, got {other:?}"),
    }
    assert_eq!(c.into_bytes().await.unwrap(), content[1_000_000..1_200_000]);
    // Past the end: an empty stream of length 0.
    let c = fs
        .read_content("/big", size as u64 + 5, None)
        .await
        .unwrap();
    assert_eq!(c.into_bytes().await.unwrap().len(), 0);
}

#[tokio::test]
async fn large_streamed_write_lands_whole() {
    let fs = fresh();
    let chunks: Vec<fs_core::Result<Bytes>> = (0..64u8)
        .map(|i| Ok(Bytes::from(vec![i; 64 * 1024])))
        .collect();
    let body: ByteStream = Box::pin(futures_util::stream::iter(chunks));
    let n = fs
        .write_stream("/w", body, u64::MAX, None, WriteFlags::NONE)
        .await
        .unwrap();
    assert_eq!(n, 4 * 1024 * 1024);
    assert_eq!(fs.stat("/w").await.unwrap().size, n);
    let back = fs.read("/w", 63 * 64 * 1024, Some(3)).await.unwrap();
    assert_eq!(&back[..], &[63, 63, 63]);
}

#[tokio::test]
async fn chmod_is_real_and_reflected_by_stat() {
    let fs = fresh();
    fs.write("/f", data("x"), None, WriteFlags::NONE)
        .await
        .unwrap();
    fs.chmod("/f", 0o640).await.unwrap();
    assert_eq!(fs.stat("/f").await.unwrap().mode, 0o640);
    let on_disk = std::fs::metadata(fs.base().join("f")).unwrap();
    assert_eq!(on_disk.permissions().mode() & 0o7777, 0o640);
    fs.mkdir("/d", 0o700).await.unwrap();
    let d = fs.stat("/d").await.unwrap();
    assert!(d.is_dir);
    assert_eq!(d.mode, 0o700, "permission bits only, no type bits");
}

#[tokio::test]
async fn stat_meta_names_plugin_and_local_path() {
    let fs = fresh();
    fs.write("/f", data("x"), None, WriteFlags::NONE)
        .await
        .unwrap();
    let info = fs.stat("/f").await.unwrap();
    assert_eq!(info.meta.name, "localfs");
    assert_eq!(info.meta.kind, "local");
    let local = info.meta.content.unwrap()["local_path"].clone();
    assert_eq!(Path::new(&local), fs.base().join("f"));
    assert_eq!(fs.stat("/").await.unwrap().name, "/");
}

#[tokio::test]
async fn missing_local_dir_fails_initialize_and_validate() {
    let ctx = fs_core::conformance::mount_context(
        "/local",
        json!({"local_dir": "/nonexistent/pfs-localfs-test"}),
    );
    let e = LocalFsPlugin.initialize(ctx).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("base path does not exist: /nonexistent/pfs-localfs-test"),
        "{e}"
    );
    let e = fs_core::plugin::vet(
        &LocalFsPlugin,
        &json!({"local_dir": "/nonexistent/pfs-localfs-test"}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("base path does not exist"), "{e}");
    assert!(fs_core::plugin::vet(&LocalFsPlugin, &json!({})).is_err());
    assert!(
        fs_core::plugin::vet(&LocalFsPlugin, &json!({"local_dir": "/tmp", "bogus": 1})).is_err()
    );
}

#[tokio::test]
async fn initialize_serves_the_directory_and_read_only_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello"), b"hi").unwrap();
    let local = dir.path().to_str().unwrap();
    let ctx = fs_core::conformance::mount_context(
        "/local",
        json!({"local_dir": local, "mount_path": "/local"}),
    );
    fs_core::plugin::vet(&LocalFsPlugin, &ctx.config).unwrap();
    let fs = LocalFsPlugin.initialize(ctx).await.unwrap();
    assert_eq!(fs.read("/hello", 0, None).await.unwrap(), "hi");
    let ctx = fs_core::conformance::mount_context(
        "/local",
        json!({"local_dir": local, "read_only": true}),
    );
    let fs = LocalFsPlugin.initialize(ctx).await.unwrap();
    assert!(!fs.capabilities().write);
    assert_eq!(fs.read("/hello", 0, None).await.unwrap(), "hi");
    assert_kind(
        fs.write("/hello", data("x"), None, WriteFlags::NONE).await,
        ErrorKind::Unsupported,
    );
    assert_kind(fs.remove("/hello").await, ErrorKind::Unsupported);
    assert_eq!(std::fs::read(dir.path().join("hello")).unwrap(), b"hi");
}

mod read_only_conformance {
    use super::*;
    fs_core::conformance_tests!(|| async {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("existing"), b"content").unwrap();
        let mut fs = LocalFs::open(dir.path().to_str().unwrap(), true).unwrap();
        fs.guard = Some(dir);
        Fixture::read_only(Arc::new(fs), Some(("/existing", b"content")))
    });
}
