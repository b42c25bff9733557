//! `config.example.yaml`: it parses, plans against the built-in plugins, really mounts, documents
//! every plugin and key, and is what `--print-sample-config` prints. The README's YAML snippets
//! parse and plan too.

use std::path::{Path, PathBuf};

use fs_core::PluginRegistry;
use pfs_server::Config;
use pfs_server::config::SAMPLE_CONFIG;
use serde_json::Value;

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.example.yaml")
}

fn example_text() -> String {
    let path = example_path();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn builtin_registry() -> PluginRegistry {
    let registry = PluginRegistry::new();
    builtin_plugins::register_builtin(&registry).expect("built-in plugin names are unique");
    registry
}

fn planned_paths() -> Vec<String> {
    let config = Config::parse(&example_text()).expect("config.example.yaml parses");
    let plan = config
        .plan(&builtin_registry())
        .expect("config.example.yaml plans against the built-in plugins");
    assert!(plan.unknown.is_empty(), "{:?}", plan.unknown);
    plan.mounts.into_iter().map(|m| m.path).collect()
}

#[test]
fn example_parses_and_plans_on_loopback() {
    let config = Config::parse(&example_text()).expect("config.example.yaml parses");
    let addr =
        pfs_server::config::parse_addr(&config.server.address).expect("server.address parses");
    assert!(
        addr.ip().is_loopback(),
        "the sample config must not listen beyond loopback: {addr}"
    );
    let paths = planned_paths();
    for p in ["/memfs", "/kvfs", "/hellofs", "/serverinfofs", "/dev"] {
        assert!(
            paths.iter().any(|x| x == p),
            "{p} is not planned: {paths:?}"
        );
    }
    assert!(
        !paths.iter().any(|x| x == "/spare"),
        "the entry with enabled: false is planned: {paths:?}"
    );
}

#[test]
fn example_documents_every_plugin_and_key() {
    let text = example_text();
    // A key counts when a line (commented out or not) starts with `key:`.
    let has_key = |key: &str| {
        let key = format!("{key}:");
        text.lines().any(|l| {
            l.trim_start()
                .trim_start_matches('#')
                .trim_start()
                .starts_with(&key)
        })
    };
    for key in ["server", "address", "log_level", "max_request_body_bytes"] {
        assert!(
            has_key(key),
            "server key '{key}' is not in config.example.yaml"
        );
    }
    for key in [
        "external_plugins",
        "enabled",
        "plugin_dir",
        "auto_load",
        "plugin_paths",
        "allow_any_path",
    ] {
        assert!(
            has_key(key),
            "external_plugins key '{key}' is not in config.example.yaml"
        );
    }
    for key in ["plugins", "path", "config"] {
        assert!(has_key(key), "key '{key}' is not in config.example.yaml");
    }
    assert!(
        text.contains("- name:"),
        "the multi-instance list form is not shown"
    );
    // Each plugin's section and the keys in it: tests/config_docs.rs.
}

#[test]
fn example_mounts_every_planned_path() {
    let path = example_path();
    let server = tests::start_server(&["-c", path.to_str().expect("a UTF-8 path")]);
    let (status, body) = server.get("/api/v1/ready");
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.get("/api/v1/mounts");
    assert_eq!(status, 200, "{body}");
    let mounts: Value = serde_json::from_str(&body).expect("/mounts answers JSON");
    let mounts = mounts["mounts"].as_array().expect("a mounts array");
    for p in planned_paths() {
        let entry = mounts.iter().find(|m| m["path"] == p.as_str());
        let status = entry.map(|m| m["status"].clone());
        assert_eq!(
            status,
            Some(Value::from("mounted")),
            "{p} in /mounts: {body}"
        );
    }
    // The sample's data is really there.
    let (status, body) = server.get("/api/v1/files?path=/kvfs/keys/welcome");
    assert_eq!((status, body.as_str()), (200, "Hello from pfs!"));
    let (status, body) = server.get("/api/v1/stat?path=/memfs/tmp");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn readme_yaml_snippets_parse_and_plan() {
    let mut snippets = Vec::new();
    for doc in tests::DOCS {
        let text = tests::read_doc(doc);
        let mut current: Option<String> = None;
        for line in text.lines() {
            match (&mut current, line.trim_end()) {
                (None, "```yaml") => current = Some(String::new()),
                (Some(_), "```") => snippets.extend(current.take().map(|y| (*doc, y))),
                (Some(text), _) => {
                    text.push_str(line);
                    text.push('\n');
                }
                (None, _) => {}
            }
        }
    }
    assert!(
        snippets.iter().any(|(doc, _)| *doc == "README.md"),
        "no ```yaml block in README.md"
    );
    for (doc, yaml) in snippets {
        let config = Config::parse(&yaml)
            .unwrap_or_else(|e| panic!("{doc}: yaml does not parse: {e}\n{yaml}"));
        config
            .plan(&builtin_registry())
            .unwrap_or_else(|e| panic!("{doc}: yaml does not plan: {e}\n{yaml}"));
    }
}

#[test]
fn sample_config_is_the_file() {
    assert!(
        SAMPLE_CONFIG == example_text(),
        "SAMPLE_CONFIG differs from config.example.yaml: rebuild pfs-server"
    );
}

#[test]
fn print_sample_config_exits_zero() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let code = runtime.block_on(pfs_server::cli::main_with_args(
        ["pfs-server", "--print-sample-config"].map(Into::into),
    ));
    assert_eq!(code, 0);
}
