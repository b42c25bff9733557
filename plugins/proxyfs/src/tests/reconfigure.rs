//! Changes of config refused before anything is swapped: a remote that is closed or silent, a
//! `remote_path` (a remount), malformed values. The proxy keeps its remote. Changes taken in place,
//! against real pfs servers, are in `server/tests/reconfigure_remote.rs`.

use std::sync::Arc;

use fs_core::Reconfigured;
use serde_json::Value;

use super::*;

async fn change(fs: &ProxyFs, old: &Value, new: &Value) -> fs_core::Result<Reconfigured> {
    fs_core::plugin::vet(&ProxyFsPlugin, new)?;
    fs.reconfigure(old, new).await
}

#[tokio::test]
async fn refused_changes_keep_the_old_remote() {
    let old = json!({"base_url": closed_port(), "timeout": "5s"});
    let fs = ProxyFs::new(&Settings::parse(&old).unwrap()).unwrap();
    let before = fs.base_url();
    let id = fs.remote().id();
    let silent = silent().await;
    let dead = closed_port().replace("http://", "http://alice:hunter2@");
    let cases = [
        (
            json!({"base_url": dead, "timeout": "5s"}),
            ErrorKind::InvalidArgument,
            "is unreachable",
        ),
        (
            json!({"base_url": silent, "timeout": "300ms"}),
            ErrorKind::InvalidArgument,
            "did not answer",
        ),
        (
            json!({"base_url": closed_port(), "remote_path": "/memfs"}),
            ErrorKind::Unsupported,
            "'remote_path' cannot change",
        ),
        (
            json!({"base_url": "not a url"}),
            ErrorKind::InvalidArgument,
            "invalid base_url",
        ),
        (
            json!({"base_url": "file:///etc/passwd"}),
            ErrorKind::InvalidArgument,
            "invalid base_url",
        ),
        (
            json!({"base_url": "http://h", "timeout": 0}),
            ErrorKind::InvalidArgument,
            "invalid timeout",
        ),
        (
            json!({"base_url": "https://h", "tls_ca": "/nonexistent/ca.pem"}),
            ErrorKind::InvalidArgument,
            "'tls_ca'",
        ),
    ];
    for (new, kind, words) in cases {
        let started = Instant::now();
        let err = change(&fs, &old, &new).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{new}: {err}");
        let msg = err.to_string();
        assert!(msg.contains(words), "{new}: {msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        if kind == ErrorKind::InvalidArgument
            && !words.starts_with("invalid")
            && words != "'tls_ca'"
        {
            assert!(msg.contains("the mount keeps its current config"), "{msg}");
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{new}");
        assert_eq!(fs.base_url(), before, "{new}");
        assert!(Arc::ptr_eq(&id, &fs.remote().id()));
    }
}
