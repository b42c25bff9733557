//! The pfs C plugin ABI: external plugins as shared libraries.
//!
//! - `include/pfs_plugin.h` is the contract (v1 = AGFS's ABI, plus optional `PFS*` extensions);
//! - [`ffi`] mirrors its structs and function types, with layout tests;
//! - [`errno`] is the table of errno names and numbers the host and the Rust SDK share;
//! - [`loader`] opens a library, checks its ABI version and resolves its symbols;
//! - `vtable` is the one module that calls plugin code: the resolved symbols (private, each call a
//!   safe method), the instances and the guard that hands plugin memory back to `PFSFree`;
//! - [`adapter`] makes a loaded library a `ServicePlugin` (one instance per mount) and each
//!   instance a `FileSystem`, with every C call off the async threads;
//! - `reconfig` builds the config texts a plugin reads and checks the amended config a
//!   `PFSReconfigure` (ABI 1.3) gives back;
//! - `worker` decides where an instance's C calls run (its own thread, or in place once they
//!   proved quick);
//! - [`host`] tracks what is loaded and from where loading is allowed.
//!
//! Everything but [`ffi`] and [`errno`] sits behind the default `host` feature; plugin-side code
//! uses the crate without it.
//!
//! `unsafe` is confined to `vtable` (calls into the plugin) and `worker` (`getrusage`): every other
//! module forbids it.
#![deny(missing_docs)]

#[cfg(feature = "host")]
#[forbid(unsafe_code)]
pub mod adapter;
#[forbid(unsafe_code)]
pub mod errno;
#[cfg(feature = "host")]
#[forbid(unsafe_code)]
mod errors;
#[forbid(unsafe_code)]
pub mod ffi;
#[cfg(feature = "host")]
#[forbid(unsafe_code)]
pub mod host;
#[cfg(feature = "host")]
#[forbid(unsafe_code)]
pub mod isolation;
#[cfg(feature = "host")]
#[forbid(unsafe_code)]
pub mod loader;
#[cfg(feature = "host")]
#[forbid(unsafe_code)]
mod reconfig;
#[cfg(feature = "host")]
mod vtable;
#[cfg(feature = "host")]
mod worker;

#[cfg(feature = "host")]
pub use adapter::{CPluginFs, ExternalPlugin};
#[cfg(feature = "host")]
pub use errors::map_error_text;
#[cfg(feature = "host")]
pub use host::{HostConfig, Loaded, PluginHost, Reconciled};
#[cfg(feature = "host")]
pub use isolation::{Isolation, PluginPath};
#[cfg(feature = "host")]
pub use loader::LoadedLibrary;
#[cfg(feature = "host")]
pub use vtable::Symbol;
