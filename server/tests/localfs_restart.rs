//! localfs across a `kill -9`: the staging file of an upload cut short is removed when the mount
//! is made again (it used to stay for ever, as large as the part of the body that arrived).

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::process::start;

fn staging_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".pfs-tmp-"))
        .collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_restart_sweeps_the_staging_file_of_an_upload_killed_midway() {
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("local");
    std::fs::create_dir(&local).unwrap();
    let config = tmp.path().join("pfs.yaml");
    std::fs::write(
        &config,
        format!(
            "plugins:\n  localfs:\n    path: /local\n    config: {{local_dir: \"{}\"}}\n",
            local.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();

    let first = start(&["-c", config]);
    let mut upload = TcpStream::connect(first.base.trim_start_matches("http://")).unwrap();
    upload
        .write_all(b"PUT /api/v1/files?path=/local/big HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10000000\r\n\r\n")
        .unwrap();
    upload.write_all(&vec![b'x'; 1 << 20]).unwrap();
    wait_for("the upload is staged", || !staging_files(&local).is_empty());
    first.signal("-9");
    drop(first);
    let left = staging_files(&local);
    assert_eq!(left.len(), 1, "{left:?}");

    let second = start(&["-c", config]);
    wait_for("the stale staging file is swept", || {
        staging_files(&local).is_empty()
    });
    assert!(!local.join("big").exists(), "the cut upload became a file");
    assert!(
        second.log().contains("removed the staging files"),
        "{}",
        second.log()
    );
    second.stop();
}
