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

/// A large read streams in chunks asked for ahead of the one being sent: every range, whether it
/// ends inside a chunk, on a chunk boundary or past the end of the file, gives exactly the bytes
/// of a plain read.
#[tokio::test]
async fn large_streamed_reads_give_exact_bytes_at_every_boundary() {
    use fs_core::WriteFlags;
    let fs = isolated(hosted(memfs_c())).await;
    const MIB: usize = 1 << 20;
    let data: bytes::Bytes = (0..3 * MIB + 123)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    fs.write(
        "/big",
        data.clone(),
        None,
        WriteFlags::CREATE | WriteFlags::TRUNCATE,
    )
    .await
    .unwrap();
    fs.write(
        "/even",
        data.slice(..2 * MIB),
        None,
        WriteFlags::CREATE | WriteFlags::TRUNCATE,
    )
    .await
    .unwrap();
    let cases: &[(&str, u64, Option<u64>, &[u8])] = &[
        ("/big", 0, None, &data),
        ("/big", 5, None, &data[5..]),
        (
            "/big",
            MIB as u64 - 1,
            Some(2 * MIB as u64 + 2),
            &data[MIB - 1..3 * MIB + 1],
        ),
        ("/big", 0, Some(2 * MIB as u64), &data[..2 * MIB]),
        (
            "/big",
            3 * MIB as u64,
            Some(10 * MIB as u64),
            &data[3 * MIB..],
        ),
        ("/even", 0, None, &data[..2 * MIB]),
        ("/even", MIB as u64, Some(u64::MAX), &data[MIB..2 * MIB]),
    ];
    for &(path, offset, size, want) in cases {
        let got = fs
            .read_content(path, offset, size)
            .await
            .unwrap()
            .into_bytes()
            .await
            .unwrap();
        assert!(
            got[..] == want[..],
            "{path} at {offset} for {size:?}: {} bytes, want {}",
            got.len(),
            want.len()
        );
    }
}
