//! Helpers for tests that run the real `pfs-server` binary as a process.
//!
//! Servers listen on a port the kernel picks (`--addr 127.0.0.1:0`) and the helper reads the
//! address back from the start line: probing for a free port and passing it on races with every
//! other server the tests start at the same time (two may get one port, and the loser's readiness
//! probe then reaches the winner).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_pfs-server");

/// How long a server may take to print its address and then answer `/api/v1/ready` with 200.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A loopback port that was free a moment ago (for names and for servers other than pfs-server;
/// a pfs-server is started on port 0 instead, see [`start`]).
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

/// A `pfs-server` process, killed when dropped; its stderr goes to a file read by [`Server::log`].
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:<port>`, the address the server printed.
    pub base: String,
    log: tempfile::NamedTempFile,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// What the server has written to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap()
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.base.rsplit_once(':').unwrap().1.parse().unwrap()
    }

    /// Sends `sig` (`-TERM`, `-STOP`, `-CONT`, `-9`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// Sends SIGSTOP and returns once every thread of the process is stopped. kill(2) only starts
    /// a group stop: one thread takes the signal and stops the others, and until it runs (on a
    /// busy machine, milliseconds later) the other threads keep serving requests.
    pub fn freeze(&self) {
        self.signal("-STOP");
        let tasks = format!("/proc/{}/task", self.child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let all_stopped = std::fs::read_dir(&tasks).unwrap().all(|t| {
                let stat = std::fs::read_to_string(t.unwrap().path().join("stat"));
                // The state follows the parenthesized command name: `pid (comm) T ...`.
                stat.is_ok_and(|s| {
                    s.rsplit_once(") ")
                        .is_some_and(|(_, rest)| rest.starts_with(['T', 't']))
                })
            });
            if all_stopped {
                return;
            }
            assert!(Instant::now() < deadline, "not stopped 10 s after SIGSTOP");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Sends SIGTERM, waits for the exit (it must succeed) and returns the log.
    pub fn stop(mut self) -> String {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "no exit 10 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status}: {}", self.log());
        self.log()
    }
}

/// Starts the binary with `args` (plus `--addr 127.0.0.1:0` unless they name an address) and its
/// own data directory, and returns once it answers `GET /api/v1/ready` with 200.
///
/// # Panics
/// When the server exits first or is not ready within [`START_TIMEOUT`]; the message holds its log.
pub fn start(args: &[&str]) -> Server {
    start_in(args, &data_dir())
}

/// [`start`] with `PFS_DATA_DIR` set to `data`.
pub fn start_in(args: &[&str], data: &Path) -> Server {
    spawn(Command::new(BIN), args, data, true)
}

/// [`start`] with extra environment variables for the server.
pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.envs(env.iter().copied());
    spawn(cmd, args, &data_dir(), true)
}

/// [`start`] without waiting for `/ready` (for configs that never get ready): returns once the
/// server has printed its address.
pub fn start_unready(args: &[&str]) -> Server {
    spawn(Command::new(BIN), args, &data_dir(), false)
}

/// Polls `done` until it holds, at most [`START_TIMEOUT`].
pub fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + START_TIMEOUT;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "not done within {START_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`start`] under the shell's resource limits `ulimits` (`ulimit -n 1024`, ...), which the
/// server then runs with (the shell `exec`s it: same process).
pub fn start_with_limits(ulimits: &str, args: &[&str]) -> Server {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("{ulimits} && exec \"$0\" \"$@\""), BIN]);
    spawn(cmd, args, &data_dir(), true)
}

fn spawn(mut cmd: Command, args: &[&str], data: &Path, ready: bool) -> Server {
    let log = tempfile::NamedTempFile::new().unwrap();
    cmd.env("PFS_DATA_DIR", data)
        .args(args)
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap());
    if !args.iter().any(|a| *a == "--addr" || *a == "-addr") {
        cmd.args(["--addr", "127.0.0.1:0"]);
    }
    let mut server = Server {
        child: cmd.spawn().unwrap(),
        base: String::new(),
        log,
    };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(addr) = listening_address(&server.log()) {
            server.base = format!("http://{addr}");
            break;
        }
        server.check_alive(deadline, "print its address");
    }
    if !ready {
        return server;
    }
    loop {
        let out = curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{}/api/v1/ready", server.base),
        ]);
        if out.stdout == b"200" {
            return server;
        }
        server.check_alive(deadline, "answer /api/v1/ready with 200");
    }
}

impl Server {
    /// Panics when the server has exited or `deadline` has passed; else pauses briefly.
    fn check_alive(&mut self, deadline: Instant, what: &str) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("server exited early ({status}): {}", self.log());
        }
        assert!(
            Instant::now() < deadline,
            "server did not {what} within {START_TIMEOUT:?}: {}",
            self.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `host:port` of the start line (`... listening on http://127.0.0.1:PORT (...`).
fn listening_address(log: &str) -> Option<&str> {
    let rest = log.split_once("listening on http://")?.1;
    let end = rest.find([' ', '\n'])?;
    Some(&rest[..end])
}
