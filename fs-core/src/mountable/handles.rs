//! Handles and unmount hooks on the router: [`MountableFs::open_handle_at`] opens a file handle
//! on the mount that serves a path, and [`MountableFs::on_unmount`] tells the handle table when a
//! mount goes.

use std::sync::Arc;

use super::{Mount, MountableFs, ctx};
use crate::{FileHandle, OpenFlags, Result};

impl MountableFs {
    /// Registers `hook`, called with every mount that leaves the table (unmount, server stop)
    /// before the plugin's shutdown runs.
    pub fn on_unmount(&self, hook: impl Fn(&Arc<Mount>) + Send + Sync + 'static) {
        self.unmount_hooks.write().push(Box::new(hook));
    }

    /// Opens a handle on `p` ([`crate::FileSystem::open_handle`] of the mount that serves it) and
    /// returns it with that mount, so the caller can close the handle when the mount goes.
    ///
    /// # Errors
    /// As [`crate::FileSystem::open_handle`], with the full path; outside every mount `NotFound`
    /// (or `PermissionDenied` with `CREATE`, as for writes); `InvalidArgument` for a link loop.
    pub async fn open_handle_at(
        &self,
        p: &str,
        flags: OpenFlags,
        mode: u32,
    ) -> Result<(Arc<Mount>, Box<dyn FileHandle>)> {
        // Symbolic links are followed, the last component included (AGFS did not: its handles
        // bypassed the link table).
        let p = &*self.follow(p, "openhandle")?;
        let r = if flags.contains(OpenFlags::CREATE) {
            self.routed_create(p, "openhandle")?
        } else {
            self.routed(p, "openhandle")?
        };
        let handle = r
            .mount
            .fs
            .clone()
            .open_handle(r.rel, flags, mode)
            .await
            .map_err(|e| ctx(e, "openhandle", &r.mount, p))?;
        Ok((r.mount, handle))
    }
}
