//! A loaded plugin as pfs sees it: [`ExternalPlugin`] (a `ServicePlugin`: one `PluginNew` instance
//! per mount) and [`CPluginFs`] (a `FileSystem` over one instance). Every C call runs on the instance's
//! thread of its own, never on an executor thread, so calls on one instance are serialized.

use std::collections::BTreeMap;
use std::ffi::{CString, c_char, c_int, c_void};
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
use crate::errors::map_write_error;
use crate::ffi::{FREE_BYTES, FREE_FILEINFO, FREE_FILEINFO_ARRAY, FileInfoC};
use crate::loader::{LoadedLibrary, VTable, copy_str, release};
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

    fn validate(&self, config: &serde_json::Value) -> Result<()> {
        self.check_keys(config)
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let mut config = match ctx.config {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        config.insert(
            "mount_path".into(),
            serde_json::Value::String(ctx.mount_path.clone()),
        );
        let config = cstring(&serde_json::Value::Object(config).to_string())?;
        let lib = self.lib.clone();
        let name = self.name.clone();
        let worker = Worker::spawn(&name, lib.non_blocking)?;
        let handle = worker.clone();
        let inner = worker
            .run(move || {
                // SAFETY: PluginNew takes nothing and returns an instance or NULL.
                let instance = unsafe { (lib.vt.plugin_new)() };
                if instance.is_null() {
                    return Err(Error::internal(format!(
                        "plugin {name}: PluginNew returned NULL"
                    )));
                }
                let fs = Inner {
                    lib,
                    instance: Mutex::new(Instance(instance)),
                };
                for (step, f) in [
                    ("validate", fs.lib.vt.plugin_validate),
                    ("initialize", fs.lib.vt.plugin_initialize),
                ] {
                    if let Some(f) = f {
                        // SAFETY: live instance, NUL-terminated config; result is NULL or a C string.
                        let err = unsafe { f(instance, config.as_ptr()) };
                        if let Some(msg) = fs.take_error(instance, err) {
                            // `fs` drops here: PluginFree runs, nothing stays mounted.
                            return Err(Error::invalid_argument(format!(
                                "plugin {name}: {step} failed: {msg}"
                            )));
                        }
                    }
                }
                Ok(Arc::new(fs))
            })
            .await?;
        Ok(Arc::new(CPluginFs {
            inner,
            worker: handle,
        }) as Arc<dyn FileSystem>)
    }

    fn library_path(&self) -> Option<&str> {
        Some(&self.path)
    }
}

/// An instance pointer; only ever used under the instance mutex, on the instance's own thread.
struct Instance(*mut c_void);

// SAFETY: the pointer is only dereferenced by the plugin, one call at a time (the mutex), which the
// header documents as the host's threading promise.
unsafe impl Send for Instance {}

struct Inner {
    lib: Arc<LoadedLibrary>,
    instance: Mutex<Instance>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CPlugin")
            .field("name", &self.lib.name)
            .finish()
    }
}

impl Inner {
    fn vt(&self) -> &VTable {
        &self.lib.vt
    }

    /// Copies and releases an error text; `None` for NULL or "" (success).
    fn take_error(&self, instance: *mut c_void, p: *const c_char) -> Option<String> {
        // SAFETY: the ABI returns NULL or a NUL-terminated string.
        let s = unsafe { copy_str(p) };
        release(self.vt(), instance, p.cast_mut().cast(), FREE_BYTES);
        s.filter(|s| !s.is_empty())
    }

    /// Runs `f` with the live instance; `Unavailable` after shutdown.
    fn with<T>(&self, f: impl FnOnce(*mut c_void) -> Result<T>) -> Result<T> {
        let guard = self.instance.lock();
        if guard.0.is_null() {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "plugin instance has been shut down",
            ));
        }
        f(guard.0)
    }

    fn stat(&self, path: &str) -> Result<Option<FileInfo>> {
        let f = self
            .vt()
            .fs_stat
            .ok_or_else(|| Error::unsupported("stat"))?;
        let c_path = cstring(path)?;
        self.with(|inst| {
            // SAFETY: live instance, NUL-terminated path; result is NULL or a FileInfoC.
            let p = unsafe { f(inst, c_path.as_ptr()) };
            if p.is_null() {
                return Ok(None);
            }
            // SAFETY: non-NULL FileInfoC from the plugin, valid until released.
            let info = unsafe { file_info(&*p) };
            release(self.vt(), inst, p.cast(), FREE_FILEINFO);
            Ok(Some(info))
        })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let inst = self.instance.get_mut();
        if !inst.0.is_null() {
            if let Some(free) = self.lib.vt.plugin_free {
                // SAFETY: the instance came from PluginNew and is freed exactly once (then nulled).
                unsafe { free(inst.0) };
            }
            inst.0 = std::ptr::null_mut();
        }
    }
}

/// A filesystem served by one instance of a C plugin.
#[derive(Debug, Clone)]
pub struct CPluginFs {
    inner: Arc<Inner>,
    worker: Worker,
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

/// Copies a `FileInfoC` into a `FileInfo`.
///
/// # Safety
/// Every string pointer of `c` is NULL or a valid NUL-terminated string.
unsafe fn file_info(c: &FileInfoC) -> FileInfo {
    // SAFETY: forwarded from the caller.
    let (name, meta_name, meta_type, meta_content) = unsafe {
        (
            copy_str(c.name),
            copy_str(c.meta_name),
            copy_str(c.meta_type),
            copy_str(c.meta_content),
        )
    };
    let content = meta_content
        .and_then(|j| serde_json::from_str::<BTreeMap<String, serde_json::Value>>(&j).ok())
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                .collect::<BTreeMap<_, _>>()
        })
        .filter(|m| !m.is_empty());
    let mod_time = u64::try_from(c.mod_time)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s));
    FileInfo {
        name: name.unwrap_or_default(),
        size: u64::try_from(c.size).unwrap_or(0),
        mode: c.mode & 0o7777,
        mod_time,
        is_dir: c.is_dir != 0,
        meta: Meta {
            name: meta_name.unwrap_or_default(),
            kind: meta_type.unwrap_or_default(),
            content,
        },
    }
}

impl CPluginFs {
    /// Runs a `const char* f(instance, path)`-shaped call and maps its error text.
    async fn str_call(
        &self,
        op: &'static str,
        path: &str,
        call: impl FnOnce(*mut c_void, &CString) -> Option<*const c_char> + Send + 'static,
    ) -> Result<()> {
        let inner = self.inner.clone();
        let c_path = cstring(path)?;
        self.worker
            .run(move || {
                inner.with(|inst| match call(inst, &c_path) {
                    None => Err(Error::unsupported(op)),
                    Some(err) => match inner.take_error(inst, err) {
                        None => Ok(()),
                        Some(msg) => Err(map_error_text(&msg)),
                    },
                })
            })
            .await
    }
}

#[async_trait]
impl FileSystem for CPluginFs {
    fn capabilities(&self) -> Capabilities {
        let vt = self.inner.vt();
        Capabilities {
            write: vt.fs_write.is_some(),
            create: vt.fs_create.is_some(),
            mkdir: vt.fs_mkdir.is_some(),
            remove: vt.fs_remove.is_some() && vt.fs_remove_all.is_some(),
            rename: vt.fs_rename.is_some(),
            chmod: vt.fs_chmod.is_some(),
            truncate: vt.truncate.is_some(),
            live_stream: false,
            max_file_size: fs_core::MAX_FILE_SIZE,
        }
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        let inner = self.inner.clone();
        let p = path.to_string();
        self.worker
            .run(move || inner.stat(&p)?.ok_or_else(|| Error::not_found(p)))
            .await
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        let inner = self.inner.clone();
        let p = path.to_string();
        self.worker
            .run(move || {
                let f = inner
                    .vt()
                    .fs_read_dir
                    .ok_or_else(|| Error::unsupported("readdir"))?;
                let c_path = cstring(&p)?;
                let listed = inner.with(|inst| {
                    let mut count: c_int = 0;
                    // SAFETY: live instance, NUL-terminated path, `count` is a valid C int.
                    let arr = unsafe { f(inst, c_path.as_ptr(), &mut count) };
                    if count < 0 {
                        release(inner.vt(), inst, arr.cast(), FREE_FILEINFO_ARRAY);
                        return Ok(None);
                    }
                    let mut out = Vec::with_capacity(count as usize);
                    // SAFETY: a non-NULL array with at least `count` items, as the ABI promises.
                    if let Some(a) = unsafe { arr.as_ref() }.filter(|a| !a.items.is_null()) {
                        for i in 0..count as usize {
                            // SAFETY: `i < count` items are valid FileInfoC values.
                            out.push(unsafe { file_info(&*a.items.add(i)) });
                        }
                    }
                    release(inner.vt(), inst, arr.cast(), FREE_FILEINFO_ARRAY);
                    Ok(Some(out))
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
                let f = inner
                    .vt()
                    .fs_read
                    .ok_or_else(|| Error::unsupported("read"))?;
                let c_path = cstring(&p)?;
                // Past INT64_MAX no file has bytes: clamped, the plugin answers empty (or not found).
                let offset = i64::try_from(offset).unwrap_or(i64::MAX);
                let size = size.map_or(-1, |s| i64::try_from(s).unwrap_or(i64::MAX));
                let result = inner.with(|inst| {
                    let mut len: c_int = 0;
                    // SAFETY: live instance, NUL-terminated path, `len` is a valid C int.
                    let data = unsafe { f(inst, c_path.as_ptr(), offset, size, &mut len) };
                    let out = if len < 0 {
                        // A negative length: the pointer, if any, is an error text.
                        // SAFETY: the ABI returns NULL or a NUL-terminated string here.
                        Err(unsafe { copy_str(data) }.unwrap_or_else(|| "read failed".into()))
                    } else if data.is_null() || len == 0 {
                        Ok(Bytes::new())
                    } else {
                        // SAFETY: the plugin promises `len` readable bytes at `data`.
                        Ok(Bytes::copy_from_slice(unsafe {
                            std::slice::from_raw_parts(data.cast::<u8>(), len as usize)
                        }))
                    };
                    release(inner.vt(), inst, data.cast_mut().cast(), FREE_BYTES);
                    Ok(out)
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
                let f = inner
                    .vt()
                    .fs_write
                    .ok_or_else(|| Error::unsupported("write"))?;
                let c_path = cstring(&p)?;
                let len = c_int::try_from(data.len()).map_err(|_| {
                    Error::new(
                        ErrorKind::PayloadTooLarge,
                        "the plugin ABI takes at most 2 GiB per write",
                    )
                })?;
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
                    // SAFETY: live instance, NUL-terminated path, `len` bytes at `data`.
                    Ok(unsafe {
                        f(
                            inst,
                            c_path.as_ptr(),
                            data.as_ptr().cast(),
                            len,
                            offset,
                            flags.bits(),
                        )
                    })
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
        let f = self.inner.vt().fs_create;
        self.str_call("create", path, move |i, p| {
            // SAFETY: a live instance (str_call holds its lock) and NUL-terminated strings.
            f.map(|f| unsafe { f(i, p.as_ptr()) })
        })
        .await
    }

    async fn mkdir(&self, path: &str, mode: u32) -> Result<()> {
        let f = self.inner.vt().fs_mkdir;
        self.str_call("mkdir", path, move |i, p| {
            // SAFETY: a live instance (str_call holds its lock) and NUL-terminated strings.
            f.map(|f| unsafe { f(i, p.as_ptr(), mode) })
        })
        .await
    }

    async fn remove(&self, path: &str) -> Result<()> {
        let f = self.inner.vt().fs_remove;
        self.str_call("remove", path, move |i, p| {
            // SAFETY: a live instance (str_call holds its lock) and NUL-terminated strings.
            f.map(|f| unsafe { f(i, p.as_ptr()) })
        })
        .await
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        let f = self.inner.vt().fs_remove_all;
        self.str_call("remove", path, move |i, p| {
            // SAFETY: a live instance (str_call holds its lock) and NUL-terminated strings.
            f.map(|f| unsafe { f(i, p.as_ptr()) })
        })
        .await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let f = self.inner.vt().fs_rename;
        let to = cstring(to)?;
        self.str_call("rename", from, move |i, p| {
            // SAFETY: a live instance (str_call holds its lock) and NUL-terminated strings.
            f.map(|f| unsafe { f(i, p.as_ptr(), to.as_ptr()) })
        })
        .await
    }

    async fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        let f = self.inner.vt().fs_chmod;
        self.str_call("chmod", path, move |i, p| {
            // SAFETY: a live instance (str_call holds its lock) and NUL-terminated strings.
            f.map(|f| unsafe { f(i, p.as_ptr(), mode) })
        })
        .await
    }

    async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        let f = self.inner.vt().truncate;
        check_size(path, size, MAX_FILE_SIZE)?;
        let size = size as i64;
        self.str_call("truncate", path, move |i, p| {
            // SAFETY: a live instance (str_call holds its lock) and NUL-terminated strings.
            f.map(|f| unsafe { f(i, p.as_ptr(), size) })
        })
        .await
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
                let inst = std::mem::replace(&mut guard.0, std::ptr::null_mut());
                if inst.is_null() {
                    return Ok(());
                }
                let err = inner.vt().plugin_shutdown.map(|f| {
                    // SAFETY: live instance, shut down exactly once (the pointer is nulled above).
                    let p = unsafe { f(inst) };
                    inner.take_error(inst, p)
                });
                if let Some(free) = inner.vt().plugin_free {
                    // SAFETY: freed exactly once, after shutdown; no call can reach it any more.
                    unsafe { free(inst) };
                }
                match err.flatten() {
                    None => Ok(()),
                    Some(msg) => Err(map_error_text(&msg)),
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
