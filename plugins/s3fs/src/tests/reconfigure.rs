//! A mounted s3fs taking a new config in place: credentials and endpoint rotated while a read
//! streams and an upload runs (both finish on the client they began with), settings applied to the
//! next operation, and refused changes (bad credentials, a dead or silent endpoint, another bucket
//! or prefix) that leave the old client serving.

use fs_core::Reconfigured;
use futures_util::StreamExt;

use super::*;
use crate::S3Mount;

/// What the server does before it calls `reconfigure`: the key check and `validate`.
async fn change(mount: &S3Mount, old: &Value, new: &Value) -> fs_core::Result<Reconfigured> {
    fs_core::plugin::vet(&S3FsPlugin, new)?;
    mount.reconfigure(old, new).await
}

async fn mounted(config: &Value) -> S3Mount {
    fs_core::plugin::vet(&S3FsPlugin, config).unwrap();
    S3Mount::connect(S3Config::from_value(config).unwrap())
        .await
        .unwrap()
}

/// Byte `i` of a pattern body is `i % 251`.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A bucket of the same name on moto and on s3s-fs (both servers, or `None`).
async fn twin_buckets() -> Option<(String, String, String)> {
    let (moto, s3s) = (endpoint(Server::Moto)?, endpoint(Server::S3s)?);
    let bucket = new_bucket(&moto).await;
    raw(&s3s)
        .await
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    Some((moto, s3s, bucket))
}

async fn put_raw(ep: &str, bucket: &str, key: &str, data: Vec<u8>) {
    raw(ep)
        .await
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(data.into())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_streaming_through_a_rotation_completes_on_the_old_client() {
    let Some((moto, s3s, bucket)) = twin_buckets().await else {
        return;
    };
    // Larger than the socket buffers: the server is still sending when the client changes.
    let big = pattern(24 << 20);
    put_raw(&s3s, &bucket, "f", big.clone()).await;
    put_raw(&moto, &bucket, "f", b"moto's copy".to_vec()).await;
    let old = config(&s3s, &bucket, json!({}));
    let mount = mounted(&old).await;

    let content = mount.read_content("/f", 0, None).await.unwrap();
    let fs_core::ContentBody::Stream { mut stream, .. } = content.body else {
        panic!("a 24 MiB read streams");
    };
    let mut got = stream.next().await.unwrap().unwrap().to_vec();
    assert!(got.len() < big.len());

    // New endpoint and new credentials (moto takes any).
    let new = config(
        &moto,
        &bucket,
        json!({"access_key_id": "rotated", "secret_access_key": "rotated-secret"}),
    );
    assert_eq!(
        change(&mount, &old, &new).await.unwrap(),
        Reconfigured::Accepted
    );
    // The next operation runs on the new client ...
    assert_eq!(mount.read("/f", 0, None).await.unwrap(), "moto's copy");
    // ... while the read that began before the change still streams from the old one, whole.
    while let Some(chunk) = stream.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got.len(), big.len());
    assert!(got == big, "the streamed bytes differ from the object");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_running_through_a_rotation_completes_where_it_began() {
    let Some((moto, s3s, bucket)) = twin_buckets().await else {
        return;
    };
    let old = config(&moto, &bucket, json!({"multipart_part_size": "5MB"}));
    let mount = Arc::new(mounted(&old).await);

    let (tx, rx) = tokio::sync::mpsc::channel::<fs_core::Result<Bytes>>(2);
    let body: ByteStream = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| (c, rx))
    }));
    let up = {
        let mount = mount.clone();
        tokio::spawn(async move {
            mount
                .write_stream("/up", body, u64::MAX, None, WriteFlags::NONE)
                .await
        })
    };
    let data = pattern(12 << 20);
    let mut chunks = data.chunks(1 << 20);
    // Two full parts: the multipart upload begins on moto.
    for chunk in chunks.by_ref().take(11) {
        tx.send(Ok(Bytes::copy_from_slice(chunk))).await.unwrap();
    }
    let moto_client = raw(&moto).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let uploads = moto_client
            .list_multipart_uploads()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        if !uploads.uploads().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no multipart upload began on moto within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let new = config(&s3s, &bucket, json!({"multipart_part_size": "5MB"}));
    assert_eq!(
        change(&mount, &old, &new).await.unwrap(),
        Reconfigured::Accepted
    );
    for chunk in chunks {
        tx.send(Ok(Bytes::copy_from_slice(chunk))).await.unwrap();
    }
    drop(tx);
    assert_eq!(up.await.unwrap().unwrap(), data.len() as u64);

    // The object is whole on moto, where its upload began; s3s-fs, now in force, never saw it.
    let on_moto = moto_client
        .get_object()
        .bucket(&bucket)
        .key("up")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert!(on_moto == data, "moto holds {} bytes", on_moto.len());
    assert_kind(mount.stat("/up").await, ErrorKind::NotFound);
}

#[tokio::test]
async fn settings_apply_to_the_next_operation() {
    let Some(ep) = endpoint(Server::Moto) else {
        return;
    };
    let bucket = new_bucket(&ep).await;
    let old = config(&ep, &bucket, json!({"rewrite_limit": 16}));
    let mount = mounted(&old).await;
    mount
        .write(
            "/f",
            Bytes::from_static(b"0123456789"),
            None,
            WriteFlags::NONE,
        )
        .await
        .unwrap();
    let append = || {
        mount.write(
            "/f",
            Bytes::from_static(b"abcdefghij"),
            None,
            WriteFlags::APPEND,
        )
    };
    let err = append().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");

    let new = config(
        &ep,
        &bucket,
        json!({"rewrite_limit": "1MB", "timeout": "10s", "upload_concurrency": 4}),
    );
    assert_eq!(
        change(&mount, &old, &new).await.unwrap(),
        Reconfigured::Accepted
    );
    append().await.unwrap();
    assert_eq!(
        mount.read("/f", 0, None).await.unwrap(),
        "0123456789abcdefghij"
    );
    let current = mount.current();
    assert_eq!(
        (current.rewrite_limit, current.upload_concurrency),
        (1 << 20, 4)
    );

    // Only AGFS's unused cache keys: taken without a new client.
    let cached = config(
        &ep,
        &bucket,
        json!({"rewrite_limit": "1MB", "timeout": "10s", "upload_concurrency": 4, "cache_ttl": "5s"}),
    );
    assert_eq!(
        change(&mount, &new, &cached).await.unwrap(),
        Reconfigured::Accepted
    );
    assert!(Arc::ptr_eq(&current, &mount.current()));
}

#[tokio::test]
async fn refused_changes_keep_the_old_client_serving() {
    let Some(ep) = endpoint(Server::S3s) else {
        return;
    };
    let bucket = new_bucket(&ep).await;
    let old = config(&ep, &bucket, json!({"prefix": "tenant"}));
    let mount = mounted(&old).await;
    mount
        .write(
            "/a",
            Bytes::from_static(b"still here"),
            None,
            WriteFlags::NONE,
        )
        .await
        .unwrap();
    let before = mount.current();

    // A port nobody listens on, and a listener that never answers.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let fast = json!({"prefix": "tenant", "connect_timeout": "1s", "timeout": "1s"});
    let refused = [
        (
            config(
                &ep,
                &bucket,
                json!({"prefix": "tenant", "secret_access_key": "wrong"}),
            ),
            "SignatureDoesNotMatch",
        ),
        (config(&dead, &bucket, fast.clone()), "cannot reach"),
        (config(&silent_url, &bucket, fast), "timed out"),
        (
            config(&ep, "no-such-bucket-pfs", json!({"prefix": "tenant"})),
            "'bucket' cannot change",
        ),
        (
            config(&ep, &bucket, json!({"prefix": "other"})),
            "'prefix' cannot change",
        ),
        (
            config(&ep, &bucket, json!({"prefix": "tenant", "timeout": 0})),
            "'timeout': must be more than 0",
        ),
        (
            config(
                &ep,
                &bucket,
                json!({"prefix": "tenant", "endpoint": "ftp://x"}),
            ),
            "'endpoint'",
        ),
    ];
    for (new, words) in refused {
        let err = change(&mount, &old, &new).await.unwrap_err();
        let remount = words.contains("cannot change");
        let kind = if remount {
            ErrorKind::Unsupported
        } else {
            ErrorKind::InvalidArgument
        };
        assert_eq!(err.kind(), kind, "{new}: {err}");
        assert!(err.to_string().contains(words), "{new}: {err}");
        if !remount && !words.starts_with('\'') {
            assert!(
                err.to_string().contains("keeps its current config"),
                "{err}"
            );
        }
        assert!(Arc::ptr_eq(&before, &mount.current()), "{new}");
        assert_eq!(mount.read("/a", 0, None).await.unwrap(), "still here");
    }
}
