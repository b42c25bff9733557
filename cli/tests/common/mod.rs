//! Helpers of the client's tests: a real pfs server in this process on a kernel-chosen port, and
//! the real `pfs` binary run against it.

#![allow(dead_code, unreachable_pub)]

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use pfs_server::{AppState, Config};
use tokio::io::AsyncWriteExt;

/// How long any one wait of a test may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A running server and the directory its SQLite files live in.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state, for setting up large content without HTTP.
    pub state: AppState,
    _dir: tempfile::TempDir,
}

impl Server {
    /// The directory of the server's SQLite files.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// The `--server` value.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A server with memfs, queuefs, kvfs (one key), streamfs, sqlfs on SQLite and hellofs, served on
/// a real socket (`pfs_server::run`) as `server/tests/common::serve` does.
pub async fn serve() -> Server {
    serve_config(|dir| {
        format!(
            "plugins:\n  memfs: {{path: /memfs}}\n  queuefs: {{path: /queuefs}}\n  \
             kvfs: {{path: /kvfs, config: {{initial_data: {{welcome: 'Hello from pfs!'}}}}}}\n  \
             streamfs: {{path: /streamfs}}\n  hellofs: {{path: /hellofs}}\n  \
             sqlfs: {{path: /sqlfs, config: {{backend: sqlite, db_path: '{}'}}}}\n",
            dir.join("sqlfs.db").display()
        )
    })
    .await
}

/// A server on the config `yaml` makes from the server's temp directory (which it may fill, e.g.
/// with a localfs root), served as [`serve`] does. A mount that fails shows as failed in `mounts`.
pub async fn serve_config(yaml: impl FnOnce(&Path) -> String) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    // Mounts made through the API (`mount sqlfs ... db_path=$TMP/...`) keep their files here.
    let yaml = format!(
        "server:\n  mount_roots: ['{}']\n{}",
        dir.path().display(),
        yaml(dir.path())
    );
    let state = AppState::new(Config::parse(&yaml).expect("test config parses"));
    pfs_server::start_mounts(&state)
        .await
        .expect("mounts planned")
        .await
        .expect("mount task");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("the bound address");
    tokio::spawn(pfs_server::run(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    Server {
        addr,
        state,
        _dir: dir,
    }
}

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// The `pfs` binary with `--server`, and a clean environment for the server settings.
pub fn command(server: &str) -> tokio::process::Command {
    let mut c = bare_command();
    c.arg("--server").arg(server);
    c
}

/// The `pfs` binary with no server named and none in the environment.
pub fn bare_command() -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_pfs"));
    for var in [
        "PFS_URL",
        "AGFS_API_URL",
        "http_proxy",
        "HTTP_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        c.env_remove(var);
    }
    c.kill_on_drop(true);
    c
}

/// Runs `pfs --server URL ARGS...` with `stdin`, waiting at most [`DEADLINE`].
pub async fn pfs(server: &Server, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut c = command(&server.url());
    c.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn pfs");
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().expect("stdin piped");
        pipe.write_all(data).await.expect("write stdin");
        drop(pipe);
    }
    let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("pfs {args:?} did not finish in {DEADLINE:?}"))
        .expect("pfs ran");
    Output {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// The peak resident size (`VmHWM`, KiB) of a live process, `None` once it has exited.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Polls `check` until it returns `Some`, failing the test after [`DEADLINE`].
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `pfs sh ARGS...` in `dir` with standard output and error joined, `$TMP` the server's temp
/// directory and `envs` set too; returns (output, exit code).
pub async fn sh_env(
    server: &Server,
    args: &[&str],
    dir: &Path,
    envs: &[(&str, &str)],
) -> (String, i32) {
    let (mut r, w) = std::io::pipe().expect("pipe");
    let mut c = command(&server.url());
    c.arg("sh")
        .args(args)
        .current_dir(dir)
        .env("TMP", server.dir())
        .envs(envs.iter().copied())
        .env_remove("PFS_HISTORY")
        .stdin(Stdio::null())
        .stdout(w.try_clone().expect("dup"))
        .stderr(w);
    let mut child = c.spawn().expect("spawn pfs sh");
    drop(c);
    let reader = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        r.read_to_end(&mut out).map(|_| out)
    });
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .unwrap_or_else(|_| panic!("pfs sh {args:?} did not finish in {DEADLINE:?}"))
        .expect("pfs sh ran");
    let out = reader.await.expect("reader").expect("read output");
    (
        String::from_utf8_lossy(&out).into_owned(),
        status.code().unwrap_or(-1),
    )
}

/// Runs `pfs sh ARGS...` as [`sh_env`] does, with no extra variables.
pub async fn sh(server: &Server, args: &[&str], dir: &Path) -> (String, i32) {
    sh_env(server, args, dir, &[]).await
}

/// A transcript with what varies from run to run named: the server's URL (`SERVER`), its temp
/// directory (`TMP`), times (`TIME`) and queue message ids.
pub fn normalise(text: &str, server: &str, tmp: &str) -> String {
    let time = regex::Regex::new(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?")
        .expect("regex");
    let id = regex::Regex::new(r#""id":"[^"]*""#).expect("regex");
    let text = text.replace(server, "SERVER").replace(tmp, "TMP");
    let text = time.replace_all(&text, "TIME");
    id.replace_all(&text, r#""id":"ID""#).into_owned()
}

/// Compares a golden test's transcript with `tests/golden/shell/NAME.out`, or writes it there
/// under `PFS_BLESS=1`.
pub fn check_golden(name: &str, got: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/shell");
    let expected_path = dir.join(format!("{name}.out"));
    if std::env::var_os("PFS_BLESS").is_some() {
        std::fs::write(&expected_path, got).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|e| panic!("{name}.out: {e} (PFS_BLESS=1 writes it)"));
    if got != expected {
        let first = expected
            .lines()
            .zip(got.lines())
            .enumerate()
            .find(|(_, (e, g))| e != g)
            .map(|(i, (e, g))| format!("line {}:\n  expected: {e}\n  got:      {g}", i + 1))
            .unwrap_or_else(|| "one is a prefix of the other".to_string());
        panic!("{name}: transcript differs from {name}.out\n{first}\n--- got ---\n{got}");
    }
}
