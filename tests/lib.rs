//! Helpers of the end-to-end tests: start a real `pfs-server` on a loopback port (the binary's own
//! code path, `pfs_server::cli::main_with_listener` on a listener bound to port 0) and talk to it
//! with `curl`.

use std::ffi::OsString;
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a server may take to answer `GET /api/v1/ready` with 200.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause between two readiness polls.
const READY_POLL: Duration = Duration::from_millis(20);

/// A running server. It serves until the test process exits.
#[derive(Debug)]
pub struct Server {
    /// The loopback port it listens on.
    pub port: u16,
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub base_url: String,
    /// Its own data directory (`--data-dir`), so servers never share sqlfs's default database.
    pub data_dir: tempfile::TempDir,
}

impl Server {
    /// The full URL of `path_and_query` (which starts with `/`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base_url)
    }

    /// Sends `GET path_and_query` with curl; returns the status code and the body.
    ///
    /// # Panics
    /// When curl cannot be run or fails at the transport level.
    pub fn get(&self, path_and_query: &str) -> (u16, String) {
        curl_status_and_body(&self.url(path_and_query), &[])
    }

    /// Sends `method path_and_query` with `body` (JSON when it starts with `{`); returns the status
    /// code and the body.
    ///
    /// # Panics
    /// When curl cannot be run or fails at the transport level.
    pub fn send(&self, method: &str, path_and_query: &str, body: &str) -> (u16, String) {
        let mut args = vec!["-X", method, "--data-binary", body];
        if body.starts_with('{') {
            args.extend(["-H", "Content-Type: application/json"]);
        }
        curl_status_and_body(&self.url(path_and_query), &args)
    }
}

/// Builds `examples/<dir>` with its Makefile into `out` (`make OUT=...`) and returns `out/<lib>`.
///
/// # Panics
/// When make fails.
pub fn build_example(dir: &str, lib: &str, out: &std::path::Path) -> std::path::PathBuf {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root");
    let status = Command::new("make")
        .args(["-s", "-C"])
        .arg(repo.join("examples").join(dir))
        .arg(format!("OUT={}", out.display()))
        .status()
        .expect("run make");
    assert!(status.success(), "make -C examples/{dir} failed");
    out.join(lib)
}

/// Starts `pfs-server` with `args` on a background thread with its own tokio runtime, serving on
/// a loopback listener bound to port 0 (so no other server can take its port), and returns once
/// `GET /api/v1/ready` answers 200.
///
/// Without `-c` in `args`, the server runs on its embedded default config.
///
/// # Panics
/// When the server exits before it is ready (bad config) or is not ready within 10 s.
pub fn start_server(args: &[&str]) -> Server {
    let data_dir = tempfile::tempdir().expect("a data directory for the test server");
    let mut argv: Vec<OsString> = vec!["pfs-server".into()];
    argv.extend(args.iter().map(OsString::from));
    if !args.iter().any(|a| a.starts_with("--data-dir")) {
        argv.extend(["--data-dir".into(), data_dir.path().into()]);
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener
        .local_addr()
        .expect("local address of the listener")
        .port();
    let handle = std::thread::Builder::new()
        .name(format!("pfs-server-{port}"))
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime for the test server");
            runtime.block_on(pfs_server::cli::main_with_listener(argv, listener))
        })
        .expect("spawn the server thread");
    if let Err(code) = wait_ready(port, handle) {
        panic!(
            "pfs-server {args:?} exited before it was ready (exit code {code}); its error is on stderr above"
        );
    }
    // Dropping the handle detaches the thread: the server serves until the process exits.
    Server {
        port,
        base_url: format!("http://127.0.0.1:{port}"),
        data_dir,
    }
}

/// Polls `GET /api/v1/ready` until it answers 200; `Err` carries the exit code of a server that
/// stopped first (`-1` if its thread panicked).
fn wait_ready(port: u16, handle: JoinHandle<i32>) -> Result<(), i32> {
    let url = format!("http://127.0.0.1:{port}/api/v1/ready");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if handle.is_finished() {
            return Err(handle.join().unwrap_or(-1));
        }
        if curl_status(&url) == Some(200) {
            return Ok(());
        }
        assert!(
            Instant::now() < deadline,
            "pfs-server on port {port} was not ready within {READY_TIMEOUT:?}"
        );
        std::thread::sleep(READY_POLL);
    }
}

/// A curl command that ignores the user's `.curlrc` and proxies, with a time limit.
fn curl() -> Command {
    let mut cmd = Command::new("curl");
    cmd.args(["-q", "--noproxy", "*", "--max-time", "10", "-s"]);
    cmd
}

/// The status code of `GET url`, or `None` when nothing answered.
fn curl_status(url: &str) -> Option<u16> {
    let out = curl()
        .args(["-o", "/dev/null", "-w", "%{http_code}", url])
        .output()
        .expect("run curl (is it installed? scripts/test installs it)");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .ok()
        .filter(|c| *c != 0)
}

/// The status code and body of a request to `url` (GET unless `extra` says otherwise).
fn curl_status_and_body(url: &str, extra: &[&str]) -> (u16, String) {
    let out = curl()
        .args(extra)
        .args(["-w", "\n%{http_code}", url])
        .output()
        .expect("run curl (is it installed? scripts/test installs it)");
    assert!(
        out.status.success(),
        "curl {url} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("a UTF-8 answer");
    let (body, code) = text
        .rsplit_once('\n')
        .expect("the status line curl appends");
    (code.parse().expect("a status code"), body.to_string())
}

/// The pages whose examples are tested, in the order they run against one server: the README,
/// then the guide, the plugin READMEs that moved out of it, the API and differences pages.
pub const DOCS: &[&str] = &[
    "README.md",
    "docs/guide.md",
    "plugins/localfs/README.md",
    "plugins/sqlfs/README.md",
    "plugins/httpfs/README.md",
    "plugins/s3fs/README.md",
    "plugins/proxyfs/README.md",
    "docs/http-api.md",
    "docs/agfs-differences.md",
    "docs/external-plugins.md",
    "docs/development.md",
];

/// The text of `doc` (a path of [`DOCS`], relative to the repository root).
pub fn read_doc(doc: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(doc);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
