//! The one error type of pfs: an [`ErrorKind`] that decides the HTTP status, a message whose words clients
//! match on, the path it concerns, and an optional source.

use std::fmt;

/// The result type of every pfs filesystem operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, as a kind the server maps to one HTTP status.
///
/// The enum is deliberately not `#[non_exhaustive]`: adding a kind breaks every exhaustive `match`
/// (the server's status table, the C-ABI error codes), so nothing can forget to handle it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The path does not exist (404).
    NotFound,
    /// The path already exists and the operation needs it not to (409).
    AlreadyExists,
    /// The operation is not allowed on this path (403).
    PermissionDenied,
    /// A parameter or the request is malformed (400).
    InvalidArgument,
    /// A path component that must be a directory is a file (400).
    NotADirectory,
    /// A file operation was asked of a directory (400).
    IsADirectory,
    /// A directory that must be empty is not (409).
    DirectoryNotEmpty,
    /// The request body is larger than the configured limit (413).
    PayloadTooLarge,
    /// The plugin does not implement the operation (501).
    Unsupported,
    /// A backend the plugin needs is not reachable right now (503).
    Unavailable,
    /// A backend did not answer in time (504).
    Timeout,
    /// The client was too slow: its request body stalled (408).
    RequestTimeout,
    /// The request came back to a server it had already passed through, through proxies (508).
    LoopDetected,
    /// Anything else: a bug or an unexpected backend failure (500).
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order (used by tests that walk the status table).
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::PermissionDenied,
        ErrorKind::InvalidArgument,
        ErrorKind::NotADirectory,
        ErrorKind::IsADirectory,
        ErrorKind::DirectoryNotEmpty,
        ErrorKind::PayloadTooLarge,
        ErrorKind::Unsupported,
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::RequestTimeout,
        ErrorKind::LoopDetected,
        ErrorKind::Internal,
    ];

    /// The words an error of this kind carries when no message is given.
    ///
    /// These are de-facto API: AGFS clients match on `not found`, `no such file or directory`,
    /// `already exists`, `is a directory`, `not a directory`, `directory not empty`,
    /// `permission denied` and `operation not supported`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found (no such file or directory)",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::NotADirectory => "not a directory",
            ErrorKind::IsADirectory => "is a directory",
            ErrorKind::DirectoryNotEmpty => "directory not empty",
            ErrorKind::PayloadTooLarge => "payload too large",
            ErrorKind::Unsupported => "operation not supported",
            ErrorKind::Unavailable => "service unavailable",
            ErrorKind::Timeout => "timed out",
            ErrorKind::RequestTimeout => "request timed out (the client stopped sending)",
            ErrorKind::LoopDetected => "loop detected",
            ErrorKind::Internal => "internal error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pfs error: kind, operation, path, message and source.
///
/// Displayed as `<op>: <path>: <message>`, each part only when present; the message defaults to the
/// kind's words ([`ErrorKind::as_str`]). Build one with a kind constructor and add context:
///
/// ```
/// use fs_core::{Error, ErrorKind};
/// let e = Error::not_found("/memfs/a.txt").with_op("read");
/// assert_eq!(e.kind(), ErrorKind::NotFound);
/// assert_eq!(e.to_string(), "read: /memfs/a.txt: not found (no such file or directory)");
/// let e = Error::new(ErrorKind::InvalidArgument, "size must be non-negative");
/// assert_eq!(e.to_string(), "size must be non-negative");
/// ```
pub struct Error {
    kind: ErrorKind,
    op: Option<&'static str>,
    path: Option<String>,
    message: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// Creates an error of `kind` with a message that replaces the kind's default words.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            op: None,
            path: None,
            message: Some(message.into()),
            source: None,
        }
    }

    /// Creates an error of `kind` about `path`, with the kind's default words as message.
    pub fn with_kind(kind: ErrorKind, path: impl Into<String>) -> Self {
        Error {
            kind,
            op: None,
            path: Some(path.into()),
            message: None,
            source: None,
        }
    }

    /// `path` does not exist.
    pub fn not_found(path: impl Into<String>) -> Self {
        Self::with_kind(ErrorKind::NotFound, path)
    }

    /// `path` already exists.
    pub fn already_exists(path: impl Into<String>) -> Self {
        Self::with_kind(ErrorKind::AlreadyExists, path)
    }

    /// The operation on `path` is not allowed.
    pub fn permission_denied(path: impl Into<String>) -> Self {
        Self::with_kind(ErrorKind::PermissionDenied, path)
    }

    /// A parameter is malformed; `message` names it.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// A component of `path` that must be a directory is not.
    pub fn not_a_directory(path: impl Into<String>) -> Self {
        Self::with_kind(ErrorKind::NotADirectory, path)
    }

    /// `path` is a directory where a file is needed.
    pub fn is_a_directory(path: impl Into<String>) -> Self {
        Self::with_kind(ErrorKind::IsADirectory, path)
    }

    /// The directory at `path` is not empty.
    pub fn directory_not_empty(path: impl Into<String>) -> Self {
        Self::with_kind(ErrorKind::DirectoryNotEmpty, path)
    }

    /// The plugin does not implement `op`.
    pub fn unsupported(op: &'static str) -> Self {
        Error {
            kind: ErrorKind::Unsupported,
            op: Some(op),
            path: None,
            message: None,
            source: None,
        }
    }

    /// An unexpected failure; `message` says what failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The path the error concerns, if known.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The operation that failed, if known.
    pub fn op(&self) -> Option<&'static str> {
        self.op
    }

    /// Sets the operation name (`read`, `mkdir`, ...) unless one is already set.
    pub fn with_op(mut self, op: &'static str) -> Self {
        self.op.get_or_insert(op);
        self
    }

    /// Sets the path the error concerns, replacing any previous one.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Replaces the path with `f(old)`; used by the mount router to turn plugin-relative paths
    /// into full paths.
    pub fn map_path(mut self, f: impl FnOnce(&str) -> String) -> Self {
        if let Some(p) = self.path.take() {
            self.path = Some(f(&p));
        }
        self
    }

    /// Sets the message, replacing the kind's default words.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The message without operation and path.
    pub fn message(&self) -> &str {
        self.message.as_deref().unwrap_or(self.kind.as_str())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(op) = self.op {
            write!(f, "{op}: ")?;
        }
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        f.write_str(self.message())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind)
            .field("op", &self.op)
            .field("path", &self.path);
        d.field("message", &self.message);
        if let Some(s) = &self.source {
            d.field("source", &s.to_string());
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    /// Maps an I/O error to the closest kind; the one place std I/O errors become pfs errors.
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match e.kind() {
            Io::NotFound => ErrorKind::NotFound,
            Io::AlreadyExists => ErrorKind::AlreadyExists,
            Io::PermissionDenied | Io::ReadOnlyFilesystem => ErrorKind::PermissionDenied,
            Io::InvalidInput | Io::InvalidData | Io::InvalidFilename => ErrorKind::InvalidArgument,
            Io::NotADirectory => ErrorKind::NotADirectory,
            Io::IsADirectory => ErrorKind::IsADirectory,
            Io::DirectoryNotEmpty => ErrorKind::DirectoryNotEmpty,
            Io::Unsupported => ErrorKind::Unsupported,
            Io::TimedOut => ErrorKind::Timeout,
            Io::ConnectionRefused
            | Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::NotConnected => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        };
        let msg = if kind == ErrorKind::Internal {
            e.to_string()
        } else {
            kind.as_str().to_string()
        };
        Error::new(kind, msg).with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_includes_op_path_and_words() {
        let e = Error::not_a_directory("/a/b").with_op("mkdir");
        assert_eq!(e.to_string(), "mkdir: /a/b: not a directory");
        let e = Error::unsupported("truncate").with_path("/x");
        assert_eq!(e.to_string(), "truncate: /x: operation not supported");
    }

    #[test]
    fn with_op_keeps_the_first_operation() {
        let e = Error::not_found("/x").with_op("read").with_op("stat");
        assert_eq!(e.op(), Some("read"));
    }

    #[test]
    fn io_errors_map_to_kinds() {
        let e: Error = std::io::Error::from(std::io::ErrorKind::NotFound).into();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e: Error = std::io::Error::other("disk on fire").into();
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert!(e.to_string().contains("disk on fire"));
    }

    #[test]
    fn every_kind_has_distinct_words() {
        let words: std::collections::HashSet<_> =
            ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(words.len(), ErrorKind::ALL.len());
    }
}
