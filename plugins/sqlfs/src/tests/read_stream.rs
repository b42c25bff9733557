//! Large reads stream in batches on both backends: byte-exact, windows included, one batch in
//! memory at a time, and a write committed mid-stream ends the stream with an error instead of
//! mixing two versions.

use bytes::Bytes;
use fs_core::{ContentBody, ErrorKind, WriteFlags};
use futures_util::StreamExt;
use serde_json::Value;

use super::{drop_database, mysql_config, mysql_dsn, pattern, sqlfs, sqlite_config};
use crate::read_stream::STREAM_ABOVE;

on_both_backends!(
    large_reads_stream_in_batches_byte_exact,
    a_write_during_a_streamed_read_fails_the_stream,
);

async fn large_reads_stream_in_batches_byte_exact(config: Value) {
    let (fs, _) = sqlfs(config).await;
    let data = pattern(10 * 1024 * 1024 + 17, 5);
    fs.write("/big", Bytes::from(data.clone()), None, WriteFlags::NONE)
        .await
        .unwrap();
    for (offset, size) in [(0, None), (3_000_001, Some(6_000_000)), (1_000_000, None)] {
        let content = fs.read_content("/big", offset, size).await.unwrap();
        let end = size.map_or(data.len(), |s| (offset + s) as usize);
        let ContentBody::Stream { len, mut stream } = content.body else {
            panic!("a window over {STREAM_ABOVE} bytes streams ({offset}, {size:?})");
        };
        assert_eq!(len, Some((end - offset as usize) as u64));
        let mut got = Vec::new();
        let mut biggest = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            biggest = biggest.max(chunk.len());
            got.extend_from_slice(&chunk);
        }
        assert!(
            biggest as u64 <= 4 << 20,
            "one batch at a time, got {biggest}"
        );
        assert!(
            got == data[offset as usize..end],
            "window ({offset}, {size:?})"
        );
    }
    // Small windows stay one buffer.
    let small = fs.read_content("/big", 100, Some(1000)).await.unwrap();
    assert!(matches!(small.body, ContentBody::Bytes(ref b) if b[..] == data[100..1100]));
}

async fn a_write_during_a_streamed_read_fails_the_stream(config: Value) {
    let (fs, _) = sqlfs(config).await;
    fs.write(
        "/big",
        Bytes::from(pattern(12 * 1024 * 1024, 1)),
        None,
        WriteFlags::NONE,
    )
    .await
    .unwrap();
    let content = fs.read_content("/big", 0, None).await.unwrap();
    let ContentBody::Stream { mut stream, .. } = content.body else {
        panic!("12 MiB streams");
    };
    assert!(stream.next().await.unwrap().is_ok());
    fs.write(
        "/big",
        Bytes::from_static(b"x"),
        Some(20 << 20),
        WriteFlags::NONE,
    )
    .await
    .unwrap();
    let err = stream.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(
        err.to_string().contains("changed while it was being read"),
        "{err}"
    );
}
