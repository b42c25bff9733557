//! sqlfs uses paths as given: the server normalizes each path once where it enters (the HTTP layer,
//! [`fs_core::path::normalize`]) and the mount router makes it mount-relative. Written with `//`,
//! `.`, `..` or a trailing `/`, a path through that chain must name the node it means, the mount
//! root included.

use std::time::SystemTime;

use bytes::Bytes;
use fs_core::conformance::names;
use fs_core::path::normalize;
use fs_core::{FileSystem, MountableFs, ServerInfo, WriteFlags};
use serde_json::Value;

use super::{drop_database, mysql_config, mysql_dsn, sqlfs, sqlite_config};

on_both_backends!(edge_normalized_paths_name_the_same_nodes_through_a_mount);

async fn edge_normalized_paths_name_the_same_nodes_through_a_mount(config: Value) {
    let (fs, _) = sqlfs(config.clone()).await;
    let router = MountableFs::new(ServerInfo {
        version: "test".into(),
        started: SystemTime::now(),
        data_dir: None,
    });
    router
        .mount("/db", "sqlfs", None, config, fs.clone())
        .await
        .unwrap();
    // As a request's `path` parameter is turned into what the router gets.
    let edge = |p: &str| normalize(p).unwrap();

    router.mkdir(&edge("/db//d/./"), 0o755).await.unwrap();
    let data = Bytes::from_static(b"hi");
    router
        .write(&edge("db/d/x/../f.txt/"), data, None, WriteFlags::NONE)
        .await
        .unwrap();
    // Stored under the path the plugin is meant to see.
    assert_eq!(fs.read("/d/f.txt", 0, None).await.unwrap(), "hi");
    assert_eq!(names(fs.as_ref(), "/d").await.unwrap(), ["f.txt"]);
    assert_eq!(router.stat(&edge("/db/d//f.txt/")).await.unwrap().size, 2);

    let (from, to) = (edge("/db/./d/f.txt"), edge("/db/d/../g.txt/"));
    router.rename(&from, &to).await.unwrap();
    assert_eq!(names(fs.as_ref(), "/").await.unwrap(), ["d", "g.txt"]);
    // The mount root reaches sqlfs as `/`.
    assert_eq!(
        names(&*router, &edge("/db/")).await.unwrap(),
        ["d", "g.txt"]
    );
    router.remove_all(&edge("/db/d/")).await.unwrap();
    assert_eq!(names(fs.as_ref(), "/").await.unwrap(), ["g.txt"]);
}
