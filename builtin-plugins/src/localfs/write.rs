//! localfs writes: whole-file writes go to a temporary file beside the target and are renamed
//! over it (linked, for an exclusive create) once the body has arrived; positional and append
//! writes go to the file itself.

use std::io::{self, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cap_std::fs::{Dir, OpenOptions, Permissions, PermissionsExt};
use fs_core::{ByteStream, Error, ErrorKind, Result, WriteFlags};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::fs::{
    LocalFs, NEW_FILE_MODE, TEMP_PREFIX, blocking, map_io_error, mode_of, open_parent, sync_dir,
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

impl LocalFs {
    /// A whole-file write: the body goes to a temporary file in the target's directory, which
    /// then replaces the target (or, for an exclusive create, is linked to its name).
    pub(super) async fn write_replace(
        &self,
        path: &str,
        data: ByteStream,
        limit: u64,
        flags: WriteFlags,
    ) -> Result<u64> {
        let exclusive = flags.contains(WriteFlags::CREATE | WriteFlags::EXCLUSIVE);
        let may_create = flags.is_empty() || flags.contains(WriteFlags::CREATE);
        let sync = flags.contains(WriteFlags::SYNC);
        let (parent, name, temp, file) = self
            .at(path, move |root, rel, p| {
                if rel == "." {
                    return Err(Error::is_a_directory(p));
                }
                let (parent, name) = open_parent(root, rel, p)?;
                let mode = match parent.metadata(&name) {
                    Ok(m) if m.is_dir() => return Err(Error::is_a_directory(p)),
                    Ok(_) if exclusive => return Err(Error::already_exists(p)),
                    Ok(m) => mode_of(&m),
                    Err(e) if e.kind() == io::ErrorKind::NotFound && may_create => NEW_FILE_MODE,
                    Err(e) => return Err(map_io_error(e, p)),
                };
                let parent = Arc::new(parent);
                let temp_name = format!(
                    "{TEMP_PREFIX}{}-{}",
                    std::process::id(),
                    TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
                );
                let file = parent
                    .open_with(&temp_name, OpenOptions::new().write(true).create_new(true))
                    .map_err(|e| map_io_error(e, p))?;
                let temp = TempFile {
                    parent: parent.clone(),
                    name: temp_name,
                    armed: true,
                };
                file.set_permissions(Permissions::from_mode(mode))
                    .map_err(|e| map_io_error(e, p))?;
                Ok((parent, name, temp, file.into_std()))
            })
            .await?;
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

    /// A positional or append write to the file itself (created as the flags allow).
    pub(super) async fn write_in_place(
        &self,
        path: &str,
        data: ByteStream,
        limit: u64,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let append = flags.contains(WriteFlags::APPEND);
        let sync = flags.contains(WriteFlags::SYNC);
        let mut opts = OpenOptions::new();
        opts.write(true);
        if append {
            opts.append(true);
        }
        if flags.contains(WriteFlags::CREATE | WriteFlags::EXCLUSIVE) {
            opts.create_new(true);
        } else if flags.is_empty() || flags.contains(WriteFlags::CREATE) {
            opts.create(true);
        }
        if flags.contains(WriteFlags::TRUNCATE) {
            opts.truncate(true);
        }
        let (file, parent) = self
            .at(path, move |root, rel, p| {
                if rel == "." {
                    return Err(Error::is_a_directory(p));
                }
                let (parent, name) = open_parent(root, rel, p)?;
                let file = parent
                    .open_with(&name, &opts)
                    .map_err(|e| map_io_error(e, p))?;
                let m = file.metadata().map_err(|e| map_io_error(e, p))?;
                if m.is_dir() {
                    return Err(Error::is_a_directory(p));
                }
                let mut file = file.into_std();
                if !append {
                    file.seek(SeekFrom::Start(offset.unwrap_or(0)))
                        .map_err(|e| map_io_error(e, p))?;
                }
                Ok((file, parent))
            })
            .await?;
        let mut file = tokio::fs::File::from_std(file);
        let n = pump(&mut file, data, limit, path).await?;
        if sync {
            file.sync_all().await.map_err(|e| map_io_error(e, path))?;
            let p = path.to_string();
            blocking(move || sync_dir(&parent, &p)).await?;
        }
        Ok(n)
    }
}
