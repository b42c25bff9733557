//! The mount table: a tree of path components whose nodes may hold a mount, so a lookup walks the
//! path's components once and "which mounts lie below this directory" is one node's children —
//! nothing scans the whole table. It is persistent: children are `imbl::OrdMap`s, so a new table
//! with one mount more or less copies only the nodes on that mount's path and shares the rest with
//! the old one (mounting is O(depth · log n), not a copy of every mount).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Mount;
use crate::path::{self, strip};

/// Where a path leads: the mount that owns it and the path inside that mount.
pub(super) struct Resolved<'a> {
    pub(super) mount: Arc<Mount>,
    pub(super) rel: &'a str,
}

#[derive(Clone, Default)]
struct Node {
    /// The mount at exactly this path.
    mount: Option<Arc<Mount>>,
    /// The next components of paths that lead to mounts. A node without a mount has children:
    /// removing a mount prunes the nodes it leaves empty.
    children: imbl::OrdMap<Arc<str>, Node>,
}

/// A snapshot of every mount (swapped whole into [`super::MountableFs`]).
#[derive(Clone, Default)]
pub(super) struct MountTable {
    root: Node,
    len: usize,
}

impl MountTable {
    /// The node at exactly `dir`, if any mount is at or below it.
    fn node(&self, dir: &str) -> Option<&Node> {
        let mut node = &self.root;
        for comp in path::components(dir) {
            node = node.children.get(comp)?;
        }
        Some(node)
    }

    /// Longest-prefix match on component boundaries: the deepest mount at or above `path`.
    pub(super) fn resolve<'a>(&self, path: &'a str) -> Option<Resolved<'a>> {
        let mut node = &self.root;
        let mut best = node.mount.as_ref();
        for comp in path::components(path) {
            match node.children.get(comp) {
                Some(next) => node = next,
                None => break,
            }
            if node.mount.is_some() {
                best = node.mount.as_ref();
            }
        }
        best.map(|m| Resolved {
            mount: m.clone(),
            rel: strip(path, &m.path),
        })
    }

    /// The mount at exactly `path`.
    pub(super) fn get(&self, path: &str) -> Option<&Arc<Mount>> {
        self.node(path)?.mount.as_ref()
    }

    /// Names of the direct children of `dir` that lead to mounts strictly below it, each with
    /// whether the child itself is a mount point.
    pub(super) fn child_mount_names(&self, dir: &str) -> BTreeMap<String, bool> {
        self.node(dir)
            .map(|n| {
                n.children
                    .iter()
                    .map(|(name, child)| (name.to_string(), child.mount.is_some()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether any mount lies strictly below `dir`.
    pub(super) fn has_mount_below(&self, dir: &str) -> bool {
        self.node(dir).is_some_and(|n| !n.children.is_empty())
    }

    /// How many mounts there are.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Every mount, sorted by path.
    pub(super) fn mounts(&self) -> Vec<Arc<Mount>> {
        fn walk(node: &Node, out: &mut Vec<Arc<Mount>>) {
            out.extend(node.mount.iter().cloned());
            for child in node.children.values() {
                walk(child, out);
            }
        }
        let mut out = Vec::with_capacity(self.len);
        walk(&self.root, &mut out);
        // Depth-first order puts `/a/b` before `/a-b`; callers get plain string order.
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// A table with `mount` added at `mount.path`; `None` when that path is taken.
    pub(super) fn with(&self, mount: Arc<Mount>) -> Option<MountTable> {
        let mut table = self.clone();
        let mut node = &mut table.root;
        for comp in path::components(&mount.path) {
            node = node.children.entry(Arc::from(comp)).or_default();
        }
        if node.mount.is_some() {
            return None;
        }
        node.mount = Some(mount);
        table.len += 1;
        Some(table)
    }

    /// A table without the mount at `path`, and that mount; `None` when nothing is mounted there.
    pub(super) fn without(&self, path: &str) -> Option<(MountTable, Arc<Mount>)> {
        /// Takes the mount at `comps` below `node`, pruning the nodes it leaves empty.
        fn take(node: &mut Node, comps: &[&str]) -> Option<Arc<Mount>> {
            let Some((first, rest)) = comps.split_first() else {
                return node.mount.take();
            };
            let child = node.children.get_mut(*first)?;
            let taken = take(child, rest)?;
            if child.mount.is_none() && child.children.is_empty() {
                node.children.remove(*first);
            }
            Some(taken)
        }
        self.get(path)?;
        let mut table = self.clone();
        let comps: Vec<&str> = path::components(path).collect();
        let taken = take(&mut table.root, &comps)?;
        table.len -= 1;
        Some((table, taken))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::ServerInfo;

    fn mount(path: &str) -> Arc<Mount> {
        Arc::new(Mount {
            path: path.to_string(),
            plugin: "nothing".into(),
            instance: None,
            config: serde_json::Value::Null,
            generation: 1,
            id: 0,
            // Any filesystem will do: the table never calls it.
            fs: super::super::MountableFs::new(ServerInfo {
                version: String::new(),
                started: std::time::SystemTime::UNIX_EPOCH,
                data_dir: None,
            }),
            life: Default::default(),
        })
    }

    fn table(paths: &[&str]) -> MountTable {
        paths.iter().fold(MountTable::default(), |t, p| {
            t.with(mount(p)).expect("free path")
        })
    }

    fn resolved(t: &MountTable, p: &str) -> Option<(String, String)> {
        t.resolve(p)
            .map(|r| (r.mount.path.clone(), r.rel.to_string()))
    }

    #[test]
    fn lookups_take_the_longest_mount_on_component_boundaries() {
        let t = table(&["/a", "/a/b/c", "/ab"]);
        let pair = |m: &str, r: &str| Some((m.to_string(), r.to_string()));
        assert_eq!(resolved(&t, "/a"), pair("/a", "/"));
        assert_eq!(resolved(&t, "/a/x/y"), pair("/a", "/x/y"));
        assert_eq!(resolved(&t, "/a/b"), pair("/a", "/b"));
        assert_eq!(resolved(&t, "/a/b/c/d"), pair("/a/b/c", "/d"));
        assert_eq!(resolved(&t, "/ab/c"), pair("/ab", "/c"));
        assert_eq!(resolved(&t, "/abc"), None);
        assert_eq!(resolved(&t, "/"), None);
        let rooted = t.with(mount("/")).unwrap();
        assert_eq!(resolved(&rooted, "/abc"), pair("/", "/abc"));
        assert_eq!(resolved(&rooted, "/"), pair("/", "/"));
    }

    #[test]
    fn children_and_below_come_from_one_node() {
        let t = table(&["/a/b/c", "/a/d", "/e"]);
        let names = |d: &str| t.child_mount_names(d).into_iter().collect::<Vec<_>>();
        assert_eq!(names("/"), [("a".into(), false), ("e".into(), true)]);
        assert_eq!(names("/a"), [("b".into(), false), ("d".into(), true)]);
        assert_eq!(names("/a/b/c"), []);
        assert_eq!(names("/x"), []);
        assert!(t.has_mount_below("/a/b") && !t.has_mount_below("/a/b/c"));
        assert!(!t.has_mount_below("/e") && !t.has_mount_below("/q"));
    }

    #[test]
    fn removal_prunes_and_leaves_the_old_table_as_it_was() {
        let t = table(&["/a/b/c", "/a-b", "/a"]);
        assert!(t.with(mount("/a")).is_none(), "taken");
        let (u, gone) = t.without("/a/b/c").expect("mounted");
        assert_eq!(gone.path, "/a/b/c");
        assert!(u.without("/a/b/c").is_none() && u.without("/a/b").is_none());
        assert!(!u.has_mount_below("/a"), "the empty /a/b node is pruned");
        assert_eq!(u.len(), 2);
        let paths = |t: &MountTable| {
            t.mounts()
                .iter()
                .map(|m| m.path.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(paths(&u), ["/a", "/a-b"]);
        assert_eq!(
            paths(&t),
            ["/a", "/a-b", "/a/b/c"],
            "the old snapshot is untouched"
        );
        assert_eq!(t.len(), 3);
    }
}
