//! The shared conformance suite against memfs-c, a writable C plugin that uses every extension
//! (PFSFree, PFSTruncate, PFSReconfigure, errno-coded errors), through the host adapter.

mod common;

use std::sync::Arc;

use c_abi::{ExternalPlugin, LoadedLibrary, Symbol};
use fs_core::conformance::{Fixture, assert_kind};
use fs_core::{ErrorKind, FileSystem, Reconfigured, ServicePlugin, WriteFlags};

async fn mounted() -> Arc<dyn FileSystem> {
    let dir = tempfile::tempdir().unwrap();
    let so = common::make_example("memfs-c", "memfs-c.so", dir.path());
    let lib = Arc::new(LoadedLibrary::load(&so).unwrap());
    assert_eq!(lib.name, "memfs-c");
    assert!(lib.has(Symbol::PfsFree) && lib.has(Symbol::PfsTruncate));
    let plugin = ExternalPlugin::new(lib, "memfs-c".into());
    plugin
        .initialize(common::ctx("/m", serde_json::json!({})))
        .await
        .unwrap()
}

async fn plugin_fixture() -> Fixture {
    Fixture::writable(mounted().await, "/")
}

mod plugin {
    use super::*;
    fs_core::conformance_tests!(plugin_fixture);
}

mod through_the_router {
    use super::*;
    fs_core::conformance_tests!(|| fs_core::conformance::mounted_at("/c/plugin", plugin_fixture));
}

#[tokio::test]
async fn invalid_config_is_refused_with_the_plugins_words() {
    let dir = tempfile::tempdir().unwrap();
    let so = common::make_example("memfs-c", "memfs-c.so", dir.path());
    let plugin = ExternalPlugin::new(
        Arc::new(LoadedLibrary::load(&so).unwrap()),
        "memfs-c".into(),
    );
    let fs = plugin
        .initialize(common::ctx("/m", serde_json::json!({"anything": 1})))
        .await;
    // memfs-c accepts any JSON object; a failure here would be a host bug in passing the config.
    assert!(fs.is_ok(), "{fs:?}");
    let fs = fs.unwrap();
    assert_kind(fs.read("/nope", 0, None).await, ErrorKind::NotFound);
    fs.shutdown().await.unwrap();
}

#[tokio::test]
async fn max_file_size_changes_in_place_rejected_or_amended() {
    let dir = tempfile::tempdir().unwrap();
    let so = common::make_example("memfs-c", "memfs-c.so", dir.path());
    let lib = Arc::new(LoadedLibrary::load(&so).unwrap());
    assert!(lib.has(Symbol::PfsReconfigure));
    let mounted = serde_json::json!({"max_file_size": 4});
    let fs = ExternalPlugin::new(lib, "memfs-c".into())
        .initialize(common::ctx("/m", mounted.clone()))
        .await
        .unwrap();
    let write = |data: &'static str| fs.write("/f", data.into(), None, WriteFlags::NONE);
    assert_kind(write("12345").await, ErrorKind::PayloadTooLarge);
    write("1234").await.unwrap();

    let eight = serde_json::json!({"max_file_size": 8});
    let answer = fs.reconfigure(&mounted, &eight).await.unwrap();
    assert_eq!(answer, Reconfigured::Accepted);
    write("12345678").await.unwrap();

    let e = fs
        .reconfigure(&eight, &serde_json::json!({"max_file_size": 2}))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("below the largest file"), "{e}");
    assert_kind(write("123456789").await, ErrorKind::PayloadTooLarge);

    let answer = fs
        .reconfigure(
            &eight,
            &serde_json::json!({"max_file_size": 1_u64 << 40, "k": [1]}),
        )
        .await
        .unwrap();
    assert_eq!(
        answer,
        Reconfigured::Amended(serde_json::json!({"max_file_size": 2_147_483_647_u64, "k": [1]}))
    );
    write("123456789").await.unwrap();
    fs.shutdown().await.unwrap();
}
