//! The `sqlite` backend: every queue in one SQLite file (WAL), one message table keyed by queue
//! name. All SQL runs on the pool's connection threads ([`Pool`]), never on the async threads.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, params};

use pfs_sql::sqlite::Pool;

use super::{Backend, Message, QueueStat, from_nanos, to_nanos, wall_now, with_ancestors};
use crate::limits::queue_full;

const LABEL: &str = "queuefs sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queuefs_queues (
    name TEXT PRIMARY KEY,
    created_ns INTEGER NOT NULL,
    last_enqueue_ns INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queuefs_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    data BLOB NOT NULL,
    ts_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queuefs_messages_queue_seq ON queuefs_messages (queue, seq);
";

/// `[prefix/, prefix0)`: the name range of every queue strictly below `queue` ('0' follows '/').
fn below_range(queue: &str) -> (String, String) {
    (format!("{queue}/"), format!("{queue}0"))
}

fn row_message(id: String, data: Vec<u8>, ts: i64) -> Message {
    Message {
        id,
        data: Bytes::from(data),
        timestamp: from_nanos(ts),
    }
}

/// Queues in a SQLite database file.
#[derive(Debug)]
pub(crate) struct SqliteBackend {
    pool: Arc<Pool>,
}

impl SqliteBackend {
    /// Opens (creating when missing) the database at `path` and its tables.
    ///
    /// # Errors
    /// As [`pfs_sql::sqlite::open_database`]: `InvalidArgument` when the file cannot be
    /// opened (a missing directory, not a database).
    pub(crate) async fn open(path: &Path) -> Result<Self> {
        let pool =
            pfs_sql::sqlite::open_database(path, LABEL, |conn| conn.execute_batch(SCHEMA)).await?;
        Ok(SqliteBackend { pool })
    }
}

/// Inserts `queue` and its ancestors when missing (inside the caller's transaction).
fn ensure_queue(tx: &Connection, queue: &str, now: i64) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO queuefs_queues (name, created_ns) VALUES (?1, ?2)",
    )?;
    for name in with_ancestors(queue) {
        stmt.execute(params![name, now])?;
    }
    Ok(())
}

#[async_trait]
impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn create_queue(&self, queue: &str) -> Result<()> {
        let queue = queue.to_string();
        let now = to_nanos(wall_now());
        self.pool
            .run(move |conn| ensure_queue(conn, &queue, now))
            .await
    }

    async fn stat(&self, queue: &str) -> Result<Option<QueueStat>> {
        let queue = queue.to_string();
        self.pool
            .read(move |conn| {
                // One read transaction: the counters and the size come from the same snapshot.
                let tx = conn.transaction()?;
                let row = tx
                    .prepare_cached(
                        "SELECT created_ns, last_enqueue_ns FROM queuefs_queues WHERE name = ?1",
                    )?
                    .query_row(params![queue], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?))
                    })
                    .optional()?;
                let Some((created, last)) = row else {
                    return Ok(None);
                };
                let size: i64 = tx
                    .prepare_cached("SELECT COUNT(*) FROM queuefs_messages WHERE queue = ?1")?
                    .query_row(params![queue], |r| r.get(0))?;
                Ok(Some(QueueStat {
                    size: u64::try_from(size).unwrap_or(0),
                    created: from_nanos(created),
                    last_enqueue: last.map(from_nanos),
                }))
            })
            .await
    }

    async fn enqueue(
        &self,
        queue: &str,
        msg: Message,
        sync: bool,
        max_len: Option<u64>,
    ) -> Result<()> {
        let queue = queue.to_string();
        // `sync`: the pool fsyncs the commit that holds this message before answering.
        self.pool
            .write(sync, move |conn| {
                let ts = to_nanos(msg.timestamp);
                // Counted in the write transaction, which holds SQLite's write lock: no other
                // enqueue, here or in another process on the file, runs between count and insert.
                if let Some(max) = max_len {
                    let held: i64 = conn
                        .prepare_cached("SELECT COUNT(*) FROM queuefs_messages WHERE queue = ?1")
                        .and_then(|mut s| s.query_row(params![queue], |r| r.get(0)))
                        .map_err(|e| pfs_sql::sqlite::map_error(LABEL, e))?;
                    if u64::try_from(held).unwrap_or(0) >= max {
                        return Err(queue_full(&queue, max));
                    }
                }
                (|| {
                    ensure_queue(conn, &queue, ts)?;
                    conn.prepare_cached(
                        "UPDATE queuefs_queues SET last_enqueue_ns = ?2 WHERE name = ?1",
                    )?
                    .execute(params![queue, ts])?;
                    conn.prepare_cached(
                        "INSERT INTO queuefs_messages (queue, id, data, ts_ns) VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![queue, msg.id, &msg.data[..], ts])
                    .map(drop)
                })()
                .map_err(|e| pfs_sql::sqlite::map_error(LABEL, e))
            })
            .await
    }

    async fn dequeue(&self, queue: &str) -> Result<Option<Message>> {
        let queue = queue.to_string();
        self.pool
            .run(move |conn| {
                // One statement selects and deletes the head: two consumers (threads or servers on
                // the same file) can never both get it, and the row is reclaimed at once.
                conn.prepare_cached(
                    "DELETE FROM queuefs_messages WHERE seq = \
                     (SELECT seq FROM queuefs_messages WHERE queue = ?1 ORDER BY seq LIMIT 1) \
                     RETURNING id, data, ts_ns",
                )?
                .query_row(params![queue], |r| {
                    Ok(row_message(r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            })
            .await
    }

    async fn peek(&self, queue: &str) -> Result<Option<Message>> {
        let queue = queue.to_string();
        self.pool
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT id, data, ts_ns FROM queuefs_messages WHERE queue = ?1 \
                     ORDER BY seq LIMIT 1",
                )?
                .query_row(params![queue], |r| {
                    Ok(row_message(r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            })
            .await
    }

    async fn clear(&self, queue: &str) -> Result<()> {
        let queue = queue.to_string();
        self.pool
            .run(move |conn| {
                conn.prepare_cached("DELETE FROM queuefs_messages WHERE queue = ?1")?
                    .execute(params![queue])
                    .map(drop)
            })
            .await
    }

    async fn children(&self, parent: &str) -> Result<Vec<String>> {
        let parent = parent.to_string();
        self.pool
            .read(move |conn| {
                if parent.is_empty() {
                    let mut stmt = conn.prepare_cached(
                        "SELECT name FROM queuefs_queues WHERE instr(name, '/') = 0 ORDER BY name",
                    )?;
                    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                    return rows.collect();
                }
                let (lo, hi) = below_range(&parent);
                let mut stmt = conn.prepare_cached(
                    "SELECT name FROM queuefs_queues WHERE name >= ?1 AND name < ?2 ORDER BY name",
                )?;
                let rows = stmt.query_map(params![lo, hi], |r| r.get::<_, String>(0))?;
                let mut out = Vec::new();
                for name in rows {
                    let name = name?;
                    let rest = &name[lo.len()..];
                    if !rest.contains('/') {
                        out.push(rest.to_string());
                    }
                }
                Ok(out)
            })
            .await
    }

    async fn remove_queue(&self, queue: &str, recursive: bool) -> Result<()> {
        #[derive(Debug)]
        enum Outcome {
            Removed,
            Missing,
            NotEmpty,
        }
        let q = queue.to_string();
        let outcome = self
            .pool
            .run(move |tx| {
                let exists = tx
                    .prepare_cached("SELECT 1 FROM queuefs_queues WHERE name = ?1")?
                    .exists(params![q])?;
                if !exists {
                    return Ok(Outcome::Missing);
                }
                let (lo, hi) = below_range(&q);
                if !recursive {
                    let busy = tx
                        .prepare_cached(
                            "SELECT EXISTS (SELECT 1 FROM queuefs_messages WHERE queue = ?1) \
                             OR EXISTS (SELECT 1 FROM queuefs_queues WHERE name >= ?2 AND name < ?3)",
                        )?
                        .query_row(params![q, lo, hi], |r| r.get::<_, bool>(0))?;
                    if busy {
                        return Ok(Outcome::NotEmpty);
                    }
                }
                tx.prepare_cached(
                    "DELETE FROM queuefs_messages WHERE queue = ?1 OR (queue >= ?2 AND queue < ?3)",
                )?
                .execute(params![q, lo, hi])?;
                tx.prepare_cached(
                    "DELETE FROM queuefs_queues WHERE name = ?1 OR (name >= ?2 AND name < ?3)",
                )?
                .execute(params![q, lo, hi])?;
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
        self.pool
            .run(|conn| {
                conn.execute("DELETE FROM queuefs_messages", [])?;
                conn.execute("DELETE FROM queuefs_queues", []).map(drop)
            })
            .await
    }
}
