//! proxyfs mounts that lead back to a server already on a request's way: each server adds its
//! instance id to `x-pfs-via`, and one that finds its own id answers 508. A recursive grep across
//! two servers that proxy each other ends at once with the real matches, and the server's
//! descriptors stay as they were (it ran for ever before, opening connections).

mod common;

use std::time::{Duration, Instant};

use common::process::{Server, curl, start};

fn api(s: &Server, rest: &str) -> String {
    format!("{}/api/v1/{rest}", s.base)
}

/// `curl -s -w ' %{http_code}' <args> <url>`: body and status.
fn call(args: &[&str], url: &str) -> (String, u16) {
    let mut all = vec!["-w", " %{http_code}", "--max-time", "20"];
    all.extend_from_slice(args);
    all.push(url);
    let out = String::from_utf8(curl(&all).stdout).unwrap();
    let (body, code) = out.rsplit_once(' ').unwrap();
    (body.to_string(), code.parse().unwrap_or(0))
}

fn mount_proxy(on: &Server, at: &str, to: &Server) -> (String, u16) {
    let body = format!(
        r#"{{"fstype": "proxyfs", "path": "{at}", "config": {{"base_url": "{}/api/v1"}}}}"#,
        to.base
    );
    call(
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            &body,
        ],
        &api(on, "mount"),
    )
}

fn open_descriptors(s: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", s.child.id()))
        .unwrap()
        .count()
}

#[test]
fn a_proxy_pointed_at_its_own_server_is_refused_at_mount() {
    let a = start(&[]);
    let (body, code) = mount_proxy(&a, "/self", &a);
    assert_eq!(code, 508, "{body}");
    assert!(body.contains("loop detected"), "{body}");
    let (body, code) = call(&[], &api(&a, "stat?path=/self"));
    assert_eq!(code, 404, "the refused mount is not there: {body}");
}

#[test]
fn a_recursive_grep_through_two_servers_that_proxy_each_other_ends() {
    let a = start(&[]);
    let b = start(&[]);
    let (body, code) = call(
        &["-X", "PUT", "-d", "a needle here"],
        &api(&a, "files?path=/memfs/needle.txt"),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(mount_proxy(&a, "/b", &b).1, 200);
    assert_eq!(mount_proxy(&b, "/a", &a).1, 200);

    // Straight through the loop: A -> B -> A is refused by A.
    let (body, code) = call(&[], &api(&a, "stat?path=/b/a/memfs/needle.txt"));
    assert_eq!(code, 508, "{body}");
    assert!(
        body.contains("loop detected") && body.contains("x-pfs-via"),
        "{body}"
    );
    // One hop is no loop.
    let (_, code) = call(&[], &api(&b, "stat?path=/a/memfs/needle.txt"));
    assert_eq!(code, 200);

    let before = open_descriptors(&a);
    let started = Instant::now();
    let grep = r#"{"path": "/", "pattern": "needle", "recursive": true}"#;
    let (body, code) = call(
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            grep,
        ],
        &api(&a, "grep"),
    );
    assert_eq!(code, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the grep took {:?}",
        started.elapsed()
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let files: Vec<&str> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["file"].as_str().unwrap())
        .collect();
    // Found on A itself, and on A seen from B (one hop); never again around the loop.
    assert!(files.contains(&"/memfs/needle.txt"), "{files:?}");
    assert!(files.iter().all(|f| !f.starts_with("/b/a/b")), "{files:?}");
    let after = open_descriptors(&a);
    assert!(
        after <= before + 16,
        "descriptors went from {before} to {after}"
    );
}
