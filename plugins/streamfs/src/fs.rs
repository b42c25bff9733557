//! [`StreamFs`]: broadcast streams shown as files. Each write is one chunk, kept in a ring of recent
//! bytes and fanned out to every live reader's bounded queue.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{
    ByteStream, Capabilities, Error, ErrorKind, FileHandle, FileInfo, FileSystem, Meta, OpenFlags,
    Result, WriteFlags,
};
use parking_lot::RwLock;

use super::StreamFsConfig;
use super::stream::Stream;

pub(super) const PLUGIN: &str = "streamfs";
const DIR_MODE: u32 = 0o755;
const README_MODE: u32 = 0o444;
/// What a plain read of a stream answers (AGFS's words, plus how to do it).
const USE_STREAM_MODE: &str =
    "use stream mode for reading stream files: GET /api/v1/files?path=...&stream=true";

/// Where a path points, by shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place<'a> {
    Root,
    Readme,
    Stream(&'a str),
    /// Below a top-level name: streamfs has no directories.
    Below(&'a str),
}

pub(super) fn place(path: &str) -> Place<'_> {
    if path == "/" {
        return Place::Root;
    }
    let rel = path.trim_start_matches('/');
    match rel.split_once('/') {
        None if rel == "README" => Place::Readme,
        None => Place::Stream(rel),
        Some((first, _)) => Place::Below(first),
    }
}

pub(super) fn readme_fixed(path: &str) -> Error {
    Error::permission_denied(path).with_message("permission denied: /README is read-only")
}

/// The streamfs filesystem: streams in memory, by name.
#[derive(Debug)]
pub struct StreamFs {
    // The map lock is held only to find, add or take out a stream; chunks move under each
    // stream's own lock, so streams never wait for each other.
    streams: RwLock<BTreeMap<String, Arc<Stream>>>,
    // Writers hold it shared while they push a chunk; a config change holds it exclusively while
    // it trims the rings, so no chunk is pushed with the old sizes after the change. Lock order:
    // config, then the stream map, then a stream.
    config: RwLock<StreamFsConfig>,
    readme: Bytes,
    mounted: SystemTime,
    /// How long a handle read waits for a chunk before it answers 0 bytes.
    handle_read_wait: Duration,
}

/// How long a handle read waits for a chunk by default (AGFS: 30 s).
pub const HANDLE_READ_WAIT: Duration = Duration::from_secs(30);

impl StreamFs {
    /// Creates an empty filesystem with `config`'s buffer sizes and `readme` as `/README`.
    pub fn new(config: StreamFsConfig, readme: Bytes) -> Self {
        StreamFs {
            streams: RwLock::new(BTreeMap::new()),
            config: RwLock::new(config),
            readme,
            mounted: SystemTime::now(),
            handle_read_wait: HANDLE_READ_WAIT,
        }
    }

    /// Sets how long a handle read waits for a chunk before answering 0 bytes (default
    /// [`HANDLE_READ_WAIT`]).
    pub fn with_handle_read_wait(mut self, wait: Duration) -> Self {
        self.handle_read_wait = wait;
        self
    }

    /// How long a handle read waits for a chunk.
    pub(super) fn handle_read_wait(&self) -> Duration {
        self.handle_read_wait
    }

    /// The buffer sizes in use.
    pub fn config(&self) -> StreamFsConfig {
        *self.config.read()
    }

    /// Takes new buffer sizes on a mounted instance; readers attached before keep reading.
    ///
    /// - `ring_buffer_size`: every stream's ring drops its oldest chunks until it fits the new
    ///   size (a larger size lets it grow from the next write); a reader attached from now on
    ///   gets that history. The history a reader attached with is its own and is not cut.
    /// - `channel_buffer_size`: holds for the next chunk offered to every reader, those attached
    ///   before included; chunks already queued for a reader stay queued, so a reader holding
    ///   more than a smaller size gets no new chunk until it has read below it.
    pub fn set_config(&self, config: StreamFsConfig) {
        let mut current = self.config.write();
        *current = config;
        for stream in self.streams.read().values() {
            stream.trim_ring(config.ring_buffer_size);
        }
    }

    /// Pushes one chunk to `stream` with the sizes in force.
    pub(super) fn push(&self, stream: &Stream, chunk: Bytes, path: &str) -> Result<()> {
        let config = self.config.read();
        stream.push(chunk, &config, path)
    }

    pub(super) fn get(&self, name: &str) -> Option<Arc<Stream>> {
        self.streams.read().get(name).cloned()
    }

    pub(super) fn get_or_create(&self, name: &str) -> Arc<Stream> {
        if let Some(s) = self.get(name) {
            return s;
        }
        Arc::clone(
            self.streams
                .write()
                .entry(name.to_string())
                .or_insert_with(|| Arc::new(Stream::new())),
        )
    }

    /// The error for a path below a top-level name.
    pub(super) fn below_error(&self, path: &str, first: &str) -> Error {
        if first == "README" || self.get(first).is_some() {
            Error::not_a_directory(path)
        } else {
            Error::not_found(path)
        }
    }

    fn readme_info(&self) -> FileInfo {
        FileInfo::file(
            "README",
            self.readme.len() as u64,
            README_MODE,
            Some(self.mounted),
        )
        .with_meta(Meta::new(PLUGIN, "file"))
    }

    fn remove_stream(&self, path: &str, name: &str) -> Result<()> {
        let stream = self
            .streams
            .write()
            .remove(name)
            .ok_or_else(|| Error::not_found(path))?;
        stream.close();
        Ok(())
    }

    fn remove_every_stream(&self) {
        let streams = std::mem::take(&mut *self.streams.write());
        for stream in streams.values() {
            stream.close();
        }
    }
}

#[async_trait]
impl FileSystem for StreamFs {
    /// Both buffer sizes change in place ([`StreamFs::set_config`]): streams and their readers
    /// stay.
    async fn reconfigure(
        &self,
        old: &serde_json::Value,
        new: &serde_json::Value,
    ) -> Result<fs_core::Reconfigured> {
        fs_core::config::check_live(&fs_core::config::params(&[super::BUFFER_KEYS]), old, new)?;
        self.set_config(StreamFsConfig::from_value(new)?);
        Ok(fs_core::Reconfigured::Accepted)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            write: true,
            create: true,
            mkdir: false,
            remove: true,
            rename: false,
            chmod: false,
            truncate: true,
            live_stream: true,
            max_file_size: fs_core::MAX_FILE_SIZE,
        }
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        match place(path) {
            Place::Root => Ok(FileInfo::dir("/", DIR_MODE, Some(self.mounted))
                .with_meta(Meta::new(PLUGIN, "dir"))),
            Place::Readme => Ok(self.readme_info()),
            Place::Stream(name) => self
                .get(name)
                .map(|s| s.info(name))
                .ok_or_else(|| Error::not_found(path)),
            Place::Below(first) => Err(self.below_error(path, first)),
        }
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        match place(path) {
            Place::Root => {
                let streams: Vec<(String, Arc<Stream>)> = self
                    .streams
                    .read()
                    .iter()
                    .map(|(n, s)| (n.clone(), Arc::clone(s)))
                    .collect();
                let mut out = vec![self.readme_info()];
                out.extend(streams.iter().map(|(n, s)| s.info(n)));
                Ok(out)
            }
            Place::Readme => Err(Error::not_a_directory(path)),
            Place::Stream(name) if self.get(name).is_some() => Err(Error::not_a_directory(path)),
            Place::Stream(_) => Err(Error::not_found(path)),
            Place::Below(first) => Err(self.below_error(path, first)),
        }
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        match place(path) {
            Place::Root => Err(Error::is_a_directory(path)),
            Place::Readme => Ok(fs_core::read_window(&self.readme, offset, size)),
            Place::Stream(name) if self.get(name).is_some() => {
                Err(Error::invalid_argument(USE_STREAM_MODE).with_path(path))
            }
            Place::Stream(_) => Err(Error::not_found(path)),
            Place::Below(first) => Err(self.below_error(path, first)),
        }
    }

    async fn write(
        &self,
        path: &str,
        data: Bytes,
        _offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let name = match place(path) {
            Place::Root => return Err(Error::is_a_directory(path)),
            Place::Readme => return Err(readme_fixed(path)),
            Place::Stream(name) => name,
            Place::Below(first) => return Err(self.below_error(path, first)),
        };
        let creates = flags.creates();
        let stream = match self.get(name) {
            Some(_) if flags.is_exclusive() => {
                return Err(Error::already_exists(path));
            }
            Some(s) => s,
            None if creates => self.get_or_create(name),
            None => return Err(Error::not_found(path)),
        };
        let written = data.len() as u64;
        // Offset, APPEND and TRUNCATE do not apply: every write is the next chunk.
        self.push(&stream, data, path)?;
        Ok(written)
    }

    async fn create(&self, path: &str) -> Result<()> {
        match place(path) {
            Place::Root | Place::Readme => Err(Error::already_exists(path)),
            Place::Stream(name) => {
                let mut streams = self.streams.write();
                if streams.contains_key(name) {
                    return Err(Error::already_exists(path));
                }
                streams.insert(name.to_string(), Arc::new(Stream::new()));
                Ok(())
            }
            Place::Below(first) => Err(self.below_error(path, first)),
        }
    }

    async fn mkdir(&self, path: &str, _mode: u32) -> Result<()> {
        Err(Error::new(
            ErrorKind::Unsupported,
            "operation not supported: streamfs has no directories",
        )
        .with_op("mkdir")
        .with_path(path))
    }

    async fn remove(&self, path: &str) -> Result<()> {
        match place(path) {
            Place::Root => Err(Error::permission_denied(path)
                .with_message("permission denied: cannot remove the mount root")),
            Place::Readme => Err(readme_fixed(path)),
            Place::Stream(name) => self.remove_stream(path, name),
            Place::Below(first) => Err(self.below_error(path, first)),
        }
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        if path == "/" {
            // Empties the mount; /README stays.
            self.remove_every_stream();
            return Ok(());
        }
        self.remove(path).await
    }

    async fn rename(&self, _from: &str, _to: &str) -> Result<()> {
        Err(Error::unsupported("rename"))
    }

    async fn truncate(&self, path: &str, _size: u64) -> Result<()> {
        // A no-op on streams, as in AGFS, so shells that truncate before writing work.
        match place(path) {
            Place::Root => Err(Error::is_a_directory(path)),
            Place::Readme => Err(readme_fixed(path)),
            Place::Stream(name) if self.get(name).is_some() => Ok(()),
            Place::Stream(_) => Err(Error::not_found(path)),
            Place::Below(first) => Err(self.below_error(path, first)),
        }
    }

    async fn touch(&self, path: &str) -> Result<()> {
        match place(path) {
            Place::Root => Ok(()),
            Place::Readme => Err(readme_fixed(path)),
            Place::Stream(name) => self.get_or_create(name).touch(path),
            Place::Below(first) => Err(self.below_error(path, first)),
        }
    }

    async fn open_stream(&self, path: &str) -> Result<ByteStream> {
        match place(path) {
            Place::Root => Err(Error::is_a_directory(path)),
            // Not a stream: the server falls back to reading the file.
            Place::Readme => Err(Error::unsupported("stream")),
            Place::Stream(name) => Ok(self.get_or_create(name).attach(path)?.into_stream()),
            Place::Below(first) => Err(self.below_error(path, first)),
        }
    }

    /// A stream handle registers a reader on open (non-write-only opens) and writes chunks; see
    /// `handle.rs`.
    async fn open_handle(
        self: Arc<Self>,
        path: &str,
        flags: OpenFlags,
        mode: u32,
    ) -> Result<Box<dyn FileHandle>> {
        super::handle::open(self, path, flags, mode).await
    }

    async fn shutdown(&self) -> Result<()> {
        // Ends every live reader, so open HTTP streams finish when the mount goes.
        self.remove_every_stream();
        Ok(())
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn place_classifies_paths() {
        assert_eq!(place("/"), Place::Root);
        assert_eq!(place("/README"), Place::Readme);
        assert_eq!(place("/live"), Place::Stream("live"));
        assert_eq!(place("/live/x"), Place::Below("live"));
    }
}
