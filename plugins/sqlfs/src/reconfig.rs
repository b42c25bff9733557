//! A mounted sqlfs taking a new config in place: the size of its pool. Where the data is
//! (`backend`, `db_path`, the server, the credentials, the database, TLS) names another
//! filesystem: a remount.

use std::time::Duration;

use fs_core::config::check_live;
use fs_core::{Error, Reconfigured, Result};
use serde_json::Value;

use super::{BackendConfig, POOL_SIZE, SqlFs, Store, backend_config, pool_size};

/// The longest the server may take to say its `max_connections` before a change is refused.
const CHECK_LIMIT: Duration = Duration::from_secs(30);

/// A change refused because the server's connection limit could not be learned.
fn unknown_limit(why: &str) -> Error {
    Error::invalid_argument(format!(
        "cannot change 'pool_size': the server's max_connections is unknown ({why}); the mount keeps its current config"
    ))
}

impl SqlFs {
    /// Takes `new` in place: a SQLite pool starts or stops reader threads (those stopping finish
    /// the reads queued before); a MySQL pool is replaced by one of the new size (operations that
    /// hold the old one finish on it, whose connections then close), lowered to the server's
    /// `max_connections` when it asks for more (the answer is then the amended config).
    ///
    /// # Errors
    /// `Unsupported` naming the keys that need a remount; `InvalidArgument` when the server cannot
    /// be asked for its `max_connections` (nothing changes).
    pub(crate) async fn take(&self, old: &Value, new: &Value) -> Result<Reconfigured> {
        check_live(&super::params(), old, new)?;
        if POOL_SIZE.opt(old)? == POOL_SIZE.opt(new)? {
            return Ok(Reconfigured::Accepted);
        }
        // The backend is the old one (check_live): `db_path`'s default does not matter here.
        let backend = backend_config(new, super::DEFAULT_DB_PATH)?;
        let asked = pool_size(new, &backend)?;
        match (self.store(), backend) {
            (Store::Sqlite(pool), _) => {
                pool.set_readers(asked)?;
                Ok(Reconfigured::Accepted)
            }
            (Store::Mysql(_), BackendConfig::Mysql(cfg)) => {
                // Asked on a connection of its own: the mount's pool may be busy to its limit.
                let probe = pfs_sql::mysql::pool(&cfg, 1);
                let asking = pfs_sql::mysql::server_max_connections(&probe, super::mysql::LABEL);
                let answer = tokio::time::timeout(CHECK_LIMIT, asking).await;
                let server_max = match answer {
                    Ok(Ok(max)) => max,
                    Ok(Err(e)) => return Err(unknown_limit(e.message())),
                    Err(_) => {
                        return Err(unknown_limit(&format!(
                            "no answer within {}s",
                            CHECK_LIMIT.as_secs()
                        )));
                    }
                };
                // Its one connection is back in it by now; a failure to say goodbye changes nothing.
                let _ = probe.disconnect().await;
                let size = asked.min(usize::try_from(server_max).unwrap_or(usize::MAX).max(1));
                let pool = pfs_sql::mysql::pool(&cfg, size);
                // The old pool goes with the last operation that holds it.
                *self
                    .store
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Store::Mysql(pool);
                if size == asked {
                    return Ok(Reconfigured::Accepted);
                }
                let mut amended = new.clone();
                amended[POOL_SIZE.name()] = Value::from(size);
                Ok(Reconfigured::Amended(amended))
            }
            (Store::Mysql(_), BackendConfig::Sqlite { .. }) => Err(Error::internal(
                "sqlfs: a MySQL mount was given a SQLite config in place",
            )),
        }
    }
}
