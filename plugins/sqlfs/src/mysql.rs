//! The `mysql`/`tidb` backend through mysql_async: every operation is one transaction. Write
//! transactions run READ COMMITTED (the shared pool setup) and lock the rows they read
//! (`FOR UPDATE`); a transaction picked as a deadlock victim is retried whole. Read transactions
//! run REPEATABLE READ from a consistent snapshot, so a read never mixes a node row and chunk rows
//! from either side of a concurrent commit.

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{Error, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{IsolationLevel, Pool, Transaction, TxOpts};

use super::ops::Operation;
use super::stream;
use super::tx::{Node, Tx, below_range};
use pfs_sql::mysql::{DEADLOCK_RETRIES, ER_DUP_ENTRY, MysqlConfig, is_deadlock};

pub(crate) const LABEL: &str = "sqlfs mysql";

/// Paths are `VARBINARY` (byte order, no PAD SPACE collation), the chunk table is keyed by file
/// id so a rename never touches content.
const NODES_TABLE: &str = "CREATE TABLE IF NOT EXISTS sqlfs_nodes (
    id BIGINT NOT NULL AUTO_INCREMENT,
    path VARBINARY(3072) NOT NULL,
    parent VARBINARY(3072) NULL,
    is_dir TINYINT NOT NULL,
    mode INT UNSIGNED NOT NULL,
    size BIGINT UNSIGNED NOT NULL DEFAULT 0,
    mtime_ns BIGINT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY sqlfs_nodes_path (path),
    KEY sqlfs_nodes_parent (parent(255))
) ENGINE=InnoDB";
const CHUNKS_TABLE: &str = "CREATE TABLE IF NOT EXISTS sqlfs_chunks (
    file_id BIGINT NOT NULL,
    idx BIGINT UNSIGNED NOT NULL,
    data MEDIUMBLOB NOT NULL,
    PRIMARY KEY (file_id, idx)
) ENGINE=InnoDB";
const ROOT: &str = "INSERT IGNORE INTO sqlfs_nodes (path, parent, is_dir, mode, size, mtime_ns) \
                    VALUES ('/', NULL, 1, 493, 0, 0)";

/// The one mysql_async → typed error mapping of sqlfs.
pub(crate) fn map_mysql_error(e: mysql_async::Error) -> Error {
    pfs_sql::mysql::map_error(LABEL, e)
}

/// Connects (a pool of at most `max_connections`), creates the database when missing, the tables
/// and the root directory.
///
/// # Errors
/// `Unavailable` when the server cannot be reached, `PermissionDenied` for refused credentials.
pub(crate) async fn open(cfg: &MysqlConfig, max_connections: usize) -> Result<Pool> {
    let ddl = [NODES_TABLE, CHUNKS_TABLE, ROOT];
    let pool = pfs_sql::mysql::open_pool_with(cfg, "sqlfs", &ddl, max_connections).await?;
    sweep_staged(&pool, stream::sweep_bound()).await?;
    Ok(pool)
}

/// Inserts one staged chunk row, autocommitted; `false` when `id` is taken (a row `(id, idx)` or
/// a node `id` exists).
pub(crate) async fn stage(pool: &Pool, id: i64, idx: u64, data: Bytes) -> Result<bool> {
    let mut conn = pool.get_conn().await.map_err(map_mysql_error)?;
    let r = conn
        .exec_drop(
            "INSERT INTO sqlfs_chunks (file_id, idx, data) SELECT ?, ?, ? FROM DUAL \
             WHERE NOT EXISTS (SELECT 1 FROM sqlfs_nodes WHERE id = ?)",
            (id, idx, &data[..], id),
        )
        .await;
    match r {
        Ok(()) => Ok(conn.affected_rows() == 1),
        Err(mysql_async::Error::Server(e)) if e.code == ER_DUP_ENTRY => Ok(false),
        Err(e) => Err(map_mysql_error(e)),
    }
}

/// Deletes the rows staged under `id`, unless a node took them (its commit did go through).
pub(crate) async fn discard_staged(pool: &Pool, id: i64) -> Result<()> {
    let mut conn = pool.get_conn().await.map_err(map_mysql_error)?;
    conn.exec_drop(
        "DELETE FROM sqlfs_chunks WHERE file_id = ? \
         AND NOT EXISTS (SELECT 1 FROM sqlfs_nodes WHERE id = ?)",
        (id, id),
    )
    .await
    .map_err(map_mysql_error)
}

/// Deletes the staged rows no node took whose id is in `(bound, 0)`: uploads started before the
/// time `bound` encodes (see [`stream::sweep_bound`]). Returns how many rows went.
pub(crate) async fn sweep_staged(pool: &Pool, bound: i64) -> Result<u64> {
    let mut conn = pool.get_conn().await.map_err(map_mysql_error)?;
    conn.exec_drop(
        "DELETE FROM sqlfs_chunks WHERE file_id > ? AND file_id < 0 \
         AND file_id NOT IN (SELECT id FROM sqlfs_nodes WHERE id > ? AND id < 0)",
        (bound, bound),
    )
    .await
    .map_err(map_mysql_error)?;
    Ok(conn.affected_rows())
}

/// Chunk rows that belong to no node: uploads in progress or leaked.
#[cfg(test)]
pub(crate) async fn orphan_chunks(pool: &Pool) -> Result<u64> {
    let mut conn = pool.get_conn().await.map_err(map_mysql_error)?;
    let n: Option<u64> = conn
        .query_first(
            "SELECT COUNT(*) FROM sqlfs_chunks WHERE file_id NOT IN (SELECT id FROM sqlfs_nodes)",
        )
        .await
        .map_err(map_mysql_error)?;
    Ok(n.unwrap_or(0))
}

/// Runs `op` in one transaction, retrying deadlock victims; `fail_before_commit` (tests) rolls
/// back instead of committing.
pub(crate) async fn run<O: Operation>(
    pool: &Pool,
    op: &O,
    fail_before_commit: bool,
) -> Result<O::Output> {
    let mut attempt = 0;
    let mut opts = TxOpts::default();
    if !O::WRITES {
        opts.with_isolation_level(IsolationLevel::RepeatableRead)
            .with_consistent_snapshot(true);
    }
    loop {
        let tx = pool
            .start_transaction(opts.clone())
            .await
            .map_err(map_mysql_error)?;
        let mut t = MysqlTx {
            tx,
            lock: O::WRITES,
            deadlock: false,
        };
        let result = op.apply(&mut t, "mysql").await;
        let result = result.and_then(|out| {
            if fail_before_commit {
                Err(Error::internal("sqlfs: injected failure before commit"))
            } else {
                Ok(out)
            }
        });
        match result {
            Ok(out) => match t.tx.commit().await {
                Ok(()) => return Ok(out),
                Err(e) if is_deadlock(&e) && attempt < DEADLOCK_RETRIES => attempt += 1,
                Err(e) => return Err(map_mysql_error(e)),
            },
            Err(e) => {
                let deadlock = t.deadlock;
                let _ = t.tx.rollback().await;
                if deadlock && attempt < DEADLOCK_RETRIES {
                    attempt += 1;
                } else {
                    return Err(e);
                }
            }
        }
    }
}

struct MysqlTx {
    tx: Transaction<'static>,
    /// Lock the node rows read (write transactions).
    lock: bool,
    /// A statement failed as a deadlock victim: the whole transaction may be retried.
    deadlock: bool,
}

impl MysqlTx {
    fn map(&mut self, e: mysql_async::Error) -> Error {
        if is_deadlock(&e) {
            self.deadlock = true;
        }
        map_mysql_error(e)
    }
}

type Row = (i64, i64, u32, u64, i64);

fn node_of((id, is_dir, mode, size, mtime_ns): Row) -> Node {
    Node {
        id,
        is_dir: is_dir != 0,
        mode,
        size,
        mtime_ns,
    }
}

#[async_trait]
impl Tx for MysqlTx {
    async fn node(&mut self, path: &str) -> Result<Option<Node>> {
        let sql = if self.lock {
            "SELECT id, is_dir, mode, size, mtime_ns FROM sqlfs_nodes WHERE path = ? FOR UPDATE"
        } else {
            "SELECT id, is_dir, mode, size, mtime_ns FROM sqlfs_nodes WHERE path = ?"
        };
        match self
            .tx
            .exec_first::<Row, _, _>(sql, (path.as_bytes(),))
            .await
        {
            Ok(r) => Ok(r.map(node_of)),
            Err(e) => Err(self.map(e)),
        }
    }

    async fn insert(
        &mut self,
        path: &str,
        parent: &str,
        is_dir: bool,
        mode: u32,
        now: i64,
    ) -> Result<i64> {
        let r = self
            .tx
            .exec_drop(
                "INSERT INTO sqlfs_nodes (path, parent, is_dir, mode, size, mtime_ns) \
                 VALUES (?, ?, ?, ?, 0, ?)",
                (
                    path.as_bytes(),
                    parent.as_bytes(),
                    i64::from(is_dir),
                    mode,
                    now,
                ),
            )
            .await;
        match r {
            Ok(()) => self
                .tx
                .last_insert_id()
                .and_then(|id| i64::try_from(id).ok())
                .ok_or_else(|| Error::internal("sqlfs mysql: no insert id")),
            Err(e) => Err(self.map(e)),
        }
    }

    async fn set_size(&mut self, id: i64, size: u64, now: i64) -> Result<()> {
        let r = self
            .tx
            .exec_drop(
                "UPDATE sqlfs_nodes SET size = ?, mtime_ns = ? WHERE id = ?",
                (size, now, id),
            )
            .await;
        r.map_err(|e| self.map(e))
    }

    async fn set_mode(&mut self, id: i64, mode: u32) -> Result<()> {
        let r = self
            .tx
            .exec_drop("UPDATE sqlfs_nodes SET mode = ? WHERE id = ?", (mode, id))
            .await;
        r.map_err(|e| self.map(e))
    }

    async fn chunk(&mut self, id: i64, idx: u64) -> Result<Option<Vec<u8>>> {
        let r = self
            .tx
            .exec_first(
                "SELECT data FROM sqlfs_chunks WHERE file_id = ? AND idx = ?",
                (id, idx),
            )
            .await;
        r.map_err(|e| self.map(e))
    }

    async fn chunks(&mut self, id: i64, lo: u64, hi: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        let r = self
            .tx
            .exec(
                "SELECT idx, data FROM sqlfs_chunks WHERE file_id = ? AND idx >= ? AND idx < ? \
                 ORDER BY idx",
                (id, lo, hi),
            )
            .await;
        r.map_err(|e| self.map(e))
    }

    async fn put_chunk(&mut self, id: i64, idx: u64, data: &[u8]) -> Result<()> {
        let r = self
            .tx
            .exec_drop(
                "REPLACE INTO sqlfs_chunks (file_id, idx, data) VALUES (?, ?, ?)",
                (id, idx, data),
            )
            .await;
        r.map_err(|e| self.map(e))
    }

    async fn delete_chunks_from(&mut self, id: i64, from: u64) -> Result<()> {
        let r = self
            .tx
            .exec_drop(
                "DELETE FROM sqlfs_chunks WHERE file_id = ? AND idx >= ?",
                (id, from),
            )
            .await;
        r.map_err(|e| self.map(e))
    }

    async fn delete_node(&mut self, id: i64) -> Result<()> {
        let mut r = self
            .tx
            .exec_drop("DELETE FROM sqlfs_chunks WHERE file_id = ?", (id,))
            .await;
        if r.is_ok() {
            r = self
                .tx
                .exec_drop("DELETE FROM sqlfs_nodes WHERE id = ?", (id,))
                .await;
        }
        r.map_err(|e| self.map(e))
    }

    async fn children(&mut self, dir: &str) -> Result<Vec<(String, Node)>> {
        let r = self
            .tx
            .exec::<(Vec<u8>, i64, i64, u32, u64, i64), _, _>(
                "SELECT path, id, is_dir, mode, size, mtime_ns FROM sqlfs_nodes WHERE parent = ?",
                (dir.as_bytes(),),
            )
            .await;
        let rows = r.map_err(|e| self.map(e))?;
        Ok(rows
            .into_iter()
            .map(|(p, id, d, m, s, t)| {
                (
                    String::from_utf8_lossy(&p).into_owned(),
                    node_of((id, d, m, s, t)),
                )
            })
            .collect())
    }

    async fn has_children(&mut self, dir: &str) -> Result<bool> {
        let r = self
            .tx
            .exec_first::<i64, _, _>(
                "SELECT 1 FROM sqlfs_nodes WHERE parent = ? LIMIT 1",
                (dir.as_bytes(),),
            )
            .await;
        r.map(|o| o.is_some()).map_err(|e| self.map(e))
    }

    async fn delete_below(&mut self, dir: &str) -> Result<()> {
        let (lo, hi) = below_range(dir);
        let mut r = self
            .tx
            .exec_drop(
                "DELETE c FROM sqlfs_chunks c JOIN sqlfs_nodes n ON c.file_id = n.id \
                 WHERE n.path > ? AND n.path < ?",
                (lo.as_bytes(), hi.as_bytes()),
            )
            .await;
        if r.is_ok() {
            r = self
                .tx
                .exec_drop(
                    "DELETE FROM sqlfs_nodes WHERE path > ? AND path < ?",
                    (lo.as_bytes(), hi.as_bytes()),
                )
                .await;
        }
        r.map_err(|e| self.map(e))
    }

    async fn move_node(&mut self, id: i64, to: &str, parent: &str) -> Result<()> {
        let r = self
            .tx
            .exec_drop(
                "UPDATE sqlfs_nodes SET path = ?, parent = ? WHERE id = ?",
                (to.as_bytes(), parent.as_bytes(), id),
            )
            .await;
        r.map_err(|e| self.map(e))
    }

    async fn move_below(&mut self, from: &str, to: &str) -> Result<()> {
        let (lo, hi) = below_range(from);
        // SUBSTRING of VARBINARY counts bytes.
        let start = from.len() as u64 + 1;
        let r = self
            .tx
            .exec_drop(
                "UPDATE sqlfs_nodes SET path = CONCAT(?, SUBSTRING(path, ?)), \
                 parent = CASE WHEN parent = ? THEN ? ELSE CONCAT(?, SUBSTRING(parent, ?)) END \
                 WHERE path > ? AND path < ?",
                (
                    to.as_bytes(),
                    start,
                    from.as_bytes(),
                    to.as_bytes(),
                    to.as_bytes(),
                    start,
                    lo.as_bytes(),
                    hi.as_bytes(),
                ),
            )
            .await;
        r.map_err(|e| self.map(e))
    }

    async fn chunk_count(&mut self, id: i64) -> Result<u64> {
        // Locked, so a concurrent discard of the staged rows waits for this commit and then
        // finds them taken.
        let r = self
            .tx
            .exec_first::<u64, _, _>(
                "SELECT COUNT(*) FROM sqlfs_chunks WHERE file_id = ? FOR UPDATE",
                (id,),
            )
            .await;
        r.map(Option::unwrap_or_default).map_err(|e| self.map(e))
    }

    async fn renumber(&mut self, id: i64, new_id: i64) -> Result<()> {
        let r = self
            .tx
            .exec_drop("UPDATE sqlfs_nodes SET id = ? WHERE id = ?", (new_id, id))
            .await;
        r.map_err(|e| self.map(e))
    }
}
