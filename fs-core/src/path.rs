//! Path rules, in one place. Every path that enters pfs is normalized once, at the edge (the HTTP
//! layer or the mount router); plugins receive only normalized, mount-relative paths.
//!
//! A normalized path starts with `/`, has no empty, `.` or `..` components, no trailing `/` (except
//! the root itself), no NUL byte, and is at most [`MAX_PATH_LEN`] bytes long.

use std::borrow::Cow;

use crate::{Error, Result};

/// The longest path pfs accepts, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;

/// The longest single path component pfs accepts, in bytes (Linux's `NAME_MAX`).
pub const MAX_NAME_LEN: usize = 255;

/// Normalizes `path`.
///
/// # Behavior
/// - empty → `/`; a leading `/` is added when missing;
/// - repeated `/` collapse, `.` components vanish, `..` removes the previous component and never
///   climbs above `/`;
/// - a trailing `/` is dropped.
///
/// # Errors
/// `InvalidArgument` when the path contains a NUL byte, is longer than [`MAX_PATH_LEN`] bytes, or
/// has a component longer than [`MAX_NAME_LEN`] bytes.
///
/// ```
/// use fs_core::path::normalize;
/// assert_eq!(normalize("").unwrap(), "/");
/// assert_eq!(normalize("memfs/a").unwrap(), "/memfs/a");
/// assert_eq!(normalize("/memfs//a/./b/").unwrap(), "/memfs/a/b");
/// assert_eq!(normalize("/memfs/a/../b").unwrap(), "/memfs/b");
/// assert_eq!(normalize("/../../etc/passwd").unwrap(), "/etc/passwd");
/// assert_eq!(normalize("/a b/#%?&/ü").unwrap(), "/a b/#%?&/ü");
/// assert!(normalize("/a\0b").is_err());
/// assert!(normalize(&"x".repeat(5000)).is_err());
/// ```
pub fn normalize(path: &str) -> Result<String> {
    normalized(path).map(Cow::into_owned)
}

/// [`normalize`], borrowing `path` when it is normalized already (the common case for API
/// traffic, where a copy per request adds up).
///
/// # Errors
/// As [`normalize`].
///
/// ```
/// use std::borrow::Cow;
/// use fs_core::path::normalized;
/// assert!(matches!(normalized("/memfs/a").unwrap(), Cow::Borrowed("/memfs/a")));
/// assert_eq!(normalized("/memfs//a/").unwrap(), "/memfs/a");
/// assert!(normalized("/a\0b").is_err());
/// ```
pub fn normalized(path: &str) -> Result<Cow<'_, str>> {
    if path.as_bytes().contains(&0) {
        return Err(Error::invalid_argument("invalid path: contains a NUL byte"));
    }
    if path.len() > MAX_PATH_LEN {
        return Err(Error::invalid_argument(format!(
            "invalid path: longer than {MAX_PATH_LEN} bytes"
        )));
    }
    // Fast path: already normalized (the common case for API traffic).
    if is_normalized(path) {
        return Ok(Cow::Borrowed(path));
    }
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => {
                if c.len() > MAX_NAME_LEN {
                    return Err(Error::invalid_argument(format!(
                        "invalid path: component longer than {MAX_NAME_LEN} bytes"
                    )));
                }
                parts.push(c)
            }
        }
    }
    if parts.is_empty() {
        return Ok(Cow::Borrowed("/"));
    }
    let mut out = String::with_capacity(path.len() + 1);
    for p in parts {
        out.push('/');
        out.push_str(p);
    }
    Ok(Cow::Owned(out))
}

/// Whether `path` already satisfies every normalization rule.
///
/// ```
/// use fs_core::path::is_normalized;
/// assert!(is_normalized("/"));
/// assert!(is_normalized("/a/b"));
/// assert!(!is_normalized("/a/"));
/// assert!(!is_normalized("a"));
/// assert!(!is_normalized("/a/../b"));
/// ```
pub fn is_normalized(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes == b"/" {
        return true;
    }
    if bytes.first() != Some(&b'/') || bytes.last() == Some(&b'/') || bytes.len() > MAX_PATH_LEN {
        return false;
    }
    // One pass over the bytes: each component non-empty, not `.` or `..`, not too long, no NUL.
    // (This runs on every request; the iterator version cost several hundred instructions.)
    let mut start = 1;
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        if b == 0 {
            return false;
        }
        if b == b'/' {
            if !component_ok(&bytes[start..i]) {
                return false;
            }
            start = i + 1;
        }
    }
    component_ok(&bytes[start..])
}

fn component_ok(c: &[u8]) -> bool {
    !c.is_empty() && c != b"." && c != b".." && c.len() <= MAX_NAME_LEN
}

/// Joins a normalized `base` and a normalized `rel` (mount-relative) path.
///
/// ```
/// use fs_core::path::join;
/// assert_eq!(join("/", "/a"), "/a");
/// assert_eq!(join("/memfs", "/"), "/memfs");
/// assert_eq!(join("/memfs", "/a/b"), "/memfs/a/b");
/// ```
pub fn join(base: &str, rel: &str) -> String {
    match (base, rel) {
        ("/", r) => r.to_string(),
        (b, "/") => b.to_string(),
        (b, r) => format!("{b}{r}"),
    }
}

/// Appends one name to a normalized directory path.
///
/// ```
/// use fs_core::path::child;
/// assert_eq!(child("/", "a"), "/a");
/// assert_eq!(child("/a", "b"), "/a/b");
/// ```
pub fn child(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The parent of a normalized path; the root is its own parent.
///
/// ```
/// use fs_core::path::parent;
/// assert_eq!(parent("/"), "/");
/// assert_eq!(parent("/a"), "/");
/// assert_eq!(parent("/a/b"), "/a");
/// ```
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last component of a normalized path; the root's name is `/`.
///
/// ```
/// use fs_core::path::basename;
/// assert_eq!(basename("/"), "/");
/// assert_eq!(basename("/a/b.txt"), "b.txt");
/// ```
pub fn basename(path: &str) -> &str {
    if path == "/" {
        return "/";
    }
    path.rsplit('/').next().unwrap_or(path)
}

/// The components of a normalized path (none for the root).
///
/// ```
/// use fs_core::path::components;
/// assert_eq!(components("/").count(), 0);
/// assert_eq!(components("/a/b").collect::<Vec<_>>(), ["a", "b"]);
/// ```
pub fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty())
}

/// Whether normalized `path` equals `prefix` or lies below it, on a component boundary.
///
/// ```
/// use fs_core::path::is_within;
/// assert!(is_within("/data/x", "/data"));
/// assert!(is_within("/data", "/data"));
/// assert!(!is_within("/dataset", "/data"));
/// assert!(is_within("/anything", "/"));
/// ```
pub fn is_within(path: &str, prefix: &str) -> bool {
    prefix == "/"
        || path == prefix
        || (path.len() > prefix.len()
            && path.starts_with(prefix)
            && path.as_bytes()[prefix.len()] == b'/')
}

/// Checks the two rules of a rename that hold on every filesystem: the mount root neither moves
/// nor is replaced, and a directory does not move into its own subtree. `from == to` passes (the
/// filesystem answers whether it exists).
///
/// ```
/// use fs_core::path::check_rename;
/// assert!(check_rename("/a", "/b").is_ok());
/// assert!(check_rename("/a", "/a").is_ok());
/// assert!(check_rename("/", "/x").is_err());
/// assert!(check_rename("/x", "/").is_err());
/// assert!(check_rename("/a", "/a/b").is_err());
/// assert!(check_rename("/a", "/ab").is_ok());
/// ```
///
/// # Errors
/// `InvalidArgument` naming the path (POSIX says EBUSY and EINVAL; the router answers the same for
/// a mount point).
pub fn check_rename(from: &str, to: &str) -> Result<()> {
    if from == "/" || to == "/" {
        return Err(Error::invalid_argument("cannot rename the mount root").with_path(from));
    }
    if from != to && is_within(to, from) {
        return Err(Error::invalid_argument(format!(
            "cannot move {from} into its own subtree ({to})"
        ))
        .with_path(from));
    }
    Ok(())
}

/// The part of normalized `path` below `prefix`, as a normalized path (`/` when equal).
/// `path` must satisfy [`is_within`]`(path, prefix)`.
///
/// ```
/// use fs_core::path::strip;
/// assert_eq!(strip("/data/x/y", "/data"), "/x/y");
/// assert_eq!(strip("/data", "/data"), "/");
/// assert_eq!(strip("/a", "/"), "/a");
/// ```
pub fn strip<'a>(path: &'a str, prefix: &str) -> &'a str {
    if prefix == "/" {
        path
    } else if path.len() == prefix.len() {
        "/"
    } else {
        &path[prefix.len()..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_is_idempotent() {
        for p in [
            "",
            "/",
            "a",
            "/a/b/",
            "//a//b",
            "/a/./../b",
            "/..",
            "/a b/c#d",
            "/ü/ß",
        ] {
            let once = normalize(p).unwrap();
            assert!(is_normalized(&once), "{once}");
            assert_eq!(normalize(&once).unwrap(), once);
        }
    }

    #[test]
    fn normalize_rejects_long_components() {
        let long = format!("/{}", "n".repeat(MAX_NAME_LEN + 1));
        assert!(normalize(&long).is_err());
        let ok = format!("/{}", "n".repeat(MAX_NAME_LEN));
        assert_eq!(normalize(&ok).unwrap(), ok);
    }

    #[test]
    fn dotdot_never_climbs_above_root() {
        assert_eq!(normalize("/a/../../../b").unwrap(), "/b");
        assert_eq!(normalize("..").unwrap(), "/");
    }
}
