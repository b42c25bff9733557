//! The settings of a localfs mount that change while it serves (`read_only`,
//! `allow_special_bits`), and the config change that sets them. `local_dir` names the directory
//! the mount holds a handle on: a new one is a new instance (a remount).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use fs_core::{Error, Reconfigured, Result};
use serde_json::Value;

use super::fs::{LocalFs, PERMISSION_BITS};

/// What a config change can set on a mounted instance. Every operation reads them as it starts:
/// one already past its check finishes under the settings it found.
#[derive(Debug)]
pub(super) struct Settings {
    read_only: AtomicBool,
    /// The permission bits a mode given by a client may set: setuid, setgid and sticky are
    /// stripped unless the config allows them.
    mode_mask: AtomicU32,
}

impl Settings {
    pub(super) fn new(read_only: bool) -> Self {
        Settings {
            read_only: AtomicBool::new(read_only),
            mode_mask: AtomicU32::new(PERMISSION_BITS),
        }
    }

    pub(super) fn read_only(&self) -> bool {
        self.read_only.load(Ordering::Acquire)
    }

    pub(super) fn set_read_only(&self, read_only: bool) {
        self.read_only.store(read_only, Ordering::Release);
    }

    pub(super) fn mode_mask(&self) -> u32 {
        self.mode_mask.load(Ordering::Acquire)
    }

    pub(super) fn set_allow_special_bits(&self, allow: bool) {
        let mask = if allow { 0o7777 } else { PERMISSION_BITS };
        self.mode_mask.store(mask, Ordering::Release);
    }
}

/// A change through a handle of a mount that is read-only now (the handle may have been opened
/// for writing before the mount was made read-only).
pub(super) fn read_only_handle(path: &str, op: &'static str) -> Error {
    Error::permission_denied(path)
        .with_op(op)
        .with_message("permission denied (read-only filesystem)")
}

impl LocalFs {
    /// Lets clients set setuid, setgid and sticky bits (chmod, mkdir, handle open, kept on
    /// writes); off by default.
    pub fn allow_special_bits(self, allow: bool) -> Self {
        self.settings.set_allow_special_bits(allow);
        self
    }

    /// Whether the mount refuses every change now.
    pub(super) fn read_only(&self) -> bool {
        self.settings.read_only()
    }

    /// The permission bits a mode given by a client may set now.
    pub(super) fn mode_mask(&self) -> u32 {
        self.settings.mode_mask()
    }

    /// `read_only` and `allow_special_bits` change in place, for every operation that starts
    /// from then on, through open handles too; `local_dir` needs a remount.
    pub(super) fn reconfigure_in_place(&self, old: &Value, new: &Value) -> Result<Reconfigured> {
        fs_core::config::check_live(&fs_core::config::params(&[super::KEYS]), old, new)?;
        let read_only = super::READ_ONLY.get(new)?;
        let allow = super::ALLOW_SPECIAL_BITS.get(new)?;
        self.settings.set_allow_special_bits(allow);
        self.settings.set_read_only(read_only);
        Ok(Reconfigured::Accepted)
    }
}
