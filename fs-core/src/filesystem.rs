//! The [`FileSystem`] trait every plugin implements, and the types it speaks: [`FileInfo`],
//! [`WriteFlags`], [`Capabilities`], [`Content`] and [`ByteStream`].

use std::collections::BTreeMap;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::handle::{FileHandle, GenericHandle, OpenFlags};
use crate::write::MAX_FILE_SIZE;
pub use crate::write::WriteFlags;
use crate::{Error, ErrorKind, Result};

/// A stream of byte chunks; the body type of streaming reads and writes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send + 'static>>;

/// Metadata of a file or directory, serialized exactly as AGFS does:
/// `{"name","size","mode","modTime","isDir","meta":{"Name","Type","Content"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The last path component (`/` for a root).
    pub name: String,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Permission bits only (`0o755` → 493), never type bits.
    pub mode: u32,
    /// Last modification time; `None` renders as Go's zero time `0001-01-01T00:00:00Z`.
    pub mod_time: Option<SystemTime>,
    /// Whether this is a directory.
    pub is_dir: bool,
    /// Plugin-specific metadata.
    pub meta: Meta,
}

/// Plugin-specific metadata of a [`FileInfo`] (`meta` in JSON, keys capitalised as in AGFS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// The plugin's name (`Name`).
    pub name: String,
    /// A type word such as `file`, `dir`, `mount-point`, `device` (`Type`).
    pub kind: String,
    /// Extra string properties (`Content`), `null` when absent.
    pub content: Option<BTreeMap<String, String>>,
}

impl Meta {
    /// Metadata with a plugin name and a type word.
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Self {
        Meta {
            name: name.into(),
            kind: kind.into(),
            content: None,
        }
    }
}

impl FileInfo {
    /// A regular file.
    pub fn file(
        name: impl Into<String>,
        size: u64,
        mode: u32,
        mod_time: Option<SystemTime>,
    ) -> Self {
        FileInfo {
            name: name.into(),
            size,
            mode,
            mod_time,
            is_dir: false,
            meta: Meta::default(),
        }
    }

    /// A directory.
    pub fn dir(name: impl Into<String>, mode: u32, mod_time: Option<SystemTime>) -> Self {
        FileInfo {
            name: name.into(),
            size: 0,
            mode,
            mod_time,
            is_dir: true,
            meta: Meta::default(),
        }
    }

    /// Replaces the metadata.
    pub fn with_meta(mut self, meta: Meta) -> Self {
        self.meta = meta;
        self
    }
}

/// Formats a time as RFC 3339 with nanoseconds, or Go's zero time for `None`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use fs_core::filesystem::format_time;
/// assert_eq!(format_time(None), "0001-01-01T00:00:00Z");
/// assert_eq!(format_time(Some(UNIX_EPOCH + Duration::from_nanos(1_500))), "1970-01-01T00:00:00.000001500Z");
/// ```
pub fn format_time(t: Option<SystemTime>) -> String {
    match t {
        Some(t) if t >= SystemTime::UNIX_EPOCH => humantime::format_rfc3339_nanos(t).to_string(),
        _ => "0001-01-01T00:00:00Z".to_string(),
    }
}

impl Serialize for FileInfo {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.only(InfoFields::ALL).serialize(s)
    }
}

/// A set of [`FileInfo`]'s JSON keys, for answers that carry only some of them (a listing for
/// `ls`, which prints names only, need not carry times and metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoFields(u8);

impl InfoFields {
    /// The JSON keys, in the order they are written (AGFS's).
    pub const KEYS: [&'static str; 6] = ["name", "size", "mode", "modTime", "isDir", "meta"];
    /// Every key.
    pub const ALL: InfoFields = InfoFields(0b11_1111);

    /// The keys of a comma-separated list (`name,isDir`); `name` is always in.
    ///
    /// ```
    /// use fs_core::filesystem::InfoFields;
    /// assert_eq!(InfoFields::parse("isDir").unwrap(), InfoFields::parse("name,isDir").unwrap());
    /// assert!(InfoFields::parse("name,owner").unwrap_err().to_string().contains("owner"));
    /// ```
    ///
    /// # Errors
    /// `InvalidArgument` naming an unknown key and the known ones.
    pub fn parse(list: &str) -> crate::Result<InfoFields> {
        let mut bits = 1;
        for key in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            let Some(i) = Self::KEYS.iter().position(|k| *k == key) else {
                return Err(crate::Error::invalid_argument(format!(
                    "invalid fields: unknown field '{key}' (known: {})",
                    Self::KEYS.join(", ")
                )));
            };
            bits |= 1 << i;
        }
        Ok(InfoFields(bits))
    }

    fn has(self, i: usize) -> bool {
        self.0 & (1 << i) != 0
    }
}

/// A [`FileInfo`] serialized with only some of its keys ([`FileInfo::only`]).
#[derive(Debug)]
pub struct SomeFields<'a>(&'a FileInfo, InfoFields);

impl FileInfo {
    /// This entry serialized with only the keys in `fields`, encoded as the whole entry would be.
    pub fn only(&self, fields: InfoFields) -> SomeFields<'_> {
        SomeFields(self, fields)
    }
}

impl Serialize for SomeFields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (info, f) = (self.0, self.1);
        let mut st = s.serialize_struct("FileInfo", 6)?;
        st.serialize_field("name", &info.name)?;
        if f.has(1) {
            st.serialize_field("size", &info.size)?;
        }
        if f.has(2) {
            st.serialize_field("mode", &info.mode)?;
        }
        if f.has(3) {
            st.serialize_field("modTime", &format_time(info.mod_time))?;
        }
        if f.has(4) {
            st.serialize_field("isDir", &info.is_dir)?;
        }
        if f.has(5) {
            st.serialize_field("meta", &info.meta)?;
        }
        st.end()
    }
}

impl Serialize for Meta {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Meta", 3)?;
        st.serialize_field("Name", &self.name)?;
        st.serialize_field("Type", &self.kind)?;
        st.serialize_field("Content", &self.content)?;
        st.end()
    }
}

/// The answer of a plugin that cannot take a config change in place: the caller may remount.
pub(crate) fn needs_remount() -> Error {
    Error::unsupported("reconfigure").with_message(
        "this plugin cannot change its config in place; ask for a remount (\"remount\": true)",
    )
}

/// Whether a mounted instance serves ([`FileSystem::health`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Serving.
    Serving,
    /// Not serving for now, being brought back (why).
    Restarting(String),
    /// Not serving, and not coming back until it is remounted (why).
    Failed(String),
}

/// What a filesystem supports. Every field must agree with the matching method: where it is `false`
/// the method answers [`ErrorKind::Unsupported`], where it is `true` the method never does (a path
/// the operation does not apply to gets another kind; the one exception is `open_stream` on a
/// stream plugin's plain file). The conformance suite checks both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    /// `write` (and the write side of `touch`).
    pub write: bool,
    /// `create` of empty files.
    pub create: bool,
    /// `mkdir`.
    pub mkdir: bool,
    /// `remove` and `remove_all`.
    pub remove: bool,
    /// `rename`.
    pub rename: bool,
    /// `chmod`.
    pub chmod: bool,
    /// `truncate`.
    pub truncate: bool,
    /// `open_stream`: live streams that follow new writes (streamfs).
    pub live_stream: bool,
    /// The largest file this filesystem holds: no write may end and no truncate or seek may go past
    /// it ([`crate::write::check_size`]). At most [`MAX_FILE_SIZE`], which is also the default;
    /// in-memory plugins set their configured cap.
    pub max_file_size: u64,
}

impl Default for Capabilities {
    /// [`Capabilities::READ_ONLY`].
    fn default() -> Self {
        Capabilities::READ_ONLY
    }
}

impl Capabilities {
    /// A read-only filesystem: stat, read and read_dir only.
    pub const READ_ONLY: Capabilities = Capabilities {
        write: false,
        create: false,
        mkdir: false,
        remove: false,
        rename: false,
        chmod: false,
        truncate: false,
        live_stream: false,
        max_file_size: MAX_FILE_SIZE,
    };

    /// A full POSIX-like tree: everything except live streams.
    pub const READ_WRITE: Capabilities = Capabilities {
        write: true,
        create: true,
        mkdir: true,
        remove: true,
        rename: true,
        chmod: true,
        truncate: true,
        live_stream: false,
        max_file_size: MAX_FILE_SIZE,
    };
}

pub use crate::content::{Content, ContentBody, collect_stream, read_window};

/// A filesystem: what a plugin instance exposes and what the mount router routes to.
///
/// Paths given to a plugin are normalized ([`crate::path`]) and relative to its mount point (`/` is
/// the mount root). Methods are `async` and take `&self`: a plugin synchronizes internally, and is
/// shared as `Arc<dyn FileSystem>` across requests.
///
/// Core operations have no default. Optional ones default to [`ErrorKind::Unsupported`] (HTTP 501)
/// and must agree with [`FileSystem::capabilities`].
#[async_trait]
pub trait FileSystem: Send + Sync + fmt::Debug + 'static {
    /// Describes which optional operations this filesystem implements.
    fn capabilities(&self) -> Capabilities;

    /// Returns the metadata of `path`.
    ///
    /// # Behavior
    /// - `/` is the mount root and always exists; its name is `/`.
    ///
    /// # Errors
    /// `NotFound` when the path does not exist; `NotADirectory` when a parent is a file.
    async fn stat(&self, path: &str) -> Result<FileInfo>;

    /// Lists the entries of the directory at `path`.
    ///
    /// # Behavior
    /// - An empty directory gives an empty vector. Order is unspecified (the server sorts by name).
    ///
    /// # Errors
    /// `NotFound` when the directory does not exist; `NotADirectory` when `path` is a file.
    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>>;

    /// Reads up to `size` bytes (to the end when `None`) starting at `offset`.
    ///
    /// # Behavior
    /// - A read at or past the end returns empty bytes, not an error.
    /// - Reads of control files (queuefs `dequeue`) may have side effects.
    ///
    /// # Errors
    /// `NotFound`; `IsADirectory` when `path` is a directory.
    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes>;

    /// Reads like [`FileSystem::read`] but may stream and reports what the plugin knows cheaply
    /// (modification time, ETag).
    ///
    /// # Behavior
    /// The default calls `read` and returns its bytes. Plugins holding large data (localfs, s3fs)
    /// override it to stream in bounded memory; in-memory plugins override it to add metadata.
    ///
    /// # Errors
    /// As `read`.
    async fn read_content(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Content> {
        Ok(Content::from(self.read(path, offset, size).await?))
    }

    /// Writes `data` to `path` and returns the number of bytes written.
    ///
    /// # Behavior
    /// - `offset: None` with no `APPEND`: the data replaces the whole content.
    /// - `offset: Some(n)`: positional write (pwrite); writing past the end zero-fills the gap; the rest
    ///   of the file stays.
    /// - `APPEND`: the data goes to the end, whatever `offset` says.
    /// - `TRUNCATE`: the file is emptied first. `SYNC`: durable before returning.
    /// - A missing file is created when `CREATE` is set *or no flag but `SYNC` is set* (the AGFS
    ///   default of `PUT /files`); otherwise `NotFound`. `CREATE|EXCLUSIVE` on an existing file fails.
    /// - The parent directory must exist. The mount root takes no write (`IsADirectory`).
    /// - A zero-length write changes no size. No byte of the data may land past
    ///   `capabilities().max_file_size`.
    ///
    /// [`WritePlan`](crate::WritePlan) decides all of this from the file's current size; plugins
    /// use it rather than restate the rules.
    ///
    /// # Errors
    /// `NotFound` (file or parent), `AlreadyExists` (exclusive), `IsADirectory`, `NotADirectory`;
    /// `InvalidArgument` for an offset or end past [`MAX_FILE_SIZE`], `PayloadTooLarge` past the
    /// filesystem's own cap. A refused write changes nothing.
    async fn write(
        &self,
        path: &str,
        data: Bytes,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64>;

    /// Writes a stream of chunks, with the semantics of [`FileSystem::write`].
    ///
    /// # Behavior
    /// If the stream fails (client gone, body limit exceeded) nothing changes: the previous content
    /// stays intact. The default collects the stream (at most `limit` bytes) and calls `write`;
    /// plugins with large data override it to stream into a temporary and commit at the end.
    ///
    /// # Errors
    /// As `write`, plus `PayloadTooLarge` past `limit` bytes and any error the stream yields.
    async fn write_stream(
        &self,
        path: &str,
        data: ByteStream,
        limit: u64,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        if !self.capabilities().write {
            // Refuse before reading a body that could never be stored.
            return Err(Error::unsupported("write"));
        }
        let data = collect_stream(data, limit).await?;
        self.write(path, data, offset, flags).await
    }

    /// Creates an empty file.
    ///
    /// # Errors
    /// `AlreadyExists` when the path exists; `NotFound` when the parent is missing;
    /// `NotADirectory` when a parent is a file.
    async fn create(&self, path: &str) -> Result<()>;

    /// Creates a directory with permission bits `mode`.
    ///
    /// # Errors
    /// `AlreadyExists` when the path exists; `NotFound` when the parent is missing;
    /// `NotADirectory` when a parent is a file.
    async fn mkdir(&self, path: &str, mode: u32) -> Result<()>;

    /// Removes a file or an empty directory.
    ///
    /// # Errors
    /// `NotFound`; `DirectoryNotEmpty`; `PermissionDenied` for the mount root.
    async fn remove(&self, path: &str) -> Result<()>;

    /// Removes `path` and everything below it. On `/` it empties the mount.
    ///
    /// # Errors
    /// `NotFound` when the path does not exist.
    async fn remove_all(&self, path: &str) -> Result<()>;

    /// Moves `from` to `to`, both inside this filesystem. A directory moves with its whole subtree.
    ///
    /// # Behavior
    /// - An existing file at `to` is replaced; an existing directory at `to` must be empty.
    /// - Moving a directory into its own subtree is refused.
    ///
    /// # Errors
    /// `NotFound` (source or target parent), `DirectoryNotEmpty`, `IsADirectory`/`NotADirectory` on a
    /// kind mismatch, `InvalidArgument` for a move into its own subtree.
    async fn rename(&self, from: &str, to: &str) -> Result<()>;

    /// Sets the permission bits of `path`.
    ///
    /// # Errors
    /// `NotFound`; `Unsupported` when `capabilities().chmod` is false (the default).
    async fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        let _ = (path, mode);
        Err(Error::unsupported("chmod"))
    }

    /// Sets the size of the file at `path`, cutting or zero-extending it.
    ///
    /// # Errors
    /// `NotFound`; `IsADirectory`; `Unsupported` when `capabilities().truncate` is false (the default);
    /// `InvalidArgument` or `PayloadTooLarge` for a size past the largest file
    /// ([`crate::write::check_size`]).
    async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        let _ = (path, size);
        Err(Error::unsupported("truncate"))
    }

    /// Creates an empty file, or updates the modification time of an existing one.
    ///
    /// # Behavior
    /// The default: a missing file is created through `write(CREATE)`; an existing file gets a
    /// zero-byte positional write at its end, which changes no byte; a directory is left as is.
    ///
    /// # Errors
    /// As `write`; `Unsupported` for read-only filesystems.
    async fn touch(&self, path: &str) -> Result<()> {
        match self.stat(path).await {
            Ok(info) if info.is_dir => Ok(()),
            Ok(info) => self
                .write(path, Bytes::new(), Some(info.size), WriteFlags::NONE)
                .await
                .map(|_| ()),
            Err(e) if e.kind() == ErrorKind::NotFound => self
                .write(path, Bytes::new(), None, WriteFlags::CREATE)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        }
    }

    /// Whether reading `path` changes state: queuefs's `dequeue` removes the message it returns.
    ///
    /// # Behavior
    /// The server never reads such a file unless a client asked for its content: `HEAD` answers
    /// from `stat`, grep skips it, digest refuses it, a `Range` is served from one whole read, and
    /// no generic handle is built over it. The default is `false`.
    fn read_has_side_effects(&self, path: &str) -> bool {
        let _ = path;
        false
    }

    /// Opens a live stream of `path` that follows future writes (`GET /files?stream=true`).
    ///
    /// # Behavior
    /// Only stream plugins implement it. For every other plugin the server falls back to a
    /// streamed [`FileSystem::read_content`] of the whole file, and so it does when a stream
    /// plugin answers `Unsupported` for one of its plain files (its README).
    ///
    /// # Errors
    /// `Unsupported` when `capabilities().live_stream` is false (the default), or for a path that
    /// is a plain file rather than a stream.
    async fn open_stream(&self, path: &str) -> Result<ByteStream> {
        let _ = path;
        Err(Error::unsupported("stream"))
    }

    /// Opens `path` as a [`FileHandle`] (`POST /handles/open`) with `flags` and, for a file it
    /// creates, permission bits `mode`.
    ///
    /// # Behavior
    /// The default is a [`GenericHandle`] over `read` and `write` with offsets (open(2) semantics
    /// on `stat`, `create`, `chmod`, `truncate`), except on a path whose read has side effects
    /// ([`FileSystem::read_has_side_effects`]), which answers `Unsupported`. Plugins with state
    /// behind their files (queues, streams, OS files) override it; a plugin whose files are not
    /// plain byte ranges overrides it to answer `Unsupported`.
    ///
    /// # Errors
    /// `Unsupported` (`openhandle: <path>: operation not supported`, the 501 that tells FUSE
    /// clients to fall back to plain reads); `NotFound`, `AlreadyExists`, `IsADirectory` as
    /// open(2); `PermissionDenied` for a write open of a read-only filesystem.
    async fn open_handle(
        self: Arc<Self>,
        path: &str,
        flags: OpenFlags,
        mode: u32,
    ) -> Result<Box<dyn FileHandle>> {
        if self.read_has_side_effects(path) {
            return Err(Error::unsupported("openhandle").with_path(path));
        }
        Ok(Box::new(
            GenericHandle::open(self, path, flags, mode).await?,
        ))
    }

    /// Takes the mount's new config `new` in place (`POST /api/v1/mounts/config`), the config in
    /// force being `old`; both passed the plugin's key check and `validate`. Answers
    /// [`Accepted`](crate::Reconfigured::Accepted) once the change is applied,
    /// [`Amended`](crate::Reconfigured::Amended) with the config it applied instead, or an
    /// error and changes nothing: `InvalidArgument` to reject the
    /// change, `Unsupported` when a changed key needs a new instance (the caller may ask for a
    /// remount). The default answers `Unsupported`: every change is a remount.
    async fn reconfigure(
        &self,
        old: &serde_json::Value,
        new: &serde_json::Value,
    ) -> Result<crate::Reconfigured> {
        let _ = (old, new);
        Err(needs_remount())
    }

    /// Whether the instance serves now: `GET /mounts` shows a mount that does not as
    /// `restarting` or `failed` with the reason. Only a plugin that can fail on its own after it
    /// was mounted (a plugin process) answers anything but [`Health::Serving`].
    fn health(&self) -> Health {
        Health::Serving
    }

    /// Starts the instance's long-running work, once, after `initialize` and before the mount
    /// serves (see [`crate::lifecycle`]). Work that outlives this call goes on `background`, whose
    /// tasks end when the instance shuts down; return once startup is complete.
    ///
    /// # Errors
    /// Any error: nothing is mounted, and [`FileSystem::shutdown`] runs. The default starts
    /// nothing.
    async fn start(&self, background: &crate::Background) -> Result<()> {
        let _ = background;
        Ok(())
    }

    /// Releases the plugin's resources. The mount router calls it exactly once per instance
    /// (unmount, remount, reload, server stop, or a failed `start`), after the filesystem has
    /// left the mount table and its background tasks have ended; it is abandoned past the
    /// router's hook timeout.
    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }
}
