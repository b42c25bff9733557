//! The connections to one SQLite database file (WAL, busy timeout): one writer and a few readers,
//! each on a thread of its own, never on the async threads; and the one SQLite → [`Error`]
//! mapping.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};

use fs_core::{Error, ErrorKind, Result};
use rusqlite::{Connection, ErrorCode};

/// How long a connection waits for another writer (in this or another process) before failing.
const BUSY_TIMEOUT_MS: u32 = 5000;

/// Maps a SQLite error to a kind: a lock held past the busy timeout is `Unavailable`, a file
/// that cannot be opened (any more: it was at mount, [`open_database`]) is `Unavailable`, a
/// read-only file `PermissionDenied`, a full disk `Internal` with the reason. `label` names the
/// plugin in the message.
pub fn map_error(label: &str, e: rusqlite::Error) -> Error {
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
pub async fn open_database(
    path: &Path,
    label: &'static str,
    init: impl FnOnce(&mut Connection) -> rusqlite::Result<()> + Send + 'static,
) -> Result<Arc<Pool>> {
    open_database_with(path, label, readers(), init).await
}

/// [`open_database`] with `readers` reader threads (at least one; see [`Pool::set_readers`]).
///
/// # Errors
/// As [`open_database`].
pub async fn open_database_with(
    path: &Path,
    label: &'static str,
    readers: usize,
    init: impl FnOnce(&mut Connection) -> rusqlite::Result<()> + Send + 'static,
) -> Result<Arc<Pool>> {
    let pool = Pool::with_readers(path, label, readers);
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

/// The connections to one database file: **one writer** and a few readers, each on a thread of its
/// own that runs the calls queued for it.
///
/// SQLite lets one transaction write at a time. Writers that race for the lock are turned away
/// and retry on SQLite's busy handler, which sleeps between tries (1, 2, 5 … 100 ms): at 64
/// concurrent PUTs that made p99 latency a second. Here every write goes, in arrival order, to
/// the one writer thread, so the lock is never contended inside SQLite (another process writing
/// the same file still meets the busy timeout). The writer **commits in groups**: the writes
/// queued behind the one it starts with (up to [`GROUP`]) run in the same transaction, each in a
/// savepoint of its own, so a write that fails is rolled back alone, and one commit makes them
/// all durable before any of them is answered. A write's caller gets its answer only after that
/// commit. Reads go to reader threads ([`readers`] by default) that share one queue; in WAL mode
/// they never block the writer or each other. Their number changes while the pool serves
/// ([`Pool::set_readers`]): new threads take reads from the same queue at once, and a thread asked
/// to stop does so after the reads queued before the request, so no read is dropped or cut short.
///
/// Threads rather than `block_in_place` or `spawn_blocking`: handing a call to a thread that is
/// already running the previous one costs a queue push, where moving a tokio worker to another
/// thread for every call cost two context switches (a third of a 1 KiB GET's CPU at 64
/// connections). Each thread keeps its connection, and so its cached statements, for the pool's
/// life; the threads end when the pool is dropped (the mount is gone), after the calls already
/// queued. A call whose caller went away still runs to its end: a write is never cut in half.
#[derive(Debug)]
pub struct Pool {
    label: &'static str,
    path: PathBuf,
    writer: crossbeam_channel::Sender<Write>,
    readers: crossbeam_channel::Sender<ToReader>,
    /// The readers' queue, for reader threads started later.
    reads: crossbeam_channel::Receiver<ToReader>,
    /// How many reader threads the pool asked for (changed under this lock).
    wanted: std::sync::Mutex<usize>,
    /// Reader threads running now (a thread asked to stop counts until it has).
    running: Arc<AtomicUsize>,
    /// Reader threads started so far (names them).
    started: AtomicUsize,
}

/// A read for a reader thread: it gets the thread's connection, or the error opening it gave (the
/// thread tries again for the next call).
type Read = Box<dyn FnOnce(Result<&mut Connection>) + Send>;

/// What the readers' queue carries: a read, or a request that the thread taking it ends.
enum ToReader {
    Read(Read),
    Stop,
}

impl std::fmt::Debug for ToReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ToReader::Read(_) => "Read",
            ToReader::Stop => "Stop",
        })
    }
}

/// A write for the writer thread: it runs inside the group's transaction and says how it went.
type Write = Box<dyn FnOnce(Result<&mut Connection>) -> Written + Send>;

/// How a write went, and how to answer its caller once the group's commit is known.
struct Written {
    ok: bool,
    /// The caller asked for an fsync at commit (the SYNC write flag).
    sync: bool,
    /// Answers the caller: `None` when the group committed, else why it did not.
    answer: Answer,
}

/// Answers a write's caller once its group's commit is known.
type Answer = Box<dyn FnOnce(Option<&Error>) + Send>;

/// What the writer runs on each connection it opens.
type Setup = Box<dyn FnMut(&mut Connection) -> rusqlite::Result<()> + Send>;

/// The most writes one commit groups.
pub const GROUP: usize = 64;

/// WAL pages after which a checkpoint is asked for (SQLite's own default threshold).
const CHECKPOINT_PAGES: i32 = 1000;
/// How soon a checkpoint that could not copy the whole WAL is tried again.
const CHECKPOINT_RETRY: std::time::Duration = std::time::Duration::from_millis(20);

/// How many reader threads (and connections) a pool has by default: one per CPU, at least 2 and at
/// most 8.
pub fn readers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

/// Prepared statements each connection keeps (rusqlite's default is 16).
const STATEMENT_CACHE: usize = 64;

impl Pool {
    /// A pool for the database at `path`, its threads started (each opens its connection at its
    /// first call); `label` prefixes error messages and names the threads.
    pub fn new(path: &Path, label: &'static str) -> Arc<Self> {
        Self::with_readers(path, label, readers())
    }

    /// [`Pool::new`] with `readers` reader threads (at least one).
    pub fn with_readers(path: &Path, label: &'static str, readers: usize) -> Arc<Self> {
        let (writer, writes) = crossbeam_channel::unbounded::<Write>();
        let (reader, reads) = crossbeam_channel::unbounded::<ToReader>();
        // Checkpoints (copying the WAL back into the database file, with an fsync) run on a thread
        // of their own, asked for once the WAL passes CHECKPOINT_PAGES: in the writer's commit,
        // where SQLite runs them by default, they held up every write queued behind (p99 44 ms).
        let (checkpoint, checkpoints) = crossbeam_channel::bounded::<()>(1);
        let at = path.to_path_buf();
        // A checkpoint that could not copy every frame (a reader was still on an older snapshot)
        // is tried again shortly, asked or not: until the WAL is wholly copied back, every read
        // looks its pages up in the WAL's index, which gets slower as the WAL grows (sqlfs GETs
        // at half speed after a burst of writes), and the WAL cannot start over.
        spawn(label, "checkpoint", move || {
            let mut conn = Lazy::new(at, label);
            let mut behind = false;
            loop {
                let asked = if behind {
                    checkpoints.recv_timeout(CHECKPOINT_RETRY)
                } else {
                    checkpoints
                        .recv()
                        .map_err(|_| crossbeam_channel::RecvTimeoutError::Disconnected)
                };
                if let Err(crossbeam_channel::RecvTimeoutError::Disconnected) = asked {
                    return;
                }
                let Ok(c) = conn.get() else { continue };
                match c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                    Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
                }) {
                    Ok((log, copied)) => behind = copied < log,
                    Err(e) => {
                        behind = false;
                        tracing::warn!("{label}: checkpoint: {e}");
                    }
                }
            }
        });
        let at = path.to_path_buf();
        spawn(label, "writer", move || {
            let mut conn = Lazy::new(at, label).on_open(move |c| {
                let checkpoint = checkpoint.clone();
                // Replaces SQLite's automatic checkpoint on this connection.
                c.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages| {
                    if pages >= CHECKPOINT_PAGES {
                        let _ = checkpoint.try_send(());
                    }
                    Ok(())
                }))
            });
            for first in writes.iter() {
                write_group(&mut conn, first, &writes);
            }
        });
        let pool = Arc::new(Pool {
            label,
            path: path.to_path_buf(),
            writer,
            readers: reader,
            reads,
            wanted: std::sync::Mutex::new(0),
            running: Arc::new(AtomicUsize::new(0)),
            started: AtomicUsize::new(0),
        });
        // A thread that cannot start leaves fewer readers; the log says why (`spawn`).
        let _ = pool.set_readers(readers);
        pool
    }

    /// Runs `n` reader threads (at least one) from now on: more are started, or as many as there
    /// are too many are asked to stop, each after the reads queued before. Returns the number
    /// asked for.
    ///
    /// # Errors
    /// `Internal` when a thread cannot be started (those that could run; the pool asks for them).
    pub fn set_readers(&self, n: usize) -> Result<usize> {
        let n = n.max(1);
        let mut wanted = self.wanted.lock().unwrap_or_else(PoisonError::into_inner);
        while *wanted > n {
            // Nobody left to stop only when the pool is going away (every thread holds the queue).
            let _ = self.readers.send(ToReader::Stop);
            *wanted -= 1;
        }
        while *wanted < n {
            let i = self.started.fetch_add(1, Ordering::Relaxed);
            let (at, reads, label) = (self.path.clone(), self.reads.clone(), self.label);
            let running = self.running.clone();
            running.fetch_add(1, Ordering::SeqCst);
            let left = running.clone();
            let spawned = spawn(label, &format!("reader {i}"), move || {
                let mut conn = Lazy::new(at, label);
                for message in reads.iter() {
                    match message {
                        ToReader::Read(read) => read(conn.get()),
                        ToReader::Stop => break,
                    }
                }
                left.fetch_sub(1, Ordering::SeqCst);
            });
            if !spawned {
                running.fetch_sub(1, Ordering::SeqCst);
                return Err(Error::internal(format!(
                    "{}: cannot start a reader thread ({} run)",
                    self.label, *wanted
                )));
            }
            *wanted += 1;
        }
        Ok(n)
    }

    /// How many reader threads the pool asked for.
    pub fn reader_count(&self) -> usize {
        *self.wanted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many reader threads run now: differs from [`Pool::reader_count`] only while threads
    /// asked to stop finish the reads queued before.
    pub fn readers_running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Runs `f` as a write (see [`Pool`]: in a savepoint of a group transaction, answered after
    /// the commit), mapping SQLite errors. `f` must not begin or end transactions.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let label = self.label;
        self.run_typed(move |conn| f(conn).map_err(|e| map_error(label, e)))
            .await
    }

    /// [`Pool::run`] for an `f` that returns typed errors itself.
    pub async fn run_typed<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        self.write(false, f).await
    }

    /// [`Pool::run_typed`], with `sync`: the commit is fsynced (`synchronous = FULL`) before the
    /// answer, instead of only reaching the WAL.
    pub async fn write<T, F>(self: &Arc<Self>, sync: bool, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let (tell, told) = tokio::sync::oneshot::channel();
        let label = self.label;
        let write: Write = Box::new(move |conn| {
            let result = conn.and_then(f);
            Written {
                ok: result.is_ok(),
                sync,
                answer: Box::new(move |failed| {
                    let answer = match (result, failed) {
                        (Ok(_), Some(e)) => Err(Error::new(
                            e.kind(),
                            format!("{label}: the commit failed: {}", e.message()),
                        )),
                        (result, _) => result,
                    };
                    let _ = tell.send(answer);
                }),
            }
        });
        self.writer.send(write).map_err(|_| self.gone())?;
        told.await.map_err(|_| self.gone())?
    }

    /// Runs `f` on a reader connection, mapping SQLite errors. `f` must not write.
    pub async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let label = self.label;
        self.read_typed(move |conn| f(conn).map_err(|e| map_error(label, e)))
            .await
    }

    /// Runs `f` on a reader connection; `f` returns typed errors itself and must not write.
    pub async fn read_typed<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let (tell, told) = tokio::sync::oneshot::channel();
        let read: Read = Box::new(move |conn| {
            let _ = tell.send(conn.and_then(f));
        });
        self.readers
            .send(ToReader::Read(read))
            .map_err(|_| self.gone())?;
        told.await.map_err(|_| self.gone())?
    }

    fn gone(&self) -> Error {
        Error::internal(format!("{}: its connection thread is gone", self.label))
    }
}

/// Runs `first` and the writes queued behind it (up to [`GROUP`]) in one transaction, each in a
/// savepoint, commits, then answers them all.
fn write_group(conn: &mut Lazy, first: Write, queue: &crossbeam_channel::Receiver<Write>) {
    let label = conn.label;
    let mut group = vec![first];
    while group.len() < GROUP {
        match queue.try_recv() {
            Ok(w) => group.push(w),
            Err(_) => break,
        }
    }
    let Ok(c) = conn.get() else {
        for write in group {
            let written = write(conn.get());
            (written.answer)(None);
        }
        return;
    };
    if let Err(e) = exec(c, "BEGIN IMMEDIATE") {
        let e = map_error(label, e);
        for write in group {
            let written = write(Err(Error::new(e.kind(), e.message().to_string())));
            (written.answer)(None);
        }
        return;
    }
    let mut done = Vec::with_capacity(group.len());
    let mut sync = false;
    for write in group {
        // A savepoint per write: one that fails is undone alone.
        let c = conn.get().expect("open: the transaction began on it");
        let saved = exec(c, "SAVEPOINT w");
        let written = write(match &saved {
            Ok(()) => Ok(c),
            Err(e) => Err(Error::internal(format!("{label}: savepoint: {e}"))),
        });
        if saved.is_ok() {
            if !written.ok {
                let _ = exec(c, "ROLLBACK TO w");
            }
            let _ = exec(c, "RELEASE w");
        }
        sync |= written.sync && written.ok;
        done.push(written);
    }
    let c = conn.get().expect("open");
    if sync {
        let _ = c.pragma_update(None, "synchronous", "FULL");
    }
    let committed = exec(c, "COMMIT").map_err(|e| {
        let _ = exec(c, "ROLLBACK");
        map_error(label, e)
    });
    if sync {
        let _ = c.pragma_update(None, "synchronous", "NORMAL");
    }
    for written in done {
        (written.answer)(committed.as_ref().err());
    }
}

/// A connection opened at first use, and again after a failed open.
struct Lazy {
    path: std::path::PathBuf,
    label: &'static str,
    conn: Option<Connection>,
    /// Run on each connection opened (the writer's WAL hook).
    setup: Option<Setup>,
}

impl Lazy {
    fn new(path: std::path::PathBuf, label: &'static str) -> Self {
        Lazy {
            path,
            label,
            conn: None,
            setup: None,
        }
    }

    fn on_open(
        mut self,
        setup: impl FnMut(&mut Connection) -> rusqlite::Result<()> + Send + 'static,
    ) -> Self {
        self.setup = Some(Box::new(setup));
        self
    }

    fn get(&mut self) -> Result<&mut Connection> {
        if self.conn.is_none() {
            let mut conn = open(&self.path).map_err(|e| map_error(self.label, e))?;
            if let Some(setup) = &mut self.setup {
                setup(&mut conn).map_err(|e| map_error(self.label, e))?;
            }
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("opened above"))
    }
}

/// Runs one statement without parameters through the statement cache (BEGIN, COMMIT, SAVEPOINT
/// run around every operation; `execute_batch` would parse them each time).
pub fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// Starts a connection thread named after the plugin and its `role`; `false` when it could not.
fn spawn(label: &'static str, role: &str, work: impl FnOnce() + Send + 'static) -> bool {
    let spawned = std::thread::Builder::new()
        .name(format!("{label} {role}"))
        .spawn(work);
    if let Err(e) = &spawned {
        // Calls then find no thread and fail with `Internal`; the log says why.
        tracing::error!("{label}: cannot start a connection thread: {e}");
    }
    spawned.is_ok()
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
    // WAL: readers never block the writer. NORMAL: a commit is in the WAL (the OS's page cache)
    // before it returns, so it survives a kill of the process; an fsync per commit (FULL) is
    // what the SYNC write flag asks for.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

#[cfg(test)]
mod tests;
