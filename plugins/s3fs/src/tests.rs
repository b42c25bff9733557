//! s3fs against real S3-compatible servers: moto (`PFS_TEST_S3_ENDPOINT`) and s3s-fs, which checks
//! SigV4 signatures and stores plain files (`PFS_TEST_S3S_ENDPOINT`, data in `PFS_TEST_S3S_DATA`).
//! `scripts/test` starts both (scripts/s3-start). Without them each test prints a skip notice and
//! passes, except under `CI`, where a missing server is a failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_s3::Client;
use bytes::Bytes;
use fs_core::conformance::{Fixture, assert_kind};
use fs_core::{ByteStream, Error, ErrorKind, FileSystem, WriteFlags};
use serde_json::{Value, json};

use super::{S3Config, S3Fs, S3FsPlugin};

/// Which test server.
#[derive(Clone, Copy, Debug)]
enum Server {
    Moto,
    S3s,
}

fn endpoint(server: Server) -> Option<String> {
    let var = match server {
        Server::Moto => "PFS_TEST_S3_ENDPOINT",
        Server::S3s => "PFS_TEST_S3S_ENDPOINT",
    };
    fs_core::conformance::test_server(
        var,
        "scripts/test starts moto and s3s-fs via scripts/s3-start",
    )
}

/// A bucket name no other test uses.
fn bucket_name() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "pfs-{}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros()
            % 1_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn config(endpoint: &str, bucket: &str, extra: Value) -> Value {
    let mut c = json!({
        "bucket": bucket,
        "endpoint": endpoint,
        "access_key_id": "test",
        "secret_access_key": "test",
    });
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    c
}

/// A raw SDK client on the test server (to create buckets and look behind s3fs's back).
async fn raw(endpoint: &str) -> Client {
    let c = S3Config::from_value(&config(endpoint, "x", json!({}))).unwrap();
    super::client::build(&c).await
}

async fn new_bucket(endpoint: &str) -> String {
    let bucket = bucket_name();
    raw(endpoint)
        .await
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    bucket
}

async fn mount(endpoint: &str, bucket: &str, extra: Value) -> fs_core::Result<S3Fs> {
    let c = config(endpoint, bucket, extra);
    fs_core::plugin::vet(&S3FsPlugin, &c)?;
    S3Fs::connect(S3Config::from_value(&c)?).await
}

/// A fresh bucket mounted on `server` (optionally under a prefix).
async fn fresh(server: Server, extra: Value) -> Option<(S3Fs, String, String)> {
    let ep = endpoint(server)?;
    let bucket = new_bucket(&ep).await;
    let fs = mount(&ep, &bucket, extra).await.unwrap();
    Some((fs, ep, bucket))
}

mod conformance_moto {
    use super::*;
    fs_core::conformance_tests!(
        optional
            || async {
                let (fs, ..) = fresh(Server::Moto, json!({})).await?;
                Some(Fixture::writable(Arc::new(fs), "/"))
            }
    );
}

/// Signed requests, on a prefix. s3s-fs 0.14.1 stores objects as files and cannot represent an
/// empty directory (its listings omit one, and a HEAD of its name is a 500): its directories exist
/// only while they have entries.
mod conformance_s3s {
    use super::*;
    fs_core::conformance_tests!(
        optional
            || async {
                let (fs, ..) = fresh(Server::S3s, json!({"prefix": "tenant"})).await?;
                Some(Fixture::writable(Arc::new(fs), "/").dirs_exist_only_with_entries())
            }
    );
}

async fn put(fs: &S3Fs, path: &str, data: &[u8]) {
    fs.write(path, Bytes::copy_from_slice(data), None, WriteFlags::NONE)
        .await
        .unwrap();
}

async fn names(fs: &S3Fs, dir: &str) -> Vec<String> {
    fs_core::conformance::names(fs, dir).await.unwrap()
}

#[tokio::test]
async fn prefixes_isolate_tenants() {
    let Some(ep) = endpoint(Server::Moto) else {
        return;
    };
    let bucket = new_bucket(&ep).await;
    let team1 = mount(&ep, &bucket, json!({"prefix": "team1"}))
        .await
        .unwrap();
    let team1x = mount(&ep, &bucket, json!({"prefix": "team1-x"}))
        .await
        .unwrap();
    let whole = mount(&ep, &bucket, json!({})).await.unwrap();
    put(&team1, "/a.txt", b"one").await;
    put(&team1x, "/b.txt", b"x").await;
    team1x.mkdir("/d", 0o755).await.unwrap();
    assert_eq!(names(&team1, "/").await, ["a.txt"]);
    assert_eq!(names(&team1x, "/").await, ["b.txt", "d"]);
    assert_kind(team1.stat("/b.txt").await, ErrorKind::NotFound);
    assert_kind(team1x.read("/a.txt", 0, None).await, ErrorKind::NotFound);
    // Emptying one tenant leaves the other whole.
    team1.remove_all("/").await.unwrap();
    assert_eq!(names(&team1x, "/").await, ["b.txt", "d"]);
    // Without a prefix the tenants are plain directories of the bucket.
    assert_eq!(names(&whole, "/").await, ["team1-x"]);
}

/// A stream of `n` chunks of `size` bytes, byte `i` of the whole being `i % 251`.
fn pattern_stream(n: usize, size: usize, fail_after: Option<usize>) -> ByteStream {
    Box::pin(futures_util::stream::iter((0..n).map(move |i| {
        if Some(i) == fail_after {
            return Err(Error::new(ErrorKind::Unavailable, "client went away"));
        }
        Ok(Bytes::from(
            (0..size)
                .map(|j| ((i * size + j) % 251) as u8)
                .collect::<Vec<u8>>(),
        ))
    })))
}

#[tokio::test]
async fn large_bodies_go_up_as_multipart_and_read_back_exactly() {
    let Some((fs, ep, bucket)) = fresh(Server::Moto, json!({"multipart_part_size": "5MB"})).await
    else {
        return;
    };
    // 18 MiB in 1 MiB chunks: parts of 5, 5, 5 and 3 MiB.
    let written = fs
        .write_stream(
            "/big.bin",
            pattern_stream(18, 1 << 20, None),
            u64::MAX,
            None,
            WriteFlags::NONE,
        )
        .await
        .unwrap();
    assert_eq!(written, 18 << 20);
    let head = raw(&ep)
        .await
        .head_object()
        .bucket(&bucket)
        .key("big.bin")
        .send()
        .await
        .unwrap();
    assert!(
        head.e_tag().unwrap().trim_matches('"').ends_with("-4"),
        "a 4-part upload has a multipart ETag, got {:?}",
        head.e_tag()
    );
    let back = fs.read("/big.bin", 0, None).await.unwrap();
    assert_eq!(back.len(), 18 << 20);
    assert!(back.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    // A window across a part boundary.
    let window = fs.read("/big.bin", (5 << 20) - 3, Some(6)).await.unwrap();
    let want: Vec<u8> = ((5 << 20) - 3..(5 << 20) + 3)
        .map(|i| (i % 251) as u8)
        .collect();
    assert_eq!(&window[..], &want[..]);
}

#[tokio::test]
async fn a_failed_or_oversized_upload_keeps_the_old_object_and_leaves_no_upload() {
    let Some((fs, ep, bucket)) = fresh(Server::Moto, json!({"multipart_part_size": "5MB"})).await
    else {
        return;
    };
    put(&fs, "/f", b"old content").await;
    let failed = fs
        .write_stream(
            "/f",
            pattern_stream(12, 1 << 20, Some(11)),
            u64::MAX,
            None,
            WriteFlags::NONE,
        )
        .await;
    assert_kind(failed, ErrorKind::Unavailable);
    let too_big = fs
        .write_stream(
            "/f",
            pattern_stream(12, 1 << 20, None),
            7 << 20,
            None,
            WriteFlags::NONE,
        )
        .await;
    assert_kind(too_big, ErrorKind::PayloadTooLarge);
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "old content");
    let uploads = raw(&ep)
        .await
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(
        uploads.uploads().is_empty(),
        "aborted: {:?}",
        uploads.uploads()
    );
}

#[tokio::test]
async fn positional_writes_appends_and_truncate_rewrite_small_objects() {
    let Some((fs, ..)) = fresh(Server::Moto, json!({"rewrite_limit": 64})).await else {
        return;
    };
    put(&fs, "/f", b"hello world").await;
    fs.write("/f", Bytes::from_static(b"W"), Some(6), WriteFlags::NONE)
        .await
        .unwrap();
    fs.write("/f", Bytes::from_static(b"!"), None, WriteFlags::APPEND)
        .await
        .unwrap();
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "hello World!");
    fs.truncate("/f", 5).await.unwrap();
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "hello");
    fs.truncate("/f", 7).await.unwrap();
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "hello\0\0");
    // Past the rewrite limit the answer is a clear 501 and the object is untouched.
    let err = fs
        .write("/f", Bytes::from_static(b"x"), Some(100), WriteFlags::NONE)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("rewrite_limit"), "{err}");
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "hello\0\0");
}

#[tokio::test]
async fn directories_are_markers_or_common_prefixes() {
    let Some((fs, ep, bucket)) = fresh(Server::Moto, json!({})).await else {
        return;
    };
    // A key written by another tool makes its parents directories without markers.
    raw(&ep)
        .await
        .put_object()
        .bucket(&bucket)
        .key("x/y/z.txt")
        .body(Bytes::from_static(b"z").into())
        .send()
        .await
        .unwrap();
    assert!(fs.stat("/x").await.unwrap().is_dir);
    assert_eq!(names(&fs, "/x").await, ["y"]);
    // Renaming an implicit directory leaves a real one behind at the target.
    fs.rename("/x", "/moved").await.unwrap();
    assert_kind(fs.stat("/x").await, ErrorKind::NotFound);
    assert_eq!(fs.read("/moved/y/z.txt", 0, None).await.unwrap(), "z");
    fs.remove("/moved/y/z.txt").await.unwrap();
    fs.remove("/moved/y").await.unwrap_err(); // implicit: gone with its last key
    assert!(fs.stat("/moved").await.unwrap().is_dir);
}

#[tokio::test]
async fn a_directory_rename_that_fails_midway_says_so_and_keeps_the_source() {
    let Some((fs, ..)) = fresh(Server::Moto, json!({})).await else {
        return;
    };
    fs.mkdir("/src", 0o755).await.unwrap();
    for name in ["a", "b", "c", "d"] {
        put(&fs, &format!("/src/{name}"), name.as_bytes()).await;
    }
    // The marker and two files copy, then the bucket starts refusing copies.
    fs.copies_before_failure.store(3, Ordering::SeqCst);
    let err = fs.rename("/src", "/dst").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    let message = err.to_string();
    assert!(message.contains("copying 3 of 5 objects"), "{message}");
    assert!(message.contains("/src is unchanged"), "{message}");
    // The source is whole and the partial copy is gone.
    assert_eq!(names(&fs, "/src").await, ["a", "b", "c", "d"]);
    assert_kind(fs.stat("/dst").await, ErrorKind::NotFound);
    // Once copies work again the same rename succeeds.
    fs.copies_before_failure.store(usize::MAX, Ordering::SeqCst);
    fs.rename("/src", "/dst").await.unwrap();
    assert_eq!(names(&fs, "/dst").await, ["a", "b", "c", "d"]);
    assert_eq!(fs.read("/dst/c", 0, None).await.unwrap(), "c");
    assert_kind(fs.stat("/src").await, ErrorKind::NotFound);
}

#[tokio::test]
async fn touch_moves_the_modification_time_and_keeps_the_bytes() {
    let Some((fs, ..)) = fresh(Server::Moto, json!({})).await else {
        return;
    };
    put(&fs, "/t", b"keep").await;
    let before = fs.stat("/t").await.unwrap().mod_time.unwrap();
    // S3 times have one-second resolution: wait for the next second, bounded.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fs.touch("/t").await.unwrap();
    let after = fs.stat("/t").await.unwrap().mod_time.unwrap();
    assert!(after > before, "{after:?} > {before:?}");
    assert_eq!(fs.read("/t", 0, None).await.unwrap(), "keep");
}

#[tokio::test]
async fn s3s_fs_stores_plain_files_under_the_prefix() {
    let Some((fs, _, bucket)) = fresh(Server::S3s, json!({"prefix": "tenant"})).await else {
        return;
    };
    let data = std::env::var("PFS_TEST_S3S_DATA").expect("s3-start sets PFS_TEST_S3S_DATA");
    put(&fs, "/a.txt", b"on disk").await;
    let file = std::path::Path::new(&data)
        .join(&bucket)
        .join("tenant/a.txt");
    assert_eq!(std::fs::read(&file).unwrap(), b"on disk");
}

#[tokio::test]
async fn mount_fails_clearly_for_a_missing_bucket_bad_keys_or_no_server() {
    let Some(ep) = endpoint(Server::S3s) else {
        return;
    };
    let err = mount(&ep, "no-such-bucket-pfs", json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("'no-such-bucket-pfs'"), "{err}");
    assert!(err.to_string().contains(&ep), "{err}");

    let bucket = new_bucket(&ep).await;
    let err = mount(&ep, &bucket, json!({"secret_access_key": "wrong"}))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");

    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}");
    let err = mount(&dead, &bucket, json!({"connect_timeout": "1s"}))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains(&dead), "{err}");
}

#[test]
fn config_errors_name_the_key() {
    let bad = [
        (json!({}), "bucket"),
        (
            json!({"bucket": "b", "access_key_id": "k"}),
            "secret_access_key",
        ),
        (
            json!({"bucket": "b", "multipart_part_size": "1MB"}),
            "multipart_part_size",
        ),
        (json!({"bucket": "b", "checksum": "always"}), "checksum"),
        (json!({"bucket": "b", "prefix": "a/../b"}), "prefix"),
        (
            json!({"bucket": "b", "upload_concurrency": 0}),
            "upload_concurrency",
        ),
        (json!({"bucket": "b", "bogus": 1}), "bogus"),
        (
            json!({"bucket": "b", "multipart_part_size": "6GB"}),
            "multipart_part_size",
        ),
        (json!({"bucket": "b", "timeout": 0}), "timeout"),
        (
            json!({"bucket": "b", "connect_timeout": "0s"}),
            "connect_timeout",
        ),
    ];
    for (config, key) in bad {
        let err = fs_core::plugin::vet(&S3FsPlugin, &config).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.to_string().contains(key), "{config}: {err}");
    }
    // AGFS's keys are accepted, cache ones included.
    fs_core::plugin::vet(
        &S3FsPlugin,
        &json!({"bucket": "b", "region": "eu-west-1", "use_path_request_style": true,
            "disable_ssl": true, "cache_enabled": true, "cache_ttl": "30s", "stat_cache_ttl": "60s",
            "cache_max_size": 1000, "endpoint": "minio:9000"}),
    )
    .unwrap();
    let c = S3Config::from_value(
        &json!({"bucket": "b", "endpoint": "minio:9000", "disable_ssl": true}),
    )
    .unwrap();
    assert_eq!(c.endpoint.as_deref(), Some("http://minio:9000"));
    assert!(c.path_style);
    assert_eq!(c.checksums, super::Checksums::WhenRequired);
}

#[test]
fn hostile_endpoints_are_refused_naming_the_key() {
    for bad in [
        "ftp://h",
        "http://",
        "http://:9000",
        "http://h:99999",
        "http://h:0",
        "http://h:port",
        "http://a b",
        "http://h/a\nb",
        "http://h/?x=1",
        "http://h/#f",
        "http://user:hunter2@h",
        "file:///etc/passwd",
    ] {
        let err = fs_core::plugin::vet(&S3FsPlugin, &json!({"bucket": "b", "endpoint": bad}))
            .expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
        assert!(err.to_string().contains("'endpoint'"), "{bad}: {err}");
        assert!(!err.to_string().contains("hunter2"), "{bad}: {err}");
    }
    for good in [
        "http://127.0.0.1:9000",
        "https://s3.example.com",
        "http://[::1]:9000",
        "http://[::1]",
        "minio:9000",
        "https://gw.example.com/s3",
    ] {
        fs_core::plugin::vet(&S3FsPlugin, &json!({"bucket": "b", "endpoint": good}))
            .unwrap_or_else(|e| panic!("{good}: {e}"));
    }
}

mod bulk;
mod reconfigure;
