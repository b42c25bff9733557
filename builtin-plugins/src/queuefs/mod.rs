#![doc = include_str!("README.md")]

mod backend;
mod fs;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{
    ConfigParam, Error, FileSystem, MountContext, ParamType, Result, ServicePlugin, plugin,
};
use serde_json::Value;

pub use fs::QueueFs;

use backend::mysql::{Flavor, MysqlConfig};

const README: &str = include_str!("README.md");
/// The SQLite file when `db_path` is not given (AGFS's default, relative to the working directory).
const DEFAULT_DB_PATH: &str = "queue.db";

/// The queuefs factory.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueFsPlugin;

/// Where a mount keeps its queues, from the `backend`, `db_path` and SQL server keys.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BackendConfig {
    Memory,
    Sqlite { db_path: PathBuf },
    Mysql(backend::mysql::MysqlConfig),
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
            .unwrap_or("memory");
        match backend.to_ascii_lowercase().as_str() {
            "memory" => Ok(BackendConfig::Memory),
            "sqlite" | "sqlite3" => {
                let db_path = config
                    .get("db_path")
                    .and_then(Value::as_str)
                    .unwrap_or(DEFAULT_DB_PATH);
                if db_path.trim().is_empty() {
                    return Err(Error::invalid_argument(
                        "invalid value for 'db_path': expected a file path, got an empty string",
                    ));
                }
                Ok(BackendConfig::Sqlite {
                    db_path: PathBuf::from(db_path),
                })
            }
            "mysql" => MysqlConfig::from_config(Flavor::Mysql, config).map(BackendConfig::Mysql),
            "tidb" => MysqlConfig::from_config(Flavor::Tidb, config).map(BackendConfig::Mysql),
            _ => Err(Error::invalid_argument(format!(
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
        vec![
            ConfigParam::optional(
                "backend",
                ParamType::String,
                "memory",
                "where queues live: memory, sqlite (sqlite3 is an alias), mysql or tidb",
            ),
            ConfigParam::optional(
                "db_path",
                ParamType::String,
                DEFAULT_DB_PATH,
                "SQLite database file (sqlite backend), created when missing",
            ),
            ConfigParam::optional(
                "dsn",
                ParamType::String,
                "",
                "mysql/tidb: user:pass@tcp(host:port)/db or mysql://user:pass@host:port/db; the keys below override its parts",
            ),
            ConfigParam::optional(
                "host",
                ParamType::String,
                "127.0.0.1",
                "mysql/tidb server host",
            ),
            ConfigParam::optional(
                "port",
                ParamType::Int,
                "3306",
                "mysql/tidb server port (4000 for tidb)",
            ),
            ConfigParam::optional("user", ParamType::String, "root", "mysql/tidb user"),
            ConfigParam::optional("password", ParamType::String, "", "mysql/tidb password"),
            ConfigParam::optional(
                "database",
                ParamType::String,
                backend::mysql::DEFAULT_DATABASE,
                "mysql/tidb database, created when it does not exist",
            ),
            ConfigParam::optional(
                "enable_tls",
                ParamType::Bool,
                "false",
                "mysql/tidb: TLS to the server; true is refused (TLS is not available in this build)",
            ),
            ConfigParam::optional(
                "tls_server_name",
                ParamType::String,
                "",
                "accepted, unused without TLS",
            ),
            ConfigParam::optional(
                "tls_skip_verify",
                ParamType::Bool,
                "false",
                "accepted, unused without TLS",
            ),
        ]
    }

    fn validate(&self, config: &Value) -> Result<()> {
        plugin::check_config(&self.config_params(), config)?;
        BackendConfig::from_config(config).map(drop)
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let backend: Arc<dyn backend::Backend> = match BackendConfig::from_config(&ctx.config)? {
            BackendConfig::Memory => Arc::new(backend::memory::MemoryBackend::new()),
            BackendConfig::Sqlite { db_path } => {
                Arc::new(backend::sqlite::SqliteBackend::open(&db_path).await?)
            }
            BackendConfig::Mysql(cfg) => Arc::new(backend::mysql::MysqlBackend::open(&cfg).await?),
        };
        Ok(Arc::new(QueueFs::new(
            backend,
            Bytes::from_static(README.as_bytes()),
        )))
    }
}
