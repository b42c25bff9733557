//! The shared conformance suite against plugins in processes of their own: memfs-c (the C
//! example using every extension) served by `pfs-server plugin-host`, through the plugin
//! protocol. Every case gets a fresh process.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use fs_core::FileSystem;
use fs_core::conformance::Fixture;
use fs_core::plugin::{MountContext, ServerInfo, ServicePlugin};
use fs_core::policy::MountPolicy;
use pfs_plugin_proto::process::{Limits, ProcessPlugin, Program};

const BIN: &str = env!("CARGO_BIN_EXE_pfs-server");

/// memfs-c, built once for the whole test binary.
fn memfs_c() -> PathBuf {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("isolated-memfs-c");
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        let ok = std::process::Command::new("make")
            .args(["-s", "-C"])
            .arg(repo.join("examples/memfs-c"))
            .arg(format!("OUT={}", dir.display()))
            .status()
            .unwrap()
            .success();
        assert!(ok, "make builds memfs-c");
        dir.join("memfs-c.so")
    })
    .clone()
}

/// A mount of `program`'s plugin, in a process of its own.
pub async fn isolated(program: Program) -> Arc<dyn FileSystem> {
    let plugin = ProcessPlugin::probe(program, Limits::default())
        .await
        .unwrap();
    plugin
        .initialize(MountContext {
            mount_path: "/iso".into(),
            config: serde_json::json!({}),
            root: std::sync::Weak::new(),
            server: ServerInfo {
                version: "0".into(),
                started: std::time::SystemTime::now(),
                data_dir: None,
            },
            policy: MountPolicy::unrestricted(),
        })
        .await
        .unwrap()
}

fn hosted(library: PathBuf) -> Program {
    Program {
        path: BIN.into(),
        args: vec![
            "plugin-host".into(),
            "--parent".into(),
            std::process::id().to_string().into(),
            "--library".into(),
            library.clone().into(),
        ],
        shown: library.display().to_string(),
    }
}

mod memfs_c {
    use super::*;

    async fn fixture() -> Fixture {
        Fixture::writable(isolated(hosted(memfs_c())).await, "/")
    }

    fs_core::conformance_tests!(fixture);
}

mod hellofs_py {
    use super::*;

    /// The Python example, a program speaking the protocol itself (run directly: the launcher
    /// only adds the tie to the server's life).
    async fn fixture() -> Fixture {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        let script = repo.join("examples/hellofs-py/hellofs.py");
        let program = Program {
            path: script.clone(),
            args: Vec::new(),
            shown: script.display().to_string(),
        };
        Fixture::writable(isolated(program).await, "/")
    }

    fs_core::conformance_tests!(fixture);
}
