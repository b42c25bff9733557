//! A small pool of SQLite connections to one database file (WAL, busy timeout) whose calls run on
//! tokio's blocking pool, never on the async threads; and the one SQLite → [`Error`] mapping.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fs_core::{Error, ErrorKind, Result};
use parking_lot::Mutex;
use rusqlite::{Connection, ErrorCode};

/// How long a connection waits for another writer (in this or another process) before failing.
const BUSY_TIMEOUT_MS: u32 = 5000;
/// Idle connections kept for reuse; more may be open while calls are in flight.
const MAX_IDLE: usize = 8;

/// Maps a SQLite error to a kind: a lock held past the busy timeout is `Unavailable`, a file
/// that cannot be opened (any more: it was at mount, [`open_database`]) is `Unavailable`, a
/// read-only file `PermissionDenied`, a full disk `Internal` with the reason. `label` names the
/// plugin in the message.
pub(crate) fn map_error(label: &str, e: rusqlite::Error) -> Error {
    let kind = match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => ErrorKind::Unavailable,
        Some(ErrorCode::CannotOpen) => ErrorKind::Unavailable,
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => ErrorKind::PermissionDenied,
        _ => ErrorKind::Internal,
    };
    Error::new(kind, format!("{label}: {e}")).with_source(e)
}

/// Opens (creating when missing) the database at `path` for a new mount and runs `init` (its
/// schema) on the first connection.
///
/// # Errors
/// `InvalidArgument` naming the file and SQLite's reason when it cannot be opened or is not a
/// database (a missing directory, a file of another kind, no permission): the mount's config is
/// wrong, and nothing will change that but another `db_path`. `Unavailable` while another process
/// holds the database locked past the busy timeout.
pub(crate) async fn open_database(
    path: &Path,
    label: &'static str,
    init: impl FnOnce(&mut Connection) -> rusqlite::Result<()> + Send + 'static,
) -> Result<Arc<Pool>> {
    let pool = Pool::new(path, label);
    pool.run(init).await.map_err(|e| {
        let sqlite =
            std::error::Error::source(&e).and_then(|s| s.downcast_ref::<rusqlite::Error>());
        let busy = matches!(
            sqlite.and_then(rusqlite::Error::sqlite_error_code),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
        );
        let kind = if busy {
            ErrorKind::Unavailable
        } else {
            ErrorKind::InvalidArgument
        };
        let reason = sqlite.map_or_else(|| e.message().to_string(), ToString::to_string);
        Error::new(
            kind,
            format!("{label}: cannot open {}: {reason}", path.display()),
        )
    })?;
    Ok(pool)
}

/// A small pool of connections to one database file.
#[derive(Debug)]
pub(crate) struct Pool {
    path: PathBuf,
    label: &'static str,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    /// A pool for the database at `path` (opened lazily); `label` prefixes error messages.
    pub(crate) fn new(path: &Path, label: &'static str) -> Arc<Self> {
        Arc::new(Pool {
            path: path.to_path_buf(),
            label,
            idle: Mutex::new(Vec::new()),
        })
    }

    fn open(path: &Path) -> rusqlite::Result<Connection> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
        // WAL: readers never block the writer. NORMAL: a commit is in the WAL (the OS's page cache)
        // before it returns, so it survives a kill of the process; an fsync per commit (FULL) is
        // what the SYNC write flag asks for.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection in the blocking pool, mapping SQLite errors.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let label = self.label;
        self.run_typed(move |conn| f(conn).map_err(|e| map_error(label, e)))
            .await
    }

    /// Runs `f` on a pooled connection; `f` returns typed errors itself.
    ///
    /// On a multi-threaded runtime the work runs in place (`block_in_place`: this worker becomes a
    /// blocking thread and another takes its tasks), which saves the two thread hand-offs of
    /// `spawn_blocking` (bench/RESULTS.md, sqlfs: 0.46x -> about 1x of direct rusqlite for 4 KiB
    /// reads). A current-thread runtime cannot block in place, so there it goes to the blocking pool.
    pub(crate) async fn run_typed<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let pool = Arc::clone(self);
        let work = move || {
            let taken = pool.idle.lock().pop();
            let mut conn = match taken {
                Some(c) => c,
                None => Self::open(&pool.path).map_err(|e| map_error(pool.label, e))?,
            };
            let out = f(&mut conn);
            let mut idle = pool.idle.lock();
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
            out
        };
        let flavor = tokio::runtime::Handle::current().runtime_flavor();
        if flavor == tokio::runtime::RuntimeFlavor::MultiThread {
            return tokio::task::block_in_place(work);
        }
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::internal(format!("{} sqlite task failed: {e}", self.label)))?
    }
}
