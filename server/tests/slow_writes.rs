//! A write whose body is still arriving blocks nobody: on every writable backend, reads, stats and
//! listings of the same file and its directory answer at once and see the old content, and the
//! new content appears whole when the body ends (a peer server held a write lock across reads).

mod common;

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use common::{app_with, get, put, send, send_json};
use tokio::sync::mpsc;

/// The longest any request may take while the slow write is open (a hang fails the test).
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_stats_and_listings_answer_while_a_body_is_still_arriving() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    std::fs::create_dir(&local).unwrap();
    let (app, _) = app_with(&format!(
        "plugins:\n  memfs: {{path: /memfs}}\n  kvfs: {{path: /kvfs}}\n  \
         localfs: {{path: /local, config: {{local_dir: '{}'}}}}\n  \
         sqlfs: {{path: /sqlfs, config: {{backend: sqlite, db_path: '{}'}}}}\n",
        local.display(),
        dir.path().join("sqlfs.db").display()
    ))
    .await;
    for (root, file) in [
        ("/memfs", "/memfs/f"),
        ("/kvfs/keys", "/kvfs/keys/f"),
        ("/local", "/local/f"),
        ("/sqlfs", "/sqlfs/f"),
    ] {
        let (s, _) = send(&app, put(&format!("/api/v1/files?path={file}"), "old")).await;
        assert_eq!(s, 200, "{file}");
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let body = Body::from_stream(body_stream(rx));
        let slow = tokio::spawn({
            let app = app.clone();
            let uri = format!("/api/v1/files?path={file}");
            async move { send(&app, put(&uri, body)).await }
        });
        tx.send(Ok(Bytes::from_static(b"new, part one; ")))
            .await
            .unwrap();

        let during = async {
            let (s, b) = send(&app, get(&format!("/api/v1/files?path={file}"))).await;
            assert_eq!((s.as_u16(), &b[..]), (200, &b"old"[..]), "{file} mid-write");
            let (s, v) = send_json(&app, get(&format!("/api/v1/stat?path={file}"))).await;
            assert_eq!((s.as_u16(), &v["size"]), (200, &3.into()), "{file}: {v}");
            let (s, v) = send_json(&app, get(&format!("/api/v1/directories?path={root}"))).await;
            assert_eq!(s, 200, "{root}: {v}");
        };
        tokio::time::timeout(ANSWER_WITHIN, during)
            .await
            .unwrap_or_else(|_| panic!("{file}: requests hung behind the open write"));
        assert!(
            !slow.is_finished(),
            "{file}: the write ended before its body"
        );

        tx.send(Ok(Bytes::from_static(b"part two"))).await.unwrap();
        drop(tx);
        let (s, _) = tokio::time::timeout(ANSWER_WITHIN, slow)
            .await
            .expect("the write ends with its body")
            .unwrap();
        assert_eq!(s, 200, "{file}");
        let (_, b) = send(&app, get(&format!("/api/v1/files?path={file}"))).await;
        assert_eq!(&b[..], b"new, part one; part two", "{file}");
    }
}

/// The receiver as a stream of body chunks.
fn body_stream(
    mut rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
