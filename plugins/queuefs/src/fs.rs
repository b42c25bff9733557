//! [`QueueFs`]: message queues shown as directories, each with the control files `enqueue`,
//! `dequeue`, `peek`, `size` and `clear`. The queues themselves live in a [`Backend`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{
    ByteStream, Capabilities, Error, ErrorKind, FileHandle, FileInfo, FileSystem, Meta, OpenFlags,
    Result, WriteFlags,
};
use parking_lot::Mutex;

use super::backend::{Backend, Message, QueueStat};
use super::limits::{Limits, message_too_large};

const PLUGIN: &str = "queuefs";
const DIR_MODE: u32 = 0o755;
const README_MODE: u32 = 0o444;
/// What `dequeue` and `peek` answer for an empty or unknown queue.
const EMPTY: &[u8] = b"{}";

/// One of the five files of every queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    Enqueue,
    Dequeue,
    Peek,
    Size,
    Clear,
}

impl Control {
    const ALL: [Control; 5] = [
        Control::Enqueue,
        Control::Dequeue,
        Control::Peek,
        Control::Size,
        Control::Clear,
    ];

    fn from_name(name: &str) -> Option<Control> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    fn name(self) -> &'static str {
        match self {
            Control::Enqueue => "enqueue",
            Control::Dequeue => "dequeue",
            Control::Peek => "peek",
            Control::Size => "size",
            Control::Clear => "clear",
        }
    }

    fn mode(self) -> u32 {
        if self.is_write_only() { 0o222 } else { 0o444 }
    }

    pub(super) fn is_write_only(self) -> bool {
        matches!(self, Control::Enqueue | Control::Clear)
    }
}

/// What a path names. Queue names carry no leading slash (`logs/errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Node<'a> {
    Root,
    Readme,
    Queue(&'a str),
    Control(&'a str, Control),
}

/// Where `path` points: a path whose last component is a control-file name is a control file,
/// anything else is a queue.
///
/// # Errors
/// `NotADirectory` when a parent component is a file (`/README/x`, `/q/size/x`); `NotFound` for a
/// control-file name directly under the root (control files live inside queues).
pub(super) fn node(path: &str) -> Result<Node<'_>> {
    match path {
        "/" => return Ok(Node::Root),
        "/README" => return Ok(Node::Readme),
        _ => {}
    }
    let rest = &path[1..];
    let (parent, last) = match rest.rsplit_once('/') {
        Some((p, l)) => (Some(p), l),
        None => (None, rest),
    };
    if let Some(parent) = parent {
        let mut parts = parent.split('/');
        let first_is_readme = parts.clone().next() == Some("README");
        if first_is_readme || parts.any(|c| Control::from_name(c).is_some()) {
            return Err(Error::not_a_directory(path));
        }
    }
    match (parent, Control::from_name(last)) {
        (Some(queue), Some(c)) => Ok(Node::Control(queue, c)),
        (None, Some(_)) => Err(Error::not_found(path)
            .with_message("no such file or directory (control files live inside a queue)")),
        (_, None) => Ok(Node::Queue(rest)),
    }
}

pub(super) fn write_only(path: &str) -> Error {
    Error::permission_denied(path).with_message("permission denied: the file is write-only")
}

pub(super) fn read_only(path: &str) -> Error {
    Error::permission_denied(path).with_message("permission denied: the file is read-only")
}

fn reserved(path: &str) -> Error {
    Error::invalid_argument(
        "queue names cannot end in enqueue, dequeue, peek, size or clear (control-file names)",
    )
    .with_path(path)
}

fn meta(kind: &str) -> Meta {
    Meta::new(PLUGIN, kind)
}

fn queue_info(name: &str, stat: &QueueStat) -> FileInfo {
    FileInfo::dir(
        name,
        DIR_MODE,
        Some(stat.last_enqueue.unwrap_or(stat.created)),
    )
    .with_meta(meta("queue"))
}

/// A control file's metadata. `head_len` is the length of the JSON a read of `peek` or `dequeue`
/// would return right now.
fn control_info(c: Control, stat: &QueueStat, head_len: u64) -> FileInfo {
    let size = match c {
        Control::Size => stat.size.to_string().len() as u64,
        Control::Peek | Control::Dequeue => head_len,
        Control::Enqueue | Control::Clear => 0,
    };
    // peek's modification time is the last enqueue (clients poll it to spot new messages).
    let mtime = stat.last_enqueue.unwrap_or(stat.created);
    FileInfo::file(c.name(), size, c.mode(), Some(mtime)).with_meta(meta("control"))
}

fn head_json(head: Option<&Message>) -> Bytes {
    head.map_or_else(|| Bytes::from_static(EMPTY), Message::to_json)
}

/// The queuefs filesystem over one backend.
#[derive(Debug)]
pub struct QueueFs {
    backend: Arc<dyn Backend>,
    /// The limits in force; a config change sets them while mounted.
    limits: Mutex<Limits>,
    readme: Bytes,
    mounted: SystemTime,
}

impl QueueFs {
    /// A queuefs whose queues live in `backend`, with `/README` holding `readme`.
    pub(crate) fn new(backend: Arc<dyn Backend>, readme: Bytes) -> Self {
        QueueFs {
            backend,
            limits: Mutex::new(Limits::default()),
            readme,
            mounted: super::backend::wall_now(),
        }
    }

    /// With `limits` instead of none.
    pub(crate) fn with_limits(self, limits: Limits) -> Self {
        *self.limits.lock() = limits;
        self
    }

    /// The limits in force.
    fn limits(&self) -> Limits {
        *self.limits.lock()
    }

    /// Creates an empty in-memory queuefs whose `/README` is empty.
    pub fn memory() -> Self {
        Self::new(
            Arc::new(super::backend::memory::MemoryBackend::new()),
            Bytes::new(),
        )
    }

    fn root_info(&self) -> FileInfo {
        let content = BTreeMap::from([("backend".to_string(), self.backend.name().to_string())]);
        FileInfo::dir("/", DIR_MODE, Some(self.mounted)).with_meta(Meta {
            content: Some(content),
            ..meta("dir")
        })
    }

    fn readme_info(&self) -> FileInfo {
        FileInfo::file(
            "README",
            self.readme.len() as u64,
            README_MODE,
            Some(self.mounted),
        )
        .with_meta(meta("file"))
    }

    /// The backend the queues live in.
    pub(super) fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The queue's counters, `NotFound` when it does not exist.
    pub(super) async fn existing(&self, queue: &str, path: &str) -> Result<QueueStat> {
        self.backend
            .stat(queue)
            .await?
            .ok_or_else(|| Error::not_found(path))
    }

    async fn head_len(&self, queue: &str) -> Result<u64> {
        Ok(head_json(self.backend.peek(queue).await?.as_ref()).len() as u64)
    }

    /// The entries of the direct sub-queues of `queue` (`""` for the root).
    async fn sub_queues(&self, queue: &str) -> Result<Vec<FileInfo>> {
        let mut out = Vec::new();
        for name in self.backend.children(queue).await? {
            let full = if queue.is_empty() {
                name.clone()
            } else {
                format!("{queue}/{name}")
            };
            // A queue removed since the listing started is simply left out.
            if let Some(stat) = self.backend.stat(&full).await? {
                out.push(queue_info(&name, &stat));
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl FileSystem for QueueFs {
    /// The limits change in place: the next enqueue meets them (messages already queued stay,
    /// even past a lowered `max_queue_length`). The backend and its database keys need a remount.
    async fn reconfigure(
        &self,
        old: &serde_json::Value,
        new: &serde_json::Value,
    ) -> Result<fs_core::Reconfigured> {
        fs_core::config::check_live(&crate::params(), old, new)?;
        *self.limits.lock() = Limits::from_config(new)?;
        Ok(fs_core::Reconfigured::Accepted)
    }

    fn capabilities(&self) -> Capabilities {
        // truncate is a successful no-op on control files, so `echo msg > enqueue` works in shells.
        Capabilities {
            rename: false,
            chmod: false,
            ..Capabilities::READ_WRITE
        }
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        match node(path)? {
            Node::Root => Ok(self.root_info()),
            Node::Readme => Ok(self.readme_info()),
            Node::Queue(q) => {
                let stat = self.existing(q, path).await?;
                Ok(queue_info(fs_core::path::basename(path), &stat))
            }
            Node::Control(q, c) => {
                let stat = self.existing(q, path).await?;
                let head = match c {
                    Control::Peek | Control::Dequeue => self.head_len(q).await?,
                    _ => 0,
                };
                Ok(control_info(c, &stat, head))
            }
        }
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        match node(path)? {
            Node::Root => {
                let mut out = vec![self.readme_info()];
                out.extend(self.sub_queues("").await?);
                Ok(out)
            }
            Node::Queue(q) => {
                let stat = self.existing(q, path).await?;
                let head = self.head_len(q).await?;
                // Both the control files and the sub-queues (AGFS hides one or the other).
                let mut out: Vec<FileInfo> = Control::ALL
                    .into_iter()
                    .map(|c| control_info(c, &stat, head))
                    .collect();
                out.extend(self.sub_queues(q).await?);
                Ok(out)
            }
            Node::Readme | Node::Control(..) => Err(Error::not_a_directory(path)),
        }
    }

    fn read_has_side_effects(&self, path: &str) -> bool {
        matches!(node(path), Ok(Node::Control(_, Control::Dequeue)))
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        let data = match node(path)? {
            Node::Root => return Err(Error::is_a_directory(path)),
            Node::Readme => self.readme.clone(),
            Node::Queue(q) => {
                self.existing(q, path).await?;
                return Err(Error::is_a_directory(path));
            }
            Node::Control(_, c) if c.is_write_only() => return Err(write_only(path)),
            // An unknown queue reads as empty (AGFS): `{}` and `0`, without creating it.
            // The window applies to the one message taken: the rest of it is lost, as in AGFS.
            Node::Control(q, Control::Dequeue) => {
                head_json(self.backend.dequeue(q).await?.as_ref())
            }
            Node::Control(q, Control::Peek) => head_json(self.backend.peek(q).await?.as_ref()),
            Node::Control(q, _) => {
                let n = self.backend.stat(q).await?.map_or(0, |s| s.size);
                Bytes::from(n.to_string())
            }
        };
        Ok(fs_core::read_window(&data, offset, size))
    }

    async fn write(
        &self,
        path: &str,
        data: Bytes,
        _offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        match node(path)? {
            Node::Root => Err(Error::is_a_directory(path)),
            Node::Readme => Err(read_only(path)),
            Node::Queue(q) => match self.backend.stat(q).await? {
                Some(_) => Err(Error::is_a_directory(path)),
                None => Err(Error::permission_denied(path).with_message(
                    "permission denied: queuefs has no regular files; write to <queue>/enqueue",
                )),
            },
            // Offset and the other flags mean nothing for a queue: each write is one message.
            Node::Control(q, Control::Enqueue) => {
                let n = data.len() as u64;
                let limits = self.limits();
                limits.check_message(path, n)?;
                let sync = flags.contains(WriteFlags::SYNC);
                self.backend
                    .enqueue(q, Message::new(data), sync, limits.max_queue_length)
                    .await?;
                Ok(n)
            }
            Node::Control(q, Control::Clear) => {
                self.backend.clear(q).await?;
                Ok(0)
            }
            Node::Control(..) => Err(read_only(path)),
        }
    }

    /// A body bound for `enqueue` is refused as soon as it passes `max_message_size`, without
    /// being read to its end.
    async fn write_stream(
        &self,
        path: &str,
        data: ByteStream,
        limit: u64,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let max = match (node(path), self.limits().max_message_size) {
            (Ok(Node::Control(_, Control::Enqueue)), Some(max)) if max < limit => Some(max),
            _ => None,
        };
        let data = match (
            fs_core::collect_stream(data, max.unwrap_or(limit)).await,
            max,
        ) {
            (Err(e), Some(max)) if e.kind() == ErrorKind::PayloadTooLarge => {
                return Err(message_too_large(path, max));
            }
            (collected, _) => collected?,
        };
        self.write(path, data, offset, flags).await
    }

    async fn create(&self, path: &str) -> Result<()> {
        match node(path)? {
            Node::Root | Node::Readme => Err(Error::already_exists(path)),
            Node::Queue(q) => match self.backend.stat(q).await? {
                Some(_) => Err(Error::already_exists(path)),
                None => Err(Error::permission_denied(path).with_message(
                    "permission denied: queuefs has no regular files; mkdir creates a queue",
                )),
            },
            // Control files always exist in a queue: creating one is a no-op that makes sure the
            // queue exists, so `touch q/enqueue` or a shell redirection works on a new queue.
            Node::Control(q, _) => self.backend.create_queue(q).await,
        }
    }

    async fn mkdir(&self, path: &str, _mode: u32) -> Result<()> {
        match node(path)? {
            Node::Root | Node::Readme => Err(Error::already_exists(path)),
            // mkdir of an existing queue succeeds (AGFS); a nested queue brings its parents.
            Node::Queue(q) => self.backend.create_queue(q).await,
            Node::Control(q, _) => match self.backend.stat(q).await? {
                Some(_) => Err(Error::already_exists(path)),
                None => Err(reserved(path)),
            },
        }
    }

    async fn remove(&self, path: &str) -> Result<()> {
        match node(path)? {
            Node::Root => Err(Error::permission_denied(path)
                .with_message("permission denied: cannot remove the mount root")),
            Node::Readme => Err(read_only(path)),
            Node::Queue(q) => self.backend.remove_queue(q, false).await,
            Node::Control(q, _) => {
                self.existing(q, path).await?;
                Err(Error::permission_denied(path).with_message(
                    "permission denied: control files cannot be removed; remove the queue",
                ))
            }
        }
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        match node(path)? {
            Node::Root => self.backend.remove_all().await,
            Node::Readme => Err(read_only(path)),
            Node::Queue(q) => self.backend.remove_queue(q, true).await,
            Node::Control(q, _) => {
                self.existing(q, path).await?;
                Err(Error::permission_denied(path).with_message(
                    "permission denied: control files cannot be removed; remove the queue",
                ))
            }
        }
    }

    async fn rename(&self, _from: &str, _to: &str) -> Result<()> {
        Err(Error::unsupported("rename"))
    }

    async fn truncate(&self, path: &str, _size: u64) -> Result<()> {
        match node(path)? {
            Node::Root => Err(Error::is_a_directory(path)),
            Node::Readme => Err(read_only(path)),
            Node::Queue(q) => {
                self.existing(q, path).await?;
                Err(Error::is_a_directory(path))
            }
            // A no-op: the open-with-truncate of `echo msg > q/enqueue` must not fail.
            Node::Control(q, _) => self.existing(q, path).await.map(drop),
        }
    }

    /// Control files get a queue handle (see `handle.rs`): the first read takes one message and
    /// later reads page through it; each write enqueues one message. `/README` gets the generic
    /// handle.
    async fn open_handle(
        self: Arc<Self>,
        path: &str,
        flags: OpenFlags,
        mode: u32,
    ) -> Result<Box<dyn FileHandle>> {
        super::handle::open(self, path, flags, mode).await
    }

    async fn touch(&self, path: &str) -> Result<()> {
        match node(path)? {
            Node::Root => Ok(()),
            Node::Readme => Err(read_only(path)),
            Node::Queue(q) => self.existing(q, path).await.map(drop),
            // Never a zero-byte write: that would enqueue an empty message.
            Node::Control(q, _) => self.backend.create_queue(q).await,
        }
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn node_classifies_paths() {
        assert_eq!(node("/").unwrap(), Node::Root);
        assert_eq!(node("/README").unwrap(), Node::Readme);
        assert_eq!(node("/q").unwrap(), Node::Queue("q"));
        assert_eq!(node("/a/b").unwrap(), Node::Queue("a/b"));
        assert_eq!(
            node("/a/b/peek").unwrap(),
            Node::Control("a/b", Control::Peek)
        );
        assert_eq!(node("/a/README").unwrap(), Node::Queue("a/README"));
        for bad in ["/README/x", "/q/size/x", "/q/enqueue/dequeue"] {
            assert_eq!(
                node(bad).unwrap_err().kind(),
                fs_core::ErrorKind::NotADirectory,
                "{bad}"
            );
        }
        assert_eq!(
            node("/enqueue").unwrap_err().kind(),
            fs_core::ErrorKind::NotFound
        );
    }
}
