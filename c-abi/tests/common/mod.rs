//! Builds C plugins for the tests with the machine's `cc`, into temporary directories.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds `examples/<dir>` with its Makefile (once per test process, incrementally) into cargo's
/// per-target temporary directory and returns the path of `<lib>`. `_out` is unused: the library
/// is copied at load, so callers may load it from here as often as they like.
pub fn make_example(dir: &str, lib: &str, _out: &Path) -> PathBuf {
    // Built once per process; later callers wait here until the library is complete.
    static BUILT: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c-plugins");
    let so = out.join(lib);
    if !built.contains(&so) {
        build_example(dir, lib, &out);
        built.push(so.clone());
    }
    so
}

fn build_example(dir: &str, lib: &str, out: &Path) -> PathBuf {
    let status = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(repo().join("examples").join(dir))
        .arg(format!("OUT={}", out.display()))
        .status()
        .expect("make runs");
    assert!(status.success(), "make -C examples/{dir} failed");
    let so = out.join(lib);
    assert!(so.exists(), "{} was not built", so.display());
    so
}

/// Compiles C `source` into `out/<name>.so`.
pub fn cc(source: &str, name: &str, out: &Path) -> PathBuf {
    let src = out.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let so = out.join(format!("{name}.so"));
    let output = Command::new("cc")
        .args([
            "-std=c11", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", "-o",
        ])
        .arg(&so)
        .arg(&src)
        .arg(format!("-I{}", repo().join("c-abi/include").display()))
        .output()
        .expect("cc runs");
    assert!(
        output.status.success(),
        "cc {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    so
}

/// A mount context for `path` with `config`.
pub fn ctx(path: &str, config: serde_json::Value) -> fs_core::MountContext {
    fs_core::conformance::mount_context(path, config)
}
