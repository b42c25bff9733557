//! Cases about rename: files, replacing targets, whole subtrees, and moves into oneself.

use super::{Fixture, assert_kind, names};
use crate::ErrorKind;

/// Renaming a file moves its content; the old name is gone.
pub async fn rename_file_moves_content(f: Fixture) {
    let (Some(a), Some(b)) = (f.at("from.txt"), f.at("to.txt")) else {
        return;
    };
    if !f.caps.rename {
        return;
    }
    f.put(&a, b"moving").await;
    f.fs.rename(&a, &b).await.unwrap();
    assert_eq!(f.get(&b).await, "moving");
    assert_kind(f.fs.stat(&a).await, ErrorKind::NotFound);
}

/// Renaming onto an existing file replaces it.
pub async fn rename_onto_existing_file_replaces_it(f: Fixture) {
    let (Some(a), Some(b)) = (f.at("new.txt"), f.at("old.txt")) else {
        return;
    };
    if !f.caps.rename {
        return;
    }
    f.put(&a, b"new").await;
    f.put(&b, b"old").await;
    f.fs.rename(&a, &b).await.unwrap();
    assert_eq!(f.get(&b).await, "new");
    assert_kind(f.fs.stat(&a).await, ErrorKind::NotFound);
}

/// Renaming a directory moves its whole subtree (fs9 left the children behind).
pub async fn rename_directory_moves_subtree(f: Fixture) {
    if !f.has_dirs() || !f.caps.rename {
        return;
    }
    let d1 = f.at("d1").unwrap();
    let d2 = f.at("d2").unwrap();
    f.fs.mkdir(&d1, 0o755).await.unwrap();
    f.fs.mkdir(&format!("{d1}/sub"), 0o755).await.unwrap();
    f.put(&format!("{d1}/child"), b"c").await;
    f.put(&format!("{d1}/sub/deep"), b"d").await;
    f.fs.rename(&d1, &d2).await.unwrap();
    assert_eq!(f.get(&format!("{d2}/child")).await, "c");
    assert_eq!(f.get(&format!("{d2}/sub/deep")).await, "d");
    assert_eq!(names(f.fs.as_ref(), &d2).await.unwrap(), ["child", "sub"]);
    assert_kind(f.fs.stat(&d1).await, ErrorKind::NotFound);
    assert_kind(f.fs.stat(&format!("{d1}/child")).await, ErrorKind::NotFound);
}

/// Moving a directory into its own subtree is refused and changes nothing.
pub async fn rename_into_own_subtree_fails(f: Fixture) {
    if !f.has_dirs() || !f.caps.rename {
        return;
    }
    let d = f.at("loop").unwrap();
    f.fs.mkdir(&d, 0o755).await.unwrap();
    f.fs.mkdir(&format!("{d}/inner"), 0o755).await.unwrap();
    assert_kind(
        f.fs.rename(&d, &format!("{d}/inner/moved")).await,
        ErrorKind::InvalidArgument,
    );
    assert!(f.fs.stat(&format!("{d}/inner")).await.unwrap().is_dir);
}

/// Renaming a missing path is `NotFound`.
pub async fn rename_missing_is_not_found(f: Fixture) {
    let (Some(a), Some(b)) = (f.at("nothing"), f.at("something")) else {
        return;
    };
    if !f.caps.rename {
        return;
    }
    assert_kind(f.fs.rename(&a, &b).await, ErrorKind::NotFound);
}
