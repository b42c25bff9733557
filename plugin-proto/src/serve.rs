//! The plugin side: serves one mount of any [`ServicePlugin`] over a channel (a process's stdin
//! and stdout). `pfs-server plugin-host` runs it for a shared library; a Rust plugin runs it from
//! its `main` ([`serve_stdio`]).

use std::sync::{Arc, Weak};

use bytes::Bytes;
use fs_core::plugin::{MountContext, ServerInfo, ServicePlugin};
use fs_core::policy::MountPolicy;
use fs_core::{Error, FileSystem, Reconfigured, Result};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::frame::{Frame, FrameError, read_frame, write_frame};
use crate::wire::{Hello, caps_to_json, error_to_json, flags_from_json};

/// Serves `plugin` on this process's stdin and stdout, after checking that pfs started it (the
/// magic cookie in the environment). Returns when the server says `shutdown` or closes stdin.
///
/// A Rust plugin program is a `main()` away: any [`ServicePlugin`] (here memfs), built as a
/// binary and named in `external_plugins.plugin_paths`, runs in a process of its own.
///
/// ```no_run
/// use std::sync::Arc;
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() {
///     if let Err(e) = pfs_plugin_proto::serve_stdio(Arc::new(pfs_memfs::MemFsPlugin)).await {
///         eprintln!("{e}");
///         std::process::exit(1);
///     }
/// }
/// ```
///
/// # Errors
/// When the process was not started by pfs (a human ran it), or the channel broke.
pub async fn serve_stdio(plugin: Arc<dyn ServicePlugin>) -> std::result::Result<(), String> {
    if std::env::var(crate::MAGIC_COOKIE_KEY).as_deref() != Ok(crate::MAGIC_COOKIE_VALUE) {
        return Err(format!(
            "{} is a pfs plugin: pfs-server starts it (mount it with isolation: process); it is not meant to be run by hand",
            plugin.name()
        ));
    }
    let served = match stdio_pipes() {
        Some((input, output)) => serve(plugin, input, output).await,
        // Not pipes (a terminal, a file): tokio's stdio, which reads on a blocking thread.
        None => serve(plugin, tokio::io::stdin(), tokio::io::stdout()).await,
    };
    served.map_err(|e| e.to_string())
}

/// Stdin and stdout as non-blocking pipes on the runtime's reactor, when they are pipes (as pfs
/// starts a plugin): tokio's `stdin()`/`stdout()` hand every read and write to a blocking
/// thread, which cost a small call more than the call itself.
fn stdio_pipes() -> Option<(
    tokio::net::unix::pipe::Receiver,
    tokio::net::unix::pipe::Sender,
)> {
    use std::os::fd::AsFd;
    let input = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let output = std::io::stdout().as_fd().try_clone_to_owned().ok()?;
    let input = tokio::net::unix::pipe::Receiver::from_owned_fd(input).ok()?;
    let output = tokio::net::unix::pipe::Sender::from_owned_fd(output).ok()?;
    Some((input, output))
}

/// Serves `plugin` on `input`/`output`: the hello, then one mount's calls until `shutdown` or the
/// end of `input`. Calls after `initialize` run concurrently; each answer goes out when ready.
///
/// # Errors
/// When the channel breaks (a clean end of `input` is not an error).
pub async fn serve(
    plugin: Arc<dyn ServicePlugin>,
    input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin + Send + 'static,
) -> std::result::Result<(), FrameError> {
    // Frames are read in pieces (lengths, header, payload): buffered, that is one read per
    // batch of frames, not four per frame.
    let mut input = tokio::io::BufReader::with_capacity(64 << 10, input);
    let params: Vec<Value> = plugin
        .config_params()
        .iter()
        .filter_map(|p| serde_json::to_value(p).ok())
        .collect();
    // No keys declared: the server sends any map and `validate` here judges it (a C plugin
    // declares none and checks its config itself).
    let hello = Hello {
        protocol: crate::PROTOCOL_VERSION,
        cookie: crate::MAGIC_COOKIE_VALUE.into(),
        name: plugin.name().into(),
        readme: plugin.readme().into(),
        config_params: (!params.is_empty()).then_some(params),
    };
    write_frame(&mut output, &Frame::new(hello.to_json())).await?;
    let (answers, mut outbox) = mpsc::channel::<Frame>(64);
    let writer = tokio::spawn(async move {
        while let Some(batch) = crate::frame::next_batch(&mut outbox, 64).await {
            crate::frame::write_frames(&mut output, &batch).await?;
        }
        Ok::<(), FrameError>(())
    });
    let mut fs: Option<Arc<dyn FileSystem>> = None;
    let result = loop {
        let frame = match read_frame(&mut input).await {
            Ok(f) => f,
            Err(FrameError::Closed) => break Ok(()),
            Err(e) => break Err(e),
        };
        let id = frame.header.get("id").cloned().unwrap_or(Value::Null);
        let op = frame
            .header
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match (op.as_str(), &fs) {
            ("validate", _) => {
                let config = frame.header.get("config").cloned().unwrap_or(Value::Null);
                let r = fs_core::plugin::vet(plugin.as_ref(), &config).map(|()| Value::Null);
                send(&answers, id, r.map(|v| (v, Bytes::new()))).await;
            }
            ("initialize", None) => {
                let r = initialize(plugin.as_ref(), &frame.header).await;
                let answer = r.as_ref().map(|f| {
                    (
                        json!({"capabilities": caps_to_json(&f.capabilities())}),
                        Bytes::new(),
                    )
                });
                send(
                    &answers,
                    id,
                    answer.map_err(|e| Error::new(e.kind(), e.to_string())),
                )
                .await;
                fs = r.ok();
            }
            ("shutdown", Some(f)) => {
                let r = f.shutdown().await.map(|()| (Value::Null, Bytes::new()));
                send(&answers, id, r).await;
                break Ok(());
            }
            ("shutdown", None) => {
                send(&answers, id, Ok((Value::Null, Bytes::new()))).await;
                break Ok(());
            }
            ("ping", _) => send(&answers, id, Ok((Value::Null, Bytes::new()))).await,
            (_, None) => {
                let e = Error::invalid_argument(format!("'{op}' before initialize"));
                send(&answers, id, Err(e)).await;
            }
            (_, Some(f)) => {
                let (f, answers, plugin) = (f.clone(), answers.clone(), plugin.clone());
                tokio::spawn(async move {
                    let r = if op == "reconfigure" {
                        // The new config passes the plugin's own checks first, as in-process.
                        let new = frame.header.get("new").cloned().unwrap_or(Value::Null);
                        match fs_core::plugin::vet(plugin.as_ref(), &new) {
                            Ok(()) => call(f.as_ref(), &op, frame).await,
                            Err(e) => Err(e),
                        }
                    } else {
                        call(f.as_ref(), &op, frame).await
                    };
                    send(&answers, id, r).await;
                });
            }
        }
    };
    drop(answers);
    // Answers of calls still running go out before the channel closes.
    match writer.await {
        Ok(Err(e)) if result.is_ok() => Err(e),
        _ => result,
    }
}

async fn initialize(
    plugin: &dyn ServicePlugin,
    header: &Map<String, Value>,
) -> Result<Arc<dyn FileSystem>> {
    let config = header.get("config").cloned().unwrap_or_else(|| json!({}));
    let mount_path = config
        .get(fs_core::plugin::MOUNT_PATH_KEY)
        .and_then(Value::as_str)
        .unwrap_or("/")
        .to_string();
    let ctx = MountContext {
        mount_path,
        config,
        root: Weak::new(),
        server: ServerInfo {
            version: std::env::var("PFS_SERVER_VERSION").unwrap_or_default(),
            started: std::time::SystemTime::now(),
            data_dir: None,
        },
        policy: MountPolicy::unrestricted(),
    };
    plugin.initialize(ctx).await
}

fn str_arg<'a>(h: &'a Map<String, Value>, key: &str) -> Result<&'a str> {
    h.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid_argument(format!("the request has no '{key}'")))
}

fn u64_arg(h: &Map<String, Value>, key: &str) -> Result<u64> {
    h.get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::invalid_argument(format!("the request has no number '{key}'")))
}

fn mode_arg(h: &Map<String, Value>) -> Result<u32> {
    u32::try_from(u64_arg(h, "mode")?).map_err(|_| Error::invalid_argument("'mode' is too large"))
}

/// One filesystem call: the answer's `ok` and payload.
async fn call(fs: &dyn FileSystem, op: &str, frame: Frame) -> Result<(Value, Bytes)> {
    let h = &frame.header;
    let none = |r: Result<()>| r.map(|()| (Value::Null, Bytes::new()));
    match op {
        "stat" => Ok((
            serde_json::to_value(fs.stat(str_arg(h, "path")?).await?).unwrap_or_default(),
            Bytes::new(),
        )),
        "read_dir" => Ok((
            serde_json::to_value(fs.read_dir(str_arg(h, "path")?).await?).unwrap_or_default(),
            Bytes::new(),
        )),
        "read" => {
            let size = u64_arg(h, "size")?.min(crate::frame::MAX_PAYLOAD as u64);
            let data = fs
                .read(str_arg(h, "path")?, u64_arg(h, "offset")?, Some(size))
                .await?;
            Ok((json!({"eof": (data.len() as u64) < size}), data))
        }
        "write" => {
            let offset = h.get("offset").and_then(Value::as_u64);
            let flags = flags_from_json(h.get("flags"));
            let n = fs
                .write(str_arg(h, "path")?, frame.payload.clone(), offset, flags)
                .await?;
            Ok((json!({"written": n}), Bytes::new()))
        }
        "create" => none(fs.create(str_arg(h, "path")?).await),
        "mkdir" => none(fs.mkdir(str_arg(h, "path")?, mode_arg(h)?).await),
        "remove" => none(fs.remove(str_arg(h, "path")?).await),
        "remove_all" => none(fs.remove_all(str_arg(h, "path")?).await),
        "rename" => none(fs.rename(str_arg(h, "from")?, str_arg(h, "to")?).await),
        "chmod" => none(fs.chmod(str_arg(h, "path")?, mode_arg(h)?).await),
        "truncate" => none(fs.truncate(str_arg(h, "path")?, u64_arg(h, "size")?).await),
        "touch" => none(fs.touch(str_arg(h, "path")?).await),
        "reconfigure" => {
            let old = h.get("old").cloned().unwrap_or(Value::Null);
            let new = h.get("new").cloned().unwrap_or(Value::Null);
            let ok = match fs.reconfigure(&old, &new).await? {
                Reconfigured::Accepted => json!({"accepted": true}),
                Reconfigured::Amended(c) => json!({"amended": c}),
            };
            Ok((ok, Bytes::new()))
        }
        _ => {
            Err(Error::unsupported("call").with_message(format!("operation not supported: '{op}'")))
        }
    }
}

async fn send(answers: &mpsc::Sender<Frame>, id: Value, result: Result<(Value, Bytes)>) {
    let frame = match result {
        Ok((ok, payload)) => Frame::new(json!({"id": id, "ok": ok})).with_payload(payload),
        Err(e) => Frame::new(json!({"id": id, "error": error_to_json(&e)})),
    };
    let _ = answers.send(frame).await;
}
