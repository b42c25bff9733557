//! Helpers for tests that run the real `pfs-server` binary as a process.

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_pfs-server");

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh data directory under the target's temporary directory, so servers started on the
/// embedded default config never share sqlfs's database.
pub fn data_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "pfs-data-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs curl with `args` (silent, 5 s limit).
pub fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-s", "--max-time", "5"])
        .args(args)
        .output()
        .expect("curl runs")
}

/// Polls `/api/v1/ready` until it answers 200 (bounded).
pub fn wait_ready(base: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{base}/api/v1/ready"),
        ]);
        if out.stdout == b"200" {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("server exited early: {status}");
        }
        assert!(Instant::now() < deadline, "server not ready after 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server process, killed when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with `args`; stderr is piped (read it after the process ends).
pub fn start(args: &[&str]) -> Server {
    let child = Command::new(BIN)
        .env("PFS_DATA_DIR", data_dir())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Server(child)
}
