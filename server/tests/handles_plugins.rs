//! Handles on each kind of plugin through the shipped `app()`: native handles (localfs, queuefs,
//! streamfs), the generic handle (sqlfs, kvfs, hellofs), and many handles on many mounts at once.
//! (Open/close cycles and memory: `handles_memory.rs`.)

mod common;

use std::collections::HashSet;

use axum::Router;
use common::handles::{close, file, open};
use common::{
    app_with, assert_error, delete, get, post, post_json, put, send, send_full, send_json,
};
use serde_json::Value;

async fn read(app: &Router, id: u64, query: &str) -> String {
    let (s, b) = send(app, get(&format!("/api/v1/handles/{id}/read?{query}"))).await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    String::from_utf8_lossy(&b).into_owned()
}

async fn write(app: &Router, id: u64, query: &str, body: impl Into<axum::body::Body>) -> Value {
    let (s, v) = send_json(
        app,
        put(&format!("/api/v1/handles/{id}/write?{query}"), body),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn seek(app: &Router, id: u64, offset: i64, whence: u8) -> Value {
    let (s, v) = send_json(
        app,
        post(&format!(
            "/api/v1/handles/{id}/seek?offset={offset}&whence={whence}"
        )),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v
}

#[tokio::test]
async fn localfs_handles_are_real_open_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "plugins:\n  localfs: {{path: /local, config: {{local_dir: '{}'}}}}\n",
        dir.path().display()
    );
    let (app, _) = app_with(&yaml).await;
    let id = open(&app, "/local/a.txt", 2 | 16 | 32, "&mode=640").await;
    let mode = std::fs::metadata(dir.path().join("a.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    write(&app, id, "", "hello world").await;
    assert_eq!(seek(&app, id, 0, 0).await["position"], 0);
    assert_eq!(read(&app, id, "size=5").await, "hello");
    assert_eq!(read(&app, id, "size=3&offset=6").await, "wor");
    assert_eq!(read(&app, id, "size=100").await, " world");
    write(&app, id, "offset=0", "J").await;
    assert_eq!(seek(&app, id, -1, 2).await["position"], 10);
    let (s, v) = send_json(&app, post(&format!("/api/v1/handles/{id}/sync"))).await;
    assert_eq!((s.as_u16(), v["message"].as_str()), (200, Some("synced")));
    let (_, st) = send_json(&app, get(&format!("/api/v1/handles/{id}/stat"))).await;
    assert_eq!(
        (st["name"].as_str(), st["size"].as_u64()),
        (Some("a.txt"), Some(11))
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
        "Jello world"
    );
    // ftruncate on the open file itself, even after the name is gone elsewhere.
    std::fs::rename(dir.path().join("a.txt"), dir.path().join("moved.txt")).unwrap();
    let (s, v) = send_json(&app, post(&format!("/api/v1/handles/{id}/truncate?size=5"))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("moved.txt")).unwrap(),
        "Jello"
    );
    std::fs::rename(dir.path().join("moved.txt"), dir.path().join("a.txt")).unwrap();
    write(&app, id, "offset=5", " world").await;
    close(&app, id).await;
    // O_APPEND, O_TRUNC and O_EXCL are the kernel's.
    let id = open(&app, "/local/a.txt", 1 | 8, "").await;
    let v = write(&app, id, "offset=0", "!").await;
    assert_eq!(v["bytes_written"], 1);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
        "Jello world!"
    );
    let got = send_json(
        &app,
        post("/api/v1/handles/open?path=/local/a.txt&flags=49"),
    )
    .await;
    assert_error(got, 409, "already exists");
    open(&app, "/local/a.txt", 1 | 64, "").await;
    assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), b"");
    // A handle never leaves the root: `..` is normalized away at the edge, and an absolute
    // symlink that points outside is refused by the directory handle.
    std::os::unix::fs::symlink("/etc/hostname", dir.path().join("out")).unwrap();
    let got = send_json(&app, post("/api/v1/handles/open?path=/local/out")).await;
    assert_error(got, 403, "outside");
    let got = send_json(&app, post("/api/v1/handles/open?path=/local")).await;
    assert_error(got, 400, "is a directory");
}

#[tokio::test]
async fn read_only_localfs_refuses_write_opens() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.txt"), "ro").unwrap();
    let yaml = format!(
        "plugins:\n  localfs: {{path: /ro, config: {{local_dir: '{}', read_only: true}}}}\n",
        dir.path().display()
    );
    let (app, _) = app_with(&yaml).await;
    let id = open(&app, "/ro/r.txt", 0, "").await;
    assert_eq!(read(&app, id, "").await, "ro");
    let got = send_json(&app, post("/api/v1/handles/open?path=/ro/r.txt&flags=1")).await;
    assert_error(got, 403, "read-only filesystem");
}

#[tokio::test]
async fn queuefs_handles_take_one_message_and_enqueue_per_write() {
    let (app, _) = app_with("plugins:\n  queuefs: {path: /queuefs}\n").await;
    let w = open(&app, "/queuefs/jobs/enqueue", 1 | 16, "").await;
    write(&app, w, "", "first message").await;
    write(&app, w, "offset=99", "second").await;
    assert_eq!(file(&app, "/queuefs/jobs/size").await, "2");
    // A queue has no size to set.
    assert_error(
        send_json(&app, post(&format!("/api/v1/handles/{w}/truncate?size=0"))).await,
        501,
        "truncate",
    );
    assert_eq!(file(&app, "/queuefs/jobs/size").await, "2");
    // The first read takes one message; later reads page through it without dequeuing more.
    let r = open(&app, "/queuefs/jobs/dequeue", 0, "").await;
    let head = read(&app, r, "size=10").await;
    let rest = read(&app, r, "size=4096").await;
    assert_eq!(read(&app, r, "size=10").await, "");
    let msg: Value = serde_json::from_str(&(head + &rest)).unwrap();
    assert_eq!(msg["data"], "first message");
    assert_eq!(read(&app, r, "size=5&offset=1").await, "\"id\":");
    assert_eq!(seek(&app, r, 0, 0).await["position"], 0);
    assert_eq!(read(&app, r, "size=1").await, "{");
    assert_eq!(file(&app, "/queuefs/jobs/size").await, "1");
    let p = open(&app, "/queuefs/jobs/peek", 0, "").await;
    assert!(read(&app, p, "size=-1").await.contains("second"));
    assert_eq!(file(&app, "/queuefs/jobs/size").await, "1");
    // Opens that could do nothing are refused.
    let got = send_json(
        &app,
        post("/api/v1/handles/open?path=/queuefs/jobs/enqueue&flags=0"),
    )
    .await;
    assert_error(got, 403, "write-only");
    let got = send_json(
        &app,
        post("/api/v1/handles/open?path=/queuefs/jobs/dequeue&flags=1"),
    )
    .await;
    assert_error(got, 403, "read-only");
    let got = send_json(&app, post("/api/v1/handles/open?path=/queuefs/jobs")).await;
    assert_error(got, 400, "is a directory");
    // clear through a handle.
    let c = open(&app, "/queuefs/jobs/clear", 1, "").await;
    write(&app, c, "", "").await;
    assert_eq!(file(&app, "/queuefs/jobs/size").await, "0");
}

#[tokio::test]
async fn streamfs_handles_read_chunks_written_through_handles() {
    let (app, _) = app_with("plugins:\n  streamfs: {path: /streamfs}\n").await;
    // A reader registered before the writer exists gets every chunk.
    let r = open(&app, "/streamfs/live", 0, "").await;
    let w = open(&app, "/streamfs/live", 1, "").await;
    write(&app, w, "", "abcdef").await;
    write(&app, w, "", "gh").await;
    assert_eq!(read(&app, r, "size=4").await, "abcd");
    assert_eq!(read(&app, r, "size=100").await, "ef");
    assert_eq!(read(&app, r, "size=100").await, "gh");
    // A late reader starts with the ring history.
    let late = open(&app, "/streamfs/live", 0, "").await;
    assert_eq!(read(&app, late, "").await, "abcdef");
    let (_, st) = send_json(&app, get("/api/v1/stat?path=/streamfs/live")).await;
    assert_eq!(st["meta"]["Content"]["active_readers"], "2");
    // The stream route ends when the stream is removed; closing a handle unregisters its reader.
    let (s, _) = send(&app, delete("/api/v1/files?path=/streamfs/live")).await;
    assert_eq!(s, 200);
    let (s, _, b) = send_full(&app, get(&format!("/api/v1/handles/{late}/stream"))).await;
    assert_eq!((s.as_u16(), &b[..]), (200, &b"gh"[..]));
    let w2 = open(&app, "/streamfs/other", 1 | 16, "").await;
    let r2 = open(&app, "/streamfs/other", 0, "").await;
    close(&app, r2).await;
    write(&app, w2, "", "x").await;
    let (_, st) = send_json(&app, get("/api/v1/stat?path=/streamfs/other")).await;
    assert_eq!(st["meta"]["Content"]["active_readers"], "0");
}

#[tokio::test]
async fn sqlfs_uses_the_generic_handle_over_its_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "plugins:\n  sqlfs: {{path: /sqlfs, config: {{backend: sqlite, db_path: '{}'}}}}\n",
        dir.path().join("fs.db").display()
    );
    let (app, _) = app_with(&yaml).await;
    let id = open(&app, "/sqlfs/big.bin", 2 | 16, "&mode=600").await;
    // 300 KiB at an offset that straddles the 256 KiB chunk boundary.
    let data: Vec<u8> = (0..300 * 1024).map(|i| (i % 251) as u8).collect();
    write(&app, id, "offset=200000", data.clone()).await;
    let (s, b) = send(
        &app,
        get(&format!("/api/v1/handles/{id}/read?offset=200000&size=-1")),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(&b[..], &data[..]);
    assert_eq!(seek(&app, id, 0, 2).await["position"], 200_000 + 300 * 1024);
    let (_, st) = send_json(&app, get(&format!("/api/v1/handles/{id}/stat"))).await;
    assert_eq!(st["mode"], 0o600);
    let (s, b) = send(
        &app,
        get(&format!("/api/v1/handles/{id}/read?offset=0&size=4")),
    )
    .await;
    assert_eq!((s.as_u16(), &b[..]), (200, &[0u8; 4][..]));
}

#[tokio::test]
async fn kvfs_and_hellofs_use_the_generic_handle() {
    let (app, _) = app_with("plugins:\n  kvfs: {path: /kvfs}\n  hellofs: {path: /hellofs}\n").await;
    let id = open(&app, "/kvfs/keys/color", 2 | 16, "").await;
    write(&app, id, "", "blue").await;
    write(&app, id, "", "-green").await;
    assert_eq!(file(&app, "/kvfs/keys/color").await, "blue-green");
    assert_eq!(read(&app, id, "offset=5&size=5").await, "green");
    let h = open(&app, "/hellofs/hello", 0, "").await;
    assert_eq!(read(&app, h, "size=5").await, "Hello");
    let got = send_json(
        &app,
        post("/api/v1/handles/open?path=/hellofs/hello&flags=2"),
    )
    .await;
    assert_error(got, 403, "read-only filesystem");
}

#[tokio::test]
async fn many_handles_on_many_mounts_from_parallel_tasks() {
    const MOUNTS: usize = 4;
    const TASKS: usize = 8;
    const ROUNDS: usize = 25;
    let (app, state) = app_with("plugins: {}\n").await;
    for m in 0..MOUNTS {
        let body = format!(r#"{{"fstype":"memfs","path":"/m{m}"}}"#);
        let (s, _) = send(&app, post_json("/api/v1/mount", &body)).await;
        assert_eq!(s, 200);
    }
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for r in 0..ROUNDS {
                let path = format!("/m{}/t{t}-{r}", (t + r) % MOUNTS);
                let id = open(&app, &path, 2 | 16, "").await;
                let body = format!("task {t} round {r}");
                write(&app, id, "", body.clone()).await;
                assert_eq!(read(&app, id, "offset=0&size=-1").await, body);
                ids.push(id);
            }
            for id in &ids[ROUNDS / 2..] {
                close(&app, *id).await;
            }
            ids
        }));
    }
    let mut all = HashSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(all.insert(id), "id {id} handed out twice");
        }
    }
    assert_eq!(all.len(), TASKS * ROUNDS);
    let open_now = TASKS * (ROUNDS / 2);
    assert_eq!(state.handles.len(), open_now);
    // Unmounting one mount closes exactly its handles; the others keep working.
    let before = state.handles.len();
    send(&app, post_json("/api/v1/unmount", r#"{"path":"/m0"}"#)).await;
    let (_, v) = send_json(&app, get("/api/v1/handles")).await;
    let left = v["handles"].as_array().unwrap();
    assert!(left.len() < before && !left.is_empty());
    assert!(
        left.iter()
            .all(|h| !h["path"].as_str().unwrap().starts_with("/m0/"))
    );
    let id = left[0]["id"].as_u64().unwrap();
    assert!(!read(&app, id, "offset=0").await.is_empty());
}

#[tokio::test]
async fn server_stop_closes_every_handle() {
    let (app, state) = app_with("plugins:\n  memfs: {path: /memfs}\n  kvfs: {path: /kvfs}\n").await;
    open(&app, "/memfs/a", 2 | 16, "").await;
    open(&app, "/kvfs/keys/b", 2 | 16, "").await;
    assert_eq!(state.handles.len(), 2);
    // What `pfs_server::run` does after the listener stops.
    assert!(state.fs.unmount_all().await.is_empty());
    assert!(state.handles.is_empty());
}
