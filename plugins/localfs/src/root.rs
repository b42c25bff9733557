//! The served directory: its handle, reopened when the directory was removed and made again (the
//! old handle names a deleted directory for ever), and the sweep of staging files that a killed
//! server left behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, MetadataExt};
use fs_core::{Error, ErrorKind, Result};
use parking_lot::RwLock;

use super::fs::TEMP_PREFIX;

/// The root handle of a localfs mount and the path it was opened from.
pub(super) struct Root {
    base: PathBuf,
    dir: RwLock<Arc<Dir>>,
}

impl Root {
    /// Opens `base`.
    ///
    /// # Errors
    /// `InvalidArgument` when it cannot be opened.
    pub(super) fn open(base: &Path) -> Result<Root> {
        Ok(Root {
            base: base.to_path_buf(),
            dir: RwLock::new(Arc::new(open_dir(base)?)),
        })
    }

    /// The current handle.
    pub(super) fn get(&self) -> Arc<Dir> {
        self.dir.read().clone()
    }

    /// After an operation found nothing: whether the handle names a directory that was removed
    /// and another one now stands at the path, in which case the new one is swapped in (the caller
    /// retries).
    ///
    /// # Errors
    /// `Unavailable` when the directory was removed and nothing replaced it: every request would
    /// be refused, which is the mount's state, not the path's.
    pub(super) fn reopened(&self) -> Result<bool> {
        let current = self.get();
        if current.dir_metadata().is_ok_and(|m| m.nlink() > 0) {
            return Ok(false);
        }
        match std::fs::metadata(&self.base) {
            Ok(m) if m.is_dir() => {
                let fresh = Arc::new(open_dir(&self.base)?);
                let mut slot = self.dir.write();
                if Arc::ptr_eq(&slot, &current) {
                    *slot = fresh;
                    tracing::warn!(dir = %self.base.display(), "localfs: the local directory was removed and made again; serving the new one");
                }
                Ok(true)
            }
            _ => Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "localfs: the local directory {} was removed; make it again (or unmount)",
                    self.base.display()
                ),
            )),
        }
    }
}

fn open_dir(base: &Path) -> Result<Dir> {
    Dir::open_ambient_dir(base, ambient_authority())
        .map_err(|e| Error::invalid_argument(format!("cannot open {}: {e}", base.display())))
}

/// Removes the staging files (`.pfs-tmp-<pid>-<n>`) below `dir` whose server is gone: a write
/// stages its body beside its target, and a server killed mid-upload leaves it there. A file
/// whose pid runs (another server on the same directory, this one included) is left alone.
/// Symbolic links are not followed. Stops between directories once `stop` says so. Returns the
/// count and bytes removed.
pub(super) fn sweep_stale_staging(dir: &Dir, stop: &dyn Fn() -> bool) -> (u64, u64) {
    let mut removed = (0, 0);
    let mut pending = vec![match dir.try_clone() {
        Ok(d) => d,
        Err(_) => return removed,
    }];
    while let Some(dir) = pending.pop() {
        if stop() {
            break;
        }
        let Ok(entries) = dir.entries() else { continue };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            // The entry's own type: a symbolic link is neither a directory nor a file here.
            if kind.is_dir() {
                if let Ok(sub) = entry.open_dir() {
                    pending.push(sub);
                }
            } else if kind.is_file() && is_stale_staging(name) {
                let size = entry.metadata().map_or(0, |m| m.len());
                if dir.remove_file(name).is_ok() {
                    removed.0 += 1;
                    removed.1 += size;
                }
            }
        }
    }
    removed
}

/// Whether `name` is a staging file of a server process that no longer runs.
fn is_stale_staging(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(TEMP_PREFIX) else {
        return false;
    };
    let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
}
