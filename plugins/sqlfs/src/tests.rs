//! sqlfs: the conformance suite on SQLite (a temporary file) and on MySQL (when
//! `PFS_TEST_MYSQL_DSN` points at a server, a fresh database per fixture), then sqlfs cases on
//! both: large files in chunks, range reads, subtree renames, rollback, awkward names, two
//! instances on one database; streamed writes in [`stream`].

use std::sync::Arc;

use bytes::Bytes;
use fs_core::conformance::{Fixture, assert_kind, names};
use fs_core::{ErrorKind, FileSystem, ServicePlugin, WriteFlags};
use serde_json::{Value, json};
use tempfile::TempDir;

use super::{SqlFs, SqlFsPlugin};

async fn mount(config: Value) -> Arc<dyn FileSystem> {
    fs_core::plugin::vet(&SqlFsPlugin, &config).unwrap();
    SqlFsPlugin
        .initialize(fs_core::conformance::mount_context("/sqlfs", config))
        .await
        .unwrap()
}

/// A SQLite config in a fresh temporary directory (kept alive by leaking it for the test's life).
fn sqlite_config() -> (Value, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sqlfs.db");
    (
        json!({"backend": "sqlite", "db_path": db.to_str().unwrap()}),
        dir,
    )
}

/// The MySQL test server's DSN, or `None` (and a skip notice) when unset outside CI.
fn mysql_dsn() -> Option<String> {
    fs_core::conformance::test_server(
        "PFS_TEST_MYSQL_DSN",
        "scripts/test starts a MariaDB and sets it",
    )
}

/// A config on the test server in a fresh database: the DSN's database name replaced.
fn mysql_config(dsn: &str) -> Value {
    let database = format!("pfs_sqlfs_{}", uuid::Uuid::now_v7().simple());
    json!({"backend": "mysql", "dsn": dsn, "database": database})
}

async fn drop_database(config: &Value) {
    pfs_sql::mysql::MysqlConfig::from_config_with_default(
        pfs_sql::mysql::Flavor::Mysql,
        config,
        "unused",
    )
    .unwrap()
    .drop_database()
    .await
    .unwrap();
}

mod conformance_sqlite {
    use super::*;
    fs_core::conformance_tests!(|| async {
        let (config, dir) = super::sqlite_config();
        // The directory must outlive the fixture, which has no place to keep it.
        std::mem::forget(dir);
        Fixture::writable(super::mount(config).await, "/")
    });
}

mod conformance_mysql {
    use super::*;
    // Without a server each case runs against SQLite instead, after printing the skip notice.
    fs_core::conformance_tests!(|| async {
        match super::mysql_dsn() {
            Some(dsn) => Fixture::writable(super::mount(super::mysql_config(&dsn)).await, "/"),
            None => {
                let (config, dir) = super::sqlite_config();
                std::mem::forget(dir);
                Fixture::writable(super::mount(config).await, "/")
            }
        }
    });
}

/// Expands each case into `sqlite::<case>` and `mysql::<case>`; the second skips (and passes)
/// without a server. A case gets a config and a way to mount it again (for two instances).
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let (config, _dir) = super::sqlite_config();
                    super::$case(config).await;
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(dsn) = super::mysql_dsn() else { return };
                    let config = super::mysql_config(&dsn);
                    super::$case(config.clone()).await;
                    super::drop_database(&config).await;
                }
            )*
        }
    };
}

on_both_backends!(
    large_file_round_trip_and_range_read_touch_few_chunks,
    pwrite_past_eof_in_far_chunk_zero_fills,
    rename_directory_moves_subtree_in_one_transaction,
    failed_transaction_leaves_old_content,
    awkward_names_are_plain_data,
    two_instances_see_each_others_writes,
    remove_all_root_empties_mount,
    mkdir_mode_chmod_and_stat_modes,
);

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 8) as u8))
        .collect()
}

async fn sqlfs(config: Value) -> (Arc<dyn FileSystem>, Arc<SqlFs>) {
    fs_core::plugin::vet(&SqlFsPlugin, &config).unwrap();
    let cfg = super::backend_config(&config, super::DEFAULT_DB_PATH).unwrap();
    let store = match cfg {
        super::BackendConfig::Sqlite { db_path } => {
            super::Store::Sqlite(super::sqlite::open(&db_path, 2).await.unwrap())
        }
        super::BackendConfig::Mysql(c) => {
            super::Store::Mysql(super::mysql::open(&c, 32).await.unwrap())
        }
    };
    let fs = Arc::new(SqlFs::new(store));
    (fs.clone(), fs)
}

async fn large_file_round_trip_and_range_read_touch_few_chunks(config: Value) {
    let (fs, raw) = sqlfs(config).await;
    let data = pattern(3 * 1024 * 1024 + 123, 7);
    let n = fs
        .write(
            "/big.bin",
            Bytes::from(data.clone()),
            None,
            WriteFlags::NONE,
        )
        .await
        .unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(fs.stat("/big.bin").await.unwrap().size, data.len() as u64);
    let before = raw.chunks_read();
    assert_eq!(fs.read("/big.bin", 0, None).await.unwrap(), data);
    // 3 MiB + 123 bytes = 13 chunks of 256 KiB.
    assert_eq!(raw.chunks_read() - before, 13);
    let before = raw.chunks_read();
    let off = 1_500_000u64;
    let got = fs.read("/big.bin", off, Some(1000)).await.unwrap();
    assert_eq!(&got[..], &data[off as usize..off as usize + 1000]);
    assert_eq!(
        raw.chunks_read() - before,
        1,
        "a 1000-byte read inside one chunk"
    );
    // Across a chunk boundary: two chunks.
    let before = raw.chunks_read();
    let b = super::ops::CHUNK * 5 - 10;
    let got = fs.read("/big.bin", b, Some(20)).await.unwrap();
    assert_eq!(&got[..], &data[b as usize..b as usize + 20]);
    assert_eq!(raw.chunks_read() - before, 2);
    // A pwrite in the middle changes only those bytes.
    let mut expect = data.clone();
    expect[2_000_000..2_000_005].copy_from_slice(b"HELLO");
    fs.write(
        "/big.bin",
        Bytes::from_static(b"HELLO"),
        Some(2_000_000),
        WriteFlags::NONE,
    )
    .await
    .unwrap();
    assert_eq!(fs.read("/big.bin", 0, None).await.unwrap(), expect);
    // Truncate into a chunk, then extend: the cut bytes come back as zeros.
    fs.truncate("/big.bin", 300_000).await.unwrap();
    fs.truncate("/big.bin", 600_000).await.unwrap();
    let got = fs.read("/big.bin", 0, None).await.unwrap();
    assert_eq!(&got[..300_000], &expect[..300_000]);
    assert!(got[300_000..].iter().all(|&b| b == 0));
    assert_eq!(got.len(), 600_000);
}

async fn pwrite_past_eof_in_far_chunk_zero_fills(config: Value) {
    let (fs, _) = sqlfs(config).await;
    fs.write("/s", Bytes::from_static(b"abc"), None, WriteFlags::NONE)
        .await
        .unwrap();
    let far = 10 * super::ops::CHUNK + 7;
    fs.write(
        "/s",
        Bytes::from_static(b"xyz"),
        Some(far),
        WriteFlags::NONE,
    )
    .await
    .unwrap();
    let got = fs.read("/s", 0, None).await.unwrap();
    assert_eq!(got.len() as u64, far + 3);
    assert_eq!(&got[..3], b"abc");
    assert!(got[3..far as usize].iter().all(|&b| b == 0));
    assert_eq!(&got[far as usize..], b"xyz");
    fs.write("/s", Bytes::from_static(b"!"), None, WriteFlags::APPEND)
        .await
        .unwrap();
    assert_eq!(fs.stat("/s").await.unwrap().size, far + 4);
}

async fn rename_directory_moves_subtree_in_one_transaction(config: Value) {
    let (fs, _) = sqlfs(config).await;
    fs.mkdir("/a", 0o755).await.unwrap();
    fs.mkdir("/a/b", 0o700).await.unwrap();
    fs.mkdir("/a/b/c", 0o755).await.unwrap();
    fs.write(
        "/a/b/c/f",
        Bytes::from_static(b"deep"),
        None,
        WriteFlags::NONE,
    )
    .await
    .unwrap();
    fs.write("/a/top", Bytes::from_static(b"top"), None, WriteFlags::NONE)
        .await
        .unwrap();
    // A sibling sharing the prefix must not move.
    fs.mkdir("/ab", 0o755).await.unwrap();
    fs.write("/ab/x", Bytes::from_static(b"x"), None, WriteFlags::NONE)
        .await
        .unwrap();
    fs.mkdir("/z", 0o755).await.unwrap();
    fs.rename("/a", "/z/moved").await.unwrap();
    assert_kind(fs.stat("/a").await, ErrorKind::NotFound);
    assert_eq!(fs.read("/z/moved/b/c/f", 0, None).await.unwrap(), "deep");
    assert_eq!(fs.read("/z/moved/top", 0, None).await.unwrap(), "top");
    assert_eq!(names(&*fs, "/z/moved").await.unwrap(), ["b", "top"]);
    assert_eq!(names(&*fs, "/z/moved/b").await.unwrap(), ["c"]);
    assert_eq!(fs.stat("/z/moved/b").await.unwrap().mode, 0o700);
    assert_eq!(fs.read("/ab/x", 0, None).await.unwrap(), "x");
    assert_eq!(names(&*fs, "/").await.unwrap(), ["ab", "z"]);
}

async fn failed_transaction_leaves_old_content(config: Value) {
    let (fs, raw) = sqlfs(config).await;
    let old = pattern(700_000, 1);
    fs.write("/f", Bytes::from(old.clone()), None, WriteFlags::NONE)
        .await
        .unwrap();
    fs.mkdir("/d", 0o755).await.unwrap();
    raw.set_fail_before_commit(true);
    let new = pattern(900_000, 2);
    assert_kind(
        fs.write("/f", Bytes::from(new), None, WriteFlags::NONE)
            .await,
        ErrorKind::Internal,
    );
    assert_kind(
        fs.write("/f", Bytes::from_static(b"zz"), Some(10), WriteFlags::NONE)
            .await,
        ErrorKind::Internal,
    );
    assert_kind(fs.truncate("/f", 5).await, ErrorKind::Internal);
    assert_kind(fs.rename("/f", "/d/f").await, ErrorKind::Internal);
    assert_kind(fs.remove_all("/d").await, ErrorKind::Internal);
    raw.set_fail_before_commit(false);
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), old);
    assert_eq!(fs.stat("/f").await.unwrap().size, old.len() as u64);
    assert!(fs.stat("/d").await.unwrap().is_dir);
    assert_kind(fs.stat("/d/f").await, ErrorKind::NotFound);
    // A stream that fails midway changes nothing either.
    let stream: fs_core::ByteStream = Box::pin(futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"partial")),
        Err(fs_core::Error::internal("client gone")),
    ]));
    assert!(
        fs.write_stream("/f", stream, u64::MAX, None, WriteFlags::NONE)
            .await
            .is_err()
    );
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), old);
}

async fn awkward_names_are_plain_data(config: Value) {
    let (fs, _) = sqlfs(config).await;
    let dir = "/we%ir_d'\"dir";
    fs.mkdir(dir, 0o755).await.unwrap();
    let names_in = [
        "100%",
        "a_b",
        "it's",
        "say \"hi\"",
        "x'; DROP TABLE sqlfs_nodes; --",
        "%",
        "_",
    ];
    for n in names_in {
        let p = format!("{dir}/{n}");
        fs.write(
            &p,
            Bytes::from(n.as_bytes().to_vec()),
            None,
            WriteFlags::NONE,
        )
        .await
        .unwrap();
    }
    // `%` and `_` must not act as wildcards: a sibling matching the pattern stays put.
    fs.mkdir("/weXirYd'\"dir", 0o755).await.unwrap();
    fs.write(
        "/weXirYd'\"dir/keep",
        Bytes::from_static(b"k"),
        None,
        WriteFlags::NONE,
    )
    .await
    .unwrap();
    let mut expect: Vec<String> = names_in.iter().map(|s| s.to_string()).collect();
    expect.sort();
    assert_eq!(names(&*fs, dir).await.unwrap(), expect);
    fs.rename(dir, "/renamed%_").await.unwrap();
    for n in names_in {
        let p = format!("/renamed%_/{n}");
        assert_eq!(fs.read(&p, 0, None).await.unwrap(), n.as_bytes());
    }
    assert_eq!(names(&*fs, "/weXirYd'\"dir").await.unwrap(), ["keep"]);
    fs.remove_all("/renamed%_").await.unwrap();
    assert_eq!(fs.read("/weXirYd'\"dir/keep", 0, None).await.unwrap(), "k");
    assert_eq!(names(&*fs, "/").await.unwrap(), ["weXirYd'\"dir"]);
}

async fn two_instances_see_each_others_writes(config: Value) {
    let a = mount(config.clone()).await;
    let b = mount(config).await;
    a.write(
        "/shared",
        Bytes::from_static(b"one"),
        None,
        WriteFlags::NONE,
    )
    .await
    .unwrap();
    assert_eq!(b.read("/shared", 0, None).await.unwrap(), "one");
    b.write(
        "/shared",
        Bytes::from_static(b"two"),
        None,
        WriteFlags::APPEND,
    )
    .await
    .unwrap();
    assert_eq!(a.read("/shared", 0, None).await.unwrap(), "onetwo");
    a.mkdir("/d", 0o750).await.unwrap();
    assert_eq!(b.stat("/d").await.unwrap().mode, 0o750);
    assert_eq!(names(&*b, "/").await.unwrap(), ["d", "shared"]);
    b.remove("/shared").await.unwrap();
    assert_kind(a.stat("/shared").await, ErrorKind::NotFound);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

async fn remove_all_root_empties_mount(config: Value) {
    let (fs, _) = sqlfs(config).await;
    fs.mkdir("/d", 0o755).await.unwrap();
    fs.write(
        "/d/f",
        Bytes::from(pattern(300_000, 3)),
        None,
        WriteFlags::NONE,
    )
    .await
    .unwrap();
    assert_kind(fs.remove("/d").await, ErrorKind::DirectoryNotEmpty);
    assert_kind(fs.remove("/").await, ErrorKind::PermissionDenied);
    fs.remove_all("/").await.unwrap();
    assert!(names(&*fs, "/").await.unwrap().is_empty());
    assert!(fs.stat("/").await.unwrap().is_dir);
}

async fn mkdir_mode_chmod_and_stat_modes(config: Value) {
    let (fs, _) = sqlfs(config).await;
    fs.mkdir("/m", 0o40711).await.unwrap();
    assert_eq!(fs.stat("/m").await.unwrap().mode, 0o711);
    fs.create("/m/f").await.unwrap();
    assert_eq!(fs.stat("/m/f").await.unwrap().mode, 0o644);
    fs.chmod("/m/f", 0o100600).await.unwrap();
    let listed = fs.read_dir("/m").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].name.as_str(), listed[0].mode), ("f", 0o600));
    assert_eq!(fs.stat("/").await.unwrap().mode, 0o755);
}

#[test]
fn validate_accepts_agfs_keys_and_rejects_bad_backends() {
    for v in [
        json!({}),
        json!({"backend": "sqlite3", "db_path": "/tmp/x.db"}),
        json!({"backend": "mysql", "dsn": "u:p@tcp(127.0.0.1:3306)/fs", "cache_enabled": true,
               "cache_max_size": 1000, "cache_ttl_seconds": 5}),
        json!({"backend": "tidb", "host": "h", "port": 4000, "user": "u", "password": "p",
               "database": "d"}),
    ] {
        fs_core::plugin::vet(&SqlFsPlugin, &v).unwrap_or_else(|e| panic!("{v}: {e}"));
    }
    for v in [
        json!({"backend": "postgres"}),
        json!({"backend": "sqlite", "db_path": ""}),
        json!({"bogus": 1}),
        json!({"backend": "mysql", "port": 70000}),
    ] {
        assert_kind(
            fs_core::plugin::vet(&SqlFsPlugin, &v),
            ErrorKind::InvalidArgument,
        );
    }
    let c = super::backend_config(&json!({"backend": "mysql"}), super::DEFAULT_DB_PATH).unwrap();
    match c {
        super::BackendConfig::Mysql(m) => assert_eq!(m.database, "sqlfs"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        super::backend_config(&json!({}), super::DEFAULT_DB_PATH).unwrap(),
        super::BackendConfig::Sqlite {
            db_path: "sqlfs.db".into()
        }
    );
}

/// A `db_path` that cannot be opened, or a file that is not a database, is the config's mistake:
/// 400 with SQLite's reason (it was 503 and 500).
#[tokio::test]
async fn initialize_sqlite_unopenable_or_foreign_file_is_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("notes.txt");
    std::fs::write(
        &foreign,
        "these are not the pages of a database, ".repeat(200),
    )
    .unwrap();
    for (db, reason) in [
        (dir.path().join("missing/sqlfs.db"), "unable to open"),
        (foreign, "not a database"),
    ] {
        let e = SqlFsPlugin
            .initialize(fs_core::conformance::mount_context(
                "/sqlfs",
                json!({"db_path": db.to_str().unwrap()}),
            ))
            .await
            .map(drop)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        let text = e.to_string();
        assert!(
            text.contains(db.to_str().unwrap()) && text.contains(reason),
            "{text}"
        );
    }
}

mod paths;
mod read_stream;
mod reconfigure;
mod stream;

/// The database name is the one identifier sqlfs writes into SQL text (CREATE DATABASE): a name
/// with a backtick, a quote and a semicolon is created, used and dropped as itself.
#[tokio::test]
async fn mysql_database_name_with_quotes_is_one_identifier() {
    let Some(dsn) = mysql_dsn() else { return };
    let database = format!(
        "pfs_t`ick'q;{}",
        &uuid::Uuid::now_v7().simple().to_string()[..12]
    );
    let config = json!({"backend": "mysql", "dsn": dsn, "database": database});
    let (fs, _) = sqlfs(config.clone()).await;
    fs.write("/f", Bytes::from_static(b"quoted"), None, WriteFlags::NONE)
        .await
        .unwrap();
    // A second instance finds the same database by the same name.
    let (again, _) = sqlfs(config.clone()).await;
    assert_eq!(again.read("/f", 0, None).await.unwrap(), "quoted");
    drop_database(&config).await;
    // Dropped: a fresh mount starts empty.
    let (fresh, _) = sqlfs(config.clone()).await;
    assert_kind(fresh.stat("/f").await, ErrorKind::NotFound);
    drop_database(&config).await;
}
