//! The one place c-abi calls plugin code.
//!
//! - [`VTable`] owns a library's mapping together with the symbols resolved from it, so a function
//!   pointer can never outlive its code; the pointers are private, reached only through safe
//!   methods, each `unsafe` block naming the contract of `pfs_plugin.h` it relies on.
//! - [`Instance`] is one `PluginNew` instance: it holds an `Arc` of its vtable, runs the ABI's calls
//!   as safe methods, and is freed by `PluginFree` when dropped (exactly once, after which nothing
//!   can reach it).
//! - [`Allocation`] is a pointer an instance returned, handed back to `PFSFree` when dropped, so
//!   every path (errors and panics included) releases it once; the methods copy what the plugin
//!   returned into Rust values before that.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::ffi::*;

/// An optional symbol of the ABI, as [`LoadedLibrary::has`](crate::LoadedLibrary::has) asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Symbol {
    /// `PluginFree`.
    PluginFree,
    /// `PluginName`.
    PluginName,
    /// `PluginValidate`.
    PluginValidate,
    /// `PluginInitialize`.
    PluginInitialize,
    /// `PluginShutdown`.
    PluginShutdown,
    /// `PluginGetReadme`.
    PluginGetReadme,
    /// `FSCreate`.
    FsCreate,
    /// `FSMkdir`.
    FsMkdir,
    /// `FSRemove`.
    FsRemove,
    /// `FSRemoveAll`.
    FsRemoveAll,
    /// `FSRead`.
    FsRead,
    /// `FSWrite`.
    FsWrite,
    /// `FSReadDir`.
    FsReadDir,
    /// `FSStat`.
    FsStat,
    /// `FSRename`.
    FsRename,
    /// `FSChmod`.
    FsChmod,
    /// `PFSFree` (extension).
    PfsFree,
    /// `PFSTruncate` (extension).
    PfsTruncate,
    /// `PFSNonBlocking` (extension, 1.2).
    PfsNonBlocking,
    /// `PFSReconfigure` (extension, 1.3).
    PfsReconfigure,
}

/// Every symbol of a library, resolved once at load (`None` where the plugin lacks it), and the
/// library they point into.
#[derive(Debug)]
pub(crate) struct VTable {
    plugin_new: PluginNewFn,
    plugin_free: Option<PluginFreeFn>,
    plugin_name: Option<StrFn>,
    plugin_validate: Option<StrStrFn>,
    plugin_initialize: Option<StrStrFn>,
    plugin_shutdown: Option<StrFn>,
    plugin_get_readme: Option<StrFn>,
    fs_create: Option<StrStrFn>,
    fs_mkdir: Option<StrModeFn>,
    fs_remove: Option<StrStrFn>,
    fs_remove_all: Option<StrStrFn>,
    fs_read: Option<ReadFn>,
    fs_write: Option<WriteFn>,
    fs_read_dir: Option<ReadDirFn>,
    fs_stat: Option<StatFn>,
    fs_rename: Option<RenameFn>,
    fs_chmod: Option<StrModeFn>,
    free: Option<FreeFn>,
    truncate: Option<TruncateFn>,
    non_blocking: Option<NonBlockingFn>,
    reconfigure: Option<ReconfigureFn>,
    // Declared last: dropped (dlclose) after the pointers into it.
    _lib: libloading::Library,
}

/// Resolves an optional symbol.
fn optional<T: Copy>(lib: &libloading::Library, name: &str) -> Option<T> {
    // SAFETY: every caller names `T` as the signature the header declares for `name`; a plugin
    // exporting a different signature under that name breaks the ABI contract it claims. The
    // pointer copied out stays valid as long as `lib` is mapped: the `VTable` it goes into owns
    // `lib`.
    unsafe { lib.get::<T>(name.as_bytes()).ok().map(|s| *s) }
}

impl VTable {
    /// Maps the library file at `path` (`RTLD_NOW | RTLD_LOCAL` on Unix), running its initializers.
    pub(crate) fn open(path: &Path) -> Result<libloading::Library, libloading::Error> {
        #[cfg(unix)]
        let opened = {
            use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
            // SAFETY: loading a library runs its initializers; the operator chose to load this
            // file (config or an allowed directory), which is the trust decision dlopen requires.
            unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }
                .map(libloading::Library::from)
        };
        #[cfg(not(unix))]
        // SAFETY: as above.
        let opened = unsafe { libloading::Library::new(path) };
        opened
    }

    /// The ABI version `lib` declares, `(major, minor)`; `(1, 0)` without `PFSPluginABIVersion`.
    /// Asked before any other symbol is resolved: the others are only meaningful for a major
    /// this host implements.
    pub(crate) fn abi_version(lib: &libloading::Library) -> (u32, u32) {
        match optional::<AbiVersionFn>(lib, "PFSPluginABIVersion") {
            None => (1, 0),
            Some(f) => {
                // SAFETY: PFSPluginABIVersion takes nothing and returns a plain integer; `lib`
                // is borrowed, so mapped, for the call.
                let v = unsafe { f() };
                (v >> 16, v & 0xffff)
            }
        }
    }

    /// Resolves every symbol of `lib`, which the vtable then owns; `None` (and `lib` closed)
    /// without `PluginNew`.
    pub(crate) fn resolve(lib: libloading::Library) -> Option<VTable> {
        Some(VTable {
            plugin_new: optional(&lib, "PluginNew")?,
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
            reconfigure: optional(&lib, "PFSReconfigure"),
            _lib: lib,
        })
    }

    /// Whether the plugin exports `symbol`.
    pub(crate) fn has(&self, symbol: Symbol) -> bool {
        match symbol {
            Symbol::PluginFree => self.plugin_free.is_some(),
            Symbol::PluginName => self.plugin_name.is_some(),
            Symbol::PluginValidate => self.plugin_validate.is_some(),
            Symbol::PluginInitialize => self.plugin_initialize.is_some(),
            Symbol::PluginShutdown => self.plugin_shutdown.is_some(),
            Symbol::PluginGetReadme => self.plugin_get_readme.is_some(),
            Symbol::FsCreate => self.fs_create.is_some(),
            Symbol::FsMkdir => self.fs_mkdir.is_some(),
            Symbol::FsRemove => self.fs_remove.is_some(),
            Symbol::FsRemoveAll => self.fs_remove_all.is_some(),
            Symbol::FsRead => self.fs_read.is_some(),
            Symbol::FsWrite => self.fs_write.is_some(),
            Symbol::FsReadDir => self.fs_read_dir.is_some(),
            Symbol::FsStat => self.fs_stat.is_some(),
            Symbol::FsRename => self.fs_rename.is_some(),
            Symbol::FsChmod => self.fs_chmod.is_some(),
            Symbol::PfsFree => self.free.is_some(),
            Symbol::PfsTruncate => self.truncate.is_some(),
            Symbol::PfsNonBlocking => self.non_blocking.is_some(),
            Symbol::PfsReconfigure => self.reconfigure.is_some(),
        }
    }

    /// Whether `PFSNonBlocking` promises that no call blocks.
    pub(crate) fn non_blocking(&self) -> bool {
        // SAFETY: PFSNonBlocking takes nothing and returns an int; `self` owns the mapping.
        self.non_blocking.is_some_and(|f| unsafe { f() } != 0)
    }
}

/// One instance of a plugin (`PluginNew`), freed by `PluginFree` when dropped.
///
/// `Send` but not `Sync`: the instance may move between threads, but its calls (all through
/// `&self` or `self`) are made by one thread at a time, one after the other — the host's threading
/// promise in the header.
#[derive(Debug)]
pub(crate) struct Instance {
    /// Keeps the code mapped while the instance lives.
    vt: Arc<VTable>,
    /// Never NULL.
    ptr: *mut c_void,
}

// SAFETY: the pointer is only dereferenced by the plugin, one call at a time: `Instance` is not
// `Sync`, so only the thread that holds it can call it. The header allows successive calls on one
// instance from different threads.
unsafe impl Send for Instance {}

/// What an error-text call answered: `Err` with the plugin's text, unless it was NULL or empty.
pub(crate) type Outcome = Result<(), String>;

/// What `PFSReconfigure` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reconfig {
    /// NULL (or "") and no amended config.
    Accepted,
    /// NULL (or "") and this amended config, the bytes as the plugin returned them: whether they
    /// are UTF-8 and a JSON object is the caller's to check.
    Amended(Vec<u8>),
    /// An error text (an amended config set as well was released unread).
    Rejected(String),
}

impl Instance {
    /// Makes an instance with `PluginNew`; `None` when it returns NULL.
    pub(crate) fn new(vt: Arc<VTable>) -> Option<Instance> {
        // SAFETY: PluginNew takes nothing and returns an instance pointer or NULL; `vt` keeps the
        // code mapped.
        let ptr = unsafe { (vt.plugin_new)() };
        (!ptr.is_null()).then_some(Instance { vt, ptr })
    }

    /// Takes ownership of a pointer this instance returned, to release it as `kind` on drop.
    fn own(&self, ptr: *const c_void, kind: u32) -> Allocation<'_> {
        Allocation {
            instance: self,
            ptr: ptr.cast_mut(),
            kind,
        }
    }

    /// Copies and releases a string result; `None` for NULL.
    fn take_str(&self, p: *const c_char) -> Option<String> {
        let _owned = self.own(p.cast(), FREE_BYTES);
        // SAFETY: the ABI returns NULL or a NUL-terminated string, valid until released.
        unsafe { copy_str(p) }
    }

    /// Copies and releases an error text: NULL or "" is success.
    fn take_error(&self, p: *const c_char) -> Outcome {
        match self.take_str(p) {
            Some(text) if !text.is_empty() => Err(text),
            _ => Ok(()),
        }
    }

    /// Calls a `const char* f(instance)` symbol and copies its string; `None` when absent or NULL.
    fn str_of(&self, f: Option<StrFn>) -> Option<String> {
        // SAFETY: a live instance (owned by `self`); the result is NULL or a C string.
        let p = unsafe { f?(self.ptr) };
        self.take_str(p)
    }

    /// `PluginName`: `None` when absent or NULL.
    pub(crate) fn name(&self) -> Option<String> {
        self.str_of(self.vt.plugin_name)
    }

    /// `PluginGetReadme`: `None` when absent or NULL.
    pub(crate) fn readme(&self) -> Option<String> {
        self.str_of(self.vt.plugin_get_readme)
    }

    /// Calls a `const char* f(instance, const char*)` symbol; `None` when absent.
    fn str_call(&self, f: Option<StrStrFn>, arg: &CStr) -> Option<Outcome> {
        // SAFETY: a live instance, a NUL-terminated argument that outlives the call; the result
        // is NULL or a C string.
        let p = unsafe { f?(self.ptr, arg.as_ptr()) };
        Some(self.take_error(p))
    }

    /// Calls a `const char* f(instance, const char*, uint32_t)` symbol; `None` when absent.
    fn mode_call(&self, f: Option<StrModeFn>, path: &CStr, mode: u32) -> Option<Outcome> {
        // SAFETY: as in `str_call`, plus a plain integer.
        let p = unsafe { f?(self.ptr, path.as_ptr(), mode) };
        Some(self.take_error(p))
    }

    /// `PluginValidate` with the config's JSON; `None` when absent.
    pub(crate) fn validate(&self, config: &CStr) -> Option<Outcome> {
        self.str_call(self.vt.plugin_validate, config)
    }

    /// `PluginInitialize` with the config's JSON; `None` when absent.
    pub(crate) fn initialize(&self, config: &CStr) -> Option<Outcome> {
        self.str_call(self.vt.plugin_initialize, config)
    }

    /// `PluginShutdown` (`None` when absent), then `PluginFree`: the instance is gone either way.
    pub(crate) fn shutdown(self) -> Option<Outcome> {
        let f = self.vt.plugin_shutdown?;
        // SAFETY: a live instance, shut down exactly once (`self` is consumed, then freed).
        let p = unsafe { f(self.ptr) };
        Some(self.take_error(p))
    }

    /// `FSCreate`; `None` when absent.
    pub(crate) fn create(&self, path: &CStr) -> Option<Outcome> {
        self.str_call(self.vt.fs_create, path)
    }

    /// `FSMkdir`; `None` when absent.
    pub(crate) fn mkdir(&self, path: &CStr, mode: u32) -> Option<Outcome> {
        self.mode_call(self.vt.fs_mkdir, path, mode)
    }

    /// `FSRemove`; `None` when absent.
    pub(crate) fn remove(&self, path: &CStr) -> Option<Outcome> {
        self.str_call(self.vt.fs_remove, path)
    }

    /// `FSRemoveAll`; `None` when absent.
    pub(crate) fn remove_all(&self, path: &CStr) -> Option<Outcome> {
        self.str_call(self.vt.fs_remove_all, path)
    }

    /// `FSChmod`; `None` when absent.
    pub(crate) fn chmod(&self, path: &CStr, mode: u32) -> Option<Outcome> {
        self.mode_call(self.vt.fs_chmod, path, mode)
    }

    /// `FSRename`; `None` when absent.
    pub(crate) fn rename(&self, from: &CStr, to: &CStr) -> Option<Outcome> {
        let f = self.vt.fs_rename?;
        // SAFETY: a live instance, two NUL-terminated paths; the result is NULL or a C string.
        let p = unsafe { f(self.ptr, from.as_ptr(), to.as_ptr()) };
        Some(self.take_error(p))
    }

    /// `PFSTruncate`; `None` when absent.
    pub(crate) fn truncate(&self, path: &CStr, size: i64) -> Option<Outcome> {
        let f = self.vt.truncate?;
        // SAFETY: a live instance, a NUL-terminated path; the result is NULL or a C string.
        let p = unsafe { f(self.ptr, path.as_ptr(), size) };
        Some(self.take_error(p))
    }

    /// `PFSReconfigure` from the config in force to `new` (both JSON object texts); `None` when
    /// absent.
    pub(crate) fn reconfigure(&self, old: &CStr, new: &CStr) -> Option<Reconfig> {
        let f = self.vt.reconfigure?;
        let mut amended: *const c_char = std::ptr::null();
        // SAFETY: a live instance, two NUL-terminated texts that outlive the call, and `amended`
        // a valid, NULL-initialized out-parameter for one pointer; the result is NULL or a C
        // string, and so is what the plugin leaves in `amended`.
        let p = unsafe { f(self.ptr, old.as_ptr(), new.as_ptr(), &mut amended) };
        // Both are owned from here: each goes back to PFSFree once, whatever the answer. The same
        // pointer in both places (a confused plugin) is an error text, released once.
        if amended == p {
            amended = std::ptr::null();
        }
        let _amended = self.own(amended.cast(), FREE_BYTES);
        // SAFETY: NULL or a NUL-terminated string, valid until `_amended` releases it.
        let amended = unsafe { copy_bytes(amended) };
        Some(match (self.take_error(p), amended) {
            (Err(reason), _) => Reconfig::Rejected(reason),
            (Ok(()), None) => Reconfig::Accepted,
            (Ok(()), Some(text)) => Reconfig::Amended(text),
        })
    }

    /// `FSStat`: `Some(None)` when the plugin returned NULL; `None` when absent.
    pub(crate) fn stat(&self, path: &CStr) -> Option<Option<PluginInfo>> {
        let f = self.vt.fs_stat?;
        // SAFETY: a live instance, a NUL-terminated path; the result is NULL or a FileInfoC.
        let p = unsafe { f(self.ptr, path.as_ptr()) };
        let _owned = self.own(p.cast(), FREE_FILEINFO);
        // SAFETY: NULL or a FileInfoC whose strings are NULL or NUL-terminated, valid until
        // `_owned` releases it at the end of this function.
        Some(unsafe { p.as_ref() }.map(|c| unsafe { PluginInfo::copy(c) }))
    }

    /// `FSReadDir`, each entry made a `T` by `each`: `Some(None)` when the plugin reported a
    /// failure (a negative count); `None` when absent.
    pub(crate) fn read_dir<T>(
        &self,
        path: &CStr,
        mut each: impl FnMut(PluginInfo) -> T,
    ) -> Option<Option<Vec<T>>> {
        let f = self.vt.fs_read_dir?;
        let mut count: c_int = 0;
        // SAFETY: a live instance, a NUL-terminated path, `count` a valid C int for the call.
        let arr = unsafe { f(self.ptr, path.as_ptr(), &mut count) };
        let _owned = self.own(arr.cast(), FREE_FILEINFO_ARRAY);
        let Ok(count) = usize::try_from(count) else {
            return Some(None);
        };
        let mut out = Vec::with_capacity(count);
        // SAFETY: NULL or an array valid until `_owned` releases it.
        if let Some(a) = unsafe { arr.as_ref() }.filter(|a| !a.items.is_null()) {
            for i in 0..count {
                // SAFETY: the ABI promises at least `count` valid FileInfoC items.
                out.push(each(unsafe { PluginInfo::copy(&*a.items.add(i)) }));
            }
        }
        Some(Some(out))
    }

    /// `FSRead`: the bytes, or (for a negative length) the error text if any; `None` when absent.
    pub(crate) fn read(
        &self,
        path: &CStr,
        offset: i64,
        size: i64,
    ) -> Option<Result<Bytes, Option<String>>> {
        let f = self.vt.fs_read?;
        let mut len: c_int = 0;
        // SAFETY: a live instance, a NUL-terminated path, `len` a valid C int for the call.
        let data = unsafe { f(self.ptr, path.as_ptr(), offset, size, &mut len) };
        let _owned = self.own(data.cast(), FREE_BYTES);
        Some(match usize::try_from(len) {
            // A negative length: the pointer, if any, is an error text.
            // SAFETY: the ABI returns NULL or a NUL-terminated string here.
            Err(_) => Err(unsafe { copy_str(data) }),
            Ok(0) => Ok(Bytes::new()),
            Ok(_) if data.is_null() => Ok(Bytes::new()),
            // SAFETY: the plugin promises `len` readable bytes at `data`, valid until released.
            Ok(len) => Ok(Bytes::copy_from_slice(unsafe {
                std::slice::from_raw_parts(data.cast::<u8>(), len)
            })),
        })
    }

    /// `FSWrite` of `data` (at most `c_int::MAX` bytes: the caller refuses longer writes; a longer
    /// slice would be a short write): the count written, or `-errno`. `None` when absent.
    pub(crate) fn write(&self, path: &CStr, data: &[u8], offset: i64, flags: u32) -> Option<i64> {
        let f = self.vt.fs_write?;
        let len = c_int::try_from(data.len()).unwrap_or(c_int::MAX);
        // SAFETY: a live instance, a NUL-terminated path, `len <= data.len()` readable bytes.
        Some(unsafe {
            f(
                self.ptr,
                path.as_ptr(),
                data.as_ptr().cast(),
                len,
                offset,
                flags,
            )
        })
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(free) = self.vt.plugin_free {
            // SAFETY: the instance came from PluginNew and is freed exactly once: no call can
            // reach it after its owner is dropped, and allocations borrow it, so they are gone.
            unsafe { free(self.ptr) };
        }
    }
}

/// A pointer an instance returned, handed back to `PFSFree` when dropped (when the plugin has it:
/// v1 plugins never get their memory freed, the host cannot know how it was allocated). It borrows
/// its instance, which therefore outlives it.
struct Allocation<'i> {
    instance: &'i Instance,
    ptr: *mut c_void,
    kind: u32,
}

impl Drop for Allocation<'_> {
    fn drop(&mut self) {
        if let (Some(free), false) = (self.instance.vt.free, self.ptr.is_null()) {
            // SAFETY: `ptr` was returned by this live instance as `kind` and is released exactly
            // once (only this value owns it), as PFSFree's contract in the header requires.
            unsafe { free(self.instance.ptr, self.ptr, self.kind) };
        }
    }
}

/// A `FileInfoC` copied out of plugin memory, its fields as the plugin gave them.
#[derive(Debug)]
pub(crate) struct PluginInfo {
    /// `name`.
    pub(crate) name: Option<String>,
    /// `size`.
    pub(crate) size: i64,
    /// `mode`.
    pub(crate) mode: u32,
    /// `mod_time`, Unix seconds.
    pub(crate) mod_time: i64,
    /// `is_dir != 0`.
    pub(crate) is_dir: bool,
    /// `meta_name`.
    pub(crate) meta_name: Option<String>,
    /// `meta_type`.
    pub(crate) meta_type: Option<String>,
    /// `meta_content`: JSON.
    pub(crate) meta_content: Option<String>,
}

impl PluginInfo {
    /// Copies `c`.
    ///
    /// # Safety
    /// Every string pointer of `c` is NULL or a valid NUL-terminated string.
    unsafe fn copy(c: &FileInfoC) -> PluginInfo {
        // SAFETY: forwarded from the caller.
        unsafe {
            PluginInfo {
                name: copy_str(c.name),
                size: c.size,
                mode: c.mode,
                mod_time: c.mod_time,
                is_dir: c.is_dir != 0,
                meta_name: copy_str(c.meta_name),
                meta_type: copy_str(c.meta_type),
                meta_content: copy_str(c.meta_content),
            }
        }
    }
}

/// Copies the bytes of a C string the plugin returned, as they are (not checked as UTF-8);
/// `None` for NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for the duration of the call.
unsafe fn copy_bytes(p: *const c_char) -> Option<Vec<u8>> {
    // SAFETY: the caller guarantees NULL or a valid NUL-terminated string.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes().to_vec())
}

/// Copies a C string the plugin returned; `None` for NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for the duration of the call.
unsafe fn copy_str(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: the caller guarantees a valid NUL-terminated string.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}
