//! MySQL/MariaDB/TiDB helpers shared by the SQL-backed plugins (queuefs, sqlfs): the config
//! (`dsn` in the Go and URL forms, or `host`/`port`/`user`/`password`/`database`), the pool,
//! database creation, error mapping and deadlock retry.

use std::fmt;

use fs_core::{Error, ErrorKind, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};
use serde_json::Value;

use super::tls::MysqlTls;

/// Open connections per mount, unless the mount asks for another number.
pub const MAX_CONNECTIONS: usize = 32;
/// How often a transaction chosen as a deadlock victim is retried before failing.
pub const DEADLOCK_RETRIES: usize = 5;
/// MySQL error codes.
pub const ER_LOCK_DEADLOCK: u16 = 1213;
const ER_BAD_DB_ERROR: u16 = 1049;
/// Duplicate key.
pub const ER_DUP_ENTRY: u16 = 1062;

/// Which server dialect a mount talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// MySQL or MariaDB.
    Mysql,
    /// TiDB (MySQL protocol plus TiDB-only table options).
    Tidb,
}

/// Where the data lives: the `dsn`, `host`, `port`, `user`, `password`, `database` and TLS keys
/// (see [`MysqlTls`]).
#[derive(Clone, PartialEq, Eq)]
pub struct MysqlConfig {
    /// MySQL/MariaDB or TiDB (the DDL differs slightly).
    pub flavor: Flavor,
    /// The server's host name or address.
    pub host: String,
    /// The server's port.
    pub port: u16,
    /// A Unix socket to connect through instead of `host:port`.
    pub socket: Option<String>,
    /// The user name.
    pub user: String,
    /// The password, when one is given.
    pub password: Option<String>,
    /// The database, created when it does not exist.
    pub database: String,
    /// `None`: plain connections.
    pub tls: Option<MysqlTls>,
}

// Hand-written: the password (and thus the DSN it came from) is never printed.
impl fmt::Debug for MysqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlConfig")
            .field("flavor", &self.flavor)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("socket", &self.socket)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("database", &self.database)
            .field("tls", &self.tls)
            .finish()
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::invalid_argument(msg.into())
}

impl MysqlConfig {
    /// Reads a config already checked by `check_config`.
    ///
    /// # Errors
    /// `InvalidArgument` for a DSN that cannot be parsed, a port out of range, a TLS mode this
    /// client cannot do, or a `tls_ca` that cannot be read.
    pub fn from_config_with_default(
        flavor: Flavor,
        config: &Value,
        default_database: &str,
    ) -> Result<Self> {
        use crate::{DSN, HOST, PASSWORD, PORT, USER};
        let default_port = match flavor {
            Flavor::Mysql => 3306,
            Flavor::Tidb => 4000,
        };
        let mut cfg = match DSN.opt(config)?.filter(|d| !d.trim().is_empty()) {
            Some(dsn) => Self::from_dsn(flavor, &dsn, default_port)?,
            None => MysqlConfig {
                flavor,
                host: "127.0.0.1".into(),
                port: default_port,
                socket: None,
                user: "root".into(),
                password: None,
                database: String::new(),
                tls: None,
            },
        };
        // Explicit keys win over the DSN's parts.
        if let Some(h) = HOST.opt(config)? {
            cfg.host = h;
        }
        if let Some(p) = PORT.opt(config)? {
            cfg.port = u16::try_from(p)
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| invalid(format!("invalid value for 'port': {p} is not 1..65535")))?;
        }
        if let Some(u) = USER.opt(config)? {
            cfg.user = u;
        }
        // An empty password is a password (value::string would read it as none).
        if let Some(p) = config.get(PASSWORD.name()).and_then(Value::as_str) {
            cfg.password = Some(p.to_string());
        }
        if let Some(d) = fs_core::config::value::string(config, crate::DATABASE)? {
            cfg.database = d;
        }
        if cfg.database.is_empty() {
            cfg.database = default_database.into();
        }
        cfg.tls = MysqlTls::with_keys(cfg.tls.take(), config)?;
        Ok(cfg)
    }

    /// Parses `mysql://user:pass@host:port/db?…` or Go's `user:pass@tcp(host:port)/db?…`.
    fn from_dsn(flavor: Flavor, dsn: &str, default_port: u16) -> Result<Self> {
        let mut cfg = MysqlConfig {
            flavor,
            host: "127.0.0.1".into(),
            port: default_port,
            socket: None,
            user: "root".into(),
            password: None,
            database: String::new(),
            tls: None,
        };
        if dsn.starts_with("mysql://") {
            // The DSN itself stays out of the message: it may hold a password.
            let opts = Opts::from_url(dsn).map_err(|e| invalid(format!("invalid 'dsn': {e}")))?;
            cfg.tls = MysqlTls::from_url_opts(opts.ssl_opts());
            cfg.host = opts.ip_or_hostname().to_string();
            cfg.port = opts.tcp_port();
            cfg.socket = opts.socket().map(str::to_string);
            if let Some(u) = opts.user() {
                cfg.user = u.to_string();
            }
            cfg.password = opts.pass().map(str::to_string);
            cfg.database = opts.db_name().unwrap_or_default().to_string();
            return Ok(cfg);
        }
        // Go's go-sql-driver/mysql form: [user[:password]@][net[(addr)]]/dbname[?params].
        let slash = dsn.rfind('/').ok_or_else(|| {
            invalid("invalid 'dsn': expected user:pass@tcp(host:port)/db or mysql://user:pass@host:port/db")
        })?;
        let (head, tail) = (&dsn[..slash], &dsn[slash + 1..]);
        let (db, params) = tail.split_once('?').unwrap_or((tail, ""));
        cfg.database = db.to_string();
        for (k, v) in params.split('&').filter_map(|p| p.split_once('=')) {
            if k == "tls" {
                cfg.tls = MysqlTls::from_go_param(v)?;
            }
        }
        let (creds, net) = match head.rfind('@') {
            Some(at) => (Some(&head[..at]), &head[at + 1..]),
            None => (None, head),
        };
        if let Some(creds) = creds {
            let (u, p) = match creds.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (creds, None),
            };
            if !u.is_empty() {
                cfg.user = u.to_string();
            }
            cfg.password = p.map(str::to_string);
        }
        let (proto, addr) = match net.split_once('(') {
            Some((proto, rest)) => (
                proto,
                rest.strip_suffix(')')
                    .ok_or_else(|| invalid("invalid 'dsn': unclosed '(' in the address"))?,
            ),
            None => (net, ""),
        };
        match proto {
            "" | "tcp" | "tcp4" | "tcp6" => {
                if !addr.is_empty() {
                    let (host, port) = split_host_port(addr)?;
                    cfg.host = host.to_string();
                    if let Some(port) = port {
                        cfg.port = port;
                    }
                }
            }
            "unix" => cfg.socket = Some(addr.to_string()),
            other => {
                return Err(invalid(format!(
                    "invalid 'dsn': unknown network '{other}' (tcp or unix)"
                )));
            }
        }
        Ok(cfg)
    }

    /// Drops the configured database (tests clean up after themselves with it).
    pub async fn drop_database(&self) -> Result<()> {
        let mut conn = mysql_async::Conn::new(self.opts(None))
            .await
            .map_err(|e| map_error("mysql", e))?;
        let quoted = self.database.replace('`', "``");
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{quoted}`"))
            .await
            .map_err(|e| map_error("mysql", e))?;
        conn.disconnect().await.map_err(|e| map_error("mysql", e))
    }

    /// Connection options for `database` (none: connect without choosing one).
    pub fn opts(&self, database: Option<&str>) -> Opts {
        self.opts_with(database, MAX_CONNECTIONS)
    }

    /// [`MysqlConfig::opts`] for a pool of at most `max_connections` connections (at least one).
    pub fn opts_with(&self, database: Option<&str>, max_connections: usize) -> Opts {
        let max = max_connections.max(1);
        let pool = PoolOpts::new()
            .with_constraints(PoolConstraints::new(0, max).expect("0 <= max, and max >= 1"));
        OptsBuilder::default()
            .ip_or_hostname(self.host.clone())
            .tcp_port(self.port)
            .socket(self.socket.clone())
            .user(Some(self.user.clone()))
            .pass(self.password.clone())
            .db_name(database)
            .ssl_opts(self.tls.as_ref().map(MysqlTls::ssl_opts))
            // READ COMMITTED: no gap locks, so a dequeue's locking read never blocks enqueues.
            .init(vec![
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
            ])
            .pool_opts(pool)
            .into()
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(addr: &str) -> Result<(&str, Option<u16>)> {
    let bad_port = || invalid("invalid 'dsn': the port is not a number in 1..65535");
    if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| invalid("invalid 'dsn': unclosed '[' in the address"))?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, Some(p.parse().map_err(|_| bad_port())?))),
            None => Ok((host, None)),
        };
    }
    match addr.rsplit_once(':') {
        Some((host, p)) => Ok((host, Some(p.parse().map_err(|_| bad_port())?))),
        None => Ok((addr, None)),
    }
}

/// Maps a mysql_async error to a kind: unreachable server, broken connection or lock timeouts are
/// `Unavailable`, refused credentials `PermissionDenied`, the rest `Internal`.
pub fn map_error(label: &str, e: mysql_async::Error) -> Error {
    let kind = match &e {
        mysql_async::Error::Io(_) => ErrorKind::Unavailable,
        mysql_async::Error::Url(_) => ErrorKind::InvalidArgument,
        mysql_async::Error::Server(s) => match s.code {
            // Access denied (user, database, table, command).
            1044 | 1045 | 1142 | 1227 => ErrorKind::PermissionDenied,
            // Lock wait timeout, deadlock after retries, too many connections, server shutting down.
            1205 | ER_LOCK_DEADLOCK | 1040 | 1053 => ErrorKind::Unavailable,
            ER_DUP_ENTRY => ErrorKind::AlreadyExists,
            _ => ErrorKind::Internal,
        },
        mysql_async::Error::Driver(_) | mysql_async::Error::Other(_) => {
            if e.is_fatal() {
                ErrorKind::Unavailable
            } else {
                ErrorKind::Internal
            }
        }
    };
    Error::new(kind, format!("{label}: {e}")).with_source(e)
}

/// Whether the server picked the transaction as a deadlock victim (it may simply be run again).
pub fn is_deadlock(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(s) if s.code == ER_LOCK_DEADLOCK)
}

/// Runs `op` (one whole transaction) again when the server picked it as a deadlock victim.
pub async fn retry<T, F, Fut>(label: &str, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = mysql_async::Result<T>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(e) if is_deadlock(&e) && attempt < DEADLOCK_RETRIES => attempt += 1,
            other => return other.map_err(|e| map_error(label, e)),
        }
    }
}

/// Connects a pool to `cfg.database`, creating the database when it does not exist, and runs
/// `ddl` (the `CREATE TABLE IF NOT EXISTS` statements) on it. `label` names the plugin in errors.
///
/// # Errors
/// `Unavailable` when the server cannot be reached, `PermissionDenied` when it refuses the
/// credentials, `Internal` for other server errors.
pub async fn open_pool(cfg: &MysqlConfig, label: &str, ddl: &[&str]) -> Result<Pool> {
    open_pool_with(cfg, label, ddl, MAX_CONNECTIONS).await
}

/// A pool of at most `max_connections` connections to `cfg.database`, which connects lazily: no
/// connection is made, and nothing checked, before the first is asked for.
pub fn pool(cfg: &MysqlConfig, max_connections: usize) -> Pool {
    Pool::new(cfg.opts_with(Some(&cfg.database), max_connections))
}

/// The server's `max_connections` (asked through `pool`).
///
/// # Errors
/// As [`map_error`]: `Unavailable` when the server cannot be reached.
pub async fn server_max_connections(pool: &Pool, label: &str) -> Result<u64> {
    let mut conn = pool.get_conn().await.map_err(|e| map_error(label, e))?;
    let max: Option<u64> = conn
        .query_first("SELECT @@max_connections")
        .await
        .map_err(|e| map_error(label, e))?;
    max.ok_or_else(|| Error::internal(format!("{label}: no @@max_connections")))
}

/// [`open_pool`] with a pool of at most `max_connections` connections.
///
/// # Errors
/// As [`open_pool`].
pub async fn open_pool_with(
    cfg: &MysqlConfig,
    label: &str,
    ddl: &[&str],
    max_connections: usize,
) -> Result<Pool> {
    let context = |e: Error| {
        let msg = format!(
            "{label}: cannot open database '{}' on {}: {}",
            cfg.database,
            cfg.socket
                .clone()
                .unwrap_or_else(|| format!("{}:{}", cfg.host, cfg.port)),
            e.message()
        );
        Error::new(e.kind(), msg).with_source(e)
    };
    let map = |e| context(map_error(label, e));
    let pool = pool(cfg, max_connections);
    let mut conn = match pool.get_conn().await {
        Ok(c) => c,
        Err(mysql_async::Error::Server(s)) if s.code == ER_BAD_DB_ERROR => {
            create_database(cfg, label).await.map_err(context)?;
            pool.get_conn().await.map_err(map)?
        }
        Err(e) => return Err(map(e)),
    };
    for sql in ddl {
        conn.query_drop(*sql).await.map_err(map)?;
    }
    drop(conn);
    Ok(pool)
}

async fn create_database(cfg: &MysqlConfig, label: &str) -> Result<()> {
    let map = |e| map_error(label, e);
    let mut conn = mysql_async::Conn::new(cfg.opts(None)).await.map_err(map)?;
    // The one identifier that cannot be bound: quoted, backticks doubled.
    let quoted = cfg.database.replace('`', "``");
    conn.query_drop(format!(
        "CREATE DATABASE IF NOT EXISTS `{quoted}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    ))
    .await
    .map_err(map)?;
    conn.disconnect().await.map_err(map)
}
