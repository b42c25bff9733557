//! localfs through the HTTP API: a `read_only` mount refuses every route that could change it (and
//! the disk stays byte-for-byte as it was), and paths that climb with `..` never leave the mount.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::{app_with, assert_error, delete, get, post, post_json, put, send, send_json};

/// Every entry under `root`: relative path → (mode, size, mtime in ns, content of files).
fn snapshot(root: &Path) -> BTreeMap<String, (u32, u64, i128, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let m = std::fs::symlink_metadata(&path).unwrap();
            let content = if m.is_file() {
                std::fs::read(&path).unwrap()
            } else {
                Vec::new()
            };
            if m.is_dir() {
                todo.push(path.clone());
            }
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
            out.insert(rel, (m.permissions().mode(), m.len(), mtime, content));
        }
    }
    out
}

#[tokio::test]
async fn a_read_only_mount_refuses_every_mutating_route_and_the_disk_stays_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "keep").unwrap();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    std::fs::write(dir.path().join("d/b.txt"), "keep too").unwrap();
    let before = snapshot(dir.path());
    let (app, _) = app_with(&format!(
        "plugins:\n  localfs: {{path: /ro, config: {{local_dir: '{}', read_only: true}}}}\n",
        dir.path().display()
    ))
    .await;

    let attempts = vec![
        ("overwrite", put("/api/v1/files?path=/ro/a.txt", "x")),
        ("write new", put("/api/v1/files?path=/ro/new.txt", "x")),
        (
            "append",
            put("/api/v1/files?path=/ro/a.txt&append=true", "x"),
        ),
        (
            "offset write",
            put("/api/v1/files?path=/ro/a.txt&offset=1", "x"),
        ),
        ("create", post("/api/v1/files?path=/ro/new.txt")),
        ("write alias", {
            let mut r = post("/api/v1/write?path=/ro/a.txt");
            *r.body_mut() = "x".into();
            r
        }),
        (
            "write alias json",
            post_json("/api/v1/write?path=/ro/a.txt", r#"{"data": "x"}"#),
        ),
        ("delete file", delete("/api/v1/files?path=/ro/a.txt")),
        (
            "delete tree",
            delete("/api/v1/files?path=/ro/d&recursive=true"),
        ),
        ("rmdir", delete("/api/v1/directories?path=/ro/d")),
        ("mkdir", post("/api/v1/directories?path=/ro/nd")),
        ("mkdir alias", post("/api/v1/mkdir?path=/ro/nd")),
        (
            "rename",
            post_json(
                "/api/v1/rename?path=/ro/a.txt",
                r#"{"newPath": "/ro/z.txt"}"#,
            ),
        ),
        (
            "rename dir",
            post_json("/api/v1/rename?path=/ro/d", r#"{"newPath": "/ro/e"}"#),
        ),
        (
            "chmod",
            post_json("/api/v1/chmod?path=/ro/a.txt", r#"{"mode": 511}"#),
        ),
        ("truncate", post("/api/v1/truncate?path=/ro/a.txt&size=0")),
        ("touch existing", post("/api/v1/touch?path=/ro/a.txt")),
        ("touch new", post("/api/v1/touch?path=/ro/t.txt")),
        (
            "symlink",
            post_json("/api/v1/symlink?path=/ro/link", r#"{"target": "a.txt"}"#),
        ),
        (
            "handle write",
            post("/api/v1/handles/open?path=/ro/a.txt&flags=1"),
        ),
        (
            "handle create",
            post("/api/v1/handles/open?path=/ro/h.txt&flags=18"),
        ),
        (
            "handle truncate",
            post("/api/v1/handles/open?path=/ro/a.txt&flags=65"),
        ),
    ];
    for (what, req) in attempts {
        let (status, v) = send_json(&app, req).await;
        assert!(matches!(status.as_u16(), 403 | 501), "{what}: {status} {v}");
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {v}"
        );
    }
    assert_eq!(snapshot(dir.path()), before);
    // Links live in the router, so the router itself refuses them in a read-only mount.
    assert_error(
        send_json(
            &app,
            post_json("/api/v1/symlink?path=/ro/d/l", r#"{"target": "b.txt"}"#),
        )
        .await,
        501,
        "symlink: /ro/d/l: operation not supported (the mount at /ro is read-only)",
    );
    // Reading still works.
    let (s, body) = send(&app, get("/api/v1/files?path=/ro/d/b.txt")).await;
    assert_eq!((s.as_u16(), &body[..]), (200, &b"keep too"[..]));
}

#[tokio::test]
async fn dot_dot_in_a_request_path_never_leaves_the_mount() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(outer.path().join("secret"), "outside").unwrap();
    let (app, _) = app_with(&format!(
        "plugins:\n  localfs: {{path: /local, config: {{local_dir: '{}'}}}}\n",
        root.display()
    ))
    .await;
    // `..` climbs within the virtual tree and stops at `/`: these name /x, /secret and /tmp/x,
    // which no mount serves (the root refuses new files with 403, a missing parent is 404).
    for path in ["/local/../x", "/local/../../secret", "/local/../../tmp/x"] {
        let (s, v) = send_json(&app, put(&format!("/api/v1/files?path={path}"), "x")).await;
        assert!(matches!(s.as_u16(), 403 | 404), "{path}: {s} {v}");
    }
    let (s, v) = send_json(&app, get("/api/v1/files?path=/local/../../secret")).await;
    assert_eq!(s, 404, "{v}");
    // Inside the mount, `..` resolves before it reaches localfs.
    let (s, _) = send(&app, put("/api/v1/files?path=/local/a/../b.txt", "in")).await;
    assert_eq!(s, 200);
    assert_eq!(std::fs::read_to_string(root.join("b.txt")).unwrap(), "in");
    let mut names: Vec<String> = std::fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["root", "secret"]);
    assert_eq!(
        std::fs::read_to_string(outer.path().join("secret")).unwrap(),
        "outside"
    );
}
