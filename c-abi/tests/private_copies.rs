//! Where the loader puts its private copy of a library: a directory of its own that it made
//! (never one somebody made first at a name it could guess), a copy that follows no planted link,
//! and nothing left in the temporary directory afterwards. Alone in its binary: it points
//! `TMPDIR` at a directory of the test's before anything runs.

mod common;

use std::sync::Arc;

use c_abi::{ExternalPlugin, LoadedLibrary};
use fs_core::ServicePlugin;

#[tokio::test]
async fn a_planted_directory_and_link_are_not_used_and_nothing_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let so = common::make_example("hellofs-c", "hellofs-c.so", tmp.path());
    let root = tmp.path().join("tmp");
    std::fs::create_dir(&root).unwrap();
    // SAFETY: the only test of this binary, before any other thread of it reads the environment.
    unsafe { std::env::set_var("TMPDIR", &root) };
    assert_eq!(std::env::temp_dir(), root);
    // What an attacker could plant for the old scheme, `$TMPDIR/pfs-plugins-<pid>/<stem>.<n>.so`:
    // a directory of theirs holding links to a file of the victim's.
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let planted = root.join(format!("pfs-plugins-{}", std::process::id()));
    std::fs::create_dir(&planted).unwrap();
    for n in 0..4 {
        std::os::unix::fs::symlink(&victim, planted.join(format!("hellofs-c.{n}.so"))).unwrap();
    }
    let before: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();

    for _ in 0..3 {
        let lib = Arc::new(LoadedLibrary::load(&so).unwrap());
        let fs = ExternalPlugin::new(lib, "hellofs-c".into())
            .initialize(common::ctx("/h", serde_json::json!({})))
            .await
            .unwrap();
        assert_eq!(
            fs.read("/hello", 0, None).await.unwrap(),
            "Hello from C plugin!\n"
        );
    }

    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"precious",
        "a planted link was followed"
    );
    let after: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        after, before,
        "the loader left something in the temporary directory"
    );
    assert_eq!(
        std::fs::read_dir(&planted).unwrap().count(),
        4,
        "the planted directory was used"
    );
}
