//! The capability contract, both ways: every operation marked unsupported answers `Unsupported`,
//! and no operation marked supported does.

use bytes::Bytes;
use futures_util::stream;

use super::{Fixture, assert_kind};
use crate::{ByteStream, Error, ErrorKind, Result, WriteFlags};

/// A path the probes may use: below the writable root, or else directly in the mount root.
fn probe(f: &Fixture, name: &str) -> String {
    f.at(name)
        .unwrap_or_else(|| crate::path::child(&f.mount_root, name))
}

/// Each `false` in `capabilities()` matches an `Unsupported` answer from that operation.
pub async fn unsupported_ops_answer_unsupported(f: Fixture) {
    let caps = f.caps;
    let p = probe(&f, "caps-probe");
    let u = ErrorKind::Unsupported;
    if !caps.write {
        assert_kind(
            f.fs.write(&p, Bytes::from_static(b"x"), None, WriteFlags::NONE)
                .await,
            u,
        );
    }
    if !caps.create {
        assert_kind(f.fs.create(&p).await, u);
    }
    if !caps.mkdir {
        assert_kind(f.fs.mkdir(&p, 0o755).await, u);
    }
    if !caps.remove {
        assert_kind(f.fs.remove(&p).await, u);
        assert_kind(f.fs.remove_all(&p).await, u);
    }
    if !caps.rename {
        assert_kind(f.fs.rename(&p, &format!("{p}-2")).await, u);
    }
    if !caps.chmod {
        assert_kind(f.fs.chmod(&p, 0o644).await, u);
    }
    if !caps.truncate {
        assert_kind(f.fs.truncate(&p, 0).await, u);
    }
    if !caps.live_stream {
        assert_kind(f.fs.open_stream(&p).await.map(|_| ()), u);
    }
}

/// Fails when `r` is `Unsupported`: any other answer (success, or an error about the path) shows
/// the operation is there.
#[track_caller]
fn supported<T>(r: Result<T>, op: &str) {
    if let Err(e) = r
        && e.kind() == ErrorKind::Unsupported
    {
        panic!("{op} is claimed by capabilities() but answered Unsupported: {e}");
    }
}

/// Each `true` in `capabilities()` is an operation that does not answer `Unsupported`, on a file
/// it made (below the writable root) or, without one, on the fixture's existing file or a new
/// name in the mount root. Where the probe lands on a path the operation refuses, it must say why
/// in another kind (`PermissionDenied`, `NotFound`...).
pub async fn supported_ops_do_not_answer_unsupported(f: Fixture) {
    let caps = f.caps;
    let file = match (&f.root, &f.existing) {
        (None, Some((existing, _))) => existing.clone(),
        _ => probe(&f, "caps-file"),
    };
    let made = probe(&f, "caps-made");
    let dir = probe(&f, "caps-dir");
    let x = || Bytes::from_static(b"x");
    if caps.write {
        supported(
            f.fs.write(&file, x(), None, WriteFlags::CREATE).await,
            "write",
        );
        let body: ByteStream = Box::pin(stream::iter([Ok::<_, Error>(x())]));
        supported(
            f.fs.write_stream(&file, body, 1 << 20, None, WriteFlags::CREATE)
                .await,
            "write_stream",
        );
    }
    if caps.create {
        supported(f.fs.create(&made).await, "create");
    }
    if caps.mkdir {
        supported(f.fs.mkdir(&dir, 0o755).await, "mkdir");
    }
    if caps.chmod {
        supported(f.fs.chmod(&file, 0o640).await, "chmod");
    }
    if caps.truncate {
        supported(f.fs.truncate(&file, 0).await, "truncate");
    }
    if caps.live_stream {
        // A new name: on a plain file (a stream plugin's README) `Unsupported` is the answer that
        // sends the server back to a plain read.
        let stream = probe(&f, "caps-stream");
        supported(f.fs.open_stream(&stream).await.map(drop), "open_stream");
    }
    if caps.rename {
        supported(
            f.fs.rename(&made, &format!("{made}-renamed")).await,
            "rename",
        );
    }
    if caps.remove {
        supported(f.fs.remove(&format!("{made}-renamed")).await, "remove");
        supported(f.fs.remove_all(&dir).await, "remove_all");
    }
}
