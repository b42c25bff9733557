//! `POST /api/v1/mounts/config` on queuefs, streamfs, streamrotatefs and localfs: what each takes
//! in place (accepted, the same instance serving on), what it refuses (400, nothing changed: data,
//! config and generation), and what needs a remount (501).

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::StatusCode;
use common::*;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// How long a test waits for what should happen at once.
const DEADLINE: Duration = Duration::from_secs(5);

async fn mount(app: &axum::Router, fstype: &str, path: &str, config: Value) {
    let body = json!({"fstype": fstype, "path": path, "config": config});
    let (s, v) = send_json(app, post_json("/api/v1/mount", &body.to_string())).await;
    assert_eq!(s, 200, "mount {fstype}: {v}");
}

async fn change(app: &axum::Router, path: &str, config: Value) -> (StatusCode, Value) {
    let body = json!({"path": path, "config": config});
    send_json(app, post_json("/api/v1/mounts/config", &body.to_string())).await
}

/// Changes the config of `path` in place, which must be accepted as given, to generation `gen`.
async fn accepted(app: &axum::Router, path: &str, config: Value, generation: u64) {
    let (s, v) = change(app, path, config.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            &v["generation"],
            &v["amended"],
            &v["remounted"],
            &v["config"]
        ),
        (&json!(generation), &json!(false), &json!(false), &config)
    );
    let row = mount_row(app, path).await;
    assert_eq!(
        (&row["generation"], &row["config"]),
        (&json!(generation), &config)
    );
}

/// Asks for each change in `bad`, each of which must fail with its status and words, and checks
/// that the mount kept its generation and config.
async fn refused(app: &axum::Router, path: &str, bad: &[(Value, u16, &str)]) {
    let before = mount_row(app, path).await;
    for (config, status, words) in bad {
        assert_error(change(app, path, config.clone()).await, *status, words);
        let row = mount_row(app, path).await;
        assert_eq!(
            (&row["generation"], &row["config"]),
            (&before["generation"], &before["config"]),
            "after {config}"
        );
    }
}

async fn status(app: &axum::Router, req: axum::http::Request<Body>) -> u16 {
    send(app, req).await.0.as_u16()
}

async fn text(app: &axum::Router, uri: &str) -> String {
    let (s, b) = send(app, get(uri)).await;
    assert_eq!(s, 200, "{uri}: {b:?}");
    String::from_utf8_lossy(&b).into_owned()
}

#[tokio::test]
async fn queuefs_limits_change_in_place_and_a_bad_one_changes_nothing() {
    let (app, _) = app().await;
    mount(&app, "queuefs", "/q", json!({})).await;
    let enqueue = |body: &str| put("/api/v1/files?path=/q/jobs/enqueue", body.to_string());
    for m in ["a", "b", "c"] {
        assert_eq!(status(&app, enqueue(m)).await, 200);
    }

    accepted(
        &app,
        "/q",
        json!({"max_queue_length": 3, "max_message_size": 16}),
        2,
    )
    .await;
    // The queue made before the change is the same, and full.
    let (s, v) = send_json(&app, enqueue("d")).await;
    assert_eq!(s, 413, "{v}");
    assert!(v["error"].as_str().unwrap().contains("queue full"), "{v}");
    assert_eq!(text(&app, "/api/v1/files?path=/q/jobs/size").await, "3");
    assert_eq!(
        status(&app, get("/api/v1/files?path=/q/jobs/dequeue")).await,
        200
    );
    assert_error(
        send_json(&app, enqueue("seventeen bytes!!")).await,
        413,
        "max_message_size",
    );
    assert_eq!(status(&app, enqueue("sixteen bytes!!!")).await, 200);

    // A body past the limit is refused before its end: this one never ends.
    let endless = futures_util::StreamExt::chain(
        futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from("x".repeat(64)))]),
        futures_util::stream::pending(),
    );
    let req = axum::http::Request::put("/api/v1/files?path=/q/jobs/enqueue")
        .body(Body::from_stream(endless))
        .unwrap();
    let resp = tokio::time::timeout(DEADLINE, app.clone().oneshot(req))
        .await
        .expect("the body was read on past max_message_size")
        .unwrap();
    assert_eq!(resp.status(), 413);

    refused(
        &app,
        "/q",
        &[
            (json!({"max_queue_length": 0}), 400, "max_queue_length"),
            (json!({"max_message_size": "lots"}), 400, "max_message_size"),
            (json!({"max_queue_length": -3}), 400, "max_queue_length"),
            (json!({"max_queue_length": 1e300}), 400, "max_queue_length"),
            (
                json!({"backend": "sqlite", "max_queue_length": 100}),
                501,
                "'backend' cannot change",
            ),
        ],
    )
    .await;
    // The limits in force are the accepted ones, and the messages are all there.
    assert_eq!(status(&app, enqueue("full")).await, 413);
    assert_eq!(text(&app, "/api/v1/files?path=/q/jobs/size").await, "3");
}

/// A live reader of a stream: the body of `GET /files?stream=true`, read as it comes.
struct Reader {
    body: Body,
    seen: String,
}

impl Reader {
    async fn open(app: &axum::Router, path: &str) -> Reader {
        let req = get(&format!("/api/v1/files?path={path}&stream=true"));
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        Reader {
            body: resp.into_body(),
            seen: String::new(),
        }
    }

    /// Reads until everything read so far is exactly `want` (failing past the deadline).
    async fn until(&mut self, want: &str) {
        let deadline = Instant::now() + DEADLINE;
        while self.seen.len() < want.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = tokio::time::timeout(left, self.body.frame())
                .await
                .unwrap_or_else(|_| panic!("waiting for {want:?}, got {:?}", self.seen))
                .expect("the stream ended")
                .unwrap();
            if let Ok(data) = frame.into_data() {
                self.seen.push_str(&String::from_utf8_lossy(&data));
            }
        }
        assert_eq!(self.seen, want);
    }
}

#[tokio::test]
async fn streamfs_buffers_change_in_place_and_readers_keep_reading() {
    let (app, _) = app().await;
    let sizes = json!({"ring_buffer_size": 100, "channel_buffer_size": 100});
    mount(&app, "streamfs", "/s", sizes).await;
    let write = |chunk: &str| put("/api/v1/files?path=/s/live", chunk.to_string());
    for chunk in ["aaaa", "bbbb", "cccc"] {
        assert_eq!(status(&app, write(chunk)).await, 200);
    }
    let mut before = Reader::open(&app, "/s/live").await;
    before.until("aaaabbbbcccc").await;

    accepted(
        &app,
        "/s",
        json!({"ring_buffer_size": 5, "channel_buffer_size": "1KB"}),
        2,
    )
    .await;
    assert_eq!(status(&app, write("dddd")).await, 200);
    // The reader attached before the change gets what is written after it.
    before.until("aaaabbbbccccdddd").await;
    // A new reader gets the history of the new ring size: the newest chunk only.
    let mut after = Reader::open(&app, "/s/live").await;
    after.until("dddd").await;
    assert_eq!(status(&app, write("eeee")).await, 200);
    after.until("ddddeeee").await;

    refused(
        &app,
        "/s",
        &[
            (
                json!({"channel_buffer_size": 0}),
                400,
                "channel_buffer_size",
            ),
            (json!({"ring_buffer_size": "big"}), 400, "ring_buffer_size"),
            (json!({"ring_buffer_size": -1}), 400, "ring_buffer_size"),
            (
                json!({"ring_buffer_sizes": 1}),
                400,
                "unknown configuration parameter",
            ),
        ],
    )
    .await;
    assert_eq!(status(&app, write("ffff")).await, 200);
    before.until("aaaabbbbccccddddeeeeffff").await;
    after.until("ddddeeeeffff").await;
}

#[tokio::test]
async fn streamrotatefs_rotation_changes_in_place_output_path_needs_a_remount() {
    let (app, _) = app().await;
    let config = |size: Value, pattern: &str| json!({"output_path": "/memfs/rec", "rotation_size": size, "filename_pattern": pattern});
    mount(
        &app,
        "streamrotatefs",
        "/rot",
        config(json!(100), "{channel}_{index}.dat"),
    )
    .await;
    let write = |chunk: &str| put("/api/v1/files?path=/rot/s", chunk.to_string());
    let mut reader = Reader::open(&app, "/rot/s").await;
    assert_eq!(status(&app, write("aaaa")).await, 200);

    accepted(&app, "/rot", config(json!(4), "{channel}-{index}.log"), 2).await;
    // The open file holds 4 bytes, the new size: the next chunk starts a file named the new way.
    assert_eq!(status(&app, write("bb")).await, 200);
    reader.until("aaaabb").await;
    assert_eq!(
        text(&app, "/api/v1/files?path=/memfs/rec/s_000000.dat").await,
        "aaaa"
    );
    assert_eq!(
        text(&app, "/api/v1/files?path=/memfs/rec/s-000001.log").await,
        "bb"
    );

    refused(
        &app,
        "/rot",
        &[
            (config(json!(0), "{channel}.log"), 400, "rotation_size"),
            (config(json!(4), "{nope}.log"), 400, "{nope}"),
            (
                json!({"output_path": "/memfs/elsewhere"}),
                501,
                "'output_path' cannot change",
            ),
        ],
    )
    .await;
    assert_eq!(status(&app, write("cc")).await, 200);
    reader.until("aaaabbcc").await;
    assert_eq!(
        text(&app, "/api/v1/files?path=/memfs/rec/s-000001.log").await,
        "bbcc"
    );
    assert_eq!(
        status(&app, get("/api/v1/stat?path=/memfs/elsewhere")).await,
        404
    );
}

#[tokio::test]
async fn localfs_read_only_flips_in_place_for_requests_and_handles() {
    // localfs through the API on a temporary directory: roots anywhere.
    let (app, _) =
        app_with("server: {mount_roots: ['*']}\nplugins:\n  memfs: {path: /memfs}\n").await;
    let dir = tempfile::tempdir().unwrap();
    let config = |read_only: bool| json!({"local_dir": dir.path(), "read_only": read_only});
    mount(&app, "localfs", "/l", config(false)).await;
    assert_eq!(
        status(&app, put("/api/v1/files?path=/l/f", "one")).await,
        200
    );
    // Opened for writing (flags 2: read-write) before the change.
    let id = common::handles::open(&app, "/l/f", 2, "").await;
    let handle_write =
        |body: &'static str| put(&format!("/api/v1/handles/{id}/write?offset=3"), body);

    accepted(&app, "/l", config(true), 2).await;
    assert_error(
        send_json(&app, put("/api/v1/files?path=/l/f", "two")).await,
        501,
        "not supported",
    );
    assert_error(
        send_json(&app, post("/api/v1/directories?path=/l/d")).await,
        501,
        "not supported",
    );
    assert_error(send_json(&app, handle_write("!")).await, 403, "read-only");
    assert_eq!(text(&app, "/api/v1/files?path=/l/f").await, "one");

    refused(
        &app,
        "/l",
        &[
            (
                json!({"local_dir": dir.path(), "read_only": "no"}),
                400,
                "read_only",
            ),
            (
                json!({"local_dir": dir.path().join("missing")}),
                400,
                "does not exist",
            ),
            (
                json!({"local_dir": std::env::temp_dir(), "read_only": false}),
                501,
                "'local_dir' cannot change",
            ),
        ],
    )
    .await;
    assert_eq!(
        status(&app, put("/api/v1/files?path=/l/f", "two")).await,
        501
    );

    // Back to writable: the same handle writes again, and so do requests.
    accepted(&app, "/l", config(false), 3).await;
    assert_eq!(status(&app, handle_write("!")).await, 200);
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"one!");
    assert_eq!(
        status(&app, put("/api/v1/files?path=/l/g", "two")).await,
        200
    );
    assert_eq!(std::fs::read(dir.path().join("g")).unwrap(), b"two");
}
