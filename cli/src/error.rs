//! The client's error type: what the server refused (status and message), what the network or a
//! local file did, and the short words a command prints for each.

use std::fmt;

/// What went wrong in a call to the server or in local I/O around it.
#[derive(Debug)]
pub enum Error {
    /// The server answered with an error status and its `{"error": "..."}` message.
    Api {
        /// The HTTP status code.
        status: u16,
        /// The server's message (the body as text when it was not the JSON error shape).
        message: String,
    },
    /// The server could not be reached (refused, unresolvable, timed out connecting).
    Connect {
        /// The base URL that was tried.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The connection failed during a request or while its body streamed.
    Http(reqwest::Error),
    /// A local read or write failed (stdin, stdout, a local file).
    Io(std::io::Error),
    /// An answer the client did not understand, or an argument it cannot send.
    Invalid(String),
}

/// Result of the client's calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The HTTP status of a server refusal, `None` for every other error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the server said the path does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether this is a broken pipe on output (the reader went away: `pfs cat | head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// The short reason a command prints after the path, in the words of `ls` and `rm`.
    ///
    /// Server refusals of a known kind become their kind's words (`not found`, `already exists`,
    /// `is a directory`, `not a directory`, `directory not empty`, `permission denied`,
    /// `operation not supported`); any other refusal keeps the server's message without the
    /// `<op>: <path>: ` context it starts with, since the command prints the path itself.
    ///
    /// ```
    /// use pfs_cli::Error;
    /// let e = Error::Api { status: 404, message: "read: /memfs/x: not found (no such file or directory)".into() };
    /// assert_eq!(e.reason(), "not found");
    /// let e = Error::Api { status: 409, message: "remove: /memfs/d: directory not empty".into() };
    /// assert_eq!(e.reason(), "directory not empty");
    /// let e = Error::Api { status: 400, message: "invalid regex pattern: unclosed group".into() };
    /// assert_eq!(e.reason(), "invalid regex pattern: unclosed group");
    /// ```
    pub fn reason(&self) -> String {
        match self {
            Error::Api { status, message } => api_reason(*status, message),
            Error::Connect { url, source } => {
                format!("cannot reach the server at {url}: {}", root_cause(source))
            }
            Error::Http(e) => format!("connection failed: {}", root_cause(e)),
            Error::Io(e) => io_reason(e),
            Error::Invalid(m) => m.clone(),
        }
    }
}

/// The words for a server refusal (see [`Error::reason`]).
fn api_reason(status: u16, message: &str) -> String {
    const KINDS: [&str; 7] = [
        "not found",
        "directory not empty",
        "already exists",
        "is a directory",
        "not a directory",
        "permission denied",
        "too many levels of symbolic links",
    ];
    // Multi-line messages (a regex parse error) become their first and last lines.
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let flat = match lines.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [first, .., last] => format!("{first} {last}"),
    };
    let rest = strip_context(&flat);
    let lower = rest.to_ascii_lowercase();
    if status == 404 && lower.contains("no route for") {
        return "the server has no such API route".to_string();
    }
    for words in KINDS {
        if lower == words || lower == format!("{words} (no such file or directory)") {
            return words.to_string();
        }
        // The kind's words with the server's detail after them are kept whole; words inside a
        // longer sentence ("path is a directory, use recursive=true") are shortened to the kind.
        if lower.starts_with(words) {
            return rest.to_string();
        }
        if lower.contains(words) {
            return words.to_string();
        }
    }
    match status {
        404 if rest.is_empty() => "not found".to_string(),
        501 if rest.is_empty() || lower.contains("not supported") => {
            "operation not supported".to_string()
        }
        _ if rest.is_empty() => format!("the server answered {status}"),
        _ => rest.to_string(),
    }
}

/// `read: /memfs/x: message` → `message`: drops leading `word: ` and `/path: ` parts.
fn strip_context(message: &str) -> &str {
    let mut rest = message;
    loop {
        let Some((head, tail)) = rest.split_once(": ") else {
            return rest;
        };
        let is_op = !head.is_empty() && head.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        let is_path = head.starts_with('/') && !head.contains(' ');
        if (is_op || is_path) && !tail.is_empty() {
            rest = tail;
        } else {
            return rest;
        }
    }
}

/// The words for a local I/O error, without the OS's `(os error N)` suffix.
fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => "not found".to_string(),
        K::PermissionDenied => "permission denied".to_string(),
        K::AlreadyExists => "already exists".to_string(),
        K::IsADirectory => "is a directory".to_string(),
        K::NotADirectory => "not a directory".to_string(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

/// The innermost cause of a reqwest error (`connection refused`), which is what a user can act on.
fn root_cause(e: &reqwest::Error) -> String {
    let mut last: &dyn std::error::Error = e;
    while let Some(next) = last.source() {
        last = next;
    }
    let s = last.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_ascii_lowercase(),
        None => s,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api { status, message } => write!(f, "{message} (HTTP {status})"),
            other => f.write_str(&other.reason()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect { source, .. } => Some(source),
            Error::Http(e) => Some(e),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, message: &str) -> String {
        Error::Api {
            status,
            message: message.to_string(),
        }
        .reason()
    }

    #[test]
    fn reason_uses_kind_words_and_strips_context() {
        assert_eq!(api(404, "stat: /memfs/x: not found"), "not found");
        assert_eq!(
            api(409, "mkdir: /memfs/a: already exists"),
            "already exists"
        );
        assert_eq!(api(400, "read: /memfs: is a directory"), "is a directory");
        assert_eq!(
            api(501, "chmod: /q/x: operation not supported"),
            "operation not supported"
        );
        assert_eq!(
            api(400, "unsupported algorithm: sha1 (supported: xxh3, md5)"),
            "unsupported algorithm: sha1 (supported: xxh3, md5)"
        );
        assert_eq!(api(503, ""), "the server answered 503");
        assert_eq!(
            api(404, "not found: no route for GET /api/v1/nope"),
            "the server has no such API route"
        );
        assert_eq!(
            api(
                403,
                "/lib.so: permission denied: external plugins are disabled"
            ),
            "permission denied: external plugins are disabled"
        );
        assert_eq!(
            api(400, "path is a directory, use recursive=true"),
            "is a directory"
        );
        assert_eq!(
            api(
                400,
                "invalid regex pattern: regex parse error:\n    (\n    ^\nerror: unclosed group"
            ),
            "invalid regex pattern: regex parse error: error: unclosed group"
        );
    }

    #[test]
    fn strip_context_keeps_messages_with_spaces() {
        assert_eq!(
            strip_context("mount: /x: bad config: port"),
            "bad config: port"
        );
        assert_eq!(strip_context("plain message"), "plain message");
        assert_eq!(strip_context("Bad Thing: here"), "Bad Thing: here");
    }
}
