//! Scale-out: two pfs-server processes on one MariaDB database (sqlfs) and one S3 bucket (s3fs)
//! read each other's writes at once. Needs `PFS_TEST_MYSQL_DSN` and `PFS_TEST_S3_ENDPOINT`
//! (scripts/test starts MariaDB and moto); without them it skips, except under `CI`.

mod common;

use common::process::{Server, curl, free_port, start};

fn env(var: &str) -> Option<String> {
    fs_core::conformance::test_server(var, "scripts/test starts MariaDB and moto")
}

/// One server on `config`, and its base URL.
fn server(dir: &std::path::Path, name: &str, config: &str) -> (Server, String) {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, config).unwrap();
    let s = start(&["-c", file.to_str().unwrap()]);
    let base = s.base.clone();
    (s, base)
}

fn body(args: &[&str]) -> String {
    String::from_utf8(curl(args).stdout).unwrap()
}

fn put(base: &str, path: &str, data: &str) {
    let out = body(&[
        "-X",
        "PUT",
        "--data-binary",
        data,
        &format!("{base}/api/v1/files?path={path}"),
    ]);
    assert!(out.contains("\"written\""), "PUT {path} at {base}: {out}");
}

fn get(base: &str, path: &str) -> String {
    body(&[&format!("{base}/api/v1/files?path={path}")])
}

fn status(args: &[&str]) -> String {
    let mut all = vec!["-o", "/dev/null", "-w", "%{http_code}"];
    all.extend_from_slice(args);
    body(&all)
}

fn names(base: &str, dir: &str) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(&body(&[&format!("{base}/api/v1/directories?path={dir}")])).unwrap();
    let mut out: Vec<String> = common::listing_names(&v)
        .into_iter()
        .map(str::to_owned)
        .collect();
    out.sort();
    out
}

#[test]
fn two_servers_share_one_database_and_one_bucket() {
    let (Some(dsn), Some(s3)) = (env("PFS_TEST_MYSQL_DSN"), env("PFS_TEST_S3_ENDPOINT")) else {
        return;
    };
    let tag = format!("{}-{}", std::process::id(), free_port());
    let bucket = format!("pfs-scale-{tag}");
    // moto creates a bucket on a plain PUT.
    assert_eq!(status(&["-X", "PUT", &format!("{s3}/{bucket}")]), "200");
    let database = format!("pfs_scale_{}", tag.replace('-', "_"));
    let config = format!(
        "plugins:\n  sqlfs:\n    path: /sqlfs\n    config: {{backend: mysql, dsn: '{dsn}', database: {database}}}\n  \
         s3fs:\n    path: /s3\n    config: {{bucket: {bucket}, endpoint: '{s3}', access_key_id: test, secret_access_key: test, prefix: shared}}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let (_a, a) = server(dir.path(), "a", &config);
    let (_b, b) = server(dir.path(), "b", &config);

    for root in ["/sqlfs", "/s3"] {
        // A writes, B reads at once (no cache on either side).
        put(&a, &format!("{root}/from-a.txt"), "written by A");
        assert_eq!(get(&b, &format!("{root}/from-a.txt")), "written by A");
        // B makes a directory and a file in it; A lists and reads them.
        assert_eq!(
            status(&[
                "-X",
                "POST",
                &format!("{b}/api/v1/directories?path={root}/docs")
            ]),
            "201"
        );
        put(&b, &format!("{root}/docs/from-b.txt"), "written by B");
        assert_eq!(names(&a, &format!("{root}/docs")), ["from-b.txt"]);
        assert_eq!(get(&a, &format!("{root}/docs/from-b.txt")), "written by B");
        // A overwrites what B wrote; B sees the new bytes, a Range included.
        put(&a, &format!("{root}/docs/from-b.txt"), "replaced by A");
        assert_eq!(
            body(&[
                "-H",
                "Range: bytes=12-",
                &format!("{b}/api/v1/files?path={root}/docs/from-b.txt")
            ]),
            "A"
        );
        // B renames the directory; A finds it only at the new name.
        let renamed = body(&[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            &format!("{{\"newPath\": \"{root}/moved\"}}"),
            &format!("{b}/api/v1/rename?path={root}/docs"),
        ]);
        assert!(renamed.contains("renamed"), "{renamed}");
        assert_eq!(
            get(&a, &format!("{root}/moved/from-b.txt")),
            "replaced by A"
        );
        assert_eq!(
            status(&[&format!("{a}/api/v1/files?path={root}/docs/from-b.txt")]),
            "404"
        );
        // A removes; B gets 404.
        assert_eq!(
            status(&[
                "-X",
                "DELETE",
                &format!("{a}/api/v1/files?path={root}/moved&recursive=true")
            ]),
            "200"
        );
        assert_eq!(
            status(&[&format!("{b}/api/v1/files?path={root}/moved/from-b.txt")]),
            "404"
        );
        assert_eq!(names(&b, root), ["from-a.txt"]);
    }
}
