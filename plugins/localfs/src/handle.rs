//! localfs handles: a real open file, opened through the root directory handle (so a handle never
//! leads outside the root either), read and written with pread/pwrite at the handle's position.

use std::fmt;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;
use cap_std::fs::{Dir, OpenOptions, Permissions, PermissionsExt};
use fs_core::MAX_FILE_SIZE;
use fs_core::handle::seek_position;
use fs_core::write::check_size;
use fs_core::{Error, FileHandle, FileInfo, OpenFlags, Result, Whence};

use super::fs::{LocalFs, NEW_FILE_MODE, drop_special_bits, map_io_error, name_of, rel, retrying};
use super::open_files::Reading;
use super::settings::read_only_handle;

/// An open file of a localfs mount.
pub(super) struct LocalHandle {
    fs: Arc<LocalFs>,
    file: Arc<std::fs::File>,
    /// The mount-relative path (errors) and its root-relative form (metadata).
    path: String,
    rel: String,
    append: bool,
    pos: u64,
    /// Keeps whole-file writes from rewriting the file in place while the handle is open.
    _open: Reading,
}

impl fmt::Debug for LocalHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalHandle")
            .field("path", &self.path)
            .field("pos", &self.pos)
            .finish()
    }
}

impl LocalHandle {
    /// Opens `path` with open(2) semantics; a file it creates gets exactly `mode`.
    pub(super) async fn open(
        fs: Arc<LocalFs>,
        path: &str,
        flags: OpenFlags,
        mode: u32,
    ) -> Result<Self> {
        if fs.read_only() && (flags.writable() || flags.contains(OpenFlags::CREATE)) {
            return Err(read_only_handle(path, "openhandle"));
        }
        let root = fs.root.clone();
        let p = path.to_string();
        let mode_mask = fs.mode_mask();
        let files = fs.open_files.clone();
        let (file, rel, open) = fs
            .blocking(move || {
                let rel = rel(&p)?;
                if rel == "." {
                    return Err(Error::is_a_directory(&p));
                }
                retrying(&root, |root| {
                    open_file(root, &rel, &p, flags, mode & mode_mask)
                })
                .map(|(file, m)| (file, rel.clone(), files.reading(&m)))
            })
            .await?;
        Ok(LocalHandle {
            fs,
            file: Arc::new(file),
            path: path.to_string(),
            rel,
            append: flags.writable() && flags.contains(OpenFlags::APPEND),
            pos: 0,
            _open: open,
        })
    }
}

/// open(2) of `rel` below `root` with `flags`; a file it creates gets `mode` (0: the default mode).
fn open_file(
    root: &Dir,
    rel: &str,
    p: &str,
    flags: OpenFlags,
    mode: u32,
) -> Result<(std::fs::File, cap_std::fs::Metadata)> {
    let excl = flags.contains(OpenFlags::CREATE | OpenFlags::EXCL);
    if flags.contains(OpenFlags::CREATE) {
        // Created apart from the open: open(2) allows O_RDONLY|O_CREAT, std does not.
        match root.open_with(rel, OpenOptions::new().write(true).create_new(true)) {
            Ok(created) => {
                let bits = if mode == 0 { NEW_FILE_MODE } else { mode };
                created
                    .set_permissions(Permissions::from_mode(bits))
                    .map_err(|e| map_io_error(e, p))?;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && !excl => {}
            Err(e) => return Err(map_io_error(e, p)),
        }
    }
    let mut opts = OpenOptions::new();
    opts.read(flags.readable());
    if flags.writable() {
        opts.write(true);
        opts.append(flags.contains(OpenFlags::APPEND));
        opts.truncate(flags.contains(OpenFlags::TRUNC));
    }
    let file = root.open_with(rel, &opts).map_err(|e| map_io_error(e, p))?;
    let m = file.metadata().map_err(|e| map_io_error(e, p))?;
    if m.is_dir() {
        return Err(Error::is_a_directory(p));
    }
    Ok((file.into_std(), m))
}

impl LocalHandle {
    /// Runs `f` on the file in the blocking pool.
    async fn with_file<T: Send + 'static>(
        &self,
        f: impl FnOnce(&std::fs::File, &str) -> io::Result<T> + Send + 'static,
    ) -> Result<T> {
        let file = self.file.clone();
        let p = self.path.clone();
        self.fs
            .blocking(move || f(&file, &p).map_err(|e| map_io_error(e, &p)))
            .await
    }

    async fn read_from(&self, offset: u64, size: u64) -> Result<Bytes> {
        self.with_file(move |file, _| {
            let len = file.metadata()?.len();
            let want = len.saturating_sub(offset).min(size) as usize;
            let mut buf = vec![0u8; want];
            let mut got = 0;
            while got < want {
                match file.read_at(&mut buf[got..], offset + got as u64) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            buf.truncate(got);
            Ok(Bytes::from(buf))
        })
        .await
    }

    /// Writes at `offset`, or at the end for an `O_APPEND` handle; returns the count and the
    /// position after the written bytes.
    async fn write_to(&self, offset: u64, data: Bytes) -> Result<(u64, u64)> {
        // A handle opened for writing before the mount was made read-only writes no more.
        if self.fs.read_only() {
            return Err(read_only_handle(&self.path, "write"));
        }
        let append = self.append;
        let mask = self.fs.mode_mask();
        if !append {
            check_size(
                &self.path,
                offset.saturating_add(data.len() as u64),
                MAX_FILE_SIZE,
            )?;
        }
        self.with_file(move |file, _| {
            let done = if append {
                // O_APPEND: the kernel puts every write at the end.
                (&*file).write_all(&data)?;
                (data.len() as u64, file.metadata()?.len())
            } else {
                file.write_all_at(&data, offset)?;
                (data.len() as u64, offset + data.len() as u64)
            };
            drop_special_bits(file, mask)?;
            Ok(done)
        })
        .await
    }
}

#[async_trait::async_trait]
impl FileHandle for LocalHandle {
    fn position(&self) -> u64 {
        self.pos
    }

    async fn read(&mut self, size: u64) -> Result<Bytes> {
        let data = self.read_from(self.pos, size).await?;
        self.pos += data.len() as u64;
        Ok(data)
    }

    async fn read_at(&mut self, offset: u64, size: u64) -> Result<Bytes> {
        self.read_from(offset, size).await
    }

    async fn write(&mut self, data: Bytes) -> Result<u64> {
        let (n, end) = self.write_to(self.pos, data).await?;
        self.pos = end;
        Ok(n)
    }

    async fn write_at(&mut self, offset: u64, data: Bytes) -> Result<u64> {
        Ok(self.write_to(offset, data).await?.0)
    }

    async fn seek(&mut self, offset: i64, whence: Whence) -> Result<u64> {
        let end = if whence == Whence::End {
            self.with_file(|file, _| Ok(file.metadata()?.len())).await?
        } else {
            0
        };
        self.pos = seek_position(self.pos, end, offset, whence, MAX_FILE_SIZE)?;
        Ok(self.pos)
    }

    async fn sync(&mut self) -> Result<()> {
        self.with_file(|file, _| file.sync_all()).await
    }

    /// The open file's own ftruncate (a read-only descriptor refuses it).
    async fn truncate(&mut self, size: u64) -> Result<()> {
        if self.fs.read_only() {
            return Err(read_only_handle(&self.path, "truncate"));
        }
        check_size(&self.path, size, MAX_FILE_SIZE)?;
        self.with_file(move |file, _| file.set_len(size)).await
    }

    async fn stat(&mut self) -> Result<FileInfo> {
        let m = self
            .with_file(|file, _| cap_std::fs::Metadata::from_file(file))
            .await?;
        Ok(self.fs.info(name_of(&self.path), &self.rel, &m))
    }
}
