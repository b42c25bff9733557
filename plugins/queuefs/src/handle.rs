//! queuefs handles, with AGFS's semantics: the first read of `dequeue`, `peek` or `size` takes one
//! answer from the queue (one dequeue at most) and later reads page through those cached bytes;
//! every write to `enqueue` is one message, to `clear` one clear.

use std::sync::Arc;

use bytes::Bytes;
use fs_core::MAX_FILE_SIZE;
use fs_core::handle::seek_position;
use fs_core::{
    Error, FileHandle, FileInfo, FileSystem, GenericHandle, OpenFlags, Result, Whence, WriteFlags,
    read_window,
};

use super::fs::{Node, QueueFs, node, read_only, write_only};

/// Opens `path`: a queue handle on a control file, the generic read-only handle on `/README`.
pub(super) async fn open(
    fs: Arc<QueueFs>,
    path: &str,
    flags: OpenFlags,
    mode: u32,
) -> Result<Box<dyn FileHandle>> {
    let (queue, control) = match node(path)? {
        Node::Root => return Err(Error::is_a_directory(path)),
        Node::Queue(q) => {
            fs.existing(q, path).await?;
            return Err(Error::is_a_directory(path));
        }
        Node::Readme => {
            if flags.writable() {
                return Err(read_only(path));
            }
            return Ok(Box::new(GenericHandle::open(fs, path, flags, mode).await?));
        }
        Node::Control(q, c) => (q.to_string(), c),
    };
    // A read-only open of enqueue/clear or a write-only open of dequeue/peek/size can do nothing.
    if control.is_write_only() && !flags.writable() {
        return Err(write_only(path));
    }
    if !control.is_write_only() && !flags.readable() {
        return Err(read_only(path));
    }
    if flags.contains(OpenFlags::CREATE) {
        if flags.contains(OpenFlags::EXCL) && fs.backend().stat(&queue).await?.is_some() {
            return Err(Error::already_exists(path));
        }
        fs.backend().create_queue(&queue).await?;
    }
    // O_TRUNC means nothing for a queue (a shell's `>` opens enqueue with it).
    Ok(Box::new(QueueHandle {
        fs,
        path: path.to_string(),
        cached: None,
        pos: 0,
    }))
}

/// An open control file.
#[derive(Debug)]
struct QueueHandle {
    fs: Arc<QueueFs>,
    path: String,
    /// What the first read took from the queue.
    cached: Option<Bytes>,
    pos: u64,
}

impl QueueHandle {
    /// The bytes of this handle's one read of the control file, taken on first use.
    async fn content(&mut self) -> Result<&Bytes> {
        if self.cached.is_none() {
            self.cached = Some(self.fs.read(&self.path, 0, None).await?);
        }
        Ok(self.cached.get_or_insert_with(Bytes::new))
    }

    async fn enqueue(&self, data: Bytes) -> Result<u64> {
        self.fs
            .write(&self.path, data, None, WriteFlags::NONE)
            .await
    }
}

#[async_trait::async_trait]
impl FileHandle for QueueHandle {
    fn position(&self) -> u64 {
        self.pos
    }

    async fn read(&mut self, size: u64) -> Result<Bytes> {
        let pos = self.pos;
        let data = read_window(self.content().await?, pos, Some(size));
        self.pos += data.len() as u64;
        Ok(data)
    }

    async fn read_at(&mut self, offset: u64, size: u64) -> Result<Bytes> {
        Ok(read_window(self.content().await?, offset, Some(size)))
    }

    async fn write(&mut self, data: Bytes) -> Result<u64> {
        self.enqueue(data).await
    }

    async fn write_at(&mut self, _offset: u64, data: Bytes) -> Result<u64> {
        // A message has no offset: every write is the next message.
        self.enqueue(data).await
    }

    async fn seek(&mut self, offset: i64, whence: Whence) -> Result<u64> {
        // Positions count within the cached answer; nothing is taken from the queue to seek.
        let end = self.cached.as_ref().map_or(0, |c| c.len() as u64);
        self.pos = seek_position(self.pos, end, offset, whence, MAX_FILE_SIZE)?;
        Ok(self.pos)
    }

    async fn stat(&mut self) -> Result<FileInfo> {
        self.fs.stat(&self.path).await
    }
}
