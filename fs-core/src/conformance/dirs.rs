//! Cases about directories: mkdir, listings, removal, kind mismatches.

use super::{Fixture, assert_kind, names};
use crate::ErrorKind;

/// `mkdir` creates a directory that stat and the parent's listing show.
pub async fn mkdir_then_list(f: Fixture) {
    if !f.has_dirs() {
        return;
    }
    let d = f.at("dir").unwrap();
    f.fs.mkdir(&d, 0o750).await.unwrap();
    let info = f.fs.stat(&d).await.unwrap();
    assert!(info.is_dir);
    assert_eq!(info.name, "dir");
    if f.caps.chmod {
        // A filesystem with permission bits keeps the ones mkdir was given.
        assert_eq!(info.mode, 0o750);
    }
    f.put(&format!("{d}/a"), b"1").await;
    f.put(&format!("{d}/b"), b"22").await;
    assert_eq!(names(f.fs.as_ref(), &d).await.unwrap(), ["a", "b"]);
    let listed = f.fs.read_dir(&d).await.unwrap();
    let b = listed.iter().find(|i| i.name == "b").unwrap();
    assert_eq!(b.size, 2);
    assert!(!b.is_dir);
    assert!(
        names(f.fs.as_ref(), f.root.as_deref().unwrap())
            .await
            .unwrap()
            .contains(&"dir".to_string())
    );
}

/// An empty directory lists as an empty vector.
pub async fn empty_directory_lists_empty(f: Fixture) {
    if !f.has_dirs() {
        return;
    }
    let d = f.at("empty").unwrap();
    f.fs.mkdir(&d, 0o755).await.unwrap();
    assert!(f.fs.read_dir(&d).await.unwrap().is_empty());
}

/// `mkdir` on an existing directory or file is `AlreadyExists`.
pub async fn mkdir_existing_is_already_exists(f: Fixture) {
    if !f.has_dirs() {
        return;
    }
    let d = f.at("twice").unwrap();
    f.fs.mkdir(&d, 0o755).await.unwrap();
    assert_kind(f.fs.mkdir(&d, 0o755).await, ErrorKind::AlreadyExists);
    let file = f.at("file").unwrap();
    f.put(&file, b"x").await;
    assert_kind(f.fs.mkdir(&file, 0o755).await, ErrorKind::AlreadyExists);
}

/// `remove` of a non-empty directory is `DirectoryNotEmpty` and removes nothing.
pub async fn remove_non_empty_directory_fails(f: Fixture) {
    if !f.has_dirs() {
        return;
    }
    let d = f.at("full").unwrap();
    f.fs.mkdir(&d, 0o755).await.unwrap();
    f.put(&format!("{d}/x"), b"x").await;
    assert_kind(f.fs.remove(&d).await, ErrorKind::DirectoryNotEmpty);
    assert_eq!(f.get(&format!("{d}/x")).await, "x");
    f.fs.remove(&format!("{d}/x")).await.unwrap();
    f.fs.remove(&d).await.unwrap();
    assert_kind(f.fs.stat(&d).await, ErrorKind::NotFound);
}

/// `remove_all` removes a directory with its whole subtree.
pub async fn remove_all_removes_subtree(f: Fixture) {
    let Some(root) = f.root.clone() else { return };
    if !f.has_dirs() {
        let p = f.at("single").unwrap();
        f.put(&p, b"x").await;
        f.fs.remove_all(&p).await.unwrap();
        assert_kind(f.fs.stat(&p).await, ErrorKind::NotFound);
        return;
    }
    let d = f.at("tree").unwrap();
    f.fs.mkdir(&d, 0o755).await.unwrap();
    f.fs.mkdir(&format!("{d}/sub"), 0o755).await.unwrap();
    f.put(&format!("{d}/sub/deep"), b"x").await;
    f.put(&format!("{d}/top"), b"y").await;
    f.fs.remove_all(&d).await.unwrap();
    assert_kind(f.fs.stat(&d).await, ErrorKind::NotFound);
    assert_kind(
        f.fs.stat(&format!("{d}/sub/deep")).await,
        ErrorKind::NotFound,
    );
    assert!(
        !names(f.fs.as_ref(), &root)
            .await
            .unwrap()
            .contains(&"tree".to_string())
    );
}

/// `remove` of a missing path is `NotFound`.
pub async fn remove_missing_is_not_found(f: Fixture) {
    let Some(p) = f.at("ghost") else { return };
    assert_kind(f.fs.remove(&p).await, ErrorKind::NotFound);
}

/// Listing a file is `NotADirectory`.
pub async fn read_dir_of_file_is_not_a_directory(f: Fixture) {
    let Some(p) = f.at("plain.txt") else { return };
    f.put(&p, b"x").await;
    assert_kind(f.fs.read_dir(&p).await, ErrorKind::NotADirectory);
}

/// Reading or writing a directory is `IsADirectory`.
pub async fn read_of_directory_is_a_directory(f: Fixture) {
    if !f.has_dirs() {
        return;
    }
    let d = f.at("adir").unwrap();
    f.fs.mkdir(&d, 0o755).await.unwrap();
    assert_kind(f.fs.read(&d, 0, None).await, ErrorKind::IsADirectory);
    assert_kind(
        f.fs.write(&d, "x".into(), None, crate::WriteFlags::NONE)
            .await,
        ErrorKind::IsADirectory,
    );
}

/// A file used as a parent directory is `NotADirectory` for stat, writes, create and mkdir below
/// it, and the file stays as it was.
pub async fn file_as_parent_is_rejected(f: Fixture) {
    let Some(p) = f.at("parent.txt") else { return };
    f.put(&p, b"x").await;
    let below = format!("{p}/child");
    let nad = ErrorKind::NotADirectory;
    assert_kind(
        f.fs.write(&below, "x".into(), None, crate::WriteFlags::NONE)
            .await,
        nad,
    );
    assert_kind(
        f.fs.write(&below, "x".into(), None, crate::WriteFlags::CREATE)
            .await,
        nad,
    );
    if f.caps.create {
        assert_kind(f.fs.create(&below).await, nad);
    }
    if f.caps.mkdir {
        assert_kind(f.fs.mkdir(&below, 0o755).await, nad);
    }
    assert_kind(f.fs.stat(&below).await, nad);
    assert_eq!(f.get(&p).await, "x", "the file changed");
}
