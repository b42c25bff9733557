//! [`HttpFs`]: the mounted side of httpfs. It owns the HTTP listener (started by
//! [`HttpFs::start`], stopped by `shutdown`) and is itself one read-only file, the status file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use axum::serve::ListenerExt;
use bytes::Bytes;
use fs_core::policy::MountPolicy;
use fs_core::{Error, ErrorKind, FileInfo, Meta, MountableFs, ReadOnlySource, Result, read_window};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::HttpFsConfig;
use super::serve::{self, Site};

/// How long `shutdown` lets in-flight responses finish before it drops the server task.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The running listener: a stop signal and the task that serves.
#[derive(Debug)]
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// One httpfs mount: an HTTP server publishing a pfs path, seen in the tree as a status file.
#[derive(Debug)]
pub struct HttpFs {
    mount_path: String,
    source: String,
    host: String,
    addr: SocketAddr,
    started: SystemTime,
    running: Mutex<Option<Running>>,
}

/// `host:port`, with brackets around an IPv6 host.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Maps a failed bind to an error that names the address.
fn map_bind_error(e: std::io::Error, host: &str, port: u16) -> Error {
    use std::io::ErrorKind as Io;
    let at = host_port(host, port);
    let (kind, why) = match e.kind() {
        Io::AddrInUse => (
            ErrorKind::AlreadyExists,
            "address already in use (another server listens on that port)".to_string(),
        ),
        Io::PermissionDenied => (ErrorKind::PermissionDenied, e.to_string()),
        _ => (ErrorKind::InvalidArgument, e.to_string()),
    };
    Error::new(kind, format!("httpfs: cannot listen on {at}: {why}")).with_source(e)
}

impl HttpFs {
    /// Binds `config.host:config.port` and starts serving `config.source` of `root` on it.
    ///
    /// # Errors
    /// The bind's failure, naming `host:port`: `AlreadyExists` when the port is taken,
    /// `PermissionDenied` for a privileged port or an address `policy` refuses, `InvalidArgument`
    /// for an address that is not local or does not resolve.
    pub async fn start(
        mount_path: &str,
        config: &HttpFsConfig,
        root: Weak<MountableFs>,
        policy: &MountPolicy,
    ) -> Result<Self> {
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .map_err(|e| map_bind_error(e, &config.host, config.port))?;
        let addr = listener.local_addr()?;
        // Checked on the bound address, whatever name `host` gave; the listener closes on refusal.
        policy
            .check_listen(addr.ip())
            .map_err(|e| e.with_op("mount"))?;
        // Headers and body leave in separate writes; without NODELAY, Nagle plus delayed ACK
        // stall every small streamed response by tens of milliseconds.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let app = serve::router(Arc::new(Site {
            source: config.source.clone(),
            root,
        }));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // Dropping the sender (the mount vanished without shutdown) stops the server too.
            let signal = async move {
                let _ = stopped.await;
            };
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await;
        });
        Ok(HttpFs {
            mount_path: mount_path.to_string(),
            source: config.source.clone(),
            host: config.host.clone(),
            addr,
            started: SystemTime::now(),
            running: Mutex::new(Some(Running { stop, task })),
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of the published root, `http://<addr>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Whether the listener is still up (false once `shutdown` ran).
    pub fn is_running(&self) -> bool {
        self.running.lock().is_some()
    }

    /// The status file's text.
    pub fn status_text(&self) -> String {
        let uptime = SystemTime::now()
            .duration_since(self.started)
            .unwrap_or_default();
        let status = if self.is_running() {
            "Running"
        } else {
            "Stopped"
        };
        format!(
            "HTTPFS Instance Status\n\
             ======================\n\
             Virtual Path:    {}\n\
             PFS Source Path: {}\n\
             HTTP Host:       {}\n\
             HTTP Port:       {}\n\
             HTTP Endpoint:   {}\n\
             Server Status:   {status}\n\
             Started:         {}\n\
             Uptime:          {}\n",
            self.mount_path,
            self.source,
            self.host,
            self.addr.port(),
            self.url(),
            humantime::format_rfc3339_seconds(self.started),
            compact_duration(uptime),
        )
    }

    fn status_info(&self, size: u64) -> FileInfo {
        let mut content = BTreeMap::new();
        content.insert("agfs_path".to_string(), self.source.clone());
        content.insert("url".to_string(), self.url());
        let running = if self.is_running() {
            "running"
        } else {
            "stopped"
        };
        content.insert("status".to_string(), running.to_string());
        FileInfo::file("status", size, 0o444, Some(self.started)).with_meta(Meta {
            name: "httpfs".into(),
            kind: "status".into(),
            content: Some(content),
        })
    }
}

/// `1h2m3s`, `4m0s`, `12s`: whole seconds, Go style.
fn compact_duration(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec}s"),
        (h, m, sec) => format!("{h}h{m}m{sec}s"),
    }
}

impl Drop for HttpFs {
    fn drop(&mut self) {
        // Unmounted without shutdown (a lost mount race, a dropped router): free the port anyway.
        if let Some(r) = self.running.get_mut().take() {
            let _ = r.stop.send(());
        }
    }
}

/// Every path but the root is missing: the mount is one file.
fn check_root(path: &str) -> Result<()> {
    if path == "/" {
        Ok(())
    } else {
        Err(Error::not_found(path))
    }
}

#[async_trait]
impl ReadOnlySource for HttpFs {
    async fn stat(&self, path: &str) -> Result<FileInfo> {
        check_root(path)?;
        Ok(self.status_info(self.status_text().len() as u64))
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        check_root(path)?;
        Err(Error::not_a_directory(path))
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        check_root(path)?;
        let text = Bytes::from(self.status_text());
        Ok(read_window(&text, offset, size))
    }

    /// Stops the listener: no new connection is accepted and the port is free when this returns;
    /// responses in flight get 5 seconds to finish.
    async fn shutdown(&self) -> Result<()> {
        let Some(Running { stop, mut task }) = self.running.lock().take() else {
            return Ok(());
        };
        let _ = stop.send(());
        // axum drops the listener as soon as the signal fires, then waits for open connections.
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
            .await
            .is_err()
        {
            task.abort();
            let _ = task.await;
        }
        Ok(())
    }
}
