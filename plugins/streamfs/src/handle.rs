//! streamfs handles: an open that can read registers a reader (ring history first, then live
//! chunks); a read waits a bounded time for data and answers 0 bytes when none came; every write is
//! one chunk broadcast to the readers.

use std::sync::Arc;

use bytes::Bytes;
use fs_core::MAX_FILE_SIZE;
use fs_core::handle::seek_position;
use fs_core::{Error, FileHandle, FileInfo, FileSystem, GenericHandle, OpenFlags, Result, Whence};

use super::fs::{Place, StreamFs, place, readme_fixed};
use super::stream::{Reader, Stream};

/// Opens `path`: a stream handle on a stream, the generic read-only handle on `/README`.
pub(super) async fn open(
    fs: Arc<StreamFs>,
    path: &str,
    flags: OpenFlags,
    mode: u32,
) -> Result<Box<dyn FileHandle>> {
    let name = match place(path) {
        Place::Root => return Err(Error::is_a_directory(path)),
        Place::Readme if flags.writable() => return Err(readme_fixed(path)),
        Place::Readme => return Ok(Box::new(GenericHandle::open(fs, path, flags, mode).await?)),
        Place::Below(first) => return Err(fs.below_error(path, first)),
        Place::Stream(name) => name,
    };
    let stream = match fs.get(name) {
        Some(_) if flags.contains(OpenFlags::CREATE | OpenFlags::EXCL) => {
            return Err(Error::already_exists(path));
        }
        Some(s) => s,
        // A reader may wait for a writer that comes later, as with `stream=true`.
        None if flags.contains(OpenFlags::CREATE) || flags.readable() => fs.get_or_create(name),
        None => return Err(Error::not_found(path)),
    };
    let reader = if flags.readable() {
        Some(stream.attach(path)?)
    } else {
        None
    };
    Ok(Box::new(StreamHandle {
        fs,
        path: path.to_string(),
        stream,
        reader,
        leftover: Bytes::new(),
        pos: 0,
    }))
}

/// An open stream.
#[derive(Debug)]
struct StreamHandle {
    fs: Arc<StreamFs>,
    path: String,
    stream: Arc<Stream>,
    /// The registered reader; `None` for a write-only handle. Dropped with the handle.
    reader: Option<Reader>,
    /// The rest of a chunk larger than the read that took it.
    leftover: Bytes,
    /// Bytes read so far.
    pos: u64,
}

/// What one wait for data gave.
enum Next {
    Data(Bytes),
    /// Nothing within the wait.
    Idle,
    /// The stream was removed and everything queued has been read.
    Ended,
}

impl StreamHandle {
    /// Up to `size` bytes: the leftover first, else the next chunk within the wait.
    async fn next(&mut self, size: u64) -> Next {
        if self.leftover.is_empty() {
            let Some(reader) = &self.reader else {
                return Next::Ended;
            };
            match tokio::time::timeout(self.fs.handle_read_wait(), reader.next()).await {
                Ok(Some(chunk)) => self.leftover = chunk,
                Ok(None) => return Next::Ended,
                Err(_) => return Next::Idle,
            }
        }
        let n = (size as usize).min(self.leftover.len());
        let data = self.leftover.split_to(n);
        self.pos += n as u64;
        Next::Data(data)
    }
}

#[async_trait::async_trait]
impl FileHandle for StreamHandle {
    fn position(&self) -> u64 {
        self.pos
    }

    async fn read(&mut self, size: u64) -> Result<Bytes> {
        if size == 0 {
            return Ok(Bytes::new());
        }
        Ok(match self.next(size).await {
            Next::Data(d) => d,
            Next::Idle | Next::Ended => Bytes::new(),
        })
    }

    async fn read_at(&mut self, _offset: u64, size: u64) -> Result<Bytes> {
        // A live stream has no addressable bytes: an offset read is the next read.
        self.read(size).await
    }

    async fn write(&mut self, data: Bytes) -> Result<u64> {
        let n = data.len() as u64;
        self.fs.push(&self.stream, data, &self.path)?;
        Ok(n)
    }

    async fn write_at(&mut self, _offset: u64, data: Bytes) -> Result<u64> {
        self.write(data).await
    }

    async fn seek(&mut self, offset: i64, whence: Whence) -> Result<u64> {
        // Only a seek that stays where the reader is (`tell`) makes sense on a live stream.
        match seek_position(self.pos, self.pos, offset, whence, MAX_FILE_SIZE) {
            Ok(p) if p == self.pos => Ok(p),
            _ => Err(Error::invalid_argument(
                "invalid seek: a live stream can only be read in order",
            )
            .with_path(&self.path)),
        }
    }

    async fn stat(&mut self) -> Result<FileInfo> {
        self.fs.stat(&self.path).await
    }

    async fn read_chunk(&mut self, max: u64) -> Result<Option<Bytes>> {
        Ok(match self.next(max.max(1)).await {
            Next::Data(d) => Some(d),
            Next::Idle => Some(Bytes::new()),
            Next::Ended => None,
        })
    }
}
