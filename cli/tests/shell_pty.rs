//! The interactive shell through a real pseudo-terminal (rexpect): the prompt and `cd`, tab
//! completion of a remote path, history recall with the up arrow, Ctrl-C stopping a `tail -f`
//! without leaving the shell, and Ctrl-D leaving it with status 0. The history file lives in a
//! temp directory.

mod common;

use std::path::Path;

use common::{Server, serve};
use rexpect::process::WaitStatus;
use rexpect::session::PtySession;

const TIMEOUT_MS: u64 = 30_000;

fn spawn_shell(server_url: &str, home: &Path) -> PtySession {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_pfs"));
    c.args(["--server", server_url, "sh"])
        .env("PFS_HISTORY", home.join("history"))
        .env("HOME", home)
        .env("TERM", "xterm")
        .env_remove("PFS_URL")
        .env_remove("AGFS_API_URL");
    rexpect::session::spawn_command(c, Some(TIMEOUT_MS)).expect("spawn pfs sh in a pty")
}

async fn put(server: &Server, path: &str, data: &str) {
    let client = pfs_cli::Client::new(&server.url()).expect("client");
    client
        .write_body(path, data.to_string(), pfs_cli::WriteOptions::default())
        .await
        .expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_cd_completion_history_and_ctrl_d() {
    let server = serve().await;
    let client = pfs_cli::Client::new(&server.url()).expect("client");
    client.mkdir("/memfs/docs", None).await.expect("mkdir");
    put(&server, "/memfs/docs/readme.txt", "hello from docs\n").await;
    let home = tempfile::tempdir().expect("temp home");
    let url = server.url();
    let home_path = home.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut p = spawn_shell(&url, &home_path);
        p.exp_string("pfs:/> ").expect("the first prompt");
        p.send_line("cd /memfs/docs").expect("send");
        p.exp_string("pfs:/memfs/docs> ")
            .expect("the prompt follows cd");
        p.send_line("cd").expect("send");
        p.exp_string("pfs:/> ").expect("cd alone goes to /");

        // Tab completes the remote path: only the completed name can be read.
        p.send("cat /memfs/docs/rea").expect("send");
        p.send("\t").expect("tab");
        p.send_line("").expect("enter");
        p.exp_string("hello from docs")
            .expect("the completed path was read");
        p.exp_string("pfs:/> ").expect("prompt");

        // Up arrow recalls the last line; it runs again.
        p.send_line("echo hist-$((40 + 2))").expect("send");
        p.exp_string("hist-42").expect("first run");
        p.exp_string("pfs:/> ").expect("prompt");
        p.send("\x1b[A").expect("up arrow");
        p.send_line("").expect("enter");
        p.exp_string("hist-42").expect("the recalled line ran");
        p.exp_string("pfs:/> ").expect("prompt");

        p.send_control('d').expect("ctrl-d");
        p.exp_eof().expect("the shell leaves on Ctrl-D");
        let status = p.process().wait().expect("wait");
        assert!(matches!(status, WaitStatus::Exited(_, 0)), "{status:?}");
    })
    .await
    .expect("pty session");
    let history = std::fs::read_to_string(home.path().join("history")).expect("history file");
    assert!(history.contains("echo hist-$((40 + 2))"), "{history}");
    assert!(history.contains("cd /memfs/docs"), "{history}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_tail_f_and_the_shell_answers() {
    let server = serve().await;
    put(&server, "/memfs/growing", "first line\n").await;
    let home = tempfile::tempdir().expect("temp home");
    let url = server.url();
    let home_path = home.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut p = spawn_shell(&url, &home_path);
        p.exp_string("pfs:/> ").expect("the first prompt");
        p.send_line("tail -f -s 0.1 /memfs/growing").expect("send");
        p.exp_string("first line").expect("tail prints the file");
        p.send_control('c').expect("ctrl-c");
        p.exp_string("pfs:/> ").expect("back at the prompt");
        p.send_line("echo status $? still-$((1 + 1))")
            .expect("send");
        p.exp_string("status 130 still-2")
            .expect("the shell answers");
        p.exp_string("pfs:/> ").expect("prompt");
        p.send_line("exit 4").expect("send");
        p.exp_eof().expect("exit leaves");
        let status = p.process().wait().expect("wait");
        assert!(matches!(status, WaitStatus::Exited(_, 4)), "{status:?}");
    })
    .await
    .expect("pty session");
}
