//! proxyfs mounts whose remote leads back to themselves: each proxy adds its id to `x-pfs-via`,
//! and one asked to forward a request that already passed it answers 508. A proxy of its own
//! server is no loop; a recursive grep through a proxy of `/`, or across two servers that proxy
//! each other, ends at once with the real matches, and the server's descriptors stay as they were
//! (it ran for ever before, opening connections).

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

fn grep_files(s: &Server) -> Vec<String> {
    let grep = r#"{"path": "/", "pattern": "needle", "recursive": true}"#;
    let started = Instant::now();
    let (body, code) = call(
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            grep,
        ],
        &api(s, "grep"),
    );
    assert_eq!(code, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the grep took {:?}",
        started.elapsed()
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["file"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_proxy_of_its_own_server_serves_and_a_request_around_it_twice_is_508() {
    let a = start(&[]);
    let (body, code) = call(
        &["-X", "PUT", "-d", "a needle here"],
        &api(&a, "files?path=/memfs/needle.txt"),
    );
    assert_eq!(code, 200, "{body}");
    let (body, code) = mount_proxy(&a, "/self", &a);
    assert_eq!(code, 200, "a proxy of its own server is no loop: {body}");
    assert_eq!(
        call(&[], &api(&a, "stat?path=/self/memfs/needle.txt")).1,
        200
    );
    let (body, code) = call(&[], &api(&a, "stat?path=/self/self/memfs/needle.txt"));
    assert_eq!(code, 508, "{body}");
    assert!(
        body.contains("loop detected") && body.contains("x-pfs-via"),
        "{body}"
    );
    let before = open_descriptors(&a);
    let files = grep_files(&a);
    assert!(
        files.contains(&"/memfs/needle.txt".to_string()),
        "{files:?}"
    );
    assert!(
        files.contains(&"/self/memfs/needle.txt".to_string()),
        "{files:?}"
    );
    assert!(
        files.iter().all(|f| !f.starts_with("/self/self")),
        "{files:?}"
    );
    let after = open_descriptors(&a);
    assert!(
        after <= before + 16,
        "descriptors went from {before} to {after}"
    );
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

    // Two proxies in a row are no loop; the same proxy again is.
    let (body, code) = call(&[], &api(&a, "stat?path=/b/a/memfs/needle.txt"));
    assert_eq!(code, 200, "{body}");
    let (body, code) = call(&[], &api(&a, "stat?path=/b/a/b/memfs/needle.txt"));
    assert_eq!(code, 508, "{body}");
    assert!(body.contains("loop detected"), "{body}");

    let before = open_descriptors(&a);
    let files = grep_files(&a);
    // Found on A itself, and around the loop once through each proxy; never twice.
    assert!(
        files.contains(&"/memfs/needle.txt".to_string()),
        "{files:?}"
    );
    assert!(
        files.contains(&"/b/a/memfs/needle.txt".to_string()),
        "{files:?}"
    );
    assert!(files.iter().all(|f| !f.starts_with("/b/a/b")), "{files:?}");
    let after = open_descriptors(&a);
    assert!(
        after <= before + 16,
        "descriptors went from {before} to {after}"
    );
}
