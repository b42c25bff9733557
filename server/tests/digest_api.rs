//! `POST /digest`: md5 and xxh3 (low 64 bits of XXH3-128) on every plugin that can read, compared
//! with digests computed outside pfs (coreutils `md5sum`, the `xxhash` package's `xxhsum -H2`), and
//! the errors: algorithm first, then path, directories, side-effect files, bad bodies.

mod common;

use std::path::Path;
use std::process::Command;

use axum::http::StatusCode;
use common::*;
use serde_json::Value;

/// Whether `xxhsum` can run; without it the xxh3 comparisons skip (a failure under `CI`).
fn have_xxhsum() -> bool {
    let ok = Command::new("xxhsum").arg("-V").output().is_ok();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "xxhsum is missing: CI must compare xxh3 digests (scripts/test installs the xxhash package)"
        );
        println!("skipping xxh3 comparisons: install the xxhash package (scripts/test does)");
    }
    ok
}

/// The digest of `data` as an outside tool prints it: `md5sum`, or the low 64 bits of `xxhsum -H2`
/// (XXH128 is printed big-endian, high half first, so the low half is the last 16 digits).
fn reference(algorithm: &str, data: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, data).unwrap();
    let out = match algorithm {
        "md5" => Command::new("md5sum").arg(&file).output().unwrap(),
        _ => Command::new("xxhsum")
            .arg("-H2")
            .arg(&file)
            .output()
            .unwrap(),
    };
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let hex = text.split_whitespace().next().unwrap().to_string();
    match algorithm {
        "md5" => {
            assert_eq!(hex.len(), 32, "{text}");
            hex
        }
        _ => {
            assert_eq!(hex.len(), 32, "XXH128 has 32 hex digits: {text}");
            hex[16..].to_string()
        }
    }
}

/// Deterministic bytes that are not all alike (xorshift).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn body(algorithm: &str, path: &str) -> String {
    serde_json::json!({ "algorithm": algorithm, "path": path }).to_string()
}

async fn digest(app: &axum::Router, algorithm: &str, path: &str) -> (StatusCode, Value) {
    send_json(app, post_json("/api/v1/digest", &body(algorithm, path))).await
}

/// Asserts both algorithms' answers for `path` equal the outside tools' digests of `data`.
async fn check(app: &axum::Router, path: &str, data: &[u8], xxh: bool) {
    let mut algorithms = vec!["md5"];
    if xxh {
        algorithms.push("xxh3");
    }
    for algorithm in algorithms {
        let (s, v) = digest(app, algorithm, path).await;
        assert_eq!(s, 200, "{path}: {v}");
        let want = reference(algorithm, data);
        assert_eq!(
            v,
            serde_json::json!({ "algorithm": algorithm, "path": path, "digest": want }),
            "{algorithm} of {path} ({} bytes)",
            data.len()
        );
    }
}

async fn put_file(app: &axum::Router, path: &str, data: Vec<u8>) {
    let (s, v) = send_json(app, put(&format!("/api/v1/files?path={}", enc(path)), data)).await;
    assert_eq!(s, 200, "{path}: {v}");
}

fn config(local: &Path, db: &Path) -> String {
    format!(
        "plugins:\n  memfs: {{path: /memfs}}\n  kvfs: {{path: /kvfs}}\n  hellofs: {{path: /hellofs}}\n  \
         serverinfofs: {{path: /serverinfofs}}\n  queuefs: {{path: /queuefs}}\n  \
         localfs: {{path: /local, config: {{local_dir: '{}'}}}}\n  \
         sqlfs: {{path: /sqlfs, config: {{backend: sqlite, db_path: '{}'}}}}\n",
        local.display(),
        db.display()
    )
}

#[tokio::test]
async fn digests_match_outside_tools_on_every_readable_plugin() {
    let xxh = have_xxhsum();
    let local = tempfile::tempdir().unwrap();
    let db = tempfile::tempdir().unwrap();
    // Written on disk by the test, read by localfs as a stream.
    let on_disk = noise(9 * 1024 * 1024 + 17, 1);
    std::fs::write(local.path().join("big.bin"), &on_disk).unwrap();
    std::fs::write(local.path().join("empty"), b"").unwrap();
    let (app, _) = app_with(&config(local.path(), &db.path().join("sqlfs.db"))).await;

    check(&app, "/local/big.bin", &on_disk, xxh).await;
    check(&app, "/local/empty", b"", xxh).await;

    let uploaded = noise(3 * 1024 * 1024 + 5, 2);
    put_file(&app, "/local/sub dir.bin", uploaded.clone()).await;
    check(&app, "/local/sub dir.bin", &uploaded, xxh).await;

    let in_memory = noise(5 * 1024 * 1024 + 3, 3);
    put_file(&app, "/memfs/big.bin", in_memory.clone()).await;
    check(&app, "/memfs/big.bin", &in_memory, xxh).await;
    put_file(&app, "/memfs/empty", Vec::new()).await;
    check(&app, "/memfs/empty", b"", xxh).await;
    put_file(&app, "/memfs/abc", b"abc".to_vec()).await;
    check(&app, "/memfs/abc", b"abc", xxh).await;

    // sqlfs keeps 256 KiB chunks: this spans several.
    let chunked = noise(1024 * 1024 + 100, 4);
    put_file(&app, "/sqlfs/chunked.bin", chunked.clone()).await;
    check(&app, "/sqlfs/chunked.bin", &chunked, xxh).await;

    put_file(&app, "/kvfs/keys/user", b"alice".to_vec()).await;
    check(&app, "/kvfs/keys/user", b"alice", xxh).await;

    // Read-only plugins: the reference is computed on what a plain GET returns.
    for path in ["/hellofs/hello", "/serverinfofs/version", "/queuefs/README"] {
        let (s, bytes) = send(&app, get(&format!("/api/v1/files?path={path}"))).await;
        assert_eq!(s, 200, "{path}");
        check(&app, path, &bytes, xxh).await;
    }
}

#[tokio::test]
async fn xxh3_is_the_low_half_of_xxh128_not_xxh3_64() {
    if !have_xxhsum() {
        return;
    }
    let (app, _) = app().await;
    // From 4 to 240 bytes XXH3-64 and the low half of XXH3-128 differ (above 240 they agree):
    // a wrong variant fails here.
    let data = noise(100, 5);
    put_file(&app, "/memfs/f", data.clone()).await;
    let (_, v) = digest(&app, "xxh3", "/memfs/f").await;
    let out = Command::new("xxhsum")
        .arg("-H3")
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&data)?;
            c.wait_with_output()
        })
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains(v["digest"].as_str().unwrap()),
        "xxh3 answered XXH3-64: {text}"
    );
    assert_eq!(v["digest"], reference("xxh3", &data));
}

#[tokio::test]
async fn the_path_is_echoed_as_sent() {
    let (app, _) = app().await;
    put_file(&app, "/memfs/a.txt", b"x".to_vec()).await;
    let (s, v) = digest(&app, "md5", "/memfs//a.txt").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["path"], "/memfs//a.txt");
    assert_eq!(v["digest"], reference("md5", b"x"));
}

#[tokio::test]
async fn an_unknown_algorithm_is_400_and_is_checked_before_the_path() {
    let (app, _) = app().await;
    for (algorithm, path) in [("sha1", "/memfs/nope"), ("sha1", ""), ("", "/memfs/x")] {
        let got = digest(&app, algorithm, path).await;
        assert_error(
            got,
            400,
            &format!("unsupported algorithm: {algorithm} (supported: xxh3, md5)"),
        );
    }
    let got = send_json(&app, post_json("/api/v1/digest", r#"{"path": "/memfs/x"}"#)).await;
    assert_error(got, 400, "unsupported algorithm:  (supported: xxh3, md5)");
}

#[tokio::test]
async fn a_missing_path_is_400_and_a_missing_file_404() {
    let (app, _) = app().await;
    assert_error(digest(&app, "md5", "").await, 400, "path is required");
    let got = send_json(
        &app,
        post_json("/api/v1/digest", r#"{"algorithm": "xxh3"}"#),
    )
    .await;
    assert_error(got, 400, "path is required");
    let got = digest(&app, "xxh3", "/memfs/nope").await;
    assert_error(got.clone(), 404, "not found");
    assert!(
        got.1["error"]
            .as_str()
            .unwrap()
            .starts_with("failed to calculate digest: "),
        "{}",
        got.1
    );
    assert_error(digest(&app, "md5", "/nowhere/x").await, 404, "not found");
}

#[tokio::test]
async fn a_directory_is_400_is_a_directory() {
    let local = tempfile::tempdir().unwrap();
    std::fs::create_dir(local.path().join("d")).unwrap();
    let db = tempfile::tempdir().unwrap();
    let (app, _) = app_with(&config(local.path(), &db.path().join("s.db"))).await;
    let (s, _) = send(&app, post("/api/v1/directories?path=/memfs/dir")).await;
    assert_eq!(s, 201);
    for path in [
        "/memfs/dir",
        "/memfs",
        "/local/d",
        "/local",
        "/kvfs/keys",
        "/hellofs",
    ] {
        for algorithm in ["md5", "xxh3"] {
            assert_error(digest(&app, algorithm, path).await, 400, "is a directory");
        }
    }
}

#[tokio::test]
async fn a_file_whose_read_has_side_effects_is_refused_and_left_alone() {
    let (app, _) = app_with("plugins:\n  queuefs: {path: /queuefs}\n").await;
    let (s, _) = send(&app, put("/api/v1/files?path=/queuefs/q/enqueue", "job")).await;
    assert_eq!(s, 200);
    for algorithm in ["md5", "xxh3"] {
        let got = digest(&app, algorithm, "/queuefs/q/dequeue").await;
        assert_error(got, 400, "side effects");
    }
    let (_, size) = send(&app, get("/api/v1/files?path=/queuefs/q/size")).await;
    assert_eq!(&size[..], b"1", "the message is still queued");
    // peek has none: it can be digested, and equals what a read of it returns.
    let (_, head) = send(&app, get("/api/v1/files?path=/queuefs/q/peek")).await;
    let (s, v) = digest(&app, "md5", "/queuefs/q/peek").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["digest"], reference("md5", &head));
    let (_, size) = send(&app, get("/api/v1/files?path=/queuefs/q/size")).await;
    assert_eq!(&size[..], b"1");
}

#[tokio::test]
async fn bad_bodies_are_400_and_oversized_ones_413() {
    let (app, _) = app().await;
    for bad in ["", "{", "[1]", r#"{"algorithm": 5}"#] {
        let got = send_json(&app, post_json("/api/v1/digest", bad)).await;
        assert_error(got, 400, "invalid request body");
    }
    let (app, _) =
        app_with("server: {max_request_body_bytes: 32}\nplugins:\n  memfs: {path: /memfs}\n").await;
    let long = body("md5", &format!("/memfs/{}", "x".repeat(64)));
    assert_error(
        send_json(&app, post_json("/api/v1/digest", &long)).await,
        413,
        "maximum size of 32 bytes",
    );
    assert_eq!(
        send(&app, get("/api/v1/digest")).await.0.as_u16(),
        405,
        "GET is not a digest method"
    );
}

/// s3fs streams its objects; needs moto (`PFS_TEST_S3_ENDPOINT`, started by scripts/test).
#[tokio::test]
async fn digest_streams_an_s3_object() {
    let Some(s3) =
        fs_core::conformance::test_server("PFS_TEST_S3_ENDPOINT", "scripts/test starts moto")
    else {
        return;
    };
    let bucket = format!(
        "pfs-digest-{}-{}",
        std::process::id(),
        common::process::free_port()
    );
    let out = common::process::curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-X",
        "PUT",
        &format!("{s3}/{bucket}"),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "bucket creation"
    );
    let (app, _) = app_with(&format!(
        "plugins:\n  s3fs: {{path: /s3, config: {{bucket: {bucket}, endpoint: '{s3}', \
         access_key_id: test, secret_access_key: test}}}}\n"
    ))
    .await;
    let data = noise(6 * 1024 * 1024 + 1, 6);
    put_file(&app, "/s3/obj.bin", data.clone()).await;
    check(&app, "/s3/obj.bin", &data, have_xxhsum()).await;
}

#[tokio::test]
async fn a_link_is_followed_and_a_link_to_dequeue_refused() {
    let (app, state) =
        app_with("plugins:\n  queuefs: {path: /queuefs}\n  memfs: {path: /memfs}\n").await;
    put_file(&app, "/memfs/f", b"linked".to_vec()).await;
    put_file(&app, "/queuefs/q/enqueue", b"job".to_vec()).await;
    state.fs.symlink("/memfs/f", "/memfs/ln").await.unwrap();
    state
        .fs
        .symlink("/queuefs/q/dequeue", "/memfs/dq")
        .await
        .unwrap();
    let (s, v) = digest(&app, "md5", "/memfs/ln").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["path"], "/memfs/ln");
    assert_eq!(v["digest"], reference("md5", b"linked"));
    assert_error(digest(&app, "md5", "/memfs/dq").await, 400, "side effects");
    let (_, size) = send(&app, get("/api/v1/files?path=/queuefs/q/size")).await;
    assert_eq!(&size[..], b"1");
}
