//! The pfs filesystem contract.
//!
//! - [`FileSystem`]: what every plugin implements (async, object-safe, shared as `Arc<dyn FileSystem>`).
//! - [`Error`] / [`ErrorKind`]: typed errors; the server maps each kind to one HTTP status.
//! - [`path`]: the path rules, applied once at the edge.
//! - [`handle`]: open files ([`FileHandle`], [`OpenFlags`], the [`GenericHandle`]).
//! - [`MountableFs`]: the mount router, itself a `FileSystem`; it also holds the virtual symbolic
//!   links ([`symlinks`]).
//! - [`write`](mod@write): the rules of a write ([`WriteFlags`], [`WritePlan`]) and the size checks every
//!   offset passes.
//! - [`readonly`]: [`ReadOnlyFs`] turns a [`ReadOnlySource`] into a full `FileSystem`.
//! - [`lifecycle`]: `start` once, background work on a [`Background`], `shutdown` exactly once.
//! - [`plugin`]: the [`ServicePlugin`] factory trait and the [`PluginRegistry`].
//! - [`config`]: plugin config keys, each declared once ([`config::Key`]), and their checks.
//! - `conformance` (feature `conformance`): the shared test suite every plugin runs.
#![deny(missing_docs)]

pub mod config;
pub mod content;
pub mod error;
pub mod filesystem;
pub mod handle;
pub mod hops;
pub mod lifecycle;
pub mod mountable;
pub mod path;
pub mod plugin;
pub mod policy;
pub mod readonly;
pub mod symlinks;
pub mod workers;
pub mod write;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use config::{ConfigParam, ParamType};
pub use error::{Error, ErrorKind, Result};
pub use filesystem::{
    ByteStream, Capabilities, Content, ContentBody, FileInfo, FileSystem, Health, Meta, WriteFlags,
    collect_stream, read_window,
};
pub use handle::{FileHandle, GenericHandle, OpenFlags, Whence};
pub use lifecycle::Background;
pub use mountable::{ConfigChange, Mount, MountableFs, Reconfigured};
pub use plugin::{MountContext, PluginRegistry, ServerInfo, ServicePlugin};
pub use readonly::{ReadOnlyFs, ReadOnlySource};
pub use write::{MAX_FILE_SIZE, MemoryLimits, WritePlan};
