//! Every request of the hardening issue, against the real binary on the embedded default config:
//! after each one the same process still serves, the answer is a client error with a JSON body
//! (or the exact result), and the file it aimed at holds what it held.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::process::{Server, curl, start};

/// One request by curl: status and body.
fn call(s: &Server, args: &[&str], rest: &str) -> (u16, String) {
    let mut all = vec!["-w", " %{http_code}"];
    all.extend_from_slice(args);
    let url = format!("{}/api/v1/{rest}", s.base);
    all.push(&url);
    let out = String::from_utf8_lossy(&curl(&all).stdout).into_owned();
    let (body, code) = out.rsplit_once(' ').unwrap_or((&out, "0"));
    (code.parse().unwrap_or(0), body.to_string())
}

/// The process is the one started, alive, and answering.
fn still_serving(s: &mut Server, after: &str) {
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "the server exited after {after}: {}",
        s.log()
    );
    let (code, body) = call(s, &[], "health");
    assert_eq!(code, 200, "no health after {after}: {body}");
}

fn put(s: &Server, path: &str, data: &str) {
    let (code, body) = call(
        s,
        &["-X", "PUT", "--data-binary", data],
        &format!("files?path={path}"),
    );
    assert_eq!(code, 200, "PUT {path}: {body}");
}

fn content(s: &Server, path: &str) -> String {
    call(s, &[], &format!("files?path={path}")).1
}

/// A 4xx with `{"error": "..."}`.
fn refused(code: u16, body: &str, what: &str) {
    assert!((400..500).contains(&code), "{what}: {code} {body}");
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body}"));
    assert!(v["error"].is_string(), "{what}: {body}");
}

#[test]
fn no_request_of_the_issue_stops_the_server_or_loses_data() {
    let mut s = start(&[]);
    const TIB: &str = "1099511627776";
    const U64_MAX: &str = "18446744073709551615";
    const I64_MAX: &str = "9223372036854775807";
    for (plugin, file) in [
        ("memfs", "/memfs/x"),
        ("kvfs", "/kvfs/keys/x"),
        ("sqlfs", "/sqlfs/x"),
    ] {
        put(&s, file, "KEEP");
        // (args, query, whether sqlfs, whose files are sparse on disk, does it exactly)
        let mut requests: Vec<(Vec<&str>, String, bool)> = Vec::new();
        for offset in [TIB, U64_MAX, I64_MAX, "18446744073709550999"] {
            requests.push((
                vec!["-X", "PUT", "--data-binary", "YZ"],
                format!("files?path={file}&offset={offset}"),
                offset == TIB,
            ));
        }
        for size in [TIB, U64_MAX] {
            requests.push((
                vec!["-X", "POST"],
                format!("truncate?path={file}&size={size}"),
                size == TIB,
            ));
        }
        for (args, query, sparse) in requests {
            let what = format!("{plugin}: {args:?} {query}");
            let (code, body) = call(&s, &args, &query);
            if plugin == "sqlfs" && sparse {
                assert_eq!(code, 200, "{what}: {body}");
                put(&s, file, "KEEP");
            } else {
                refused(code, &body, &what);
            }
            still_serving(&mut s, &what);
            assert_eq!(content(&s, file), "KEEP", "{what}");
        }
    }

    // A handle seeks to 2^62 and writes a byte.
    let (code, body) = call(&s, &["-X", "POST"], "handles/open?path=/memfs/x&flags=2");
    assert_eq!(code, 200, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["handle_id"].clone();
    let (code, body) = call(
        &s,
        &["-X", "POST"],
        &format!("handles/{id}/seek?offset=4611686018427387904&whence=0"),
    );
    refused(code, &body, "seek to 2^62 on memfs");
    let (code, body) = call(
        &s,
        &["-X", "POST"],
        &format!("handles/{id}/seek?offset={I64_MAX}&whence=0"),
    );
    refused(code, &body, "seek to 2^63-1 on memfs");
    let (code, body) = call(
        &s,
        &["-X", "PUT", "--data-binary", "Z"],
        &format!("handles/{id}/write"),
    );
    assert_eq!(code, 200, "a write at the unchanged position: {body}");
    still_serving(&mut s, "handle seeks");
    assert_eq!(content(&s, "/memfs/x"), "ZEEP");

    // Every mutation of a mount root.
    for root in [
        "/memfs",
        "/kvfs",
        "/sqlfs",
        "/queuefs",
        "/streamfs",
        "/heartbeatfs",
    ] {
        for (args, rest) in [
            (vec!["-X", "PUT", "-d", "x"], format!("files?path={root}")),
            (vec!["-X", "POST", "-d", "x"], format!("write?path={root}")),
            (vec!["-X", "POST"], format!("files?path={root}")),
            (
                vec!["-X", "PUT", "-d", "x"],
                format!("files?path={root}&flags=append"),
            ),
            (vec!["-X", "POST"], format!("truncate?path={root}&size=0")),
        ] {
            let what = format!("{args:?} {rest}");
            let (code, body) = call(&s, &args, &rest);
            refused(code, &body, &what);
            still_serving(&mut s, &what);
        }
        let (code, body) = call(&s, &[], &format!("directories?path={root}"));
        assert_eq!(code, 200, "{body}");
        assert!(
            !body.contains(r#""name":"/""#),
            "{root} grew a file named /: {body}"
        );
    }

    // Absurd numbers elsewhere: a read window, a Range, a heartbeat timeout, a handle read.
    for (args, rest) in [
        (
            vec![],
            format!("files?path=/memfs/x&offset={U64_MAX}&size={U64_MAX}"),
        ),
        (
            vec!["-r", "18446744073709551614-"],
            "files?path=/memfs/x".to_string(),
        ),
        (
            vec!["-X", "POST"],
            "directories?path=/heartbeatfs/w".to_string(),
        ),
        (
            vec!["-X", "PUT", "-d", "timeout=1e300"],
            "files?path=/heartbeatfs/w/ctl".to_string(),
        ),
        (
            vec!["-X", "PUT", "-d", "timeout=1e18"],
            "files?path=/heartbeatfs/w/ctl".to_string(),
        ),
        (vec![], format!("handles/{id}/read?size={U64_MAX}")),
        (vec![], format!("handles/{id}/read?offset={U64_MAX}&size=5")),
    ] {
        let what = format!("{args:?} {rest}");
        let (code, body) = call(&s, &args, &rest);
        assert!(code < 500, "{what}: {code} {body}");
        still_serving(&mut s, &what);
    }
    assert_eq!(content(&s, "/memfs/x"), "ZEEP");

    // Malformed and oversized requests below the routes.
    for raw in [
        b"BLAH\r\n\r\n".to_vec(),
        format!("GET /api/v1/stat?path=/{} HTTP/1.1\r\nHost: localhost\r\n\r\n", "a".repeat(70_000)).into_bytes(),
        format!("GET / HTTP/1.1\r\nHost: localhost\r\nX: {}\r\n\r\n", "a".repeat(300_000)).into_bytes(),
        b"PUT /api/v1/files?path=/memfs/y HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n".to_vec(),
    ] {
        let mut tcp = TcpStream::connect(s.base.trim_start_matches("http://")).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = tcp.write_all(&raw);
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
        assert!(answer.contains("{\"error\":"), "{answer}");
        still_serving(&mut s, "a malformed request");
    }
    s.stop();
}
