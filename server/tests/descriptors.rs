//! The descriptor limit, on the real binary: the soft limit is raised to the hard one at start
//! (logged), and with a low hard limit a flood of idle connections still leaves health checks
//! answered at once (200, or the JSON 503 of the connection cap), never timing out.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::process::{curl, start_with_limits};

/// The `Max open files` soft and hard limits of `pid`.
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut words = line["Max open files".len()..].split_whitespace();
    (
        words.next().unwrap().to_string(),
        words.next().unwrap().to_string(),
    )
}

#[test]
fn the_soft_descriptor_limit_is_raised_to_the_hard_one() {
    let server = start_with_limits("ulimit -S -n 256 && ulimit -H -n 4096", &[]);
    assert_eq!(
        open_file_limits(server.child.id()),
        ("4096".to_string(), "4096".to_string())
    );
    let log = server.stop();
    assert!(
        log.contains("raised the open-file limit from 256 to 4096"),
        "{log}"
    );
}

#[test]
fn idle_sockets_past_the_descriptor_limit_leave_health_checks_answered() {
    // The client side needs more than 1100 descriptors itself.
    let ours = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if ours.current.is_some_and(|n| n < 1300) {
        let mut raised = ours;
        raised.current = ours.maximum;
        rustix::process::setrlimit(rustix::process::Resource::Nofile, raised).unwrap();
    }
    let server = start_with_limits("ulimit -n 1024", &[]);
    let addr = server.base.trim_start_matches("http://").to_string();
    let idle: Vec<TcpStream> = (0..1100)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    let health = format!("{}/api/v1/health", server.base);
    for _ in 0..20 {
        let started = Instant::now();
        let out = curl(&["--max-time", "3", "-w", " %{http_code}", &health]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "a health check took {:?}",
            started.elapsed()
        );
        assert!(
            text.ends_with(" 200") || (text.ends_with(" 503") && text.contains("max_connections")),
            "a health check was not answered: {text:?} ({})",
            out.status
        );
    }
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = curl(&["-o", "/dev/null", "-w", "%{http_code}", &health]);
        if out.stdout == b"200" {
            break;
        }
        assert!(Instant::now() < deadline, "health never came back: {out:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.stop();
}
