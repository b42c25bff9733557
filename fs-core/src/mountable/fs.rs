//! `MountableFs` as a [`FileSystem`]: every operation routed to the mount that owns its path, with
//! links followed where the operation follows them, and the virtual directories above mounts.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use super::*;
use crate::write::check_size;
use crate::{
    ByteStream, Capabilities, Content, Error, ErrorKind, FileHandle, FileInfo, FileSystem,
    OpenFlags, Result, WriteFlags,
};

/// What every write meets before it reaches a plugin, whatever the plugin checks itself: a
/// positional write may not end past the mount's largest file ([`check_size`]; an append's end is
/// the plugin's to check, it alone knows the size). A mount root is the plugin's to refuse: most
/// are directories, httpfs's is a file.
fn check_write(
    r: &Resolved<'_>,
    p: &str,
    offset: Option<u64>,
    flags: WriteFlags,
    len: u64,
) -> Result<()> {
    match offset {
        Some(off) if !flags.contains(WriteFlags::APPEND) => check_size(
            p,
            off.saturating_add(len),
            r.mount.fs.capabilities().max_file_size,
        )
        .map_err(|e| e.with_op("write")),
        _ => Ok(()),
    }
}

#[async_trait]
impl FileSystem for MountableFs {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            live_stream: true,
            ..Capabilities::READ_WRITE
        }
    }

    async fn stat(&self, p: &str) -> Result<FileInfo> {
        let p = &*self.follow_parent(p, "stat")?;
        if let Some(info) = self.link_info(p).await {
            return Ok(info);
        }
        let table = self.table.load_full();
        if let Some(r) = table.resolve(p) {
            match r.mount.fs.stat(r.rel).await {
                Ok(mut info) => {
                    if r.rel == "/" {
                        info.name = basename(&r.mount.path).to_string();
                    }
                    return Ok(info);
                }
                // A path inside a mount that leads to a nested mount is a virtual directory.
                Err(e) if e.kind() == ErrorKind::NotFound && table.has_mount_below(p) => {}
                Err(e) => return Err(ctx(e, "stat", &r.mount, p)),
            }
        }
        if p == "/" {
            return Ok(virtual_dir("/", "root"));
        }
        if table.has_mount_below(p) {
            return Ok(virtual_dir(basename(p), "mount-point"));
        }
        Err(Error::not_found(p).with_op("stat"))
    }

    async fn read_dir(&self, p: &str) -> Result<Vec<FileInfo>> {
        let p = &*self.follow(p, "readdir")?;
        let table = self.table.load_full();
        let children = table.child_mount_names(p);
        let mut entries = match table.resolve(p) {
            Some(r) => match r.mount.fs.read_dir(r.rel).await {
                Ok(v) => v,
                Err(e) if e.kind() == ErrorKind::NotFound && !children.is_empty() => Vec::new(),
                Err(e) => return Err(ctx(e, "readdir", &r.mount, p)),
            },
            None if children.is_empty() && !self.has_links_in(p) => {
                return Err(Error::not_found(p).with_op("readdir"));
            }
            None => Vec::new(),
        };
        if !children.is_empty() {
            // Mount points shadow whatever the parent plugin has under the same name.
            entries.retain(|e| !children.contains_key(&e.name));
            entries.extend(children.keys().map(|name| virtual_dir(name, "mount-point")));
        }
        self.list_links(p, &mut entries).await;
        Ok(entries)
    }

    async fn read(&self, p: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        let p = &*self.follow(p, "read")?;
        let r = self.routed(p, "read")?;
        r.mount
            .fs
            .read(r.rel, offset, size)
            .await
            .map_err(|e| ctx(e, "read", &r.mount, p))
    }

    async fn read_content(&self, p: &str, offset: u64, size: Option<u64>) -> Result<Content> {
        self.route(p, "read")?.read_content(offset, size).await
    }

    async fn write(
        &self,
        p: &str,
        data: Bytes,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let p = &*self.follow(p, "write")?;
        let r = self.routed_create(p, "write")?;
        check_write(&r, p, offset, flags, data.len() as u64)?;
        r.mount
            .fs
            .write(r.rel, data, offset, flags)
            .await
            .map_err(|e| ctx(e, "write", &r.mount, p))
    }

    async fn write_stream(
        &self,
        p: &str,
        data: ByteStream,
        limit: u64,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let p = &*self.follow(p, "write")?;
        let r = self.routed_create(p, "write")?;
        check_write(&r, p, offset, flags, 0)?;
        r.mount
            .fs
            .write_stream(r.rel, data, limit, offset, flags)
            .await
            .map_err(|e| ctx(e, "write", &r.mount, p))
    }

    async fn create(&self, p: &str) -> Result<()> {
        let p = &*self.follow_parent(p, "create")?;
        self.refuse_link(p, "create")?;
        let r = self.routed_create(p, "create")?;
        if r.rel == "/" {
            return Err(Error::already_exists(p).with_op("create"));
        }
        r.mount
            .fs
            .create(r.rel)
            .await
            .map_err(|e| ctx(e, "create", &r.mount, p))
    }

    async fn mkdir(&self, p: &str, mode: u32) -> Result<()> {
        let p = &*self.follow_parent(p, "mkdir")?;
        self.refuse_link(p, "mkdir")?;
        let table = self.table.load_full();
        match table.resolve(p) {
            Some(r) if r.rel == "/" => Err(Error::already_exists(p).with_op("mkdir")),
            Some(r) => r
                .mount
                .fs
                .mkdir(r.rel, mode)
                .await
                .map_err(|e| ctx(e, "mkdir", &r.mount, p)),
            None if p == "/" || table.has_mount_below(p) => {
                Err(Error::already_exists(p).with_op("mkdir"))
            }
            None => Err(outside(
                "mkdir",
                p,
                "not allowed to create a directory in rootfs, use mount instead",
            )),
        }
    }

    async fn remove(&self, p: &str) -> Result<()> {
        let p = &*self.follow_parent(p, "remove")?;
        if self.remove_link(p, false)? {
            return Ok(());
        }
        let r = self.routed_remove(p, "remove")?;
        if r.rel == "/" {
            return Err(outside("remove", p, "a mount point; use unmount"));
        }
        r.mount
            .fs
            .remove(r.rel)
            .await
            .map_err(|e| ctx(e, "remove", &r.mount, p))
    }

    async fn remove_all(&self, p: &str) -> Result<()> {
        let p = &*self.follow_parent(p, "remove")?;
        if self.remove_link(p, true)? {
            return Ok(());
        }
        let r = self.routed_remove(p, "remove")?;
        r.mount
            .fs
            .remove_all(r.rel)
            .await
            .map_err(|e| ctx(e, "remove", &r.mount, p))?;
        self.forget_links_below(p);
        Ok(())
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let from = &*self.follow_parent(from, "rename")?;
        let to = &*self.follow_parent(to, "rename")?;
        if self.rename_link(from, to).await? {
            return Ok(());
        }
        let table = self.table.load_full();
        let (Some(a), Some(b)) = (table.resolve(from), table.resolve(to)) else {
            return Err(Error::invalid_argument(
                "cannot rename: paths not in the same mounted filesystem",
            )
            .with_op("rename")
            .with_path(from));
        };
        if !Arc::ptr_eq(&a.mount, &b.mount) {
            return Err(Error::invalid_argument(format!(
                "cannot rename across different mounts ({} is on {}, {} is on {})",
                from, a.mount.path, to, b.mount.path
            ))
            .with_op("rename"));
        }
        if a.rel == "/" || b.rel == "/" {
            return Err(Error::invalid_argument(
                "cannot rename a mount point; use unmount and mount",
            )
            .with_op("rename")
            .with_path(from));
        }
        a.mount
            .fs
            .rename(a.rel, b.rel)
            .await
            .map_err(|e| ctx(e, "rename", &a.mount, from))?;
        self.move_links(from, to);
        Ok(())
    }

    async fn chmod(&self, p: &str, mode: u32) -> Result<()> {
        let p = &*self.follow(p, "chmod")?;
        let r = self.routed(p, "chmod")?;
        r.mount
            .fs
            .chmod(r.rel, mode)
            .await
            .map_err(|e| ctx(e, "chmod", &r.mount, p))
    }

    async fn truncate(&self, p: &str, size: u64) -> Result<()> {
        let p = &*self.follow(p, "truncate")?;
        let r = self.routed(p, "truncate")?;
        check_size(p, size, r.mount.fs.capabilities().max_file_size)
            .map_err(|e| e.with_op("truncate"))?;
        r.mount
            .fs
            .truncate(r.rel, size)
            .await
            .map_err(|e| ctx(e, "truncate", &r.mount, p))
    }

    async fn touch(&self, p: &str) -> Result<()> {
        let p = &*self.follow(p, "touch")?;
        let r = self.routed_create(p, "touch")?;
        r.mount
            .fs
            .touch(r.rel)
            .await
            .map_err(|e| ctx(e, "touch", &r.mount, p))
    }

    fn read_has_side_effects(&self, p: &str) -> bool {
        self.route(p, "read")
            .is_ok_and(|r| r.read_has_side_effects())
    }

    async fn open_stream(&self, p: &str) -> Result<ByteStream> {
        self.route(p, "stream")?.open_stream().await
    }

    async fn open_handle(
        self: Arc<Self>,
        p: &str,
        flags: OpenFlags,
        mode: u32,
    ) -> Result<Box<dyn FileHandle>> {
        Ok(self.open_handle_at(p, flags, mode).await?.1)
    }

    async fn shutdown(&self) -> Result<()> {
        match self.unmount_all().await.into_iter().next() {
            None => Ok(()),
            Some((_, e)) => Err(e),
        }
    }
}
