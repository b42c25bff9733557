//! The files a localfs mount has open for reading, by device and inode. A small whole-file write
//! may rewrite a file in place instead of replacing it (`write.rs`), but never one that a read of
//! this mount has open: that read would see a mix of old and new bytes, where a replaced file
//! keeps serving it the old ones.

use std::collections::HashMap;
use std::sync::Arc;

use cap_std::fs::{Metadata, MetadataExt};
use parking_lot::Mutex;

/// A file's identity on the machine.
pub(super) type FileKey = (u64, u64);

/// The key of the file `m` describes.
pub(super) fn key(m: &Metadata) -> FileKey {
    (m.dev(), m.ino())
}

/// Readers per open file.
#[derive(Debug, Default)]
pub(super) struct OpenFiles(Mutex<HashMap<FileKey, usize>>);

/// One reader of one file; dropping it ends the read.
#[derive(Debug)]
pub(super) struct Reading {
    files: Arc<OpenFiles>,
    key: FileKey,
}

impl Drop for Reading {
    fn drop(&mut self) {
        let mut open = self.files.0.lock();
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl OpenFiles {
    /// Registers a read of the file `m` describes, until the guard is dropped. Called after the
    /// file is opened and before its first byte is read: a write that checked before this read
    /// began has finished by the time it reads.
    pub(super) fn reading(self: &Arc<Self>, m: &Metadata) -> Reading {
        let key = key(m);
        *self.0.lock().entry(key).or_default() += 1;
        Reading {
            files: self.clone(),
            key,
        }
    }

    /// Runs `write` unless a read has the file open; no read can begin while it runs.
    pub(super) fn unless_read<T>(&self, key: FileKey, write: impl FnOnce() -> T) -> Option<T> {
        let open = self.0.lock();
        if open.contains_key(&key) {
            return None;
        }
        let done = write();
        drop(open);
        Some(done)
    }
}
