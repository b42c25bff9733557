//! [`HttpFs`]: the mounted side of httpfs. It owns the HTTP listener (bound by [`HttpFs::bind`],
//! served from [`HttpFs::run`] on the instance's background, moved by [`HttpFs::change`]) and is
//! itself one read-only file, the status file.

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
use parking_lot::{Mutex, RwLock};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use super::listen::{self, Order, host_port};
use super::serve::Site;
use super::{HttpFsConfig, KEYS};

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
    /// The limits the mount was made under; a new address must pass them too.
    policy: MountPolicy,
    started: SystemTime,
    listening: Mutex<Listening>,
    /// Config changes, one at a time.
    changing: tokio::sync::Mutex<()>,
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
        policy: MountPolicy,
    ) -> Result<Self> {
        let listener = listen::bind(&config.host, config.port).await?;
        // Checked on the bound address, whatever name `host` gave; the listener closes on refusal.
        policy
            .check_listen(listener.local_addr()?.ip())
            .map_err(|e| e.with_op("mount"))?;
        Ok(HttpFs {
            mount_path: mount_path.to_string(),
            site: Arc::new(Site {
                source: RwLock::new(config.source.clone()),
                root,
            }),
            policy,
            started: SystemTime::now(),
            listening: Mutex::new(Listening {
                host: config.host.clone(),
                addr: listener.local_addr()?,
                pending: Some(listener),
                orders: None,
            }),
            changing: tokio::sync::Mutex::new(()),
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

    /// Takes the config `new` in place: a new `host` or `port` binds the new address first (under
    /// the policy the mount was made under), then the serving task swaps listeners and the old
    /// port is closed when this returns; a new `agfs_path` is served from the next request on.
    ///
    /// # Errors
    /// `InvalidArgument` naming the address when it cannot be bound (the port is taken, or
    /// privileged), `PermissionDenied` when the mount's policy refuses it, `Unsupported` for an
    /// address beyond loopback and the one the listener has (a remount may widen who can reach
    /// it, under the caller's policy), `Unavailable` when the instance is shutting down. The
    /// mount then serves on as before.
    pub async fn change(&self, old: &serde_json::Value, new: &serde_json::Value) -> Result<()> {
        fs_core::config::check_live(&fs_core::config::params(&[KEYS]), old, new)?;
        let config = HttpFsConfig::from_value(new)?;
        let _one = self.changing.lock().await;
        let (host, addr) = {
            let l = self.listening.lock();
            (l.host.clone(), l.addr)
        };
        if config.host != host || config.port != addr.port() {
            let listener = listen::bind(&config.host, config.port)
                .await
                .map_err(|e| refused(e, &config, &host, addr))?;
            let bound = listener.local_addr()?;
            self.policy.check_listen(bound.ip())?;
            if !bound.ip().is_loopback() && bound.ip() != addr.ip() {
                return Err(widens(&config, addr));
            }
            self.swap_in(listener).await?;
            let mut l = self.listening.lock();
            (l.host, l.addr) = (config.host, bound);
        }
        *self.site.source.write() = config.source;
        Ok(())
    }

    /// Puts `listener` in place of the one served (or of the one bound, before `run`), and
    /// returns once the old one is closed.
    async fn swap_in(&self, listener: TcpListener) -> Result<()> {
        let orders = {
            let mut l = self.listening.lock();
            if l.pending.is_some() {
                l.pending = Some(listener);
                return Ok(());
            }
            l.orders.clone().ok_or_else(stopped)?
        };
        let (done, closed) = oneshot::channel();
        orders
            .send(Order::Swap(listener, done))
            .await
            .map_err(|_| stopped())?;
        closed.await.map_err(|_| stopped())
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
            self.site.source.read(),
            addr.port(),
            humantime::format_rfc3339_seconds(self.started),
            compact_duration(uptime),
        )
    }

    fn status_info(&self, size: u64) -> FileInfo {
        let mut content = BTreeMap::new();
        content.insert("agfs_path".to_string(), self.site.source.read().clone());
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

/// A bind failure on a config change: a rejection (400) naming the address, saying the mount
/// serves on where it was.
fn refused(e: Error, config: &HttpFsConfig, host: &str, addr: SocketAddr) -> Error {
    let mut msg = format!(
        "{}; the mount serves on at {}",
        e.message(),
        host_port(host, addr.port())
    );
    if e.kind() == ErrorKind::AlreadyExists && config.port == addr.port() {
        msg.push_str(
            " (its listener holds that port until the change succeeds: change the port too, or unmount and mount again)",
        );
    }
    Error::invalid_argument(msg)
}

/// A change in place to an address beyond loopback and the one the listener has: it would widen
/// who can reach the listener, which only a remount may do (the caller's policy limits it there).
fn widens(config: &HttpFsConfig, addr: SocketAddr) -> Error {
    Error::unsupported("reconfigure").with_message(format!(
        "httpfs: moving the listener from {addr} to {} widens who can reach it: ask for a remount (\"remount\": true), which the server's listen policy limits",
        host_port(&config.host, config.port)
    ))
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
    /// Every key changes in place: see [`HttpFs::change`].
    async fn reconfigure(
        &self,
        old: &serde_json::Value,
        new: &serde_json::Value,
    ) -> Result<fs_core::Reconfigured> {
        self.change(old, new).await?;
        Ok(fs_core::Reconfigured::Accepted)
    }

    /// Serves the listener bound at `initialize` on `background`: see [`HttpFs::run`].
    async fn start(&self, background: &fs_core::Background) -> Result<()> {
        self.run(background)
    }

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
