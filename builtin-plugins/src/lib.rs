//! The plugins compiled into pfs. Each is a crate of its own under `plugins/` (see
//! `plugins/README.md`); this crate links the ones enabled by cargo features (all of them by
//! default), re-exports each under its name (`builtin_plugins::memfs` is `pfs_memfs`), and
//! [`register_builtin`] adds them to a registry.

use std::sync::Arc;

use fs_core::PluginRegistry;

#[cfg(feature = "devfs")]
pub use pfs_devfs as devfs;
#[cfg(feature = "heartbeatfs")]
pub use pfs_heartbeatfs as heartbeatfs;
#[cfg(feature = "hellofs")]
pub use pfs_hellofs as hellofs;
#[cfg(feature = "httpfs")]
pub use pfs_httpfs as httpfs;
#[cfg(feature = "kvfs")]
pub use pfs_kvfs as kvfs;
#[cfg(feature = "localfs")]
pub use pfs_localfs as localfs;
#[cfg(feature = "memfs")]
pub use pfs_memfs as memfs;
#[cfg(feature = "proxyfs")]
pub use pfs_proxyfs as proxyfs;
#[cfg(feature = "queuefs")]
pub use pfs_queuefs as queuefs;
#[cfg(feature = "s3fs")]
pub use pfs_s3fs as s3fs;
#[cfg(feature = "serverinfofs")]
pub use pfs_serverinfofs as serverinfofs;
#[cfg(feature = "sqlfs")]
pub use pfs_sqlfs as sqlfs;
#[cfg(feature = "streamfs")]
pub use pfs_streamfs as streamfs;
#[cfg(feature = "streamrotatefs")]
pub use pfs_streamrotatefs as streamrotatefs;

/// Registers every built-in plugin compiled in.
///
/// # Errors
/// `AlreadyExists` if a name is already registered.
pub fn register_builtin(registry: &PluginRegistry) -> fs_core::Result<()> {
    #[cfg(feature = "devfs")]
    registry.register(Arc::new(devfs::DevFsPlugin))?;
    #[cfg(feature = "heartbeatfs")]
    registry.register(Arc::new(heartbeatfs::HeartbeatFsPlugin))?;
    #[cfg(feature = "hellofs")]
    registry.register(Arc::new(hellofs::HelloFsPlugin))?;
    #[cfg(feature = "httpfs")]
    registry.register(Arc::new(httpfs::HttpFsPlugin))?;
    #[cfg(feature = "kvfs")]
    registry.register(Arc::new(kvfs::KvFsPlugin))?;
    #[cfg(feature = "localfs")]
    registry.register(Arc::new(localfs::LocalFsPlugin))?;
    #[cfg(feature = "memfs")]
    registry.register(Arc::new(memfs::MemFsPlugin))?;
    #[cfg(feature = "proxyfs")]
    registry.register(Arc::new(proxyfs::ProxyFsPlugin))?;
    #[cfg(feature = "queuefs")]
    registry.register(Arc::new(queuefs::QueueFsPlugin))?;
    #[cfg(feature = "s3fs")]
    registry.register(Arc::new(s3fs::S3FsPlugin))?;
    #[cfg(feature = "serverinfofs")]
    registry.register(Arc::new(serverinfofs::ServerInfoFsPlugin))?;
    #[cfg(feature = "sqlfs")]
    registry.register(Arc::new(sqlfs::SqlFsPlugin))?;
    #[cfg(feature = "streamfs")]
    registry.register(Arc::new(streamfs::StreamFsPlugin))?;
    #[cfg(feature = "streamrotatefs")]
    registry.register(Arc::new(streamrotatefs::StreamRotateFsPlugin))?;
    let _ = &registry;
    Ok(())
}
