//! Cases about names and paths: special characters, the root, trailing slashes, missing parents.

use super::{Fixture, assert_kind, names};
use crate::{ErrorKind, path};

/// Names with spaces, `#`, `%`, `?`, `&`, `+`, `=` and unicode are stored, listed and read back as given.
pub async fn special_names_roundtrip(f: Fixture) {
    let Some(_) = f.root else { return };
    let specials = [
        "a b.txt",
        "hash#tag",
        "100%",
        "what?",
        "this&that",
        "plus+eq=",
        "ünï©ødé ✓",
    ];
    for name in specials {
        let p = f.at(name).unwrap();
        f.put(&p, name.as_bytes()).await;
        assert_eq!(f.get(&p).await, name.as_bytes(), "content of {name:?}");
        assert_eq!(f.fs.stat(&p).await.unwrap().name, name);
    }
    let listed = names(f.fs.as_ref(), f.root.as_deref().unwrap())
        .await
        .unwrap();
    for name in specials {
        assert!(
            listed.iter().any(|n| n == name),
            "{name:?} missing from listing {listed:?}"
        );
    }
}

/// `/` exists, is a directory and can be listed.
pub async fn root_is_a_directory(f: Fixture) {
    let info = f.fs.stat("/").await.unwrap();
    assert!(info.is_dir, "root must be a directory: {info:?}");
    f.fs.read_dir("/").await.unwrap();
}

/// `dir/file/` and `/dir//file` normalize to the file written as `/dir/file`.
pub async fn trailing_slash_names_the_same_file(f: Fixture) {
    let Some(p) = f.at("slash.txt") else { return };
    f.put(&p, b"same").await;
    for variant in [
        format!("{p}/"),
        p.replacen('/', "//", 1),
        p.trim_start_matches('/').to_string(),
    ] {
        let n = path::normalize(&variant).unwrap();
        assert_eq!(n, p);
        assert_eq!(f.get(&n).await, "same");
    }
}

/// Writing, creating or making a directory below a missing parent fails with `NotFound`.
pub async fn missing_parent_is_not_found(f: Fixture) {
    let Some(p) = f.at("no-such-dir/child") else {
        return;
    };
    assert_kind(
        f.fs.write(&p, "x".into(), None, crate::WriteFlags::NONE)
            .await,
        ErrorKind::NotFound,
    );
    assert_kind(
        f.fs.write(&p, "x".into(), None, crate::WriteFlags::CREATE)
            .await,
        ErrorKind::NotFound,
    );
    if f.caps.create {
        assert_kind(f.fs.create(&p).await, ErrorKind::NotFound);
    }
    if f.caps.mkdir {
        assert_kind(f.fs.mkdir(&p, 0o755).await, ErrorKind::NotFound);
    }
    assert_kind(f.fs.stat(&p).await, ErrorKind::NotFound);
}

/// stat, read and read_dir of a missing path answer `NotFound`.
pub async fn stat_missing_is_not_found(f: Fixture) {
    let p = f
        .at("missing")
        .unwrap_or_else(|| "/definitely-missing".to_string());
    assert_kind(f.fs.stat(&p).await, ErrorKind::NotFound);
    assert_kind(f.fs.read(&p, 0, None).await, ErrorKind::NotFound);
    assert_kind(f.fs.read_dir(&p).await, ErrorKind::NotFound);
}
