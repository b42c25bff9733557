#![doc = include_str!("../README.md")]

pub mod error;
pub mod types;

#[doc(hidden)]
pub mod __private;

#[cfg(test)]
mod tests;

pub use error::PluginError;
pub use serde_json;
pub use types::{FileInfo, Reconfigured, WriteFlags};

/// A filesystem served by an external plugin: one value per mount.
///
/// The host creates a value with `Default` (`PluginNew`), then calls `validate` and `initialize`
/// with the mount's config, then the filesystem methods, then `shutdown`, then drops it
/// (`PluginFree`). Paths are relative to the mount point: `/` is its root, with no trailing slash,
/// `.` or `..`.
///
/// # Threading
/// The host serializes the calls it makes on one instance (`pfs_plugin.h`, "Threading"), so
/// methods get `&self` / `&mut self` without a lock of the plugin's own. Calls on different
/// instances (different mounts) may run at the same time on different threads, and successive
/// calls on one instance may come from different threads: hence `Send`. State shared between
/// instances (statics) needs the usual `Sync` types. A host breaking the rule (AGFS calls
/// concurrently) gets an `EIO` error on the overlapping call, never two live `&mut`.
///
/// # Errors
/// Every method reports failures as a [`PluginError`]; the host maps its errno to an HTTP status.
/// The mutations default to [`PluginError::Unsupported`] (HTTP 501): a read-only plugin
/// implements only `stat`, `read_dir` and `read`.
pub trait PluginFs: Default + Send + 'static {
    /// The plugin's name: the `fstype` of `POST /api/v1/mount` and of config mounts.
    const NAME: &'static str;

    /// Whether no method ever blocks (no I/O, no sleeping, no waiting on anything but short
    /// critical sections). `true` exports `PFSNonBlocking` = 1 and the host calls the plugin in
    /// place instead of on a thread of the instance's own (ABI 1.2). Default `false`.
    const NON_BLOCKING: bool = false;

    /// Returns the plugin's README (Markdown), shown by `GET /api/v1/plugins`.
    fn readme() -> &'static str {
        ""
    }

    /// Checks a mount's config (a JSON object, with `mount_path` added by the host) without
    /// applying it.
    ///
    /// # Errors
    /// Usually [`PluginError::InvalidArgument`] with a message: the mount is refused with 400.
    fn validate(&self, config: &serde_json::Value) -> Result<(), PluginError> {
        let _ = config;
        Ok(())
    }

    /// Applies the config and prepares to serve; runs once, after a successful `validate`.
    ///
    /// # Errors
    /// Any error refuses the mount (400); the value is dropped without `shutdown`.
    fn initialize(&mut self, config: &serde_json::Value) -> Result<(), PluginError> {
        let _ = config;
        Ok(())
    }

    /// Takes a new config on the mounted instance, in place (`PFSReconfigure`, ABI 1.3, for `POST
    /// /api/v1/mounts/config`). `old` is the config in force and `new` the one asked for, JSON
    /// objects with `mount_path` as `initialize` gets them; the host does not call `validate`
    /// first, so judge `new` here. Return [`Reconfigured::Accepted`] once `new` is applied, or
    /// [`Reconfigured::Amended`] with the whole config applied instead (say, a value clamped to a
    /// limit): the host stores and shows that one.
    ///
    /// # Errors
    /// Leave everything as it was and return why: [`PluginError::InvalidArgument`] rejects the
    /// config (400, the message names the reason), [`PluginError::Unsupported`] says the change
    /// cannot happen in place and sends the caller to a remount (a new instance, through
    /// `validate` and `initialize`). The default answers `Unsupported` for every change.
    fn reconfigure(
        &mut self,
        old: &serde_json::Value,
        new: &serde_json::Value,
    ) -> Result<Reconfigured, PluginError> {
        let _ = (old, new);
        Err(PluginError::Unsupported.with_message("this plugin cannot change its config in place"))
    }

    /// Releases what `initialize` acquired (unmount or server stop); the value is dropped next.
    ///
    /// # Errors
    /// Reported to whoever unmounted; the value is dropped anyway.
    fn shutdown(&mut self) -> Result<(), PluginError> {
        Ok(())
    }

    /// Returns the metadata of `path`.
    ///
    /// # Errors
    /// Any error crosses the ABI as "does not exist" (`FSStat` returns NULL → 404): the v1 ABI has
    /// no way to say more.
    fn stat(&self, path: &str) -> Result<FileInfo, PluginError>;

    /// Lists the directory at `path` (without `.` and `..`).
    ///
    /// # Errors
    /// The v1 ABI carries no error text here; the host stats `path` to tell `NotFound` from
    /// `NotADirectory`, anything else is a 500.
    fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>, PluginError>;

    /// Reads up to `size` bytes (to the end when `None`) from `offset`.
    ///
    /// # Behavior
    /// An offset at or past the end returns no bytes. Data may contain NUL bytes. One read
    /// returns at most 2 GiB − 1 (the ABI's length is a C `int`); more is refused with `EINVAL`.
    ///
    /// # Errors
    /// `NotFound`, `IsADirectory`, or whatever the backend reports.
    fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Vec<u8>, PluginError>;

    /// Writes `data` at `offset` (`None`: replace the content) and returns the bytes written.
    ///
    /// # Behavior
    /// `flags` are the `PFS_WRITE_*` bits; no flag with no offset means create and replace.
    ///
    /// # Errors
    /// Crosses the ABI as `-errno`, so only the kind reaches the host, not the message.
    fn write(
        &mut self,
        path: &str,
        data: &[u8],
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64, PluginError> {
        let _ = (path, data, offset, flags);
        Err(PluginError::Unsupported)
    }

    /// Creates an empty file.
    ///
    /// # Errors
    /// `Unsupported` unless implemented; typically `AlreadyExists`, `NotFound` (missing parent).
    fn create(&mut self, path: &str) -> Result<(), PluginError> {
        let _ = path;
        Err(PluginError::Unsupported)
    }

    /// Creates a directory with permission bits `mode`.
    ///
    /// # Errors
    /// `Unsupported` unless implemented; typically `AlreadyExists`, `NotFound` (missing parent).
    fn mkdir(&mut self, path: &str, mode: u32) -> Result<(), PluginError> {
        let _ = (path, mode);
        Err(PluginError::Unsupported)
    }

    /// Removes a file or an empty directory.
    ///
    /// # Errors
    /// `Unsupported` unless implemented; typically `NotFound`, `NotEmpty`.
    fn remove(&mut self, path: &str) -> Result<(), PluginError> {
        let _ = path;
        Err(PluginError::Unsupported)
    }

    /// Removes `path` and everything below it.
    ///
    /// # Errors
    /// `Unsupported` unless implemented; typically `NotFound`.
    fn remove_all(&mut self, path: &str) -> Result<(), PluginError> {
        let _ = path;
        Err(PluginError::Unsupported)
    }

    /// Moves `old_path` to `new_path` inside this plugin.
    ///
    /// # Errors
    /// `Unsupported` unless implemented; typically `NotFound`.
    fn rename(&mut self, old_path: &str, new_path: &str) -> Result<(), PluginError> {
        let _ = (old_path, new_path);
        Err(PluginError::Unsupported)
    }

    /// Sets the permission bits of `path`.
    ///
    /// # Errors
    /// `Unsupported` unless implemented; typically `NotFound`.
    fn chmod(&mut self, path: &str, mode: u32) -> Result<(), PluginError> {
        let _ = (path, mode);
        Err(PluginError::Unsupported)
    }

    /// Sets the size of a file, cutting it or extending it with zeros (`PFSTruncate`).
    ///
    /// # Errors
    /// `Unsupported` unless implemented; typically `NotFound`, `IsADirectory`.
    fn truncate(&mut self, path: &str, size: u64) -> Result<(), PluginError> {
        let _ = (path, size);
        Err(PluginError::Unsupported)
    }
}

/// Exports the C ABI of `pfs_plugin.h` for a [`PluginFs`] type: call it once, at the crate root of
/// a `cdylib`.
///
/// It defines, with `#[unsafe(no_mangle)]` and the header's exact signatures, every v1 symbol
/// (`PluginNew`, `PluginFree`, `PluginName`, `PluginValidate`, `PluginInitialize`,
/// `PluginShutdown`, `PluginGetReadme`, `FSCreate`, `FSMkdir`, `FSRemove`, `FSRemoveAll`,
/// `FSRead`, `FSWrite`, `FSReadDir`, `FSStat`, `FSRename`, `FSChmod`) and the extensions
/// `PFSPluginABIVersion`, `PFSNonBlocking`, `PFSFree`, `PFSTruncate` and `PFSReconfigure`. Each
/// one forwards to a function of the SDK that does the work: NULL checks, `catch_unwind`,
/// conversions and allocation.
///
/// The expansion contains `#[unsafe(no_mangle)]`, which the `unsafe_code` lint counts: a crate
/// that sets `unsafe_code = "forbid"` cannot call the macro; `"deny"` works (the generated items
/// carry `#[allow(unsafe_code)]`). Only one call per linked binary: the symbols are global.
#[macro_export]
macro_rules! export_plugin {
    ($fs:ty) => {
        /// `void* PluginNew(void)`: creates an instance with `Default`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub extern "C" fn PluginNew() -> *mut ::std::ffi::c_void {
            $crate::__private::plugin_new::<$fs>()
        }

        /// `void PluginFree(void*)`.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn PluginFree(plugin: *mut ::std::ffi::c_void) {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe { $crate::__private::plugin_free::<$fs>(plugin) }
        }

        /// `const char* PluginName(void*)`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub extern "C" fn PluginName(
            _plugin: *mut ::std::ffi::c_void,
        ) -> *const ::std::ffi::c_char {
            $crate::__private::plugin_name::<$fs>()
        }

        /// `const char* PluginGetReadme(void*)`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub extern "C" fn PluginGetReadme(
            _plugin: *mut ::std::ffi::c_void,
        ) -> *const ::std::ffi::c_char {
            $crate::__private::plugin_readme::<$fs>()
        }

        /// `const char* PluginValidate(void*, const char*)`.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn PluginValidate(
            plugin: *mut ::std::ffi::c_void,
            config_json: *const ::std::ffi::c_char,
        ) -> *const ::std::ffi::c_char {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe { $crate::__private::plugin_validate::<$fs>(plugin, config_json) }
        }

        /// `const char* PluginInitialize(void*, const char*)`.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn PluginInitialize(
            plugin: *mut ::std::ffi::c_void,
            config_json: *const ::std::ffi::c_char,
        ) -> *const ::std::ffi::c_char {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe { $crate::__private::plugin_initialize::<$fs>(plugin, config_json) }
        }

        /// `const char* PluginShutdown(void*)`.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn PluginShutdown(
            plugin: *mut ::std::ffi::c_void,
        ) -> *const ::std::ffi::c_char {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe { $crate::__private::plugin_shutdown::<$fs>(plugin) }
        }

        /// `const char* FSCreate(void*, const char*)`.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn FSCreate(
            plugin: *mut ::std::ffi::c_void,
            path: *const ::std::ffi::c_char,
        ) -> *const ::std::ffi::c_char {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe { $crate::__private::fs_create::<$fs>(plugin, path) }
        }

        /// `const char* FSMkdir(void*, const char*, uint32_t)`.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn FSMkdir(
            plugin: *mut ::std::ffi::c_void,
            path: *const ::std::ffi::c_char,
            mode: u32,
        ) -> *const ::std::ffi::c_char {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe { $crate::__private::fs_mkdir::<$fs>(plugin, path, mode) }
        }

        /// `const char* FSRemove(void*, const char*)`.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn FSRemove(
            plugin: *mut ::std::ffi::c_void,
            path: *const ::std::ffi::c_char,
        ) -> *const ::std::ffi::c_char {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe { $crate::__private::fs_remove::<$fs>(plugin, path) }
        }

        /// `const char* FSRemoveAll(void*, const char*)`.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn FSRemoveAll(
            plugin: *mut ::std::ffi::c_void,
            path: *const ::std::ffi::c_char,
        ) -> *const ::std::ffi::c_char {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe { $crate::__private::fs_remove_all::<$fs>(plugin, path) }
        }

        /// `const char* FSRead(void*, const char*, int64_t, int64_t, int*)`.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn FSRead(
            plugin: *mut ::std::ffi::c_void,
            path: *const ::std::ffi::c_char,
            offset: i64,
            size: i64,
            out_len: *mut ::std::ffi::c_int,
        ) -> *const ::std::ffi::c_char {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe { $crate::__private::fs_read::<$fs>(plugin, path, offset, size, out_len) }
        }

        /// `int64_t FSWrite(void*, const char*, const char*, int, int64_t, uint32_t)`.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn FSWrite(
            plugin: *mut ::std::ffi::c_void,
            path: *const ::std::ffi::c_char,
            data: *const ::std::ffi::c_char,
            data_len: ::std::ffi::c_int,
            offset: i64,
            flags: u32,
        ) -> i64 {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe {
                $crate::__private::fs_write::<$fs>(plugin, path, data, data_len, offset, flags)
            }
        }

        /// `FileInfoArray* FSReadDir(void*, const char*, int*)`.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn FSReadDir(
            plugin: *mut ::std::ffi::c_void,
            path: *const ::std::ffi::c_char,
            out_count: *mut ::std::ffi::c_int,
        ) -> *mut $crate::__private::FileInfoArray {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe { $crate::__private::fs_read_dir::<$fs>(plugin, path, out_count) }
        }

        /// `FileInfoC* FSStat(void*, const char*)`.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn FSStat(
            plugin: *mut ::std::ffi::c_void,
            path: *const ::std::ffi::c_char,
        ) -> *mut $crate::__private::FileInfoC {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe { $crate::__private::fs_stat::<$fs>(plugin, path) }
        }

        /// `const char* FSRename(void*, const char*, const char*)`.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn FSRename(
            plugin: *mut ::std::ffi::c_void,
            old_path: *const ::std::ffi::c_char,
            new_path: *const ::std::ffi::c_char,
        ) -> *const ::std::ffi::c_char {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe { $crate::__private::fs_rename::<$fs>(plugin, old_path, new_path) }
        }

        /// `const char* FSChmod(void*, const char*, uint32_t)`.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn FSChmod(
            plugin: *mut ::std::ffi::c_void,
            path: *const ::std::ffi::c_char,
            mode: u32,
        ) -> *const ::std::ffi::c_char {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe { $crate::__private::fs_chmod::<$fs>(plugin, path, mode) }
        }

        /// `uint32_t PFSPluginABIVersion(void)`: `(major << 16) | minor`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub extern "C" fn PFSPluginABIVersion() -> u32 {
            $crate::__private::abi_version()
        }

        /// `int PFSNonBlocking(void)`: [`PluginFs::NON_BLOCKING`](crate::PluginFs::NON_BLOCKING).
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub extern "C" fn PFSNonBlocking() -> ::std::ffi::c_int {
            <$fs as $crate::PluginFs>::NON_BLOCKING as ::std::ffi::c_int
        }

        /// `void PFSFree(void*, void*, uint32_t)`: releases what another symbol returned.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn PFSFree(
            _plugin: *mut ::std::ffi::c_void,
            ptr: *mut ::std::ffi::c_void,
            kind: u32,
        ) {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe { $crate::__private::free(ptr, kind) }
        }

        /// `const char* PFSTruncate(void*, const char*, int64_t)`.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn PFSTruncate(
            plugin: *mut ::std::ffi::c_void,
            path: *const ::std::ffi::c_char,
            size: i64,
        ) -> *const ::std::ffi::c_char {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe { $crate::__private::fs_truncate::<$fs>(plugin, path, size) }
        }

        /// `const char* PFSReconfigure(void*, const char*, const char*, const char**)`.
        ///
        /// # Safety
        /// The contract of `pfs_plugin.h`.
        #[allow(unsafe_code, non_snake_case, unreachable_pub)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn PFSReconfigure(
            plugin: *mut ::std::ffi::c_void,
            old_config_json: *const ::std::ffi::c_char,
            new_config_json: *const ::std::ffi::c_char,
            amended_json: *mut *const ::std::ffi::c_char,
        ) -> *const ::std::ffi::c_char {
            // SAFETY: the caller keeps the contract of pfs_plugin.h, which this function requires.
            unsafe {
                $crate::__private::plugin_reconfigure::<$fs>(
                    plugin,
                    old_config_json,
                    new_config_json,
                    amended_json,
                )
            }
        }
    };
}
