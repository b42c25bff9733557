//! Tree removal with batched deletes (and the per-key fallback), and directory moves with copies
//! in flight together, on moto and on s3s-fs.

use super::*;

/// Puts `keys` straight into the bucket (so s3s-fs, which cannot hold directory markers, gets a
/// tree too).
async fn seed(ep: &str, bucket: &str, keys: &[String]) {
    let client = raw(ep).await;
    for key in keys {
        client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
}

/// Every key in the bucket, sorted.
async fn all_keys(ep: &str, bucket: &str) -> Vec<String> {
    let page = raw(ep)
        .await
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let mut keys: Vec<String> = page
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    keys.sort();
    keys
}

/// Seven keys under `tenant/t/` (three levels) and one beside the tree that must stay.
fn tree() -> Vec<String> {
    let mut keys: Vec<String> = (0..4).map(|i| format!("tenant/t/f{i}")).collect();
    keys.extend(["tenant/t/a/g", "tenant/t/a/b/h", "tenant/t/a/b/i"].map(String::from));
    keys.push("tenant/t-sibling".into());
    keys
}

async fn remove_tree(server: Server) {
    let Some((mut fs, ep, bucket)) = fresh(server, json!({"prefix": "tenant"})).await else {
        return;
    };
    // Three keys a request: seven keys take three DeleteObjects requests.
    fs.delete_batch_size = 3;
    seed(&ep, &bucket, &tree()).await;
    fs.remove_all("/t").await.unwrap();
    assert_eq!(all_keys(&ep, &bucket).await, ["tenant/t-sibling"]);
    assert!(
        fs.batch_deletes.load(Ordering::SeqCst),
        "{server:?} took DeleteObjects"
    );

    // A server that refuses DeleteObjects gets one DeleteObject per key, and keeps getting them.
    seed(&ep, &bucket, &tree()).await;
    fs.refuse_batch_deletes.store(true, Ordering::SeqCst);
    fs.remove_all("/t").await.unwrap();
    assert_eq!(all_keys(&ep, &bucket).await, ["tenant/t-sibling"]);
    assert!(!fs.batch_deletes.load(Ordering::SeqCst));
    seed(&ep, &bucket, &tree()).await;
    fs.remove_all("/t").await.unwrap();
    assert_eq!(all_keys(&ep, &bucket).await, ["tenant/t-sibling"]);
}

#[tokio::test]
async fn remove_all_batches_deletes_on_moto() {
    remove_tree(Server::Moto).await;
}

#[tokio::test]
async fn remove_all_batches_deletes_on_s3s_fs() {
    remove_tree(Server::S3s).await;
}

#[tokio::test]
async fn a_directory_of_many_objects_moves_whole() {
    let Some((mut fs, ep, bucket)) = fresh(Server::Moto, json!({"prefix": "tenant"})).await else {
        return;
    };
    fs.delete_batch_size = 7;
    // More objects than copies in flight, in nested directories.
    let keys: Vec<String> = (0..3 * super::super::bulk::COPY_CONCURRENCY + 1)
        .map(|i| format!("tenant/src/d{}/f{i}", i % 3))
        .collect();
    seed(&ep, &bucket, &keys).await;
    fs.rename("/src", "/dst").await.unwrap();
    let mut want: Vec<String> = keys.iter().map(|k| k.replace("/src/", "/dst/")).collect();
    // The source was implicit (no marker): the target gets one so it outlives its files.
    want.push("tenant/dst/".into());
    want.sort();
    assert_eq!(all_keys(&ep, &bucket).await, want);
    for i in [0, 7, 3 * super::super::bulk::COPY_CONCURRENCY] {
        let path = format!("/dst/d{}/f{i}", i % 3);
        assert_eq!(fs.read(&path, 0, None).await.unwrap(), "x", "{path}");
    }
    assert_kind(fs.stat("/src").await, ErrorKind::NotFound);
}
