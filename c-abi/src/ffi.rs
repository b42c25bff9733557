//! Raw declarations of `include/pfs_plugin.h`: the `#[repr(C)]` mirrors (with layout tests) and the
//! function pointer types of every symbol.

use std::ffi::{c_char, c_int, c_void};

/// `FileInfoC`: one file or directory, laid out exactly as AGFS's hellofs.c.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FileInfoC {
    /// Last path component.
    pub name: *const c_char,
    /// Size in bytes.
    pub size: i64,
    /// Permission bits.
    pub mode: u32,
    /// Modification time, Unix seconds.
    pub mod_time: i64,
    /// 1 = directory.
    pub is_dir: i32,
    /// `meta.Name`.
    pub meta_name: *const c_char,
    /// `meta.Type`.
    pub meta_type: *const c_char,
    /// `meta.Content` as a JSON object of strings.
    pub meta_content: *const c_char,
}

/// `FileInfoArray`: a listing. The host reads the count from `out_count`, not from `count`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FileInfoArray {
    /// The entries.
    pub items: *mut FileInfoC,
    /// Their number (a C `int`).
    pub count: c_int,
}

/// `PFS_FREE_BYTES`.
pub const FREE_BYTES: u32 = 1;
/// `PFS_FREE_FILEINFO`.
pub const FREE_FILEINFO: u32 = 2;
/// `PFS_FREE_FILEINFO_ARRAY`.
pub const FREE_FILEINFO_ARRAY: u32 = 3;

/// The ABI major version this host implements.
pub const ABI_MAJOR: u32 = 1;
/// The ABI minor version this host implements.
pub const ABI_MINOR: u32 = 3;

/// `void* PluginNew(void)`.
pub type PluginNewFn = unsafe extern "C" fn() -> *mut c_void;
/// `void PluginFree(void*)`.
pub type PluginFreeFn = unsafe extern "C" fn(*mut c_void);
/// `const char* f(void*)`: PluginName, PluginShutdown, PluginGetReadme.
pub type StrFn = unsafe extern "C" fn(*mut c_void) -> *const c_char;
/// `const char* f(void*, const char*)`: PluginValidate, PluginInitialize, FSCreate, FSRemove, FSRemoveAll.
pub type StrStrFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> *const c_char;
/// `const char* f(void*, const char*, uint32_t)`: FSMkdir, FSChmod.
pub type StrModeFn = unsafe extern "C" fn(*mut c_void, *const c_char, u32) -> *const c_char;
/// `const char* FSRename(void*, const char*, const char*)`.
pub type RenameFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char) -> *const c_char;
/// `const char* FSRead(void*, const char*, int64_t, int64_t, int*)`.
pub type ReadFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, i64, i64, *mut c_int) -> *const c_char;
/// `int64_t FSWrite(void*, const char*, const char*, int, int64_t, uint32_t)`.
pub type WriteFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, c_int, i64, u32) -> i64;
/// `FileInfoArray* FSReadDir(void*, const char*, int*)`.
pub type ReadDirFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, *mut c_int) -> *mut FileInfoArray;
/// `FileInfoC* FSStat(void*, const char*)`.
pub type StatFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut FileInfoC;
/// `uint32_t PFSPluginABIVersion(void)`.
pub type AbiVersionFn = unsafe extern "C" fn() -> u32;
/// `void PFSFree(void*, void*, uint32_t)`.
pub type FreeFn = unsafe extern "C" fn(*mut c_void, *mut c_void, u32);
/// `const char* PFSTruncate(void*, const char*, int64_t)`.
pub type TruncateFn = unsafe extern "C" fn(*mut c_void, *const c_char, i64) -> *const c_char;
/// `int PFSNonBlocking(void)`.
pub type NonBlockingFn = unsafe extern "C" fn() -> c_int;
/// `const char* PFSReconfigure(void*, const char*, const char*, const char**)` (1.3).
pub type ReconfigureFn = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    *const c_char,
    *mut *const c_char,
) -> *const c_char;

#[cfg(test)]
mod tests {
    use std::mem::{align_of, offset_of, size_of};

    use super::*;

    #[test]
    fn file_info_c_matches_the_header() {
        assert_eq!(size_of::<FileInfoC>(), 64);
        assert_eq!(align_of::<FileInfoC>(), 8);
        assert_eq!(offset_of!(FileInfoC, name), 0);
        assert_eq!(offset_of!(FileInfoC, size), 8);
        assert_eq!(offset_of!(FileInfoC, mode), 16);
        assert_eq!(offset_of!(FileInfoC, mod_time), 24);
        assert_eq!(offset_of!(FileInfoC, is_dir), 32);
        assert_eq!(offset_of!(FileInfoC, meta_name), 40);
        assert_eq!(offset_of!(FileInfoC, meta_type), 48);
        assert_eq!(offset_of!(FileInfoC, meta_content), 56);
    }

    #[test]
    fn file_info_array_matches_the_header() {
        assert_eq!(size_of::<FileInfoArray>(), 16);
        assert_eq!(offset_of!(FileInfoArray, items), 0);
        assert_eq!(offset_of!(FileInfoArray, count), 8);
        // Out-parameters are C `int`: 32 bits (AGFS read them as 64-bit Go ints).
        assert_eq!(size_of::<c_int>(), 4);
    }
}
