//! [`HeartbeatFs`]: liveness items shown as directories. `mkdir /<name>` creates one, writing or
//! touching its `keepalive` refreshes it, and an item whose timeout passes disappears.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{
    Background, Capabilities, Error, ErrorKind, FileInfo, FileSystem, Meta, Result, WriteFlags,
};
use parking_lot::{Mutex, RwLock};
// tokio's Instant is std's own clock unless tokio's `test-util` is on (this crate's tests), where it
// follows the paused clock the tests move with `tokio::time::advance`.
use tokio::time::Instant;

use crate::item::{
    CTL, Item, Items, KEEPALIVE, Place, Special, deeper_error, live, live_mut, parse_ctl, place,
    rfc3339, seconds, wall_now,
};

const PLUGIN: &str = "heartbeatfs";
const DIR_MODE: u32 = 0o755;
const README_MODE: u32 = 0o444;
const FILE_MODE: u32 = 0o644;
/// How often the sweeper deletes expired items ("at least once per second").
pub(crate) const SWEEP_EVERY: Duration = Duration::from_millis(500);
/// AGFS's words for a create.
const USE_MKDIR: &str = "use mkdir to create heartbeat items";

fn use_mkdir(op: &'static str, path: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("operation not supported: {USE_MKDIR}"),
    )
    .with_op(op)
    .with_path(path)
}

fn readme_fixed(path: &str) -> Error {
    Error::permission_denied(path).with_message("permission denied: /README is read-only")
}

fn only_two_files(path: &str) -> Error {
    Error::permission_denied(path)
        .with_message("permission denied: a heartbeat item holds only keepalive and ctl")
}

fn remove_the_item(path: &str) -> Error {
    Error::permission_denied(path)
        .with_message("permission denied: remove the item directory to delete a heartbeat item")
}

/// The state shared with the sweeper task.
#[derive(Debug)]
struct Inner {
    items: RwLock<Items>,
    /// The timeout of new items; a config change sets it while mounted.
    default_timeout: Mutex<Duration>,
    readme: Bytes,
    mounted: SystemTime,
    /// How many times the sweeper ran.
    sweeps: AtomicU64,
}

impl Inner {
    /// Deletes every expired item; returns how many went.
    fn sweep(&self, now: Instant) -> usize {
        self.sweeps.fetch_add(1, Ordering::Relaxed);
        let mut items = self.items.write();
        let before = items.len();
        items.retain(|_, item| !item.is_expired(now));
        before - items.len()
    }
}

/// The heartbeatfs filesystem: items in memory, swept by a background task that
/// [`FileSystem::start`] puts on the instance's [`Background`].
#[derive(Debug)]
pub struct HeartbeatFs {
    // The sweeper holds only a `Weak` to it, so the sweeper never keeps the filesystem alive; the
    // instance's shutdown ends the sweeper.
    inner: Arc<Inner>,
}

impl HeartbeatFs {
    /// Creates an empty filesystem whose new items time out after `default_timeout`, with
    /// `readme` as `/README`.
    ///
    /// Nothing runs until [`FileSystem::start`] starts the sweeper; until then (and after the
    /// shutdown) expired items are still invisible to every operation but stay in memory until
    /// the next `mkdir` of their name.
    pub fn new(default_timeout: Duration, readme: Bytes) -> Self {
        HeartbeatFs {
            inner: Arc::new(Inner {
                items: RwLock::new(BTreeMap::new()),
                default_timeout: Mutex::new(default_timeout),
                readme,
                mounted: wall_now(),
                sweeps: AtomicU64::new(0),
            }),
        }
    }

    /// Whether a sweeper task exists (it alone holds a `Weak` to the state, from its start until
    /// it is dropped).
    #[cfg(test)]
    pub(crate) fn sweeper_exists(&self) -> bool {
        Arc::weak_count(&self.inner) > 0
    }

    /// How many times a sweeper ran.
    #[cfg(test)]
    pub(crate) fn sweeps(&self) -> u64 {
        self.inner.sweeps.load(Ordering::Relaxed)
    }

    /// How many items are stored, expired ones not yet swept included.
    #[cfg(test)]
    pub(crate) fn stored_items(&self) -> usize {
        self.inner.items.read().len()
    }

    fn item_info(name: &str, item: &Item, now: Instant) -> FileInfo {
        let content = BTreeMap::from([
            ("last_heartbeat_ts".to_string(), rfc3339(item.last_beat)),
            ("expire_ts".to_string(), rfc3339(item.expire_ts())),
            ("timeout".to_string(), seconds(item.timeout)),
            ("status".to_string(), item.status(now).to_string()),
        ]);
        let mut meta = Meta::new(PLUGIN, "heartbeat");
        meta.content = Some(content);
        FileInfo::dir(name, DIR_MODE, Some(item.last_beat)).with_meta(meta)
    }

    fn special_info(special: Special, item: &Item, now: Instant) -> FileInfo {
        let (name, size) = match special {
            Special::Keepalive => (KEEPALIVE, 0),
            Special::Ctl => (CTL, item.ctl_text(now).len() as u64),
        };
        FileInfo::file(name, size, FILE_MODE, Some(item.last_beat))
            .with_meta(Meta::new(PLUGIN, "file"))
    }

    fn readme_info(&self) -> FileInfo {
        FileInfo::file(
            "README",
            self.inner.readme.len() as u64,
            README_MODE,
            Some(self.inner.mounted),
        )
        .with_meta(Meta::new(PLUGIN, "file"))
    }
}

/// Deletes expired items every [`SWEEP_EVERY`], the first time at once, until the state is gone
/// or the task is dropped (the instance's shutdown).
async fn sweep_loop(inner: std::sync::Weak<Inner>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        inner.sweep(Instant::now());
    }
}

#[async_trait]
impl FileSystem for HeartbeatFs {
    /// Starts the sweeper on `background`: it runs until the instance shuts down.
    async fn start(&self, background: &Background) -> Result<()> {
        background.spawn(sweep_loop(Arc::downgrade(&self.inner)));
        Ok(())
    }

    /// `default_timeout` changes in place: items made from then on get the new timeout; items that
    /// exist keep theirs (a `ctl` write changes one item's).
    async fn reconfigure(
        &self,
        old: &serde_json::Value,
        new: &serde_json::Value,
    ) -> Result<fs_core::Reconfigured> {
        fs_core::config::check_live(&fs_core::config::params(&[crate::KEYS]), old, new)?;
        *self.inner.default_timeout.lock() = crate::default_timeout(new)?;
        Ok(fs_core::Reconfigured::Accepted)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            write: true,
            create: false,
            mkdir: true,
            remove: true,
            rename: false,
            chmod: false,
            truncate: true,
            live_stream: false,
            max_file_size: fs_core::MAX_FILE_SIZE,
        }
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        let now = Instant::now();
        let items = self.inner.items.read();
        match place(path) {
            Place::Root => Ok(FileInfo::dir("/", DIR_MODE, Some(self.inner.mounted))
                .with_meta(Meta::new(PLUGIN, "dir"))),
            Place::Readme => Ok(self.readme_info()),
            Place::Top(name) => live(&items, name, now)
                .map(|item| Self::item_info(name, item, now))
                .ok_or_else(|| Error::not_found(path)),
            Place::In(name, file) => match (live(&items, name, now), Special::parse(file)) {
                (Some(item), Some(special)) => Ok(Self::special_info(special, item, now)),
                _ => Err(Error::not_found(path)),
            },
            Place::Deeper(a, b) => Err(deeper_error(&items, path, a, b, now)),
        }
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        let now = Instant::now();
        let items = self.inner.items.read();
        match place(path) {
            Place::Root => {
                let mut out = vec![self.readme_info()];
                out.extend(
                    items
                        .iter()
                        .filter(|(_, item)| !item.is_expired(now))
                        .map(|(name, item)| Self::item_info(name, item, now)),
                );
                Ok(out)
            }
            Place::Readme => Err(Error::not_a_directory(path)),
            Place::Top(name) => {
                let item = live(&items, name, now).ok_or_else(|| Error::not_found(path))?;
                Ok(vec![
                    Self::special_info(Special::Keepalive, item, now),
                    Self::special_info(Special::Ctl, item, now),
                ])
            }
            Place::In(name, file) => match (live(&items, name, now), Special::parse(file)) {
                (Some(_), Some(_)) => Err(Error::not_a_directory(path)),
                _ => Err(Error::not_found(path)),
            },
            Place::Deeper(a, b) => Err(deeper_error(&items, path, a, b, now)),
        }
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        let now = Instant::now();
        let items = self.inner.items.read();
        match place(path) {
            Place::Root => Err(Error::is_a_directory(path)),
            Place::Readme => Ok(fs_core::read_window(&self.inner.readme, offset, size)),
            Place::Top(name) => match live(&items, name, now) {
                Some(_) => Err(Error::is_a_directory(path)),
                None => Err(Error::not_found(path)),
            },
            Place::In(name, file) => match (live(&items, name, now), Special::parse(file)) {
                (Some(_), Some(Special::Keepalive)) => Ok(Bytes::new()),
                (Some(item), Some(Special::Ctl)) => Ok(fs_core::read_window(
                    &Bytes::from(item.ctl_text(now)),
                    offset,
                    size,
                )),
                _ => Err(Error::not_found(path)),
            },
            Place::Deeper(a, b) => Err(deeper_error(&items, path, a, b, now)),
        }
    }

    async fn write(
        &self,
        path: &str,
        data: Bytes,
        _offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let now = Instant::now();
        let mut items = self.inner.items.write();
        match place(path) {
            Place::Root => Err(Error::is_a_directory(path)),
            Place::Readme => Err(readme_fixed(path)),
            Place::Top(name) => match live(&items, name, now) {
                Some(_) => Err(Error::is_a_directory(path)),
                None => Err(use_mkdir("write", path)),
            },
            Place::In(name, file) => {
                let Some(item) = live_mut(&mut items, name, now) else {
                    return Err(Error::not_found(path));
                };
                let Some(special) = Special::parse(file) else {
                    return Err(only_two_files(path));
                };
                if flags.is_exclusive() {
                    return Err(Error::already_exists(path));
                }
                match special {
                    Special::Keepalive => item.beat(),
                    Special::Ctl => item.timeout = parse_ctl(&data)?,
                }
                Ok(data.len() as u64)
            }
            Place::Deeper(a, b) => Err(deeper_error(&items, path, a, b, now)),
        }
    }

    async fn create(&self, path: &str) -> Result<()> {
        Err(use_mkdir("create", path))
    }

    async fn mkdir(&self, path: &str, _mode: u32) -> Result<()> {
        let now = Instant::now();
        let mut items = self.inner.items.write();
        match place(path) {
            Place::Root | Place::Readme => Err(Error::already_exists(path)),
            Place::Top(name) => {
                if live(&items, name, now).is_some() {
                    return Err(Error::already_exists(path));
                }
                // Replaces an expired item the sweeper has not deleted yet.
                items.insert(
                    name.to_string(),
                    Item::new(*self.inner.default_timeout.lock()),
                );
                Ok(())
            }
            Place::In(name, file) => match (live(&items, name, now), Special::parse(file)) {
                (Some(_), Some(_)) => Err(Error::already_exists(path)),
                (Some(_), None) => Err(Error::invalid_argument(
                    "heartbeat items can only be created at the root",
                )
                .with_path(path)),
                (None, _) => Err(Error::not_found(path)),
            },
            Place::Deeper(a, b) => Err(deeper_error(&items, path, a, b, now)),
        }
    }

    async fn remove(&self, path: &str) -> Result<()> {
        let now = Instant::now();
        let mut items = self.inner.items.write();
        match place(path) {
            Place::Root => Err(Error::permission_denied(path)
                .with_message("permission denied: cannot remove the mount root")),
            Place::Readme => Err(readme_fixed(path)),
            // An item goes with its two files, as in AGFS: they are not separately removable.
            Place::Top(name) => match live(&items, name, now) {
                Some(_) => {
                    items.remove(name);
                    Ok(())
                }
                None => Err(Error::not_found(path)),
            },
            Place::In(name, file) => match (live(&items, name, now), Special::parse(file)) {
                (Some(_), Some(_)) => Err(remove_the_item(path)),
                _ => Err(Error::not_found(path)),
            },
            Place::Deeper(a, b) => Err(deeper_error(&items, path, a, b, now)),
        }
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        if path == "/" {
            // Empties the mount; /README stays.
            self.inner.items.write().clear();
            return Ok(());
        }
        self.remove(path).await
    }

    async fn rename(&self, _from: &str, _to: &str) -> Result<()> {
        Err(Error::unsupported("rename"))
    }

    async fn truncate(&self, path: &str, _size: u64) -> Result<()> {
        // A no-op on keepalive and ctl, so `echo timeout=5 > ctl` through a shell that truncates
        // first works; the write that follows does the work.
        self.stat(path).await.and_then(|info| match place(path) {
            Place::Readme => Err(readme_fixed(path)),
            _ if info.is_dir => Err(Error::is_a_directory(path)),
            _ => Ok(()),
        })
    }

    async fn touch(&self, path: &str) -> Result<()> {
        let now = Instant::now();
        let mut items = self.inner.items.write();
        match place(path) {
            Place::In(name, file) => {
                let Some(item) = live_mut(&mut items, name, now) else {
                    return Err(Error::not_found(path));
                };
                match Special::parse(file) {
                    Some(Special::Keepalive) => {
                        item.beat();
                        Ok(())
                    }
                    Some(Special::Ctl) => Err(Error::invalid_argument(
                        "touch keepalive, not ctl, to refresh a heartbeat item",
                    )
                    .with_path(path)),
                    None => Err(only_two_files(path)),
                }
            }
            Place::Top(name) if live(&items, name, now).is_none() => Err(use_mkdir("touch", path)),
            Place::Root | Place::Top(_) => Err(Error::invalid_argument(
                "touch <item>/keepalive to refresh a heartbeat item",
            )
            .with_path(path)),
            Place::Readme => Err(readme_fixed(path)),
            Place::Deeper(a, b) => Err(deeper_error(&items, path, a, b, now)),
        }
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn sweep_deletes_only_expired_items() {
        let inner = Inner {
            items: RwLock::new(BTreeMap::new()),
            default_timeout: Mutex::new(Duration::from_secs(60)),
            readme: Bytes::new(),
            mounted: SystemTime::now(),
            sweeps: AtomicU64::new(0),
        };
        inner
            .items
            .write()
            .insert("old".into(), Item::new(Duration::from_millis(1)));
        inner
            .items
            .write()
            .insert("new".into(), Item::new(Duration::from_secs(60)));
        let later = Instant::now() + Duration::from_millis(10);
        assert_eq!(inner.sweep(later), 1);
        assert!(inner.items.read().contains_key("new"));
    }
}
