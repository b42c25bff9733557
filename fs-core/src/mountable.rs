//! [`MountableFs`]: the router that maps path prefixes to plugin filesystems and is itself a
//! [`FileSystem`], so the HTTP layer (and anything else) sees one tree.
//!
//! Lookups read an immutable mount table through an atomic pointer (no lock on the request path);
//! mount and unmount build a new table under a mutex and swap it in.
//! Symbolic links (`links.rs`, [`crate::symlinks`]) are resolved before a path is routed.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde_json::Value;

use crate::lifecycle::{DEFAULT_HOOK_TIMEOUT, Life};
use crate::path::{self, basename, join};
use crate::plugin::{MountContext, PluginRegistry, ServerInfo};
use crate::policy::MountPolicy;
use crate::symlinks::LinkTable;
use crate::{Capabilities, Error, ErrorKind, FileInfo, FileSystem, Meta, Result};

mod fs;
mod handles;
#[cfg(test)]
mod lifecycle_tests;
mod links;
mod reconfig;
pub use reconfig::{ConfigChange, Reconfigured};
mod routed;
mod table;

pub use routed::Routed;
use table::{MountTable, Resolved};

/// Permission bits of virtual directories (the root and mount-point parents).
const VIRTUAL_DIR_MODE: u32 = 0o755;

/// One mounted filesystem.
pub struct Mount {
    /// The normalized mount path.
    pub path: String,
    /// The plugin's name (`pluginName` in `GET /mounts`).
    pub plugin: String,
    /// The config instance name, for multi-instance config entries.
    pub instance: Option<String>,
    /// The config the filesystem was created with.
    pub config: Value,
    /// The filesystem.
    pub fs: Arc<dyn FileSystem>,
    /// 1 when mounted; one more with each applied config change ([`MountableFs::reconfigure`]).
    pub generation: u64,
    /// The mounted instance, unique in the process: a config change in place keeps it (the same
    /// filesystem serves on), a remount gets a new one. What handles are tied to.
    pub id: u64,
    /// Shared by the versions of one instance's mount (a config change keeps the instance).
    life: Arc<Life>,
}

impl fmt::Debug for Mount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mount")
            .field("path", &self.path)
            .field("plugin", &self.plugin)
            .finish()
    }
}

impl Mount {
    /// How many of the instance's background tasks ([`crate::Background`]) are running.
    pub fn background_tasks(&self) -> usize {
        self.life.background.running()
    }
}

/// A new [`Mount::id`].
fn next_mount_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The mount router. Cheap to share as `Arc<MountableFs>`.
pub struct MountableFs {
    table: ArcSwap<MountTable>,
    /// Serializes mount/unmount; never taken on the request path.
    writer: tokio::sync::Mutex<()>,
    server: ServerInfo,
    /// The virtual symbolic links (`links.rs`), resolved before routing.
    links: LinkTable,
    /// Called with each mount that leaves the table, before its shutdown (the server closes the
    /// mount's open handles there).
    unmount_hooks: parking_lot::RwLock<Vec<UnmountHook>>,
    /// The bound of each plugin hook (start, background exit, shutdown), in milliseconds.
    hook_timeout_ms: AtomicU64,
}

/// A function told about every mount that leaves the table ([`MountableFs::on_unmount`]).
pub type UnmountHook = Box<dyn Fn(&Arc<Mount>) + Send + Sync>;

impl fmt::Debug for MountableFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let paths: Vec<_> = self
            .table
            .load()
            .mounts()
            .iter()
            .map(|m| m.path.clone())
            .collect();
        f.debug_struct("MountableFs")
            .field("mounts", &paths)
            .finish()
    }
}

fn virtual_dir(name: &str, kind: &str) -> FileInfo {
    FileInfo::dir(name, VIRTUAL_DIR_MODE, None).with_meta(Meta::new("rootfs", kind))
}

fn outside(op: &'static str, path: &str, why: &str) -> Error {
    Error::permission_denied(path)
        .with_op(op)
        .with_message(format!("permission denied ({why})"))
}

impl MountableFs {
    /// An empty router.
    pub fn new(server: ServerInfo) -> Arc<Self> {
        Arc::new(MountableFs {
            table: ArcSwap::from_pointee(MountTable::default()),
            writer: tokio::sync::Mutex::new(()),
            server,
            links: LinkTable::default(),
            unmount_hooks: parking_lot::RwLock::new(Vec::new()),
            hook_timeout_ms: AtomicU64::new(DEFAULT_HOOK_TIMEOUT.as_millis() as u64),
        })
    }

    /// Bounds each plugin hook (`start`, the exit of its background tasks, `shutdown`) by
    /// `timeout`: a hook that overruns is abandoned and reported (default
    /// [`DEFAULT_HOOK_TIMEOUT`]).
    pub fn set_hook_timeout(&self, timeout: Duration) {
        let ms = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.hook_timeout_ms.store(ms, Ordering::Relaxed);
    }

    /// The bound of each plugin hook.
    pub fn hook_timeout(&self) -> Duration {
        Duration::from_millis(self.hook_timeout_ms.load(Ordering::Relaxed))
    }

    /// Runs a leaving instance's shutdown (once), bounded by the hook timeout.
    async fn shut_down(&self, mount: &Mount) -> Result<()> {
        mount.life.shutdown(&mount.fs, self.hook_timeout()).await
    }

    /// Facts about the server this router belongs to.
    pub fn server_info(&self) -> &ServerInfo {
        &self.server
    }

    /// Validates `config`, initializes a new instance of `plugin` and mounts it at `path`, with no
    /// limits ([`MountPolicy::unrestricted`]: the operator's own config mounts).
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown plugin or a bad config; `AlreadyExists` when `path` is
    /// taken; whatever `initialize` reports. On any error nothing is mounted.
    pub async fn mount_plugin(
        self: &Arc<Self>,
        registry: &PluginRegistry,
        plugin: &str,
        path: &str,
        instance: Option<String>,
        config: Value,
    ) -> Result<()> {
        self.mount_plugin_under(
            registry,
            plugin,
            path,
            instance,
            config,
            MountPolicy::unrestricted(),
        )
        .await
    }

    /// [`MountableFs::mount_plugin`] under `policy` (mounts made through the API).
    ///
    /// # Errors
    /// As `mount_plugin`; `PermissionDenied` when the plugin would pass the policy.
    pub async fn mount_plugin_under(
        self: &Arc<Self>,
        registry: &PluginRegistry,
        plugin: &str,
        path: &str,
        instance: Option<String>,
        config: Value,
        policy: MountPolicy,
    ) -> Result<()> {
        let path = path::normalize(path)?;
        self.check_mount_path(&path)?;
        let factory = registry.get(plugin)?;
        crate::plugin::vet(factory.as_ref(), &config).map_err(|e| e.with_op("mount"))?;
        if self.table.load().get(&path).is_some() {
            return Err(mount_exists(&path));
        }
        let ctx = MountContext {
            mount_path: path.clone(),
            config: config.clone(),
            root: Arc::downgrade(self),
            server: self.server.clone(),
            policy,
        };
        let fs = factory.initialize(ctx).await?;
        self.mount(&path, plugin, instance, config, fs).await
    }

    /// Starts an initialized filesystem ([`FileSystem::start`]) and mounts it at `path`. On any
    /// failure the filesystem is shut down and nothing is mounted.
    ///
    /// # Errors
    /// `AlreadyExists` when `path` is already a mount point; `InvalidArgument` for a bad path;
    /// the `start` error.
    pub async fn mount(
        &self,
        path: &str,
        plugin: &str,
        instance: Option<String>,
        config: Value,
        fs: Arc<dyn FileSystem>,
    ) -> Result<()> {
        let life = Arc::new(Life::default());
        let within = self.hook_timeout();
        let release = |e: Error| async {
            let _ = life.shutdown(&fs, within).await;
            Err(e)
        };
        let path = match path::normalize(path) {
            Ok(p) => p,
            Err(e) => return release(e).await,
        };
        let _w = self.writer.lock().await;
        let cur = self.table.load();
        if cur.get(&path).is_some() {
            return release(mount_exists(&path)).await;
        }
        if let Err(e) = self.check_mount_path(&path) {
            return release(e).await;
        }
        life.start(&fs, within).await?;
        let mount = Mount {
            path: path.clone(),
            plugin: plugin.to_string(),
            instance,
            config,
            fs,
            generation: 1,
            id: next_mount_id(),
            life,
        };
        let mount = Arc::new(mount);
        let Some(new) = cur.with(mount.clone()) else {
            let _ = self.shut_down(&mount).await;
            return Err(mount_exists(&path));
        };
        self.table.store(Arc::new(new));
        Ok(())
    }

    /// Removes the mount at `path` and runs its filesystem's shutdown (once).
    ///
    /// # Errors
    /// `NotFound` when nothing is mounted at `path`; the shutdown's error, if any (the mount is gone
    /// either way).
    pub async fn unmount(&self, path: &str) -> Result<()> {
        let path = path::normalize(path)?;
        let removed = {
            let _w = self.writer.lock().await;
            let cur = self.table.load();
            let Some((new, m)) = cur.without(&path) else {
                return Err(Error::not_found(&path)
                    .with_op("unmount")
                    .with_message("not found (no mount at path)"));
            };
            self.forget_links_of_unmount(&cur, &new, &path);
            self.table.store(Arc::new(new));
            m
        };
        for hook in self.unmount_hooks.read().iter() {
            hook(&removed);
        }
        self.shut_down(&removed).await.map_err(|e| {
            Error::internal(format!(
                "unmounted {path}, but the plugin's shutdown failed: {e}"
            ))
        })
    }

    /// Unmounts everything, newest mount first (reverse mount order), running every shutdown
    /// once, each bounded by the hook timeout; returns the failures.
    pub async fn unmount_all(&self) -> Vec<(String, Error)> {
        let mut failures = Vec::new();
        let mut mounts = self.mounts();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.id));
        for m in mounts {
            match self.unmount(&m.path).await {
                Err(e) if e.kind() != ErrorKind::NotFound => failures.push((m.path.clone(), e)),
                _ => {}
            }
        }
        failures
    }

    /// Every mount, sorted by path.
    pub fn mounts(&self) -> Vec<Arc<Mount>> {
        self.table.load().mounts()
    }

    /// How many mounts there are.
    pub fn mount_count(&self) -> usize {
        self.table.load().len()
    }

    /// The mount at exactly `path`, if any.
    pub fn mount_at(&self, path: &str) -> Option<Arc<Mount>> {
        self.table.load().get(path).cloned()
    }

    /// The capabilities of the filesystem that serves `path` (all false outside every mount).
    pub fn capabilities_at(&self, path: &str) -> Capabilities {
        let path = self
            .links
            .resolve(path, true)
            .unwrap_or(Cow::Borrowed(path));
        self.table
            .load()
            .resolve(&path)
            .map(|r| r.mount.fs.capabilities())
            .unwrap_or_default()
    }
}

fn mount_exists(path: &str) -> Error {
    Error::already_exists(path)
        .with_op("mount")
        .with_message("mount point already exists")
}

/// Gives a plugin error the full path and the operation name.
fn ctx(e: Error, op: &'static str, mount: &Mount, full: &str) -> Error {
    let e = if e.path().is_some() {
        e.map_path(|rel| join(&mount.path, rel))
    } else {
        e.with_path(full)
    };
    e.with_op(op)
}

impl MountableFs {
    /// Resolves a path for an operation on existing data: outside every mount is `NotFound`
    /// (or `IsADirectory` for a virtual directory).
    fn routed<'a>(&self, p: &'a str, op: &'static str) -> Result<Resolved<'a>> {
        let table = self.table.load();
        table.resolve(p).ok_or_else(|| {
            if p == "/" || table.has_mount_below(p) {
                Error::is_a_directory(p).with_op(op)
            } else {
                Error::not_found(p).with_op(op)
            }
        })
    }

    /// Resolves a path for an operation that may create it: outside every mount is
    /// `PermissionDenied`.
    fn routed_create<'a>(&self, p: &'a str, op: &'static str) -> Result<Resolved<'a>> {
        let table = self.table.load();
        table.resolve(p).ok_or_else(|| {
            if p == "/" || table.has_mount_below(p) {
                Error::is_a_directory(p).with_op(op)
            } else {
                outside(
                    op,
                    p,
                    "not allowed to create file in rootfs, use mount instead",
                )
            }
        })
    }

    /// Resolves a path for removal: virtual directories cannot be removed (unmount instead).
    fn routed_remove<'a>(&self, p: &'a str, op: &'static str) -> Result<Resolved<'a>> {
        let table = self.table.load();
        table.resolve(p).ok_or_else(|| {
            if p == "/" || table.has_mount_below(p) {
                outside(op, p, "a virtual directory of mount points; use unmount")
            } else {
                Error::not_found(p).with_op(op)
            }
        })
    }
}
