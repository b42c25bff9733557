//! The capability contract: every operation marked unsupported answers `Unsupported`.

use bytes::Bytes;

use super::{Fixture, assert_kind};
use crate::{ErrorKind, WriteFlags};

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
