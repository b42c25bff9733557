//! The blocking halves of localfs's namespace operations (create, mkdir, remove, rename, chmod,
//! truncate, touch). Each takes the root handle, the path relative to it (`.` for the root) and
//! the API path (for errors), and runs on the blocking pool via `LocalFs::change`.

use std::io;
use std::path::Path;
use std::time::SystemTime;

use cap_std::fs::{Dir, OpenOptions, Permissions, PermissionsExt};
use fs_core::{Error, Result};

use super::fs::{NEW_FILE_MODE, map_io_error, open_parent, rel};

pub(super) fn create(root: &Dir, rel: &str, p: &str) -> Result<()> {
    if rel == "." {
        return Err(Error::already_exists(p));
    }
    let file = root
        .open_with(rel, OpenOptions::new().write(true).create_new(true))
        .map_err(|e| map_io_error(e, p))?;
    file.set_permissions(Permissions::from_mode(NEW_FILE_MODE))
        .map_err(|e| map_io_error(e, p))
}

pub(super) fn mkdir(root: &Dir, rel: &str, p: &str, mode: u32) -> Result<()> {
    if rel == "." {
        return Err(Error::already_exists(p));
    }
    let (parent, name) = open_parent(root, rel, p)?;
    parent.create_dir(&name).map_err(|e| map_io_error(e, p))?;
    // Exact bits, whatever the process umask.
    parent
        .set_permissions(&name, Permissions::from_mode(mode & 0o7777))
        .map_err(|e| map_io_error(e, p))
}

/// Removes the entry `name` of `dir`: a file or link, or a directory (`all`: with its contents;
/// else only when empty).
fn remove_entry(dir: &Dir, name: impl AsRef<Path>, p: &str, all: bool) -> Result<()> {
    let name = name.as_ref();
    let m = dir.symlink_metadata(name).map_err(|e| map_io_error(e, p))?;
    match (m.is_dir(), all) {
        (true, true) => dir.remove_dir_all(name),
        (true, false) => dir.remove_dir(name),
        (false, _) => dir.remove_file(name),
    }
    .map_err(|e| map_io_error(e, p))
}

pub(super) fn remove(root: &Dir, rel: &str, p: &str) -> Result<()> {
    if rel == "." {
        return Err(Error::permission_denied(p));
    }
    let (parent, name) = open_parent(root, rel, p)?;
    remove_entry(&parent, &name, p, false)
}

/// On the root, empties it (the mount stays).
pub(super) fn remove_all(root: &Dir, rel: &str, p: &str) -> Result<()> {
    if rel == "." {
        for entry in root.entries().map_err(|e| map_io_error(e, p))? {
            let entry = entry.map_err(|e| map_io_error(e, p))?;
            remove_entry(root, entry.file_name(), p, true)?;
        }
        return Ok(());
    }
    let (parent, name) = open_parent(root, rel, p)?;
    remove_entry(&parent, &name, p, true)
}

/// Moves `from` to `to` (API paths): a file may replace a file, a directory an empty directory.
pub(super) fn rename(root: &Dir, from: &str, to: &str) -> Result<()> {
    fs_core::path::check_rename(from, to)?;
    let (rf, rt) = (rel(from)?, rel(to)?);
    if rt == rf {
        return Ok(());
    }
    let (fp, fname) = open_parent(root, &rf, from)?;
    let (tp, tname) = open_parent(root, &rt, to)?;
    let src = fp
        .symlink_metadata(&fname)
        .map_err(|e| map_io_error(e, from))?;
    match tp.symlink_metadata(&tname) {
        Ok(dst) if dst.is_dir() && !src.is_dir() => return Err(Error::is_a_directory(to)),
        Ok(dst) if !dst.is_dir() && src.is_dir() => return Err(Error::not_a_directory(to)),
        _ => {}
    }
    fp.rename(&fname, &tp, &tname)
        .map_err(|e| map_io_error(e, to))
}

pub(super) fn chmod(root: &Dir, rel: &str, p: &str, mode: u32) -> Result<()> {
    root.set_permissions(rel, Permissions::from_mode(mode & 0o7777))
        .map_err(|e| map_io_error(e, p))
}

pub(super) fn truncate(root: &Dir, rel: &str, p: &str, size: u64) -> Result<()> {
    fs_core::write::check_size(p, size, fs_core::MAX_FILE_SIZE)?;
    let m = root.metadata(rel).map_err(|e| map_io_error(e, p))?;
    if m.is_dir() {
        return Err(Error::is_a_directory(p));
    }
    let file = root
        .open_with(rel, OpenOptions::new().write(true))
        .map_err(|e| map_io_error(e, p))?;
    file.set_len(size).map_err(|e| map_io_error(e, p))
}

/// Creates an empty file, or sets an existing file's modification time to now (directories: no-op).
pub(super) fn touch(root: &Dir, rel: &str, p: &str) -> Result<()> {
    if rel == "." {
        return Ok(());
    }
    let (parent, name) = open_parent(root, rel, p)?;
    match parent.metadata(&name) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => {
            let file = parent
                .open_with(&name, OpenOptions::new().write(true))
                .map_err(|e| map_io_error(e, p))?;
            file.into_std()
                .set_modified(SystemTime::now())
                .map_err(|e| map_io_error(e, p))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let file = parent
                .open_with(&name, OpenOptions::new().write(true).create(true))
                .map_err(|e| map_io_error(e, p))?;
            file.set_permissions(Permissions::from_mode(NEW_FILE_MODE))
                .map_err(|e| map_io_error(e, p))
        }
        Err(e) => Err(map_io_error(e, p)),
    }
}
