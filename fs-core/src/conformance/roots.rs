//! The mount root is a directory that no request may turn into anything else: every mutation of it
//! is refused the same way on every plugin, and the tree below is left as it was.

use bytes::Bytes;
use futures_util::stream;

use super::{Fixture, assert_kind, assert_kind_in, names};
use crate::{ByteStream, ErrorKind, OpenFlags, Result, WriteFlags};

/// `r` failed with `kind`; or, for an operation the filesystem does not claim (`claimed` false),
/// possibly with `Unsupported` instead.
#[track_caller]
fn refused<T: std::fmt::Debug>(r: Result<T>, kind: ErrorKind, claimed: bool) {
    if claimed {
        assert_kind(r, kind);
    } else {
        assert_kind_in(r, &[kind, ErrorKind::Unsupported]);
    }
}

/// Writes (replace, positional, append, streamed), create, truncate, mkdir, remove, rename and a
/// handle open of the mount root are refused with the kind a directory gets, and nothing appears.
pub async fn mount_root_mutations_are_refused(f: Fixture) {
    let r = f.mount_root.clone();
    let caps = f.caps;
    let before = names(&*f.fs, &r).await.unwrap();
    let x = || Bytes::from_static(b"x");
    refused(
        f.fs.write(&r, x(), None, WriteFlags::NONE).await,
        ErrorKind::IsADirectory,
        caps.write,
    );
    refused(
        f.fs.write(&r, x(), Some(0), WriteFlags::NONE).await,
        ErrorKind::IsADirectory,
        caps.write,
    );
    refused(
        f.fs.write(&r, x(), None, WriteFlags::APPEND | WriteFlags::CREATE)
            .await,
        ErrorKind::IsADirectory,
        caps.write,
    );
    let body: ByteStream = Box::pin(stream::iter([Ok(x())]));
    refused(
        f.fs.write_stream(&r, body, 1 << 20, None, WriteFlags::NONE)
            .await,
        ErrorKind::IsADirectory,
        caps.write,
    );
    refused(f.fs.create(&r).await, ErrorKind::AlreadyExists, caps.create);
    refused(
        f.fs.truncate(&r, 0).await,
        ErrorKind::IsADirectory,
        caps.truncate,
    );
    refused(
        f.fs.mkdir(&r, 0o755).await,
        ErrorKind::AlreadyExists,
        caps.mkdir,
    );
    refused(
        f.fs.remove(&r).await,
        ErrorKind::PermissionDenied,
        caps.remove,
    );
    let inside = crate::path::child(&r, "moved");
    refused(
        f.fs.rename(&r, &inside).await,
        ErrorKind::InvalidArgument,
        caps.rename,
    );
    assert_kind_in(
        f.fs.clone()
            .open_handle(&r, OpenFlags::RDONLY, 0)
            .await
            .map(drop),
        &[ErrorKind::IsADirectory, ErrorKind::Unsupported],
    );
    let info = f.fs.stat(&r).await.unwrap();
    assert!(info.is_dir, "the mount root stopped being a directory");
    assert_eq!(
        names(&*f.fs, &r).await.unwrap(),
        before,
        "a refused mutation of the mount root changed its entries"
    );
}
