//! Faults in the middle of a request: a body that panics halfway is unwound (or reported as an
//! error) without leaving a half-applied change, and the filesystem keeps serving.

use std::panic::AssertUnwindSafe;
use std::task::Poll;

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt, stream};

use super::Fixture;
use crate::{ByteStream, Result, WriteFlags};

/// A body that yields a chunk, then panics, as a bug in a layer below the plugin would.
fn panicking_body() -> ByteStream {
    let first = stream::iter([Ok(Bytes::from_static(b"NEW"))]);
    let boom = stream::poll_fn(|_| -> Poll<Option<Result<Bytes>>> {
        panic!("injected fault: the request body panics midway")
    });
    Box::pin(first.chain(boom))
}

/// For a replace, a positional write, an append and a truncating write: the panic reaches the
/// caller (or the plugin turns it into an error), the file still holds exactly its old content, and
/// the next write works.
pub async fn a_panicking_body_changes_nothing(f: Fixture) {
    let Some(p) = f.at("panicky.txt") else { return };
    if !f.caps.write {
        return;
    }
    f.put(&p, b"KEEP").await;
    for (offset, flags) in [
        (None, WriteFlags::NONE),
        (Some(2), WriteFlags::NONE),
        (None, WriteFlags::APPEND),
        (Some(1), WriteFlags::TRUNCATE),
    ] {
        let write =
            f.fs.write_stream(&p, panicking_body(), 1 << 20, offset, flags);
        if let Ok(result) = AssertUnwindSafe(write).catch_unwind().await {
            assert!(
                result.is_err(),
                "a write whose body panicked reported success ({offset:?}, {flags:?})"
            );
        }
        assert_eq!(
            f.fs.read(&p, 0, Some(16)).await.unwrap(),
            "KEEP",
            "a panicking body changed the file ({offset:?}, {flags:?})"
        );
        assert_eq!(f.fs.stat(&p).await.unwrap().size, 4);
    }
    f.put(&p, b"after").await;
    assert_eq!(f.get(&p).await, "after");
}
