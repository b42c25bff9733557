//! The work behind [`export_plugin!`](crate::export_plugin): one function per C symbol, generic
//! over the plugin type, so the macro stays a list of symbols. Not a public API.
//!
//! Memory: every pointer returned to the host is allocated here and released by [`free`]:
//! - `PFS_FREE_BYTES` (strings, error texts, `FSRead` data, amended configs): one boxed `[u8]`
//!   holding the length (a native-endian `usize`), the bytes and a NUL; the host gets a pointer
//!   past the length. The length is stored because `PFSFree` gets no length and read data may
//!   contain NUL bytes, so `CString::from_raw`'s `strlen` would free the wrong size;
//! - `PFS_FREE_FILEINFO`: a `Box<FileInfoC>` whose strings are `PFS_FREE_BYTES` allocations;
//! - `PFS_FREE_FILEINFO_ARRAY`: a `Box<FileInfoArray>` whose `Items` is a boxed slice of exactly
//!   `Count` `FileInfoC`s.
//!
//! Instances: `PluginNew` returns a `Box<Instance<T>>`. `pfs_plugin.h` promises that the host
//! serializes calls on one instance, which is what makes handing the plugin a `&mut T` sound; the
//! `busy` flag only turns a host that breaks the promise (AGFS, which has no lock) into an error
//! instead of two aliasing `&mut T`. It never waits.

use std::any::Any;
use std::cell::UnsafeCell;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::ops::{Deref, DerefMut};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

pub use c_abi::ffi::{FileInfoArray, FileInfoC};

use crate::{FileInfo, PluginError, PluginFs, WriteFlags};

// ---------------------------------------------------------------------------------------------
// Instances

/// What `PluginNew` returns: the plugin value and a flag set while a call runs on it.
struct Instance<T> {
    busy: AtomicBool,
    fs: UnsafeCell<T>,
}

/// Exclusive access to an instance's value; clears `busy` when dropped (also on unwinding).
struct Entered<'a, T> {
    inst: &'a Instance<T>,
}

impl<T> Instance<T> {
    fn enter(&self) -> Result<Entered<'_, T>, PluginError> {
        match self.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => Ok(Entered { inst: self }),
            Err(_) => Err(PluginError::Io(
                "concurrent call on one plugin instance (the host must serialize calls per instance)".into(),
            )),
        }
    }
}

impl<T> Deref for Entered<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `busy` was set by this guard and is cleared only when it drops, so no other
        // reference to the value exists while the guard lives.
        unsafe { &*self.inst.fs.get() }
    }
}

impl<T> DerefMut for Entered<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.inst.fs.get() }
    }
}

impl<T> Drop for Entered<'_, T> {
    fn drop(&mut self) {
        self.inst.busy.store(false, Ordering::Release);
    }
}

/// Enters the instance behind `plugin`.
///
/// # Safety
/// `plugin` is NULL or a pointer returned by [`plugin_new`] for this `T` and not yet freed.
unsafe fn enter<'a, T>(plugin: *mut c_void) -> Result<Entered<'a, T>, PluginError> {
    if plugin.is_null() {
        return Err(PluginError::InvalidArgument.with_message("plugin instance is NULL"));
    }
    // SAFETY: a live `Instance<T>` per the caller; only shared references to it are made here
    // (the value inside is reached through the `busy` guard).
    let inst = unsafe { &*plugin.cast::<Instance<T>>() };
    inst.enter()
}

// ---------------------------------------------------------------------------------------------
// Arguments, panics

/// Borrows a host string argument (valid for the call).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for `'a`.
unsafe fn arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, PluginError> {
    if p.is_null() {
        return Err(PluginError::InvalidArgument.with_message(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| PluginError::InvalidArgument.with_message(format!("{what} is not UTF-8")))
}

/// Parses the config text of `PluginValidate` / `PluginInitialize`.
///
/// # Safety
/// As [`arg`].
unsafe fn config(p: *const c_char) -> Result<serde_json::Value, PluginError> {
    // SAFETY: forwarded from the caller.
    unsafe { json_arg(p, "config_json") }
}

/// Parses a JSON text argument named `what` (in the error).
///
/// # Safety
/// As [`arg`].
unsafe fn json_arg(p: *const c_char, what: &str) -> Result<serde_json::Value, PluginError> {
    // SAFETY: forwarded from the caller.
    let text = unsafe { arg(p, what) }?;
    serde_json::from_str(text).map_err(|e| {
        PluginError::InvalidArgument.with_message(format!("{what} is not valid JSON: {e}"))
    })
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// Runs `f`, turning a panic into `EIO: plugin panicked: <msg>`.
fn catch<R>(f: impl FnOnce() -> Result<R, PluginError>) -> Result<R, PluginError> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let err = PluginError::panicked(panic_message(&*payload));
            // A payload whose destructor panics must not unwind into the host either.
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
            Err(err)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Allocation

const LEN: usize = size_of::<usize>();

#[cfg(test)]
thread_local! {
    /// Allocations handed out minus allocations freed, on this thread (tests check it returns to 0).
    pub(crate) static LIVE: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

#[inline]
fn track(_delta: isize) {
    #[cfg(test)]
    LIVE.with(|l| l.set(l.get() + _delta));
}

/// Copies `bytes` into a `PFS_FREE_BYTES` allocation (NUL-terminated, length stored in front).
fn alloc_bytes(bytes: &[u8]) -> *mut c_char {
    let mut buf = Vec::with_capacity(LEN + bytes.len() + 1);
    buf.extend_from_slice(&bytes.len().to_ne_bytes());
    buf.extend_from_slice(bytes);
    buf.push(0);
    let raw: *mut [u8] = Box::into_raw(buf.into_boxed_slice());
    track(1);
    // SAFETY: the allocation is `LEN + len + 1` bytes long, so `LEN` is in bounds.
    unsafe { raw.cast::<u8>().add(LEN) }.cast()
}

/// Copies a text into a `PFS_FREE_BYTES` allocation. A NUL inside ends it for the host.
fn alloc_str(s: &str) -> *mut c_char {
    alloc_bytes(s.as_bytes())
}

/// Like [`alloc_str`], but NULL for "" (the optional `Meta*` fields).
fn alloc_opt_str(s: &str) -> *const c_char {
    if s.is_empty() {
        ptr::null()
    } else {
        alloc_str(s)
    }
}

/// Releases a [`alloc_bytes`] allocation.
///
/// # Safety
/// `p` came from [`alloc_bytes`] and is released once.
unsafe fn free_bytes(p: *mut c_char) {
    // SAFETY: `p` is `LEN` bytes past the start of its allocation (see `alloc_bytes`).
    let base = unsafe { p.cast::<u8>().sub(LEN) };
    // SAFETY: the first `LEN` bytes hold the length; `u8` alignment, hence the unaligned read.
    let len = usize::from_ne_bytes(unsafe { ptr::read_unaligned(base.cast::<[u8; LEN]>()) });
    // SAFETY: `base` and this length are exactly the boxed slice `alloc_bytes` leaked.
    drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(base, LEN + len + 1)) });
    track(-1);
}

/// Frees a `FileInfoC` string field (NULL allowed).
///
/// # Safety
/// `p` is NULL or came from [`alloc_bytes`] and is released once.
unsafe fn free_field(p: *const c_char) {
    if !p.is_null() {
        // SAFETY: forwarded from the caller.
        unsafe { free_bytes(p.cast_mut()) };
    }
}

/// Builds the `FileInfoC` of `info`; its strings are `PFS_FREE_BYTES` allocations.
fn info_to_c(info: &FileInfo) -> FileInfoC {
    let content = if info.meta_content.is_empty() {
        ptr::null()
    } else {
        // A map of strings always serializes; "{}" keeps the field valid JSON regardless.
        alloc_str(&serde_json::to_string(&info.meta_content).unwrap_or_else(|_| "{}".into()))
    };
    FileInfoC {
        name: alloc_str(&info.name),
        size: i64::try_from(info.size).unwrap_or(i64::MAX),
        mode: info.mode,
        mod_time: info.mod_time_unix(),
        is_dir: i32::from(info.is_dir),
        meta_name: alloc_opt_str(&info.meta_name),
        meta_type: alloc_opt_str(&info.meta_type),
        meta_content: content,
    }
}

/// Frees the strings of a `FileInfoC` built by [`info_to_c`].
///
/// # Safety
/// `c` was built by [`info_to_c`] and its strings are released once.
unsafe fn free_info_fields(c: &FileInfoC) {
    // SAFETY: every field is NULL or an `alloc_bytes` allocation owned by `c`.
    unsafe {
        free_field(c.name);
        free_field(c.meta_name);
        free_field(c.meta_type);
        free_field(c.meta_content);
    }
}

/// Returns the error text of `r`: NULL on success.
fn text(r: Result<(), PluginError>) -> *const c_char {
    match r {
        Ok(()) => ptr::null(),
        Err(e) => alloc_str(&e.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

/// `PluginNew`: a boxed `T::default()`; NULL when it panics.
pub fn plugin_new<T: PluginFs>() -> *mut c_void {
    catch(|| {
        let inst = Box::new(Instance {
            busy: AtomicBool::new(false),
            fs: UnsafeCell::new(T::default()),
        });
        Ok(Box::into_raw(inst).cast())
    })
    .unwrap_or(ptr::null_mut())
}

/// `PluginFree`: drops the instance (NULL is ignored).
///
/// # Safety
/// `plugin` is NULL or came from [`plugin_new`] for this `T`, is freed once, and no call on it
/// runs or follows.
pub unsafe fn plugin_free<T: PluginFs>(plugin: *mut c_void) {
    if plugin.is_null() {
        return;
    }
    let _ = catch(|| {
        // SAFETY: the box `plugin_new` leaked, released once per the caller.
        drop(unsafe { Box::from_raw(plugin.cast::<Instance<T>>()) });
        Ok(())
    });
}

/// `PluginName`: `T::NAME`.
pub fn plugin_name<T: PluginFs>() -> *const c_char {
    alloc_str(T::NAME)
}

/// `PluginGetReadme`: `T::readme()`, NULL when empty.
pub fn plugin_readme<T: PluginFs>() -> *const c_char {
    catch(|| Ok(alloc_opt_str(T::readme()))).unwrap_or_else(|e| alloc_str(&e.to_string()))
}

/// `PluginValidate`.
///
/// # Safety
/// `plugin` as in [`plugin_free`] (not freed); `config_json` NULL or a NUL-terminated string.
pub unsafe fn plugin_validate<T: PluginFs>(
    plugin: *mut c_void,
    config_json: *const c_char,
) -> *const c_char {
    text(catch(|| {
        // SAFETY: forwarded from the caller.
        let (fs, config) = unsafe { (enter::<T>(plugin)?, config(config_json)?) };
        fs.validate(&config)
    }))
}

/// `PluginInitialize`.
///
/// # Safety
/// As [`plugin_validate`].
pub unsafe fn plugin_initialize<T: PluginFs>(
    plugin: *mut c_void,
    config_json: *const c_char,
) -> *const c_char {
    text(catch(|| {
        // SAFETY: forwarded from the caller.
        let (mut fs, config) = unsafe { (enter::<T>(plugin)?, config(config_json)?) };
        fs.initialize(&config)
    }))
}

/// `PluginShutdown`.
///
/// # Safety
/// `plugin` as in [`plugin_validate`].
pub unsafe fn plugin_shutdown<T: PluginFs>(plugin: *mut c_void) -> *const c_char {
    // SAFETY: forwarded from the caller.
    text(catch(|| unsafe { enter::<T>(plugin) }?.shutdown()))
}

// ---------------------------------------------------------------------------------------------
// Filesystem

/// Runs a `const char* f(plugin, path)`-shaped operation.
///
/// # Safety
/// `plugin` as in [`plugin_validate`]; `path` NULL or a NUL-terminated string.
unsafe fn path_op<T: PluginFs>(
    plugin: *mut c_void,
    path: *const c_char,
    op: impl FnOnce(&mut T, &str) -> Result<(), PluginError>,
) -> *const c_char {
    text(catch(|| {
        // SAFETY: forwarded from the caller.
        let (mut fs, path) = unsafe { (enter::<T>(plugin)?, arg(path, "path")?) };
        op(&mut fs, path)
    }))
}

/// `FSCreate`.
///
/// # Safety
/// `plugin` as in [`plugin_validate`]; `path` NULL or a NUL-terminated string.
pub unsafe fn fs_create<T: PluginFs>(plugin: *mut c_void, path: *const c_char) -> *const c_char {
    // SAFETY: forwarded from the caller.
    unsafe { path_op::<T>(plugin, path, |fs, p| fs.create(p)) }
}

/// `FSMkdir`.
///
/// # Safety
/// As [`fs_create`].
pub unsafe fn fs_mkdir<T: PluginFs>(
    plugin: *mut c_void,
    path: *const c_char,
    mode: u32,
) -> *const c_char {
    // SAFETY: forwarded from the caller.
    unsafe { path_op::<T>(plugin, path, |fs, p| fs.mkdir(p, mode)) }
}

/// `FSRemove`.
///
/// # Safety
/// As [`fs_create`].
pub unsafe fn fs_remove<T: PluginFs>(plugin: *mut c_void, path: *const c_char) -> *const c_char {
    // SAFETY: forwarded from the caller.
    unsafe { path_op::<T>(plugin, path, |fs, p| fs.remove(p)) }
}

/// `FSRemoveAll`.
///
/// # Safety
/// As [`fs_create`].
pub unsafe fn fs_remove_all<T: PluginFs>(
    plugin: *mut c_void,
    path: *const c_char,
) -> *const c_char {
    // SAFETY: forwarded from the caller.
    unsafe { path_op::<T>(plugin, path, |fs, p| fs.remove_all(p)) }
}

/// `FSChmod`.
///
/// # Safety
/// As [`fs_create`].
pub unsafe fn fs_chmod<T: PluginFs>(
    plugin: *mut c_void,
    path: *const c_char,
    mode: u32,
) -> *const c_char {
    // SAFETY: forwarded from the caller.
    unsafe { path_op::<T>(plugin, path, |fs, p| fs.chmod(p, mode)) }
}

/// `PFSTruncate`: a negative size is `EINVAL`.
///
/// # Safety
/// As [`fs_create`].
pub unsafe fn fs_truncate<T: PluginFs>(
    plugin: *mut c_void,
    path: *const c_char,
    size: i64,
) -> *const c_char {
    // SAFETY: forwarded from the caller.
    unsafe {
        path_op::<T>(plugin, path, |fs, p| {
            let size = u64::try_from(size)
                .map_err(|_| PluginError::InvalidArgument.with_message("negative size"))?;
            fs.truncate(p, size)
        })
    }
}

/// `FSRename`.
///
/// # Safety
/// As [`fs_create`], for both paths.
pub unsafe fn fs_rename<T: PluginFs>(
    plugin: *mut c_void,
    old_path: *const c_char,
    new_path: *const c_char,
) -> *const c_char {
    text(catch(|| {
        // SAFETY: forwarded from the caller.
        let (mut fs, old, new) = unsafe {
            (
                enter::<T>(plugin)?,
                arg(old_path, "old_path")?,
                arg(new_path, "new_path")?,
            )
        };
        fs.rename(old, new)
    }))
}

/// `FSRead`: the data (NULL when empty) and its length in `*out_len`, or `*out_len = -1` and an
/// error text. With `out_len` NULL nothing can be reported: NULL, and the plugin is not called.
///
/// # Safety
/// As [`fs_create`]; `out_len` NULL or valid for one `int` write.
pub unsafe fn fs_read<T: PluginFs>(
    plugin: *mut c_void,
    path: *const c_char,
    offset: i64,
    size: i64,
    out_len: *mut c_int,
) -> *const c_char {
    if out_len.is_null() {
        return ptr::null();
    }
    let result = catch(|| {
        // SAFETY: forwarded from the caller.
        let (fs, path) = unsafe { (enter::<T>(plugin)?, arg(path, "path")?) };
        let offset = u64::try_from(offset)
            .map_err(|_| PluginError::InvalidArgument.with_message("negative offset"))?;
        let size = u64::try_from(size).ok();
        let mut data = fs.read(path, offset, size)?;
        drop(fs);
        if let Some(size) = size.and_then(|s| usize::try_from(s).ok()) {
            data.truncate(size); // never hand back more than asked for
        }
        let len = c_int::try_from(data.len()).map_err(|_| {
            PluginError::InvalidArgument
                .with_message("read larger than the plugin ABI allows (2 GiB); read in ranges")
        })?;
        Ok(if len == 0 {
            (0, ptr::null())
        } else {
            (len, alloc_bytes(&data).cast_const())
        })
    });
    let (len, out) = result.unwrap_or_else(|e| (-1, alloc_str(&e.to_string())));
    // SAFETY: non-NULL and valid for a write per the caller.
    unsafe { out_len.write(len) };
    out
}

/// `FSWrite`: the bytes written, or `-errno`.
///
/// # Safety
/// As [`fs_create`]; `data` valid for `data_len` bytes (NULL allowed when `data_len` is 0).
pub unsafe fn fs_write<T: PluginFs>(
    plugin: *mut c_void,
    path: *const c_char,
    data: *const c_char,
    data_len: c_int,
    offset: i64,
    flags: u32,
) -> i64 {
    catch(|| {
        // SAFETY: forwarded from the caller.
        let (mut fs, path) = unsafe { (enter::<T>(plugin)?, arg(path, "path")?) };
        let data: &[u8] = match (data.is_null(), usize::try_from(data_len)) {
            (_, Err(_)) => return Err(PluginError::InvalidArgument),
            (true, Ok(0)) => &[],
            (true, Ok(_)) => return Err(PluginError::InvalidArgument),
            // SAFETY: `data_len` readable bytes at `data`, valid for the call, per the caller.
            (false, Ok(n)) => unsafe { std::slice::from_raw_parts(data.cast::<u8>(), n) },
        };
        let n = fs.write(
            path,
            data,
            u64::try_from(offset).ok(),
            WriteFlags::from_bits(flags),
        )?;
        Ok(i64::try_from(n).unwrap_or(i64::MAX))
    })
    .unwrap_or_else(|e| -i64::from(e.errno()))
}

/// `FSReadDir`: the entries (NULL when there are none) and their number in `*out_count`, or
/// `*out_count = -1` and NULL (v1 cannot carry the reason). With `out_count` NULL: NULL, and the
/// plugin is not called.
///
/// # Safety
/// As [`fs_create`]; `out_count` NULL or valid for one `int` write.
pub unsafe fn fs_read_dir<T: PluginFs>(
    plugin: *mut c_void,
    path: *const c_char,
    out_count: *mut c_int,
) -> *mut FileInfoArray {
    if out_count.is_null() {
        return ptr::null_mut();
    }
    let result = catch(|| {
        // SAFETY: forwarded from the caller.
        let (fs, path) = unsafe { (enter::<T>(plugin)?, arg(path, "path")?) };
        let entries = fs.read_dir(path)?;
        drop(fs);
        let count = c_int::try_from(entries.len()).map_err(|_| {
            PluginError::InvalidArgument.with_message("too many entries for the plugin ABI")
        })?;
        if count == 0 {
            return Ok((0, ptr::null_mut()));
        }
        let items: Box<[FileInfoC]> = entries.iter().map(info_to_c).collect();
        let items = Box::into_raw(items).cast::<FileInfoC>();
        track(2);
        Ok((
            count,
            Box::into_raw(Box::new(FileInfoArray { items, count })),
        ))
    });
    let (count, out) = result.unwrap_or((-1, ptr::null_mut()));
    // SAFETY: non-NULL and valid for a write per the caller.
    unsafe { out_count.write(count) };
    out
}

/// `FSStat`: the metadata, or NULL on any error (v1 reads NULL as "not found").
///
/// # Safety
/// As [`fs_create`].
pub unsafe fn fs_stat<T: PluginFs>(plugin: *mut c_void, path: *const c_char) -> *mut FileInfoC {
    catch(|| {
        // SAFETY: forwarded from the caller.
        let (fs, path) = unsafe { (enter::<T>(plugin)?, arg(path, "path")?) };
        let info = fs.stat(path)?;
        drop(fs);
        track(1);
        Ok(Box::into_raw(Box::new(info_to_c(&info))))
    })
    .unwrap_or(ptr::null_mut())
}

// ---------------------------------------------------------------------------------------------
// Extensions: in `extensions.rs`

mod extensions;
pub use extensions::{abi_version, free, plugin_reconfigure};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enter_twice_fails_until_the_first_guard_drops() {
        let inst = Instance {
            busy: AtomicBool::new(false),
            fs: UnsafeCell::new(1_u32),
        };
        let mut first = inst.enter().unwrap();
        *first += 1;
        let second = inst.enter().err().unwrap();
        assert_eq!(second.errno_name(), "EIO");
        assert!(second.message().contains("concurrent call"));
        drop(first);
        assert_eq!(*inst.enter().unwrap(), 2);
    }

    #[test]
    fn bytes_keep_their_length_across_nul() {
        let p = alloc_bytes(b"a\0b");
        // SAFETY: 4 bytes (3 and the NUL) were allocated at `p`; released once.
        unsafe {
            assert_eq!(std::slice::from_raw_parts(p.cast::<u8>(), 4), b"a\0b\0");
            free_bytes(p);
        }
        assert_eq!(LIVE.with(|l| l.get()), 0);
    }
}
