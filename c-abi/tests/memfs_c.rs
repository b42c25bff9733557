//! The shared conformance suite against memfs-c, a writable C plugin that uses every extension
//! (PFSFree, PFSTruncate, errno-coded errors), through the host adapter.

mod common;

use std::sync::Arc;

use c_abi::{ExternalPlugin, LoadedLibrary, Symbol};
use fs_core::conformance::{Fixture, assert_kind};
use fs_core::{ErrorKind, FileSystem, ServicePlugin};

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
