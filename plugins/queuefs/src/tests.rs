//! queuefs: the read-only conformance subset, then every queuefs case on every backend (memory,
//! SQLite in a temporary directory, MySQL and TiDB when `PFS_TEST_MYSQL_DSN` / `PFS_TEST_TIDB_DSN`
//! point at a server), then SQL-only cases (reopen, two instances on one database).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fs_core::conformance::{Fixture, assert_kind, names};
use fs_core::{ErrorKind, FileSystem, MountableFs, ServicePlugin, WriteFlags};
use serde_json::{Value, json};
use tempfile::TempDir;

use super::{QueueFs, QueueFsPlugin};

const README_TEXT: &[u8] = include_bytes!("../README.md");

async fn plugin_fixture() -> Fixture {
    let fs = QueueFsPlugin
        .initialize(fs_core::conformance::mount_context("/queuefs", json!({})))
        .await
        .unwrap();
    Fixture::read_only(fs, Some(("/README", README_TEXT)))
}

mod conformance {
    use super::*;
    fs_core::conformance_tests!(plugin_fixture);
}

mod conformance_through_the_router {
    use super::*;
    fs_core::conformance_tests!(|| fs_core::conformance::mounted_at("/queue", plugin_fixture));
}

/// A mounted queuefs and the temporary directory its database lives in (kept alive with it).
struct Env {
    fs: Arc<dyn FileSystem>,
    _dir: Option<TempDir>,
}

async fn mount(config: Value) -> Arc<dyn FileSystem> {
    fs_core::plugin::vet(&QueueFsPlugin, &config).unwrap();
    QueueFsPlugin
        .initialize(fs_core::conformance::mount_context("/queuefs", config))
        .await
        .unwrap()
}

async fn env(backend: &str) -> Env {
    match backend {
        "memory" => Env {
            fs: mount(json!({})).await,
            _dir: None,
        },
        _ => {
            let dir = tempfile::tempdir().unwrap();
            let db = dir.path().join("queue.db");
            Env {
                fs: mount(json!({"backend": backend, "db_path": db.to_str().unwrap()})).await,
                _dir: Some(dir),
            }
        }
    }
}

/// The DSN of the server of a SQL-server backend: MariaDB for `mysql` (required under CI), a TiDB
/// for `tidb` (TiDB cannot be installed on this machine, so it is optional even under CI).
fn server_dsn(backend: &str) -> Option<String> {
    if backend == "mysql" {
        return fs_core::conformance::test_server(
            "PFS_TEST_MYSQL_DSN",
            "scripts/test starts a MariaDB and sets it",
        );
    }
    match std::env::var("PFS_TEST_TIDB_DSN") {
        Ok(dsn) if !dsn.trim().is_empty() => Some(dsn),
        _ => {
            println!(
                "skipping: no TiDB server (TiDB has no Debian package and is not installed by \
                 scripts/test); set PFS_TEST_TIDB_DSN, e.g. mysql://root@127.0.0.1:4000/test"
            );
            None
        }
    }
}

/// A config for `backend` (`mysql`/`tidb`) on the test server, in a fresh database of its own.
fn server_config(backend: &str, dsn: &str) -> Value {
    let database = format!("pfs_q_{}", uuid::Uuid::now_v7().simple());
    json!({"backend": backend, "dsn": dsn, "database": database})
}

/// Drops the database of a [`server_config`].
async fn drop_server_database(config: &Value) {
    let flavor = match config["backend"].as_str() {
        Some("tidb") => super::backend::mysql::Flavor::Tidb,
        _ => super::backend::mysql::Flavor::Mysql,
    };
    super::backend::mysql::config_from(flavor, config)
        .unwrap()
        .drop_database()
        .await
        .unwrap();
}

/// Expands each case into `memory::<case>`, `sqlite::<case>`, `mysql::<case>` and `tidb::<case>`
/// tests, each run by the test attribute given first. The MySQL ones need the MariaDB
/// `scripts/test` starts (a failure under `CI` without it); the TiDB ones are reported ignored,
/// with the reason, unless `PFS_TEST_TIDB_DSN` was set when they were built (build.rs).
macro_rules! on_every_backend {
    (#[$test:meta] $($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[$test]
                async fn $case() {
                    let env = super::env("memory").await;
                    super::$case(env.fs.clone()).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[$test]
                async fn $case() {
                    let env = super::env("sqlite").await;
                    super::$case(env.fs.clone()).await;
                }
            )*
        }
        mod mysql {
            $(
                #[$test]
                async fn $case() {
                    let Some(dsn) = super::server_dsn("mysql") else { return };
                    let config = super::server_config("mysql", &dsn);
                    super::$case(super::mount(config.clone()).await).await;
                    super::drop_server_database(&config).await;
                }
            )*
        }
        mod tidb {
            $(
                #[$test]
                #[cfg_attr(
                    not(pfs_tidb),
                    ignore = "needs a TiDB server: set PFS_TEST_TIDB_DSN (TiDB has no Debian package)"
                )]
                async fn $case() {
                    let Some(dsn) = super::server_dsn("tidb") else { return };
                    let config = super::server_config("tidb", &dsn);
                    super::$case(super::mount(config.clone()).await).await;
                    super::drop_server_database(&config).await;
                }
            )*
        }
    };
}

on_every_backend!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    stat_layout_root_readme_and_queues_listed,
    read_dir_queue_lists_controls_and_sub_queues,
    stat_control_files_report_modes_and_sizes,
    enqueue_then_peek_size_dequeue_roundtrip,
    dequeue_hundred_messages_fifo_order,
    dequeue_empty_or_unknown_queue_returns_empty_object,
    enqueue_unknown_queue_creates_it_with_parents,
    mkdir_existing_queue_ok_and_reserved_names_refused,
    clear_write_empties_only_that_queue,
    remove_queue_with_messages_or_children_directory_not_empty,
    remove_all_queue_and_root_remove_nested_queues,
    read_write_only_files_permission_denied,
    write_read_only_files_permission_denied,
    create_truncate_touch_control_files_are_no_ops,
    rename_and_chmod_unsupported,
    dequeue_window_slices_the_removed_message,
    enqueue_binary_body_kept_exactly_and_shown_lossy,
    dequeue_eight_concurrent_consumers_each_message_once,
    enqueue_independent_queues_in_parallel_complete,
);

// The limits and the config changes a mounted instance takes.
mod limits;

/// Cases about time, under tokio's paused clock: queuefs's wall clock follows it in tests, so
/// `tokio::time::advance` sets the time of the next stamp exactly. (No backend arms a tokio timer,
/// so the clock moves only when a case advances it, even while a case waits on SQLite or MySQL.)
mod paused_clock {
    use super::*;
    on_every_backend!(
        #[tokio::test(start_paused = true)]
        stat_peek_modification_time_is_last_enqueue,
    );
}

fn body(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn enqueue(fs: &Arc<dyn FileSystem>, queue: &str, msg: &str) {
    let n = fs
        .write(
            &format!("{queue}/enqueue"),
            body(msg),
            None,
            WriteFlags::NONE,
        )
        .await
        .unwrap_or_else(|e| panic!("enqueue {queue}: {e}"));
    assert_eq!(n, msg.len() as u64);
}

async fn read(fs: &Arc<dyn FileSystem>, path: &str) -> Bytes {
    fs.read(path, 0, None)
        .await
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// Dequeues one message; `None` for `{}`.
async fn dequeue(fs: &Arc<dyn FileSystem>, queue: &str) -> Option<Value> {
    let raw = read(fs, &format!("{queue}/dequeue")).await;
    if &raw[..] == b"{}" {
        return None;
    }
    Some(serde_json::from_slice(&raw).unwrap())
}

async fn size(fs: &Arc<dyn FileSystem>, queue: &str) -> String {
    String::from_utf8(read(fs, &format!("{queue}/size")).await.to_vec()).unwrap()
}

async fn stat_layout_root_readme_and_queues_listed(fs: Arc<dyn FileSystem>) {
    let root = fs.stat("/").await.unwrap();
    assert!(root.is_dir);
    let backend = root.meta.content.as_ref().unwrap()["backend"].clone();
    assert!(
        ["memory", "sqlite", "mysql", "tidb"].contains(&backend.as_str()),
        "{backend}"
    );
    assert_eq!(names(fs.as_ref(), "/").await.unwrap(), ["README"]);
    let readme = fs.stat("/README").await.unwrap();
    assert_eq!((readme.mode, readme.is_dir), (0o444, false));
    assert!(read(&fs, "/README").await.starts_with(b"# queuefs"));
    fs.mkdir("/tasks", 0o755).await.unwrap();
    fs.mkdir("/logs/errors", 0o755).await.unwrap();
    let listed = fs.read_dir("/").await.unwrap();
    let mut top: Vec<_> = listed.iter().map(|i| i.name.as_str()).collect();
    top.sort();
    assert_eq!(top, ["README", "logs", "tasks"]);
    let tasks = listed.iter().find(|i| i.name == "tasks").unwrap();
    assert!(tasks.is_dir);
    assert_eq!((tasks.mode, tasks.meta.kind.as_str()), (0o755, "queue"));
    let errors = fs.stat("/logs/errors").await.unwrap();
    assert_eq!((errors.name.as_str(), errors.is_dir), ("errors", true));
}

async fn read_dir_queue_lists_controls_and_sub_queues(fs: Arc<dyn FileSystem>) {
    fs.mkdir("/a", 0o755).await.unwrap();
    assert_eq!(
        names(fs.as_ref(), "/a").await.unwrap(),
        ["clear", "dequeue", "enqueue", "peek", "size"]
    );
    fs.mkdir("/a/b", 0o755).await.unwrap();
    enqueue(&fs, "/a", "m").await;
    // Both kinds of entry, whatever the queue holds (AGFS hides one or the other).
    assert_eq!(
        names(fs.as_ref(), "/a").await.unwrap(),
        ["b", "clear", "dequeue", "enqueue", "peek", "size"]
    );
    assert_eq!(
        names(fs.as_ref(), "/a/b").await.unwrap(),
        ["clear", "dequeue", "enqueue", "peek", "size"]
    );
    assert_kind(fs.read_dir("/a/size").await, ErrorKind::NotADirectory);
    assert_kind(fs.read_dir("/README").await, ErrorKind::NotADirectory);
    assert_kind(fs.read_dir("/missing").await, ErrorKind::NotFound);
}

async fn stat_control_files_report_modes_and_sizes(fs: Arc<dyn FileSystem>) {
    for _ in 0..12 {
        enqueue(&fs, "/q", "hello").await;
    }
    let listed = fs.read_dir("/q").await.unwrap();
    for (name, mode) in [
        ("enqueue", 0o222),
        ("dequeue", 0o444),
        ("peek", 0o444),
        ("size", 0o444),
        ("clear", 0o222),
    ] {
        let info = fs.stat(&format!("/q/{name}")).await.unwrap();
        assert_eq!((info.mode, info.is_dir), (mode, false), "{name}");
        let from_list = listed.iter().find(|i| i.name == name).unwrap();
        assert_eq!(from_list.mode, mode);
    }
    assert_eq!(fs.stat("/q/size").await.unwrap().size, 2, "digits of 12");
    let head = read(&fs, "/q/peek").await;
    assert_eq!(fs.stat("/q/peek").await.unwrap().size, head.len() as u64);
    assert_eq!(fs.stat("/q/enqueue").await.unwrap().size, 0);
    assert_kind(fs.stat("/missing/size").await, ErrorKind::NotFound);
    assert_kind(fs.stat("/size").await, ErrorKind::NotFound);
    assert_kind(fs.stat("/q/size/x").await, ErrorKind::NotADirectory);
}

async fn enqueue_then_peek_size_dequeue_roundtrip(fs: Arc<dyn FileSystem>) {
    fs.mkdir("/tasks", 0o755).await.unwrap();
    enqueue(&fs, "/tasks", "Process order #123\n").await;
    enqueue(&fs, "/tasks", "Send email").await;
    assert_eq!(size(&fs, "/tasks").await, "2");
    let peeked: Value = serde_json::from_slice(&read(&fs, "/tasks/peek").await).unwrap();
    assert_eq!(peeked["data"], "Process order #123\n");
    assert_eq!(size(&fs, "/tasks").await, "2", "peek does not remove");
    let first = dequeue(&fs, "/tasks").await.unwrap();
    assert_eq!(first, peeked);
    let obj = first.as_object().unwrap();
    assert_eq!(
        obj.keys().map(String::as_str).collect::<Vec<_>>(),
        ["data", "id", "timestamp"]
    );
    let id = first["id"].as_str().unwrap();
    assert_eq!((id.len(), &id[14..15]), (36, "7"), "a UUIDv7: {id}");
    let ts = first["timestamp"].as_str().unwrap();
    humantime::parse_rfc3339(ts).unwrap_or_else(|e| panic!("{ts}: {e}"));
    let second = dequeue(&fs, "/tasks").await.unwrap();
    assert_eq!(second["data"], "Send email");
    assert!(second["id"].as_str().unwrap() > id, "ids are time-ordered");
    assert_eq!(size(&fs, "/tasks").await, "0");
    assert_eq!(dequeue(&fs, "/tasks").await, None);
}

async fn dequeue_hundred_messages_fifo_order(fs: Arc<dyn FileSystem>) {
    for i in 0..100 {
        enqueue(&fs, "/fifo", &format!("msg-{i}")).await;
    }
    assert_eq!(size(&fs, "/fifo").await, "100");
    let mut last_id = String::new();
    for i in 0..100 {
        let m = dequeue(&fs, "/fifo").await.unwrap();
        assert_eq!(m["data"], format!("msg-{i}"));
        let id = m["id"].as_str().unwrap().to_string();
        assert!(id > last_id);
        last_id = id;
    }
    assert_eq!(dequeue(&fs, "/fifo").await, None);
}

async fn dequeue_empty_or_unknown_queue_returns_empty_object(fs: Arc<dyn FileSystem>) {
    fs.mkdir("/empty", 0o755).await.unwrap();
    for q in ["/empty", "/unknown", "/deep/unknown"] {
        assert_eq!(read(&fs, &format!("{q}/dequeue")).await, "{}");
        assert_eq!(read(&fs, &format!("{q}/peek")).await, "{}");
        assert_eq!(size(&fs, q).await, "0");
    }
    // Reading does not create.
    assert_kind(fs.stat("/unknown").await, ErrorKind::NotFound);
    assert_kind(fs.stat("/deep").await, ErrorKind::NotFound);
    assert_eq!(fs.stat("/empty/dequeue").await.unwrap().size, 2);
}

async fn enqueue_unknown_queue_creates_it_with_parents(fs: Arc<dyn FileSystem>) {
    enqueue(&fs, "/jobs", "one").await;
    assert!(fs.stat("/jobs").await.unwrap().is_dir);
    enqueue(&fs, "/x/y/z", "deep").await;
    for q in ["/x", "/x/y", "/x/y/z"] {
        assert!(fs.stat(q).await.unwrap().is_dir, "{q}");
    }
    assert_eq!(size(&fs, "/x/y").await, "0");
    assert_eq!(dequeue(&fs, "/x/y/z").await.unwrap()["data"], "deep");
    let mut top = names(fs.as_ref(), "/").await.unwrap();
    top.retain(|n| n != "README");
    assert_eq!(top, ["jobs", "x"]);
}

async fn mkdir_existing_queue_ok_and_reserved_names_refused(fs: Arc<dyn FileSystem>) {
    fs.mkdir("/q", 0o755).await.unwrap();
    enqueue(&fs, "/q", "kept").await;
    fs.mkdir("/q", 0o755).await.unwrap();
    assert_eq!(
        size(&fs, "/q").await,
        "1",
        "mkdir of an existing queue keeps it"
    );
    assert_kind(fs.mkdir("/", 0o755).await, ErrorKind::AlreadyExists);
    assert_kind(fs.mkdir("/README", 0o755).await, ErrorKind::AlreadyExists);
    assert_kind(fs.mkdir("/q/size", 0o755).await, ErrorKind::AlreadyExists);
    assert_kind(
        fs.mkdir("/new/peek", 0o755).await,
        ErrorKind::InvalidArgument,
    );
    assert_kind(fs.mkdir("/q/size/x", 0o755).await, ErrorKind::NotADirectory);
    assert_kind(fs.mkdir("/README/x", 0o755).await, ErrorKind::NotADirectory);
    assert_kind(fs.stat("/new").await, ErrorKind::NotFound);
}

async fn clear_write_empties_only_that_queue(fs: Arc<dyn FileSystem>) {
    for i in 0..3 {
        enqueue(&fs, "/a", &format!("{i}")).await;
        enqueue(&fs, "/a/b", &format!("{i}")).await;
    }
    let n = fs
        .write("/a/clear", body("anything"), None, WriteFlags::NONE)
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(size(&fs, "/a").await, "0");
    assert_eq!(size(&fs, "/a/b").await, "3");
    assert!(fs.stat("/a").await.unwrap().is_dir, "the queue stays");
    fs.write("/never/clear", body(""), None, WriteFlags::NONE)
        .await
        .unwrap();
    assert_kind(fs.stat("/never").await, ErrorKind::NotFound);
}

async fn remove_queue_with_messages_or_children_directory_not_empty(fs: Arc<dyn FileSystem>) {
    enqueue(&fs, "/a", "m").await;
    assert_kind(fs.remove("/a").await, ErrorKind::DirectoryNotEmpty);
    fs.write("/a/clear", Bytes::new(), None, WriteFlags::NONE)
        .await
        .unwrap();
    fs.mkdir("/a/b", 0o755).await.unwrap();
    assert_kind(fs.remove("/a").await, ErrorKind::DirectoryNotEmpty);
    fs.remove("/a/b").await.unwrap();
    fs.remove("/a").await.unwrap();
    assert_kind(fs.stat("/a").await, ErrorKind::NotFound);
    assert_kind(fs.remove("/a").await, ErrorKind::NotFound);
    assert_kind(fs.remove("/").await, ErrorKind::PermissionDenied);
    assert_kind(fs.remove("/README").await, ErrorKind::PermissionDenied);
    fs.mkdir("/c", 0o755).await.unwrap();
    assert_kind(fs.remove("/c/size").await, ErrorKind::PermissionDenied);
    assert_kind(fs.remove("/gone/size").await, ErrorKind::NotFound);
}

async fn remove_all_queue_and_root_remove_nested_queues(fs: Arc<dyn FileSystem>) {
    enqueue(&fs, "/a/b/c", "deep").await;
    enqueue(&fs, "/a", "top").await;
    enqueue(&fs, "/ab", "sibling").await;
    fs.remove_all("/a").await.unwrap();
    for q in ["/a", "/a/b", "/a/b/c"] {
        assert_kind(fs.stat(q).await, ErrorKind::NotFound);
    }
    assert_eq!(read(&fs, "/a/b/c/dequeue").await, "{}", "messages went too");
    assert_eq!(
        size(&fs, "/ab").await,
        "1",
        "a name sharing the prefix stays"
    );
    assert_kind(fs.remove_all("/a").await, ErrorKind::NotFound);
    enqueue(&fs, "/z", "z").await;
    fs.remove_all("/").await.unwrap();
    assert_eq!(names(fs.as_ref(), "/").await.unwrap(), ["README"]);
    assert_eq!(read(&fs, "/ab/dequeue").await, "{}");
    assert_kind(fs.remove_all("/README").await, ErrorKind::PermissionDenied);
}

async fn read_write_only_files_permission_denied(fs: Arc<dyn FileSystem>) {
    enqueue(&fs, "/q", "m").await;
    for f in ["/q/enqueue", "/q/clear"] {
        let e = fs.read(f, 0, None).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("write-only"), "{e}");
    }
    assert_kind(fs.read("/q", 0, None).await, ErrorKind::IsADirectory);
    assert_kind(fs.read("/", 0, None).await, ErrorKind::IsADirectory);
    assert_kind(fs.read("/nope", 0, None).await, ErrorKind::NotFound);
    assert_eq!(size(&fs, "/q").await, "1");
}

async fn write_read_only_files_permission_denied(fs: Arc<dyn FileSystem>) {
    enqueue(&fs, "/q", "m").await;
    for f in ["/q/dequeue", "/q/peek", "/q/size", "/README"] {
        assert_kind(
            fs.write(f, body("x"), None, WriteFlags::NONE).await,
            ErrorKind::PermissionDenied,
        );
    }
    assert_kind(
        fs.write("/q", body("x"), None, WriteFlags::NONE).await,
        ErrorKind::IsADirectory,
    );
    assert_kind(
        fs.write("/plain", body("x"), None, WriteFlags::NONE).await,
        ErrorKind::PermissionDenied,
    );
    assert_kind(
        fs.write("/enqueue", body("x"), None, WriteFlags::NONE)
            .await,
        ErrorKind::NotFound,
    );
    assert_eq!(size(&fs, "/q").await, "1");
}

async fn create_truncate_touch_control_files_are_no_ops(fs: Arc<dyn FileSystem>) {
    enqueue(&fs, "/q", "m").await;
    fs.create("/q/enqueue").await.unwrap();
    fs.create("/q/size").await.unwrap();
    fs.truncate("/q/enqueue", 0).await.unwrap();
    fs.truncate("/q/dequeue", 0).await.unwrap();
    fs.touch("/q/enqueue").await.unwrap();
    fs.touch("/q").await.unwrap();
    assert_eq!(size(&fs, "/q").await, "1", "no message added or removed");
    // Creating a control file of a new queue makes the queue (like a first enqueue).
    fs.create("/fresh/enqueue").await.unwrap();
    assert_eq!(size(&fs, "/fresh").await, "0");
    assert!(fs.stat("/fresh/enqueue").await.is_ok());
    assert_kind(
        fs.truncate("/missing/enqueue", 0).await,
        ErrorKind::NotFound,
    );
    assert_kind(fs.truncate("/q", 0).await, ErrorKind::IsADirectory);
    assert_kind(fs.truncate("/README", 0).await, ErrorKind::PermissionDenied);
    assert_kind(fs.create("/q").await, ErrorKind::AlreadyExists);
    assert_kind(fs.create("/README").await, ErrorKind::AlreadyExists);
    assert_kind(fs.create("/file").await, ErrorKind::PermissionDenied);
}

async fn rename_and_chmod_unsupported(fs: Arc<dyn FileSystem>) {
    enqueue(&fs, "/q", "m").await;
    assert_kind(fs.rename("/q", "/r").await, ErrorKind::Unsupported);
    assert_kind(fs.chmod("/q/peek", 0o644).await, ErrorKind::Unsupported);
    assert_kind(
        fs.open_stream("/q/dequeue").await.map(drop),
        ErrorKind::Unsupported,
    );
    let caps = fs.capabilities();
    assert!(caps.truncate && caps.mkdir && caps.write && !caps.rename && !caps.chmod);
}

async fn dequeue_window_slices_the_removed_message(fs: Arc<dyn FileSystem>) {
    enqueue(&fs, "/q", "first").await;
    enqueue(&fs, "/q", "second").await;
    let whole = read(&fs, "/q/peek").await;
    let part = fs.read("/q/dequeue", 2, Some(4)).await.unwrap();
    assert_eq!(part, whole.slice(2..6));
    // The rest of the first message is gone.
    assert_eq!(dequeue(&fs, "/q").await.unwrap()["data"], "second");
    assert_eq!(fs.read("/q/peek", 1, None).await.unwrap(), "}");
}

async fn enqueue_binary_body_kept_exactly_and_shown_lossy(fs: Arc<dyn FileSystem>) {
    let raw = Bytes::from_static(b"caf\xc3\xa9 \xff\x00 \"quoted\"\n");
    fs.write("/bin/enqueue", raw.clone(), None, WriteFlags::NONE)
        .await
        .unwrap();
    enqueue(&fs, "/bin", "").await;
    let m = dequeue(&fs, "/bin").await.unwrap();
    assert_eq!(m["data"], "café \u{fffd}\u{0} \"quoted\"\n");
    assert_eq!(
        dequeue(&fs, "/bin").await.unwrap()["data"],
        "",
        "empty message"
    );
}

async fn dequeue_eight_concurrent_consumers_each_message_once(fs: Arc<dyn FileSystem>) {
    for i in 0..200 {
        enqueue(&fs, "/work", &format!("job-{i}")).await;
    }
    let consumers: Vec<_> = (0..8)
        .map(|_| {
            let fs = fs.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(m) = dequeue(&fs, "/work").await {
                    got.push(m["data"].as_str().unwrap().to_string());
                    tokio::task::yield_now().await;
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in consumers {
        all.extend(c.await.unwrap());
    }
    assert_eq!(all.len(), 200, "no duplicates, nothing lost");
    let unique: HashSet<_> = all.iter().cloned().collect();
    let expected: HashSet<_> = (0..200).map(|i| format!("job-{i}")).collect();
    assert_eq!(unique, expected);
    assert_eq!(size(&fs, "/work").await, "0");
}

async fn enqueue_independent_queues_in_parallel_complete(fs: Arc<dyn FileSystem>) {
    let producers: Vec<_> = ["/left", "/right", "/nested/one", "/nested/two"]
        .into_iter()
        .map(|q| {
            let fs = fs.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    enqueue(&fs, q, &format!("{q}-{i}")).await;
                }
            })
        })
        .collect();
    for p in producers {
        p.await.unwrap();
    }
    for q in ["/left", "/right", "/nested/one", "/nested/two"] {
        assert_eq!(size(&fs, q).await, "100");
        assert_eq!(dequeue(&fs, q).await.unwrap()["data"], format!("{q}-0"));
    }
}

async fn stat_peek_modification_time_is_last_enqueue(fs: Arc<dyn FileSystem>) {
    fs.mkdir("/q", 0o755).await.unwrap();
    let created = fs.stat("/q/peek").await.unwrap().mod_time.unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        fs.stat("/q/peek").await.unwrap().mod_time,
        Some(created),
        "stat must not report now"
    );
    enqueue(&fs, "/q", "a").await;
    let m: Value = serde_json::from_slice(&read(&fs, "/q/peek").await).unwrap();
    let ts = humantime::parse_rfc3339(m["timestamp"].as_str().unwrap()).unwrap();
    let mtime = fs.stat("/q/peek").await.unwrap().mod_time.unwrap();
    assert_eq!(
        mtime.duration_since(created).unwrap(),
        Duration::from_secs(1)
    );
    assert_eq!(mtime, ts);
    assert_eq!(fs.stat("/q").await.unwrap().mod_time, Some(mtime));
}

// ---- config ----

#[test]
fn validate_unknown_key_names_allowed_keys() {
    let e = fs_core::plugin::vet(&QueueFsPlugin, &json!({"backend": "memory", "table": "x"}))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.to_string()
            .contains("allowed parameters are: 'backend', 'db_path', 'dsn'"),
        "{e}"
    );
}

#[test]
fn validate_backends_known_and_mysql_tls_checked() {
    for ok in [
        json!({}),
        json!({"backend": "memory"}),
        json!({"backend": "sqlite3", "db_path": "/tmp/x.db"}),
        json!({"backend": "sqlite"}),
        json!({"backend": "mysql", "dsn": "u:p@tcp(127.0.0.1:3306)/q"}),
        json!({"backend": "tidb", "host": "h", "port": 4000, "user": "u", "password": "p",
               "database": "d", "enable_tls": false, "tls_server_name": "h", "tls_skip_verify": false}),
    ] {
        fs_core::plugin::vet(&QueueFsPlugin, &ok).unwrap();
    }
    for name in ["mysql", "tidb"] {
        fs_core::plugin::vet(
            &QueueFsPlugin,
            &json!({"backend": name, "enable_tls": true, "tls_skip_verify": true}),
        )
        .unwrap();
        let e = fs_core::plugin::vet(
            &QueueFsPlugin,
            &json!({"backend": name, "dsn": "u:p@tcp(h:1)/d?tls=preferred"}),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains("tls=preferred"), "{e}");
        let e = fs_core::plugin::vet(
            &QueueFsPlugin,
            &json!({"backend": name, "tls_ca": "/no/such/ca.pem"}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("tls_ca"), "{e}");
    }
    assert!(
        fs_core::plugin::vet(&QueueFsPlugin, &json!({"backend": "mysql", "port": "3306"})).is_err()
    );
    let e = fs_core::plugin::vet(&QueueFsPlugin, &json!({"backend": "redis"})).unwrap_err();
    assert!(e.to_string().contains("unknown backend 'redis'"), "{e}");
    assert!(
        fs_core::plugin::vet(&QueueFsPlugin, &json!({"backend": "sqlite", "db_path": ""})).is_err()
    );
    assert!(fs_core::plugin::vet(&QueueFsPlugin, &json!({"backend": 3})).is_err());
}

#[tokio::test]
async fn initialize_sqlite_missing_directory_is_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("no/such/dir/q.db");
    let e = QueueFsPlugin
        .initialize(fs_core::conformance::mount_context(
            "/queuefs",
            json!({"backend": "sqlite", "db_path": db.to_str().unwrap()}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.to_string().contains("unable to open"), "{e}");
}

// ---- SQLite only ----

fn sqlite_config(dir: &TempDir) -> Value {
    json!({"backend": "sqlite", "db_path": dir.path().join("q.db").to_str().unwrap()})
}

#[tokio::test]
async fn sqlite_reopen_keeps_messages_and_empty_queues() {
    let dir = tempfile::tempdir().unwrap();
    {
        let fs = mount(sqlite_config(&dir)).await;
        fs.mkdir("/empty", 0o755).await.unwrap();
        enqueue(&fs, "/jobs/urgent", "a").await;
        enqueue(&fs, "/jobs/urgent", "b").await;
        fs.write(
            "/jobs/urgent/enqueue",
            body("synced"),
            None,
            WriteFlags::SYNC,
        )
        .await
        .unwrap();
        fs.shutdown().await.unwrap();
    }
    let fs = mount(sqlite_config(&dir)).await;
    let mut top = names(fs.as_ref(), "/").await.unwrap();
    top.retain(|n| n != "README");
    assert_eq!(top, ["empty", "jobs"]);
    assert_eq!(size(&fs, "/jobs/urgent").await, "3");
    for want in ["a", "b", "synced"] {
        assert_eq!(dequeue(&fs, "/jobs/urgent").await.unwrap()["data"], want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_instances_one_file_no_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let a = mount(sqlite_config(&dir)).await;
    let b = mount(sqlite_config(&dir)).await;
    for i in 0..200 {
        let producer = if i % 2 == 0 { &a } else { &b };
        enqueue(producer, "/shared", &format!("m-{i}")).await;
    }
    let consumers: Vec<_> = (0..8)
        .map(|n| {
            let fs = if n % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(m) = dequeue(&fs, "/shared").await {
                    got.push(m["data"].as_str().unwrap().to_string());
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in consumers {
        all.extend(c.await.unwrap());
    }
    assert_eq!(all.len(), 200);
    let unique: HashSet<_> = all.into_iter().collect();
    assert_eq!(unique.len(), 200);
}

#[tokio::test]
async fn sqlite_queue_names_with_underscores_do_not_collide() {
    // AGFS maps both names to one table; one table keyed by name keeps them apart.
    let dir = tempfile::tempdir().unwrap();
    let fs = mount(sqlite_config(&dir)).await;
    enqueue(&fs, "/a/b", "slash").await;
    enqueue(&fs, "/a_b", "underscore").await;
    assert_eq!(dequeue(&fs, "/a/b").await.unwrap()["data"], "slash");
    assert_eq!(dequeue(&fs, "/a_b").await.unwrap()["data"], "underscore");
}

// ---- MySQL / TiDB only (skip without a server) ----

#[tokio::test]
async fn initialize_mysql_unreachable_server_unavailable() {
    // A port nothing listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = QueueFsPlugin
        .initialize(fs_core::conformance::mount_context(
            "/queuefs",
            json!({"backend": "mysql", "dsn": format!("u:secret@tcp(127.0.0.1:{port})/q")}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(!e.to_string().contains("secret"), "{e}");
}

async fn server_two_instances_one_database_no_duplicates(backend: &str) {
    let Some(dsn) = server_dsn(backend) else {
        return;
    };
    let config = server_config(backend, &dsn);
    // Two mounts, two connection pools: two pfs servers sharing one database.
    let a = mount(config.clone()).await;
    let b = mount(config.clone()).await;
    for i in 0..200 {
        let producer = if i % 2 == 0 { &a } else { &b };
        enqueue(producer, "/shared", &format!("m-{i}")).await;
    }
    let consumers: Vec<_> = (0..8)
        .map(|n| {
            let fs = if n % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(m) = dequeue(&fs, "/shared").await {
                    got.push(m["data"].as_str().unwrap().to_string());
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in consumers {
        all.extend(c.await.unwrap());
    }
    assert_eq!(all.len(), 200, "no duplicates, nothing lost");
    let unique: HashSet<_> = all.into_iter().collect();
    assert_eq!(unique.len(), 200);
    assert_eq!(size(&a, "/shared").await, "0");
    drop_server_database(&config).await;
}

async fn server_queue_names_do_not_collide(backend: &str) {
    let Some(dsn) = server_dsn(backend) else {
        return;
    };
    let config = server_config(backend, &dsn);
    let fs = mount(config.clone()).await;
    enqueue(&fs, "/a/b", "slash").await;
    enqueue(&fs, "/a_b", "underscore").await;
    // utf8mb4_bin pads spaces on MariaDB and TiDB; names are VARBINARY, so these stay apart.
    enqueue(&fs, "/c", "plain").await;
    enqueue(&fs, "/c ", "trailing space").await;
    enqueue(&fs, "/É", "unicode").await;
    assert_eq!(dequeue(&fs, "/a/b").await.unwrap()["data"], "slash");
    assert_eq!(dequeue(&fs, "/a_b").await.unwrap()["data"], "underscore");
    assert_eq!(dequeue(&fs, "/c").await.unwrap()["data"], "plain");
    assert_eq!(dequeue(&fs, "/c ").await.unwrap()["data"], "trailing space");
    assert_eq!(dequeue(&fs, "/É").await.unwrap()["data"], "unicode");
    let mut top = names(fs.as_ref(), "/").await.unwrap();
    top.retain(|n| n != "README");
    assert_eq!(top, ["a", "a_b", "c", "c ", "É"]);
    drop_server_database(&config).await;
}

async fn server_reopen_keeps_messages_and_empty_queues(backend: &str) {
    let Some(dsn) = server_dsn(backend) else {
        return;
    };
    let config = server_config(backend, &dsn);
    {
        let fs = mount(config.clone()).await;
        fs.mkdir("/empty", 0o755).await.unwrap();
        enqueue(&fs, "/jobs/urgent", "a").await;
        enqueue(&fs, "/jobs/urgent", "b").await;
        fs.shutdown().await.unwrap();
    }
    let fs = mount(config.clone()).await;
    let mut top = names(fs.as_ref(), "/").await.unwrap();
    top.retain(|n| n != "README");
    assert_eq!(top, ["empty", "jobs"]);
    assert_eq!(size(&fs, "/jobs/urgent").await, "2");
    for want in ["a", "b"] {
        assert_eq!(dequeue(&fs, "/jobs/urgent").await.unwrap()["data"], want);
    }
    drop_server_database(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_two_instances_one_database_no_duplicates() {
    server_two_instances_one_database_no_duplicates("mysql").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tidb_two_instances_one_database_no_duplicates() {
    server_two_instances_one_database_no_duplicates("tidb").await;
}

#[tokio::test]
async fn mysql_queue_names_with_underscores_or_spaces_do_not_collide() {
    server_queue_names_do_not_collide("mysql").await;
}

#[tokio::test]
async fn tidb_queue_names_with_underscores_or_spaces_do_not_collide() {
    server_queue_names_do_not_collide("tidb").await;
}

#[tokio::test]
async fn mysql_reopen_keeps_messages_and_empty_queues() {
    server_reopen_keeps_messages_and_empty_queues("mysql").await;
}

#[tokio::test]
async fn tidb_reopen_keeps_messages_and_empty_queues() {
    server_reopen_keeps_messages_and_empty_queues("tidb").await;
}

// ---- through the router ----

#[tokio::test]
async fn enqueue_through_router_then_dequeue() {
    let router = MountableFs::new(fs_core::conformance::mount_context("/", json!({})).server);
    router
        .mount(
            "/queuefs",
            "queuefs",
            None,
            json!({}),
            Arc::new(QueueFs::memory()),
        )
        .await
        .unwrap();
    router.mkdir("/queuefs/tasks", 0o755).await.unwrap();
    router
        .write(
            "/queuefs/tasks/enqueue",
            body("hello"),
            None,
            WriteFlags::NONE,
        )
        .await
        .unwrap();
    assert_eq!(
        router.read("/queuefs/tasks/size", 0, None).await.unwrap(),
        "1"
    );
    let m: Value = serde_json::from_slice(
        &router
            .read("/queuefs/tasks/dequeue", 0, None)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(m["data"], "hello");
    let e = router
        .read("/queuefs/tasks/enqueue", 0, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    assert_eq!(e.path(), Some("/queuefs/tasks/enqueue"));
}

#[tokio::test]
async fn only_dequeue_reads_have_side_effects() {
    let fs = mount(json!({})).await;
    assert!(fs.read_has_side_effects("/q/dequeue"));
    assert!(fs.read_has_side_effects("/a/b/dequeue"));
    for path in [
        "/",
        "/README",
        "/q",
        "/q/peek",
        "/q/size",
        "/q/enqueue",
        "/q/clear",
    ] {
        assert!(!fs.read_has_side_effects(path), "{path}");
    }
    // Through the router, with the mount path in front.
    let router = fs_core::MountableFs::new(fs_core::ServerInfo {
        version: "test".into(),
        started: std::time::SystemTime::now(),
        data_dir: None,
    });
    router
        .mount("/queuefs", "queuefs", None, json!({}), fs)
        .await
        .unwrap();
    assert!(router.read_has_side_effects("/queuefs/q/dequeue"));
    assert!(!router.read_has_side_effects("/queuefs/q/peek"));
    assert!(!router.read_has_side_effects("/elsewhere/dequeue"));
}
