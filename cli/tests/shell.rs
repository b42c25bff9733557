//! The shell's golden tests: each `tests/golden/shell/NAME.pfs` runs as a script through the real
//! binary, `pfs sh -v NAME.pfs`, against a fresh server, and what it prints (standard output and
//! error through one pipe, so in order; `-v` echoes each command after its `pfs:/>` prompt) must
//! equal `NAME.out`. A non-zero exit code ends the transcript as `? CODE`. `$TMP` in a script is
//! the server's temp directory. `PFS_BLESS=1 cargo test -p pfs-cli --test shell` rewrites them.
//!
//! Also here: the 100,000-line pipeline through local programs.

mod common;

use std::path::PathBuf;

use common::{check_golden, normalise, serve, sh};

async fn golden(name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/shell");
    let script = dir.join(format!("{name}.pfs"));
    let server = serve().await;
    let tmp = server.dir().display().to_string();
    let script_arg = script.display().to_string();
    let (out, code) = sh(&server, &["-v", &script_arg], server.dir()).await;
    let mut got = normalise(&out, &server.url(), &tmp);
    if code != 0 {
        got.push_str(&format!("? {code}\n"));
    }
    check_golden(name, &got);
}

macro_rules! golden {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                golden(stringify!($name)).await;
            }
        )*
    };
}

golden!(readme, language, redirections, errors);

/// `cat` (the pfs command, streaming from the server) into local `grep` and `wc` over OS pipes:
/// 100,000 lines, every tenth with an `x`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_of_100000_lines_counts_right() {
    let server = serve().await;
    let mut text = String::with_capacity(2_000_000);
    for i in 0..100_000 {
        if i % 10 == 0 {
            text.push_str(&format!("line {i} x\n"));
        } else {
            text.push_str(&format!("line {i} y\n"));
        }
    }
    let client = pfs_cli::Client::new(&server.url()).expect("client");
    client
        .write_body("/memfs/big", text, pfs_cli::WriteOptions::default())
        .await
        .expect("write /memfs/big");
    let (out, code) = sh(
        &server,
        &["-c", "cat /memfs/big | grep x | wc -l"],
        server.dir(),
    )
    .await;
    assert_eq!((out.trim(), code), ("10000", 0));
    // The same through a redirection into the server and back.
    let (out, code) = sh(
        &server,
        &[
            "-c",
            "cat /memfs/big | grep y > /memfs/ys; wc -l < /memfs/ys; cat /memfs/ys | tail -n 1",
        ],
        server.dir(),
    )
    .await;
    assert_eq!((out.as_str(), code), ("90000\nline 99999 y\n", 0));
}

/// A script with a shebang line runs as `pfs sh FILE ARGS...`, its arguments as `$1`...
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_with_shebang_gets_its_arguments() {
    let server = serve().await;
    let script = server.dir().join("s.pfs");
    std::fs::write(
        &script,
        "#!/usr/bin/env -S pfs sh\necho \"$# args: $1 $2\"\nmkdir /memfs/$1\nls /memfs\nexit 7\n",
    )
    .expect("write script");
    let path = script.display().to_string();
    let (out, code) = sh(&server, &[&path, "made", "two"], server.dir()).await;
    assert_eq!(out, "2 args: made two\nREADME\nmade\n");
    assert_eq!(code, 7);
}

/// `-c` takes `$0` and `$1`...; `-e` stops at the first failing command, but not in a condition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_c_arguments_and_errexit() {
    let server = serve().await;
    let (out, code) = sh(
        &server,
        &["-c", "echo \"$0 $1 $#\"", "name", "first", "second"],
        server.dir(),
    )
    .await;
    assert_eq!((out.as_str(), code), ("name first 2\n", 0));
    let (out, code) = sh(
        &server,
        &[
            "-e",
            "-c",
            "if false; then :; fi; false || echo handled; cat /x; echo no",
        ],
        server.dir(),
    )
    .await;
    assert_eq!(
        (out.as_str(), code),
        ("handled\npfs: cat: /x: not found\n", 1)
    );
}
