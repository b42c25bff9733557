//! Cases about file content: overwrite, append, positional writes, ranges, flags, truncate, touch.

use bytes::Bytes;
use futures_util::stream;

use super::{Fixture, assert_kind};
use crate::{ByteStream, ErrorKind, WriteFlags};

/// A plain write replaces the whole previous content.
pub async fn overwrite_replaces_content(f: Fixture) {
    let Some(p) = f.at("over.txt") else { return };
    f.put(&p, b"hello world").await;
    f.put(&p, b"bye").await;
    assert_eq!(f.get(&p).await, "bye");
    assert_eq!(f.fs.stat(&p).await.unwrap().size, 3);
}

/// `APPEND` adds at the end whatever the offset says.
pub async fn append_flag_appends(f: Fixture) {
    let Some(p) = f.at("append.txt") else { return };
    f.put(&p, b"one").await;
    f.fs.write(&p, Bytes::from_static(b"two"), None, WriteFlags::APPEND)
        .await
        .unwrap();
    f.fs.write(&p, Bytes::from_static(b"3"), Some(0), WriteFlags::APPEND)
        .await
        .unwrap();
    assert_eq!(f.get(&p).await, "onetwo3");
}

/// A positional write inside the file changes only its bytes.
pub async fn pwrite_inside_keeps_the_rest(f: Fixture) {
    let Some(p) = f.at("pwrite.txt") else { return };
    f.put(&p, b"hello world").await;
    let n =
        f.fs.write(&p, Bytes::from_static(b"J"), Some(0), WriteFlags::NONE)
            .await
            .unwrap();
    assert_eq!(n, 1);
    f.fs.write(&p, Bytes::from_static(b"W"), Some(6), WriteFlags::NONE)
        .await
        .unwrap();
    assert_eq!(f.get(&p).await, "Jello World");
}

/// A positional write past the end zero-fills the gap.
pub async fn pwrite_past_eof_zero_fills(f: Fixture) {
    let Some(p) = f.at("sparse.bin") else { return };
    f.put(&p, b"abc").await;
    f.fs.write(&p, Bytes::from_static(b"xy"), Some(5), WriteFlags::NONE)
        .await
        .unwrap();
    assert_eq!(f.get(&p).await, &b"abc\0\0xy"[..]);
    assert_eq!(f.fs.stat(&p).await.unwrap().size, 7);
}

/// Reads at the end, past the end and of size 0 return empty bytes, not errors.
pub async fn read_at_and_past_eof_is_empty(f: Fixture) {
    let Some(p) = f.at("eof.txt") else { return };
    f.put(&p, b"12345").await;
    assert!(f.fs.read(&p, 5, None).await.unwrap().is_empty());
    assert!(f.fs.read(&p, 500, Some(10)).await.unwrap().is_empty());
    assert!(f.fs.read(&p, 0, Some(0)).await.unwrap().is_empty());
}

/// `offset` and `size` select a slice; a size past the end stops at the end.
pub async fn read_ranges_slice_content(f: Fixture) {
    let Some(p) = f.at("range.txt") else { return };
    f.put(&p, b"0123456789").await;
    assert_eq!(f.fs.read(&p, 2, Some(3)).await.unwrap(), "234");
    assert_eq!(f.fs.read(&p, 7, Some(100)).await.unwrap(), "789");
    assert_eq!(f.fs.read(&p, 4, None).await.unwrap(), "456789");
}

/// `create` of an existing file is `AlreadyExists` and leaves its content alone.
pub async fn create_existing_is_already_exists(f: Fixture) {
    let Some(p) = f.at("created.txt") else { return };
    if !f.caps.create {
        return;
    }
    f.fs.create(&p).await.unwrap();
    assert_eq!(f.fs.stat(&p).await.unwrap().size, 0);
    f.put(&p, b"keep").await;
    assert_kind(f.fs.create(&p).await, ErrorKind::AlreadyExists);
    assert_eq!(f.get(&p).await, "keep");
}

/// `CREATE|EXCLUSIVE` fails on an existing file and changes nothing.
pub async fn exclusive_create_on_existing_fails(f: Fixture) {
    let Some(p) = f.at("excl.txt") else { return };
    let excl = WriteFlags::CREATE | WriteFlags::EXCLUSIVE;
    f.fs.write(&p, Bytes::from_static(b"first"), None, excl)
        .await
        .unwrap();
    assert_kind(
        f.fs.write(&p, Bytes::from_static(b"second"), None, excl)
            .await,
        ErrorKind::AlreadyExists,
    );
    assert_eq!(f.get(&p).await, "first");
}

/// With flags but without `CREATE`, writing a missing file is `NotFound` and creates nothing.
pub async fn write_missing_without_create_is_not_found(f: Fixture) {
    let Some(p) = f.at("absent.txt") else { return };
    assert_kind(
        f.fs.write(&p, Bytes::from_static(b"x"), None, WriteFlags::TRUNCATE)
            .await,
        ErrorKind::NotFound,
    );
    assert_kind(f.fs.stat(&p).await, ErrorKind::NotFound);
}

/// `TRUNCATE` with an offset empties the file, then writes at that offset.
pub async fn truncate_flag_empties_first(f: Fixture) {
    let Some(p) = f.at("trunc-flag.txt") else {
        return;
    };
    f.put(&p, b"long old content").await;
    f.fs.write(
        &p,
        Bytes::from_static(b"new"),
        Some(0),
        WriteFlags::TRUNCATE,
    )
    .await
    .unwrap();
    assert_eq!(f.get(&p).await, "new");
}

/// `truncate` cuts a file and zero-extends it.
pub async fn truncate_shrinks_and_extends(f: Fixture) {
    let Some(p) = f.at("truncate.txt") else {
        return;
    };
    if !f.caps.truncate {
        return;
    }
    f.put(&p, b"abcdef").await;
    f.fs.truncate(&p, 2).await.unwrap();
    assert_eq!(f.get(&p).await, "ab");
    f.fs.truncate(&p, 4).await.unwrap();
    assert_eq!(f.get(&p).await, &b"ab\0\0"[..]);
    assert_kind(
        f.fs.truncate(&f.at("nope").unwrap(), 1).await,
        ErrorKind::NotFound,
    );
}

/// `touch` creates a missing file and leaves an existing file's content unchanged.
pub async fn touch_creates_then_keeps_content(f: Fixture) {
    let Some(p) = f.at("touched.txt") else { return };
    f.fs.touch(&p).await.unwrap();
    assert_eq!(f.fs.stat(&p).await.unwrap().size, 0);
    f.put(&p, b"content").await;
    let before = f.fs.stat(&p).await.unwrap().mod_time;
    f.fs.touch(&p).await.unwrap();
    assert_eq!(f.get(&p).await, "content");
    let after = f.fs.stat(&p).await.unwrap().mod_time;
    assert!(after >= before, "touch moved mtime backwards");
}

/// A streamed write of several chunks stores what a single write would.
pub async fn write_stream_matches_write(f: Fixture) {
    let Some(p) = f.at("streamed.bin") else {
        return;
    };
    let chunks: Vec<crate::Result<Bytes>> = vec![
        Ok(Bytes::from_static(b"chunk-1|")),
        Ok(Bytes::from_static(b"chunk-2|")),
        Ok(Bytes::from_static(b"3")),
    ];
    let s: ByteStream = Box::pin(stream::iter(chunks));
    let n =
        f.fs.write_stream(&p, s, 1 << 20, None, WriteFlags::NONE)
            .await
            .unwrap();
    assert_eq!(n, 17);
    assert_eq!(f.get(&p).await, "chunk-1|chunk-2|3");
    // A stream over the limit fails and leaves the old content.
    let big: ByteStream = Box::pin(stream::iter(vec![Ok(Bytes::from(vec![b'x'; 64]))]));
    assert_kind(
        f.fs.write_stream(&p, big, 10, None, WriteFlags::NONE).await,
        ErrorKind::PayloadTooLarge,
    );
    assert_eq!(f.get(&p).await, "chunk-1|chunk-2|3");
    // A stream that errors midway also leaves the old content.
    let broken: ByteStream = Box::pin(stream::iter(vec![
        Ok(Bytes::from_static(b"partial")),
        Err(crate::Error::internal("client went away")),
    ]));
    assert!(
        f.fs.write_stream(&p, broken, 1 << 20, None, WriteFlags::NONE)
            .await
            .is_err()
    );
    assert_eq!(f.get(&p).await, "chunk-1|chunk-2|3");
}

/// `read_content` yields exactly what `read` does.
pub async fn read_content_matches_read(f: Fixture) {
    let Some(p) = f.at("content.txt") else { return };
    f.put(&p, b"some content here").await;
    let c = f.fs.read_content(&p, 5, Some(7)).await.unwrap();
    assert_eq!(c.into_bytes().await.unwrap(), "content");
}

/// stat reports the size, `isDir` false and permission bits without type bits.
pub async fn stat_reports_size_and_mode_bits(f: Fixture) {
    let Some(p) = f.at("stat.txt") else { return };
    f.put(&p, b"12345678").await;
    let info = f.fs.stat(&p).await.unwrap();
    assert_eq!(info.size, 8);
    assert!(!info.is_dir);
    assert_eq!(info.name, "stat.txt");
    assert!(
        info.mode <= 0o7777,
        "mode {:o} carries type bits",
        info.mode
    );
}

/// `chmod` sets the permission bits stat reports.
pub async fn chmod_sets_permission_bits(f: Fixture) {
    let Some(p) = f.at("chmod.txt") else { return };
    if !f.caps.chmod {
        return;
    }
    f.put(&p, b"x").await;
    f.fs.chmod(&p, 0o600).await.unwrap();
    assert_eq!(f.fs.stat(&p).await.unwrap().mode, 0o600);
    assert_kind(
        f.fs.chmod(&f.at("nope").unwrap(), 0o600).await,
        ErrorKind::NotFound,
    );
}

/// A read-only filesystem's known file reads back exactly, with ranges and EOF rules.
pub async fn existing_file_reads(f: Fixture) {
    let Some((p, content)) = f.existing.clone() else {
        return;
    };
    assert_eq!(f.get(&p).await, content);
    let info = f.fs.stat(&p).await.unwrap();
    assert!(!info.is_dir);
    assert_eq!(info.size, content.len() as u64);
    assert!(
        f.fs.read(&p, content.len() as u64 + 10, None)
            .await
            .unwrap()
            .is_empty()
    );
    if content.len() > 2 {
        assert_eq!(
            f.fs.read(&p, 1, Some(1)).await.unwrap(),
            content.slice(1..2)
        );
    }
}

/// `SYNC` alone asks only for durability: a missing file is created and an existing one replaced,
/// as with no flag at all (one rule for every plugin: [`WriteFlags::creates`]).
pub async fn sync_only_write_creates_like_no_flags(f: Fixture) {
    let Some(p) = f.at("synced.txt") else { return };
    f.fs.write(&p, Bytes::from_static(b"first"), None, WriteFlags::SYNC)
        .await
        .unwrap_or_else(|e| panic!("a sync-only write must create {p}: {e}"));
    assert_eq!(f.get(&p).await, "first");
    f.fs.write(&p, Bytes::from_static(b"2nd"), None, WriteFlags::SYNC)
        .await
        .unwrap();
    assert_eq!(f.get(&p).await, "2nd");
}
