//! Small whole-file writes: rewritten in place (the same inode) only where nobody can tell, and
//! replaced (a new inode) whenever a read, a handle, another link or a shorter content could.

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use bytes::Bytes;
use fs_core::{ContentBody, FileSystem, OpenFlags, WriteFlags};
use futures_util::TryStreamExt;

use super::fresh;

fn inode(fs: &super::LocalFs, name: &str) -> u64 {
    std::fs::metadata(fs.base().join(name)).unwrap().ino()
}

fn on_disk(fs: &super::LocalFs, name: &str) -> Vec<u8> {
    std::fs::read(fs.base().join(name)).unwrap()
}

async fn put(fs: &super::LocalFs, p: &str, data: Vec<u8>) {
    fs.write(p, Bytes::from(data), None, WriteFlags::NONE)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_small_overwrite_of_the_same_or_larger_size_keeps_the_inode() {
    let fs = fresh();
    put(&fs, "/f", vec![b'a'; 1000]).await;
    let ino = inode(&fs, "f");
    put(&fs, "/f", vec![b'b'; 1000]).await;
    put(&fs, "/f", vec![b'c'; 3000]).await;
    assert_eq!(inode(&fs, "f"), ino, "rewritten in place");
    assert_eq!(on_disk(&fs, "f"), vec![b'c'; 3000]);
}

#[tokio::test]
async fn shorter_larger_than_a_page_or_linked_contents_replace_the_file() {
    let fs = fresh();
    put(&fs, "/f", vec![b'a'; 1000]).await;
    let ino = inode(&fs, "f");
    put(&fs, "/f", vec![b'b'; 10]).await;
    assert_ne!(inode(&fs, "f"), ino, "a shorter content is a new file");
    assert_eq!(on_disk(&fs, "f"), vec![b'b'; 10]);

    let ino = inode(&fs, "f");
    put(&fs, "/f", vec![b'c'; 64 * 1024]).await;
    assert_ne!(inode(&fs, "f"), ino, "more than a page is a new file");
    assert_eq!(on_disk(&fs, "f"), vec![b'c'; 64 * 1024]);

    put(&fs, "/g", vec![b'g'; 100]).await;
    std::fs::hard_link(fs.base().join("g"), fs.base().join("g2")).unwrap();
    put(&fs, "/g", vec![b'h'; 100]).await;
    assert_eq!(on_disk(&fs, "g"), vec![b'h'; 100]);
    assert_eq!(
        on_disk(&fs, "g2"),
        vec![b'g'; 100],
        "the other link keeps its content"
    );
}

#[tokio::test]
async fn an_open_handle_or_a_read_in_progress_keeps_the_old_content() {
    let fs = Arc::new(fresh());
    put(&fs, "/f", vec![b'a'; 1000]).await;
    let ino = inode(&fs, "f");
    let mut handle = fs
        .clone()
        .open_handle("/f", OpenFlags::RDONLY, 0)
        .await
        .unwrap();
    put(&fs, "/f", vec![b'b'; 1000]).await;
    assert_ne!(inode(&fs, "f"), ino, "replaced while a handle had it open");
    assert_eq!(handle.read(2000).await.unwrap(), vec![b'a'; 1000]);
    drop(handle);

    let content = fs.read_content("/f", 0, None).await.unwrap();
    put(&fs, "/f", vec![b'c'; 1000]).await;
    let ContentBody::Stream { stream, .. } = content.body else {
        panic!("localfs streams its reads");
    };
    let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
    assert_eq!(
        chunks.concat(),
        vec![b'b'; 1000],
        "the read in progress saw the old file whole"
    );
    assert_eq!(on_disk(&fs, "f"), vec![b'c'; 1000]);

    // With the read over, the next write may go in place again.
    let ino = inode(&fs, "f");
    put(&fs, "/f", vec![b'd'; 1000]).await;
    assert_eq!(inode(&fs, "f"), ino);
}
