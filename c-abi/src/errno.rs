//! The errno names and numbers of the ABI: the one table the host (which reads them) and the Rust
//! plugin SDK (which writes them) share.
//!
//! An error text may start with an errno name and a colon (`ENOENT: no such file`), and `FSWrite`
//! returns `-errno` on failure. The numbers are Linux's on every platform: they are part of the wire
//! contract of `pfs_plugin.h`, not the build platform's errno. Which HTTP status each errno means is
//! the host's business (`errors.rs`, behind the `host` feature); this module has no dependencies.

/// One errno of the ABI: its name and its (Linux) number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno {
    /// The name that prefixes an error text (`"ENOENT"`).
    pub name: &'static str,
    /// The number whose negation `FSWrite` returns (`2`).
    pub code: i32,
}

/// No such file or directory.
pub const ENOENT: Errno = Errno::new("ENOENT", 2);
/// File exists.
pub const EEXIST: Errno = Errno::new("EEXIST", 17);
/// Not a directory.
pub const ENOTDIR: Errno = Errno::new("ENOTDIR", 20);
/// Is a directory.
pub const EISDIR: Errno = Errno::new("EISDIR", 21);
/// Directory not empty.
pub const ENOTEMPTY: Errno = Errno::new("ENOTEMPTY", 39);
/// Permission denied.
pub const EACCES: Errno = Errno::new("EACCES", 13);
/// Operation not permitted (read as `EACCES`).
pub const EPERM: Errno = Errno::new("EPERM", 1);
/// Read-only file system (read as `EACCES`).
pub const EROFS: Errno = Errno::new("EROFS", 30);
/// Invalid argument.
pub const EINVAL: Errno = Errno::new("EINVAL", 22);
/// Operation not supported.
pub const ENOTSUP: Errno = Errno::new("ENOTSUP", 95);
/// Operation not supported on socket: Linux's other name for `ENOTSUP`.
pub const EOPNOTSUPP: Errno = Errno::new("EOPNOTSUPP", 95);
/// Function not implemented (read as `ENOTSUP`).
pub const ENOSYS: Errno = Errno::new("ENOSYS", 38);
/// Resource temporarily unavailable.
pub const EAGAIN: Errno = Errno::new("EAGAIN", 11);
/// Connection timed out.
pub const ETIMEDOUT: Errno = Errno::new("ETIMEDOUT", 110);
/// File too large.
pub const EFBIG: Errno = Errno::new("EFBIG", 27);
/// No space left on device.
pub const ENOSPC: Errno = Errno::new("ENOSPC", 28);
/// Disk quota exceeded.
pub const EDQUOT: Errno = Errno::new("EDQUOT", 122);
/// Cannot allocate memory.
pub const ENOMEM: Errno = Errno::new("ENOMEM", 12);
/// Input/output error: any other failure.
pub const EIO: Errno = Errno::new("EIO", 5);

/// Every errno the host reads at the start of an error text: the ones `pfs_plugin.h` lists, and
/// the aliases `EPERM`, `EROFS`, `EOPNOTSUPP` and `ENOSYS`.
pub const ALL: [Errno; 19] = [
    ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, EACCES, EPERM, EROFS, EINVAL, ENOTSUP, EOPNOTSUPP,
    ENOSYS, EAGAIN, ETIMEDOUT, EFBIG, ENOSPC, EDQUOT, ENOMEM, EIO,
];

/// The errnos a negative `FSWrite` result is decoded as. Not among them: `-1`, which AGFS plugins
/// return for every failure (so it stays an unexplained failure rather than `EPERM`), nor `EROFS`
/// and `EIO`, which the host has always reported by number as unexplained failures; `-ENOSYS` is
/// read as `ENOTSUP` (see [`Errno::from_write_result`]).
const WRITE: [Errno; 14] = [
    ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, EACCES, EINVAL, ENOTSUP, EAGAIN, ETIMEDOUT, EFBIG,
    ENOSPC, EDQUOT, ENOMEM,
];

impl Errno {
    const fn new(name: &'static str, code: i32) -> Errno {
        Errno { name, code }
    }

    /// The errno an error text starts with: the part before its first `:`, trimmed, when that is
    /// one of [`ALL`].
    ///
    /// ```
    /// use c_abi::errno::{Errno, ENOENT};
    ///
    /// assert_eq!(Errno::from_text("ENOENT: gone"), Some(ENOENT));
    /// assert_eq!(Errno::from_text("file not found"), None);
    /// ```
    pub fn from_text(text: &str) -> Option<Errno> {
        let (name, _) = text.split_once(':')?;
        let name = name.trim();
        ALL.into_iter().find(|e| e.name == name)
    }

    /// The errno a negative `FSWrite` result names; `None` for `-1` (an unexplained failure) and
    /// for numbers the host does not decode. `-ENOSYS` and `-EOPNOTSUPP` are `ENOTSUP`.
    ///
    /// ```
    /// use c_abi::errno::{ENOENT, ENOTSUP, Errno};
    ///
    /// assert_eq!(Errno::from_write_result(-2), Some(ENOENT));
    /// assert_eq!(Errno::from_write_result(-38), Some(ENOTSUP));
    /// assert_eq!(Errno::from_write_result(-1), None);
    /// ```
    pub fn from_write_result(result: i64) -> Option<Errno> {
        let code = result.checked_neg()?;
        if code == i64::from(ENOSYS.code) {
            return Some(ENOTSUP);
        }
        WRITE.into_iter().find(|e| i64::from(e.code) == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_numbers_are_linux() {
        for (i, e) in ALL.iter().enumerate() {
            assert!(ALL[..i].iter().all(|o| o.name != e.name), "{e:?} twice");
        }
        // A few of the numbers the header spells out: these are the wire contract.
        let header = [
            ("ENOENT", 2),
            ("EEXIST", 17),
            ("EACCES", 13),
            ("ENOTSUP", 95),
        ];
        for (name, code) in header {
            assert_eq!(
                Errno::from_text(&format!("{name}: x")).map(|e| e.code),
                Some(code)
            );
        }
    }

    #[test]
    fn write_results_decode_to_the_errno_of_their_number() {
        for e in ALL {
            let expected = if [EPERM, EROFS, EIO].contains(&e) {
                None
            } else if [ENOSYS, EOPNOTSUPP].contains(&e) {
                Some(ENOTSUP)
            } else {
                Some(e)
            };
            assert_eq!(
                Errno::from_write_result(-i64::from(e.code)),
                expected,
                "{e:?}"
            );
        }
        for undecoded in [-1, -9999, i64::MIN, 0, 2] {
            assert_eq!(Errno::from_write_result(undecoded), None, "{undecoded}");
        }
    }

    #[test]
    fn a_text_names_an_errno_only_before_its_first_colon() {
        assert_eq!(Errno::from_text(" EISDIR : x"), Some(EISDIR));
        assert_eq!(Errno::from_text("EISDIR"), None);
        assert_eq!(Errno::from_text("bad: ENOENT: x"), None);
        assert_eq!(Errno::from_text("ENOENTX: x"), None);
    }
}
