//! SQL helpers shared by the SQL-backed plugins (queuefs, sqlfs): a small SQLite connection pool
//! run off the async threads, and the MySQL/MariaDB/TiDB config, pool and error mapping.

pub mod mysql;
pub mod sqlite;
pub mod tls;

use std::path::PathBuf;

use fs_core::config::{Key, value};
use fs_core::{Error, Result};
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
                return Some(
                    db_path(config, default_db_path).map(|db_path| SqlBackend::Sqlite {
                        db_path: PathBuf::from(db_path),
                    }),
                );
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

/// The `db_path` of `config`, or `default`; an empty one is refused (it names no file).
fn db_path(config: &Value, default: &str) -> Result<String> {
    if config
        .get(DB_PATH)
        .and_then(Value::as_str)
        .is_some_and(|p| p.trim().is_empty())
    {
        return Err(Error::invalid_argument(format!(
            "invalid value for '{DB_PATH}': expected a file path, got an empty string"
        )));
    }
    Ok(value::string(config, DB_PATH)?.unwrap_or_else(|| default.to_string()))
}

/// The name of the SQLite file key, `db_path`.
const DB_PATH: &str = "db_path";
/// The name of the MySQL/TiDB database key, `database`.
pub(crate) const DATABASE: &str = "database";

/// The `db_path` key of a plugin whose SQLite file is `default` unless the config names one.
pub const fn db_path_key(default: &'static str) -> Key<&'static str> {
    Key::optional(
        DB_PATH,
        default,
        "the SQLite database file (`sqlite` backend), created with its tables when missing (its directory must exist); a relative path is relative to the server's working directory. A mount made through the API must keep it under the server's `mount_roots` (default: its data directory; 403 otherwise)",
    )
}

/// The `database` key of a plugin whose MySQL/TiDB database is `default` unless the config or its
/// DSN names one.
pub const fn database_key(default: &'static str) -> Key<&'static str> {
    Key::optional(
        DATABASE,
        default,
        "`mysql`/`tidb`: the database, when neither this nor the DSN names one; created (`utf8mb4_bin`) when it does not exist (which needs the privilege)",
    )
}

fs_core::config_keys! {
    /// Where a MySQL/MariaDB/TiDB server is, after `backend` and `db_path` (then comes the plugin's
    /// `database`, then [`TLS_KEYS`]).
    pub SERVER_KEYS;
    pub DSN: &'static str = Key::unset(
        "dsn",
        "`mysql`/`tidb`: Go's `user:pass@tcp(host:port)/db?params` (as AGFS; also `unix(/path.sock)`; `tls=true` / `tls=skip-verify` turn TLS on, other params are ignored) or `mysql://user:pass@host:port/db` (percent-encode special characters); the keys below override its parts",
    );
    pub HOST: &'static str = Key::optional("host", "127.0.0.1", "`mysql`/`tidb`: the server's host");
    pub PORT: u64 = Key::optional("port", 3306, "`mysql`/`tidb`: the server's port, 1-65535")
        .default_text("3306 (4000 for tidb)");
    pub USER: &'static str = Key::optional("user", "root", "`mysql`/`tidb`: the user");
    pub PASSWORD: &'static str = Key::unset(
        "password",
        "`mysql`/`tidb`: the password; never shown (`GET /mounts` masks it, the config's `Debug` hides it and the DSN)",
    );
}

fs_core::config_keys! {
    /// How a MySQL/MariaDB/TiDB connection is encrypted.
    pub TLS_KEYS;
    pub ENABLE_TLS: bool = Key::optional(
        "enable_tls",
        false,
        "`mysql`/`tidb`: TLS to the server (rustls), verifying its certificate against the built-in web roots and its name against the host; `tls=true` in a Go DSN or `require_ssl=true` in a URL does the same, and the key wins over the DSN",
    );
    pub TLS_CA: &'static str = Key::unset(
        "tls_ca",
        "`mysql`/`tidb`: a PEM file of a CA to trust as well (a private CA); implies `enable_tls`",
    );
    pub TLS_SERVER_NAME: &'static str = Key::unset(
        "tls_server_name",
        "`mysql`/`tidb`: the name the certificate must carry, when it is not the host connected to",
    );
    pub TLS_SKIP_VERIFY: bool = Key::optional(
        "tls_skip_verify",
        false,
        "`mysql`/`tidb`: accept any certificate and name: encrypted but not authenticated (`tls=skip-verify` in a Go DSN)",
    );
}
