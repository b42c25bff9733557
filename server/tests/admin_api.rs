//! `/mounts`, `/mount`, `/unmount`, `/plugins`, `/health`, `/ready`, `/version`, `/capabilities`,
//! `/`, unknown routes and wrong methods.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use common::*;
use fs_core::{ConfigParam, FileSystem, MountContext, ParamType, ServicePlugin};
use serde_json::json;

#[tokio::test]
async fn mount_then_use_then_unmount() {
    let (app, _) = app().await;
    let body = r#"{"fstype":"memfs","path":"/test/memory","config":{"init_dirs":["/x"]}}"#;
    let (s, v) = send_json(&app, post_json("/api/v1/mount", body)).await;
    assert_eq!(
        (s.as_u16(), v["message"].as_str()),
        (200, Some("plugin mounted"))
    );
    assert_eq!(
        send_json(&app, get("/api/v1/stat?path=/test/memory/x"))
            .await
            .0,
        200
    );
    assert_eq!(
        send(&app, put("/api/v1/files?path=/test/memory/x/f", "1"))
            .await
            .0,
        200
    );
    let (s, v) = send_json(
        &app,
        post_json("/api/v1/unmount", r#"{"path":"/test/memory"}"#),
    )
    .await;
    assert_eq!(
        (s.as_u16(), v["message"].as_str()),
        (200, Some("plugin unmounted"))
    );
    assert_error(
        send_json(&app, get("/api/v1/files?path=/test/memory/x/f")).await,
        404,
        "not found",
    );
}

#[tokio::test]
async fn mount_errors_are_400_409_and_name_the_problem() {
    let (app, _) = app().await;
    assert_error(
        send_json(
            &app,
            post_json("/api/v1/mount", r#"{"fstype":"memfs","path":"/memfs"}"#),
        )
        .await,
        409,
        "already exists",
    );
    let got = send_json(
        &app,
        post_json("/api/v1/mount", r#"{"fstype":"nosuchfs","path":"/n"}"#),
    )
    .await;
    assert_error(got.clone(), 400, "unknown filesystem type: nosuchfs");
    assert!(
        got.1["error"].as_str().unwrap().contains("memfs"),
        "should list the available plugins"
    );
    let got = send_json(
        &app,
        post_json(
            "/api/v1/mount",
            r#"{"fstype":"memfs","path":"/n","config":{"bogus":1}}"#,
        ),
    )
    .await;
    assert_error(
        got,
        400,
        "unknown configuration parameter(s) 'bogus' - allowed parameters are: 'init_dirs'",
    );
    assert_error(
        send_json(&app, post_json("/api/v1/mount", r#"{"path":"/n"}"#)).await,
        400,
        "fstype is required",
    );
    assert_error(
        send_json(&app, post_json("/api/v1/mount", "nope")).await,
        400,
        "invalid request body",
    );
    // Nothing was mounted by the failures.
    assert_error(
        send_json(&app, get("/api/v1/stat?path=/n")).await,
        404,
        "not found",
    );
}

#[tokio::test]
async fn unmount_of_nothing_is_404_and_missing_path_400() {
    let (app, _) = app().await;
    assert_error(
        send_json(&app, post_json("/api/v1/unmount", r#"{"path":"/none"}"#)).await,
        404,
        "no mount at path",
    );
    assert_error(
        send_json(&app, post_json("/api/v1/unmount", r#"{}"#)).await,
        400,
        "path is required",
    );
}

#[tokio::test]
async fn json_endpoints_honour_the_body_limit() {
    let (app, _) =
        app_with("server: {max_request_body_bytes: 32}\nplugins:\n  memfs: {path: /memfs}\n").await;
    let big = format!(r#"{{"fstype":"memfs","path":"/{}"}}"#, "a".repeat(40));
    assert_error(
        send_json(&app, post_json("/api/v1/mount", &big)).await,
        413,
        "maximum size of 32 bytes",
    );
    assert_error(
        send_json(&app, post_json("/api/v1/rename?path=/memfs/x", &big)).await,
        413,
        "maximum size",
    );
}

#[tokio::test]
async fn mounts_lists_sorted_with_status_and_redacted_secrets() {
    let (app, st) = app().await;
    st.fs
        .mount_plugin(
            &st.registry,
            "kvfs",
            "/secret",
            None,
            // A key named like a secret, even nested in data, is masked in the listing.
            serde_json::json!({"initial_data": {"a": "b", "password": "hunter2"}}),
        )
        .await
        .unwrap();
    let (_, v) = send_json(&app, get("/api/v1/mounts")).await;
    let mounts = v["mounts"].as_array().unwrap();
    let paths: Vec<&str> = mounts.iter().map(|m| m["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/dev", "/hellofs", "/kvfs", "/memfs", "/secret"]);
    assert!(mounts.iter().all(|m| m["status"] == "mounted"));
    assert_eq!(mounts[2]["pluginName"], "kvfs");
    // redact() itself is unit-tested in config.rs; here the listing must go through it.
    assert_eq!(
        mounts[4]["config"],
        serde_json::json!({"initial_data": {"a": "b", "password": "***"}})
    );
}

#[tokio::test]
async fn failed_config_mount_makes_the_server_degraded() {
    // README is a file in memfs, so creating /README/x fails at mount time.
    let yaml =
        "plugins:\n  memfs: [{path: /good}, {path: /bad, config: {init_dirs: [/README/x]}}]\n";
    let (app, _) = app_with(yaml).await;
    let (s, v) = send_json(&app, get("/api/v1/health")).await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            v["status"].as_str(),
            v["ready"].as_bool(),
            v["degraded"].as_bool()
        ),
        (Some("degraded"), Some(false), Some(true))
    );
    assert_eq!(
        v["mounts"],
        serde_json::json!({"total": 3, "pending": 0, "mounted": 2, "failed": 1})
    );
    assert_eq!(send_json(&app, get("/api/v1/ready")).await.0, 503);
    let (_, v) = send_json(&app, get("/api/v1/mounts")).await;
    let bad = v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == "/bad")
        .unwrap()
        .clone();
    assert_eq!(bad["status"], "failed");
    assert!(
        bad["error"].as_str().unwrap().contains("not a directory"),
        "{bad}"
    );
}

#[tokio::test]
async fn healthy_server_is_ready() {
    let (app, _) = app().await;
    let (s, v) = send_json(&app, get("/api/v1/ready")).await;
    assert_eq!(
        (s.as_u16(), v["status"].as_str(), v["ready"].as_bool()),
        (200, Some("healthy"), Some(true))
    );
    for key in ["version", "gitCommit", "buildTime"] {
        assert!(v[key].is_string(), "{key}");
    }
    // /health answers any method.
    assert_eq!(send_json(&app, post("/api/v1/health")).await.0, 200);
}

#[tokio::test]
async fn version_capabilities_and_root() {
    let (app, _) = app().await;
    let (_, v) = send_json(&app, get("/api/v1/version")).await;
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let (_, v) = send_json(&app, get("/api/v1/capabilities?path=/hellofs")).await;
    let features = v["features"].as_array().unwrap();
    // What AGFS clients look for (agfs-fuse checks handlefs), and pfs's additions.
    for f in [
        "handlefs",
        "grep",
        "digest",
        "stream",
        "touch",
        "symlink",
        "write_flags",
    ] {
        assert!(
            features.contains(&serde_json::json!(f)),
            "{f}: {features:?}"
        );
    }
    assert_eq!(v["capabilities"]["write"], false);
    let (_, v) = send_json(&app, get("/api/v1/capabilities?path=/memfs")).await;
    assert_eq!(v["capabilities"]["write"], true);
    let (s, v) = send_json(&app, get("/")).await;
    assert_eq!((s.as_u16(), v["status"].as_str()), (200, Some("running")));
}

#[tokio::test]
async fn plugins_lists_builtins_with_params_readme_and_mounts() {
    let (app, _) = app().await;
    let (_, v) = send_json(&app, get("/api/v1/plugins")).await;
    let plugins = v["plugins"].as_array().unwrap();
    let names: Vec<&str> = plugins
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "devfs",
            "heartbeatfs",
            "hellofs",
            "httpfs",
            "kvfs",
            "localfs",
            "memfs",
            "proxyfs",
            "queuefs",
            "s3fs",
            "serverinfofs",
            "sqlfs",
            "streamfs",
            "streamrotatefs"
        ]
    );
    let memfs = plugins.iter().find(|p| p["name"] == "memfs").unwrap();
    assert_eq!(memfs["is_external"], false);
    assert_eq!(memfs["mounted_paths"][0]["path"], "/memfs");
    let param = &memfs["config_params"][0];
    assert_eq!(
        (
            param["name"].as_str(),
            param["type"].as_str(),
            param["required"].as_bool()
        ),
        (Some("init_dirs"), Some("array"), Some(false))
    );
    assert!(param["description"].is_string() && param["default"].is_string());
    // memfs takes every key in place; localfs's directory needs a new instance.
    assert_eq!(param["change"], "live");
    let localfs = plugins.iter().find(|p| p["name"] == "localfs").unwrap();
    assert_eq!(localfs["config_params"][0]["name"], "local_dir");
    assert_eq!(localfs["config_params"][0]["change"], "remount");
    assert!(memfs["readme"].as_str().unwrap().starts_with("# memfs"));
    assert_error(
        send_json(
            &app,
            post_json("/api/v1/plugins/load", r#"{"library_path":"/x.so"}"#),
        )
        .await,
        403,
        "external plugins are disabled",
    );
}

#[tokio::test]
async fn unknown_route_is_json_404_and_wrong_method_json_405() {
    let (app, _) = app().await;
    assert_error(send_json(&app, get("/api/v1/nope")).await, 404, "no route");
    assert_error(send_json(&app, get("/elsewhere")).await, 404, "no route");
    assert_error(
        send_json(&app, delete("/api/v1/stat?path=/")).await,
        405,
        "method not allowed",
    );
    assert_error(
        send_json(&app, get("/api/v1/mount")).await,
        405,
        "method not allowed",
    );
}

/// A plugin that counts its shutdowns, to prove each runs exactly once.
#[derive(Debug, Default)]
struct Counting(Arc<AtomicUsize>);

#[derive(Debug)]
struct CountingFs(Arc<AtomicUsize>, Arc<dyn FileSystem>);

#[async_trait]
impl ServicePlugin for Counting {
    fn name(&self) -> &str {
        "countfs"
    }
    fn readme(&self) -> &str {
        "counts shutdowns"
    }
    fn config_params(&self) -> Vec<ConfigParam> {
        vec![
            ConfigParam::optional("x", ParamType::Int, "0", "unused"),
            ConfigParam::optional(
                "password",
                ParamType::String,
                "",
                "a secret, to test redaction",
            ),
        ]
    }
    async fn initialize(&self, _ctx: MountContext) -> fs_core::Result<Arc<dyn FileSystem>> {
        Ok(Arc::new(CountingFs(
            self.0.clone(),
            Arc::new(builtin_plugins::memfs::MemFs::new()),
        )))
    }
}

#[async_trait]
impl FileSystem for CountingFs {
    fn capabilities(&self) -> fs_core::Capabilities {
        self.1.capabilities()
    }
    async fn stat(&self, p: &str) -> fs_core::Result<fs_core::FileInfo> {
        self.1.stat(p).await
    }
    async fn read_dir(&self, p: &str) -> fs_core::Result<Vec<fs_core::FileInfo>> {
        self.1.read_dir(p).await
    }
    async fn read(&self, p: &str, o: u64, s: Option<u64>) -> fs_core::Result<bytes::Bytes> {
        self.1.read(p, o, s).await
    }
    async fn write(
        &self,
        p: &str,
        d: bytes::Bytes,
        o: Option<u64>,
        f: fs_core::WriteFlags,
    ) -> fs_core::Result<u64> {
        self.1.write(p, d, o, f).await
    }
    async fn create(&self, p: &str) -> fs_core::Result<()> {
        self.1.create(p).await
    }
    async fn mkdir(&self, p: &str, m: u32) -> fs_core::Result<()> {
        self.1.mkdir(p, m).await
    }
    async fn remove(&self, p: &str) -> fs_core::Result<()> {
        self.1.remove(p).await
    }
    async fn remove_all(&self, p: &str) -> fs_core::Result<()> {
        self.1.remove_all(p).await
    }
    async fn rename(&self, a: &str, b: &str) -> fs_core::Result<()> {
        self.1.rename(a, b).await
    }
    async fn shutdown(&self) -> fs_core::Result<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn unmount_runs_shutdown_exactly_once() {
    let (app, st) = app().await;
    let count = Arc::new(AtomicUsize::new(0));
    st.registry
        .register(Arc::new(Counting(count.clone())))
        .unwrap();
    send(
        &app,
        post_json("/api/v1/mount", r#"{"fstype":"countfs","path":"/c1"}"#),
    )
    .await;
    send(
        &app,
        post_json("/api/v1/mount", r#"{"fstype":"countfs","path":"/c2"}"#),
    )
    .await;
    assert_eq!(
        send_json(&app, post_json("/api/v1/unmount", r#"{"path":"/c1"}"#))
            .await
            .0,
        200
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(
        send_json(&app, post_json("/api/v1/unmount", r#"{"path":"/c1"}"#))
            .await
            .0,
        404
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // Secrets never leave through /mounts or /plugins.
    send(
        &app,
        post_json(
            "/api/v1/mount",
            r#"{"fstype":"countfs","path":"/c3","config":{"password":"hunter2","x":1}}"#,
        ),
    )
    .await;
    let (_, v) = send_json(&app, get("/api/v1/mounts")).await;
    let c3 = v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == "/c3")
        .unwrap()
        .clone();
    assert_eq!(c3["config"], serde_json::json!({"password": "***", "x": 1}));
    let (_, body) = send(&app, get("/api/v1/plugins")).await;
    assert!(!String::from_utf8_lossy(&body).contains("hunter2"));
    // The other instance is independent and still serves.
    assert_eq!(
        send(&app, put("/api/v1/files?path=/c2/f", "x")).await.0,
        200
    );
    st.fs.unmount_all().await;
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn localfs_with_a_missing_dir_fails_its_mount_and_degrades_the_server() {
    // AGFS's backend e2e case: the server still starts and serves; the mount is reported failed.
    let yaml = "plugins:\n  memfs: {path: /memfs}\n  localfs: {path: /badlocal, config: {local_dir: /nonexistent/pfs-e2e}}\n";
    let (app, _) = app_with(yaml).await;
    let (_, v) = send_json(&app, get("/api/v1/health")).await;
    assert_eq!(
        (
            v["status"].as_str(),
            v["ready"].as_bool(),
            v["degraded"].as_bool()
        ),
        (Some("degraded"), Some(false), Some(true))
    );
    assert_eq!(v["mounts"]["failed"], 1);
    assert_eq!(send_json(&app, get("/api/v1/ready")).await.0, 503);
    let (_, v) = send_json(&app, get("/api/v1/mounts")).await;
    let bad = v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == "/badlocal")
        .unwrap()
        .clone();
    assert_eq!(bad["status"], "failed");
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("base path does not exist"),
        "{bad}"
    );
    assert_eq!(
        send(&app, put("/api/v1/files?path=/memfs/x", "still serving"))
            .await
            .0,
        200
    );
}

/// A mount that fails names what failed without repeating a password or secret key from its
/// config, in the mount's answer, in `/mounts` and in the log line's source (the error).
#[tokio::test]
async fn failed_mounts_never_echo_their_secrets() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (app, _) = app().await;
    let cases = [
        (
            "sqlfs",
            json!({"backend": "mysql", "dsn": format!("pfsuser:Sup3rSecretPw@tcp(127.0.0.1:{dead})/pfs")}),
        ),
        (
            "sqlfs",
            json!({"backend": "mysql", "host": "127.0.0.1", "port": dead, "user": "pfsuser",
                   "password": "Sup3rSecretPw", "database": "pfs"}),
        ),
        (
            "queuefs",
            json!({"backend": "mysql", "dsn": format!("pfsuser:Sup3rSecretPw@tcp(127.0.0.1:{dead})/pfs")}),
        ),
        (
            "s3fs",
            json!({"bucket": "b", "endpoint": format!("http://127.0.0.1:{dead}"),
                   "access_key_id": "AKIDPFS", "secret_access_key": "Sup3rSecretPw"}),
        ),
        (
            "proxyfs",
            json!({"base_url": format!("http://pfsuser:Sup3rSecretPw@127.0.0.1:{dead}/api/v1")}),
        ),
    ];
    for (i, (fstype, config)) in cases.into_iter().enumerate() {
        let body =
            json!({"fstype": fstype, "path": format!("/m{i}"), "config": config}).to_string();
        let (s, v) = send_json(&app, post_json("/api/v1/mount", &body)).await;
        assert!(
            s.is_client_error() || s.is_server_error(),
            "{fstype}: {s} {v}"
        );
        assert!(v["error"].is_string(), "{fstype}: {v}");
        assert!(!v.to_string().contains("Sup3rSecretPw"), "{fstype}: {v}");
    }
    let (_, body) = send(&app, get("/api/v1/mounts")).await;
    assert!(!String::from_utf8_lossy(&body).contains("Sup3rSecretPw"));
}

/// A mount made through the API keeps its host files under `server.mount_roots` (by default the
/// data directory): localfs's directory and SQLite files elsewhere, or reached through a link
/// that leads out, are refused before anything is created; the config's own mounts and
/// `mount_roots: ['*']` are not limited.
#[tokio::test]
async fn api_mounts_keep_host_files_under_the_roots() {
    let data = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let data_dir = data.path().canonicalize().unwrap();
    std::fs::create_dir(data_dir.join("served")).unwrap();
    std::os::unix::fs::symlink(outside.path(), data_dir.join("link")).unwrap();
    let (app, _) = app_with(&format!(
        "server: {{data_dir: '{}'}}\nplugins:\n  localfs: {{path: /cfg, config: {{local_dir: '{}'}}}}\n",
        data_dir.display(),
        outside.path().display()
    ))
    .await;
    // The config's own mount serves the outside directory.
    assert_eq!(mount_row(&app, "/cfg").await["status"], "mounted");
    let mount = |fstype: &str, path: &str, config: serde_json::Value| {
        json!({"fstype": fstype, "path": path, "config": config}).to_string()
    };
    for (fstype, config) in [
        ("localfs", json!({"local_dir": outside.path()})),
        ("localfs", json!({"local_dir": data_dir.join("link")})),
        ("localfs", json!({"local_dir": "/"})),
        (
            "sqlfs",
            json!({"backend": "sqlite", "db_path": outside.path().join("x.db")}),
        ),
        (
            "sqlfs",
            json!({"backend": "sqlite", "db_path": data_dir.join("link/y.db")}),
        ),
        (
            "queuefs",
            json!({"backend": "sqlite", "db_path": outside.path().join("q.db")}),
        ),
    ] {
        let (s, v) = send_json(
            &app,
            post_json("/api/v1/mount", &mount(fstype, "/api", config.clone())),
        )
        .await;
        assert_eq!(s, 403, "{fstype} {config}: {v}");
        assert!(
            v["error"].as_str().unwrap().contains("server.mount_roots"),
            "{v}"
        );
    }
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing was created outside"
    );
    for (fstype, path, config) in [
        (
            "localfs",
            "/l",
            json!({"local_dir": data_dir.join("served")}),
        ),
        (
            "sqlfs",
            "/s",
            json!({"backend": "sqlite", "db_path": data_dir.join("s.db")}),
        ),
        (
            "queuefs",
            "/q",
            json!({"backend": "sqlite", "db_path": data_dir.join("q.db")}),
        ),
    ] {
        let (s, v) = send_json(
            &app,
            post_json("/api/v1/mount", &mount(fstype, path, config)),
        )
        .await;
        assert_eq!(s, 200, "{fstype}: {v}");
    }
    let (app, _) = app_with("server: {mount_roots: ['*']}\nplugins: {}\n").await;
    let (s, v) = send_json(
        &app,
        post_json(
            "/api/v1/mount",
            &mount("localfs", "/any", json!({"local_dir": outside.path()})),
        ),
    )
    .await;
    assert_eq!(s, 200, "{v}");
}
