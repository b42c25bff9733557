//! Open files: [`OpenFlags`] (AGFS's server numbering), the [`FileHandle`] trait a plugin's open
//! file implements, and [`GenericHandle`], the handle every plain-file plugin gets for free.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Error, ErrorKind, FileInfo, FileSystem, Result, WriteFlags};

/// Flags of an open, in AGFS's server numbering (`filesystem.OpenFlag`, the numbers the Python SDK
/// documents): `O_RDONLY 0`, `O_WRONLY 1`, `O_RDWR 2`, `O_APPEND 8`, `O_CREATE 16`, `O_EXCL 32`,
/// `O_TRUNC 64`. The access mode is `flags & 3`.
///
/// ```
/// use fs_core::OpenFlags;
/// let f = OpenFlags::from_bits(2 | 16 | 64).unwrap();
/// assert!(f.readable() && f.writable() && f.contains(OpenFlags::CREATE | OpenFlags::TRUNC));
/// assert!(!OpenFlags::from_bits(1).unwrap().readable());
/// assert!(OpenFlags::from_bits(3).is_err());
/// // Bits outside the numbering are ignored, as AGFS does.
/// assert_eq!(OpenFlags::from_bits(1024).unwrap(), OpenFlags::RDONLY);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct OpenFlags(u32);

impl OpenFlags {
    /// Read only (access mode 0).
    pub const RDONLY: OpenFlags = OpenFlags(0);
    /// Write only (access mode 1).
    pub const WRONLY: OpenFlags = OpenFlags(1);
    /// Read and write (access mode 2).
    pub const RDWR: OpenFlags = OpenFlags(2);
    /// Every write goes to the end of the file.
    pub const APPEND: OpenFlags = OpenFlags(8);
    /// Create the file when it does not exist.
    pub const CREATE: OpenFlags = OpenFlags(16);
    /// With `CREATE`: fail when the file exists.
    pub const EXCL: OpenFlags = OpenFlags(32);
    /// Empty the file on open (when opened for writing).
    pub const TRUNC: OpenFlags = OpenFlags(64);

    const KNOWN: u32 = 3 | 8 | 16 | 32 | 64;

    /// Flags from the integer of the HTTP API; bits outside the numbering are ignored.
    ///
    /// # Errors
    /// `InvalidArgument` for a negative value or the access mode 3.
    pub fn from_bits(bits: i64) -> Result<Self> {
        let Ok(b) = u32::try_from(bits) else {
            return Err(Error::invalid_argument(format!(
                "invalid flags parameter: {bits} is not a combination of O_RDONLY 0, O_WRONLY 1, O_RDWR 2, O_APPEND 8, O_CREATE 16, O_EXCL 32, O_TRUNC 64"
            )));
        };
        if b & 3 == 3 {
            return Err(Error::invalid_argument(
                "invalid flags parameter: the access mode (flags & 3) must be O_RDONLY 0, O_WRONLY 1 or O_RDWR 2",
            ));
        }
        Ok(OpenFlags(b & Self::KNOWN))
    }

    /// The raw bits.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is set (the access mode counts as bits: `RDONLY` is always
    /// contained).
    pub fn contains(self, other: OpenFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether reads are allowed (`O_RDONLY` or `O_RDWR`).
    pub fn readable(self) -> bool {
        self.0 & 3 != 1
    }

    /// Whether writes are allowed (`O_WRONLY` or `O_RDWR`).
    pub fn writable(self) -> bool {
        matches!(self.0 & 3, 1 | 2)
    }

    /// Fails unless the handle may read.
    ///
    /// # Errors
    /// `InvalidArgument` `handle not opened for reading` (AGFS's words; POSIX says EBADF).
    pub fn check_read(self) -> Result<()> {
        if self.readable() {
            Ok(())
        } else {
            Err(Error::invalid_argument("handle not opened for reading"))
        }
    }

    /// Fails unless the handle may write.
    ///
    /// # Errors
    /// `InvalidArgument` `handle not opened for writing`.
    pub fn check_write(self) -> Result<()> {
        if self.writable() {
            Ok(())
        } else {
            Err(Error::invalid_argument("handle not opened for writing"))
        }
    }
}

impl std::ops::BitOr for OpenFlags {
    type Output = OpenFlags;
    fn bitor(self, rhs: OpenFlags) -> OpenFlags {
        OpenFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for OpenFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = vec![match self.0 & 3 {
            0 => "RDONLY",
            1 => "WRONLY",
            _ => "RDWR",
        }];
        for (bit, name) in [
            (Self::APPEND, "APPEND"),
            (Self::CREATE, "CREATE"),
            (Self::EXCL, "EXCL"),
            (Self::TRUNC, "TRUNC"),
        ] {
            if self.contains(bit) {
                parts.push(name);
            }
        }
        write!(f, "OpenFlags({})", parts.join("|"))
    }
}

/// Where a seek counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whence {
    /// From the start of the file (0, `SEEK_SET`).
    Set,
    /// From the current position (1, `SEEK_CUR`).
    Current,
    /// From the end of the file (2, `SEEK_END`).
    End,
}

impl Whence {
    /// The whence of the HTTP API's number.
    ///
    /// # Errors
    /// `InvalidArgument` for anything but 0, 1 and 2.
    pub fn from_number(n: i64) -> Result<Self> {
        match n {
            0 => Ok(Whence::Set),
            1 => Ok(Whence::Current),
            2 => Ok(Whence::End),
            _ => Err(Error::invalid_argument(format!(
                "invalid whence parameter: {n} (use 0 = SEEK_SET, 1 = SEEK_CUR, 2 = SEEK_END)"
            ))),
        }
    }
}

/// Applies a seek to `current`, with `end` the file size for [`Whence::End`], on a filesystem
/// whose largest file is `max` bytes (lseek(2) refuses positions past the filesystem's limit too).
///
/// ```
/// use fs_core::handle::{Whence, seek_position};
/// assert_eq!(seek_position(5, 10, 3, Whence::Set, 100).unwrap(), 3);
/// assert_eq!(seek_position(5, 10, -2, Whence::Current, 100).unwrap(), 3);
/// assert_eq!(seek_position(5, 10, 4, Whence::End, 100).unwrap(), 14);
/// assert!(seek_position(5, 10, -11, Whence::End, 100).is_err());
/// assert!(seek_position(5, 10, 101, Whence::Set, 100).is_err());
/// ```
///
/// # Errors
/// `InvalidArgument` when the result would be negative, overflow, or pass `max`.
pub fn seek_position(current: u64, end: u64, offset: i64, whence: Whence, max: u64) -> Result<u64> {
    let base = match whence {
        Whence::Set => 0,
        Whence::Current => current,
        Whence::End => end,
    };
    let pos = base.checked_add_signed(offset).ok_or_else(|| {
        Error::invalid_argument(format!(
            "invalid seek: offset {offset} from {base} gives a negative position"
        ))
    })?;
    if pos > max.min(crate::MAX_FILE_SIZE) {
        return Err(Error::invalid_argument(format!(
            "invalid seek: position {pos} is past the largest file this mount holds ({max} bytes)"
        )));
    }
    Ok(pos)
}

/// An open file: a position plus the plugin's state (an OS file, a queue message, a stream reader).
///
/// The server serializes the operations of one handle (`&mut self`) and checks the access mode
/// ([`OpenFlags::check_read`], [`OpenFlags::check_write`]) before calling. Paths in errors are
/// relative to the mount, like every plugin error. Dropping a handle releases everything it holds;
/// [`FileHandle::close`] is the explicit form that can report an error.
#[async_trait]
pub trait FileHandle: Send + fmt::Debug + 'static {
    /// The current position: where the next sequential read or write happens.
    fn position(&self) -> u64;

    /// Reads up to `size` bytes at the position and advances it by the count read.
    ///
    /// # Behavior
    /// At or past the end: empty bytes. Live streams wait a bounded time for data and answer
    /// empty bytes when none came.
    ///
    /// # Errors
    /// As [`FileSystem::read`].
    async fn read(&mut self, size: u64) -> Result<Bytes>;

    /// Reads up to `size` bytes at `offset` (pread); the position does not change.
    ///
    /// # Errors
    /// As [`FileSystem::read`].
    async fn read_at(&mut self, offset: u64, size: u64) -> Result<Bytes>;

    /// Writes `data` at the position (at the end with `O_APPEND`) and moves the position past it.
    ///
    /// # Errors
    /// As [`FileSystem::write`].
    async fn write(&mut self, data: Bytes) -> Result<u64>;

    /// Writes `data` at `offset` (pwrite; at the end with `O_APPEND`); the position does not
    /// change.
    ///
    /// # Errors
    /// As [`FileSystem::write`].
    async fn write_at(&mut self, offset: u64, data: Bytes) -> Result<u64>;

    /// Moves the position and returns it.
    ///
    /// # Errors
    /// `InvalidArgument` when the result would be negative.
    async fn seek(&mut self, offset: i64, whence: Whence) -> Result<u64>;

    /// Makes written data durable. The default has nothing to flush.
    ///
    /// # Errors
    /// The backend's.
    async fn sync(&mut self) -> Result<()> {
        Ok(())
    }

    /// The metadata of the open file.
    ///
    /// # Errors
    /// As [`FileSystem::stat`].
    async fn stat(&mut self) -> Result<FileInfo>;

    /// Sets the open file's size (ftruncate): cut, or extended with zeros. The position stays.
    /// The default has no file to size.
    ///
    /// # Errors
    /// `Unsupported` by default; else as [`FileSystem::truncate`].
    async fn truncate(&mut self, size: u64) -> Result<()> {
        let _ = size;
        Err(Error::unsupported("truncate"))
    }

    /// The next piece of a streamed read (`GET /handles/{id}/stream`): `None` at the end,
    /// `Some(empty)` when a live stream had nothing within its wait (ask again).
    ///
    /// # Behavior
    /// The default is a sequential [`FileHandle::read`] where empty bytes mean the end.
    ///
    /// # Errors
    /// As `read`.
    async fn read_chunk(&mut self, max: u64) -> Result<Option<Bytes>> {
        let chunk = self.read(max).await?;
        Ok((!chunk.is_empty()).then_some(chunk))
    }

    /// Closes the handle explicitly. The default has nothing to release beyond `Drop`.
    ///
    /// # Errors
    /// The backend's (a failed flush).
    async fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// The handle of a plain file over any [`FileSystem`]: a path, a position and the flags; reads and
/// writes are the filesystem's positional `read` and `write`.
///
/// Correct wherever a read has no side effects and a positional write changes only its bytes,
/// which is what [`FileSystem::open_handle`]'s default checks before building one.
pub struct GenericHandle<F: FileSystem + ?Sized> {
    fs: Arc<F>,
    path: String,
    flags: OpenFlags,
    pos: u64,
}

impl<F: FileSystem + ?Sized> fmt::Debug for GenericHandle<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenericHandle")
            .field("path", &self.path)
            .field("flags", &self.flags)
            .field("pos", &self.pos)
            .finish()
    }
}

impl<F: FileSystem + ?Sized> GenericHandle<F> {
    /// A handle on `path`, which the caller has already opened (created, truncated) per `flags`.
    pub fn new(fs: Arc<F>, path: &str, flags: OpenFlags) -> Self {
        GenericHandle {
            fs,
            path: path.to_string(),
            flags,
            pos: 0,
        }
    }

    /// Opens `path` with open(2) semantics on top of `stat`, `create`, `chmod` and `truncate`.
    ///
    /// # Behavior
    /// - A directory is refused. A missing file is created with `mode` when `CREATE` is set (the
    ///   mode is applied only where the filesystem supports chmod).
    /// - `CREATE|EXCL` on an existing file fails. `TRUNC` empties the file when it is opened for
    ///   writing.
    /// - Opening for writing a filesystem that cannot write is refused.
    ///
    /// # Errors
    /// `NotFound`, `AlreadyExists`, `IsADirectory`; `PermissionDenied` for a write open of a
    /// read-only filesystem.
    pub async fn open(fs: Arc<F>, path: &str, flags: OpenFlags, mode: u32) -> Result<Self> {
        let caps = fs.capabilities();
        if flags.writable() && !caps.write {
            return Err(Error::permission_denied(path)
                .with_op("openhandle")
                .with_message("permission denied (read-only filesystem)"));
        }
        let excl = flags.contains(OpenFlags::CREATE | OpenFlags::EXCL);
        match fs.stat(path).await {
            Ok(info) if info.is_dir => return Err(Error::is_a_directory(path)),
            Ok(_) if excl => return Err(Error::already_exists(path)),
            Ok(_) => {
                if flags.contains(OpenFlags::TRUNC) && flags.writable() {
                    if caps.truncate {
                        fs.truncate(path, 0).await?;
                    } else {
                        fs.write(path, Bytes::new(), None, WriteFlags::NONE).await?;
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound && flags.contains(OpenFlags::CREATE) => {
                match fs.create(path).await {
                    Ok(()) => {
                        if caps.chmod {
                            fs.chmod(path, mode & 0o7777).await?;
                        }
                    }
                    // Created meanwhile: fine unless exclusive.
                    Err(e) if e.kind() == ErrorKind::AlreadyExists && !excl => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
        Ok(Self::new(fs, path, flags))
    }

    async fn size(&self) -> Result<u64> {
        Ok(self.fs.stat(&self.path).await?.size)
    }
}

#[async_trait]
impl<F: FileSystem + ?Sized> FileHandle for GenericHandle<F> {
    fn position(&self) -> u64 {
        self.pos
    }

    async fn read(&mut self, size: u64) -> Result<Bytes> {
        let data = self.fs.read(&self.path, self.pos, Some(size)).await?;
        self.pos += data.len() as u64;
        Ok(data)
    }

    async fn read_at(&mut self, offset: u64, size: u64) -> Result<Bytes> {
        self.fs.read(&self.path, offset, Some(size)).await
    }

    async fn write(&mut self, data: Bytes) -> Result<u64> {
        if self.flags.contains(OpenFlags::APPEND) {
            let n = self
                .fs
                .write(&self.path, data, None, WriteFlags::APPEND)
                .await?;
            self.pos = self.size().await?;
            return Ok(n);
        }
        let n = self
            .fs
            .write(&self.path, data, Some(self.pos), WriteFlags::NONE)
            .await?;
        self.pos += n;
        Ok(n)
    }

    async fn write_at(&mut self, offset: u64, data: Bytes) -> Result<u64> {
        let (at, flags) = if self.flags.contains(OpenFlags::APPEND) {
            (None, WriteFlags::APPEND)
        } else {
            (Some(offset), WriteFlags::NONE)
        };
        self.fs.write(&self.path, data, at, flags).await
    }

    async fn seek(&mut self, offset: i64, whence: Whence) -> Result<u64> {
        let end = if whence == Whence::End {
            self.size().await?
        } else {
            0
        };
        self.pos = seek_position(
            self.pos,
            end,
            offset,
            whence,
            self.fs.capabilities().max_file_size,
        )?;
        Ok(self.pos)
    }

    async fn stat(&mut self) -> Result<FileInfo> {
        self.fs.stat(&self.path).await
    }

    async fn truncate(&mut self, size: u64) -> Result<()> {
        self.flags.check_write()?;
        self.fs.truncate(&self.path, size).await
    }
}

#[cfg(test)]
mod tests {
    use parking_lot::Mutex;

    use super::*;
    use crate::Capabilities;

    /// One file `/f` in memory, and `/pop`, whose read has side effects.
    #[derive(Debug, Default)]
    struct OneFile(Mutex<Option<Vec<u8>>>);

    #[async_trait]
    impl FileSystem for OneFile {
        fn capabilities(&self) -> Capabilities {
            Capabilities {
                chmod: false,
                truncate: false,
                ..Capabilities::READ_WRITE
            }
        }
        async fn stat(&self, path: &str) -> Result<FileInfo> {
            match (path, &*self.0.lock()) {
                ("/", _) => Ok(FileInfo::dir("/", 0o755, None)),
                ("/f", Some(d)) => Ok(FileInfo::file("f", d.len() as u64, 0o644, None)),
                _ => Err(Error::not_found(path)),
            }
        }
        async fn read_dir(&self, _: &str) -> Result<Vec<FileInfo>> {
            Ok(Vec::new())
        }
        async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
            let d = self
                .0
                .lock()
                .clone()
                .ok_or_else(|| Error::not_found(path))?;
            Ok(crate::read_window(&Bytes::from(d), offset, size))
        }
        async fn write(
            &self,
            path: &str,
            data: Bytes,
            offset: Option<u64>,
            flags: WriteFlags,
        ) -> Result<u64> {
            let mut g = self.0.lock();
            let d = g.get_or_insert_with(Vec::new);
            let at = match offset {
                _ if flags.contains(WriteFlags::APPEND) => d.len(),
                Some(o) => o as usize,
                None => {
                    d.clear();
                    0
                }
            };
            if d.len() < at + data.len() {
                d.resize(at + data.len(), 0);
            }
            d[at..at + data.len()].copy_from_slice(&data);
            let _ = path;
            Ok(data.len() as u64)
        }
        async fn create(&self, path: &str) -> Result<()> {
            let mut g = self.0.lock();
            if g.is_some() {
                return Err(Error::already_exists(path));
            }
            *g = Some(Vec::new());
            Ok(())
        }
        async fn mkdir(&self, p: &str, _: u32) -> Result<()> {
            Err(Error::unsupported("mkdir").with_path(p))
        }
        async fn remove(&self, _: &str) -> Result<()> {
            *self.0.lock() = None;
            Ok(())
        }
        async fn remove_all(&self, p: &str) -> Result<()> {
            self.remove(p).await
        }
        async fn rename(&self, p: &str, _: &str) -> Result<()> {
            Err(Error::unsupported("rename").with_path(p))
        }
        fn read_has_side_effects(&self, path: &str) -> bool {
            path == "/pop"
        }
    }

    #[tokio::test]
    async fn the_default_is_a_generic_handle_with_open2_semantics() {
        let fs = Arc::new(OneFile::default());
        let rw = OpenFlags::RDWR;
        let e = fs.clone().open_handle("/f", rw, 0o600).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let mut h = fs
            .clone()
            .open_handle("/f", rw | OpenFlags::CREATE, 0o600)
            .await
            .unwrap();
        assert_eq!(h.write(Bytes::from_static(b"hello")).await.unwrap(), 5);
        assert_eq!(h.position(), 5);
        assert_eq!(h.seek(-4, Whence::End).await.unwrap(), 1);
        assert_eq!(h.read(2).await.unwrap(), "el");
        assert_eq!(h.read_at(0, 1).await.unwrap(), "h");
        assert_eq!(h.position(), 3);
        let excl = rw | OpenFlags::CREATE | OpenFlags::EXCL;
        let e = fs.clone().open_handle("/f", excl, 0).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        // O_TRUNC without truncate support replaces the content with nothing.
        let mut a = fs
            .clone()
            .open_handle(
                "/f",
                OpenFlags::WRONLY | OpenFlags::TRUNC | OpenFlags::APPEND,
                0,
            )
            .await
            .unwrap();
        assert_eq!(fs.stat("/f").await.unwrap().size, 0);
        a.write_at(9, Bytes::from_static(b"ab")).await.unwrap();
        a.write(Bytes::from_static(b"c")).await.unwrap();
        assert_eq!(a.position(), 3);
        assert_eq!(fs.read("/f", 0, None).await.unwrap(), "abc");
        let e = fs
            .clone()
            .open_handle("/", OpenFlags::RDONLY, 0)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::IsADirectory);
    }

    #[tokio::test]
    async fn the_default_refuses_files_whose_read_has_side_effects() {
        let fs = Arc::new(OneFile::default());
        let e = fs
            .open_handle("/pop", OpenFlags::RDONLY, 0)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert_eq!(e.to_string(), "openhandle: /pop: operation not supported");
    }
}
