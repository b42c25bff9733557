//! queuefs's limits (`max_message_size`, `max_queue_length`) on every backend, and the config
//! changes a mounted instance takes in place (the limits) or refuses (the backend keys).

use fs_core::Reconfigured;

use super::*;

/// Gives the mounted `fs` the config `new` in place, as the mount router does (`old` is the
/// config it runs on: the backend keys are the same on both sides).
async fn change(fs: &Arc<dyn FileSystem>, old: &Value, new: Value) -> Value {
    fs_core::plugin::vet(&QueueFsPlugin, &new).unwrap();
    assert_eq!(
        fs.reconfigure(old, &new).await.unwrap(),
        Reconfigured::Accepted
    );
    new
}

async fn try_enqueue(fs: &Arc<dyn FileSystem>, queue: &str, msg: &str) -> fs_core::Result<u64> {
    fs.write(
        &format!("{queue}/enqueue"),
        body(msg),
        None,
        WriteFlags::NONE,
    )
    .await
}

#[track_caller]
fn assert_too_large(r: fs_core::Result<u64>, words: &str) {
    match r {
        Err(e) if e.kind() == ErrorKind::PayloadTooLarge => {
            assert!(e.to_string().contains(words), "{e} lacks {words:?}");
        }
        other => panic!("expected PayloadTooLarge ({words}), got {other:?}"),
    }
}

on_every_backend!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    limits_change_in_place_and_hold_for_the_next_enqueue,
    max_queue_length_holds_under_concurrent_producers,
);

async fn limits_change_in_place_and_hold_for_the_next_enqueue(fs: Arc<dyn FileSystem>) {
    // No limit by default (AGFS has none).
    enqueue(&fs, "/q", &"x".repeat(100_000)).await;
    for _ in 0..3 {
        enqueue(&fs, "/q", "m").await;
    }
    assert_eq!(
        dequeue(&fs, "/q").await.unwrap()["data"]
            .as_str()
            .unwrap()
            .len(),
        100_000
    );

    let cfg = change(
        &fs,
        &json!({}),
        json!({"max_message_size": 4, "max_queue_length": 3}),
    )
    .await;
    // /q holds 3: full; nothing is stored, and other queues are not affected.
    assert_too_large(try_enqueue(&fs, "/q", "m").await, "queue full: /q holds 3");
    assert_eq!(size(&fs, "/q").await, "3");
    enqueue(&fs, "/other", "abcd").await;
    assert_too_large(
        try_enqueue(&fs, "/other", "abcde").await,
        "max_message_size",
    );
    assert_eq!(size(&fs, "/other").await, "1");
    // A dequeue makes room for exactly one.
    dequeue(&fs, "/q").await.unwrap();
    enqueue(&fs, "/q", "n").await;
    assert_too_large(try_enqueue(&fs, "/q", "o").await, "max_queue_length");

    // Lowered below what /q holds: the messages stay, enqueues wait until it is under the limit.
    let cfg = change(&fs, &cfg, json!({"max_queue_length": 1})).await;
    assert_eq!(size(&fs, "/q").await, "3");
    dequeue(&fs, "/q").await.unwrap();
    assert_too_large(try_enqueue(&fs, "/q", "p").await, "holds 1 messages");
    dequeue(&fs, "/q").await.unwrap();
    assert_too_large(try_enqueue(&fs, "/q", "p").await, "queue full");
    dequeue(&fs, "/q").await.unwrap();
    enqueue(&fs, "/q", "a long message: max_message_size is gone").await;

    // Both limits left out: none again.
    change(&fs, &cfg, json!({})).await;
    enqueue(&fs, "/q", "and another").await;
    assert_eq!(size(&fs, "/q").await, "2");
}

async fn max_queue_length_holds_under_concurrent_producers(fs: Arc<dyn FileSystem>) {
    change(&fs, &json!({}), json!({"max_queue_length": 5})).await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let fs = fs.clone();
            tokio::spawn(async move { try_enqueue(&fs, "/jobs", &format!("m{i}")).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.kind(), ErrorKind::PayloadTooLarge, "{e}"),
        }
    }
    assert_eq!((ok, size(&fs, "/jobs").await.as_str()), (5, "5"));
}

#[tokio::test]
async fn backend_keys_need_a_remount_and_bad_limits_are_refused() {
    let fs = mount(json!({})).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let e = fs
        .reconfigure(
            &json!({}),
            &json!({"backend": "sqlite", "db_path": db.to_str().unwrap(), "max_queue_length": 1}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(
        e.to_string().contains("'backend', 'db_path' cannot change"),
        "{e}"
    );
    // Refused: the limit in it was not applied either.
    for i in 0..3 {
        enqueue(&fs, "/q", &format!("m{i}")).await;
    }

    for (bad, key) in [
        (json!({"max_queue_length": 0}), "max_queue_length"),
        (json!({"max_message_size": 0}), "max_message_size"),
        (json!({"max_message_size": -5}), "max_message_size"),
        (json!({"max_queue_length": "many"}), "max_queue_length"),
    ] {
        let e = fs_core::plugin::vet(&QueueFsPlugin, &bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}: {e}");
        assert!(e.to_string().contains(key), "{e}");
    }
}

#[tokio::test]
async fn limits_in_the_mount_config_apply_from_the_start_and_to_handles() {
    let fs = mount(json!({"max_message_size": "1KB", "max_queue_length": 2})).await;
    enqueue(&fs, "/q", &"x".repeat(1024)).await;
    assert_too_large(
        try_enqueue(&fs, "/q", &"x".repeat(1025)).await,
        "1024 bytes",
    );
    let mut h = fs
        .clone()
        .open_handle("/q/enqueue", fs_core::OpenFlags::WRONLY, 0)
        .await
        .unwrap();
    let e = h.write(body(&"y".repeat(2000))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PayloadTooLarge, "{e}");
    h.write(body("fits")).await.unwrap();
    let e = h.write(body("full")).await.unwrap_err();
    assert!(e.to_string().contains("queue full"), "{e}");
    assert_eq!(size(&fs, "/q").await, "2");
}
