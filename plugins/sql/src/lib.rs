//! SQL helpers shared by the SQL-backed plugins (queuefs, sqlfs): a small SQLite connection pool
//! run off the async threads, and the MySQL/MariaDB/TiDB config, pool and error mapping.

pub mod mysql;
pub mod sqlite;
pub mod tls;

use std::path::PathBuf;

use fs_core::{ConfigParam, Error, ParamType, Result};
use serde_json::Value;

use mysql::{Flavor, MysqlConfig};

/// Where a SQL-backed mount keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlBackend {
    /// A SQLite file.
    Sqlite {
        /// The database file.
        db_path: PathBuf,
    },
    /// A MySQL, MariaDB or TiDB server.
    Mysql(MysqlConfig),
}

impl SqlBackend {
    /// Reads the SQL backend named `backend` (lower case) from a config already checked by
    /// `check_config`; `None` when `backend` names no SQL backend (the caller reports it).
    ///
    /// # Errors (inside the `Some`)
    /// `InvalidArgument` for an empty `db_path`, a bad `dsn` or `port`, or TLS asked for.
    pub fn parse(
        backend: &str,
        config: &Value,
        default_db_path: &str,
        default_database: &str,
    ) -> Option<Result<Self>> {
        let flavor = match backend {
            "sqlite" | "sqlite3" => {
                let db_path = config
                    .get("db_path")
                    .and_then(Value::as_str)
                    .unwrap_or(default_db_path);
                return Some(if db_path.trim().is_empty() {
                    Err(Error::invalid_argument(
                        "invalid value for 'db_path': expected a file path, got an empty string",
                    ))
                } else {
                    Ok(SqlBackend::Sqlite {
                        db_path: PathBuf::from(db_path),
                    })
                });
            }
            "mysql" => Flavor::Mysql,
            "tidb" => Flavor::Tidb,
            _ => return None,
        };
        Some(
            MysqlConfig::from_config_with_default(flavor, config, default_database)
                .map(SqlBackend::Mysql),
        )
    }
}

/// The config keys every SQL backend accepts, after `backend`: `db_path` (SQLite) and the server
/// keys `dsn`, `host`, `port`, `user`, `password`, `database` (MySQL/TiDB).
pub fn config_params(
    default_db_path: &'static str,
    default_database: &'static str,
) -> Vec<ConfigParam> {
    vec![
        ConfigParam::optional(
            "db_path",
            ParamType::String,
            default_db_path,
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
            default_database,
            "mysql/tidb database, created when it does not exist",
        ),
        ConfigParam::optional(
            "enable_tls",
            ParamType::Bool,
            "false",
            "mysql/tidb: connect with TLS, verifying the server's certificate and name (the DSN's tls=true does the same)",
        ),
        ConfigParam::optional(
            "tls_ca",
            ParamType::String,
            "",
            "mysql/tidb: a PEM file of a CA to trust besides the built-in web roots; implies enable_tls",
        ),
        ConfigParam::optional(
            "tls_server_name",
            ParamType::String,
            "",
            "mysql/tidb: the name the server's certificate must carry, when it is not the host",
        ),
        ConfigParam::optional(
            "tls_skip_verify",
            ParamType::Bool,
            "false",
            "mysql/tidb: accept any certificate (encrypted, not authenticated; tls=skip-verify in the DSN)",
        ),
    ]
}
