//! The values plugin methods exchange with the host: [`FileInfo`] (becomes a `FileInfoC`),
//! [`WriteFlags`] (the `PFS_WRITE_*` bits of `FSWrite`) and [`Reconfigured`] (what
//! `PFSReconfigure` answers).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{BitOr, BitOrAssign};
use std::time::SystemTime;

/// Metadata of a file or directory, as `FSStat` and `FSReadDir` report it.
///
/// ```
/// use pfs_plugin_sdk::FileInfo;
///
/// let hello = FileInfo::file("hello", 24).with_meta("hellofs-rust", "file").with_content("language", "rust");
/// assert_eq!((hello.size, hello.mode, hello.is_dir), (24, 0o644, false));
/// assert_eq!(hello.meta_content["language"], "rust");
/// assert!(FileInfo::dir("/").is_dir);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The last path component (`/` for the root of the mount).
    pub name: String,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Permission bits (`0o644`); type bits are ignored by the host.
    pub mode: u32,
    /// Last modification time; crosses the ABI as whole Unix seconds.
    pub mod_time: SystemTime,
    /// Whether this is a directory.
    pub is_dir: bool,
    /// `meta.Name`: usually the plugin's name; empty = none (NULL).
    pub meta_name: String,
    /// `meta.Type`: a type word such as `file` or `directory`; empty = none (NULL).
    pub meta_type: String,
    /// `meta.Content`: sent as a JSON object of strings; empty = none (NULL).
    pub meta_content: BTreeMap<String, String>,
}

impl FileInfo {
    /// Returns a regular file of `size` bytes, mode `0o644`, modified at the Unix epoch.
    pub fn file(name: impl Into<String>, size: u64) -> FileInfo {
        FileInfo {
            name: name.into(),
            size,
            mode: 0o644,
            mod_time: SystemTime::UNIX_EPOCH,
            is_dir: false,
            meta_name: String::new(),
            meta_type: String::new(),
            meta_content: BTreeMap::new(),
        }
    }

    /// Returns a directory, mode `0o755`, modified at the Unix epoch.
    pub fn dir(name: impl Into<String>) -> FileInfo {
        FileInfo {
            mode: 0o755,
            is_dir: true,
            ..FileInfo::file(name, 0)
        }
    }

    /// Returns `self` with permission bits `mode`.
    pub fn with_mode(mut self, mode: u32) -> FileInfo {
        self.mode = mode;
        self
    }

    /// Returns `self` modified at `time`.
    pub fn with_mod_time(mut self, time: SystemTime) -> FileInfo {
        self.mod_time = time;
        self
    }

    /// Returns `self` with `meta.Name` and `meta.Type`.
    pub fn with_meta(mut self, name: impl Into<String>, kind: impl Into<String>) -> FileInfo {
        self.meta_name = name.into();
        self.meta_type = kind.into();
        self
    }

    /// Returns `self` with one more `meta.Content` entry.
    pub fn with_content(mut self, key: impl Into<String>, value: impl Into<String>) -> FileInfo {
        self.meta_content.insert(key.into(), value.into());
        self
    }

    /// Returns the modification time in Unix seconds (negative before 1970), as `FileInfoC` holds it.
    pub fn mod_time_unix(&self) -> i64 {
        match self.mod_time.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
        }
    }
}

/// The flags of a write: the `PFS_WRITE_*` bits of `pfs_plugin.h` (AGFS's `WriteFlag`).
///
/// No flag at all with no offset means "create and replace the content".
///
/// ```
/// use pfs_plugin_sdk::WriteFlags;
///
/// let f = WriteFlags::CREATE | WriteFlags::TRUNCATE;
/// assert_eq!(f.bits(), 0b1010);
/// assert!(f.contains(WriteFlags::CREATE) && !f.contains(WriteFlags::APPEND));
/// assert!(WriteFlags::from_bits(0).is_empty());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct WriteFlags(u32);

impl WriteFlags {
    /// No flag.
    pub const NONE: WriteFlags = WriteFlags(0);
    /// `PFS_WRITE_APPEND`: write at the end of the file (the offset is ignored).
    pub const APPEND: WriteFlags = WriteFlags(1 << 0);
    /// `PFS_WRITE_CREATE`: create the file when it is missing.
    pub const CREATE: WriteFlags = WriteFlags(1 << 1);
    /// `PFS_WRITE_EXCLUSIVE`: with `CREATE`, fail with `AlreadyExists` when the file exists.
    pub const EXCLUSIVE: WriteFlags = WriteFlags(1 << 2);
    /// `PFS_WRITE_TRUNCATE`: empty the file before writing.
    pub const TRUNCATE: WriteFlags = WriteFlags(1 << 3);
    /// `PFS_WRITE_SYNC`: make the data durable before returning.
    pub const SYNC: WriteFlags = WriteFlags(1 << 4);

    const NAMES: [(&'static str, WriteFlags); 5] = [
        ("APPEND", Self::APPEND),
        ("CREATE", Self::CREATE),
        ("EXCLUSIVE", Self::EXCLUSIVE),
        ("TRUNCATE", Self::TRUNCATE),
        ("SYNC", Self::SYNC),
    ];

    /// Returns the flags of the raw bits `FSWrite` received (unknown bits are kept).
    pub const fn from_bits(bits: u32) -> WriteFlags {
        WriteFlags(bits)
    }

    /// Returns the raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Returns whether every bit of `other` is set.
    pub const fn contains(self, other: WriteFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Returns whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for WriteFlags {
    type Output = WriteFlags;

    fn bitor(self, rhs: WriteFlags) -> WriteFlags {
        WriteFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for WriteFlags {
    fn bitor_assign(&mut self, rhs: WriteFlags) {
        self.0 |= rhs.0;
    }
}

/// Lists the set flags by name (`CREATE | TRUNCATE`), unknown bits in hex.
impl fmt::Debug for WriteFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let s = if first { "" } else { " | " };
            first = false;
            f.write_str(s)
        };
        for (name, flag) in Self::NAMES {
            if self.contains(flag) {
                sep(f)?;
                f.write_str(name)?;
                rest &= !flag.0;
            }
        }
        if rest != 0 {
            sep(f)?;
            write!(f, "{rest:#x}")?;
        }
        if first {
            f.write_str("NONE")?;
        }
        Ok(())
    }
}

/// What [`PluginFs::reconfigure`](crate::PluginFs::reconfigure) did with a new config it took in
/// place (a refusal is an error instead).
///
/// ```
/// use pfs_plugin_sdk::{Reconfigured, serde_json::json};
///
/// // A cap above what the plugin can hold, lowered to it: the host stores and shows this config.
/// let clamped = Reconfigured::Amended(json!({"max_file_size": 1024}));
/// assert_ne!(clamped, Reconfigured::Accepted);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Reconfigured {
    /// The new config is applied as given.
    Accepted,
    /// This config is applied instead: the whole config, a JSON object (the host ignores its
    /// `mount_path`).
    Amended(serde_json::Value),
}
