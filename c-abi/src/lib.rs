//! The pfs C plugin ABI. This crate is a placeholder: the external-plugins issue fills it with
//! `include/pfs_plugin.h`, the `#[repr(C)]` mirrors, the libloading-based loader and the adapter that
//! turns a loaded library into a `fs_core::FileSystem`. See `README.md`.
