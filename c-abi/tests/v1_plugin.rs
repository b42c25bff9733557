//! An AGFS-style plugin (hellofs-c: v1 only, string literals from some functions, malloc'd memory
//! from others) loads unchanged, serves, maps its errors, and runs one instance per mount.

mod common;

use std::sync::Arc;

use c_abi::{ExternalPlugin, LoadedLibrary, Symbol};
use fs_core::conformance::{Fixture, assert_kind};
use fs_core::{ErrorKind, FileSystem, ServicePlugin, WriteFlags};

const HELLO: &[u8] = b"Hello from C plugin!\n";

fn load() -> (tempfile::TempDir, Arc<LoadedLibrary>) {
    let dir = tempfile::tempdir().unwrap();
    let so = common::make_example("hellofs-c", "hellofs-c.so", dir.path());
    let lib = LoadedLibrary::load(&so).unwrap();
    (dir, Arc::new(lib))
}

async fn mounted() -> (tempfile::TempDir, Arc<dyn FileSystem>) {
    let (dir, lib) = load();
    let plugin = ExternalPlugin::new(lib, "hellofs-c".into());
    let fs = plugin
        .initialize(common::ctx("/helloc", serde_json::json!({})))
        .await
        .unwrap();
    (dir, fs)
}

mod conformance {
    use super::*;
    fs_core::conformance_tests!(|| async {
        let (dir, fs) = mounted().await;
        // The library was copied at load; the temporary directory may go.
        drop(dir);
        // The adapter claims every operation whose symbol the library exports, and hellofs-c, like
        // AGFS's read-only plugins, exports FSCreate, FSMkdir... only to refuse them.
        let why = "c-abi claims the operations hellofs-c exports only to answer 'not supported'";
        Fixture::read_only(fs, Some(("/hello", HELLO)))
            .with_known_gap("supported_ops_do_not_answer_unsupported", why)
            .with_known_gap("mount_root_mutations_are_refused", why)
    });
}

#[test]
fn load_reads_name_readme_and_abi() {
    let (_dir, lib) = load();
    assert_eq!(lib.name, "hellofs-c");
    assert_eq!(lib.abi, (1, 0), "no PFSPluginABIVersion means v1");
    assert!(!lib.readme.is_empty());
    assert!(!lib.has(Symbol::PfsFree) && !lib.has(Symbol::PfsTruncate));
    assert!(lib.has(Symbol::FsRead) && lib.has(Symbol::PluginName));
}

#[tokio::test]
async fn stat_read_and_list_serve_hello() {
    let (_dir, fs) = mounted().await;
    let info = fs.stat("/hello").await.unwrap();
    assert_eq!(
        (info.name.as_str(), info.size, info.is_dir),
        ("hello", HELLO.len() as u64, false)
    );
    assert_eq!(fs.read("/hello", 0, None).await.unwrap(), HELLO);
    assert_eq!(fs.read("/hello", 6, Some(4)).await.unwrap(), "from");
    let names: Vec<String> = fs
        .read_dir("/")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["hello"]);
}

#[tokio::test]
async fn missing_paths_are_not_found_not_500() {
    let (_dir, fs) = mounted().await;
    // FSStat returns NULL, FSRead returns the literal "file not found" with out_len = -1 (AGFS read
    // that as a 64-bit length and copied gigabytes).
    assert_kind(fs.stat("/nope").await, ErrorKind::NotFound);
    assert_kind(fs.read("/nope", 0, None).await, ErrorKind::NotFound);
    assert_kind(fs.read_dir("/nope").await, ErrorKind::NotFound);
    assert_kind(fs.read_dir("/hello").await, ErrorKind::NotADirectory);
}

#[tokio::test]
async fn mutations_map_the_plugins_error_texts() {
    let (_dir, fs) = mounted().await;
    // "operation not supported: read-only filesystem" → Unsupported (501).
    assert_kind(fs.create("/x").await, ErrorKind::Unsupported);
    assert_kind(fs.mkdir("/d", 0o755).await, ErrorKind::Unsupported);
    assert_kind(fs.rename("/hello", "/x").await, ErrorKind::Unsupported);
    // FSWrite answers -1: a failure without a reason.
    assert_kind(
        fs.write("/hello", "x".into(), None, WriteFlags::NONE).await,
        ErrorKind::Internal,
    );
    assert_eq!(fs.read("/hello", 0, None).await.unwrap(), HELLO);
}

#[tokio::test]
async fn each_mount_gets_its_own_instance_and_shutdown_is_once() {
    let (_dir, lib) = load();
    let plugin = ExternalPlugin::new(lib.clone(), "hellofs-c".into());
    let a = plugin
        .initialize(common::ctx("/a", serde_json::json!({})))
        .await
        .unwrap();
    let b = plugin
        .initialize(common::ctx("/b", serde_json::json!({})))
        .await
        .unwrap();
    a.shutdown().await.unwrap();
    // The other instance still serves; the first answers Unavailable instead of touching freed memory.
    assert_eq!(b.read("/hello", 0, None).await.unwrap(), HELLO);
    assert_kind(a.read("/hello", 0, None).await, ErrorKind::Unavailable);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn concurrent_reads_across_instances_are_correct() {
    let (_dir, lib) = load();
    let plugin = ExternalPlugin::new(lib, "hellofs-c".into());
    let mut tasks = Vec::new();
    for i in 0..4 {
        let fs = plugin
            .initialize(common::ctx(&format!("/m{i}"), serde_json::json!({})))
            .await
            .unwrap();
        tasks.push(tokio::spawn(async move {
            for _ in 0..200 {
                assert_eq!(fs.read("/hello", 0, None).await.unwrap(), HELLO);
            }
            fs.shutdown().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}
