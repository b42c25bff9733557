//! The server side of one plugin process's channel: numbered requests, answers matched by id,
//! any number in flight; a channel that breaks fails every waiting call at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use fs_core::{Error, ErrorKind, Result};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};

use crate::frame::{Frame, FrameError, read_frame};
use crate::wire::{Hello, error_from_json};

type Waiting = Arc<Mutex<HashMap<u64, oneshot::Sender<Frame>>>>;

/// A live channel to a plugin process.
#[derive(Debug)]
pub struct Connection {
    name: String,
    outbox: mpsc::Sender<Frame>,
    waiting: Waiting,
    next: AtomicU64,
    /// `Some(why)` once the channel is broken.
    broken: watch::Receiver<Option<String>>,
    break_it: Arc<watch::Sender<Option<String>>>,
}

impl Connection {
    /// Reads the plugin's hello from `input` (within `within`), checks it, and starts serving the
    /// channel.
    ///
    /// # Errors
    /// `InvalidArgument` for a hello of another version or cookie; `Unavailable` when the channel
    /// closes or stays silent first.
    pub async fn open(
        input: impl AsyncRead + Unpin + Send + 'static,
        output: impl AsyncWrite + Unpin + Send + 'static,
        within: Duration,
    ) -> Result<(Connection, Hello)> {
        // One read per batch of frames rather than four per frame.
        let mut input = tokio::io::BufReader::with_capacity(64 << 10, input);
        let first = tokio::time::timeout(within, read_frame(&mut input))
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!("the plugin sent no hello within {within:?}"),
                )
            })?
            .map_err(|e| Error::new(ErrorKind::Unavailable, format!("no hello: {e}")))?;
        let hello = Hello::check(&first.header)?;
        let (outbox, mut queue) = mpsc::channel::<Frame>(256);
        let waiting: Waiting = Arc::default();
        let (tx, broken) = watch::channel(None);
        let break_it = Arc::new(tx);
        let fail = {
            let waiting = waiting.clone();
            let break_it = break_it.clone();
            move |why: String| {
                break_it.send_if_modified(|b| {
                    if b.is_none() {
                        *b = Some(why);
                        true
                    } else {
                        false
                    }
                });
                // Dropping the senders wakes every waiting call.
                waiting.lock().clear();
            }
        };
        let mut output = output;
        let fail_w = fail.clone();
        tokio::spawn(async move {
            while let Some(batch) = crate::frame::next_batch(&mut queue, 64).await {
                if let Err(e) = crate::frame::write_frames(&mut output, &batch).await {
                    fail_w(e.to_string());
                    return;
                }
            }
        });
        let waiting_r = waiting.clone();
        let mut stop = broken.clone();
        tokio::spawn(async move {
            loop {
                let frame = tokio::select! {
                    f = read_frame(&mut input) => f,
                    _ = stop.wait_for(Option::is_some) => return,
                };
                match frame {
                    Ok(f) => {
                        let Some(id) = f.header.get("id").and_then(Value::as_u64) else {
                            fail("the plugin sent an answer without an id".into());
                            return;
                        };
                        if let Some(w) = waiting_r.lock().remove(&id) {
                            let _ = w.send(f);
                        }
                    }
                    Err(FrameError::Closed) => {
                        fail("the plugin closed its channel (it exited)".into());
                        return;
                    }
                    Err(e) => {
                        fail(e.to_string());
                        return;
                    }
                }
            }
        });
        Ok((
            Connection {
                name: hello.name.clone(),
                outbox,
                waiting,
                next: AtomicU64::new(1),
                broken,
                break_it,
            },
            hello,
        ))
    }

    /// Sends `op` with `args` (and `payload`) and waits up to `within` for the answer: its `ok`
    /// and payload.
    ///
    /// # Errors
    /// The plugin's error; `Unavailable` when the channel is broken (then or meanwhile);
    /// `Timeout` when no answer came in time (the channel is then marked broken: a plugin that
    /// does not answer is restarted).
    pub async fn call(
        &self,
        op: &str,
        args: Value,
        payload: Bytes,
        within: Duration,
    ) -> Result<(Value, Bytes)> {
        if let Some(why) = self.broken() {
            return Err(self.unavailable(&why));
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut header = match args {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        header.insert("id".into(), json!(id));
        header.insert("op".into(), json!(op));
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().insert(id, tx);
        let frame = Frame { header, payload };
        if self.outbox.send(frame).await.is_err() {
            self.waiting.lock().remove(&id);
            return Err(self.unavailable("the channel is closed"));
        }
        let answer = match tokio::time::timeout(within, rx).await {
            Ok(Ok(f)) => f,
            Ok(Err(_)) => {
                let why = self.broken().unwrap_or_else(|| "the channel closed".into());
                return Err(self.unavailable(&why));
            }
            Err(_) => {
                self.waiting.lock().remove(&id);
                self.mark_broken(format!("'{op}' got no answer within {within:?}"));
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "plugin {} did not answer '{op}' within {within:?}; it is being restarted",
                        self.name
                    ),
                ));
            }
        };
        if let Some(e) = answer.header.get("error") {
            return Err(error_from_json(e));
        }
        Ok((
            answer.header.get("ok").cloned().unwrap_or(Value::Null),
            answer.payload,
        ))
    }

    /// Why the channel is broken, if it is.
    pub fn broken(&self) -> Option<String> {
        self.broken.borrow().clone()
    }

    /// Resolves once the channel is broken, with why.
    pub async fn wait_broken(&self) -> String {
        let mut rx = self.broken.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            Err(_) => "the channel closed".into(),
        }
    }

    /// Marks the channel broken (a call timed out, or the process is being stopped): every
    /// waiting call fails, and no new one is sent.
    pub fn mark_broken(&self, why: String) {
        self.break_it.send_if_modified(|b| {
            if b.is_none() {
                *b = Some(why);
                true
            } else {
                false
            }
        });
        self.waiting.lock().clear();
    }

    fn unavailable(&self, why: &str) -> Error {
        Error::new(
            ErrorKind::Unavailable,
            format!("plugin {} is unavailable: {why}", self.name),
        )
    }
}
