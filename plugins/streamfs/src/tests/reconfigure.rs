//! streamfs's buffer sizes changed on a mounted instance: readers attached before keep reading,
//! rings shrink by dropping their oldest chunks, a smaller channel size holds for the next chunk.

use fs_core::Reconfigured;
use futures_util::FutureExt;

use super::*;

/// Gives `fs` the config `new` in place, as the mount router does after checking it.
async fn change(fs: &dyn FileSystem, old: &serde_json::Value, new: serde_json::Value) {
    fs_core::plugin::vet(&StreamFsPlugin, &new).unwrap();
    assert_eq!(
        fs.reconfigure(old, &new).await.unwrap(),
        Reconfigured::Accepted
    );
}

/// Asserts that `s` has no chunk ready now.
#[track_caller]
fn assert_idle(s: &mut ByteStream) {
    if let Some(got) = s.next().now_or_never() {
        panic!("expected no chunk, got {got:?}");
    }
}

#[tokio::test]
async fn a_smaller_ring_drops_the_oldest_chunks_and_readers_keep_reading() {
    let fs = new_fs(100, 100);
    let mut before = fs.open_stream("/live").await.unwrap();
    for chunk in ["aaaa", "bbbb", "cccc"] {
        put(&fs, "/live", chunk).await;
    }
    change(
        &fs,
        &json!({"ring_buffer_size": 100, "channel_buffer_size": 100}),
        json!({"ring_buffer_size": 5, "channel_buffer_size": 100}),
    )
    .await;
    assert_eq!(fs.config().ring_buffer_size, 5);

    // A new reader gets the history that fits the new size: the newest chunk only.
    let mut after = fs.open_stream("/live").await.unwrap();
    assert_eq!(next(&mut after).await.unwrap(), "cccc");
    assert_idle(&mut after);
    put(&fs, "/live", "dddd").await;
    assert_eq!(next(&mut after).await.unwrap(), "dddd");
    // The reader attached before the change misses nothing, before it or after.
    for want in ["aaaa", "bbbb", "cccc", "dddd"] {
        assert_eq!(next(&mut before).await.unwrap(), want);
    }
    // The ring keeps to the new size on writes too: "dddd" alone.
    let mut late = fs.open_stream("/live").await.unwrap();
    assert_eq!(next(&mut late).await.unwrap(), "dddd");
    assert_idle(&mut late);
    assert_eq!(stat_meta(&fs, "/live", "active_readers").await, 3);

    // No history at all, then a larger ring that grows from the next write.
    change(
        &fs,
        &json!({"ring_buffer_size": 5}),
        json!({"ring_buffer_size": 0}),
    )
    .await;
    let mut none = fs.open_stream("/live").await.unwrap();
    assert_idle(&mut none);
    change(
        &fs,
        &json!({"ring_buffer_size": 0}),
        json!({"ring_buffer_size": "1KB"}),
    )
    .await;
    for chunk in ["e", "f"] {
        put(&fs, "/live", chunk).await;
    }
    let mut grown = fs.open_stream("/live").await.unwrap();
    assert_eq!(next(&mut grown).await.unwrap(), "e");
    assert_eq!(next(&mut grown).await.unwrap(), "f");
    assert_eq!(next(&mut none).await.unwrap(), "e");
}

#[tokio::test]
async fn a_smaller_channel_keeps_what_is_queued_and_holds_for_the_next_chunk() {
    let fs = new_fs(0, 100);
    let mut slow = fs.open_stream("/live").await.unwrap();
    let mut fast = fs.open_stream("/live").await.unwrap();
    for chunk in ["0123456789", "abcdefghij", "ABCDEFGHIJ"] {
        put(&fs, "/live", chunk).await;
        next(&mut fast).await.unwrap();
    }
    change(
        &fs,
        &json!({"ring_buffer_size": 0, "channel_buffer_size": 100}),
        json!({"ring_buffer_size": 0, "channel_buffer_size": 15}),
    )
    .await;
    // `slow` holds 30 bytes, more than 15: the next chunk is dropped for it, not for `fast`.
    put(&fs, "/live", "dropped...").await;
    assert_eq!(next(&mut fast).await.unwrap(), "dropped...");
    assert_eq!(stat_meta(&fs, "/live", "dropped_chunks").await, 1);
    for want in ["0123456789", "abcdefghij", "ABCDEFGHIJ"] {
        assert_eq!(next(&mut slow).await.unwrap(), want);
    }
    assert_idle(&mut slow);
    // Drained: it takes chunks again, up to the new size (an empty queue takes any chunk).
    for chunk in ["kept......", "over......"] {
        put(&fs, "/live", chunk).await;
        assert_eq!(next(&mut fast).await.unwrap(), chunk);
    }
    assert_eq!(next(&mut slow).await.unwrap(), "kept......");
    assert_idle(&mut slow);
    assert_eq!(stat_meta(&fs, "/live", "dropped_chunks").await, 2);
}

#[tokio::test]
async fn a_bad_size_is_refused_and_changes_nothing() {
    let fs = new_fs(100, 100);
    put(&fs, "/live", "kept").await;
    let old = json!({"ring_buffer_size": 100, "channel_buffer_size": 100});
    let e = fs
        .reconfigure(
            &old,
            &json!({"ring_buffer_size": 1, "channel_buffer_size": 0}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("channel_buffer_size"), "{e}");
    let e = fs_core::plugin::vet(&StreamFsPlugin, &json!({"ring_buffer_size": -1})).unwrap_err();
    assert!(e.to_string().contains("ring_buffer_size"), "{e}");
    assert_eq!(
        fs.config(),
        StreamFsConfig {
            ring_buffer_size: 100,
            channel_buffer_size: 100
        }
    );
    // The ring was not trimmed to the refused size.
    let mut r = fs.open_stream("/live").await.unwrap();
    assert_eq!(next(&mut r).await.unwrap(), "kept");
}

#[tokio::test]
async fn every_streamfs_key_is_live() {
    for p in StreamFsPlugin.config_params() {
        assert_eq!(p.change, fs_core::config::Change::Live, "{}", p.name);
    }
}
