//! The symbolic-link side of [`MountableFs`]: creating, reading, describing, listing, removing and
//! renaming links, and the resolution step each routed operation takes before it picks a mount.
//! Which operations follow a link is recorded in `docs/decisions/0009-symlinks.md`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use futures_util::future::join_all;

use super::{MountTable, MountableFs};
use crate::path::{self, basename, is_within};
use crate::symlinks::{Link, check_target};
use crate::{Error, ErrorKind, FileInfo, FileSystem, Meta, Result};

/// The permission bits a link reports (`rwxrwxrwx` = 511, as AGFS).
const LINK_MODE: u32 = 0o777;

impl MountableFs {
    /// Resolves every symbolic link in `path`, the last component included, and returns the path
    /// the data lives at (`path` itself, normalized, when no link is on the way).
    ///
    /// The router's own [`FileSystem`] methods resolve by themselves; code that picks a mount for a
    /// path on its own (handles, grep, digest) calls this first.
    ///
    /// # Errors
    /// `InvalidArgument` for a malformed path, a loop, or more than
    /// [`MAX_SYMLINK_FOLLOWS`](crate::symlinks::MAX_SYMLINK_FOLLOWS) links on the way.
    pub fn resolve_links(&self, path: &str) -> Result<String> {
        let path = path::normalize(path)?;
        Ok(self.links.resolve(&path, true)?.into_owned())
    }

    /// Creates a symbolic link at `link` that points to `target` (kept verbatim; absolute, or
    /// relative to the link's directory).
    ///
    /// # Behavior
    /// - Links among `link`'s directories are resolved first; the link is made where they lead.
    /// - The parent directory must exist (the root and the virtual directories above mount points
    ///   count); the target need not.
    /// - The link lives in the router, not in a plugin. It belongs to the mount that serves its
    ///   path and goes when that mount is unmounted; a link outside every mount lives as long as
    ///   the router.
    /// - A mount that cannot create entries (neither `create` nor `mkdir` in its capabilities: a
    ///   read-only mount) takes no links either.
    ///
    /// # Errors
    /// `InvalidArgument` for an empty or malformed target; `AlreadyExists` when something (a link,
    /// file, directory or mount point) is at `link`; `NotFound` when the parent is missing;
    /// `NotADirectory` when the parent is a file; `Unsupported` inside a read-only mount.
    pub async fn symlink(&self, target: &str, link: &str) -> Result<()> {
        check_target(target).map_err(|e| e.with_op("symlink"))?;
        let link = path::normalize(link)?;
        let link = self.follow_parent(&link, "symlink")?.into_owned();
        if let Some(r) = self.table.load().resolve(&link) {
            let caps = r.mount.fs.capabilities();
            if !(caps.create || caps.mkdir) {
                return Err(Error::unsupported("symlink")
                    .with_path(&link)
                    .with_message(format!(
                        "operation not supported (the mount at {} is read-only)",
                        r.mount.path
                    )));
            }
        }
        self.check_parent_dir(&link, "symlink").await?;
        match FileSystem::stat(self, &link).await {
            Ok(_) => return Err(Error::already_exists(&link).with_op("symlink")),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e.with_op("symlink")),
        }
        self.links
            .insert(&link, target)
            .map_err(|e| e.with_op("symlink"))
    }

    /// Returns the target of the symbolic link at `link`, as it was given.
    ///
    /// # Errors
    /// `NotFound` when `link` is not a symbolic link (missing, or a file or directory);
    /// `InvalidArgument` for a loop among its directories.
    pub fn readlink(&self, link: &str) -> Result<String> {
        let link = path::normalize(link)?;
        let at = self.follow_parent(&link, "readlink")?;
        match self.links.get(&at) {
            Some(l) => Ok(l.target.clone()),
            None => Err(Error::not_found(link)
                .with_op("readlink")
                .with_message("not found (no symbolic link at this path)")),
        }
    }

    /// Resolves every link in `p`, the last component included.
    pub(super) fn follow<'p>(&self, p: &'p str, op: &'static str) -> Result<Cow<'p, str>> {
        self.links.resolve(p, true).map_err(|e| e.with_op(op))
    }

    /// Resolves the links among `p`'s directories, not a link at `p` itself.
    pub(super) fn follow_parent<'p>(&self, p: &'p str, op: &'static str) -> Result<Cow<'p, str>> {
        self.links.resolve(p, false).map_err(|e| e.with_op(op))
    }

    /// Fails with `AlreadyExists` when `p` is a link (create and mkdir do not follow one).
    pub(super) fn refuse_link(&self, p: &str, op: &'static str) -> Result<()> {
        if self.links.contains(p) {
            return Err(Error::already_exists(p)
                .with_op(op)
                .with_message("already exists (a symbolic link)"));
        }
        Ok(())
    }

    /// Checks that the parent of `p` (links resolved) is a directory.
    async fn check_parent_dir(&self, p: &str, op: &'static str) -> Result<()> {
        let parent = path::parent(p);
        match FileSystem::stat(self, parent).await {
            Ok(info) if info.is_dir => Ok(()),
            Ok(_) => Err(Error::not_a_directory(parent).with_op(op)),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Err(Error::not_found(p).with_op(op).with_message(format!(
                    "not found (parent directory {parent} does not exist)"
                )))
            }
            Err(e) => Err(e.with_op(op)),
        }
    }

    /// The FileInfo of the link at `p` (its directories resolved), when `p` is a link.
    pub(super) async fn link_info(&self, p: &str) -> Option<FileInfo> {
        let link = self.links.get(p)?;
        Some(self.describe_link(p, &link).await)
    }

    /// A link as stat and listings show it: size = target length, mode 0777, `isDir` = the target
    /// is a directory (false when it dangles or loops), `meta.Type` = `symlink`.
    async fn describe_link(&self, p: &str, link: &Link) -> FileInfo {
        let is_dir = match self.links.resolve(p, true) {
            Ok(target) => FileSystem::stat(self, &target)
                .await
                .is_ok_and(|i| i.is_dir),
            Err(_) => false,
        };
        let mut meta = Meta::new("rootfs", "symlink");
        meta.content = Some(BTreeMap::from([(
            "target".to_string(),
            link.target.clone(),
        )]));
        FileInfo {
            name: basename(p).to_string(),
            size: link.target.len() as u64,
            mode: LINK_MODE,
            mod_time: Some(link.created),
            is_dir,
            meta,
        }
    }

    /// Whether links are stored directly in `dir`.
    pub(super) fn has_links_in(&self, dir: &str) -> bool {
        !self.links.is_empty() && !self.links.children(dir).is_empty()
    }

    /// Adds the links stored in `dir` (resolved) to its listing; a link hides a plugin entry of
    /// the same name, as it does for every other operation.
    pub(super) async fn list_links(&self, dir: &str, entries: &mut Vec<FileInfo>) {
        if self.links.is_empty() {
            return;
        }
        let links = self.links.children(dir);
        if links.is_empty() {
            return;
        }
        let names: HashSet<&str> = links.iter().map(|(n, _)| n.as_str()).collect();
        entries.retain(|e| !names.contains(e.name.as_str()));
        let infos = links.iter().map(|(name, link)| async move {
            self.describe_link(&path::child(dir, name), link).await
        });
        entries.extend(join_all(infos).await);
    }

    /// Removes the link at `p` (directories resolved) if it is one and says so. A plain `remove`
    /// of a directory that holds links fails: the directory is not empty.
    pub(super) fn remove_link(&self, p: &str, recursive: bool) -> Result<bool> {
        if self.links.is_empty() {
            return Ok(false);
        }
        if self.links.remove(p) {
            return Ok(true);
        }
        if !recursive && self.has_links_in(p) {
            return Err(Error::directory_not_empty(p)
                .with_op("remove")
                .with_message("directory not empty (it holds symbolic links)"));
        }
        Ok(false)
    }

    /// After `remove_all(p)`: the links below `p` go with the directory.
    pub(super) fn forget_links_below(&self, p: &str) {
        if !self.links.is_empty() {
            self.links.retain(|k| !is_within(k, p));
        }
    }

    /// Renames the link at `from` to `to` (both with their directories resolved) when `from` is a
    /// link, and says whether it was. A link may replace another link, never a file or directory;
    /// it may move to any existing directory, across mounts too (it lives in the router).
    pub(super) async fn rename_link(&self, from: &str, to: &str) -> Result<bool> {
        if !self.links.contains(from) {
            return Ok(false);
        }
        if from == to {
            return Ok(true);
        }
        self.check_parent_dir(to, "rename").await?;
        if !self.links.contains(to) {
            match FileSystem::stat(self, to).await {
                Ok(_) => {
                    return Err(Error::already_exists(to).with_op("rename").with_message(
                        "already exists (a symbolic link can replace only another link)",
                    ));
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e.with_op("rename")),
            }
        }
        if !self.links.rename(from, to) {
            return Err(Error::not_found(from).with_op("rename"));
        }
        Ok(true)
    }

    /// After a plugin renamed `from` to `to`: links below `from` move along, and a link at `to`
    /// is gone (the renamed entry replaced it).
    pub(super) fn move_links(&self, from: &str, to: &str) {
        if !self.links.is_empty() {
            self.links.move_below(from, to);
        }
    }

    /// Refuses a mount point that is a link or lies behind one: the link would hide the mount.
    pub(super) fn check_mount_path(&self, path: &str) -> Result<()> {
        let resolved = self.follow(path, "mount")?;
        if resolved == path {
            return Ok(());
        }
        if self.links.contains(path) {
            return Err(Error::already_exists(path)
                .with_op("mount")
                .with_message("already exists (a symbolic link)"));
        }
        Err(Error::invalid_argument(format!(
            "cannot mount at {path}: the path goes through a symbolic link (it leads to {resolved})"
        ))
        .with_op("mount"))
    }

    /// On unmount of `removed`: drops the links inside that mount, and those whose directory was
    /// a virtual directory that no longer exists. Links pointing into the mount stay (dangling).
    pub(super) fn forget_links_of_unmount(
        &self,
        old: &MountTable,
        new: &MountTable,
        removed: &str,
    ) {
        if self.links.is_empty() {
            return;
        }
        self.links.retain(|k| {
            let inside = old.resolve(k).is_some_and(|r| r.mount.path == removed);
            let dir = path::parent(k);
            let orphan = dir != "/" && new.resolve(dir).is_none() && !new.has_mount_below(dir);
            !inside && !orphan
        });
    }
}
