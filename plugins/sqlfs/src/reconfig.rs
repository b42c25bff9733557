//! A mounted sqlfs taking a new config in place: the size of its pool. Where the data is
//! (`backend`, `db_path`, the server, the credentials, the database, TLS) names another
//! filesystem: a remount.

use fs_core::config::check_live;
use fs_core::{Error, Reconfigured, Result};
use serde_json::Value;

use super::{BackendConfig, POOL_SIZE, SqlFs, Store, backend_config, pool_size};

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
            (Store::Mysql(current), BackendConfig::Mysql(cfg)) => {
                let label = super::mysql::LABEL;
                let server_max = pfs_sql::mysql::server_max_connections(&current, label)
                    .await
                    .map_err(|e| {
                        Error::invalid_argument(format!(
                            "cannot change 'pool_size': the server's max_connections is unknown ({}); the mount keeps its current config",
                            e.message()
                        ))
                    })?;
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
