//! Headless Chromium for the tests that need a real browser (httpfs's listing, cross-site
//! requests): found or skipped (a failure under `CI`), run with a fresh profile and a time limit.

use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The longest one Chromium run may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);
/// The browser window, and so a screenshot's size.
pub const WINDOW: (u32, u32) = (1000, 640);

/// Chromium, or `None` (with the reason printed) when it is not installed outside CI.
pub fn chromium() -> Option<&'static str> {
    let ok = Command::new("chromium")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some("chromium");
    }
    let why = "the browser tests need the Debian `chromium` package \
               (apt-get install chromium; scripts/test installs it)";
    assert!(
        std::env::var_os("CI").is_none(),
        "chromium is missing: {why}"
    );
    eprintln!("skipping: chromium is not installed: {why}");
    None
}

/// Runs headless Chromium on `url` with `extra` flags and a fresh profile, bounded in time.
pub fn run_chromium(bin: &str, url: &str, extra: &[String]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-proxy-server",
            "--hide-scrollbars",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(BROWSER_TIMEOUT) {
        Ok(out) => out.expect("wait for chromium"),
        Err(_) => {
            // Only the child this test started, by its id.
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("chromium (pid {pid}) did not finish within {BROWSER_TIMEOUT:?}");
        }
    };
    assert!(
        out.status.success(),
        "chromium failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Chromium, off the runtime's threads so the httpfs server keeps answering it.
pub async fn browse(bin: &'static str, url: String, extra: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || run_chromium(bin, &url, &extra))
        .await
        .unwrap()
}
