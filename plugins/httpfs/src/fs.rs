//! [`HttpFs`]: the mounted side of httpfs. It owns the HTTP listener (bound by [`HttpFs::bind`],
//! served from [`HttpFs::run`] on the instance's background) and is itself one read-only file,
//! the status file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::policy::MountPolicy;
use fs_core::{
    Background, Error, ErrorKind, FileInfo, Meta, MountableFs, ReadOnlySource, Result, read_window,
};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use super::HttpFsConfig;
use super::listen::{self, Order};
use super::serve::Site;

/// Where the listener is and who serves it.
#[derive(Debug)]
struct Listening {
    /// The host as configured (a name or an address).
    host: String,
    /// The address bound.
    addr: SocketAddr,
    /// Bound, not served yet: from [`HttpFs::bind`] until [`HttpFs::run`].
    pending: Option<TcpListener>,
    /// To the serving task, from [`HttpFs::run`] on; closed once the task has ended.
    orders: Option<mpsc::Sender<Order>>,
}

/// One httpfs mount: an HTTP server publishing a pfs path, seen in the tree as a status file.
#[derive(Debug)]
pub struct HttpFs {
    mount_path: String,
    site: Arc<Site>,
    started: SystemTime,
    listening: Mutex<Listening>,
}

fn stopped() -> Error {
    Error::new(
        ErrorKind::Unavailable,
        "httpfs: the listener has stopped (the mount is being shut down)",
    )
}

impl HttpFs {
    /// Binds `config.host:config.port` for publishing `config.source` of `root`; nothing is
    /// served until [`HttpFs::run`].
    ///
    /// # Errors
    /// The bind's failure, naming `host:port`: `AlreadyExists` when the port is taken,
    /// `PermissionDenied` for a privileged port or an address `policy` refuses, `InvalidArgument`
    /// for an address that is not local or does not resolve.
    pub async fn bind(
        mount_path: &str,
        config: &HttpFsConfig,
        root: Weak<MountableFs>,
        policy: &MountPolicy,
    ) -> Result<Self> {
        let listener = listen::bind(&config.host, config.port).await?;
        // Checked on the bound address, whatever name `host` gave; the listener closes on refusal.
        policy
            .check_listen(listener.local_addr()?.ip())
            .map_err(|e| e.with_op("mount"))?;
        Ok(HttpFs {
            mount_path: mount_path.to_string(),
            site: Arc::new(Site {
                source: config.source.clone(),
                root,
            }),
            started: SystemTime::now(),
            listening: Mutex::new(Listening {
                host: config.host.clone(),
                addr: listener.local_addr()?,
                pending: Some(listener),
                orders: None,
            }),
        })
    }

    /// Starts serving the bound listener: one task on `background`, until the instance shuts
    /// down.
    ///
    /// # Errors
    /// `Unavailable` when it was started before or has been shut down.
    pub fn run(&self, background: &Background) -> Result<()> {
        let mut l = self.listening.lock();
        let listener = l.pending.take().ok_or_else(stopped)?;
        let (orders, rx) = mpsc::channel(1);
        background.spawn(listen::serve(listener, self.site.clone(), rx));
        l.orders = Some(orders);
        Ok(())
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listening.lock().addr
    }

    /// The URL of the published root, `http://<addr>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.local_addr())
    }

    /// Whether the listener is served (from `run` until the shutdown).
    pub fn is_running(&self) -> bool {
        self.listening
            .lock()
            .orders
            .as_ref()
            .is_some_and(|o| !o.is_closed())
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
        let (host, addr) = {
            let l = self.listening.lock();
            (l.host.clone(), l.addr)
        };
        format!(
            "HTTPFS Instance Status\n\
             ======================\n\
             Virtual Path:    {}\n\
             PFS Source Path: {}\n\
             HTTP Host:       {host}\n\
             HTTP Port:       {}\n\
             HTTP Endpoint:   http://{addr}/\n\
             Server Status:   {status}\n\
             Started:         {}\n\
             Uptime:          {}\n",
            self.mount_path,
            self.site.source,
            addr.port(),
            humantime::format_rfc3339_seconds(self.started),
            compact_duration(uptime),
        )
    }

    fn status_info(&self, size: u64) -> FileInfo {
        let mut content = BTreeMap::new();
        content.insert("agfs_path".to_string(), self.site.source.clone());
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

    /// Closes the listener (under the mount router, the instance's background has already
    /// dropped the serving task, and the listener with it): the port is free when this returns.
    async fn shutdown(&self) -> Result<()> {
        let orders = {
            let mut l = self.listening.lock();
            l.pending = None;
            l.orders.clone()
        };
        if let Some(orders) = orders {
            let (done, closed) = oneshot::channel();
            // A failed send or a dropped answer: the task had ended, its listener with it.
            if orders.send(Order::Stop(done)).await.is_ok() {
                let _ = closed.await;
            }
        }
        Ok(())
    }
}
