//! The SQLite backend: one database file (WAL), run on the connection threads of the shared
//! [`Pool`](pfs_sql::sqlite::Pool). A write is one savepoint of the writer's group transaction,
//! a read one `BEGIN` transaction on a reader connection.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{Error, Result};
use futures_util::FutureExt;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::ops::Operation;
use super::stream;
use super::tx::{Node, Tx, below_range};
use pfs_sql::sqlite::{Pool, exec};

const LABEL: &str = "sqlfs sqlite";

/// sqlfs's SQLite tables and index (public for the benchmark's direct-rusqlite reference).
///
/// `sqlfs_chunks` is a rowid table (its key a separate index), not `WITHOUT ROWID`: in an index
/// B-tree a row of a 1 KiB chunk passes the ~1,000 bytes a 4 KiB page keeps in place, and SQLite
/// reads the overflow straight from the file, a `pread` on every read of the file once the page
/// is out of the WAL (sqlfs GETs at half speed after a burst of writes). A table row keeps up to
/// ~4,000 bytes in place and in the page cache. Databases made before keep their layout; the
/// statements are the same for both.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sqlfs_nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    parent TEXT,
    is_dir INTEGER NOT NULL,
    mode INTEGER NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    mtime_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sqlfs_nodes_parent ON sqlfs_nodes (parent);
CREATE TABLE IF NOT EXISTS sqlfs_chunks (
    file_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (file_id, idx)
);
";

/// The one SQLite → typed error mapping of sqlfs.
pub(crate) fn map_sqlite_error(e: rusqlite::Error) -> Error {
    pfs_sql::sqlite::map_error(LABEL, e)
}

/// Opens (creating when missing) the database and its tables and the root directory, with
/// `readers` reader connections.
///
/// # Errors
/// As [`pfs_sql::sqlite::open_database`]: `InvalidArgument` when the file cannot be opened.
pub(crate) async fn open(path: &Path, readers: usize) -> Result<Arc<Pool>> {
    let pool = pfs_sql::sqlite::open_database_with(path, LABEL, readers, |conn| {
        conn.execute_batch(SCHEMA)?;
        conn.execute(
            "INSERT OR IGNORE INTO sqlfs_nodes (path, parent, is_dir, mode, size, mtime_ns) \
             VALUES ('/', NULL, 1, 493, 0, 0)",
            [],
        )
        .map(drop)
    })
    .await?;
    sweep_staged(&pool, stream::sweep_bound()).await?;
    Ok(pool)
}

/// Inserts one staged chunk row, in a transaction of its own; `false` when `id` is taken (a row
/// `(id, idx)` or a node `id` exists).
pub(crate) async fn stage(pool: &Arc<Pool>, id: i64, idx: u64, data: Bytes) -> Result<bool> {
    pool.run_typed(move |conn| {
        let r = conn
            .prepare_cached(
                "INSERT INTO sqlfs_chunks (file_id, idx, data) SELECT ?1, ?2, ?3 \
                 WHERE NOT EXISTS (SELECT 1 FROM sqlfs_nodes WHERE id = ?1)",
            )
            .and_then(|mut s| s.execute(params![id, sz(idx), &data[..]]));
        match r {
            Ok(n) => Ok(n == 1),
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => Ok(false),
            Err(e) => Err(map_sqlite_error(e)),
        }
    })
    .await
}

/// Deletes the rows staged under `id`, unless a node took them (its commit did go through).
pub(crate) async fn discard_staged(pool: &Arc<Pool>, id: i64) -> Result<()> {
    pool.run(move |conn| {
        conn.prepare_cached(
            "DELETE FROM sqlfs_chunks WHERE file_id = ?1 \
             AND NOT EXISTS (SELECT 1 FROM sqlfs_nodes WHERE id = ?1)",
        )?
        .execute(params![id])
        .map(drop)
    })
    .await
}

/// Deletes the staged rows no node took whose id is in `(bound, 0)`: uploads started before the
/// time `bound` encodes (see [`stream::sweep_bound`]). Returns how many rows went.
pub(crate) async fn sweep_staged(pool: &Arc<Pool>, bound: i64) -> Result<u64> {
    pool.run(move |conn| {
        conn.execute(
            "DELETE FROM sqlfs_chunks WHERE file_id > ?1 AND file_id < 0 \
             AND file_id NOT IN (SELECT id FROM sqlfs_nodes WHERE id > ?1 AND id < 0)",
            params![bound],
        )
        .map(|n| n as u64)
    })
    .await
}

/// Chunk rows that belong to no node: uploads in progress or leaked.
#[cfg(test)]
pub(crate) async fn orphan_chunks(pool: &Arc<Pool>) -> Result<u64> {
    pool.run(|conn| {
        conn.query_row(
            "SELECT COUNT(*) FROM sqlfs_chunks WHERE file_id NOT IN (SELECT id FROM sqlfs_nodes)",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n as u64)
    })
    .await
}

/// Runs `op`: a write in the writer's group transaction (its own savepoint; the SYNC write flag
/// fsyncs the commit), a read in a transaction of its own on a reader connection, so it sees one
/// snapshot. `fail_before_commit` (tests) undoes the operation instead of keeping it.
pub(crate) async fn run<O: Operation>(
    pool: &Arc<Pool>,
    op: O,
    fail_before_commit: bool,
) -> Result<O::Output> {
    if O::WRITES {
        return pool
            .write(op.sync(), move |conn| apply(conn, &op, fail_before_commit))
            .await;
    }
    pool.read_typed(move |conn| {
        exec(conn, "BEGIN").map_err(map_sqlite_error)?;
        let out = apply(conn, &op, fail_before_commit);
        let ended = exec(conn, if out.is_ok() { "COMMIT" } else { "ROLLBACK" });
        match (out, ended) {
            (Ok(_), Err(e)) => {
                let _ = exec(conn, "ROLLBACK");
                Err(map_sqlite_error(e))
            }
            (out, _) => out,
        }
    })
    .await
}

/// The statements of `op`, in whatever transaction the connection is in.
fn apply<O: Operation>(
    conn: &mut Connection,
    op: &O,
    fail_before_commit: bool,
) -> Result<O::Output> {
    let mut tx = SqliteTx { conn };
    // Every statement is synchronous, so the future is ready on its first poll.
    let out = op
        .apply(&mut tx, "sqlite")
        .now_or_never()
        .unwrap_or_else(|| Err(Error::internal("sqlfs sqlite: operation did not complete")))?;
    if fail_before_commit {
        return Err(Error::internal("sqlfs: injected failure before commit"));
    }
    Ok(out)
}

struct SqliteTx<'a> {
    conn: &'a mut Connection,
}

type Row = (i64, bool, u32, i64, i64);

fn node_of((id, is_dir, mode, size, mtime_ns): Row) -> Node {
    Node {
        id,
        is_dir,
        mode,
        size: u64::try_from(size).unwrap_or(0),
        mtime_ns,
    }
}

fn row(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Row> {
    Ok((
        r.get(first)?,
        r.get(first + 1)?,
        r.get(first + 2)?,
        r.get(first + 3)?,
        r.get(first + 4)?,
    ))
}

fn sz(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[async_trait]
impl Tx for SqliteTx<'_> {
    async fn node(&mut self, path: &str) -> Result<Option<Node>> {
        self.conn
            .prepare_cached(
                "SELECT id, is_dir, mode, size, mtime_ns FROM sqlfs_nodes WHERE path = ?1",
            )
            .and_then(|mut s| s.query_row(params![path], |r| row(r, 0)).optional())
            .map(|r| r.map(node_of))
            .map_err(map_sqlite_error)
    }

    async fn insert(
        &mut self,
        path: &str,
        parent: &str,
        is_dir: bool,
        mode: u32,
        now: i64,
    ) -> Result<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO sqlfs_nodes (path, parent, is_dir, mode, size, mtime_ns) \
                 VALUES (?1, ?2, ?3, ?4, 0, ?5)",
            )
            .and_then(|mut s| s.execute(params![path, parent, is_dir, mode, now]))
            .map_err(map_sqlite_error)?;
        Ok(self.conn.last_insert_rowid())
    }

    async fn set_size(&mut self, id: i64, size: u64, now: i64) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE sqlfs_nodes SET size = ?2, mtime_ns = ?3 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id, sz(size), now]))
            .map(drop)
            .map_err(map_sqlite_error)
    }

    async fn set_mode(&mut self, id: i64, mode: u32) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE sqlfs_nodes SET mode = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id, mode]))
            .map(drop)
            .map_err(map_sqlite_error)
    }

    async fn chunk(&mut self, id: i64, idx: u64) -> Result<Option<Vec<u8>>> {
        self.conn
            .prepare_cached("SELECT data FROM sqlfs_chunks WHERE file_id = ?1 AND idx = ?2")
            .and_then(|mut s| s.query_row(params![id, sz(idx)], |r| r.get(0)).optional())
            .map_err(map_sqlite_error)
    }

    async fn chunks(&mut self, id: i64, lo: u64, hi: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        (|| {
            let mut s = self.conn.prepare_cached(
                "SELECT idx, data FROM sqlfs_chunks WHERE file_id = ?1 AND idx >= ?2 AND idx < ?3 \
                 ORDER BY idx",
            )?;
            let rows = s.query_map(params![id, sz(lo), sz(hi)], |r| {
                Ok((u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0), r.get(1)?))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })()
        .map_err(map_sqlite_error)
    }

    async fn put_chunk(&mut self, id: i64, idx: u64, data: &[u8]) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO sqlfs_chunks (file_id, idx, data) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![id, sz(idx), data]))
            .map(drop)
            .map_err(map_sqlite_error)
    }

    async fn delete_chunks_from(&mut self, id: i64, from: u64) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM sqlfs_chunks WHERE file_id = ?1 AND idx >= ?2")
            .and_then(|mut s| s.execute(params![id, sz(from)]))
            .map(drop)
            .map_err(map_sqlite_error)
    }

    async fn delete_node(&mut self, id: i64) -> Result<()> {
        (|| {
            self.conn
                .prepare_cached("DELETE FROM sqlfs_chunks WHERE file_id = ?1")?
                .execute(params![id])?;
            self.conn
                .prepare_cached("DELETE FROM sqlfs_nodes WHERE id = ?1")?
                .execute(params![id])
                .map(drop)
        })()
        .map_err(map_sqlite_error)
    }

    async fn children(&mut self, dir: &str) -> Result<Vec<(String, Node)>> {
        (|| {
            let mut s = self.conn.prepare_cached(
                "SELECT path, id, is_dir, mode, size, mtime_ns FROM sqlfs_nodes WHERE parent = ?1",
            )?;
            let rows = s.query_map(params![dir], |r| Ok((r.get(0)?, node_of(row(r, 1)?))))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })()
        .map_err(map_sqlite_error)
    }

    async fn has_children(&mut self, dir: &str) -> Result<bool> {
        self.conn
            .prepare_cached("SELECT 1 FROM sqlfs_nodes WHERE parent = ?1 LIMIT 1")
            .and_then(|mut s| s.exists(params![dir]))
            .map_err(map_sqlite_error)
    }

    async fn delete_below(&mut self, dir: &str) -> Result<()> {
        let (lo, hi) = below_range(dir);
        (|| {
            self.conn
                .prepare_cached(
                    "DELETE FROM sqlfs_chunks WHERE file_id IN \
                     (SELECT id FROM sqlfs_nodes WHERE path > ?1 AND path < ?2)",
                )?
                .execute(params![lo, hi])?;
            self.conn
                .prepare_cached("DELETE FROM sqlfs_nodes WHERE path > ?1 AND path < ?2")?
                .execute(params![lo, hi])
                .map(drop)
        })()
        .map_err(map_sqlite_error)
    }

    async fn move_node(&mut self, id: i64, to: &str, parent: &str) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE sqlfs_nodes SET path = ?2, parent = ?3 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id, to, parent]))
            .map(drop)
            .map_err(map_sqlite_error)
    }

    async fn move_below(&mut self, from: &str, to: &str) -> Result<()> {
        let (lo, hi) = below_range(from);
        // SQLite's substr counts characters of TEXT, not bytes.
        let start = i64::try_from(from.chars().count() + 1).unwrap_or(i64::MAX);
        self.conn
            .prepare_cached(
                "UPDATE sqlfs_nodes SET path = ?3 || substr(path, ?4), \
                 parent = CASE WHEN parent = ?5 THEN ?3 ELSE ?3 || substr(parent, ?4) END \
                 WHERE path > ?1 AND path < ?2",
            )
            .and_then(|mut s| s.execute(params![lo, hi, to, start, from]))
            .map(drop)
            .map_err(map_sqlite_error)
    }

    async fn chunk_count(&mut self, id: i64) -> Result<u64> {
        self.conn
            .prepare_cached("SELECT COUNT(*) FROM sqlfs_chunks WHERE file_id = ?1")
            .and_then(|mut s| s.query_row(params![id], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
            .map_err(map_sqlite_error)
    }

    async fn renumber(&mut self, id: i64, new_id: i64) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE sqlfs_nodes SET id = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id, new_id]))
            .map(drop)
            .map_err(map_sqlite_error)
    }
}
