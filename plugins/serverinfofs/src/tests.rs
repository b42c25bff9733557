//! serverinfofs: the conformance suite (read-only subset) plus serverinfofs's own cases.

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use fs_core::conformance::{Fixture, assert_kind};
use fs_core::{
    ErrorKind, FileSystem, MountContext, ReadOnlyFs, ServerInfo, ServicePlugin, WriteFlags,
};
use serde_json::{Value, json};

use super::fs::{ProcStatus, format_uptime};
use super::{ServerInfoFs, ServerInfoFsPlugin};

fn ctx(config: Value, started: SystemTime) -> MountContext {
    MountContext {
        mount_path: "/serverinfofs".into(),
        config,
        root: Weak::new(),
        server: ServerInfo {
            version: "9.9.9".into(),
            started,
            data_dir: None,
        },
        policy: Default::default(),
    }
}

async fn serverinfofs(config: Value) -> Arc<dyn FileSystem> {
    fs_core::plugin::vet(&ServerInfoFsPlugin, &config).unwrap();
    ServerInfoFsPlugin
        .initialize(ctx(config, SystemTime::now()))
        .await
        .unwrap()
}

fs_core::conformance_tests!(|| async {
    Fixture::read_only(
        serverinfofs(json!({"version": "1.2.3"})).await,
        Some(("/version", b"1.2.3\n")),
    )
});

async fn get(fs: &Arc<dyn FileSystem>, path: &str) -> Bytes {
    fs.read(path, 0, None)
        .await
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
}

async fn get_json(fs: &Arc<dyn FileSystem>, path: &str) -> Value {
    let body = get(fs, path).await;
    assert!(body.ends_with(b"\n"), "{path} must end with a newline");
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

#[tokio::test]
async fn read_version_from_config() {
    let fs = serverinfofs(json!({"version": "2.0.0-rc1"})).await;
    assert_eq!(get(&fs, "/version").await, "2.0.0-rc1\n");
    assert_eq!(get_json(&fs, "/server_info").await["version"], "2.0.0-rc1");
}

#[tokio::test]
async fn read_version_without_config_is_server_version() {
    let fs = serverinfofs(json!({})).await;
    assert_eq!(get(&fs, "/version").await, "9.9.9\n");
    let fs = serverinfofs(Value::Null).await;
    assert_eq!(get(&fs, "/version").await, "9.9.9\n");
}

#[tokio::test]
async fn read_json_files_parse() {
    let fs = serverinfofs(json!({})).await;
    let info = get_json(&fs, "/server_info").await;
    assert_eq!(info["version"], "9.9.9");
    assert_eq!(info["pid"], u64::from(std::process::id()));
    assert!(info["num_cpus"].as_u64().unwrap() >= 1);
    assert_eq!(info["os"], std::env::consts::OS);
    assert_eq!(info["arch"], std::env::consts::ARCH);
    assert!(info["uptime"].as_str().unwrap().ends_with('s'));
    assert!(info["uptime_seconds"].is_u64());
    assert!(info["start_time"].as_str().unwrap().ends_with('Z'));
    assert!(info["memory"].get("rss_bytes").is_some());
    let stats = get_json(&fs, "/stats").await;
    assert!(stats["uptime_seconds"].is_u64());
    for key in ["rss_bytes", "rss_peak_bytes", "vm_peak_bytes"] {
        assert!(
            stats["memory"].get(key).is_some(),
            "stats.memory.{key} missing"
        );
    }
    if cfg!(target_os = "linux") {
        assert!(stats["memory"]["rss_bytes"].as_u64().unwrap() > 0);
        assert!(stats["threads"].as_u64().unwrap() >= 1);
    }
}

#[tokio::test]
async fn read_uptime_counts_from_server_start() {
    let started = SystemTime::now() - Duration::from_secs(3723);
    let fs = ServerInfoFsPlugin
        .initialize(ctx(json!({}), started))
        .await
        .unwrap();
    let uptime = String::from_utf8(get(&fs, "/uptime").await.to_vec()).unwrap();
    assert!(
        uptime.starts_with("1h2m") && uptime.ends_with("s\n"),
        "{uptime:?}"
    );
    assert!(
        get_json(&fs, "/server_info").await["uptime_seconds"]
            .as_u64()
            .unwrap()
            >= 3723
    );
}

#[tokio::test]
async fn stat_size_matches_generated_content() {
    let fs = serverinfofs(json!({"version": "1.0"})).await;
    for name in ["README", "version", "server_info", "stats", "uptime"] {
        let path = format!("/{name}");
        let info = fs.stat(&path).await.unwrap();
        assert_eq!(info.size, get(&fs, &path).await.len() as u64, "{path}");
        assert_eq!(
            (info.name.as_str(), info.mode, info.is_dir),
            (name, 0o444, false)
        );
    }
    let names: Vec<String> = fs
        .read_dir("/")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(
        names,
        ["README", "server_info", "stats", "uptime", "version"]
    );
    assert_eq!(
        get(&fs, "/README").await,
        ServerInfoFsPlugin.readme().as_bytes()
    );
    assert_eq!(fs.stat("/").await.unwrap().mode, 0o555);
}

#[tokio::test]
async fn stat_unknown_and_nested_paths_fail() {
    let fs = serverinfofs(json!({})).await;
    assert_kind(fs.stat("/traffic").await, ErrorKind::NotFound);
    assert_kind(fs.stat("/nope/x").await, ErrorKind::NotFound);
    assert_kind(fs.stat("/version/x").await, ErrorKind::NotADirectory);
    assert_kind(fs.read_dir("/version").await, ErrorKind::NotADirectory);
    assert_kind(fs.read("/", 0, None).await, ErrorKind::IsADirectory);
}

#[tokio::test]
async fn write_version_unsupported() {
    let fs = ReadOnlyFs(ServerInfoFs::new("1.0", SystemTime::now(), "readme\n"));
    let e = fs
        .write(
            "/version",
            Bytes::from_static(b"2.0"),
            None,
            WriteFlags::NONE,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("read-only filesystem"), "{e}");
    assert_kind(fs.touch("/version").await, ErrorKind::Unsupported);
    assert_eq!(fs.read("/version", 0, None).await.unwrap(), "1.0\n");
}

#[test]
fn validate_unknown_key_names_allowed_keys() {
    let e = fs_core::plugin::vet(&ServerInfoFsPlugin, &json!({"versoin": "1"})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let msg = e.to_string();
    assert!(
        msg.contains("'versoin'") && msg.contains("allowed parameters are: 'version'"),
        "{msg}"
    );
    assert_kind(
        fs_core::plugin::vet(&ServerInfoFsPlugin, &json!({"version": 2})),
        ErrorKind::InvalidArgument,
    );
}

#[test]
fn parse_proc_status_reads_memory_and_threads() {
    let s =
        "Name:\tpfs\nVmPeak:\t  2048 kB\nVmHWM:\t    1024 kB\nVmRSS:\t     512 kB\nThreads:\t7\n";
    let p = ProcStatus::parse(s);
    assert_eq!(p.vm_peak_bytes, Some(2048 * 1024));
    assert_eq!(p.rss_peak_bytes, Some(1024 * 1024));
    assert_eq!(p.rss_bytes, Some(512 * 1024));
    assert_eq!(p.threads, Some(7));
    assert_eq!(ProcStatus::parse(""), ProcStatus::default());
}

#[test]
fn format_uptime_go_style() {
    assert_eq!(format_uptime(Duration::from_secs(0)), "0s");
    assert_eq!(format_uptime(Duration::from_millis(59_900)), "59s");
    assert_eq!(format_uptime(Duration::from_secs(245)), "4m5s");
    assert_eq!(format_uptime(Duration::from_secs(3723)), "1h2m3s");
    assert_eq!(format_uptime(Duration::from_secs(90_000)), "25h0m0s");
}
