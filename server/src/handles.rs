//! The table of open handles: global ids (from 1, never reused), leases renewed by use, a sweeper
//! that closes expired handles, the `server.max_handles` bound, and closing a mount's handles when
//! it is unmounted.
//!
//! Locking: the map's mutex is held only to find, add or take out entries, never across plugin
//! I/O. Each handle has its own async mutex, so one handle's operations run one at a time while
//! different handles proceed in parallel.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use fs_core::filesystem::format_time;
use fs_core::{Error, ErrorKind, FileHandle, Mount, OpenFlags, Result};
use parking_lot::Mutex;
use serde_json::{Value, json};

/// The lease of a handle opened without `lease`, in seconds.
pub const DEFAULT_LEASE_SECS: u64 = 60;
/// The longest lease a client may ask for, in seconds (one day).
pub const MAX_LEASE_SECS: u64 = 86_400;
/// How often the sweeper looks for expired handles.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Every open handle of the server.
pub struct HandleTable {
    entries: Mutex<HashMap<u64, Arc<HandleEntry>>>,
    next_id: AtomicU64,
    /// Open handles plus opens in progress; bounded by `max`.
    slots: Arc<AtomicUsize>,
    max: usize,
    /// The monotonic clock leases are measured on, and the wall time it started at.
    epoch: Instant,
    epoch_wall: SystemTime,
    sweeper: AtomicBool,
}

impl fmt::Debug for HandleTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandleTable")
            .field("open", &self.entries.lock().len())
            .field("max", &self.max)
            .finish()
    }
}

/// A reserved place in the table; given back when dropped (with the entry that holds it).
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A handle a plugin has just opened, for [`HandleTable::insert`].
#[derive(Debug)]
pub struct Opened<'a> {
    /// The place [`HandleTable::reserve`] gave for it.
    pub slot: Slot,
    /// The full path it was opened with.
    pub path: String,
    /// The `flags` integer as the client sent it.
    pub flags_given: i64,
    /// The flags in effect.
    pub flags: OpenFlags,
    /// How long it lives without a use.
    pub lease: Duration,
    /// The mount it belongs to (its handles close when it is unmounted).
    pub mount: &'a Arc<Mount>,
    /// The plugin's handle.
    pub handle: Box<dyn FileHandle>,
}

/// One open handle.
pub struct HandleEntry {
    /// The handle's id.
    pub id: u64,
    /// The full path it was opened with.
    pub path: String,
    /// The `flags` integer as the client sent it (AGFS echoes it).
    pub flags_given: i64,
    /// The flags in effect.
    pub flags: OpenFlags,
    /// When it was opened.
    pub created_at: SystemTime,
    /// The mounted instance it was opened on ([`Mount::id`]: a config change in place keeps it).
    mount_id: u64,
    /// Where that mount is, for messages.
    mount_path: String,
    lease_ms: AtomicU64,
    /// Milliseconds since the table's epoch of the last use.
    last_access_ms: AtomicU64,
    /// Operations in progress; a busy handle never expires.
    busy: AtomicUsize,
    closed: AtomicBool,
    handle: tokio::sync::Mutex<Box<dyn FileHandle>>,
    _slot: Slot,
}

impl fmt::Debug for HandleEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandleEntry")
            .field("id", &self.id)
            .field("path", &self.path)
            .field("flags", &self.flags)
            .finish()
    }
}

/// The answer for an id that is not (or no longer) open: AGFS's exact body, `not found`.
pub fn not_open() -> Error {
    Error::new(ErrorKind::NotFound, "not found")
}

/// A use of a handle in progress: renews the lease when it starts and when it ends, and keeps the
/// sweeper away meanwhile.
#[derive(Debug)]
pub struct Use<'a> {
    entry: &'a HandleEntry,
    table: &'a HandleTable,
}

impl Drop for Use<'_> {
    fn drop(&mut self) {
        self.table.touch(self.entry);
        self.entry.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HandleEntry {
    /// The plugin's handle, locked for one operation.
    ///
    /// # Errors
    /// `NotFound` (`not found`) when the handle was closed while this caller waited for it.
    pub async fn lock(&self) -> Result<tokio::sync::MutexGuard<'_, Box<dyn FileHandle>>> {
        let guard = self.handle.lock().await;
        if self.closed.load(Ordering::Acquire) {
            return Err(not_open());
        }
        Ok(guard)
    }

    /// The plugin's handle for an explicit close, unless an operation holds it right now.
    ///
    /// # Errors
    /// When an operation holds the handle (it drops the handle when it ends).
    pub fn try_lock_for_close(
        &self,
    ) -> std::result::Result<
        tokio::sync::MutexGuard<'_, Box<dyn FileHandle>>,
        tokio::sync::TryLockError,
    > {
        self.handle.try_lock()
    }

    /// Whether the handle has been closed (explicitly, by expiry or by unmount).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The lease length.
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms.load(Ordering::Acquire))
    }

    /// Turns a plugin error's mount-relative path into the handle's full path.
    pub fn context(&self, e: Error) -> Error {
        e.map_path(|rel| fs_core::path::join(&self.mount_path, rel))
    }

    fn expired_at(&self, now_ms: u64) -> bool {
        self.busy.load(Ordering::Acquire) == 0
            && now_ms
                > self
                    .last_access_ms
                    .load(Ordering::Acquire)
                    .saturating_add(self.lease_ms.load(Ordering::Acquire))
    }
}

impl HandleTable {
    /// An empty table that allows `max` open handles.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(HandleTable {
            entries: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            slots: Arc::new(AtomicUsize::new(0)),
            max,
            epoch: Instant::now(),
            epoch_wall: SystemTime::now(),
            sweeper: AtomicBool::new(false),
        })
    }

    /// The limit of open handles.
    pub fn max(&self) -> usize {
        self.max
    }

    /// How many handles are open.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether no handle is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn wall(&self, ms: u64) -> SystemTime {
        self.epoch_wall + Duration::from_millis(ms)
    }

    fn touch(&self, e: &HandleEntry) {
        e.last_access_ms.store(self.now_ms(), Ordering::Release);
    }

    /// Reserves a place for a handle about to be opened.
    ///
    /// # Errors
    /// `Unavailable` (503) when `max` handles are open.
    pub fn reserve(&self) -> Result<Slot> {
        let max = self.max;
        self.slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "too many open handles: the limit is {max} (server.max_handles); close handles or let their leases expire"
                    ),
                )
            })?;
        Ok(Slot(self.slots.clone()))
    }

    /// Adds an opened handle under a new id.
    pub fn insert(self: &Arc<Self>, opened: Opened<'_>) -> Arc<HandleEntry> {
        let Opened {
            slot,
            path,
            flags_given,
            flags,
            lease,
            mount,
            handle,
        } = opened;
        let entry = Arc::new(HandleEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            path,
            flags_given,
            flags,
            created_at: SystemTime::now(),
            mount_id: mount.id,
            mount_path: mount.path.clone(),
            lease_ms: AtomicU64::new(lease.as_millis() as u64),
            last_access_ms: AtomicU64::new(self.now_ms()),
            busy: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            handle: tokio::sync::Mutex::new(handle),
            _slot: slot,
        });
        self.entries.lock().insert(entry.id, entry.clone());
        self.start_sweeper();
        entry
    }

    /// The open handle `id`. Looking a handle up does not renew its lease; a use does
    /// ([`HandleTable::begin_use`]).
    ///
    /// # Errors
    /// `NotFound` (`not found`) for an id that is not open, including one whose lease has run out
    /// and that the sweeper has not reached yet.
    pub fn get(&self, id: u64) -> Result<Arc<HandleEntry>> {
        let now = self.now_ms();
        let mut entries = self.entries.lock();
        let entry = entries.get(&id).cloned().ok_or_else(not_open)?;
        if entry.expired_at(now) {
            entries.remove(&id);
            drop(entries);
            entry.closed.store(true, Ordering::Release);
            return Err(not_open());
        }
        Ok(entry)
    }

    /// Starts a use of `entry` (see [`Use`]).
    pub fn begin_use<'a>(&'a self, entry: &'a HandleEntry) -> Use<'a> {
        entry.busy.fetch_add(1, Ordering::AcqRel);
        self.touch(entry);
        Use { entry, table: self }
    }

    /// Renews the lease of `entry`, with a new length when `lease` is given.
    pub fn renew(&self, entry: &HandleEntry, lease: Option<Duration>) {
        if let Some(l) = lease {
            entry
                .lease_ms
                .store(l.as_millis() as u64, Ordering::Release);
        }
        self.touch(entry);
    }

    /// Takes `id` out of the table and marks it closed; the plugin's handle is released when the
    /// last operation using it ends.
    ///
    /// # Errors
    /// `NotFound` (`not found`) for an id that is not open.
    pub fn remove(&self, id: u64) -> Result<Arc<HandleEntry>> {
        let entry = self.entries.lock().remove(&id).ok_or_else(not_open)?;
        entry.closed.store(true, Ordering::Release);
        Ok(entry)
    }

    /// Closes every handle of `mount` (called when it is unmounted); returns how many.
    pub fn close_mount(&self, mount: &Arc<Mount>) -> usize {
        self.take_where(|e| e.mount_id == mount.id)
    }

    /// Closes every handle whose lease has run out; returns how many.
    pub fn sweep(&self) -> usize {
        let now = self.now_ms();
        self.take_where(|e| e.expired_at(now))
    }

    fn take_where(&self, pred: impl Fn(&HandleEntry) -> bool) -> usize {
        let taken: Vec<Arc<HandleEntry>> = {
            let mut entries = self.entries.lock();
            let ids: Vec<u64> = entries.values().filter(|e| pred(e)).map(|e| e.id).collect();
            ids.iter().filter_map(|id| entries.remove(id)).collect()
        };
        for e in &taken {
            e.closed.store(true, Ordering::Release);
        }
        // The plugin handles drop here, outside the map's lock.
        taken.len()
    }

    /// Every open handle, by id.
    pub fn list(&self) -> Vec<Arc<HandleEntry>> {
        self.sweep();
        let mut v: Vec<_> = self.entries.lock().values().cloned().collect();
        v.sort_by_key(|e| e.id);
        v
    }

    /// The JSON description of `entry`: AGFS's `GET /handles/{id}` keys (plus `id`, the same
    /// number), with real lease times.
    pub fn info(&self, entry: &HandleEntry) -> Value {
        let last = entry.last_access_ms.load(Ordering::Acquire);
        let lease = entry.lease();
        json!({
            "handle_id": entry.id,
            "id": entry.id,
            "path": entry.path,
            "flags": entry.flags_given,
            "lease": lease.as_secs(),
            "expires_at": format_time(Some(self.wall(last) + lease)),
            "created_at": format_time(Some(entry.created_at)),
            "last_access": format_time(Some(self.wall(last))),
        })
    }

    /// Starts the sweeper task once, on the first open (it needs a runtime; the state may be built
    /// outside one). It ends when the table is dropped.
    fn start_sweeper(self: &Arc<Self>) {
        if self.sweeper.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.sweeper.store(false, Ordering::Release);
            return;
        };
        let weak = Arc::downgrade(self);
        rt.spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(table) = weak.upgrade() else { return };
                let n = table.sweep();
                if n > 0 {
                    tracing::debug!(closed = n, "closed handles whose lease expired");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_given_back() {
        let t = HandleTable::new(2);
        let a = t.reserve().unwrap();
        let _b = t.reserve().unwrap();
        let e = t.reserve().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.to_string().contains("limit is 2"), "{e}");
        drop(a);
        t.reserve().unwrap();
    }
}
