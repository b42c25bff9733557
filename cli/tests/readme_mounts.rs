//! The seed PFS README's `pfs:/>` examples of the mounts `shell.rs`'s test server lacks, as golden
//! tests run the same way (`pfs sh -v NAME.pfs`, transcript compared with `NAME.out`,
//! `PFS_BLESS=1` rewrites it):
//!
//! - `readme_mounts`: localfs at `/local` on a temp directory; proxyfs at `/remote/server1` and
//!   `/remote/server2`, both pointing at a second pfs server started here; httpfs mounted from the
//!   shell on kernel-chosen free ports (its pages fetched over plain HTTP); a second sqlfs on SQLite
//!   at `/sqlfs_prod` (the README's is TiDB); serverinfofs; `mount`, `unmount` and `mounts`.
//! - `readme_s3`: s3fs at `/s3/mybucket` on a fresh bucket of the S3 server `scripts/test` starts
//!   (moto, `PFS_TEST_S3_ENDPOINT`); skipped without one, except under `CI`, where it fails.
//!
//! What varies from run to run is named in the transcripts: server URLs (`SERVER`, `REMOTE`),
//! temp directories (`TMP`), ports (by the variable that carries them, e.g. `$HTTP_PORT`), times
//! and uptimes.

mod common;

use std::path::Path;

use common::{Server, check_golden, normalise, serve, serve_config, sh_env};
use pfs_cli::{Client, WriteOptions};
use regex::Regex;

/// Runs `tests/golden/shell/NAME.pfs` against `server` with `envs`, normalises the transcript
/// (`names` first: each text, as a whole word, becomes its name) and checks it against `NAME.out`.
async fn golden(name: &str, server: &Server, envs: &[(&str, &str)], names: &[(String, String)]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/shell")
        .join(format!("{name}.pfs"));
    let script = script.display().to_string();
    let (out, code) = sh_env(server, &["-v", &script], server.dir(), envs).await;
    let mut out = out;
    for (text, name) in names {
        // Whole words only: a port's digits inside a longer number stay.
        let word = Regex::new(&format!(r"\b{}\b", regex::escape(text))).expect("regex");
        out = word.replace_all(&out, regex::NoExpand(name)).into_owned();
    }
    let uptime = Regex::new(r"(?m)^(Uptime: *)\S+$|^(\d+h)?(\d+m)?\d+(\.\d+)?m?s$").expect("regex");
    let out = uptime.replace_all(&out, |c: &regex::Captures<'_>| {
        format!("{}UPTIME", c.get(1).map_or("", |m| m.as_str()))
    });
    let mut got = normalise(&out, &server.url(), &server.dir().display().to_string());
    if code != 0 {
        got.push_str(&format!("? {code}\n"));
    }
    check_golden(name, &got);
}

/// A port the kernel chose as free (bound on 127.0.0.1:0, then released for the script to use).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A plain HTTP client (rustls needs its provider even for `http://`).
fn http() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(common::DEADLINE)
        .build()
        .expect("HTTP client")
}

/// `GET url`: (status, body).
async fn get(url: &str) -> (u16, String) {
    let resp = http()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

async fn write(client: &Client, path: &str, data: &str) {
    client
        .write_body(path, data.to_string(), WriteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("write {path}: {e}"));
}

async fn read(client: &Client, path: &str) -> String {
    let resp = client
        .read(path, Default::default())
        .await
        .unwrap_or_else(|e| panic!("read {path}: {e}"));
    resp.text().await.expect("body")
}

/// localfs, proxyfs, httpfs, `/sqlfs_prod`, serverinfofs and the mount commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_mounts() {
    // The remote of /remote/server1 and /remote/server2: a second real server, with the files the
    // README's proxyfs examples read.
    let remote = serve().await;
    let remote_client = Client::new(&remote.url()).expect("client");
    remote_client
        .mkdir("/memfs/data", None)
        .await
        .expect("mkdir /memfs/data");
    write(
        &remote_client,
        "/memfs/data/file.txt",
        "a file on server1\n",
    )
    .await;
    write(&remote_client, "/memfs/file.txt", "federated\n").await;

    let remote_api = format!("{}/api/v1", remote.url());
    let server = serve_config(|dir| {
        let local = dir.join("local");
        std::fs::create_dir(&local).expect("mkdir local");
        std::fs::write(local.join("config.txt"), "debug = false\n").expect("write config.txt");
        format!(
            "plugins:\n  memfs: {{path: /memfs}}\n  \
             sqlfs:\n    \
             - {{name: local, path: /sqlfs, config: {{backend: sqlite, db_path: '{db}'}}}}\n    \
             - {{name: production, path: /sqlfs_prod, config: {{backend: sqlite, db_path: '{prod}'}}}}\n  \
             localfs: {{path: /local, config: {{local_dir: '{local}'}}}}\n  \
             proxyfs:\n    \
             - {{name: remote1, path: /remote/server1, config: {{base_url: '{remote_api}', remote_path: /memfs}}}}\n    \
             - {{name: remote2, path: /remote/server2, config: {{base_url: '{remote_api}', remote_path: /sqlfs}}}}\n  \
             serverinfofs: {{path: /serverinfofs, config: {{version: '1.0.0'}}}}\n",
            db = dir.join("sqlfs.db").display(),
            prod = dir.join("sqlfs_prod.db").display(),
            local = local.display(),
        )
    })
    .await;

    let ports = [
        ("HTTP_PORT", free_port()),
        ("DOCS_PORT", free_port()),
        ("IMAGES_PORT", free_port()),
        ("S3_PUBLIC_PORT", free_port()),
    ];
    let port_text: Vec<(String, String)> = ports
        .iter()
        .map(|(name, port)| (name.to_string(), port.to_string()))
        .collect();
    let envs: Vec<(&str, &str)> = port_text
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_str()))
        .collect();
    let mut names = vec![
        (remote.url(), "REMOTE".to_string()),
        (remote.dir().display().to_string(), "REMOTE_TMP".to_string()),
    ];
    names.extend(port_text.iter().map(|(n, p)| (p.clone(), format!("${n}"))));
    golden("readme_mounts", &server, &envs, &names).await;

    // What the script did, seen from outside: the remote's own files, the local directory, and
    // the httpfs instances left mounted, over plain HTTP.
    assert_eq!(read(&remote_client, "/sqlfs/upload.txt").await, "data");
    assert_eq!(read(&remote_client, "/sqlfs/file.txt").await, "federated\n");
    let local = server.dir().join("local");
    assert_eq!(
        std::fs::read_to_string(local.join("backup.txt")).expect("backup.txt"),
        "temporary\n"
    );
    assert!(local.join("newdir").is_dir());
    let port = |name: &str| ports.iter().find(|(n, _)| *n == name).expect("port").1;
    let docs = port("DOCS_PORT");
    assert_eq!(
        get(&format!("http://127.0.0.1:{docs}/README.md")).await,
        (200, "# Docs\n".to_string())
    );
    let (status, page) = get(&format!("http://127.0.0.1:{docs}/")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"href="/README.md""#),
        "the listing links the README: {page}"
    );
    let images = port("IMAGES_PORT");
    let (status, page) = get(&format!("http://127.0.0.1:{images}/")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"href="/logo.svg""#),
        "the listing links logo.svg: {page}"
    );
    let s3_public = port("S3_PUBLIC_PORT");
    let (status, _) = get(&format!("http://127.0.0.1:{s3_public}/")).await;
    assert_eq!(status, 404, "/s3fs/public is not mounted here");
    // Unmounting /temp-http closed its port.
    let http_port = port("HTTP_PORT");
    let closed = http()
        .get(format!("http://127.0.0.1:{http_port}/"))
        .send()
        .await;
    assert!(
        closed.as_ref().is_err_and(reqwest::Error::is_connect),
        "/temp-http's port still answers after unmount: {closed:?}"
    );
}

/// The S3FS examples, against the S3 server `scripts/test` starts (moto).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_s3() {
    let Some(s3) = std::env::var("PFS_TEST_S3_ENDPOINT")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PFS_TEST_S3_ENDPOINT is not set: CI must run the README's S3FS examples (scripts/test starts moto)"
        );
        println!("skipping the S3FS examples: set PFS_TEST_S3_ENDPOINT (scripts/test starts moto)");
        return;
    };
    let s3 = s3.trim_end_matches('/').to_string();
    // A fresh bucket (s3fs needs it to exist): moto creates one on a plain PUT.
    let bucket = format!("pfs-cli-readme-{}-{}", std::process::id(), free_port());
    let (status, body) = {
        let resp = http()
            .put(format!("{s3}/{bucket}"))
            .send()
            .await
            .expect("PUT the bucket");
        (
            resp.status().as_u16(),
            resp.text().await.unwrap_or_default(),
        )
    };
    assert_eq!(status, 200, "creating bucket {bucket}: {body}");

    let server = serve_config(|dir| {
        let local = dir.join("local");
        std::fs::create_dir(&local).expect("mkdir local");
        std::fs::write(local.join("file.pdf"), "%PDF-1.4 a small document\n")
            .expect("write file.pdf");
        format!(
            "plugins:\n  s3fs:\n    - {{name: mybucket, path: /s3/mybucket, config: {{region: us-west-1, \
             bucket: {bucket}, endpoint: '{s3}', access_key_id: AKIAXXXXXXXX, \
             secret_access_key: secretkey, prefix: pfs/}}}}\n"
        )
    })
    .await;
    let names = vec![
        (s3.clone(), "S3".to_string()),
        (bucket.clone(), "BUCKET".to_string()),
    ];
    golden("readme_s3", &server, &[], &names).await;

    // The objects, as the bucket lists them (moto lists without a signature).
    let (status, listing) = get(&format!("{s3}/{bucket}?list-type=2&prefix=pfs/")).await;
    assert_eq!(status, 200, "{listing}");
    let keys: Vec<&str> = Regex::new("<Key>([^<]*)</Key>")
        .expect("regex")
        .captures_iter(&listing)
        .map(|c| c.get(1).expect("key").as_str())
        .collect();
    assert!(
        keys.contains(&"pfs/data.txt") && keys.contains(&"pfs/documents/file.pdf"),
        "keys in the bucket: {keys:?}"
    );
    assert_eq!(
        std::fs::read_to_string(server.dir().join("local/file.pdf")).expect("file.pdf"),
        "%PDF-1.4 a small document\n"
    );
}
