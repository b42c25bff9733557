//! localfs writes. Every body is received into a temporary file beside the target first, so a body
//! that fails or passes the size limit leaves the target as it was. A whole-file write (or one with
//! `truncate`) then renames the temporary file over the target (links it, for an exclusive
//! create); a positional or append write copies it into the target at its place.

use std::io::{self, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cap_std::fs::{Dir, OpenOptions, Permissions, PermissionsExt};
use fs_core::write::check_size;
use fs_core::{ByteStream, Error, ErrorKind, MAX_FILE_SIZE, Result, WriteFlags};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::fs::{
    LocalFs, NEW_FILE_MODE, TEMP_PREFIX, blocking, drop_special_bits, map_io_error, mode_of,
    open_parent, sync_dir,
};

/// Makes temporary names unique within the process (the pid makes them unique across processes).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

struct TempFile {
    parent: Arc<Dir>,
    name: String,
    armed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.parent.remove_file(&self.name);
        }
    }
}

/// Copies `data` into `file`, at most `limit` bytes in all; returns the count.
async fn pump(
    file: &mut tokio::fs::File,
    mut data: ByteStream,
    limit: u64,
    path: &str,
) -> Result<u64> {
    let mut total = 0u64;
    while let Some(chunk) = data.next().await {
        let chunk = chunk?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(Error::new(
                ErrorKind::PayloadTooLarge,
                format!("request body exceeds maximum size of {limit} bytes"),
            ));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| map_io_error(e, path))?;
    }
    file.flush().await.map_err(|e| map_io_error(e, path))?;
    Ok(total)
}

/// What the flags say about the target before any byte arrives: `Ok(Some(mode))` when it exists
/// (its permission bits), `Ok(None)` when it does not and may be created.
fn check_target(
    parent: &Dir,
    name: &str,
    p: &str,
    exclusive: bool,
    may_create: bool,
) -> Result<Option<u32>> {
    match parent.metadata(name) {
        Ok(m) if m.is_dir() => Err(Error::is_a_directory(p)),
        Ok(_) if exclusive => Err(Error::already_exists(p)),
        Ok(m) => Ok(Some(mode_of(&m))),
        Err(e) if e.kind() == io::ErrorKind::NotFound && may_create => Ok(None),
        Err(e) => Err(map_io_error(e, p)),
    }
}

/// A new temporary file in `parent` with permission bits `mode`, removed again when the guard is
/// dropped armed.
fn new_temp(parent: &Arc<Dir>, p: &str, mode: u32) -> Result<(TempFile, std::fs::File)> {
    let name = format!(
        "{TEMP_PREFIX}{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let file = parent
        .open_with(
            &name,
            OpenOptions::new().read(true).write(true).create_new(true),
        )
        .map_err(|e| map_io_error(e, p))?;
    let temp = TempFile {
        parent: parent.clone(),
        name,
        armed: true,
    };
    file.set_permissions(Permissions::from_mode(mode))
        .map_err(|e| map_io_error(e, p))?;
    Ok((temp, file.into_std()))
}

/// A target checked and a temporary file opened beside it.
struct Staged {
    parent: Arc<Dir>,
    name: String,
    temp: TempFile,
    file: std::fs::File,
}

impl LocalFs {
    /// Checks the target against `flags` and opens a temporary file beside it (with the target's
    /// mode, or the new-file mode; special bits only where the mount allows them).
    async fn stage(&self, path: &str, flags: WriteFlags) -> Result<Staged> {
        let (exclusive, may_create) = (flags.is_exclusive(), flags.creates());
        let mask = self.mode_mask;
        self.at(path, move |root, rel, p| {
            if rel == "." {
                return Err(Error::is_a_directory(p));
            }
            let (parent, name) = open_parent(root, rel, p)?;
            let mode = check_target(&parent, &name, p, exclusive, may_create)?;
            let parent = Arc::new(parent);
            let (temp, file) = new_temp(&parent, p, mode.unwrap_or(NEW_FILE_MODE) & mask)?;
            Ok(Staged {
                parent,
                name,
                temp,
                file,
            })
        })
        .await
    }

    /// A write that replaces the whole file (no offset and no append, or `truncate`): the body
    /// goes into the temporary file (at `offset`, zeros before it), which then replaces the target
    /// (or, for an exclusive create, is linked to its name).
    pub(super) async fn write_replace(
        &self,
        path: &str,
        data: ByteStream,
        limit: u64,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let exclusive = flags.is_exclusive();
        let sync = flags.contains(WriteFlags::SYNC);
        let Staged {
            parent,
            name,
            temp,
            mut file,
        } = self.stage(path, flags).await?;
        if let Some(off) = offset.filter(|o| *o > 0) {
            file.seek(SeekFrom::Start(off))
                .map_err(|e| map_io_error(e, path))?;
        }
        let mut file = tokio::fs::File::from_std(file);
        let n = pump(&mut file, data, limit, path).await?;
        if sync {
            file.sync_all().await.map_err(|e| map_io_error(e, path))?;
        }
        drop(file);
        let p = path.to_string();
        blocking(move || {
            let mut temp = temp;
            if exclusive {
                // link(2) never replaces: a file created meanwhile makes this fail, as it should.
                parent
                    .hard_link(&temp.name, &parent, &name)
                    .map_err(|e| map_io_error(e, &p))?;
            } else {
                parent
                    .rename(&temp.name, &parent, &name)
                    .map_err(|e| map_io_error(e, &p))?;
                temp.armed = false;
            }
            if sync {
                sync_dir(&parent, &p)?;
            }
            Ok(())
        })
        .await?;
        Ok(n)
    }

    /// A positional or append write: the body goes into the temporary file, and only once it is
    /// whole is it copied into the target (at `offset`, or at the end with `append`). The target is
    /// created here if the flags allow and it is missing.
    pub(super) async fn write_in_place(
        &self,
        path: &str,
        data: ByteStream,
        limit: u64,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let append = flags.contains(WriteFlags::APPEND);
        let mask = self.mode_mask;
        let sync = flags.contains(WriteFlags::SYNC);
        let mut opts = OpenOptions::new();
        opts.write(true);
        if append {
            opts.append(true);
        }
        if flags.is_exclusive() {
            opts.create_new(true);
        } else if flags.creates() {
            opts.create(true);
        }
        let Staged {
            parent,
            name,
            temp,
            file,
        } = self.stage(path, flags).await?;
        let mut file = tokio::fs::File::from_std(file);
        let n = pump(&mut file, data, limit, path).await?;
        if !append {
            // Checked before any byte reaches the target: a copy refused midway would be partial.
            check_size(path, offset.unwrap_or(0).saturating_add(n), MAX_FILE_SIZE)?;
        }
        let mut staged = file.into_std().await;
        let p = path.to_string();
        blocking(move || {
            let _temp = temp;
            let target = parent
                .open_with(&name, &opts)
                .map_err(|e| map_io_error(e, &p))?;
            let mut target = target.into_std();
            if !append {
                target
                    .seek(SeekFrom::Start(offset.unwrap_or(0)))
                    .map_err(|e| map_io_error(e, &p))?;
            }
            staged
                .seek(SeekFrom::Start(0))
                .map_err(|e| map_io_error(e, &p))?;
            io::copy(&mut staged, &mut target).map_err(|e| map_io_error(e, &p))?;
            drop_special_bits(&target, mask).map_err(|e| map_io_error(e, &p))?;
            if sync {
                target.sync_all().map_err(|e| map_io_error(e, &p))?;
                sync_dir(&parent, &p)?;
            }
            Ok(())
        })
        .await?;
        Ok(n)
    }
}
