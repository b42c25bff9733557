//! The localfs [`FileSystem`]: every path is opened relative to one directory handle of the root
//! (cap-std's `Dir`, `openat2(RESOLVE_BENEATH)` where the kernel has it, a checked component walk
//! otherwise), so neither `..` nor a symlink nor a race between check and use leads outside it.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use cap_std::fs::{Dir, Metadata, PermissionsExt};
use fs_core::write::check_size;
use fs_core::{
    ByteStream, Capabilities, Content, ContentBody, Error, ErrorKind, FileInfo, FileSystem,
    MAX_FILE_SIZE, Meta, Result, WriteFlags,
};

use fs_core::workers::Workers;

use super::open_files::{OpenFiles, Reading};
use super::root::Root;
use super::settings::Settings;
use super::tree;
use tokio::io::AsyncReadExt;

/// Chunk size of streamed reads.
const CHUNK: usize = 64 * 1024;

/// Mode given to files created by a write (before the umask of the server process is irrelevant:
/// it is set explicitly).
pub(super) const NEW_FILE_MODE: u32 = 0o644;

/// Prefix of the temporary files of atomic writes (hidden, in the target's directory).
pub(super) const TEMP_PREFIX: &str = ".pfs-tmp-";

/// Maps an I/O error to the error kind of the API, naming `path`. The one place where localfs
/// translates `std::io` errors.
pub fn map_io_error(e: io::Error, path: &str) -> Error {
    use io::ErrorKind as K;
    // ELOOP (too many symlinks) is not a stable io::ErrorKind yet.
    const ELOOP: i32 = 40;
    let kind = match e.kind() {
        _ if e.raw_os_error() == Some(ELOOP) => ErrorKind::InvalidArgument,
        K::NotFound => ErrorKind::NotFound,
        K::AlreadyExists => ErrorKind::AlreadyExists,
        // cap-std reports an attempt to leave the root (`..`, absolute or escaping symlinks) as
        // PermissionDenied; openat2 reports it as EXDEV.
        K::PermissionDenied | K::CrossesDevices | K::ReadOnlyFilesystem => {
            ErrorKind::PermissionDenied
        }
        K::NotADirectory => ErrorKind::NotADirectory,
        K::IsADirectory => ErrorKind::IsADirectory,
        K::DirectoryNotEmpty => ErrorKind::DirectoryNotEmpty,
        K::InvalidInput | K::InvalidFilename => ErrorKind::InvalidArgument,
        K::StorageFull | K::QuotaExceeded | K::FileTooLarge => ErrorKind::PayloadTooLarge,
        K::UnexpectedEof => ErrorKind::Internal,
        _ => ErrorKind::Internal,
    };
    let message = e.to_string();
    match kind {
        ErrorKind::Internal | ErrorKind::PermissionDenied | ErrorKind::InvalidArgument => {
            Error::new(kind, format!("{path}: {message}"))
                .with_path(path)
                .with_source(e)
        }
        _ => Error::with_kind(kind, path).with_source(e),
    }
}

/// Checks that `local_dir` exists and is a directory; returns its absolute path.
pub(crate) fn check_base(local_dir: &str) -> Result<PathBuf> {
    let abs = std::path::absolute(local_dir).unwrap_or_else(|_| PathBuf::from(local_dir));
    match std::fs::metadata(&abs) {
        Ok(m) if m.is_dir() => Ok(abs),
        Ok(_) => Err(Error::invalid_argument(format!(
            "base path is not a directory: {}",
            abs.display()
        ))),
        Err(_) => Err(Error::invalid_argument(format!(
            "base path does not exist: {}",
            abs.display()
        ))),
    }
}

/// A local directory served as a filesystem.
pub struct LocalFs {
    pub(super) root: Arc<Root>,
    base: PathBuf,
    /// `read_only` and the special-bits mask, which a config change sets while mounted.
    pub(super) settings: Settings,
    /// The threads that run this mount's file system calls ([`LocalFs::blocking`]).
    workers: Workers,
    /// The files this mount's reads and handles have open.
    pub(super) open_files: Arc<OpenFiles>,
    /// Tests keep their temporary root alive for as long as the filesystem.
    #[cfg(test)]
    pub(super) guard: Option<tempfile::TempDir>,
}

impl fmt::Debug for LocalFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalFs")
            .field("base", &self.base)
            .field("read_only", &self.read_only())
            .finish()
    }
}

/// The path below the root, relative (`.` for the root). `..` components are refused outright
/// (the router normalizes them away; this is the second line, the directory handle the third).
pub(super) fn rel(path: &str) -> Result<String> {
    let mut parts = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(Error::new(
                    ErrorKind::PermissionDenied,
                    format!("{path}: path escapes the local directory"),
                )
                .with_path(path));
            }
            c if c.contains('\0') => {
                return Err(Error::invalid_argument(format!(
                    "{path}: path contains a NUL byte"
                )));
            }
            c => parts.push(c),
        }
    }
    Ok(if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    })
}

/// Splits a relative path into its parent (`.` for the root) and last component.
fn split(rel: &str) -> (&str, &str) {
    match rel.rfind('/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (".", rel),
    }
}

pub(super) fn name_of(path: &str) -> String {
    path.rsplit('/')
        .find(|c| !c.is_empty())
        .unwrap_or("/")
        .to_string()
}

pub(super) fn mode_of(m: &Metadata) -> u32 {
    m.permissions().mode() & 0o7777
}

fn mtime(m: &Metadata) -> Option<SystemTime> {
    m.modified().ok().map(|t| t.into_std())
}

fn etag(m: &Metadata) -> Option<String> {
    let t = mtime(m)?
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(format!("{t:x}-{:x}", m.len()))
}

/// Permission bits without setuid, setgid and sticky.
pub(super) const PERMISSION_BITS: u32 = 0o777;

/// Clears the special bits `mask` does not allow from a file just written in place, as the
/// kernel does for a writer without privileges (the server often runs as root, for which it does
/// not): new content must not run with an old file's setuid.
pub(super) fn drop_special_bits(file: &std::fs::File, mask: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = file.metadata()?.permissions().mode() & 0o7777;
    if mode & !mask != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(mode & mask))?;
    }
    Ok(())
}

/// Runs `op` on the root; when it finds nothing because the root directory was removed and made
/// again, once more on the new one ([`Root::reopened`]).
pub(super) fn retrying<T>(root: &Root, op: impl Fn(&Dir) -> Result<T>) -> Result<T> {
    match op(&root.get()) {
        Err(e) if e.kind() == ErrorKind::NotFound && root.reopened()? => op(&root.get()),
        done => done,
    }
}

/// The directory an entry is in: the root itself (borrowed: no descriptor to duplicate and close
/// for the common case of a file at the top), or a directory below it opened for the call.
pub(super) enum Parent<'a> {
    Root(&'a Dir),
    Below(Dir),
}

impl std::ops::Deref for Parent<'_> {
    type Target = Dir;
    fn deref(&self) -> &Dir {
        match self {
            Parent::Root(dir) => dir,
            Parent::Below(dir) => dir,
        }
    }
}

impl Parent<'_> {
    /// A handle of its own, for what outlives the call.
    pub(super) fn into_owned(self, path: &str) -> Result<Dir> {
        match self {
            Parent::Root(dir) => dir.try_clone().map_err(|e| map_io_error(e, path)),
            Parent::Below(dir) => Ok(dir),
        }
    }
}

/// The parent directory of `rel` (inside the root) with the last component.
pub(super) fn open_parent<'a>(
    root: &'a Dir,
    rel: &str,
    path: &str,
) -> Result<(Parent<'a>, String)> {
    let (parent, name) = split(rel);
    let dir = if parent == "." {
        Parent::Root(root)
    } else {
        Parent::Below(root.open_dir(parent).map_err(|e| map_io_error(e, path))?)
    };
    Ok((dir, name.to_string()))
}

pub(super) fn sync_dir(dir: &Dir, path: &str) -> Result<()> {
    // The root handle may be an O_PATH descriptor, which fsync refuses: open the directory itself.
    dir.open(".")
        .and_then(|d| d.sync_all())
        .map_err(|e| map_io_error(e, path))
}

/// A temporary file of an atomic write, removed on drop unless committed.
impl LocalFs {
    /// Serves `local_dir`, which must exist and be a directory.
    ///
    /// # Errors
    /// `InvalidArgument` with `base path does not exist: <abs path>` otherwise.
    pub fn open(local_dir: &str, read_only: bool) -> Result<Self> {
        let base = check_base(local_dir)?;
        Ok(LocalFs {
            root: Arc::new(Root::open(&base)?),
            base,
            settings: Settings::new(read_only),
            workers: Workers::new("localfs", fs_core::workers::default_threads()),
            open_files: Arc::default(),
            #[cfg(test)]
            guard: None,
        })
    }

    /// Removes the staging files that servers no longer running left below the root (a server
    /// killed mid-upload), on the blocking pool; returns the count and bytes removed.
    pub async fn sweep_stale_staging(&self) -> (u64, u64) {
        let root = self.root.get();
        self.blocking(move || Ok(super::root::sweep_stale_staging(&root, &|| false)))
            .await
            .unwrap_or((0, 0))
    }

    /// The staging sweep as background work of the mount: on the blocking pool, holding only the
    /// directory (not the filesystem), and stopping between directories once `stop` says so.
    pub fn staging_sweep(
        &self,
        stop: impl Fn() -> bool + Send + 'static,
    ) -> impl std::future::Future<Output = (u64, u64)> + Send + 'static {
        let root = self.root.get();
        async move {
            tokio::task::spawn_blocking(move || super::root::sweep_stale_staging(&root, &stop))
                .await
                .unwrap_or((0, 0))
        }
    }

    /// The absolute path of the served directory.
    pub fn base(&self) -> &Path {
        &self.base
    }

    pub(super) fn refuse_if_read_only(&self, op: &'static str) -> Result<()> {
        if self.read_only() {
            Err(Error::unsupported(op))
        } else {
            Ok(())
        }
    }

    /// Runs `op(root, rel, path)` on the blocking pool: `rel` is `path` relative to the root
    /// (`.` for the root itself), `path` is for errors.
    pub(super) async fn at<T: Send + 'static>(
        &self,
        path: &str,
        op: impl Fn(&Dir, &str, &str) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let root = self.root.clone();
        let path = path.to_string();
        self.blocking(move || {
            let rel = rel(&path)?;
            retrying(&root, |dir| op(dir, &rel, &path))
        })
        .await
    }

    /// [`LocalFs::at`] for an operation named `name` that changes the tree: refused on a
    /// read-only mount.
    async fn change<T: Send + 'static>(
        &self,
        name: &'static str,
        path: &str,
        op: impl Fn(&Dir, &str, &str) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.refuse_if_read_only(name)?;
        self.at(path, op).await
    }

    /// Runs a blocking file system call on the mount's worker threads ([`Workers`]), never on the
    /// async threads. The few threads also bound the calls in flight: changes in one directory
    /// take its lock in the kernel, and 64 threads of tokio's blocking pool creating and renaming
    /// in one directory at once spent their time spinning on it (`osq_lock`).
    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.workers.run(move |()| f()).await
    }

    pub(super) fn info(&self, name: String, rel: &str, m: &Metadata) -> FileInfo {
        let local = if rel == "." {
            self.base.clone()
        } else {
            self.base.join(rel)
        };
        let meta = Meta {
            name: "localfs".into(),
            kind: "local".into(),
            content: Some(BTreeMap::from([(
                "local_path".to_string(),
                local.display().to_string(),
            )])),
        };
        if m.is_dir() {
            FileInfo::dir(name, mode_of(m), mtime(m)).with_meta(meta)
        } else {
            FileInfo::file(name, m.len(), mode_of(m), mtime(m)).with_meta(meta)
        }
    }

    /// Opens a regular file for reading, seeked to `offset`; returns it with the byte count of
    /// the window and its metadata.
    fn open_window(
        root: &Dir,
        rel: &str,
        path: &str,
        offset: u64,
        size: Option<u64>,
        files: &Arc<OpenFiles>,
    ) -> Result<(std::fs::File, u64, Metadata, Reading)> {
        let file = root.open(rel).map_err(|e| map_io_error(e, path))?;
        let m = file.metadata().map_err(|e| map_io_error(e, path))?;
        if m.is_dir() {
            return Err(Error::is_a_directory(path));
        }
        // Before the first byte is read: no in-place write starts on this file from here on.
        let reading = files.reading(&m);
        let mut file = file.into_std();
        let len = m.len().saturating_sub(offset);
        let len = size.map_or(len, |s| s.min(len));
        if len > 0 {
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| map_io_error(e, path))?;
        }
        Ok((file, len, m, reading))
    }
}

#[async_trait]
impl FileSystem for LocalFs {
    /// `read_only` and `allow_special_bits` change in place (`settings.rs`); `local_dir` needs a
    /// remount.
    async fn reconfigure(
        &self,
        old: &serde_json::Value,
        new: &serde_json::Value,
    ) -> Result<fs_core::Reconfigured> {
        self.reconfigure_in_place(old, new)
    }

    /// A writable mount sweeps the staging files of servers that stopped mid-write, in the
    /// background (a big tree takes a while to walk, and the mount serves meanwhile); an unmount
    /// stops the walk.
    async fn start(&self, background: &fs_core::Background) -> Result<()> {
        if self.read_only() {
            return Ok(());
        }
        let token = background.token();
        let sweep = self.staging_sweep(move || token.is_cancelled());
        let dir = self.base().to_path_buf();
        background.spawn(async move {
            let (files, bytes) = sweep.await;
            if files > 0 {
                tracing::info!(dir = %dir.display(), files, bytes, "localfs: removed the staging files of servers that stopped mid-write");
            }
        });
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        if self.read_only() {
            Capabilities::READ_ONLY
        } else {
            Capabilities::READ_WRITE
        }
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        let (rel, m) = self
            .at(path, |root, rel, p| {
                let m = if rel == "." {
                    root.dir_metadata()
                } else {
                    root.metadata(rel)
                }
                .map_err(|e| map_io_error(e, p))?;
                Ok((rel.to_string(), m))
            })
            .await?;
        Ok(self.info(name_of(path), &rel, &m))
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        if path == "/" {
            // A removed root lists as empty rather than failing: ask before listing it.
            let root = self.root.clone();
            self.blocking(move || root.reopened().map(drop)).await?;
        }
        let (rel, entries) = self
            .at(path, |root, rel, p| {
                let dir = if rel == "." {
                    root.try_clone()
                } else {
                    root.open_dir(rel)
                }
                .map_err(|e| map_io_error(e, p))?;
                let mut out = Vec::new();
                for entry in dir.entries().map_err(|e| map_io_error(e, p))? {
                    let entry = entry.map_err(|e| map_io_error(e, p))?;
                    let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                        continue; // not representable in the API
                    };
                    if name.starts_with(TEMP_PREFIX) {
                        continue; // an atomic write in progress
                    }
                    // Follow symlinks that stay inside; one leading out is listed as the link itself.
                    let m = match dir.metadata(&name) {
                        Ok(m) => m,
                        Err(_) => match dir.symlink_metadata(&name) {
                            Ok(m) => m,
                            Err(_) => continue, // removed meanwhile
                        },
                    };
                    out.push((name, m));
                }
                Ok((rel.to_string(), out))
            })
            .await?;
        Ok(entries
            .into_iter()
            .map(|(name, m)| {
                let child = if rel == "." {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                };
                self.info(name, &child, &m)
            })
            .collect())
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        let files = self.open_files.clone();
        self.at(path, move |root, rel, p| {
            let (file, len, _, _reading) = Self::open_window(root, rel, p, offset, size, &files)?;
            let mut buf = Vec::with_capacity(len.min(16 << 20) as usize);
            file.take(len)
                .read_to_end(&mut buf)
                .map_err(|e| map_io_error(e, p))?;
            Ok(Bytes::from(buf))
        })
        .await
    }

    async fn read_content(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Content> {
        let files = self.open_files.clone();
        let (file, len, m, reading) = self
            .at(path, move |root, rel, p| {
                Self::open_window(root, rel, p, offset, size, &files)
            })
            .await?;
        let file = tokio::fs::File::from_std(file);
        let p = path.to_string();
        // The read stays registered until the body is finished or dropped.
        let stream =
            futures_util::stream::unfold((file, len, p), |(mut file, remaining, p)| async move {
                if remaining == 0 {
                    return None;
                }
                let want = remaining.min(CHUNK as u64) as usize;
                let mut buf = BytesMut::zeroed(want);
                let mut got = 0;
                while got < want {
                    match file.read(&mut buf[got..]).await {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) => return Some((Err(map_io_error(e, &p)), (file, 0, p))),
                    }
                }
                if got == 0 {
                    let e = Error::internal(format!("{p}: file shrank while being read"));
                    return Some((Err(e), (file, 0, p)));
                }
                buf.truncate(got);
                Some((Ok(buf.freeze()), (file, remaining - got as u64, p)))
            });
        let stream = futures_util::StreamExt::map(stream, move |chunk| {
            let _reading = &reading;
            chunk
        });
        Ok(Content {
            body: ContentBody::Stream {
                len: Some(len),
                stream: Box::pin(stream),
            },
            modified: mtime(&m),
            etag: etag(&m),
        })
    }

    async fn write(
        &self,
        path: &str,
        data: Bytes,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let stream: ByteStream = Box::pin(futures_util::stream::iter([Ok(data)]));
        self.write_stream(path, stream, u64::MAX, offset, flags)
            .await
    }

    async fn write_stream(
        &self,
        path: &str,
        data: ByteStream,
        limit: u64,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        self.refuse_if_read_only("write")?;
        // As in `WritePlan`: an append ignores the offset; any other offset must be a valid one.
        let offset = offset.filter(|_| !flags.contains(WriteFlags::APPEND));
        if let Some(off) = offset {
            check_size(path, off, MAX_FILE_SIZE)?;
        }
        let data = match super::write::gather(data, limit).await? {
            super::write::Body::Small(chunks) => {
                return self.write_small(path, chunks, offset, flags).await;
            }
            super::write::Body::Large(data) => data,
        };
        if flags.replaces(offset) {
            // The old bytes go (emptied first, or no offset): the write replaces the file whole.
            self.write_replace(path, data, limit, offset, flags).await
        } else {
            self.write_in_place(path, data, limit, offset, flags).await
        }
    }

    async fn create(&self, path: &str) -> Result<()> {
        self.change("create", path, tree::create).await
    }

    async fn mkdir(&self, path: &str, mode: u32) -> Result<()> {
        let mode = mode & self.mode_mask();
        self.change("mkdir", path, move |root, rel, p| {
            tree::mkdir(root, rel, p, mode)
        })
        .await
    }

    async fn remove(&self, path: &str) -> Result<()> {
        self.change("remove", path, tree::remove).await
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        self.change("remove", path, tree::remove_all).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.refuse_if_read_only("rename")?;
        let root = self.root.clone();
        let (from, to) = (from.to_string(), to.to_string());
        self.blocking(move || retrying(&root, |dir| tree::rename(dir, &from, &to)))
            .await
    }

    async fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        let mode = mode & self.mode_mask();
        self.change("chmod", path, move |root, rel, p| {
            tree::chmod(root, rel, p, mode)
        })
        .await
    }

    async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        self.change("truncate", path, move |root, rel, p| {
            tree::truncate(root, rel, p, size)
        })
        .await
    }

    /// A real open file, opened through the root directory handle (see `handle.rs`).
    async fn open_handle(
        self: Arc<Self>,
        path: &str,
        flags: fs_core::OpenFlags,
        mode: u32,
    ) -> Result<Box<dyn fs_core::FileHandle>> {
        Ok(Box::new(
            super::handle::LocalHandle::open(self, path, flags, mode).await?,
        ))
    }

    async fn touch(&self, path: &str) -> Result<()> {
        self.change("touch", path, tree::touch).await
    }
}
