//! One full host cycle for memory checkers: load a plugin library, mount it (through the mount
//! router, as the server does), read, write, list, stat, unmount, unload. Run under valgrind by
//! `scripts/valgrind-plugin-cycle`.
//!
//! Run with: `cargo run -p c-abi --example cycle -- <plugin.so> [--writable]`

use std::sync::Arc;

use c_abi::{ExternalPlugin, LoadedLibrary};
use fs_core::{FileSystem, MountableFs, PluginRegistry, ServerInfo, WriteFlags};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: cycle <plugin.so> [--writable]");
    let writable = args.next().as_deref() == Some("--writable");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let registry = PluginRegistry::new();
        let lib = Arc::new(LoadedLibrary::load(std::path::Path::new(&path)).expect("load"));
        let name = lib.name.clone();
        registry
            .register(Arc::new(ExternalPlugin::new(lib, name.clone())))
            .expect("register");
        let router = MountableFs::new(ServerInfo {
            version: "cycle".into(),
            started: std::time::SystemTime::now(),
            data_dir: None,
        });
        for round in 0..3 {
            let mount = format!("/p{round}");
            router
                .mount_plugin(&registry, &name, &mount, None, serde_json::json!({}))
                .await
                .expect("mount");
            let listed = router.read_dir(&mount).await.expect("readdir");
            if writable {
                let f = format!("{mount}/f.txt");
                router
                    .write(&f, "hello cycle".into(), None, WriteFlags::NONE)
                    .await
                    .expect("write");
                assert_eq!(router.read(&f, 0, None).await.expect("read"), "hello cycle");
                router.truncate(&f, 5).await.expect("truncate");
                assert_eq!(router.stat(&f).await.expect("stat").size, 5);
                router
                    .mkdir(&format!("{mount}/d"), 0o755)
                    .await
                    .expect("mkdir");
                router
                    .rename(&f, &format!("{mount}/d/g.txt"))
                    .await
                    .expect("rename");
                assert!(router.read(&f, 0, None).await.is_err());
                router
                    .remove_all(&format!("{mount}/d"))
                    .await
                    .expect("remove_all");
            } else {
                let first = &listed.first().expect("a file to read").name;
                let f = format!("{mount}/{first}");
                router.stat(&f).await.expect("stat");
                router.read(&f, 0, None).await.expect("read");
                assert!(router.stat(&format!("{mount}/missing")).await.is_err());
                assert!(
                    router
                        .read(&format!("{mount}/missing"), 0, None)
                        .await
                        .is_err()
                );
            }
            router.unmount(&mount).await.expect("unmount");
        }
        // Unload: the registry's entry is the last owner of the library; dropping it closes it.
        drop(registry.unregister(&name));
    });
    drop(runtime);
    println!("cycle: load, 3 × (mount, use, unmount), unload: ok");
}
