#![doc = include_str!("../README.md")]

mod backend;
mod fs;
mod handle;
mod limits;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::config::Key;
use fs_core::{ConfigParam, Error, FileSystem, MountContext, Result, ServicePlugin};
use serde_json::Value;

pub use fs::QueueFs;

use pfs_sql::SqlBackend;

const README: &str = include_str!("../README.md");
/// The SQLite file when `db_path` is not given (AGFS's default, relative to the working directory).
const DEFAULT_DB_PATH: &str = "queue.db";

fs_core::config_keys! {
    KEYS;
    BACKEND: &'static str = Key::optional(
        "backend",
        "memory",
        "`memory` (lost on restart), `sqlite` (`sqlite3` is an alias), `mysql` (MySQL or MariaDB) or `tidb`",
    );
    DB_PATH: &'static str = pfs_sql::db_path_key(DEFAULT_DB_PATH);
}

fs_core::config_keys! {
    /// After the server keys, before the TLS keys (the order `GET /plugins` lists).
    DATABASE_KEYS;
    DATABASE: &'static str = pfs_sql::database_key(backend::mysql::DEFAULT_DATABASE);
}

/// Every key queuefs takes, in the order `GET /plugins` lists them.
fn params() -> Vec<ConfigParam> {
    fs_core::config::params(&[
        KEYS,
        pfs_sql::SERVER_KEYS,
        DATABASE_KEYS,
        pfs_sql::TLS_KEYS,
        limits::LIMIT_KEYS,
    ])
}

/// The queuefs factory.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueFsPlugin;

/// Where a mount keeps its queues.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BackendConfig {
    Memory,
    Sql(SqlBackend),
}

impl BackendConfig {
    /// Reads a config whose keys were checked.
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown backend name, an empty `db_path`, a bad `dsn` or `port`,
    /// and TLS asked for (not in this build).
    fn from_config(config: &Value) -> Result<Self> {
        let backend = BACKEND.get(config)?.to_ascii_lowercase();
        if backend == "memory" {
            return Ok(BackendConfig::Memory);
        }
        match SqlBackend::parse(
            &backend,
            config,
            DEFAULT_DB_PATH,
            backend::mysql::DEFAULT_DATABASE,
        ) {
            Some(sql) => sql.map(BackendConfig::Sql),
            None => Err(Error::invalid_argument(format!(
                "invalid value for 'backend': unknown backend '{backend}' (allowed: memory, sqlite, sqlite3, mysql, tidb)"
            ))),
        }
    }
}

#[async_trait]
impl ServicePlugin for QueueFsPlugin {
    fn name(&self) -> &str {
        "queuefs"
    }

    fn readme(&self) -> &str {
        README
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        params()
    }

    fn validate(&self, config: &Value) -> Result<()> {
        limits::Limits::from_config(config)?;
        BackendConfig::from_config(config).map(drop)
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let limits = limits::Limits::from_config(&ctx.config)?;
        let backend: Arc<dyn backend::Backend> = match BackendConfig::from_config(&ctx.config)? {
            BackendConfig::Memory => Arc::new(backend::memory::MemoryBackend::new()),
            BackendConfig::Sql(SqlBackend::Sqlite { db_path }) => {
                // Checked before the file is created: an API mount keeps it under the roots.
                ctx.policy
                    .check_local_path(std::path::Path::new(&db_path))?;
                Arc::new(backend::sqlite::SqliteBackend::open(&db_path).await?)
            }
            BackendConfig::Sql(SqlBackend::Mysql(cfg)) => {
                Arc::new(backend::mysql::MysqlBackend::open(&cfg).await?)
            }
        };
        Ok(Arc::new(
            QueueFs::new(backend, Bytes::from_static(README.as_bytes())).with_limits(limits),
        ))
    }
}
