#![doc = include_str!("../README.md")]

mod backend;
mod fs;
mod handle;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{
    ConfigParam, Error, FileSystem, MountContext, ParamType, Result, ServicePlugin, plugin,
};
use serde_json::Value;

pub use fs::QueueFs;

use pfs_sql::SqlBackend;

const README: &str = include_str!("../README.md");
/// The SQLite file when `db_path` is not given (AGFS's default, relative to the working directory).
const DEFAULT_DB_PATH: &str = "queue.db";

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
    /// Reads a config already checked by [`check_config`](plugin::check_config).
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown backend name, an empty `db_path`, a bad `dsn` or `port`,
    /// and TLS asked for (not in this build).
    fn from_config(config: &Value) -> Result<Self> {
        let backend = config
            .get("backend")
            .and_then(Value::as_str)
            .unwrap_or("memory")
            .to_ascii_lowercase();
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
        let mut params = vec![ConfigParam::optional(
            "backend",
            ParamType::String,
            "memory",
            "where queues live: memory, sqlite (sqlite3 is an alias), mysql or tidb",
        )];
        params.extend(pfs_sql::config_params(
            DEFAULT_DB_PATH,
            backend::mysql::DEFAULT_DATABASE,
        ));
        params
    }

    fn validate(&self, config: &Value) -> Result<()> {
        plugin::check_config(&self.config_params(), config)?;
        BackendConfig::from_config(config).map(drop)
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let backend: Arc<dyn backend::Backend> = match BackendConfig::from_config(&ctx.config)? {
            BackendConfig::Memory => Arc::new(backend::memory::MemoryBackend::new()),
            BackendConfig::Sql(SqlBackend::Sqlite { db_path }) => {
                Arc::new(backend::sqlite::SqliteBackend::open(&db_path).await?)
            }
            BackendConfig::Sql(SqlBackend::Mysql(cfg)) => {
                Arc::new(backend::mysql::MysqlBackend::open(&cfg).await?)
            }
        };
        Ok(Arc::new(QueueFs::new(
            backend,
            Bytes::from_static(README.as_bytes()),
        )))
    }
}
