#![doc = include_str!("../README.md")]

mod mysql;
mod ops;
mod read_stream;
mod reconfig;
mod sqlite;
mod stream;
#[cfg(test)]
mod tests;
mod tx;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::config::Key;
use fs_core::{
    ByteStream, Capabilities, ConfigParam, Content, Error, FileInfo, FileSystem, MountContext,
    Result, ServicePlugin, WriteFlags,
};
use serde_json::Value;

pub use sqlite::SCHEMA as SQLITE_SCHEMA;

use ops::Operation;
use pfs_sql::SqlBackend as BackendConfig;

const README: &str = include_str!("../README.md");
/// The SQLite file when `db_path` is not given: in the server's data directory, or (without one)
/// relative to the working directory as in AGFS.
const DEFAULT_DB_PATH: &str = "sqlfs.db";
/// The MySQL/TiDB database when neither `database` nor the DSN names one (AGFS's default).
const DEFAULT_DATABASE: &str = "sqlfs";

fs_core::config_keys! {
    KEYS;
    BACKEND: &'static str = Key::optional(
        "backend",
        "sqlite",
        "`sqlite` (`sqlite3` is an alias), `mysql` (MySQL or MariaDB) or `tidb`",
    );
    DB_PATH: &'static str = pfs_sql::db_path_key(DEFAULT_DB_PATH)
        .default_text("sqlfs.db in the server's data directory (without one, the working directory)");
    POOL_SIZE: u64 = Key::unset(
        "pool_size",
        "the connections a mount keeps: `sqlite`, its reader connections, each on a thread of its own beside the one writer (1-64); `mysql`/`tidb`, the most connections open at once (1-1000)",
    )
    .default_text("sqlite: one per CPU, 2 to 8; mysql/tidb: 32")
    .live();
}

/// The most reader threads a SQLite pool may be given.
const MAX_SQLITE_READERS: u64 = 64;
/// The most connections a MySQL/TiDB pool may be given.
const MAX_MYSQL_CONNECTIONS: u64 = 1000;

fs_core::config_keys! {
    /// After the server keys, before the TLS keys (the order `GET /plugins` lists).
    DATABASE_KEYS;
    DATABASE: &'static str = pfs_sql::database_key(DEFAULT_DATABASE);
}

fs_core::config_keys! {
    /// AGFS's cache keys: accepted, and unused.
    CACHE_KEYS;
    CACHE_ENABLED: bool = Key::optional(
        "cache_enabled",
        false,
        "accepted for AGFS compatibility; pfs keeps no cache (every read sees every server's writes)",
    )
    .live();
    CACHE_MAX_SIZE: u64 = Key::optional("cache_max_size", 1000, "accepted, unused (no cache)").live();
    CACHE_TTL_SECONDS: u64 = Key::optional("cache_ttl_seconds", 5, "accepted, unused (no cache)").live();
}

/// The sqlfs factory.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqlFsPlugin;

/// Reads the backend of a config whose keys were checked.
///
/// # Errors
/// `InvalidArgument` for an unknown backend, an empty `db_path`, a bad `dsn` or `port`.
fn backend_config(config: &Value, default_db_path: &str) -> Result<BackendConfig> {
    let backend = BACKEND.get(config)?.to_ascii_lowercase();
    BackendConfig::parse(&backend, config, default_db_path, DEFAULT_DATABASE).unwrap_or_else(|| {
        Err(Error::invalid_argument(format!(
            "invalid value for 'backend': unknown backend '{backend}' (allowed: sqlite, sqlite3, mysql, tidb)"
        )))
    })
}

/// The pool size `config` asks for on `backend` (its default when it names none).
///
/// # Errors
/// `InvalidArgument` naming `pool_size` when it is out of the backend's range.
fn pool_size(config: &Value, backend: &BackendConfig) -> Result<usize> {
    let (max, default, name) = match backend {
        BackendConfig::Sqlite { .. } => (MAX_SQLITE_READERS, pfs_sql::sqlite::readers(), "sqlite"),
        BackendConfig::Mysql(_) => (
            MAX_MYSQL_CONNECTIONS,
            pfs_sql::mysql::MAX_CONNECTIONS,
            "mysql/tidb",
        ),
    };
    match POOL_SIZE.opt(config)? {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(n) => Err(Error::invalid_argument(format!(
            "invalid value for '{}': {n} is not 1..{max} ({name})",
            POOL_SIZE.name()
        ))),
    }
}

/// Every key sqlfs declares, in the order `GET /plugins` lists them.
fn params() -> Vec<ConfigParam> {
    fs_core::config::params(&[
        KEYS,
        pfs_sql::SERVER_KEYS,
        DATABASE_KEYS,
        pfs_sql::TLS_KEYS,
        CACHE_KEYS,
    ])
}

#[async_trait]
impl ServicePlugin for SqlFsPlugin {
    fn name(&self) -> &str {
        "sqlfs"
    }

    fn readme(&self) -> &str {
        README
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        params()
    }

    fn validate(&self, config: &Value) -> Result<()> {
        pool_size(config, &backend_config(config, DEFAULT_DB_PATH)?).map(drop)
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let default_db_path = match &ctx.server.data_dir {
            Some(dir) => dir.join(DEFAULT_DB_PATH).to_string_lossy().into_owned(),
            None => DEFAULT_DB_PATH.to_owned(),
        };
        let backend = backend_config(&ctx.config, &default_db_path)?;
        let size = pool_size(&ctx.config, &backend)?;
        let store = match backend {
            BackendConfig::Sqlite { db_path } => {
                // Checked before the file is created: an API mount keeps it under the roots.
                ctx.policy
                    .check_local_path(std::path::Path::new(&db_path))?;
                Store::Sqlite(sqlite::open(&db_path, size).await?)
            }
            BackendConfig::Mysql(cfg) => Store::Mysql(mysql::open(&cfg, size).await?),
        };
        Ok(Arc::new(SqlFs::new(store)))
    }
}

#[derive(Debug, Clone)]
enum Store {
    Sqlite(Arc<pfs_sql::sqlite::Pool>),
    Mysql(mysql_async::Pool),
}

/// Files and directories in SQL tables (see the module docs).
#[derive(Debug)]
pub struct SqlFs {
    /// The pools; a MySQL pool is replaced whole when its size changes (read only to clone it).
    store: RwLock<Store>,
    /// Chunk rows fetched by reads so far (observability and tests).
    chunks_read: AtomicU64,
    /// Tests: make the next transactions fail just before commit.
    fail_before_commit: AtomicBool,
}

impl SqlFs {
    fn new(store: Store) -> Self {
        SqlFs {
            store: RwLock::new(store),
            chunks_read: AtomicU64::new(0),
            fail_before_commit: AtomicBool::new(false),
        }
    }

    /// The pools in force (an operation that starts now uses them to its end).
    fn store(&self) -> Store {
        self.store
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many chunk rows reads have fetched since the mount started.
    pub fn chunks_read(&self) -> u64 {
        self.chunks_read.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    fn set_fail_before_commit(&self, fail: bool) {
        self.fail_before_commit.store(fail, Ordering::Relaxed);
    }

    /// Chunk rows that belong to no node (uploads in progress, or leaked).
    #[cfg(test)]
    async fn orphan_chunks(&self) -> u64 {
        match &self.store() {
            Store::Sqlite(pool) => sqlite::orphan_chunks(pool).await.unwrap(),
            Store::Mysql(pool) => mysql::orphan_chunks(pool).await.unwrap(),
        }
    }

    /// Runs `op` in one transaction of its own.
    async fn run<O: Operation>(&self, op: O) -> Result<O::Output> {
        let fail = O::WRITES && self.fail_before_commit.load(Ordering::Relaxed);
        self.store().run(op, fail).await
    }

    /// Runs a read, counting the chunk rows it fetched.
    async fn read_chunks(&self, op: ops::Read) -> Result<ops::Data> {
        let data = self.run(op).await?;
        self.chunks_read.fetch_add(data.chunks, Ordering::Relaxed);
        Ok(data)
    }
}

impl Store {
    /// Runs one operation in one transaction (`fail`: tests make it fail before commit).
    async fn run<O: Operation>(&self, op: O, fail: bool) -> Result<O::Output> {
        match self {
            Store::Sqlite(pool) => sqlite::run(pool, op, fail).await,
            Store::Mysql(pool) => mysql::run(pool, &op, fail).await,
        }
    }
}

#[async_trait]
impl FileSystem for SqlFs {
    fn capabilities(&self) -> Capabilities {
        Capabilities::READ_WRITE
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        self.run(ops::Stat(path.to_owned())).await
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        self.run(ops::ReadDir(path.to_owned())).await
    }

    async fn read_content(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Content> {
        read_stream::read_content(self, path, offset, size).await
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        let op = ops::Read {
            path: path.to_owned(),
            offset,
            size,
        };
        Ok(self.read_chunks(op).await?.bytes)
    }

    async fn write(
        &self,
        path: &str,
        data: Bytes,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let op = ops::Write {
            path: path.to_owned(),
            data,
            offset,
            flags,
        };
        self.run(op).await
    }

    async fn write_stream(
        &self,
        path: &str,
        data: ByteStream,
        limit: u64,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        if offset.is_some() || flags.contains(WriteFlags::APPEND) {
            // In place: the bytes must meet the old content inside one transaction.
            let data = fs_core::collect_stream(data, limit).await?;
            return self.write(path, data, offset, flags).await;
        }
        stream::write_whole(self, path.to_owned(), data, limit, flags).await
    }

    async fn create(&self, path: &str) -> Result<()> {
        self.run(ops::Create(path.to_owned())).await
    }

    async fn mkdir(&self, path: &str, mode: u32) -> Result<()> {
        let path = path.to_owned();
        self.run(ops::Mkdir { path, mode }).await
    }

    async fn remove(&self, path: &str) -> Result<()> {
        self.run(ops::Remove(path.to_owned())).await
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        self.run(ops::RemoveAll(path.to_owned())).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.run(ops::Rename { from, to }).await
    }

    async fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        let path = path.to_owned();
        self.run(ops::Chmod { path, mode }).await
    }

    async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        let path = path.to_owned();
        self.run(ops::Truncate { path, size }).await
    }

    /// `pool_size` (and the unused cache keys) change in place; where the data is needs a remount.
    async fn reconfigure(&self, old: &Value, new: &Value) -> Result<fs_core::Reconfigured> {
        self.take(old, new).await
    }

    async fn shutdown(&self) -> Result<()> {
        if let Store::Mysql(pool) = self.store() {
            pool.disconnect().await.map_err(mysql::map_mysql_error)?;
        }
        Ok(())
    }
}
