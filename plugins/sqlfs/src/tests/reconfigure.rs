//! sqlfs taking a new config in place: `pool_size` grows and shrinks the pool while reads stream
//! (a SQLite pool starts and stops reader threads; a MySQL pool is replaced, and lowered to the
//! server's `max_connections` when asked for more), and changes of where the data is, or values out
//! of range, are refused with the pool as it was.

use std::sync::Arc;

use bytes::Bytes;
use fs_core::{ContentBody, ErrorKind, FileSystem, Reconfigured, WriteFlags};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::{drop_database, mysql_config, mysql_dsn, pattern, sqlite_config};
use crate::{BackendConfig, SqlFs, SqlFsPlugin, Store};

on_both_backends!(pool_size_changes_in_place_while_reads_stream);

/// `config` with the keys of `extra` set.
fn with(config: &Value, extra: Value) -> Value {
    let mut c = config.clone();
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap());
    c
}

/// Mounts `config` as the plugin does, keeping the `SqlFs` at hand.
async fn open(config: &Value) -> Arc<SqlFs> {
    fs_core::plugin::vet(&SqlFsPlugin, config).unwrap();
    let backend = crate::backend_config(config, crate::DEFAULT_DB_PATH).unwrap();
    let size = crate::pool_size(config, &backend).unwrap();
    let store = match backend {
        BackendConfig::Sqlite { db_path } => {
            Store::Sqlite(crate::sqlite::open(&db_path, size).await.unwrap())
        }
        BackendConfig::Mysql(c) => Store::Mysql(crate::mysql::open(&c, size).await.unwrap()),
    };
    Arc::new(SqlFs::new(store))
}

/// What the server does before it calls `reconfigure`: the key check and `validate`.
async fn change(fs: &SqlFs, old: &Value, new: &Value) -> fs_core::Result<Reconfigured> {
    fs_core::plugin::vet(&SqlFsPlugin, new)?;
    fs.reconfigure(old, new).await
}

/// The SQLite pool's reader threads (asked for, running), `None` on MySQL.
fn readers(fs: &SqlFs) -> Option<(usize, usize)> {
    match fs.store() {
        Store::Sqlite(pool) => Some((pool.reader_count(), pool.readers_running())),
        Store::Mysql(_) => None,
    }
}

/// Waits (at most 10 s) until the SQLite pool runs `n` reader threads.
async fn readers_settle(fs: &SqlFs, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while let Some((_, running)) = readers(fs)
        && running != n
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{running} reader threads run, not {n}, after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

async fn pool_size_changes_in_place_while_reads_stream(config: Value) {
    let old = with(&config, json!({"pool_size": 2}));
    let fs = open(&old).await;
    assert_eq!(readers(&fs).unwrap_or((2, 2)), (2, 2));
    let data = pattern(9 << 20, 3);
    fs.write("/big", Bytes::from(data.clone()), None, WriteFlags::NONE)
        .await
        .unwrap();
    fs.write(
        "/small",
        Bytes::from_static(b"small"),
        None,
        WriteFlags::NONE,
    )
    .await
    .unwrap();

    // A read streaming in batches (each its own transaction on the pool) across the changes.
    let content = fs.read_content("/big", 0, None).await.unwrap();
    let ContentBody::Stream { mut stream, .. } = content.body else {
        panic!("a 9 MiB read streams");
    };
    let mut got = stream.next().await.unwrap().unwrap().to_vec();
    assert!(got.len() < data.len());

    let more = with(&config, json!({"pool_size": 6}));
    assert_eq!(
        change(&fs, &old, &more).await.unwrap(),
        Reconfigured::Accepted
    );
    assert_eq!(readers(&fs).unwrap_or((6, 6)), (6, 6));
    let stats: Vec<_> = (0..64)
        .map(|_| {
            let fs = fs.clone();
            tokio::spawn(async move { fs.stat("/small").await.map(|i| i.size) })
        })
        .collect();
    let fewer = with(&config, json!({"pool_size": 1}));
    assert_eq!(
        change(&fs, &more, &fewer).await.unwrap(),
        Reconfigured::Accepted
    );
    for s in stats {
        assert_eq!(s.await.unwrap().unwrap(), 5);
    }
    while let Some(chunk) = stream.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert!(
        got == data,
        "the streamed read differs ({} bytes)",
        got.len()
    );
    readers_settle(&fs, 1).await;

    // Out of range, or where the data is: refused, the pool as it was.
    let refused = [
        (
            json!({"pool_size": 0}),
            ErrorKind::InvalidArgument,
            "'pool_size'",
        ),
        (
            json!({"pool_size": 1_000_000_000_000u64}),
            ErrorKind::InvalidArgument,
            "'pool_size'",
        ),
        (
            json!({"pool_size": -1}),
            ErrorKind::InvalidArgument,
            "'pool_size'",
        ),
        (
            json!({"pool_size": "many"}),
            ErrorKind::InvalidArgument,
            "'pool_size'",
        ),
        (
            json!({"pool_size": 1, "database": "elsewhere"}),
            ErrorKind::Unsupported,
            "'database' cannot change",
        ),
        (
            json!({"pool_size": 1, "db_path": "/tmp/elsewhere.db"}),
            ErrorKind::Unsupported,
            "'db_path' cannot change",
        ),
        (
            json!({"pool_size": 1, "backend": "tidb"}),
            ErrorKind::Unsupported,
            "'backend' cannot change",
        ),
    ];
    for (extra, kind, words) in refused {
        let err = change(&fs, &fewer, &with(&config, extra.clone()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{extra}: {err}");
        assert!(err.to_string().contains(words), "{extra}: {err}");
        assert_eq!(readers(&fs).unwrap_or((1, 1)), (1, 1), "{extra}");
    }
    assert_eq!(fs.read("/small", 0, None).await.unwrap(), "small");

    // The unused cache keys change freely; no pool_size is the backend's default.
    let cached = with(&config, json!({"pool_size": 1, "cache_ttl_seconds": 9}));
    assert_eq!(
        change(&fs, &fewer, &cached).await.unwrap(),
        Reconfigured::Accepted
    );
    assert_eq!(readers(&fs).unwrap_or((1, 1)), (1, 1));
    assert_eq!(
        change(&fs, &cached, &config).await.unwrap(),
        Reconfigured::Accepted
    );
    let n = pfs_sql::sqlite::readers();
    assert_eq!(readers(&fs).unwrap_or((n, n)), (n, n));
    assert_eq!(fs.read("/big", 0, None).await.unwrap().len(), data.len());
}

#[tokio::test]
async fn a_mysql_pool_larger_than_the_server_allows_is_lowered_to_it() {
    let Some(dsn) = mysql_dsn() else { return };
    let config = mysql_config(&dsn);
    let old = with(&config, json!({"pool_size": 4}));
    let fs = open(&old).await;
    let Store::Mysql(pool) = fs.store() else {
        unreachable!("a mysql config")
    };
    let server_max = pfs_sql::mysql::server_max_connections(&pool, "test")
        .await
        .unwrap() as usize;
    drop(pool);
    let new = with(&config, json!({"pool_size": 1000}));
    let got = change(&fs, &old, &new).await.unwrap();
    if server_max >= 1000 {
        eprintln!("the server allows {server_max} connections: nothing to lower");
        assert_eq!(got, Reconfigured::Accepted);
    } else {
        assert_eq!(
            got,
            Reconfigured::Amended(with(&config, json!({"pool_size": server_max})))
        );
    }
    fs.write(
        "/f",
        Bytes::from_static(b"on the new pool"),
        None,
        WriteFlags::NONE,
    )
    .await
    .unwrap();
    assert_eq!(fs.read("/f", 0, None).await.unwrap(), "on the new pool");
    drop_database(&config).await;
}
