//! Remote path arithmetic: joining a relative path onto the current directory, `.` and `..`,
//! parent and last component. Paths are `/`-separated strings, as the server takes them.

/// Resolves `path` against the directory `cwd` and normalizes it: absolute, no `.` or `..`, no
/// repeated or trailing `/` (except the root). `..` never climbs above `/`.
///
/// ```
/// use pfs_cli::path::resolve;
/// assert_eq!(resolve("/memfs", "docs/a.txt"), "/memfs/docs/a.txt");
/// assert_eq!(resolve("/memfs/docs", "../kvfs/"), "/memfs/kvfs");
/// assert_eq!(resolve("/memfs", "/queuefs/"), "/queuefs");
/// assert_eq!(resolve("/", "../.."), "/");
/// assert_eq!(resolve("/a", "."), "/a");
/// assert_eq!(resolve("/a", ""), "/a");
/// ```
pub fn resolve(cwd: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let joined = if path.starts_with('/') {
        [path, ""]
    } else {
        [cwd, path]
    };
    for piece in joined {
        for c in piece.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
    }
    let mut out = String::with_capacity(path.len() + cwd.len() + 1);
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Joins a child name onto a normalized directory path.
///
/// ```
/// use pfs_cli::path::child;
/// assert_eq!(child("/", "memfs"), "/memfs");
/// assert_eq!(child("/memfs", "a b.txt"), "/memfs/a b.txt");
/// ```
pub fn child(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The parent of a normalized path; the root is its own parent.
///
/// ```
/// use pfs_cli::path::parent;
/// assert_eq!(parent("/memfs/a/b"), "/memfs/a");
/// assert_eq!(parent("/memfs"), "/");
/// assert_eq!(parent("/"), "/");
/// ```
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last component of a path, ignoring a trailing `/`; `/` for the root.
///
/// ```
/// use pfs_cli::path::basename;
/// assert_eq!(basename("/memfs/a.txt"), "a.txt");
/// assert_eq!(basename("docs/"), "docs");
/// assert_eq!(basename("/"), "/");
/// ```
pub fn basename(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/";
    }
    match trimmed.rfind('/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}
