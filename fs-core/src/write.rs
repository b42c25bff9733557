//! The rules of a write, written once for every plugin: which flags create a missing file, where the
//! bytes land and how large the file becomes ([`WritePlan`]), the overflow checks on every offset and
//! size ([`check_size`], [`MAX_FILE_SIZE`]), and the size caps of plugins that keep content in memory
//! ([`MemoryLimits`]).

use std::fmt;

use bytes::{Bytes, BytesMut};
use serde_json::Value;

use crate::{Error, ErrorKind, Result};

/// The largest file size, offset or end of a write that pfs accepts anywhere: `i64::MAX`, the range
/// of `off_t`, of SQL integers and of the C ABI's `int64_t`.
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// Checks that a file may become `size` bytes long (or that `size` is a valid offset) on a
/// filesystem whose largest file is `max` bytes.
///
/// ```
/// use fs_core::write::{check_size, MAX_FILE_SIZE};
/// use fs_core::ErrorKind;
/// assert!(check_size("/f", 10, 10).is_ok());
/// assert_eq!(check_size("/f", 11, 10).unwrap_err().kind(), ErrorKind::PayloadTooLarge);
/// assert_eq!(check_size("/f", MAX_FILE_SIZE + 1, u64::MAX).unwrap_err().kind(), ErrorKind::InvalidArgument);
/// ```
///
/// # Errors
/// `InvalidArgument` past [`MAX_FILE_SIZE`] (no filesystem can hold it: the number is wrong);
/// `PayloadTooLarge` past `max` (this filesystem will not hold it).
pub fn check_size(path: &str, size: u64, max: u64) -> Result<()> {
    if size > MAX_FILE_SIZE {
        Err(Error::invalid_argument(format!(
            "{size} is past the largest file size pfs supports ({MAX_FILE_SIZE} bytes)"
        ))
        .with_path(path))
    } else if size > max {
        Err(Error::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "the file would reach {size} bytes, over this mount's limit of {max} bytes per file"
            ),
        )
        .with_path(path))
    } else {
        Ok(())
    }
}

/// Flags of a write, with AGFS's bit values (the C ABI passes them through unchanged).
///
/// No flag (or only `SYNC`) means "create if missing"; no offset and no `APPEND` means "replace the
/// content" — together the AGFS default of `PUT /files`. [`WritePlan`] applies them.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct WriteFlags(u32);

impl WriteFlags {
    /// No flags.
    pub const NONE: WriteFlags = WriteFlags(0);
    /// Append the data at the end of the file (the offset is ignored).
    pub const APPEND: WriteFlags = WriteFlags(1);
    /// Create the file when it does not exist.
    pub const CREATE: WriteFlags = WriteFlags(2);
    /// With `CREATE`: fail with `AlreadyExists` when the file exists.
    pub const EXCLUSIVE: WriteFlags = WriteFlags(4);
    /// Empty the file before writing.
    pub const TRUNCATE: WriteFlags = WriteFlags(8);
    /// Make the data durable before answering.
    pub const SYNC: WriteFlags = WriteFlags(16);

    const NAMES: [(&'static str, WriteFlags); 5] = [
        ("append", Self::APPEND),
        ("create", Self::CREATE),
        ("exclusive", Self::EXCLUSIVE),
        ("truncate", Self::TRUNCATE),
        ("sync", Self::SYNC),
    ];

    /// The raw bits.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Flags from raw bits; unknown bits are dropped.
    pub fn from_bits_truncate(bits: u32) -> Self {
        WriteFlags(bits & 31)
    }

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: WriteFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether a write with these flags creates a missing file: `CREATE` is set, or no flag but
    /// `SYNC` is (the AGFS default; `sync` only asks for durability).
    ///
    /// ```
    /// use fs_core::WriteFlags;
    /// assert!(WriteFlags::NONE.creates() && WriteFlags::SYNC.creates());
    /// assert!((WriteFlags::CREATE | WriteFlags::APPEND).creates());
    /// assert!(!WriteFlags::APPEND.creates() && !WriteFlags::TRUNCATE.creates());
    /// ```
    pub fn creates(self) -> bool {
        self.contains(Self::CREATE) || self.0 & !Self::SYNC.0 == 0
    }

    /// Whether an existing file makes the write fail (`CREATE|EXCLUSIVE`, O_EXCL).
    pub fn is_exclusive(self) -> bool {
        self.contains(Self::CREATE | Self::EXCLUSIVE)
    }

    /// Whether the old content goes: `TRUNCATE`, or neither an offset nor `APPEND` (a whole
    /// replacement).
    pub fn replaces(self, offset: Option<u64>) -> bool {
        self.contains(Self::TRUNCATE) || (offset.is_none() && !self.contains(Self::APPEND))
    }

    /// Parses the comma-separated form of the HTTP API (`append,create,exclusive,truncate,sync`).
    ///
    /// ```
    /// use fs_core::WriteFlags;
    /// let f = WriteFlags::parse("create, truncate").unwrap();
    /// assert_eq!(f, WriteFlags::CREATE | WriteFlags::TRUNCATE);
    /// assert_eq!(WriteFlags::parse("").unwrap(), WriteFlags::NONE);
    /// assert!(WriteFlags::parse("create,bogus").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self> {
        let mut out = WriteFlags::NONE;
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let flag = Self::NAMES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(word))
                .map(|(_, f)| *f)
                .ok_or_else(|| {
                    Error::invalid_argument(format!(
                        "invalid flags parameter: unknown flag '{word}' (allowed: append, create, exclusive, truncate, sync)"
                    ))
                })?;
            out = out | flag;
        }
        Ok(out)
    }
}

impl std::ops::BitOr for WriteFlags {
    type Output = WriteFlags;
    fn bitor(self, rhs: WriteFlags) -> WriteFlags {
        WriteFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for WriteFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Self::NAMES
            .iter()
            .filter(|(_, fl)| self.contains(*fl))
            .map(|(n, _)| *n)
            .collect();
        write!(f, "WriteFlags({})", names.join(","))
    }
}

/// What a write does to a file, decided before any byte is stored: the flags checked against the
/// file as it is (missing or `current` bytes long), the place of the data, the size afterwards,
/// every number checked against the filesystem's largest file.
///
/// ```
/// use fs_core::{WriteFlags, WritePlan};
/// // pwrite of 3 bytes at 8 into a 5-byte file: the 5 stay, zeros fill 5..8, size 11.
/// let p = WritePlan::new("/f", Some(5), Some(8), WriteFlags::NONE, 3, u64::MAX).unwrap();
/// assert_eq!((p.keep, p.at, p.size, p.creates), (5, 8, 11, false));
/// // The PUT default on a missing file: created, the data is the content.
/// let p = WritePlan::new("/f", None, None, WriteFlags::NONE, 4, u64::MAX).unwrap();
/// assert_eq!((p.keep, p.at, p.size, p.creates), (0, 0, 4, true));
/// // An offset that would wrap is refused, not wrapped.
/// assert!(WritePlan::new("/f", Some(4), Some(u64::MAX), WriteFlags::NONE, 2, u64::MAX).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WritePlan {
    /// How many bytes of the old content stay (the first `keep`): 0 when the write replaces or
    /// truncates, the old size otherwise.
    pub keep: u64,
    /// Where the data starts.
    pub at: u64,
    /// The size of the file afterwards. A zero-length write changes no size.
    pub size: u64,
    /// Whether the file is missing and the write creates it.
    pub creates: bool,
}

impl WritePlan {
    /// Decides a write of `len` bytes to `path` at `offset` with `flags`, the file being `current`
    /// bytes long (`None`: missing), on a filesystem whose largest file is `max` bytes.
    ///
    /// # Errors
    /// `NotFound` for a missing file the flags do not create; `AlreadyExists` for an exclusive
    /// create of an existing file; `InvalidArgument` or `PayloadTooLarge` ([`check_size`]) when the
    /// offset or the end of the data is past the largest file.
    pub fn new(
        path: &str,
        current: Option<u64>,
        offset: Option<u64>,
        flags: WriteFlags,
        len: u64,
        max: u64,
    ) -> Result<WritePlan> {
        let creates = match current {
            None if flags.creates() => true,
            None => return Err(Error::not_found(path)),
            Some(_) if flags.is_exclusive() => return Err(Error::already_exists(path)),
            Some(_) => false,
        };
        let keep = if flags.replaces(offset) {
            0
        } else {
            current.unwrap_or(0)
        };
        let at = if flags.contains(WriteFlags::APPEND) {
            keep
        } else {
            offset.unwrap_or(0)
        };
        // The end bounds the offset too; saturating, so a wrapping sum is refused like a big one.
        let end = at.saturating_add(len);
        check_size(path, end, max)?;
        let size = if len == 0 { keep } else { keep.max(end) };
        Ok(WritePlan {
            keep,
            at,
            size,
            creates,
        })
    }

    /// The new content of an in-memory file: `data` laid over the first `keep` bytes of `old` at
    /// `at`, zeros in any gap. A whole replacement is `data` itself (no copy); `old`'s buffer is
    /// reused when nothing else shares it.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use fs_core::{WriteFlags, WritePlan};
    /// let old = Bytes::from_static(b"KEEP");
    /// let p = WritePlan::new("/f", Some(4), Some(6), WriteFlags::NONE, 2, 100).unwrap();
    /// assert_eq!(p.apply(old, Bytes::from_static(b"YZ")), &b"KEEP\0\0YZ"[..]);
    /// ```
    pub fn apply(&self, old: Bytes, data: Bytes) -> Bytes {
        let keep = (self.keep as usize).min(old.len());
        if keep == 0 && self.at == 0 {
            return data;
        }
        if data.is_empty() {
            return old.slice(..keep);
        }
        // Both numbers passed `check_size` against the plugin's cap, which fits in memory.
        let (at, size) = (self.at as usize, self.size as usize);
        let mut buf = match old.try_into_mut() {
            Ok(mut unique) => {
                unique.truncate(keep);
                unique
            }
            Err(shared) => {
                let mut copy = BytesMut::with_capacity(size);
                copy.extend_from_slice(&shared[..keep]);
                copy
            }
        };
        if buf.len() < size {
            buf.resize(size, 0);
        }
        buf[at..at + data.len()].copy_from_slice(&data);
        buf.freeze()
    }
}

/// The size caps of a plugin that keeps file content in memory (memfs, kvfs): a request can never
/// make it allocate more than `max_file_size` for one file or `max_total_size` for the mount. Both
/// are config keys of the plugin ([`MemoryLimits::KEYS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    /// Largest file (or value).
    pub max_file_size: u64,
    /// Most content bytes the mount holds in all.
    pub max_total_size: u64,
}

/// The default per-file cap of in-memory plugins: 1 GiB.
pub const DEFAULT_MAX_MEMORY_FILE: u64 = 1 << 30;

/// The config keys of [`MemoryLimits`].
pub mod memory_keys {
    use crate::config::{Key, Size};

    crate::config_keys! {
        pub KEYS;
        /// The largest file (or value).
        pub MAX_FILE_SIZE: Size = Key::optional(
            "max_file_size",
            Size(super::DEFAULT_MAX_MEMORY_FILE),
            "the largest file; a write, append, truncate or handle seek past it answers 413 (400 for the seek) and changes nothing",
        )
        .live();
        /// The most bytes all files hold together.
        pub MAX_TOTAL_SIZE: Size = Key::unset(
            "max_total_size",
            "the most bytes all files hold together; a change past it answers 413",
        )
        .default_text("half of physical memory (as tmpfs)")
        .live();
    }
}

impl MemoryLimits {
    /// The two config keys, for a plugin's `config_params()`.
    pub const KEYS: &[&dyn crate::config::Declared] = memory_keys::KEYS;

    /// The caps in `config`, or the defaults: 1 GiB per file, half of physical memory (as tmpfs)
    /// per mount.
    ///
    /// # Errors
    /// `InvalidArgument` naming the key when a value is not a size, or is 0.
    pub fn from_config(config: &Value) -> Result<MemoryLimits> {
        use memory_keys as keys;
        let total = keys::MAX_TOTAL_SIZE
            .opt(config)?
            .unwrap_or_else(half_of_memory);
        let file = keys::MAX_FILE_SIZE
            .opt(config)?
            .unwrap_or(DEFAULT_MAX_MEMORY_FILE.min(total));
        let named = [
            (keys::MAX_FILE_SIZE.name(), file),
            (keys::MAX_TOTAL_SIZE.name(), total),
        ];
        for (key, v) in named {
            if v == 0 {
                return Err(Error::invalid_argument(format!(
                    "invalid value for '{key}': must be more than 0 bytes"
                )));
            }
        }
        Ok(MemoryLimits {
            max_file_size: file.min(MAX_FILE_SIZE),
            max_total_size: total,
        })
    }

    /// The caps of `config` for a mount that holds `used` bytes and takes them in place: a total
    /// below `used` is refused (nothing would fit, and nothing is deleted to make room); a
    /// per-file cap given above the total is lowered to it, and the config saying so is returned
    /// (`Some`: the change was amended).
    ///
    /// # Errors
    /// `InvalidArgument` naming the key, as [`MemoryLimits::from_config`], and for a total below
    /// what the mount holds.
    pub fn for_change(config: &Value, used: u64) -> Result<(MemoryLimits, Option<Value>)> {
        use memory_keys as keys;
        let limits = MemoryLimits::from_config(config)?;
        if limits.max_total_size < used {
            return Err(Error::invalid_argument(format!(
                "invalid value for '{}': {} bytes is less than the {used} bytes this mount holds",
                keys::MAX_TOTAL_SIZE.name(),
                limits.max_total_size
            )));
        }
        if limits.max_file_size <= limits.max_total_size {
            return Ok((limits, None));
        }
        let mut amended = config.clone();
        if let Value::Object(m) = &mut amended {
            m.insert(
                keys::MAX_FILE_SIZE.name().into(),
                Value::from(limits.max_total_size),
            );
        }
        let limits = MemoryLimits {
            max_file_size: limits.max_total_size,
            ..limits
        };
        Ok((limits, Some(amended)))
    }

    /// Checks that the mount, holding `used` bytes, may replace a file of `old` bytes by one of
    /// `new` bytes.
    ///
    /// # Errors
    /// `PayloadTooLarge` naming the mount's total when the change would pass it.
    pub fn check_total(&self, path: &str, used: u64, old: u64, new: u64) -> Result<()> {
        let after = used.saturating_sub(old).saturating_add(new);
        if new > old && after > self.max_total_size {
            return Err(Error::new(
                ErrorKind::PayloadTooLarge,
                format!(
                    "the mount would hold {after} bytes, over its max_total_size of {} bytes",
                    self.max_total_size
                ),
            )
            .with_path(path));
        }
        Ok(())
    }
}

impl Default for MemoryLimits {
    fn default() -> Self {
        let total = half_of_memory();
        MemoryLimits {
            max_file_size: DEFAULT_MAX_MEMORY_FILE.min(total),
            max_total_size: total,
        }
    }
}

/// Half of the machine's physical memory (`MemTotal` in `/proc/meminfo`), or 4 GiB where that is
/// not readable. Read once per process: every memory-backed mount asks.
fn half_of_memory() -> u64 {
    static HALF: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *HALF.get_or_init(|| {
        let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib.saturating_mul(1024))
        });
        total.map_or(4 << 30, |t| t / 2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(cur: Option<u64>, off: Option<u64>, flags: WriteFlags, len: u64) -> Result<WritePlan> {
        WritePlan::new("/f", cur, off, flags, len, 1 << 20)
    }

    #[test]
    fn flags_decide_creation_the_same_way_for_every_plugin() {
        use WriteFlags as F;
        assert!(plan(None, None, F::NONE, 1).unwrap().creates);
        assert!(plan(None, None, F::SYNC, 1).unwrap().creates);
        assert!(plan(None, Some(3), F::NONE, 1).unwrap().creates);
        for no_create in [F::APPEND, F::TRUNCATE, F::EXCLUSIVE, F::APPEND | F::SYNC] {
            let e = plan(None, None, no_create, 1).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound, "{no_create:?}");
        }
        let e = plan(Some(1), None, F::CREATE | F::EXCLUSIVE, 1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        // EXCLUSIVE without CREATE is ignored, as O_EXCL without O_CREAT.
        assert!(plan(Some(1), None, F::EXCLUSIVE, 1).is_ok());
    }

    #[test]
    fn placement_follows_offset_append_and_truncate() {
        use WriteFlags as F;
        let p = |cur, off, flags, len| {
            let p = plan(cur, off, flags, len).unwrap();
            (p.keep, p.at, p.size)
        };
        assert_eq!(p(Some(10), None, F::NONE, 3), (0, 0, 3));
        assert_eq!(p(Some(10), Some(2), F::NONE, 3), (10, 2, 10));
        assert_eq!(p(Some(10), Some(9), F::NONE, 3), (10, 9, 12));
        assert_eq!(p(Some(10), Some(2), F::APPEND, 3), (10, 10, 13));
        assert_eq!(p(Some(10), Some(2), F::TRUNCATE, 3), (0, 2, 5));
        assert_eq!(p(Some(10), None, F::APPEND | F::TRUNCATE, 3), (0, 0, 3));
        // A zero-length write past the end extends nothing (pwrite(2) of 0 bytes).
        assert_eq!(p(Some(10), Some(50), F::NONE, 0), (10, 50, 10));
    }

    #[test]
    fn extreme_offsets_are_refused_before_anything_is_sized() {
        for off in [1u64 << 40, 1 << 53, MAX_FILE_SIZE] {
            let e = plan(Some(4), Some(off), WriteFlags::NONE, 1).unwrap_err();
            let want = if off == MAX_FILE_SIZE {
                ErrorKind::InvalidArgument
            } else {
                ErrorKind::PayloadTooLarge
            };
            assert_eq!(e.kind(), want, "{off}: {e}");
        }
        let e = plan(Some(4), Some(u64::MAX), WriteFlags::NONE, 2).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains("largest file size"), "{e}");
        // At the cap exactly is allowed.
        assert!(plan(Some(0), Some((1 << 20) - 1), WriteFlags::NONE, 1).is_ok());
    }

    #[test]
    fn apply_reuses_unshared_buffers_and_copies_shared_ones() {
        let p = WritePlan::new("/f", Some(4), Some(1), WriteFlags::NONE, 2, 100).unwrap();
        let shared = Bytes::from_static(b"KEEP");
        assert_eq!(p.apply(shared.clone(), Bytes::from_static(b"ab")), "KabP");
        assert_eq!(shared, "KEEP", "the shared original is untouched");
        let unique = Bytes::from(b"KEEP".to_vec());
        assert_eq!(p.apply(unique, Bytes::from_static(b"ab")), "KabP");
        let data = Bytes::from_static(b"new");
        let replace = WritePlan::new("/f", Some(4), None, WriteFlags::NONE, 3, 100).unwrap();
        let out = replace.apply(Bytes::from_static(b"KEEP"), data.clone());
        assert_eq!(
            out.as_ptr(),
            data.as_ptr(),
            "a replacement stores the body as is"
        );
    }

    #[test]
    fn memory_limits_default_and_refuse_zero() {
        let l = MemoryLimits::from_config(&serde_json::json!({})).unwrap();
        assert!(l.max_file_size <= DEFAULT_MAX_MEMORY_FILE && l.max_total_size > 0);
        let l = MemoryLimits::from_config(
            &serde_json::json!({"max_file_size": "1KB", "max_total_size": 4096}),
        )
        .unwrap();
        assert_eq!((l.max_file_size, l.max_total_size), (1024, 4096));
        assert!(l.check_total("/f", 4000, 0, 96).is_ok());
        let e = l.check_total("/f", 4000, 0, 97).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PayloadTooLarge);
        // Shrinking is always allowed, even over the cap.
        assert!(l.check_total("/f", 9000, 100, 50).is_ok());
        let e = MemoryLimits::from_config(&serde_json::json!({"max_file_size": 0})).unwrap_err();
        assert!(e.to_string().contains("max_file_size"), "{e}");
    }
}
