//! How a plugin's failures become fs-core errors: an errno ([`crate::errno`]) decides the kind
//! exactly; a v1 error text without one is judged by the words AGFS plugins use.

use fs_core::{Error, ErrorKind};

use crate::errno::*;

/// The kind an errno of the ABI is reported as (`EIO`, and any errno a later table adds without a
/// kind here, is `Internal`).
fn kind_of(errno: Errno) -> ErrorKind {
    match errno {
        ENOENT => ErrorKind::NotFound,
        EEXIST => ErrorKind::AlreadyExists,
        ENOTDIR => ErrorKind::NotADirectory,
        EISDIR => ErrorKind::IsADirectory,
        ENOTEMPTY => ErrorKind::DirectoryNotEmpty,
        EACCES | EPERM | EROFS => ErrorKind::PermissionDenied,
        EINVAL => ErrorKind::InvalidArgument,
        ENOTSUP | EOPNOTSUPP | ENOSYS => ErrorKind::Unsupported,
        EAGAIN | ENOMEM => ErrorKind::Unavailable,
        ETIMEDOUT => ErrorKind::Timeout,
        EFBIG | ENOSPC | EDQUOT => ErrorKind::PayloadTooLarge,
        _ => ErrorKind::Internal,
    }
}

/// Maps a plugin's error text to a kind: an errno prefix (`ENOENT: ...`) decides exactly; otherwise
/// the words AGFS plugins use.
pub fn map_error_text(text: &str) -> Error {
    let kind = Errno::from_text(text).map_or_else(|| kind_of_words(text), kind_of);
    Error::new(kind, text.to_string())
}

/// The kind a v1 error text's words say.
fn kind_of_words(text: &str) -> ErrorKind {
    let t = text.to_ascii_lowercase();
    if t.contains("not found") || t.contains("no such file") {
        ErrorKind::NotFound
    } else if t.contains("not supported") || t.contains("not implemented") {
        ErrorKind::Unsupported
    } else if t.contains("not a directory") {
        ErrorKind::NotADirectory
    } else if t.contains("is a directory") {
        ErrorKind::IsADirectory
    } else if t.contains("not empty") {
        ErrorKind::DirectoryNotEmpty
    } else if t.contains("exists") {
        ErrorKind::AlreadyExists
    } else if t.contains("permission denied") || t.contains("read-only") {
        ErrorKind::PermissionDenied
    } else if t.contains("invalid") {
        ErrorKind::InvalidArgument
    } else {
        ErrorKind::Internal
    }
}

/// The answer to a config change a plugin cannot take in place: `Unsupported`, pointing the caller
/// to a remount, as `FileSystem::reconfigure`'s default does; `why` follows the plugin's name.
pub(crate) fn remount_needed(plugin: &str, why: &str) -> Error {
    Error::unsupported("reconfigure").with_message(format!(
        "plugin {plugin} {why}; ask for a remount (\"remount\": true)"
    ))
}

/// Maps a `PFSReconfigure` rejection: an errno prefix decides the kind as for every call, and
/// `ENOTSUP` (or its aliases) is [`remount_needed`]; a reason without one is an invalid config,
/// whatever its words.
pub(crate) fn map_reconfigure_rejection(plugin: &str, text: &str) -> Error {
    match Errno::from_text(text).map(kind_of) {
        Some(ErrorKind::Unsupported) => remount_needed(
            plugin,
            &format!("cannot take this change in place ({text})"),
        ),
        Some(kind) => Error::new(kind, format!("plugin {plugin} refused the config: {text}")),
        None => Error::invalid_argument(format!("plugin {plugin} refused the config: {text}")),
    }
}

/// Maps a negative `FSWrite` result: `-errno` decides, `-1` is an unexplained failure.
pub(crate) fn map_write_error(code: i64) -> Error {
    match Errno::from_write_result(code) {
        Some(errno) => Error::new(kind_of(errno), format!("{}: write failed", errno.name)),
        None => Error::internal(format!("write failed (plugin returned {code})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kinds no errno names: the server's own (a plugin cannot be their cause), and `Internal`
    /// is only `EIO`.
    const SERVER_ONLY: [ErrorKind; 2] = [ErrorKind::RequestTimeout, ErrorKind::LoopDetected];

    #[test]
    fn every_errno_has_a_kind_of_its_own() {
        for errno in ALL {
            let kind = kind_of(errno);
            assert_eq!(
                kind == ErrorKind::Internal,
                errno == EIO,
                "{errno:?} → {kind:?}"
            );
        }
    }

    #[test]
    fn every_kind_round_trips_through_the_errno_table() {
        for kind in ErrorKind::ALL {
            let named: Vec<Errno> = ALL.into_iter().filter(|&e| kind_of(e) == kind).collect();
            assert_eq!(
                named.is_empty(),
                SERVER_ONLY.contains(&kind),
                "{kind:?}: {named:?}"
            );
            for errno in named {
                // Through an error text...
                let detail = format!("{}: detail", errno.name);
                let text = map_error_text(&detail);
                assert_eq!((text.kind(), text.message()), (kind, detail.as_str()));
                // ... and through FSWrite's `-errno`, where the host decodes it.
                let written = map_write_error(-i64::from(errno.code));
                match Errno::from_write_result(-i64::from(errno.code)) {
                    Some(decoded) => {
                        assert_eq!(written.kind(), kind, "{errno:?}");
                        assert_eq!(written.message(), format!("{}: write failed", decoded.name));
                    }
                    None => assert_eq!(written.kind(), ErrorKind::Internal, "{errno:?}"),
                }
            }
        }
    }

    #[test]
    fn undecoded_write_results_are_reported_by_number() {
        for code in [-1, -5, -30, -9999] {
            let e = map_write_error(code);
            assert_eq!(e.kind(), ErrorKind::Internal);
            assert_eq!(
                e.message(),
                format!("write failed (plugin returned {code})")
            );
        }
        assert_eq!(map_write_error(-38).message(), "ENOTSUP: write failed");
    }

    #[test]
    fn reconfigure_rejections_are_invalid_unless_an_errno_says_otherwise() {
        let cases = [
            // Words that would choose another status elsewhere do not here: a reason is a 400.
            ("size must be a number", ErrorKind::InvalidArgument),
            ("backend not found", ErrorKind::InvalidArgument),
            ("EINVAL: size must be a number", ErrorKind::InvalidArgument),
            ("ENOSPC: the store holds more", ErrorKind::PayloadTooLarge),
            ("EIO: the backend broke", ErrorKind::Internal),
            ("ENOTSUP: root cannot change", ErrorKind::Unsupported),
            ("ENOSYS: not here", ErrorKind::Unsupported),
        ];
        for (text, kind) in cases {
            let e = map_reconfigure_rejection("p", text);
            assert_eq!(e.kind(), kind, "{text}");
            assert!(e.message().contains(text), "{text}: {e}");
            assert_eq!(
                e.message()
                    .contains("ask for a remount (\"remount\": true)"),
                kind == ErrorKind::Unsupported,
                "{text}: {e}"
            );
        }
        assert_eq!(
            remount_needed("hellofs-c", "has no PFSReconfigure").to_string(),
            "reconfigure: plugin hellofs-c has no PFSReconfigure; ask for a remount (\"remount\": true)"
        );
    }

    #[test]
    fn texts_without_an_errno_are_judged_by_their_words() {
        let cases = [
            ("no such file or directory", ErrorKind::NotFound),
            ("not implemented", ErrorKind::Unsupported),
            ("not a directory", ErrorKind::NotADirectory),
            ("is a directory", ErrorKind::IsADirectory),
            ("directory not empty", ErrorKind::DirectoryNotEmpty),
            ("file exists", ErrorKind::AlreadyExists),
            ("read-only", ErrorKind::PermissionDenied),
            ("Invalid offset", ErrorKind::InvalidArgument),
            ("EWHAT: broke", ErrorKind::Internal),
        ];
        for (text, kind) in cases {
            assert_eq!(map_error_text(text).kind(), kind, "{text}");
        }
    }
}
