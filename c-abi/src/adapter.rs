//! A loaded plugin as pfs sees it: [`ExternalPlugin`] (a `ServicePlugin`: one `PluginNew` instance
//! per mount) and [`CPluginFs`] (a `FileSystem` over one instance). Every C call runs on the instance's
//! thread of its own, never on an executor thread, so calls on one instance are serialized.
//!
//! Safe code only (`unsafe_code` is forbidden here): every call into the plugin, and every release
//! of its memory, goes through `vtable.rs`.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_int};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::write::check_size;
use fs_core::{
    Capabilities, ConfigParam, Error, ErrorKind, FileInfo, FileSystem, MAX_FILE_SIZE, Meta,
    MountContext, Result, ServicePlugin, WriteFlags,
};
use parking_lot::Mutex;

pub use crate::errors::map_error_text;
use crate::errors::{map_reconfigure_rejection, map_write_error, remount_needed};
use crate::loader::LoadedLibrary;
use crate::reconfig::{amended_config, config_text};
use crate::vtable::{Instance, Outcome, PluginInfo, Reconfig, Symbol};
use crate::worker::Worker;

/// A plugin library registered under a name (possibly renamed `name-1` on a clash).
#[derive(Debug)]
pub struct ExternalPlugin {
    lib: Arc<LoadedLibrary>,
    name: String,
    path: String,
}

impl ExternalPlugin {
    /// Wraps a loaded library, registered as `name`.
    pub fn new(lib: Arc<LoadedLibrary>, name: String) -> Self {
        let path = lib.path.display().to_string();
        ExternalPlugin { lib, name, path }
    }

    /// The library.
    pub fn library(&self) -> &Arc<LoadedLibrary> {
        &self.lib
    }
}

#[async_trait]
impl ServicePlugin for ExternalPlugin {
    fn name(&self) -> &str {
        &self.name
    }

    fn readme(&self) -> &str {
        &self.lib.readme
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        Vec::new()
    }

    /// Any key may be valid: the plugin's own `PluginValidate` judges the config at mount time.
    fn check_keys(&self, config: &serde_json::Value) -> Result<()> {
        match config {
            serde_json::Value::Null | serde_json::Value::Object(_) => Ok(()),
            _ => Err(Error::invalid_argument(
                "invalid config: expected a map of parameters",
            )),
        }
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let config = config_text(&ctx.config, &ctx.mount_path)?;
        let lib = self.lib.clone();
        let name = self.name.clone();
        let worker = Worker::spawn(&name, lib.non_blocking)?;
        let handle = worker.clone();
        let inner = worker
            .run(move || {
                let instance = lib.new_instance().ok_or_else(|| {
                    Error::internal(format!("plugin {name}: PluginNew returned NULL"))
                })?;
                let steps: [(&str, fn(&Instance, &CStr) -> Option<Outcome>); 2] = [
                    ("validate", Instance::validate),
                    ("initialize", Instance::initialize),
                ];
                for (step, call) in steps {
                    if let Some(Err(msg)) = call(&instance, &config) {
                        // `instance` drops here: PluginFree runs, nothing stays mounted.
                        return Err(Error::invalid_argument(format!(
                            "plugin {name}: {step} failed: {msg}"
                        )));
                    }
                }
                Ok(Arc::new(Inner {
                    lib,
                    instance: Mutex::new(Some(instance)),
                }))
            })
            .await?;
        Ok(Arc::new(CPluginFs {
            inner,
            worker: handle,
            mount_path: ctx.mount_path,
        }) as Arc<dyn FileSystem>)
    }

    fn library_path(&self) -> Option<&str> {
        Some(&self.path)
    }
}

/// One mounted instance: `None` once shut down (and freed).
struct Inner {
    lib: Arc<LoadedLibrary>,
    instance: Mutex<Option<Instance>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CPlugin")
            .field("name", &self.lib.name)
            .finish()
    }
}

impl Inner {
    /// Runs `f` with the live instance; `Unavailable` after shutdown.
    fn with<T>(&self, f: impl FnOnce(&Instance) -> Result<T>) -> Result<T> {
        match &*self.instance.lock() {
            Some(instance) => f(instance),
            None => Err(Error::new(
                ErrorKind::Unavailable,
                "plugin instance has been shut down",
            )),
        }
    }

    /// Fails with `Unsupported` (`op`) when the plugin lacks `symbol`.
    fn require(&self, symbol: Symbol, op: &'static str) -> Result<()> {
        if self.lib.has(symbol) {
            Ok(())
        } else {
            Err(Error::unsupported(op))
        }
    }

    fn stat(&self, path: &str) -> Result<Option<FileInfo>> {
        self.require(Symbol::FsStat, "stat")?;
        let c_path = cstring(path)?;
        self.with(|inst| {
            let info = inst
                .stat(&c_path)
                .ok_or_else(|| Error::unsupported("stat"))?;
            Ok(info.map(file_info))
        })
    }
}

/// A filesystem served by one instance of a C plugin.
#[derive(Debug, Clone)]
pub struct CPluginFs {
    inner: Arc<Inner>,
    worker: Worker,
    /// Where it was mounted: the `mount_path` of the configs the plugin reads.
    mount_path: String,
}

impl CPluginFs {
    /// Whether this instance's calls run in place now (the plugin's `PFSNonBlocking` said so, or
    /// its calls proved quick: see `worker.rs`) rather than on a thread of its own.
    pub fn runs_inline(&self) -> bool {
        self.worker.runs_inline()
    }
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid_argument("a NUL byte cannot cross the plugin ABI"))
}

/// Makes a `FileInfo` of what the plugin's `FileInfoC` said.
fn file_info(c: PluginInfo) -> FileInfo {
    let PluginInfo {
        name,
        size,
        mode,
        mod_time,
        is_dir,
        meta_name,
        meta_type,
        meta_content,
    } = c;
    let content = meta_content
        .and_then(|j| serde_json::from_str::<BTreeMap<String, serde_json::Value>>(&j).ok())
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                .collect::<BTreeMap<_, _>>()
        })
        .filter(|m| !m.is_empty());
    let mod_time = u64::try_from(mod_time)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s));
    FileInfo {
        name: name.unwrap_or_default(),
        size: u64::try_from(size).unwrap_or(0),
        mode: mode & 0o7777,
        mod_time,
        is_dir,
        meta: Meta {
            name: meta_name.unwrap_or_default(),
            kind: meta_type.unwrap_or_default(),
            content,
        },
    }
}

impl CPluginFs {
    /// Runs one of the instance's error-text calls on `path` and maps its error text; `call`
    /// answers `None` when the plugin lacks the symbol.
    async fn str_call(
        &self,
        op: &'static str,
        path: &str,
        call: impl FnOnce(&Instance, &CStr) -> Option<Outcome> + Send + 'static,
    ) -> Result<()> {
        let inner = self.inner.clone();
        let c_path = cstring(path)?;
        self.worker
            .run(move || {
                inner.with(|inst| match call(inst, &c_path) {
                    None => Err(Error::unsupported(op)),
                    Some(Ok(())) => Ok(()),
                    Some(Err(msg)) => Err(map_error_text(&msg)),
                })
            })
            .await
    }
}

#[async_trait]
impl FileSystem for CPluginFs {
    fn capabilities(&self) -> Capabilities {
        let has = |symbol| self.inner.lib.has(symbol);
        Capabilities {
            write: has(Symbol::FsWrite),
            create: has(Symbol::FsCreate),
            mkdir: has(Symbol::FsMkdir),
            remove: has(Symbol::FsRemove) && has(Symbol::FsRemoveAll),
            rename: has(Symbol::FsRename),
            chmod: has(Symbol::FsChmod),
            truncate: has(Symbol::PfsTruncate),
            live_stream: false,
            max_file_size: fs_core::MAX_FILE_SIZE,
        }
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        let inner = self.inner.clone();
        let p = path.to_string();
        self.worker
            .run(move || match inner.stat(&p)? {
                Some(info) => Ok(info),
                None => Err(missing(&inner, &p)),
            })
            .await
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        let inner = self.inner.clone();
        let p = path.to_string();
        self.worker
            .run(move || {
                inner.require(Symbol::FsReadDir, "readdir")?;
                let c_path = cstring(&p)?;
                let listed = inner.with(|inst| {
                    inst.read_dir(&c_path, file_info)
                        .ok_or_else(|| Error::unsupported("readdir"))
                })?;
                match listed {
                    Some(v) => Ok(v),
                    // v1 cannot say why a listing failed: ask stat.
                    None => match inner.stat(&p)? {
                        None => Err(Error::not_found(p)),
                        Some(i) if !i.is_dir => Err(Error::not_a_directory(p)),
                        Some(_) => Err(Error::internal(format!("plugin failed to list {p}"))),
                    },
                }
            })
            .await
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        let inner = self.inner.clone();
        let p = path.to_string();
        self.worker
            .run(move || {
                inner.require(Symbol::FsRead, "read")?;
                let c_path = cstring(&p)?;
                // Past INT64_MAX no file has bytes: clamped, the plugin answers empty (or not found).
                let offset = i64::try_from(offset).unwrap_or(i64::MAX);
                let size = size.map_or(-1, |s| i64::try_from(s).unwrap_or(i64::MAX));
                let result = inner.with(|inst| {
                    let read = inst
                        .read(&c_path, offset, size)
                        .ok_or_else(|| Error::unsupported("read"))?;
                    Ok(read.map_err(|text| text.unwrap_or_else(|| "read failed".into())))
                })?;
                match result {
                    Ok(b) => Ok(b),
                    Err(msg) => match map_error_text(&msg) {
                        // "read failed" says nothing: ask stat whether the file is there at all.
                        e if e.kind() == ErrorKind::Internal => match inner.stat(&p)? {
                            None => Err(Error::not_found(p)),
                            Some(i) if i.is_dir => Err(Error::is_a_directory(p)),
                            Some(_) => Err(e),
                        },
                        e => Err(e),
                    },
                }
            })
            .await
    }

    async fn write(
        &self,
        path: &str,
        data: Bytes,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let inner = self.inner.clone();
        let p = path.to_string();
        self.worker
            .run(move || {
                inner.require(Symbol::FsWrite, "write")?;
                let c_path = cstring(&p)?;
                if c_int::try_from(data.len()).is_err() {
                    return Err(Error::new(
                        ErrorKind::PayloadTooLarge,
                        "the plugin ABI takes at most 2 GiB per write",
                    ));
                }
                let offset = match offset {
                    None => -1,
                    Some(o) => {
                        check_size(&p, o.saturating_add(data.len() as u64), MAX_FILE_SIZE)?;
                        o as i64
                    }
                };
                // The one creation rule ([`WriteFlags::creates`]) made explicit for the plugin.
                let flags = if flags == WriteFlags::SYNC {
                    flags | WriteFlags::CREATE
                } else {
                    flags
                };
                let n = inner.with(|inst| {
                    inst.write(&c_path, &data, offset, flags.bits())
                        .ok_or_else(|| Error::unsupported("write"))
                })?;
                if n >= 0 {
                    return Ok(n as u64);
                }
                match map_write_error(n).with_path(p.clone()) {
                    // -1 says nothing (AGFS plugins return it for everything): a directory, the
                    // mount root above all, is told apart by stat.
                    e if e.kind() == ErrorKind::Internal => match inner.stat(&p)? {
                        Some(i) if i.is_dir => Err(Error::is_a_directory(p)),
                        _ => Err(e),
                    },
                    e => Err(e),
                }
            })
            .await
    }

    async fn create(&self, path: &str) -> Result<()> {
        self.str_call("create", path, |i, p| i.create(p)).await
    }

    async fn mkdir(&self, path: &str, mode: u32) -> Result<()> {
        self.str_call("mkdir", path, move |i, p| i.mkdir(p, mode))
            .await
    }

    async fn remove(&self, path: &str) -> Result<()> {
        self.str_call("remove", path, |i, p| i.remove(p)).await
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        self.str_call("remove", path, |i, p| i.remove_all(p)).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let to = cstring(to)?;
        self.str_call("rename", from, move |i, p| i.rename(p, &to))
            .await
    }

    async fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        self.str_call("chmod", path, move |i, p| i.chmod(p, mode))
            .await
    }

    async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        check_size(path, size, MAX_FILE_SIZE)?;
        let size = size as i64;
        self.str_call("truncate", path, move |i, p| i.truncate(p, size))
            .await
    }

    /// `PFSReconfigure` (ABI 1.3) on the instance's worker, like every call: accepted, amended (the
    /// config the plugin applied, checked to be a JSON object) or rejected (its reason, mapped as
    /// `errors::map_reconfigure_rejection` says). Without the symbol, the default's answer: a
    /// remount.
    async fn reconfigure(
        &self,
        old: &serde_json::Value,
        new: &serde_json::Value,
    ) -> Result<fs_core::Reconfigured> {
        let name = self.inner.lib.name.clone();
        if !self.inner.lib.has(Symbol::PfsReconfigure) {
            return Err(remount_needed(
                &name,
                "cannot change its config in place (it has no PFSReconfigure)",
            ));
        }
        let (old_c, new_c) = (
            config_text(old, &self.mount_path)?,
            config_text(new, &self.mount_path)?,
        );
        let inner = self.inner.clone();
        let answer = self
            .worker
            .run(move || {
                inner.with(|inst| {
                    inst.reconfigure(&old_c, &new_c)
                        .ok_or_else(|| Error::unsupported("reconfigure"))
                })
            })
            .await?;
        match answer {
            Reconfig::Accepted => Ok(fs_core::Reconfigured::Accepted),
            Reconfig::Amended(bytes) => {
                amended_config(&name, bytes, new).map(fs_core::Reconfigured::Amended)
            }
            Reconfig::Rejected(reason) => Err(map_reconfigure_rejection(&name, &reason)),
        }
    }

    /// 501, as in AGFS: the v1 ABI cannot say whether a plugin's reads have side effects, so no
    /// generic handle is built over them. FUSE clients fall back to plain reads and writes.
    async fn open_handle(
        self: Arc<Self>,
        path: &str,
        _flags: fs_core::OpenFlags,
        _mode: u32,
    ) -> Result<Box<dyn fs_core::FileHandle>> {
        Err(Error::unsupported("openhandle").with_path(path))
    }

    async fn shutdown(&self) -> Result<()> {
        let inner = self.inner.clone();
        self.worker
            .run(move || {
                let mut guard = inner.instance.lock();
                let Some(inst) = guard.take() else {
                    return Ok(());
                };
                // Shut down exactly once, then freed: no call can reach it any more.
                match inst.shutdown() {
                    None | Some(Ok(())) => Ok(()),
                    Some(Err(msg)) => Err(map_error_text(&msg)),
                }
            })
            .await
    }
}

/// Whether `path` looks like a plugin library this platform can load.
pub fn is_library(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("so" | "dylib" | "dll")
    )
}

/// Why `path` is not there, as the trait says it: v1's `FSStat` only answers NULL, so the ancestors
/// are asked, from the top down, until one is missing (`NotFound`) or is a file (`NotADirectory`).
/// Only the error path pays for the extra calls.
fn missing(inner: &Inner, path: &str) -> Error {
    let mut ancestor = String::new();
    let parents: Vec<&str> = path.trim_matches('/').split('/').collect();
    for part in &parents[..parents.len().saturating_sub(1)] {
        ancestor.push('/');
        ancestor.push_str(part);
        match inner.stat(&ancestor) {
            Ok(Some(info)) if info.is_dir => continue,
            Ok(Some(_)) => return Error::not_a_directory(path),
            _ => break,
        }
    }
    Error::not_found(path)
}
