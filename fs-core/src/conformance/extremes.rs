//! Extreme offsets and sizes (0, 2^31, 2^32, 2^40, 2^53, 2^63-1, 2^64-1): every write, truncate,
//! seek and read there either does exactly what it says or is refused with a client-error kind, and
//! a refused request changes nothing.

use bytes::Bytes;
use futures_util::stream;

use super::{Fixture, assert_kind, assert_kind_in};
use crate::{ByteStream, ErrorKind, MAX_FILE_SIZE, OpenFlags, Result, Whence, WriteFlags};

/// The offsets and sizes every case tries.
pub const EXTREMES: [u64; 7] = [
    0,
    1 << 31,
    1 << 32,
    1 << 40,
    1 << 53,
    MAX_FILE_SIZE,
    u64::MAX,
];

/// How a request past what a filesystem can hold may be refused: a bad number (400), over the
/// mount's cap (413), or a write this backend cannot do there (501).
const REFUSED: [ErrorKind; 3] = [
    ErrorKind::InvalidArgument,
    ErrorKind::PayloadTooLarge,
    ErrorKind::Unsupported,
];

const KEEP: &[u8] = b"KEEP";

/// A fresh file holding `KEEP`.
async fn keep_file(f: &Fixture, name: &str) -> String {
    let p = f.at(name).expect("the caller checked the root");
    f.put(&p, KEEP).await;
    p
}

/// The file still holds exactly `KEEP`.
async fn assert_intact(f: &Fixture, p: &str, what: &str) {
    let info = f.fs.stat(p).await.unwrap();
    assert_eq!(
        info.size, 4,
        "{what}: a refused request changed the size of {p}"
    );
    let data = f.fs.read(p, 0, Some(16)).await.unwrap();
    assert_eq!(data, KEEP, "{what}: a refused request changed {p}");
}

/// After an accepted write of `YZ` at `off` into `KEEP`: the size and every byte are exact.
async fn assert_far_write(f: &Fixture, p: &str, off: u64, what: &str) {
    let info = f.fs.stat(p).await.unwrap();
    assert_eq!(info.size, (off + 2).max(4), "{what}: size of {p}");
    assert_eq!(f.fs.read(p, off, Some(2)).await.unwrap(), "YZ", "{what}");
    if off >= 4 {
        assert_eq!(f.fs.read(p, 0, Some(4)).await.unwrap(), KEEP, "{what}");
        let gap = f.fs.read(p, 4, Some((off - 4).min(64))).await.unwrap();
        assert!(gap.iter().all(|b| *b == 0), "{what}: the gap is not zeros");
    } else {
        assert_eq!(off, 0);
        assert_eq!(f.fs.read(p, 0, Some(4)).await.unwrap(), "YZEP", "{what}");
    }
}

/// Checks one outcome: exact when accepted, nothing changed when refused.
async fn check_write(f: &Fixture, p: &str, off: u64, r: Result<u64>, what: &str) {
    match r {
        Ok(n) => {
            assert_eq!(n, 2, "{what}: reported count");
            assert_far_write(f, p, off, what).await;
        }
        Err(e) => {
            assert_kind_in::<()>(Err(e), &REFUSED);
            assert_intact(f, p, what).await;
        }
    }
}

/// Removes a file a case made (a sparse terabyte on disk is no reason to keep it).
async fn cleanup(f: &Fixture, p: &str) {
    if f.caps.remove {
        f.fs.remove(p).await.unwrap();
    }
}

/// A positional write of `YZ` at each extreme offset into `KEEP`.
pub async fn pwrite_at_extreme_offsets_is_exact_or_refused(f: Fixture) {
    if f.root.is_none() || !f.caps.write {
        return;
    }
    for (i, off) in EXTREMES.into_iter().enumerate() {
        let p = keep_file(&f, &format!("far-{i}")).await;
        let r =
            f.fs.write(&p, Bytes::from_static(b"YZ"), Some(off), WriteFlags::NONE)
                .await;
        check_write(&f, &p, off, r, &format!("pwrite at {off}")).await;
        cleanup(&f, &p).await;
    }
}

/// The same through `write_stream`, the path HTTP bodies take.
pub async fn streamed_pwrite_at_extreme_offsets_is_exact_or_refused(f: Fixture) {
    if f.root.is_none() || !f.caps.write {
        return;
    }
    for (i, off) in EXTREMES.into_iter().enumerate() {
        let p = keep_file(&f, &format!("far-stream-{i}")).await;
        let body: ByteStream = Box::pin(stream::iter([Ok(Bytes::from_static(b"YZ"))]));
        let r =
            f.fs.write_stream(&p, body, 1 << 20, Some(off), WriteFlags::NONE)
                .await;
        check_write(&f, &p, off, r, &format!("streamed pwrite at {off}")).await;
        cleanup(&f, &p).await;
    }
}

/// An append to a file grown to a far size lands exactly there, and one that would pass the
/// largest file is refused without losing a byte. Memory-backed filesystems (whose cap is below
/// [`MAX_FILE_SIZE`]) are skipped: growing a file to their cap would allocate it; their own tests
/// cover the cap with a small one.
pub async fn append_past_the_largest_file_is_refused(f: Fixture) {
    if f.root.is_none() || !f.caps.write || !f.caps.truncate {
        return;
    }
    if f.caps.max_file_size < MAX_FILE_SIZE {
        return;
    }
    for (i, size) in [1u64 << 40, MAX_FILE_SIZE].into_iter().enumerate() {
        let p = keep_file(&f, &format!("append-far-{i}")).await;
        if let Err(e) = f.fs.truncate(&p, size).await {
            assert_kind_in::<()>(Err(e), &REFUSED);
            assert_intact(&f, &p, &format!("truncate to {size}")).await;
            cleanup(&f, &p).await;
            continue;
        }
        let r =
            f.fs.write(&p, Bytes::from_static(b"YZ"), None, WriteFlags::APPEND)
                .await;
        let what = format!("append at {size}");
        match r {
            Ok(n) => {
                assert_eq!(n, 2, "{what}");
                assert_eq!(f.fs.stat(&p).await.unwrap().size, size + 2, "{what}");
                assert_eq!(f.fs.read(&p, size, None).await.unwrap(), "YZ", "{what}");
            }
            Err(e) => {
                assert_kind_in::<()>(Err(e), &REFUSED);
                assert_eq!(f.fs.stat(&p).await.unwrap().size, size, "{what}");
                assert_eq!(f.fs.read(&p, 0, Some(4)).await.unwrap(), KEEP, "{what}");
            }
        }
        cleanup(&f, &p).await;
    }
}

/// A truncate to each extreme size: the exact size with the old bytes kept and zeros after, or
/// refused with the file as it was.
pub async fn truncate_to_extreme_sizes_is_exact_or_refused(f: Fixture) {
    if f.root.is_none() || !f.caps.write || !f.caps.truncate {
        return;
    }
    for (i, size) in EXTREMES.into_iter().enumerate() {
        let p = keep_file(&f, &format!("trunc-far-{i}")).await;
        let what = format!("truncate to {size}");
        match f.fs.truncate(&p, size).await {
            Ok(()) => {
                assert_eq!(f.fs.stat(&p).await.unwrap().size, size, "{what}");
                let head = f.fs.read(&p, 0, Some(4)).await.unwrap();
                assert_eq!(head, &KEEP[..size.min(4) as usize], "{what}");
                if size > 4 {
                    let tail = f.fs.read(&p, 4, Some(16)).await.unwrap();
                    assert_eq!(tail.len() as u64, (size - 4).min(16), "{what}");
                    assert!(tail.iter().all(|b| *b == 0), "{what}: growth is not zeros");
                }
            }
            Err(e) => {
                assert_kind_in::<()>(Err(e), &REFUSED);
                assert_intact(&f, &p, &what).await;
            }
        }
        cleanup(&f, &p).await;
    }
}

/// A handle seeks to each extreme offset (2^64-1 by two relative seeks), then writes `YZ`: the
/// seek is refused (400) or the write is exact or refused.
pub async fn handle_seek_far_then_write_is_exact_or_refused(f: Fixture) {
    if f.root.is_none() || !f.caps.write {
        return;
    }
    for (i, off) in EXTREMES.into_iter().enumerate() {
        let p = keep_file(&f, &format!("seek-far-{i}")).await;
        let mut h = match f.fs.clone().open_handle(&p, OpenFlags::RDWR, 0o644).await {
            Ok(h) => h,
            Err(e) if e.kind() == ErrorKind::Unsupported => return,
            Err(e) => panic!("open {p}: {e}"),
        };
        let what = format!("seek to {off}, then write");
        let seek = match i64::try_from(off) {
            Ok(o) => h.seek(o, Whence::Set).await,
            Err(_) => match h.seek(i64::MAX, Whence::Set).await {
                Ok(_) => h.seek(i64::MAX, Whence::Current).await,
                Err(e) => Err(e),
            },
        };
        match seek {
            Ok(pos) => {
                assert_eq!(pos, off, "{what}");
                let r = h.write(Bytes::from_static(b"YZ")).await;
                check_write(&f, &p, off, r, &what).await;
            }
            Err(e) => {
                assert_kind::<()>(Err(e), ErrorKind::InvalidArgument);
                assert_intact(&f, &p, &what).await;
            }
        }
        h.close().await.ok();
        cleanup(&f, &p).await;
    }
}

/// Reads at each extreme offset with sizes 0, 1, unbounded and 2^64-1 return exactly the window of
/// the content (empty past the end), never an error or a wrapped slice.
pub async fn reads_at_extreme_offsets_are_empty_or_exact(f: Fixture) {
    let (p, content) = match (f.root.is_some() && f.caps.write, f.existing.clone()) {
        (true, _) => {
            let p = f.at("read-far").unwrap();
            f.put(&p, b"0123456789").await;
            (p, Bytes::from_static(b"0123456789"))
        }
        (false, Some(existing)) => existing,
        (false, None) => return,
    };
    for off in EXTREMES {
        for size in [None, Some(0), Some(1), Some(u64::MAX)] {
            let want = crate::read_window(&content, off, size);
            let got = f.fs.read(&p, off, size).await.unwrap();
            assert_eq!(got, want, "read({off}, {size:?})");
            let got = f.fs.read_content(&p, off, size).await.unwrap();
            assert_eq!(
                got.into_bytes().await.unwrap(),
                want,
                "read_content({off}, {size:?})"
            );
        }
    }
}
