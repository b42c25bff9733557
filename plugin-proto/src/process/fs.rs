//! [`ProcessFs`]: one mount served by a plugin process, every call a request on its channel,
//! with the supervisor that restarts the process when it fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use fs_core::{
    Background, Capabilities, Content, ContentBody, Error, ErrorKind, FileInfo, FileSystem, Health,
    Reconfigured, Result, WriteFlags,
};
use parking_lot::{Mutex, RwLock};
use serde_json::{Value, json};
use tokio::process::Child;

use super::{Crashes, Limits, Program, kill, launch};
use crate::CHUNK;
use crate::client::Connection;
use crate::wire::{caps_from_json, flags_to_json, info_from_json};

/// How many chunks of a large read are asked for ahead of the one being sent (each up to
/// [`CHUNK`] bytes held per read in flight).
const READ_AHEAD: usize = 3;

/// Where a plugin process is.
#[derive(Debug, Clone)]
pub enum ProcessState {
    /// Serving.
    Up,
    /// Failed and being started again.
    Restarting(String),
    /// Failed too often: the mount answers 503 until it is remounted.
    Failed(String),
    /// Shut down.
    Stopped,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) label: String,
    program: Program,
    limits: Limits,
    /// The config the process is initialized with (on every restart), `mount_path` included.
    config: Mutex<Value>,
    conn: RwLock<Option<Arc<Connection>>>,
    state: RwLock<ProcessState>,
    caps: RwLock<Capabilities>,
    child: tokio::sync::Mutex<Option<Child>>,
    pub(crate) restarts: AtomicU64,
}

/// A mount served by a plugin process (see the module docs).
#[derive(Debug)]
pub struct ProcessFs {
    inner: Arc<Inner>,
}

impl ProcessFs {
    /// Starts the process, has it check the config (`validate`) and take it (`initialize`).
    ///
    /// # Errors
    /// The plugin's error (nothing keeps running then); `InvalidArgument` when the process does
    /// not start or its handshake is wrong.
    pub(crate) async fn start_process(
        label: String,
        program: Program,
        limits: Limits,
        config: Value,
    ) -> Result<ProcessFs> {
        let started = launch(&program, &limits, &label).await?;
        let checked = started
            .conn
            .call(
                "validate",
                json!({ "config": config }),
                Bytes::new(),
                limits.call_timeout,
            )
            .await;
        let init = match checked {
            Ok(_) => initialize(&started.conn, &config, &limits).await,
            Err(e) => Err(e),
        };
        let caps = match init {
            Ok(caps) => caps,
            Err(e) => {
                kill(started.child).await;
                return Err(e);
            }
        };
        Ok(ProcessFs {
            inner: Arc::new(Inner {
                label,
                program,
                limits,
                config: Mutex::new(config),
                conn: RwLock::new(Some(started.conn)),
                state: RwLock::new(ProcessState::Up),
                caps: RwLock::new(caps),
                child: tokio::sync::Mutex::new(Some(started.child)),
                restarts: AtomicU64::new(0),
            }),
        })
    }

    /// Where the process is.
    pub fn state(&self) -> ProcessState {
        self.inner.state.read().clone()
    }

    /// How many times the process was restarted.
    pub fn restarts(&self) -> u64 {
        self.inner.restarts.load(Ordering::Relaxed)
    }

    async fn call(&self, op: &str, args: Value, payload: Bytes) -> Result<(Value, Bytes)> {
        let conn = self.inner.conn()?;
        conn.call(op, args, payload, self.inner.limits.call_timeout)
            .await
    }

    async fn unit(&self, op: &str, args: Value) -> Result<()> {
        self.call(op, args, Bytes::new()).await.map(|_| ())
    }

    /// One `read` call: the bytes and whether the file ended.
    async fn read_chunk(&self, path: &str, offset: u64, size: u64) -> Result<(Bytes, bool)> {
        let (ok, data) = self
            .call(
                "read",
                json!({"path": path, "offset": offset, "size": size}),
                Bytes::new(),
            )
            .await?;
        if data.len() as u64 > size {
            return Err(Error::internal(format!(
                "plugin {} answered a read of {size} bytes with {}",
                self.inner.label,
                data.len()
            )));
        }
        let eof =
            ok.get("eof").and_then(Value::as_bool).unwrap_or(false) || (data.len() as u64) < size;
        Ok((data, eof))
    }
}

async fn initialize(conn: &Connection, config: &Value, limits: &Limits) -> Result<Capabilities> {
    let (ok, _) = conn
        .call(
            "initialize",
            json!({ "config": config }),
            Bytes::new(),
            limits.call_timeout,
        )
        .await?;
    Ok(caps_from_json(
        ok.get("capabilities").unwrap_or(&Value::Null),
    ))
}

impl Inner {
    fn conn(&self) -> Result<Arc<Connection>> {
        let unavailable = |m: String| Error::new(ErrorKind::Unavailable, m);
        match &*self.state.read() {
            ProcessState::Up => {}
            ProcessState::Restarting(why) => {
                return Err(unavailable(format!(
                    "plugin {} is restarting ({why}); retry shortly",
                    self.label
                )));
            }
            ProcessState::Failed(why) => {
                return Err(unavailable(format!(
                    "plugin {} failed and is not restarted any more ({why}); remount it",
                    self.label
                )));
            }
            ProcessState::Stopped => {
                return Err(unavailable(format!("plugin {} is stopped", self.label)));
            }
        }
        self.conn
            .read()
            .clone()
            .ok_or_else(|| unavailable(format!("plugin {} is not running", self.label)))
    }

    /// Restarts the process whenever its channel breaks, until the instance shuts down or fails
    /// too often.
    async fn supervise(self: Arc<Self>) {
        let mut crashes = Crashes::default();
        loop {
            let Some(conn) = self.conn.read().clone() else {
                return;
            };
            let mut why = conn.wait_broken().await;
            if matches!(*self.state.read(), ProcessState::Stopped) {
                return;
            }
            if let Some(child) = self.child.lock().await.take() {
                kill(child).await;
            }
            loop {
                let Some(delay) = crashes.record(&self.limits) else {
                    let why = format!(
                        "more than {} crashes within {:?}; the last: {why}",
                        self.limits.max_restarts, self.limits.crash_window
                    );
                    tracing::error!(plugin = %self.label, "plugin failed: {why}");
                    *self.state.write() = ProcessState::Failed(why);
                    *self.conn.write() = None;
                    return;
                };
                tracing::warn!(plugin = %self.label, "plugin process failed ({why}); restarting in {delay:?}");
                *self.state.write() = ProcessState::Restarting(why.clone());
                tokio::time::sleep(delay).await;
                match self.respawn().await {
                    Ok(()) => {
                        let n = self.restarts.load(Ordering::Acquire);
                        tracing::info!(plugin = %self.label, restarts = n, "plugin process restarted");
                        break;
                    }
                    Err(e) => why = e.to_string(),
                }
            }
        }
    }

    async fn respawn(&self) -> Result<()> {
        let started = launch(&self.program, &self.limits, &self.label).await?;
        let config = self.config.lock().clone();
        match initialize(&started.conn, &config, &self.limits).await {
            Ok(caps) => {
                *self.caps.write() = caps;
                *self.child.lock().await = Some(started.child);
                *self.conn.write() = Some(started.conn);
                // Before the mount serves again: a handle opened from now on is the new
                // process's.
                self.restarts.fetch_add(1, Ordering::AcqRel);
                *self.state.write() = ProcessState::Up;
                Ok(())
            }
            Err(e) => {
                kill(started.child).await;
                Err(e)
            }
        }
    }
}

#[async_trait]
impl FileSystem for ProcessFs {
    fn capabilities(&self) -> Capabilities {
        *self.inner.caps.read()
    }

    /// The generic handle, bound to the process it is opened on (`handle.rs`).
    async fn open_handle(
        self: Arc<Self>,
        path: &str,
        flags: fs_core::OpenFlags,
        mode: u32,
    ) -> Result<Box<dyn fs_core::FileHandle>> {
        let epoch = self.inner.restarts.load(Ordering::Acquire);
        let fs = self.inner.clone();
        let inner = Box::new(fs_core::GenericHandle::open(self, path, flags, mode).await?);
        Ok(Box::new(super::handle::BoundHandle { inner, fs, epoch }))
    }

    fn health(&self) -> Health {
        match &*self.inner.state.read() {
            ProcessState::Up => Health::Serving,
            ProcessState::Restarting(why) => Health::Restarting(why.clone()),
            ProcessState::Failed(why) => Health::Failed(why.clone()),
            ProcessState::Stopped => Health::Failed("stopped".into()),
        }
    }

    async fn start(&self, background: &Background) -> Result<()> {
        background.spawn(self.inner.clone().supervise());
        Ok(())
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        let (ok, _) = self
            .call("stat", json!({"path": path}), Bytes::new())
            .await?;
        info_from_json(&ok)
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        let (ok, _) = self
            .call("read_dir", json!({"path": path}), Bytes::new())
            .await?;
        match ok {
            Value::Array(list) => list.iter().map(info_from_json).collect(),
            other => Err(Error::internal(format!(
                "plugin {} answered read_dir with {other}",
                self.inner.label
            ))),
        }
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        let want = size.unwrap_or(u64::MAX);
        let (first, eof) = self.read_chunk(path, offset, want.min(CHUNK)).await?;
        if eof || first.len() as u64 >= want {
            return Ok(first);
        }
        let mut all = BytesMut::from(&first[..]);
        loop {
            let got = all.len() as u64;
            let n = (want - got).min(CHUNK);
            let (chunk, eof) = self.read_chunk(path, offset + got, n).await?;
            all.extend_from_slice(&chunk);
            if eof || all.len() as u64 >= want {
                return Ok(all.freeze());
            }
        }
    }

    /// A large read streams, a few chunks asked for ahead of the one being sent.
    async fn read_content(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Content> {
        let want = size.unwrap_or(u64::MAX);
        let (first, eof) = self.read_chunk(path, offset, want.min(CHUNK)).await?;
        if eof || first.len() as u64 >= want {
            return Ok(Content::from(first));
        }
        // READ_AHEAD chunks in flight: the plugin reads and writes the next ones into its pipe
        // while this one goes to the client. A chunk shorter than asked ends the file, so the
        // offsets can be laid out in advance; at most READ_AHEAD - 1 calls past the end are
        // wasted.
        let start = offset + first.len() as u64;
        let end = start.saturating_add(want - first.len() as u64);
        let inner = self.inner.clone();
        let path = path.to_string();
        let offsets = (0u64..)
            .map(move |i| start.saturating_add(i.saturating_mul(CHUNK)))
            .take_while(move |at| *at < end);
        let rest = futures_util::StreamExt::buffered(
            futures_util::StreamExt::map(futures_util::stream::iter(offsets), move |at| {
                let fs = ProcessFs {
                    inner: inner.clone(),
                };
                let path = path.clone();
                let size = (end - at).min(CHUNK);
                tokio::spawn(async move { fs.read_chunk(&path, at, size).await })
            }),
            READ_AHEAD,
        );
        let rest = futures_util::StreamExt::scan(rest, false, |ended, joined| {
            let item = if *ended {
                None
            } else {
                match joined {
                    Ok(Ok((chunk, eof))) => {
                        *ended = eof;
                        (!chunk.is_empty()).then_some(Ok(chunk))
                    }
                    Ok(Err(e)) => {
                        *ended = true;
                        Some(Err(e))
                    }
                    Err(e) => {
                        *ended = true;
                        Some(Err(Error::internal(format!("a plugin read failed: {e}"))))
                    }
                }
            };
            std::future::ready(item)
        });
        let stream = futures_util::StreamExt::chain(
            futures_util::stream::once(async move { Ok(first) }),
            rest,
        );
        Ok(Content {
            body: ContentBody::Stream {
                len: None,
                stream: Box::pin(stream),
            },
            modified: None,
            etag: None,
        })
    }

    /// A large body goes as several `write` calls of at most [`CHUNK`] bytes: the first as asked,
    /// the next ones where the previous ended.
    async fn write(
        &self,
        path: &str,
        data: Bytes,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let mut written = 0u64;
        let mut at = offset;
        let mut flags = flags;
        let mut rest = data;
        loop {
            let chunk = rest.split_to(rest.len().min(CHUNK as usize));
            let (ok, _) = self
                .call(
                    "write",
                    json!({"path": path, "offset": at, "flags": flags_to_json(flags)}),
                    chunk,
                )
                .await?;
            let n = ok.get("written").and_then(Value::as_u64).unwrap_or(0);
            written += n;
            if rest.is_empty() {
                return Ok(written);
            }
            if !flags.contains(WriteFlags::APPEND) {
                at = Some(offset.unwrap_or(0) + written);
            }
            flags = if flags.contains(WriteFlags::APPEND) {
                WriteFlags::APPEND
            } else {
                WriteFlags::NONE
            };
        }
    }

    async fn create(&self, path: &str) -> Result<()> {
        self.unit("create", json!({"path": path})).await
    }

    async fn mkdir(&self, path: &str, mode: u32) -> Result<()> {
        self.unit("mkdir", json!({"path": path, "mode": mode}))
            .await
    }

    async fn remove(&self, path: &str) -> Result<()> {
        self.unit("remove", json!({"path": path})).await
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        self.unit("remove_all", json!({"path": path})).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.unit("rename", json!({"from": from, "to": to})).await
    }

    async fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        self.unit("chmod", json!({"path": path, "mode": mode}))
            .await
    }

    async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        self.unit("truncate", json!({"path": path, "size": size}))
            .await
    }

    async fn touch(&self, path: &str) -> Result<()> {
        self.unit("touch", json!({"path": path})).await
    }

    async fn reconfigure(&self, old: &Value, new: &Value) -> Result<Reconfigured> {
        let mount_path = self
            .inner
            .config
            .lock()
            .get(fs_core::plugin::MOUNT_PATH_KEY)
            .cloned();
        let with_path = |c: &Value| {
            let mut c = c.clone();
            if let (Value::Object(m), Some(p)) = (&mut c, &mount_path) {
                m.insert(fs_core::plugin::MOUNT_PATH_KEY.into(), p.clone());
            }
            c
        };
        let (ok, _) = self
            .call(
                "reconfigure",
                json!({"old": with_path(old), "new": with_path(new)}),
                Bytes::new(),
            )
            .await?;
        let (answer, applied) = match ok.get("amended") {
            Some(Value::Object(m)) => {
                let mut m = m.clone();
                m.remove(fs_core::plugin::MOUNT_PATH_KEY);
                (
                    Reconfigured::Amended(Value::Object(m.clone())),
                    Value::Object(m),
                )
            }
            Some(other) => {
                return Err(Error::internal(format!(
                    "plugin {} amended the config to {other}, not a map",
                    self.inner.label
                )));
            }
            None => (Reconfigured::Accepted, new.clone()),
        };
        *self.inner.config.lock() = with_path(&applied);
        Ok(answer)
    }

    async fn shutdown(&self) -> Result<()> {
        let conn = self.inner.conn.read().clone();
        let answer = match &conn {
            Some(c) if matches!(*self.inner.state.read(), ProcessState::Up) => {
                let within = self.inner.limits.call_timeout.min(Duration::from_secs(5));
                match c.call("shutdown", Value::Null, Bytes::new(), within).await {
                    // Already gone (killed with its process group, say): nothing left to shut
                    // down.
                    Err(e) if e.kind() == ErrorKind::Unavailable => Ok(()),
                    other => other.map(|_| ()),
                }
            }
            _ => Ok(()),
        };
        *self.inner.state.write() = ProcessState::Stopped;
        if let Some(c) = conn {
            c.mark_broken("stopped".into());
        }
        if let Some(mut child) = self.inner.child.lock().await.take() {
            // A plugin exits on its own after `shutdown`; one that does not is killed.
            if tokio::time::timeout(Duration::from_secs(2), child.wait())
                .await
                .is_err()
            {
                kill(child).await;
            }
        }
        answer
    }
}
