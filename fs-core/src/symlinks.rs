//! The router's symbolic links: a table `link path → target` and the resolver that follows links
//! through every component of a path. [`crate::MountableFs`] owns one table and resolves each path
//! with it before routing; plugins never see a link.
//!
//! Reads take no lock: the table is an immutable map behind an atomic pointer. A change takes a
//! mutex, makes a new version of the map (a persistent B-tree: the copy shares every untouched
//! node, so a change costs O(log n), not a copy of the table) and swaps it in.

use std::borrow::Cow;
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::path::{self, MAX_PATH_LEN};
use crate::{Error, ErrorKind, Result};

/// How many links one path resolution follows at most (AGFS's limit). Past it, and for a loop, the
/// resolution fails with `InvalidArgument` ("too many levels of symbolic links", HTTP 400).
pub const MAX_SYMLINK_FOLLOWS: usize = 10;

/// One symbolic link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The target, verbatim as given: absolute (`/memfs/a`) or relative to the link's directory.
    pub target: String,
    /// When the link was created (its `modTime`).
    pub created: SystemTime,
}

type Map = imbl::OrdMap<Arc<str>, Arc<Link>>;

/// The link table. Keys are normalized link paths whose parent holds no link (the directory the
/// link lives in, with every link on the way resolved).
#[derive(Default)]
pub struct LinkTable {
    map: ArcSwap<Map>,
    /// Serializes changes; never taken by a lookup.
    writer: Mutex<()>,
}

impl fmt::Debug for LinkTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.map.load().iter().map(|(k, v)| (k, &v.target)))
            .finish()
    }
}

/// Checks a link target: not empty, no NUL byte, at most [`MAX_PATH_LEN`] bytes.
///
/// ```
/// use fs_core::symlinks::check_target;
/// assert!(check_target("../a").is_ok());
/// assert!(check_target("").is_err());
/// assert!(check_target("a\0b").is_err());
/// ```
///
/// # Errors
/// `InvalidArgument` naming the rule.
pub fn check_target(target: &str) -> Result<()> {
    if target.is_empty() {
        return Err(Error::invalid_argument("target is required"));
    }
    if target.as_bytes().contains(&0) {
        return Err(Error::invalid_argument(
            "invalid target: contains a NUL byte",
        ));
    }
    if target.len() > MAX_PATH_LEN {
        return Err(Error::invalid_argument(format!(
            "invalid target: longer than {MAX_PATH_LEN} bytes"
        )));
    }
    Ok(())
}

fn too_many_levels(path: &str) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        "too many levels of symbolic links",
    )
    .with_path(path)
}

/// Where a link at `link` pointing to `target` leads, followed by `rest` (empty or starting with `/`).
fn splice(link: &str, target: &str, rest: &str) -> Result<String> {
    let joined = if target.starts_with('/') {
        format!("{target}{rest}")
    } else {
        format!("{}/{target}{rest}", path::parent(link))
    };
    path::normalize(&joined)
}

/// Resolves the links of normalized `path` in `map`; see [`LinkTable::resolve`].
fn resolve_in<'p>(map: &Map, path: &'p str, follow_last: bool) -> Result<Cow<'p, str>> {
    let mut cur: Cow<'p, str> = Cow::Borrowed(path);
    let mut follows = 0;
    'restart: loop {
        let s: &str = &cur;
        let mut end = 0;
        // Each prefix of a normalized path that ends at a component boundary is itself normalized,
        // so lookups need no allocation until a link is found.
        while end < s.len() {
            let next = s[end + 1..].find('/').map_or(s.len(), |i| end + 1 + i);
            let at_last = next == s.len();
            if (follow_last || !at_last)
                && let Some(link) = map.get(&s[..next])
            {
                follows += 1;
                if follows > MAX_SYMLINK_FOLLOWS {
                    return Err(too_many_levels(path));
                }
                let spliced = splice(&s[..next], &link.target, &s[next..])?;
                cur = Cow::Owned(spliced);
                continue 'restart;
            }
            end = next;
        }
        return Ok(cur);
    }
}

/// The keys strictly below directory `dir`, in order: one range of the sorted map, not a scan.
fn below<'m>(map: &'m Map, dir: &str) -> impl Iterator<Item = &'m Arc<str>> + 'm {
    let prefix = if dir == "/" {
        "/".to_string()
    } else {
        format!("{dir}/")
    };
    map.range::<_, str>((Bound::Excluded(prefix.as_str()), Bound::Unbounded))
        .map(|(k, _)| k)
        .take_while(move |k| k.starts_with(&prefix))
}

impl LinkTable {
    /// Whether the table holds no link (the fast path of every request).
    pub fn is_empty(&self) -> bool {
        self.map.load().is_empty()
    }

    /// Resolves the links in normalized `path`: every component is checked, the last one only when
    /// `follow_last` is set. Relative targets resolve against the link's directory; `..` in a
    /// target is applied to the path as written.
    ///
    /// # Behavior
    /// Borrows `path` when no link is on the way (no allocation).
    ///
    /// # Errors
    /// `InvalidArgument` after [`MAX_SYMLINK_FOLLOWS`] links (a loop, or a chain too long), or when
    /// a resolved path breaks the path rules (too long).
    pub fn resolve<'p>(&self, path: &'p str, follow_last: bool) -> Result<Cow<'p, str>> {
        let map = self.map.load();
        if map.is_empty() {
            return Ok(Cow::Borrowed(path));
        }
        resolve_in(&map, path, follow_last)
    }

    /// The link stored at exactly `path` (no resolution).
    pub fn get(&self, path: &str) -> Option<Arc<Link>> {
        self.map.load().get(path).cloned()
    }

    /// Whether a link is stored at exactly `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.map.load().contains_key(path)
    }

    /// The links stored directly in directory `dir`, as `(name, link)`, sorted by name.
    pub fn children(&self, dir: &str) -> Vec<(String, Arc<Link>)> {
        let map = self.map.load();
        let skip = if dir == "/" { 1 } else { dir.len() + 1 };
        below(&map, dir)
            .filter(|k| !k[skip..].contains('/'))
            .filter_map(|k| Some((k[skip..].to_string(), map.get(k)?.clone())))
            .collect()
    }

    /// Whether any link lies strictly below `dir`.
    pub fn has_below(&self, dir: &str) -> bool {
        below(&self.map.load(), dir).next().is_some()
    }

    /// Makes a new version of the map (sharing its nodes), lets `f` change it, and swaps it in.
    fn update<R>(&self, f: impl FnOnce(&mut Map) -> R) -> R {
        let _w = self.writer.lock();
        let mut map = Map::clone(&self.map.load());
        let out = f(&mut map);
        self.map.store(Arc::new(map));
        out
    }

    /// Adds a link at `path` (normalized, parent resolved) pointing to `target`.
    ///
    /// # Errors
    /// `AlreadyExists` when a link is stored at `path`; `InvalidArgument` for a bad target.
    pub fn insert(&self, path: &str, target: &str) -> Result<()> {
        check_target(target)?;
        self.update(|map| {
            if map.contains_key(path) {
                return Err(Error::already_exists(path));
            }
            let link = Link {
                target: target.to_string(),
                created: SystemTime::now(),
            };
            map.insert(Arc::from(path), Arc::new(link));
            Ok(())
        })
    }

    /// Removes the link at exactly `path`; returns whether there was one.
    pub fn remove(&self, path: &str) -> bool {
        if !self.contains(path) {
            return false;
        }
        self.update(|map| map.remove(path).is_some())
    }

    /// Moves the link at `from` to `to`, replacing a link at `to`; returns whether `from` was a link.
    pub fn rename(&self, from: &str, to: &str) -> bool {
        self.update(|map| match map.remove(from) {
            Some(link) => {
                map.insert(Arc::from(to), link);
                true
            }
            None => false,
        })
    }

    /// Moves every link strictly below directory `from` to the same place below `to` (after a
    /// directory rename), and drops a link stored at `to` itself (the rename replaced it).
    pub fn move_below(&self, from: &str, to: &str) {
        let map = self.map.load();
        let moves = map.contains_key(to) || below(&map, from).next().is_some();
        if !moves {
            return;
        }
        drop(map);
        self.update(|map| {
            map.remove(to);
            let below: Vec<Arc<str>> = below(map, from).cloned().collect();
            for k in below {
                if let Some(link) = map.remove(&k) {
                    map.insert(Arc::from(path::join(to, path::strip(&k, from))), link);
                }
            }
        });
    }

    /// Drops every link for which `keep` answers false; returns how many went.
    pub fn retain(&self, mut keep: impl FnMut(&str) -> bool) -> usize {
        if self.map.load().keys().all(|k| keep(k)) {
            return 0;
        }
        self.update(|map| {
            let gone: Vec<Arc<str>> = map.keys().filter(|k| !keep(k)).cloned().collect();
            for k in &gone {
                map.remove(k);
            }
            gone.len()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(links: &[(&str, &str)]) -> LinkTable {
        let t = LinkTable::default();
        for (p, target) in links {
            t.insert(p, target).unwrap();
        }
        t
    }

    fn resolved(t: &LinkTable, p: &str) -> String {
        t.resolve(p, true).unwrap().into_owned()
    }

    #[test]
    fn resolve_without_links_borrows_the_path() {
        let t = LinkTable::default();
        assert!(matches!(
            t.resolve("/a/b", true).unwrap(),
            Cow::Borrowed("/a/b")
        ));
        let t = table(&[("/x", "/y")]);
        assert!(matches!(
            t.resolve("/a/b", true).unwrap(),
            Cow::Borrowed("/a/b")
        ));
        assert!(matches!(t.resolve("/", true).unwrap(), Cow::Borrowed("/")));
    }

    #[test]
    fn resolve_follows_absolute_and_relative_targets() {
        let t = table(&[
            ("/m/abs", "/m/dir/f"),
            ("/m/rel", "dir/f"),
            ("/m/dir/up", "../other"),
            ("/top", "/m/dir"),
        ]);
        assert_eq!(resolved(&t, "/m/abs"), "/m/dir/f");
        assert_eq!(resolved(&t, "/m/rel"), "/m/dir/f");
        assert_eq!(resolved(&t, "/m/dir/up"), "/m/other");
        // A link in the middle of the path.
        assert_eq!(resolved(&t, "/top/f"), "/m/dir/f");
        assert_eq!(resolved(&t, "/top/up/x"), "/m/other/x");
        // A prefix of a name is not the name.
        assert_eq!(resolved(&t, "/topx"), "/topx");
        assert_eq!(resolved(&t, "/m/absolute"), "/m/absolute");
    }

    #[test]
    fn resolve_keeps_the_last_link_when_asked() {
        let t = table(&[("/top", "/m/dir"), ("/m/dir/l", "f")]);
        assert_eq!(t.resolve("/top", false).unwrap(), "/top");
        assert_eq!(t.resolve("/top/l", false).unwrap(), "/m/dir/l");
        assert_eq!(t.resolve("/top/l", true).unwrap(), "/m/dir/f");
    }

    #[test]
    fn resolve_follows_chains_up_to_the_limit() {
        // l0 -> l1 -> ... -> l{n} -> /end
        let chain = |n: usize| {
            let t = LinkTable::default();
            for i in 0..n {
                t.insert(&format!("/l{i}"), &format!("l{}", i + 1)).unwrap();
            }
            t.insert(&format!("/l{n}"), "/end").unwrap();
            t
        };
        assert_eq!(resolved(&chain(2), "/l0"), "/end"); // a chain of 3
        assert_eq!(resolved(&chain(MAX_SYMLINK_FOLLOWS - 1), "/l0"), "/end");
        let e = chain(MAX_SYMLINK_FOLLOWS).resolve("/l0", true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert_eq!(e.to_string(), "/l0: too many levels of symbolic links");
    }

    #[test]
    fn resolve_stops_loops() {
        let t = table(&[("/a", "b"), ("/b", "/a"), ("/self", "self"), ("/d/x", "..")]);
        for p in ["/a", "/b/c", "/self", "/self/x"] {
            let e = t.resolve(p, true).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{p}");
            assert!(e.to_string().contains("too many levels"), "{p}");
        }
        // A link to its own parent is no loop unless walked forever.
        assert_eq!(resolved(&t, "/d/x/d/x/d"), "/d");
        assert!(t.resolve("/a", false).is_ok());
    }

    #[test]
    fn resolve_rejects_a_result_breaking_the_path_rules() {
        let target = format!("/{}", vec!["y".repeat(250); 12].join("/"));
        let t = table(&[("/l", &target)]);
        let p = format!("/l/{}", vec!["z".repeat(250); 5].join("/"));
        let e = t.resolve(&p, true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains("longer than"), "{e}");
    }

    #[test]
    fn children_lists_direct_links_only() {
        let t = table(&[
            ("/a", "x"),
            ("/d/b", "x"),
            ("/d/c", "x"),
            ("/d/e/f", "x"),
            ("/dx", "x"),
        ]);
        let names = |d: &str| {
            t.children(d)
                .into_iter()
                .map(|(n, _)| n)
                .collect::<Vec<_>>()
        };
        assert_eq!(names("/"), ["a", "dx"]);
        assert_eq!(names("/d"), ["b", "c"]);
        assert_eq!(names("/d/e"), ["f"]);
        assert!(names("/nothing").is_empty());
        assert!(t.has_below("/d") && t.has_below("/") && !t.has_below("/a"));
    }

    #[test]
    fn insert_remove_and_rename() {
        let t = table(&[("/a", "x")]);
        assert_eq!(
            t.insert("/a", "y").unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            t.insert("/b", "").unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert!(t.rename("/a", "/b"));
        assert!(!t.contains("/a"));
        assert_eq!(t.get("/b").unwrap().target, "x");
        assert!(!t.rename("/a", "/c"));
        assert!(t.remove("/b"));
        assert!(!t.remove("/b"));
        assert!(t.is_empty());
    }

    #[test]
    fn move_below_follows_a_directory_rename() {
        let t = table(&[("/d/l", "x"), ("/d/s/m", "y"), ("/dx", "z"), ("/e", "old")]);
        t.move_below("/d", "/e");
        let mut keys: Vec<String> = ["/d/l", "/d/s/m", "/dx", "/e", "/e/l", "/e/s/m"]
            .into_iter()
            .filter(|k| t.contains(k))
            .map(String::from)
            .collect();
        keys.sort();
        assert_eq!(keys, ["/dx", "/e/l", "/e/s/m"]);
    }

    #[test]
    fn retain_drops_what_it_is_told() {
        let t = table(&[("/m/a", "x"), ("/m/b", "x"), ("/n/c", "x")]);
        assert_eq!(t.retain(|k| !path::is_within(k, "/m")), 2);
        assert_eq!(t.retain(|_| true), 0);
        assert!(t.contains("/n/c"));
    }

    #[test]
    fn readers_see_whole_tables_while_links_change() {
        let t = Arc::new(table(&[("/base", "/target")]));
        let writer = {
            let t = t.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    t.insert(&format!("/l{i}"), "/base").unwrap();
                }
                for i in 0..500 {
                    assert!(t.remove(&format!("/l{i}")));
                }
            })
        };
        for _ in 0..2_000 {
            assert_eq!(t.resolve("/base/x", true).unwrap(), "/target/x");
            if let Ok(p) = t.resolve("/l7/y", true) {
                assert!(p == "/target/y" || p == "/l7/y", "{p}");
            }
        }
        writer.join().unwrap();
        assert_eq!(t.children("/").len(), 1);
    }
}
