//! Mapping between pfs paths and S3 keys.
//!
//! A mount with prefix `team1` keeps every key under `team1/`: file `/a/b.txt` is key
//! `team1/a/b.txt`, directory `/a` is the common prefix `team1/a/` (plus an empty marker object of
//! that name when created by mkdir). Because the prefix always ends in `/`, `team1` never sees the
//! keys of `team1-x`.

use fs_core::{Error, Result};

/// Normalizes a configured prefix to `""` or `"a/b/"`.
///
/// # Errors
/// `InvalidArgument` for `.` or `..` components.
pub(crate) fn normalize_prefix(prefix: &str) -> Result<String> {
    let mut out = String::new();
    for part in prefix.split('/').filter(|p| !p.is_empty()) {
        if part == "." || part == ".." {
            return Err(Error::invalid_argument(format!(
                "invalid value for 'prefix': '{prefix}' has a '{part}' component"
            )));
        }
        out.push_str(part);
        out.push('/');
    }
    Ok(out)
}

/// Keys of one mount: `prefix` is `""` or ends in `/`.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub(crate) prefix: String,
}

impl Keys {
    /// The object key of the file at `path` (a normalized pfs path, not `/`).
    pub(crate) fn file(&self, path: &str) -> String {
        format!("{}{}", self.prefix, path.trim_start_matches('/'))
    }

    /// The key prefix of the directory at `path`, ending in `/` (the mount's prefix for `/`).
    pub(crate) fn dir(&self, path: &str) -> String {
        let rel = path.trim_matches('/');
        if rel.is_empty() {
            self.prefix.clone()
        } else {
            format!("{}{rel}/", self.prefix)
        }
    }
}

/// The last component of a key or common prefix (without a trailing `/`).
pub(crate) fn base_name(key: &str) -> &str {
    let k = key.trim_end_matches('/');
    k.rsplit('/').next().unwrap_or(k)
}

/// `bucket/key` percent-encoded for `x-amz-copy-source` (`/` kept, everything outside the unreserved
/// set encoded).
pub(crate) fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(bucket.len() + key.len() + 1);
    for b in bucket
        .bytes()
        .chain(std::iter::once(b'/'))
        .chain(key.bytes())
    {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_end_in_one_slash() {
        assert_eq!(normalize_prefix("").unwrap(), "");
        assert_eq!(normalize_prefix("/").unwrap(), "");
        assert_eq!(normalize_prefix("team1").unwrap(), "team1/");
        assert_eq!(normalize_prefix("/a//b/").unwrap(), "a/b/");
        assert!(normalize_prefix("a/../b").is_err());
    }

    #[test]
    fn paths_map_to_keys_and_back() {
        let k = Keys {
            prefix: "t/".into(),
        };
        assert_eq!(k.file("/a/b.txt"), "t/a/b.txt");
        assert_eq!(k.dir("/"), "t/");
        assert_eq!(k.dir("/a"), "t/a/");
        let root = Keys {
            prefix: String::new(),
        };
        assert_eq!(root.file("/x"), "x");
        assert_eq!(root.dir("/"), "");
    }

    #[test]
    fn names_and_copy_sources() {
        assert_eq!(base_name("t/a/b.txt"), "b.txt");
        assert_eq!(base_name("t/a/"), "a");
        assert_eq!(
            copy_source("bkt", "dir/a b+c%.txt"),
            "bkt/dir/a%20b%2Bc%25.txt"
        );
        assert_eq!(copy_source("bkt", "ü"), "bkt/%C3%BC");
    }
}
