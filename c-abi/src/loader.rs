//! Loading a plugin library: a private copy of the file is opened (so a rebuilt file at the same
//! path is new code), the ABI version is checked before any other symbol is used, every symbol is
//! probed once, and a throw-away instance tells the plugin's name and README.

use std::ffi::{CStr, c_char, c_void};
use std::path::{Path, PathBuf};

use fs_core::{Error, Result};

use crate::ffi::*;

/// Every symbol of the ABI, resolved once at load; `None` where the plugin lacks it.
#[derive(Debug, Clone, Copy)]
pub struct VTable {
    /// `PluginNew` (required).
    pub plugin_new: PluginNewFn,
    /// `PluginFree`.
    pub plugin_free: Option<PluginFreeFn>,
    /// `PluginName`.
    pub plugin_name: Option<StrFn>,
    /// `PluginValidate`.
    pub plugin_validate: Option<StrStrFn>,
    /// `PluginInitialize`.
    pub plugin_initialize: Option<StrStrFn>,
    /// `PluginShutdown`.
    pub plugin_shutdown: Option<StrFn>,
    /// `PluginGetReadme`.
    pub plugin_get_readme: Option<StrFn>,
    /// `FSCreate`.
    pub fs_create: Option<StrStrFn>,
    /// `FSMkdir`.
    pub fs_mkdir: Option<StrModeFn>,
    /// `FSRemove`.
    pub fs_remove: Option<StrStrFn>,
    /// `FSRemoveAll`.
    pub fs_remove_all: Option<StrStrFn>,
    /// `FSRead`.
    pub fs_read: Option<ReadFn>,
    /// `FSWrite`.
    pub fs_write: Option<WriteFn>,
    /// `FSReadDir`.
    pub fs_read_dir: Option<ReadDirFn>,
    /// `FSStat`.
    pub fs_stat: Option<StatFn>,
    /// `FSRename`.
    pub fs_rename: Option<RenameFn>,
    /// `FSChmod`.
    pub fs_chmod: Option<StrModeFn>,
    /// `PFSFree` (extension).
    pub free: Option<FreeFn>,
    /// `PFSTruncate` (extension).
    pub truncate: Option<TruncateFn>,
    /// `PFSNonBlocking` (extension, 1.2).
    pub non_blocking: Option<NonBlockingFn>,
}

/// A loaded plugin library. The code stays mapped while this value lives: every instance holds
/// an `Arc` of it.
#[derive(Debug)]
pub struct LoadedLibrary {
    /// The symbols.
    pub vt: VTable,
    /// The plugin's name (`PluginName`, or the file stem when absent).
    pub name: String,
    /// The plugin's README.
    pub readme: String,
    /// The path it was loaded from (canonical).
    pub path: PathBuf,
    /// The ABI version it declares, `(major, minor)`; `(1, 0)` without `PFSPluginABIVersion`.
    pub abi: (u32, u32),
    /// Whether `PFSNonBlocking` promised that no call blocks (then calls run in place).
    pub non_blocking: bool,
    // Declared last: dropped (dlclose) after everything else.
    _lib: libloading::Library,
}

fn load_error(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::invalid_argument(format!("cannot load plugin {}: {what}", path.display()))
}

/// Copies `path` to a private temporary file and opens that, so that loading a rebuilt library at
/// the same path maps the new code even while an old copy is still mapped.
///
/// The copy goes into a directory made for it alone (mkdtemp: an unpredictable name, mode 0700,
/// never one somebody else made) and is created with `O_EXCL`, so no planted file or link is
/// followed; both are removed once the library is mapped, which it stays after its file is gone.
fn open_private_copy(path: &Path) -> Result<libloading::Library> {
    let dir = tempfile::Builder::new()
        .prefix("pfs-plugin-")
        .tempdir()
        .map_err(|e| load_error(path, format!("cannot make a private directory: {e}")))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin");
    let copy = dir.path().join(format!("{stem}.so"));
    let copied = std::fs::File::open(path).and_then(|mut from| {
        let mut to = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&copy)?;
        std::io::copy(&mut from, &mut to)
    });
    copied.map_err(|e| load_error(path, format!("cannot copy to {}: {e}", copy.display())))?;
    #[cfg(unix)]
    let opened = {
        use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
        // SAFETY: loading a library runs its initializers; the operator chose to load this file
        // (config or an allowed directory), which is the trust decision dlopen requires.
        unsafe { Library::open(Some(&copy), RTLD_NOW | RTLD_LOCAL) }.map(libloading::Library::from)
    };
    #[cfg(not(unix))]
    // SAFETY: as above.
    let opened = unsafe { libloading::Library::new(&copy) };
    // The mapping outlives the file name: the directory and the copy go now.
    drop(dir);
    opened.map_err(|e| load_error(path, e))
}

/// Resolves an optional symbol.
fn optional<T: Copy>(lib: &libloading::Library, name: &str) -> Option<T> {
    // SAFETY: the type `T` is the signature the header declares for `name`; a plugin exporting a
    // different signature under that name breaks the ABI contract it claims.
    unsafe { lib.get::<T>(name.as_bytes()).ok().map(|s| *s) }
}

/// Copies a C string the plugin returned; `None` for NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for the duration of the call.
pub(crate) unsafe fn copy_str(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: the caller guarantees a valid NUL-terminated string.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

impl LoadedLibrary {
    /// Loads the plugin library at `path`.
    ///
    /// # Errors
    /// `InvalidArgument` naming the library and what failed: missing file, dlopen error, a newer ABI
    /// major (naming both versions), a missing `PluginNew`, or `PluginNew` returning NULL.
    pub fn load(path: &Path) -> Result<LoadedLibrary> {
        let path = path.canonicalize().map_err(|e| load_error(path, e))?;
        let lib = open_private_copy(&path)?;
        let abi = match optional::<AbiVersionFn>(&lib, "PFSPluginABIVersion") {
            None => (1, 0),
            Some(f) => {
                // SAFETY: PFSPluginABIVersion takes nothing and returns a plain integer.
                let v = unsafe { f() };
                (v >> 16, v & 0xffff)
            }
        };
        if abi.0 != ABI_MAJOR {
            return Err(load_error(
                &path,
                format!(
                    "plugin ABI {}.{}, host supports {ABI_MAJOR}.x (up to {ABI_MAJOR}.{ABI_MINOR})",
                    abi.0, abi.1
                ),
            ));
        }
        let plugin_new = optional::<PluginNewFn>(&lib, "PluginNew")
            .ok_or_else(|| load_error(&path, "missing required symbol PluginNew"))?;
        let vt = VTable {
            plugin_new,
            plugin_free: optional(&lib, "PluginFree"),
            plugin_name: optional(&lib, "PluginName"),
            plugin_validate: optional(&lib, "PluginValidate"),
            plugin_initialize: optional(&lib, "PluginInitialize"),
            plugin_shutdown: optional(&lib, "PluginShutdown"),
            plugin_get_readme: optional(&lib, "PluginGetReadme"),
            fs_create: optional(&lib, "FSCreate"),
            fs_mkdir: optional(&lib, "FSMkdir"),
            fs_remove: optional(&lib, "FSRemove"),
            fs_remove_all: optional(&lib, "FSRemoveAll"),
            fs_read: optional(&lib, "FSRead"),
            fs_write: optional(&lib, "FSWrite"),
            fs_read_dir: optional(&lib, "FSReadDir"),
            fs_stat: optional(&lib, "FSStat"),
            fs_rename: optional(&lib, "FSRename"),
            fs_chmod: optional(&lib, "FSChmod"),
            free: optional(&lib, "PFSFree"),
            truncate: optional(&lib, "PFSTruncate"),
            non_blocking: optional(&lib, "PFSNonBlocking"),
        };
        // A throw-away instance answers the name and the README.
        // SAFETY: PluginNew takes nothing and returns an instance pointer or NULL.
        let probe = unsafe { (vt.plugin_new)() };
        if probe.is_null() {
            return Err(load_error(&path, "PluginNew returned NULL"));
        }
        let take = |f: Option<StrFn>| -> Option<String> {
            let f = f?;
            // SAFETY: `probe` is a live instance; the result is a C string or NULL.
            let p = unsafe { f(probe) };
            // SAFETY: the ABI promises a NUL-terminated string or NULL.
            let s = unsafe { copy_str(p) };
            release(&vt, probe, p.cast_mut().cast(), FREE_BYTES);
            s
        };
        let name = take(vt.plugin_name).filter(|n| !n.is_empty());
        let readme = take(vt.plugin_get_readme).unwrap_or_default();
        if let Some(free) = vt.plugin_free {
            // SAFETY: `probe` came from PluginNew and is freed exactly once.
            unsafe { free(probe) };
        }
        let name = match name {
            Some(n) => n,
            None => path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("plugin")
                .to_string(),
        };
        // SAFETY: PFSNonBlocking takes nothing and returns an int.
        let non_blocking = vt.non_blocking.is_some_and(|f| unsafe { f() } != 0);
        Ok(LoadedLibrary {
            vt,
            name,
            readme,
            path,
            abi,
            non_blocking,
            _lib: lib,
        })
    }
}

/// Hands a pointer the plugin returned back to `PFSFree`, when the plugin has it (v1 plugins
/// never get their memory freed: the host cannot know how it was allocated).
pub(crate) fn release(vt: &VTable, instance: *mut c_void, ptr: *mut c_void, kind: u32) {
    if let (Some(free), false) = (vt.free, ptr.is_null()) {
        // SAFETY: `ptr` was returned by this instance and is released exactly once, as PFSFree's
        // contract in the header requires.
        unsafe { free(instance, ptr, kind) };
    }
}
