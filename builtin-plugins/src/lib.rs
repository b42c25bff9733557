//! The plugins compiled into pfs, one folder each. [`register_builtin`] adds every plugin enabled by
//! cargo features (all of them by default) to a registry.

use std::sync::Arc;

use fs_core::PluginRegistry;

#[cfg(feature = "devfs")]
pub mod devfs;
#[cfg(feature = "heartbeatfs")]
pub mod heartbeatfs;
#[cfg(feature = "hellofs")]
pub mod hellofs;
#[cfg(feature = "httpfs")]
pub mod httpfs;
#[cfg(feature = "kvfs")]
pub mod kvfs;
#[cfg(feature = "localfs")]
pub mod localfs;
#[cfg(feature = "memfs")]
pub mod memfs;
#[cfg(feature = "proxyfs")]
pub mod proxyfs;
#[cfg(feature = "queuefs")]
pub mod queuefs;
#[cfg(feature = "s3fs")]
pub mod s3fs;
#[cfg(feature = "serverinfofs")]
pub mod serverinfofs;
#[cfg(any(feature = "queuefs", feature = "sqlfs"))]
mod sql;
#[cfg(feature = "sqlfs")]
pub mod sqlfs;
#[cfg(feature = "streamfs")]
pub mod streamfs;
#[cfg(feature = "streamrotatefs")]
pub mod streamrotatefs;

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
