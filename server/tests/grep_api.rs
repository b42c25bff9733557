//! `POST /grep`: single files and trees, the case flag, `limit`, NDJSON streaming (which must send
//! the first match before the search ends), long lines, lossy UTF-8, the errors, and queuefs's
//! `dequeue`, which a search must never read.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use bytes::Bytes;
use common::*;
use fs_core::{Capabilities, Error, FileInfo, FileSystem, Result, WriteFlags};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tower::ServiceExt;

async fn grep(app: &Router, req: Value) -> (StatusCode, Value) {
    send_json(app, post_json("/api/v1/grep", &req.to_string())).await
}

async fn put_file(app: &Router, path: &str, data: impl Into<Body>) {
    let (s, v) = send_json(app, put(&format!("/api/v1/files?path={}", enc(path)), data)).await;
    assert_eq!(s, 200, "{path}: {v}");
}

fn m(file: &str, line: u64, content: &str) -> Value {
    json!({ "file": file, "line": line, "content": content })
}

#[tokio::test]
async fn a_file_gives_line_numbers_and_contents_without_newlines() {
    let (app, _) = app().await;
    put_file(
        &app,
        "/memfs/log.txt",
        "INFO start\nERROR disk full\r\nok\nerror: retry\nERROR",
    )
    .await;
    let (s, v) = grep(&app, json!({"path": "/memfs/log.txt", "pattern": "ERROR"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"matches": [m("/memfs/log.txt", 2, "ERROR disk full"), m("/memfs/log.txt", 5, "ERROR")], "count": 2})
    );
    let req = json!({"path": "/memfs/log.txt", "pattern": "^error", "case_insensitive": true});
    let (_, v) = grep(&app, req).await;
    assert_eq!(v["count"], 3, "{v}");
    let lines: Vec<u64> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 4, 5]);
}

#[tokio::test]
async fn no_match_is_an_empty_list_not_null() {
    let (app, _) = app().await;
    let (s, v) = grep(&app, json!({"path": "/hellofs/hello", "pattern": "bye"})).await;
    assert_eq!((s.as_u16(), v), (200, json!({"matches": [], "count": 0})));
    let (_, v) = grep(&app, json!({"path": "/hellofs/hello", "pattern": "W.rld"})).await;
    assert_eq!(
        v,
        json!({"matches": [m("/hellofs/hello", 1, "Hello, World!")], "count": 1})
    );
}

#[tokio::test]
async fn a_recursive_search_walks_subdirectories_and_mounts_in_name_order() {
    let (app, _) = app().await;
    for dir in ["/memfs/t", "/memfs/t/b", "/memfs/t/a", "/memfs/t/a/deep"] {
        assert_eq!(
            send(&app, post(&format!("/api/v1/directories?path={dir}")))
                .await
                .0,
            201
        );
    }
    put_file(&app, "/memfs/t/z.txt", "needle z").await;
    put_file(&app, "/memfs/t/b/1.txt", "hay\nneedle b1").await;
    put_file(&app, "/memfs/t/a/2.txt", "needle a2\nneedle again").await;
    put_file(&app, "/memfs/t/a/deep/3.txt", "x needle").await;
    put_file(&app, "/memfs/t/a/none.txt", "nothing").await;
    let (s, v) = grep(
        &app,
        json!({"path": "/memfs/t", "pattern": "needle", "recursive": true}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"matches": [
            m("/memfs/t/a/2.txt", 1, "needle a2"),
            m("/memfs/t/a/2.txt", 2, "needle again"),
            m("/memfs/t/a/deep/3.txt", 1, "x needle"),
            m("/memfs/t/b/1.txt", 2, "needle b1"),
            m("/memfs/t/z.txt", 1, "needle z"),
        ], "count": 5})
    );
    // From the root: through every mount (kvfs, hellofs, memfs).
    put_file(&app, "/kvfs/keys/k", "a needle in kvfs").await;
    let req = json!({"path": "/", "pattern": "needle in|^Hello, World", "recursive": true});
    let (s, v) = grep(&app, req).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"matches": [
            m("/hellofs/hello", 1, "Hello, World!"),
            m("/kvfs/keys/k", 1, "a needle in kvfs"),
        ], "count": 2})
    );
}

#[tokio::test]
async fn limit_caps_the_matches_across_files() {
    let (app, _) = app().await;
    let text: String = (1..=10).map(|i| format!("hit {i}\n")).collect();
    put_file(&app, "/memfs/a.txt", text.clone()).await;
    put_file(&app, "/memfs/b.txt", text).await;
    let (_, v) = grep(
        &app,
        json!({"path": "/memfs/a.txt", "pattern": "hit", "limit": 3}),
    )
    .await;
    assert_eq!(
        v,
        json!({"matches": [m("/memfs/a.txt", 1, "hit 1"), m("/memfs/a.txt", 2, "hit 2"), m("/memfs/a.txt", 3, "hit 3")], "count": 3})
    );
    let req = json!({"path": "/memfs", "pattern": "hit", "recursive": true, "limit": 12});
    let (_, v) = grep(&app, req).await;
    assert_eq!(v["count"], 12);
    assert_eq!(v["matches"][11], m("/memfs/b.txt", 2, "hit 2"));
    // 0 and negative mean no limit (as AGFS's regex search).
    for limit in [0, -1] {
        let req = json!({"path": "/memfs", "pattern": "hit", "recursive": true, "limit": limit});
        assert_eq!(grep(&app, req).await.1["count"], 20);
    }
}

#[tokio::test]
async fn long_lines_crlf_and_invalid_utf8() {
    let local = tempfile::tempdir().unwrap();
    let yaml = format!(
        "plugins:\n  memfs: {{path: /memfs}}\n  localfs: {{path: /local, config: {{local_dir: '{}'}}}}\n",
        local.path().display()
    );
    let (app, _) = app_with(&yaml).await;
    // 200 KiB line (AGFS's scanner stops at 64 KiB), needle at its end.
    let mut long = "a".repeat(200 * 1024);
    long.push_str("needle");
    put_file(
        &app,
        "/memfs/long.txt",
        format!("first\n{long}\nlast needle\n"),
    )
    .await;
    let (s, v) = grep(
        &app,
        json!({"path": "/memfs/long.txt", "pattern": "needle$"}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["count"], 2);
    assert_eq!(v["matches"][0]["line"], 2);
    assert_eq!(
        v["matches"][0]["content"].as_str().unwrap().len(),
        long.len()
    );
    assert_eq!(v["matches"][1], m("/memfs/long.txt", 3, "last needle"));

    // Over the 1 MiB cap: matched and reported on its first MiB; later lines keep their numbers.
    let giant = format!("needle{}", "b".repeat(3 << 20));
    let body = format!("{giant}\nsecond needle\r\n");
    std::fs::write(local.path().join("giant.txt"), &body).unwrap();
    let (_, v) = grep(
        &app,
        json!({"path": "/local/giant.txt", "pattern": "needle"}),
    )
    .await;
    assert_eq!(v["count"], 2);
    assert_eq!(v["matches"][0]["line"], 1);
    assert_eq!(v["matches"][0]["content"].as_str().unwrap().len(), 1 << 20);
    assert_eq!(v["matches"][1], m("/local/giant.txt", 2, "second needle"));

    // A multi-MiB file streamed by localfs: the match on its last line has the right number.
    let mut many: String = (0..200_000).map(|i| format!("line {i}\n")).collect();
    many.push_str("the end");
    std::fs::write(local.path().join("many.txt"), &many).unwrap();
    let (_, v) = grep(
        &app,
        json!({"path": "/local/many.txt", "pattern": "end|^line 123456$"}),
    )
    .await;
    assert_eq!(
        v,
        json!({"matches": [m("/local/many.txt", 123_457, "line 123456"), m("/local/many.txt", 200_001, "the end")], "count": 2})
    );

    // Bytes that are not UTF-8 are matched as bytes and reported as U+FFFD.
    put_file(
        &app,
        "/memfs/bin",
        Body::from(b"\xff\xfeneedle\x00\n".to_vec()),
    )
    .await;
    let (_, v) = grep(&app, json!({"path": "/memfs/bin", "pattern": "needle"})).await;
    assert_eq!(v["matches"][0]["content"], "\u{fffd}\u{fffd}needle\u{0}");
}

#[tokio::test]
async fn ndjson_stream_sends_matches_then_a_summary() {
    let (app, _) = app().await;
    put_file(&app, "/memfs/a.txt", "one\ntwo\nthree").await;
    let req = json!({"path": "/memfs/a.txt", "pattern": "t", "stream": true});
    let (s, h, body) = send_full(&app, post_json("/api/v1/grep", &req.to_string())).await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = std::str::from_utf8(&body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            m("/memfs/a.txt", 2, "two"),
            m("/memfs/a.txt", 3, "three"),
            json!({"type": "summary", "count": 2})
        ]
    );
    assert!(body.ends_with(b"\n"));
    // Nothing found: only the summary.
    let req = json!({"path": "/memfs/a.txt", "pattern": "zzz", "stream": true});
    let (_, _, body) = send_full(&app, post_json("/api/v1/grep", &req.to_string())).await;
    assert_eq!(&body[..], b"{\"count\":0,\"type\":\"summary\"}\n");
}

/// A filesystem whose `/a` matches at once and whose `/b` blocks until released.
#[derive(Debug)]
struct Gated {
    gate: Arc<Notify>,
}

#[async_trait]
impl FileSystem for Gated {
    fn capabilities(&self) -> Capabilities {
        Capabilities::READ_WRITE
    }
    async fn stat(&self, path: &str) -> Result<FileInfo> {
        match path {
            "/" => Ok(FileInfo::dir("/", 0o755, None)),
            "/a" | "/b" => Ok(FileInfo::file(&path[1..], 7, 0o644, None)),
            _ => Err(Error::not_found(path)),
        }
    }
    async fn read_dir(&self, _path: &str) -> Result<Vec<FileInfo>> {
        Ok(vec![
            FileInfo::file("b", 7, 0o644, None),
            FileInfo::file("a", 7, 0o644, None),
        ])
    }
    async fn read(&self, path: &str, _offset: u64, _size: Option<u64>) -> Result<Bytes> {
        if path == "/b" {
            self.gate.notified().await;
        }
        Ok(Bytes::from_static(b"needle\n"))
    }
    async fn write(&self, p: &str, _: Bytes, _: Option<u64>, _: WriteFlags) -> Result<u64> {
        Err(Error::permission_denied(p))
    }
    async fn create(&self, p: &str) -> Result<()> {
        Err(Error::permission_denied(p))
    }
    async fn mkdir(&self, p: &str, _: u32) -> Result<()> {
        Err(Error::permission_denied(p))
    }
    async fn remove(&self, p: &str) -> Result<()> {
        Err(Error::permission_denied(p))
    }
    async fn remove_all(&self, p: &str) -> Result<()> {
        Err(Error::permission_denied(p))
    }
    async fn rename(&self, p: &str, _: &str) -> Result<()> {
        Err(Error::permission_denied(p))
    }
}

#[tokio::test]
async fn the_stream_sends_the_first_match_before_the_search_ends() {
    let (app, state) = app().await;
    let gate = Arc::new(Notify::new());
    let fs = Arc::new(Gated { gate: gate.clone() });
    state
        .fs
        .mount("/gated", "gated", None, json!({}), fs)
        .await
        .unwrap();
    let req = json!({"path": "/gated", "pattern": "needle", "recursive": true, "stream": true});
    let resp = app
        .clone()
        .oneshot(post_json("/api/v1/grep", &req.to_string()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("the first match arrives while /gated/b is still blocked")
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    let first: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(first, m("/gated/a", 1, "needle"));
    // The search is still waiting on /gated/b: nothing more yet.
    let more = tokio::time::timeout(Duration::from_millis(200), body.frame()).await;
    assert!(more.is_err(), "the search should still be blocked");
    gate.notify_one();
    let rest = tokio::time::timeout(Duration::from_secs(5), body.collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    let rest: Vec<Value> = std::str::from_utf8(&rest)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        rest,
        [
            m("/gated/b", 1, "needle"),
            json!({"type": "summary", "count": 2})
        ]
    );
}

#[tokio::test]
async fn a_recursive_search_never_reads_dequeue() {
    let (app, _) =
        app_with("plugins:\n  queuefs: {path: /queuefs}\n  memfs: {path: /memfs}\n").await;
    for msg in ["needle one", "needle two"] {
        let (s, _) = send(&app, put("/api/v1/files?path=/queuefs/jobs/enqueue", msg)).await;
        assert_eq!(s, 200);
    }
    for stream in [false, true] {
        for root in ["/queuefs", "/"] {
            let req =
                json!({"path": root, "pattern": "needle", "recursive": true, "stream": stream});
            let (s, _, body) = send_full(&app, post_json("/api/v1/grep", &req.to_string())).await;
            assert_eq!(s, 200);
            let text = String::from_utf8(body.to_vec()).unwrap();
            // peek shows the head message; dequeue is never opened.
            assert!(text.contains("/queuefs/jobs/peek"), "{text}");
            assert!(!text.contains("dequeue"), "{text}");
        }
    }
    let (_, size) = send(&app, get("/api/v1/files?path=/queuefs/jobs/size")).await;
    assert_eq!(&size[..], b"2", "no message was consumed");
    // Naming dequeue itself is refused, in both modes.
    for stream in [false, true] {
        let req = json!({"path": "/queuefs/jobs/dequeue", "pattern": "needle", "stream": stream});
        assert_error(grep(&app, req).await, 400, "side effects");
    }
    let (_, size) = send(&app, get("/api/v1/files?path=/queuefs/jobs/size")).await;
    assert_eq!(&size[..], b"2");
    let (_, msg) = send(&app, get("/api/v1/files?path=/queuefs/jobs/dequeue")).await;
    let msg: Value = serde_json::from_slice(&msg).unwrap();
    assert_eq!(msg["data"], "needle one");
}

#[tokio::test]
async fn errors_are_typed() {
    let (app, _) = app().await;
    put_file(&app, "/memfs/f", "x").await;
    assert_error(
        grep(&app, json!({"pattern": "x"})).await,
        400,
        "path is required",
    );
    assert_error(
        grep(&app, json!({"path": "", "pattern": "x"})).await,
        400,
        "path is required",
    );
    assert_error(
        grep(&app, json!({"path": "/memfs/f"})).await,
        400,
        "pattern is required",
    );
    let got = grep(&app, json!({"path": "/memfs/f", "pattern": "a(b"})).await;
    assert_error(got, 400, "invalid regex pattern: ");
    // The regex is checked before the path.
    let got = grep(&app, json!({"path": "/memfs/nope", "pattern": "["})).await;
    assert_error(got, 400, "invalid regex pattern");
    let got = grep(&app, json!({"path": "/memfs/nope", "pattern": "x"})).await;
    assert_error(got.clone(), 404, "not found");
    assert!(
        got.1["error"]
            .as_str()
            .unwrap()
            .starts_with("failed to stat path: ")
    );
    for stream in [false, true] {
        let got = grep(
            &app,
            json!({"path": "/memfs", "pattern": "x", "stream": stream}),
        )
        .await;
        assert_error(
            got,
            400,
            "path is a directory, use recursive=true to search",
        );
    }
    for bad in [
        "",
        "{",
        r#"{"path": 1}"#,
        r#"{"path": "/memfs/f", "pattern": "x", "recursive": "yes"}"#,
    ] {
        let got = send_json(&app, post_json("/api/v1/grep", bad)).await;
        assert_error(got, 400, "invalid request body");
    }
    // null is accepted for every optional field, as Go decodes it.
    let req =
        r#"{"path": "/memfs/f", "pattern": "x", "recursive": null, "limit": null, "stream": null}"#;
    let (s, v) = send_json(&app, post_json("/api/v1/grep", req)).await;
    assert_eq!((s.as_u16(), v["count"].clone()), (200, json!(1)));
    assert_eq!(send(&app, get("/api/v1/grep")).await.0, 405);
}

#[tokio::test]
async fn unreadable_entries_are_skipped_in_a_tree() {
    let (app, _) =
        app_with("plugins:\n  memfs: {path: /memfs}\n  streamfs: {path: /streamfs}\n").await;
    // A stream cannot be read as a file: the walk skips it and goes on.
    put_file(&app, "/streamfs/live", "needle in a stream").await;
    put_file(&app, "/memfs/x", "needle").await;
    let (s, v) = grep(
        &app,
        json!({"path": "/", "pattern": "needle", "recursive": true}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"matches": [m("/memfs/x", 1, "needle")], "count": 1})
    );
    // The same file named directly is an error of its own kind.
    let (s, v) = grep(&app, json!({"path": "/streamfs/live", "pattern": "needle"})).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().starts_with("grep failed: "),
        "{v}"
    );
}

#[tokio::test]
async fn links_are_followed_when_named_and_skipped_in_a_tree() {
    let (app, state) =
        app_with("plugins:\n  queuefs: {path: /queuefs}\n  memfs: {path: /memfs}\n").await;
    assert_eq!(
        send(&app, post("/api/v1/directories?path=/memfs/t"))
            .await
            .0,
        201
    );
    put_file(&app, "/memfs/t/a.txt", "needle").await;
    put_file(&app, "/queuefs/q/enqueue", "needle").await;
    state.fs.symlink("/memfs/t", "/memfs/ln").await.unwrap();
    state
        .fs
        .symlink("/queuefs/q/dequeue", "/memfs/t/dq")
        .await
        .unwrap();
    // Named: followed, and the matches keep the name the client used.
    let req = json!({"path": "/memfs/ln", "pattern": "needle", "recursive": true});
    let (s, v) = grep(&app, req).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"matches": [m("/memfs/ln/a.txt", 1, "needle")], "count": 1})
    );
    // In a tree: not followed (no duplicate through /memfs/ln, no read of dequeue through dq).
    let req = json!({"path": "/memfs", "pattern": "needle", "recursive": true});
    let (_, v) = grep(&app, req).await;
    assert_eq!(
        v,
        json!({"matches": [m("/memfs/t/a.txt", 1, "needle")], "count": 1})
    );
    // A link to dequeue, named: refused like dequeue itself.
    let req = json!({"path": "/memfs/t/dq", "pattern": "needle"});
    assert_error(grep(&app, req).await, 400, "side effects");
    let (_, size) = send(&app, get("/api/v1/files?path=/queuefs/q/size")).await;
    assert_eq!(&size[..], b"1");
}
