//! [`PluginError`]: what a plugin method returns on failure, and how it crosses the ABI (an
//! errno-prefixed text such as `ENOENT: no such file or directory`, or `-errno` from `FSWrite`).

use std::fmt;

use c_abi::errno::{self, Errno};

/// A failed plugin operation: one kind per errno the host understands, optionally with a message
/// of the plugin's own.
///
/// The host already adds the mount and the path to every error, so the plain kinds are enough for
/// most failures; use [`PluginError::with_message`] when there is more to say (which config key is
/// wrong, which backend call failed).
///
/// ```
/// use pfs_plugin_sdk::PluginError;
///
/// assert_eq!(PluginError::NotFound.to_string(), "ENOENT: no such file or directory");
/// assert_eq!(PluginError::NotFound.errno(), 2);
/// let e = PluginError::InvalidArgument.with_message("missing key \"root\"");
/// assert_eq!(e.to_string(), "EINVAL: missing key \"root\"");
/// assert_eq!(PluginError::Io("disk on fire".into()).to_string(), "EIO: disk on fire");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginError {
    /// The path does not exist (`ENOENT`, HTTP 404).
    NotFound,
    /// The path already exists (`EEXIST`, HTTP 409).
    AlreadyExists,
    /// A directory was expected (`ENOTDIR`, HTTP 400).
    NotADirectory,
    /// A file was expected (`EISDIR`, HTTP 400).
    IsADirectory,
    /// The directory is not empty (`ENOTEMPTY`, HTTP 409).
    NotEmpty,
    /// The operation is not allowed (`EACCES`, HTTP 403).
    PermissionDenied,
    /// An argument or the config is wrong (`EINVAL`, HTTP 400).
    InvalidArgument,
    /// The plugin does not implement the operation (`ENOTSUP`, HTTP 501).
    Unsupported,
    /// An I/O or internal failure, described by the text (`EIO`, HTTP 500).
    Io(String),
    /// One of the kinds above with a message of the plugin's own instead of the standard words
    /// (built by [`PluginError::with_message`]).
    WithMessage(Box<PluginError>, String),
}

impl PluginError {
    /// Returns this error's kind with `message` as its text (the errno prefix stays).
    pub fn with_message(self, message: impl Into<String>) -> PluginError {
        let message = message.into();
        match self {
            PluginError::Io(_) => PluginError::Io(message),
            PluginError::WithMessage(kind, _) => PluginError::WithMessage(kind, message),
            kind => PluginError::WithMessage(Box::new(kind), message),
        }
    }

    /// Returns the kind without a custom message (`Io` keeps its text).
    pub fn kind(&self) -> &PluginError {
        match self {
            PluginError::WithMessage(kind, _) => kind.kind(),
            kind => kind,
        }
    }

    /// Returns the errno of this error's kind, from the table the host decodes with
    /// (`c_abi::errno`).
    fn wire_errno(&self) -> Errno {
        match self.kind() {
            PluginError::NotFound => errno::ENOENT,
            PluginError::AlreadyExists => errno::EEXIST,
            PluginError::NotADirectory => errno::ENOTDIR,
            PluginError::IsADirectory => errno::EISDIR,
            PluginError::NotEmpty => errno::ENOTEMPTY,
            PluginError::PermissionDenied => errno::EACCES,
            PluginError::InvalidArgument => errno::EINVAL,
            PluginError::Unsupported => errno::ENOTSUP,
            PluginError::Io(_) | PluginError::WithMessage(..) => errno::EIO,
        }
    }

    /// Returns the errno name that prefixes the error text (`"ENOENT"`).
    pub fn errno_name(&self) -> &'static str {
        self.wire_errno().name
    }

    /// Returns the errno number whose negation `FSWrite` returns.
    ///
    /// These are the Linux numbers on every platform: they are part of the wire contract of
    /// `pfs_plugin.h` (the host decodes them with the same table), not the build platform's errno.
    pub fn errno(&self) -> i32 {
        self.wire_errno().code
    }

    /// Returns the text after the errno prefix: the custom message, or the kind's standard words
    /// (chosen so that hosts matching words, like AGFS, pick the same status).
    pub fn message(&self) -> &str {
        match self {
            PluginError::NotFound => "no such file or directory",
            PluginError::AlreadyExists => "file already exists",
            PluginError::NotADirectory => "not a directory",
            PluginError::IsADirectory => "is a directory",
            PluginError::NotEmpty => "directory not empty",
            PluginError::PermissionDenied => "permission denied",
            PluginError::InvalidArgument => "invalid argument",
            PluginError::Unsupported => "operation not supported",
            PluginError::Io(text) | PluginError::WithMessage(_, text) => text,
        }
    }

    /// Returns the error a panic becomes: `EIO: plugin panicked: <msg>`.
    pub(crate) fn panicked(msg: &str) -> PluginError {
        PluginError::Io(format!("plugin panicked: {msg}"))
    }
}

/// Formats the error text of the ABI: `<ERRNO>: <message>`.
impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.errno_name(), self.message())
    }
}

impl std::error::Error for PluginError {}

/// Maps a `std::io::Error` by its kind, keeping its text, so plugins backed by files can use `?`.
impl From<std::io::Error> for PluginError {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let kind = match e.kind() {
            K::NotFound => PluginError::NotFound,
            K::AlreadyExists => PluginError::AlreadyExists,
            K::NotADirectory => PluginError::NotADirectory,
            K::IsADirectory => PluginError::IsADirectory,
            K::DirectoryNotEmpty => PluginError::NotEmpty,
            K::PermissionDenied | K::ReadOnlyFilesystem => PluginError::PermissionDenied,
            K::InvalidInput | K::InvalidData | K::InvalidFilename => PluginError::InvalidArgument,
            K::Unsupported => PluginError::Unsupported,
            _ => return PluginError::Io(e.to_string()),
        };
        kind.with_message(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every kind.
    fn every_kind() -> [PluginError; 9] {
        let all = [
            PluginError::NotFound,
            PluginError::AlreadyExists,
            PluginError::NotADirectory,
            PluginError::IsADirectory,
            PluginError::NotEmpty,
            PluginError::PermissionDenied,
            PluginError::InvalidArgument,
            PluginError::Unsupported,
            PluginError::Io("disk".into()),
        ];
        // A kind added to the enum does not compile here until it is listed above.
        match &all[0] {
            PluginError::NotFound
            | PluginError::AlreadyExists
            | PluginError::NotADirectory
            | PluginError::IsADirectory
            | PluginError::NotEmpty
            | PluginError::PermissionDenied
            | PluginError::InvalidArgument
            | PluginError::Unsupported
            | PluginError::Io(_)
            | PluginError::WithMessage(..) => {}
        }
        all
    }

    #[test]
    fn every_kind_round_trips_through_the_hosts_errno_table() {
        let all = every_kind();
        for (i, e) in all.iter().enumerate() {
            let wire = e.wire_errno();
            assert!(
                all[..i].iter().all(|o| o.wire_errno() != wire),
                "{e:?} shares {wire:?}"
            );
            // The host reads the text's prefix back as the same errno, custom message or not...
            assert_eq!(errno::Errno::from_text(&e.to_string()), Some(wire), "{e:?}");
            let custom = e.clone().with_message("key: missing");
            assert_eq!(errno::Errno::from_text(&custom.to_string()), Some(wire));
            // ... and FSWrite's `-errno` too; `-EIO` it reports by number, as the same 500.
            let decoded = Errno::from_write_result(-i64::from(custom.errno()));
            assert_eq!(decoded, (wire != errno::EIO).then_some(wire), "{e:?}");
        }
    }
}
