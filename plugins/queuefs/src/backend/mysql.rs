//! The `mysql` and `tidb` backends: every queue in one MySQL/MariaDB/TiDB database through
//! mysql_async, one message table keyed by queue name, dequeue by `FOR UPDATE SKIP LOCKED`.

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{Error, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Pool, TxOpts};

pub(crate) use pfs_sql::mysql::{Flavor, MysqlConfig};

use super::{Backend, Message, QueueStat, from_nanos, to_nanos, wall_now, with_ancestors};
use crate::limits::queue_full;

/// The database used when neither `database` nor the DSN names one (AGFS's default).
pub(crate) const DEFAULT_DATABASE: &str = "queuedb";
/// The longest queue name in bytes: the primary key of `queuefs_queues` (InnoDB and TiDB allow
/// 3072-byte keys).
const MAX_NAME_BYTES: usize = 3072;

/// Names are `VARBINARY`, not `utf8mb4_bin` text: utf8mb4_bin is a PAD SPACE collation on MariaDB
/// and TiDB, so `a` and `a ` would be one key. Messages are indexed by a 64-bit hash of the name
/// (a name plus `seq` would not fit in 3072 bytes); every query also compares the full name.
const QUEUES_TABLE: &str = "CREATE TABLE IF NOT EXISTS queuefs_queues (
    name VARBINARY(3072) NOT NULL,
    created_ns BIGINT NOT NULL,
    last_enqueue_ns BIGINT NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
const MESSAGES_TABLE: &str = "CREATE TABLE IF NOT EXISTS queuefs_messages (
    seq BIGINT NOT NULL AUTO_INCREMENT,
    queue_hash BIGINT NOT NULL,
    queue VARBINARY(3072) NOT NULL,
    id VARCHAR(64) NOT NULL,
    data LONGBLOB NOT NULL,
    ts_ns BIGINT NOT NULL,
    PRIMARY KEY (seq),
    KEY queuefs_messages_queue_seq (queue_hash, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
/// TiDB only: each TiDB server caches its own AUTO_INCREMENT range, so `seq` would not follow
/// commit order across servers; `AUTO_ID_CACHE=1` makes it one global sequence (TiDB ≥ 6.4).
const TIDB_MESSAGES_SUFFIX: &str = " AUTO_ID_CACHE=1";

/// Reads a config already checked by `check_config`, defaulting the database to `queuedb`.
///
/// # Errors
/// As [`MysqlConfig::from_config_with_default`].
#[cfg(test)]
pub(crate) fn config_from(flavor: Flavor, config: &serde_json::Value) -> Result<MysqlConfig> {
    MysqlConfig::from_config_with_default(flavor, config, DEFAULT_DATABASE)
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::invalid_argument(msg.into())
}

fn map_mysql_error(e: mysql_async::Error) -> Error {
    pfs_sql::mysql::map_error("queuefs mysql", e)
}

/// Runs `op` (one whole transaction) again when the server picked it as a deadlock victim.
async fn retry<T, F, Fut>(op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = mysql_async::Result<T>>,
{
    pfs_sql::mysql::retry("queuefs mysql", op).await
}

/// FNV-1a of the queue name: the index key of `queuefs_messages` (collisions only cost a scan).
fn name_hash(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

/// `[prefix/, prefix0)`: the name range of every queue strictly below `queue` ('0' follows '/').
fn below_range(queue: &str) -> (String, String) {
    (format!("{queue}/"), format!("{queue}0"))
}

fn check_name(queue: &str) -> Result<()> {
    if queue.len() > MAX_NAME_BYTES {
        return Err(invalid(format!(
            "queue name too long: {} bytes (at most {MAX_NAME_BYTES} with the mysql/tidb backends)",
            queue.len()
        )));
    }
    Ok(())
}

type Row = (String, Vec<u8>, i64);

fn row_message((id, data, ts): Row) -> Message {
    Message {
        id,
        data: Bytes::from(data),
        timestamp: from_nanos(ts),
    }
}

/// Queues in a MySQL, MariaDB or TiDB database.
#[derive(Debug)]
pub(crate) struct MysqlBackend {
    flavor: Flavor,
    pool: Pool,
}

impl MysqlBackend {
    /// Connects, creates the database when it does not exist, then the tables.
    ///
    /// # Errors
    /// `Unavailable` when the server cannot be reached, `PermissionDenied` when it refuses the
    /// credentials, `Internal` for other server errors.
    pub(crate) async fn open(cfg: &MysqlConfig) -> Result<Self> {
        let messages = match cfg.flavor {
            Flavor::Mysql => MESSAGES_TABLE.to_string(),
            Flavor::Tidb => format!("{MESSAGES_TABLE}{TIDB_MESSAGES_SUFFIX}"),
        };
        let pool =
            pfs_sql::mysql::open_pool(cfg, "queuefs", &[QUEUES_TABLE, messages.as_str()]).await?;
        Ok(MysqlBackend {
            flavor: cfg.flavor,
            pool,
        })
    }

    async fn conn(&self) -> mysql_async::Result<mysql_async::Conn> {
        self.pool.get_conn().await
    }

    /// Inserts `queue`'s missing ancestors and `queue` itself, locking their rows until commit
    /// (shortest first, the same order everywhere, so two enqueues never deadlock on them).
    async fn ensure_queue(
        tx: &mut mysql_async::Transaction<'_>,
        queue: &str,
        now: i64,
        last_enqueue: Option<i64>,
    ) -> mysql_async::Result<()> {
        for name in with_ancestors(queue) {
            if let (true, Some(ts)) = (name.len() == queue.len(), last_enqueue) {
                tx.exec_drop(
                    "INSERT INTO queuefs_queues (name, created_ns, last_enqueue_ns) \
                         VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE last_enqueue_ns = ?",
                    (name, now, ts, ts),
                )
                .await?;
                continue;
            }
            tx.exec_drop(
                "INSERT INTO queuefs_queues (name, created_ns) VALUES (?, ?) \
                 ON DUPLICATE KEY UPDATE name = name",
                (name, now),
            )
            .await?;
        }
        Ok(())
    }

    async fn dequeue_once(&self, queue: &str) -> mysql_async::Result<Option<Message>> {
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        // SKIP LOCKED: a head row another consumer (here or on another server) holds is passed
        // over, so consumers never wait on each other and no row is returned twice.
        let head: Option<(i64, String, Vec<u8>, i64)> = tx
            .exec_first(
                "SELECT seq, id, data, ts_ns FROM queuefs_messages \
                 WHERE queue_hash = ? AND queue = ? ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED",
                (name_hash(queue), queue),
            )
            .await?;
        let Some((seq, id, data, ts)) = head else {
            tx.rollback().await?;
            return Ok(None);
        };
        tx.exec_drop("DELETE FROM queuefs_messages WHERE seq = ?", (seq,))
            .await?;
        tx.commit().await?;
        Ok(Some(row_message((id, data, ts))))
    }
}

#[async_trait]
impl Backend for MysqlBackend {
    fn name(&self) -> &'static str {
        match self.flavor {
            Flavor::Mysql => "mysql",
            Flavor::Tidb => "tidb",
        }
    }

    async fn create_queue(&self, queue: &str) -> Result<()> {
        check_name(queue)?;
        retry(|| async move {
            let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
            Self::ensure_queue(&mut tx, queue, to_nanos(wall_now()), None).await?;
            tx.commit().await
        })
        .await
    }

    async fn stat(&self, queue: &str) -> Result<Option<QueueStat>> {
        let row: Option<(i64, Option<i64>, i64)> = async {
            // One statement: the counters and the size come from the same snapshot.
            self.conn()
                .await?
                .exec_first(
                    "SELECT q.created_ns, q.last_enqueue_ns, \
                     (SELECT COUNT(*) FROM queuefs_messages m \
                      WHERE m.queue_hash = ? AND m.queue = q.name) \
                     FROM queuefs_queues q WHERE q.name = ?",
                    (name_hash(queue), queue),
                )
                .await
        }
        .await
        .map_err(map_mysql_error)?;
        Ok(row.map(|(created, last, size)| QueueStat {
            size: u64::try_from(size).unwrap_or(0),
            created: from_nanos(created),
            last_enqueue: last.map(from_nanos),
        }))
    }

    async fn enqueue(
        &self,
        queue: &str,
        msg: Message,
        _sync: bool,
        max_len: Option<u64>,
    ) -> Result<()> {
        // A commit is durable on the server per its own settings (InnoDB's default flushes the
        // redo log at every commit), so `sync` asks for nothing more here.
        check_name(queue)?;
        let ts = to_nanos(msg.timestamp);
        let msg = &msg;
        let enqueued = retry(|| async move {
            let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
            Self::ensure_queue(&mut tx, queue, ts, Some(ts)).await?;
            // The upsert above holds the queue's row lock until commit, so enqueues to one queue
            // (on any server) count one after another, each seeing the others' committed rows.
            if let Some(max) = max_len {
                let held: Option<i64> = tx
                    .exec_first(
                        "SELECT COUNT(*) FROM queuefs_messages WHERE queue_hash = ? AND queue = ?",
                        (name_hash(queue), queue),
                    )
                    .await?;
                if u64::try_from(held.unwrap_or(0)).unwrap_or(0) >= max {
                    tx.rollback().await?;
                    return Ok(false);
                }
            }
            tx.exec_drop(
                "INSERT INTO queuefs_messages (queue_hash, queue, id, data, ts_ns) \
                 VALUES (?, ?, ?, ?, ?)",
                (name_hash(queue), queue, &msg.id, &msg.data[..], ts),
            )
            .await?;
            tx.commit().await.map(|()| true)
        })
        .await?;
        match (enqueued, max_len) {
            (false, Some(max)) => Err(queue_full(queue, max)),
            _ => Ok(()),
        }
    }

    async fn dequeue(&self, queue: &str) -> Result<Option<Message>> {
        retry(|| self.dequeue_once(queue)).await
    }

    async fn peek(&self, queue: &str) -> Result<Option<Message>> {
        let row: Option<Row> = async {
            self.conn()
                .await?
                .exec_first(
                    "SELECT id, data, ts_ns FROM queuefs_messages \
                     WHERE queue_hash = ? AND queue = ? ORDER BY seq LIMIT 1",
                    (name_hash(queue), queue),
                )
                .await
        }
        .await
        .map_err(map_mysql_error)?;
        Ok(row.map(row_message))
    }

    async fn clear(&self, queue: &str) -> Result<()> {
        retry(|| async move {
            self.conn()
                .await?
                .exec_drop(
                    "DELETE FROM queuefs_messages WHERE queue_hash = ? AND queue = ?",
                    (name_hash(queue), queue),
                )
                .await
        })
        .await
    }

    async fn children(&self, parent: &str) -> Result<Vec<String>> {
        async {
            let mut conn = self.conn().await?;
            if parent.is_empty() {
                return conn
                    .query(
                        "SELECT name FROM queuefs_queues WHERE LOCATE('/', name) = 0 ORDER BY name",
                    )
                    .await;
            }
            let (lo, hi) = below_range(parent);
            let names: Vec<String> = conn
                .exec(
                    "SELECT name FROM queuefs_queues WHERE name >= ? AND name < ? ORDER BY name",
                    (&lo, &hi),
                )
                .await?;
            Ok(names
                .into_iter()
                .filter_map(|n| {
                    let rest = &n[lo.len()..];
                    (!rest.contains('/')).then(|| rest.to_string())
                })
                .collect())
        }
        .await
        .map_err(map_mysql_error)
    }

    async fn remove_queue(&self, queue: &str, recursive: bool) -> Result<()> {
        #[derive(Debug)]
        enum Outcome {
            Removed,
            Missing,
            NotEmpty,
        }
        let outcome = retry(|| async move {
            let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
            let (lo, hi) = below_range(queue);
            // Queue rows first, as enqueue does, so the two never lock in opposite orders.
            let names: Vec<String> = tx
                .exec(
                    "SELECT name FROM queuefs_queues \
                     WHERE name = ? OR (name >= ? AND name < ?) ORDER BY name FOR UPDATE",
                    (queue, &lo, &hi),
                )
                .await?;
            if !names.iter().any(|n| n == queue) {
                tx.rollback().await?;
                return Ok(Outcome::Missing);
            }
            if !recursive {
                let has_message: Option<i64> = tx
                    .exec_first(
                        "SELECT 1 FROM queuefs_messages WHERE queue_hash = ? AND queue = ? LIMIT 1",
                        (name_hash(queue), queue),
                    )
                    .await?;
                if names.len() > 1 || has_message.is_some() {
                    tx.rollback().await?;
                    return Ok(Outcome::NotEmpty);
                }
            }
            for name in &names {
                tx.exec_drop(
                    "DELETE FROM queuefs_messages WHERE queue_hash = ? AND queue = ?",
                    (name_hash(name), name),
                )
                .await?;
            }
            tx.exec_drop(
                "DELETE FROM queuefs_queues WHERE name = ? OR (name >= ? AND name < ?)",
                (queue, &lo, &hi),
            )
            .await?;
            tx.commit().await?;
            Ok(Outcome::Removed)
        })
        .await?;
        match outcome {
            Outcome::Removed => Ok(()),
            Outcome::Missing => Err(Error::not_found(format!("/{queue}"))),
            Outcome::NotEmpty => Err(Error::directory_not_empty(format!("/{queue}"))),
        }
    }

    async fn remove_all(&self) -> Result<()> {
        retry(|| async move {
            let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
            tx.query_drop("DELETE FROM queuefs_queues").await?;
            tx.query_drop("DELETE FROM queuefs_messages").await?;
            tx.commit().await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: serde_json::Value) -> Result<MysqlConfig> {
        config_from(Flavor::Mysql, &v)
    }

    #[test]
    fn from_config_go_dsn_parsed() {
        let c = cfg(
            json!({"dsn": "u:p@ss:w@tcp(db.example:3310)/jobs?charset=utf8mb4&parseTime=true"}),
        )
        .unwrap();
        assert_eq!(
            (
                c.host.as_str(),
                c.port,
                c.user.as_str(),
                c.password.as_deref()
            ),
            ("db.example", 3310, "u", Some("p@ss:w"))
        );
        assert_eq!(c.database, "jobs");
        let c = cfg(json!({"dsn": "root@unix(/run/mysqld.sock)/"})).unwrap();
        assert_eq!(c.socket.as_deref(), Some("/run/mysqld.sock"));
        assert_eq!(c.database, DEFAULT_DATABASE);
        let c = cfg(json!({"dsn": "u:p@tcp([::1])/q"})).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("::1", 3306));
        assert!(cfg(json!({"dsn": "no-slash"})).is_err());
    }

    #[test]
    fn from_config_url_dsn_and_keys() {
        let c = cfg(json!({"dsn": "mysql://pfs:secret@127.0.0.1:3307/pfs_test"})).unwrap();
        assert_eq!(
            (
                c.host.as_str(),
                c.port,
                c.user.as_str(),
                c.password.as_deref()
            ),
            ("127.0.0.1", 3307, "pfs", Some("secret"))
        );
        assert_eq!(c.database, "pfs_test");
        let c = cfg(json!({"host": "h", "port": 4001, "user": "u", "password": "pw"})).unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.database.as_str()),
            ("h", 4001, "queuedb")
        );
        let t = config_from(Flavor::Tidb, &json!({})).unwrap();
        assert_eq!(t.port, 4000);
        assert!(cfg(json!({"port": 70000})).is_err());
    }

    #[test]
    fn debug_hides_password() {
        let c = cfg(json!({"dsn": "mysql://pfs:hunter2@h:1/d"})).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<hidden>"), "{shown}");
    }

    #[test]
    fn name_hash_differs_for_similar_names() {
        assert_ne!(name_hash("a/b"), name_hash("a_b"));
        assert_eq!(name_hash("q"), name_hash("q"));
    }
}
