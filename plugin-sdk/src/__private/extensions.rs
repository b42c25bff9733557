//! The extension symbols' work: `PFSPluginABIVersion`, `PFSFree` and `PFSReconfigure` (the other
//! extension, `PFSTruncate`, is a path operation among the filesystem calls).

use std::ffi::{c_char, c_void};
use std::ptr;

use c_abi::ffi::{ABI_MAJOR, ABI_MINOR, FREE_BYTES, FREE_FILEINFO, FREE_FILEINFO_ARRAY};

use super::{
    FileInfoArray, FileInfoC, alloc_str, catch, enter, free_bytes, free_info_fields, json_arg,
    text, track,
};
use crate::{PluginFs, Reconfigured};

/// `PFSPluginABIVersion`: `(ABI_MAJOR << 16) | ABI_MINOR` of the `c-abi` this SDK was built with.
pub fn abi_version() -> u32 {
    (ABI_MAJOR << 16) | ABI_MINOR
}

/// `PFSFree`: releases a pointer returned by one of the functions above, by `kind`. NULL and
/// unknown kinds are ignored (an unknown kind cannot be freed safely: it leaks).
///
/// # Safety
/// `ptr` is NULL or was returned by this SDK's functions as `kind` and is released once.
pub unsafe fn free(ptr: *mut c_void, kind: u32) {
    if ptr.is_null() {
        return;
    }
    let _ = catch(|| {
        match kind {
            // SAFETY: an `alloc_bytes` allocation per the caller.
            FREE_BYTES => unsafe { free_bytes(ptr.cast()) },
            FREE_FILEINFO => {
                // SAFETY: the box `fs_stat` leaked, released once per the caller.
                let info = unsafe { Box::from_raw(ptr.cast::<FileInfoC>()) };
                // SAFETY: built by `info_to_c`; its strings go with it.
                unsafe { free_info_fields(&info) };
                track(-1);
            }
            FREE_FILEINFO_ARRAY => {
                // SAFETY: the box `fs_read_dir` leaked, released once per the caller.
                let arr = unsafe { Box::from_raw(ptr.cast::<FileInfoArray>()) };
                let count = usize::try_from(arr.count).unwrap_or(0);
                // SAFETY: `items` is the boxed slice of exactly `count` items `fs_read_dir` leaked.
                let items =
                    unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(arr.items, count)) };
                for item in &items {
                    // SAFETY: each item was built by `info_to_c` and is released once, here.
                    unsafe { free_info_fields(item) };
                }
                track(-2);
            }
            _ => {}
        }
        Ok(())
    });
}

/// `PFSReconfigure`: NULL, with the amended config's text in `*amended_json` when
/// [`PluginFs::reconfigure`] amended it, or an error text (and `*amended_json` untouched). A NULL
/// `amended_json` is refused with `EINVAL` before the plugin runs: an amendment could not be
/// reported.
///
/// # Safety
/// `plugin` as in [`plugin_validate`](super::plugin_validate); both configs NULL or
/// NUL-terminated strings; `amended_json` NULL or valid for one pointer write.
pub unsafe fn plugin_reconfigure<T: PluginFs>(
    plugin: *mut c_void,
    old_config_json: *const c_char,
    new_config_json: *const c_char,
    amended_json: *mut *const c_char,
) -> *const c_char {
    text(catch(|| {
        if amended_json.is_null() {
            return Err(crate::PluginError::InvalidArgument.with_message("amended_json is NULL"));
        }
        // SAFETY: forwarded from the caller.
        let (mut fs, old, new) = unsafe {
            (
                enter::<T>(plugin)?,
                json_arg(old_config_json, "old_config_json")?,
                json_arg(new_config_json, "new_config_json")?,
            )
        };
        match fs.reconfigure(&old, &new)? {
            Reconfigured::Accepted => {}
            // SAFETY: non-NULL and valid for a write per the caller; the text is a
            // `PFS_FREE_BYTES` allocation the host hands back to `PFSFree`.
            Reconfigured::Amended(config) => unsafe {
                amended_json.write(alloc_str(&config.to_string()))
            },
        }
        Ok(())
    }))
}
