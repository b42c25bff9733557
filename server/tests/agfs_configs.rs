//! Configs written for AGFS load: disabled entries are skipped before their plugin is looked up,
//! an enabled entry of a plugin pfs lacks becomes a `failed` mount (naming the closest plugin)
//! while everything else serves and `/ready` says 503, and `--strict` turns any of that, or a
//! mount that fails, into an exit at start. A typo in a known plugin's key still stops it.

mod common;

use std::process::Command;

use common::process::{BIN, curl, start};
use serde_json::Value;

/// A config in the shape of AGFS's own example: every AGFS plugin, the ones pfs does not have
/// (sqlfs2, gptfs, vectorfs) among them, some disabled, an entry named like the seed README's
/// `localfs_home:`, AGFS's keys and the `instances:` list of its sample.
const AGFS_CONFIG: &str = r#"
server:
  address: ":8080"
  log_level: info
  max_request_body_bytes: 67108864
external_plugins:
  enabled: false
  plugin_dir: "./plugins"
  auto_load: false
  plugin_paths: []
  wasi_mount_path: ""
  wasm:
    instance_pool_size: 10
    instance_max_lifetime: 0
plugins:
  serverinfofs:
    enabled: true
    path: /serverinfofs
    config:
      version: "1.4.0"
  memfs:
    enabled: true
    path: /memfs
    config:
      init_dirs: [/home, /tmp]
  queuefs:
    enabled: true
    path: /queuefs
    config: {}
  kvfs:
    enabled: true
    path: /kvfs
    config:
      initial_data:
        welcome: "Hello from AGFS!"
  hellofs:
    enabled: true
    path: /hellofs
  heartbeatfs:
    enabled: true
    path: /heartbeatfs
  streamfs:
    enabled: true
    path: /streamfs
  sqlfs:
    instances:
      - name: local
        enabled: true
        path: /sqlfs
        config:
          backend: sqlite
          db_path: DATA/sqlfs.db
          cache_enabled: true
          cache_max_size: 1000
          cache_ttl_seconds: 5
      - name: production
        enabled: false
        path: /sqlfs_prod
        config:
          backend: tidb
          dsn: "user:pass@tcp(host:4000)/db"
  sqlfs2:
    enabled: false
    path: /sqlfs2
    config:
      backend: sqlite
  gptfs:
    enabled: false
    path: /gptfs
    config:
      api_key: "sk-none"
  vectorfs:
    enabled: true
    path: /vectorfs
    config:
      embedding_model: text-embedding-3-small
  localfs:
    enabled: false
    path: /local
    config:
      local_dir: /nonexistent
  localfs_home:
    enabled: true
    path: /home
    config:
      local_dir: DATA
  s3fs:
    enabled: false
    path: /s3
    config:
      bucket: my-bucket
      region: us-east-1
  proxyfs:
    - name: server1
      enabled: false
      path: /remote/server1
      config:
        base_url: "http://server1.example.com:8080/api/v1"
  streamrotatefs:
    enabled: false
    path: /rotate
"#;

fn write_config(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("agfs.yaml");
    let text = text.replace("DATA", dir.to_str().unwrap());
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn get(base: &str, rest: &str) -> (u16, String) {
    let out = curl(&["-w", " %{http_code}", &format!("{base}/api/v1/{rest}")]);
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once(' ').unwrap();
    (code.parse().unwrap(), body.to_string())
}

#[test]
fn an_agfs_example_config_serves_everything_pfs_has() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), AGFS_CONFIG);
    // `start` waits for 200 from /ready, which this config never gives: start by hand.
    let server = common::process::start_unready(&["-c", &config, "--addr", "127.0.0.1:0"]);
    let base = server.base.clone();
    common::process::wait_until(|| get(&base, "health").0 == 200);
    // Every mount of a plugin pfs has comes up; /ready says 503 because two entries failed.
    common::process::wait_until(|| {
        let (_, body) = get(&base, "health");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["mounts"]["pending"] == 0
    });
    let (code, body) = get(&base, "ready");
    assert_eq!(code, 503, "{body}");
    let (_, body) = get(&base, "health");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["mounts"]["failed"], 2, "{health}");
    assert_eq!(
        get(&base, "files?path=/kvfs/keys/welcome"),
        (200, "Hello from AGFS!".into())
    );
    assert_eq!(get(&base, "files?path=/hellofs/hello").0, 200);
    assert_eq!(get(&base, "stat?path=/memfs/tmp").0, 200);
    assert_eq!(
        get(&base, "stat?path=/sqlfs").0,
        200,
        "the instances: list mounted"
    );
    for off in [
        "/sqlfs_prod",
        "/sqlfs2",
        "/gptfs",
        "/local",
        "/s3",
        "/rotate",
        "/remote/server1",
    ] {
        assert_eq!(
            get(&base, &format!("stat?path={off}")).0,
            404,
            "{off} is disabled"
        );
    }
    let (_, body) = get(&base, "mounts");
    let mounts: Value = serde_json::from_str(&body).unwrap();
    let failed = |path: &str| {
        mounts["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["path"] == path)
            .cloned()
            .unwrap_or_else(|| panic!("{path} not in {mounts}"))
    };
    let vector = failed("/vectorfs");
    assert_eq!(vector["status"], "failed");
    assert!(
        vector["error"]
            .as_str()
            .unwrap()
            .contains("unknown plugin 'vectorfs'")
    );
    let home = failed("/home");
    assert_eq!(home["status"], "failed");
    assert!(
        home["error"]
            .as_str()
            .unwrap()
            .contains("did you mean 'localfs'"),
        "{home}"
    );
    let log = server.stop();
    assert!(log.contains("unknown plugin 'vectorfs'"), "{log}");
}

/// Runs the binary to its exit on `config` with `extra` flags; its status and stderr.
fn run_to_exit(config: &str, extra: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["-c", config, "--addr", "127.0.0.1:0"])
        .args(extra)
        .env("PFS_DATA_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn strict_stops_on_an_unknown_plugin_or_a_failed_mount() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), AGFS_CONFIG);
    let (code, err) = run_to_exit(&config, &["--strict"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("unknown plugin 'vectorfs'") && err.contains("--strict"),
        "{err}"
    );
    // The config key does the same, and so does a mount that fails at start.
    let failing = "server: {strict: true}\nplugins:\n  memfs: {path: /memfs}\n  localfs: {path: /l, config: {local_dir: /no/such/dir}}\n";
    let (code, err) = run_to_exit(&write_config(dir.path(), failing), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("mount /l (localfs) failed") && err.contains("does not exist"),
        "{err}"
    );
    // Without strict, the same config serves with /l failed.
    let lenient = "plugins:\n  memfs: {path: /memfs}\n  localfs: {path: /l, config: {local_dir: /no/such/dir}}\n";
    let server = common::process::start_unready(&["-c", &write_config(dir.path(), lenient)]);
    common::process::wait_until(|| get(&server.base, "ready").0 == 503);
    assert_eq!(get(&server.base, "stat?path=/memfs").0, 200);
    server.stop();
}

#[test]
fn a_misspelled_key_of_a_known_plugin_still_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "plugins:\n  memfs: {path: /m, config: {init_dir: [/a]}}\n",
    );
    let (code, err) = run_to_exit(&config, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("'init_dir'") && err.contains("'init_dirs'"),
        "{err}"
    );
}

#[test]
fn an_entry_without_enabled_is_mounted() {
    let server = start(&[
        "-c",
        &write_config(
            tempfile::tempdir().unwrap().path(),
            "plugins:\n  memfs: {path: /m}\n",
        ),
    ]);
    assert_eq!(get(&server.base, "stat?path=/m").0, 200);
    server.stop();
}
