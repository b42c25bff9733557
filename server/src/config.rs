//! The YAML config: AGFS's schema (`server`, `external_plugins`, `plugins` in single and list form),
//! the embedded default, and the startup checks that name what is allowed.

use std::net::SocketAddr;

use fs_core::{Error, PluginRegistry, Result};
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

/// The config the server runs on when no `-c` is given: the seed README's mount paths.
pub const DEFAULT_CONFIG: &str = include_str!("default-config.yaml");

/// The documented sample config (`--print-sample-config`).
pub const SAMPLE_CONFIG: &str = include_str!("../../config.example.yaml");

/// Default request body limit: 64 MiB, as AGFS.
pub const DEFAULT_MAX_BODY: u64 = 64 * 1024 * 1024;

/// The whole config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener and limits.
    #[serde(default)]
    pub server: ServerConfig,
    /// External (shared-library) plugins; kept for the C-ABI loader.
    #[serde(default)]
    pub external_plugins: ExternalPluginsConfig,
    /// Mounts, keyed by plugin name, in file order.
    #[serde(default)]
    pub plugins: IndexMap<String, PluginEntry>,
}

/// The `server` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Listen address: `host:port`, or `:port` for all interfaces (default `127.0.0.1:8080`).
    pub address: String,
    /// Log level: `error`, `warn`, `info`, `debug`, `trace` (default `info`; `RUST_LOG` wins).
    pub log_level: String,
    /// Largest accepted request body in bytes (default 64 MiB; 0 or less means the default).
    pub max_request_body_bytes: i64,
    /// Where plugins keep files whose location their config leaves out (sqlfs's default
    /// database). Empty: `--data-dir`, `$PFS_DATA_DIR`, or [`default_data_dir`].
    pub data_dir: String,
    /// Most handles open at once (`POST /handles/open` answers 503 beyond it); default 10000, 0
    /// means the default.
    pub max_handles: usize,
}

/// Default limit of open handles.
pub const DEFAULT_MAX_HANDLES: usize = 10_000;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            address: "127.0.0.1:8080".into(),
            log_level: "info".into(),
            max_request_body_bytes: DEFAULT_MAX_BODY as i64,
            data_dir: String::new(),
            max_handles: DEFAULT_MAX_HANDLES,
        }
    }
}

/// The data directory when nothing names one: `$XDG_DATA_HOME/pfs`, else `~/.local/share/pfs`, else
/// `pfs-data` in the working directory.
pub fn default_data_dir() -> std::path::PathBuf {
    let non_empty = |v: &str| std::env::var_os(v).filter(|s| !s.is_empty());
    if let Some(xdg) = non_empty("XDG_DATA_HOME") {
        return std::path::PathBuf::from(xdg).join("pfs");
    }
    if let Some(home) = non_empty("HOME") {
        return std::path::PathBuf::from(home).join(".local/share/pfs");
    }
    std::path::PathBuf::from("pfs-data")
}

impl ServerConfig {
    /// The effective limit of open handles.
    pub fn max_handles(&self) -> usize {
        if self.max_handles == 0 {
            DEFAULT_MAX_HANDLES
        } else {
            self.max_handles
        }
    }

    /// The effective body limit.
    pub fn max_body(&self) -> u64 {
        if self.max_request_body_bytes <= 0 {
            DEFAULT_MAX_BODY
        } else {
            self.max_request_body_bytes as u64
        }
    }
}

/// The `external_plugins` section (AGFS's keys, plus `allow_any_path`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExternalPluginsConfig {
    /// Whether external plugins are loaded at all.
    pub enabled: bool,
    /// A directory scanned for plugins when `auto_load` is set.
    pub plugin_dir: Option<String>,
    /// Whether to load every plugin found in `plugin_dir` at start.
    pub auto_load: bool,
    /// Libraries to load at start.
    pub plugin_paths: Vec<String>,
    /// Allow `POST /plugins/load` of files outside the plugin directories.
    pub allow_any_path: bool,
    /// Accepted for AGFS compatibility; unused.
    pub wasi_mount_path: Option<String>,
    /// Accepted for AGFS compatibility (WASM pool settings); unused.
    pub wasm: Option<Value>,
}

impl ExternalPluginsConfig {
    /// The plugin host's settings (paths as given, relative to the working directory).
    pub fn host_config(&self) -> c_abi::HostConfig {
        c_abi::HostConfig {
            enabled: self.enabled,
            plugin_dir: self
                .plugin_dir
                .as_ref()
                .filter(|d| !d.is_empty())
                .map(Into::into),
            auto_load: self.auto_load,
            plugin_paths: self.plugin_paths.iter().map(Into::into).collect(),
            allow_any_path: self.allow_any_path,
        }
    }
}

/// One plugin key of `plugins`: a single instance or a list of named instances.
#[derive(Debug, Clone)]
pub enum PluginEntry {
    /// `memfs: {path: /memfs, config: {...}}`
    Single(Instance),
    /// `sqlfs: [{name: local, path: /sqlfs, ...}, ...]`
    List(Vec<Instance>),
}

// By hand rather than `#[serde(untagged)]`: an untagged enum reports a misspelled key of an
// instance only as "did not match any variant"; this way the error names the key and the allowed
// ones.
impl<'de> Deserialize<'de> for PluginEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = PluginEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mount ({path, name, enabled, config}) or a list of them")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<PluginEntry, A::Error> {
                Instance::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(PluginEntry::Single)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> std::result::Result<PluginEntry, A::Error> {
                Vec::<Instance>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(PluginEntry::List)
            }
        }
        d.deserialize_any(Entry)
    }
}

/// One mount declared in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// Instance name (multi-instance form), shown in `/mounts` as `instance`.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether to mount it; omitted means enabled (AGFS defaulted to disabled).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Mount path.
    pub path: String,
    /// Plugin config.
    #[serde(default)]
    pub config: Value,
}

/// A mount to perform at start.
#[derive(Debug, Clone)]
pub struct PlannedMount {
    /// Plugin name.
    pub plugin: String,
    /// Instance name, if any.
    pub instance: Option<String>,
    /// Normalized mount path.
    pub path: String,
    /// Plugin config.
    pub config: Value,
}

impl Config {
    /// Parses YAML text.
    ///
    /// # Errors
    /// `InvalidArgument` with the parser's message (which names unknown keys and the allowed ones).
    pub fn parse(text: &str) -> Result<Config> {
        let mut cfg: Config = serde_saphyr::from_str(text)
            .map_err(|e| Error::invalid_argument(format!("invalid config: {e}")))?;
        for entry in cfg.plugins.values_mut() {
            for inst in entry.instances_mut() {
                if inst.config.is_null() {
                    inst.config = Value::Object(Default::default());
                }
            }
        }
        Ok(cfg)
    }

    /// The embedded default config.
    pub fn embedded_default() -> Config {
        Config::parse(DEFAULT_CONFIG).expect("the embedded default config parses")
    }

    /// Checks every enabled mount against the registry and returns them in file order.
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown plugin name (naming the registered ones), a config key the
    /// plugin does not accept (naming the accepted ones), a value of the wrong type, a bad or
    /// duplicate path.
    pub fn plan(&self, registry: &PluginRegistry) -> Result<Vec<PlannedMount>> {
        let mut out: Vec<PlannedMount> = Vec::new();
        for (plugin_name, entry) in &self.plugins {
            let plugin = registry.get(plugin_name).map_err(|_| {
                Error::invalid_argument(format!(
                    "config: unknown plugin '{plugin_name}' (available: {})",
                    registry.names().join(", ")
                ))
            })?;
            for inst in entry.instances() {
                if inst.enabled == Some(false) {
                    continue;
                }
                let path = fs_core::path::normalize(&inst.path).map_err(|e| {
                    Error::invalid_argument(format!("config: plugin '{plugin_name}': {e}"))
                })?;
                plugin.check_keys(&inst.config).map_err(|e| {
                    Error::invalid_argument(format!(
                        "config: plugin '{plugin_name}' at {path}: {e}"
                    ))
                })?;
                if out.iter().any(|m| m.path == path) {
                    return Err(Error::invalid_argument(format!(
                        "config: two mounts at {path}"
                    )));
                }
                out.push(PlannedMount {
                    plugin: plugin_name.clone(),
                    instance: inst.name.clone(),
                    path,
                    config: inst.config.clone(),
                });
            }
        }
        Ok(out)
    }
}

impl PluginEntry {
    fn instances(&self) -> &[Instance] {
        match self {
            PluginEntry::Single(i) => std::slice::from_ref(i),
            PluginEntry::List(v) => v,
        }
    }

    fn instances_mut(&mut self) -> &mut [Instance] {
        match self {
            PluginEntry::Single(i) => std::slice::from_mut(i),
            PluginEntry::List(v) => v,
        }
    }
}

/// Parses a listen address: `host:port`, `:port` (all interfaces, as in Go), or a bare port
/// (loopback).
///
/// # Errors
/// `InvalidArgument` naming the address.
pub fn parse_addr(s: &str) -> Result<SocketAddr> {
    let s = s.trim();
    let candidate = if let Some(port) = s.strip_prefix(':') {
        format!("0.0.0.0:{port}")
    } else if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() {
        format!("127.0.0.1:{s}")
    } else if let Some(port) = s.strip_prefix("localhost:") {
        format!("127.0.0.1:{port}")
    } else {
        s.to_string()
    };
    candidate.parse().map_err(|_| {
        Error::invalid_argument(format!(
            "invalid address '{s}': expected host:port, :port or port"
        ))
    })
}

/// Whether a config key names a secret: it contains password, passwd, secret, token, dsn,
/// credential, access_key or apikey, or has `key` as one of its words (split at `_`, `-`, `.`:
/// `api_key`, `private_key_pem`), but not words that merely contain "key" (`monkey`, `keys`).
pub fn is_secret_key(key: &str) -> bool {
    const WORDS: [&str; 8] = [
        "password",
        "passwd",
        "secret",
        "token",
        "dsn",
        "credential",
        "access_key",
        "apikey",
    ];
    let k = key.to_ascii_lowercase();
    // `key` as a word of the name (`key`, `api_key`, `private_key_pem`, `key-file`), not inside
    // another word (`monkey`, `keys`).
    WORDS.iter().any(|w| k.contains(w)) || k.split(['_', '-', '.']).any(|word| word == "key")
}

/// Replaces the values of secret-looking keys ([`is_secret_key`]) with `"***"`, recursively.
pub fn redact(config: &Value) -> Value {
    match config {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let secret = is_secret_key(k);
                    let v = if secret && !v.is_null() {
                        Value::String("***".into())
                    } else {
                        redact(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::String(text) => Value::String(mask_url_password(text)),
        other => other.clone(),
    }
}

/// `scheme://user:password@host...` with the password as `***` (proxyfs's `base_url` may carry
/// credentials under a key that does not look secret); any other text unchanged.
fn mask_url_password(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return text.to_string();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry() -> PluginRegistry {
        let r = PluginRegistry::new();
        builtin_plugins::register_builtin(&r).unwrap();
        r
    }

    #[test]
    fn parse_accepts_single_and_list_forms() {
        let cfg = Config::parse(
            "server: {address: ':9000'}\nplugins:\n  memfs:\n    path: /m\n    config: {init_dirs: [/a]}\n  kvfs:\n    - name: one\n      path: /k1\n    - name: two\n      enabled: false\n      path: /k2\n",
        )
        .unwrap();
        let plan = cfg.plan(&registry()).unwrap();
        let paths: Vec<_> = plan.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["/m", "/k1"]);
        assert_eq!(plan[0].config, json!({"init_dirs": ["/a"]}));
        assert_eq!(plan[1].instance.as_deref(), Some("one"));
        assert_eq!(cfg.server.address, ":9000");
    }

    #[test]
    fn plan_rejects_unknown_plugin_naming_the_known_ones() {
        let cfg = Config::parse("plugins:\n  nosuchfs:\n    path: /x\n").unwrap();
        let e = cfg.plan(&registry()).unwrap_err().to_string();
        assert!(
            e.contains("unknown plugin 'nosuchfs'") && e.contains("memfs"),
            "{e}"
        );
    }

    #[test]
    fn plan_rejects_unknown_config_key_naming_the_allowed_ones() {
        let cfg = Config::parse("plugins:\n  memfs:\n    path: /m\n    config: {init_dir: [/a]}\n")
            .unwrap();
        let e = cfg.plan(&registry()).unwrap_err().to_string();
        assert!(e.contains("'init_dir'") && e.contains("'init_dirs'"), "{e}");
    }

    #[test]
    fn a_misspelled_instance_key_is_named_with_the_allowed_ones() {
        for yaml in [
            "plugins:\n  memfs: {pth: /memfs}\n",
            "plugins:\n  memfs:\n    - {name: a, path: /a, enable: true}\n",
        ] {
            let e = Config::parse(yaml).unwrap_err().to_string();
            assert!(
                (e.contains("pth") || e.contains("enable"))
                    && e.contains("path")
                    && e.contains("enabled"),
                "{e}"
            );
        }
        let e = Config::parse("plugins:\n  memfs: /memfs\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a mount"), "{e}");
    }

    #[test]
    fn parse_rejects_unknown_server_key() {
        let e = Config::parse("server: {adress: ':1'}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("adress"), "{e}");
    }

    /// No auth means the server must not listen beyond this machine unless told to: the embedded
    /// default and a config without `server.address` both bind loopback only.
    #[test]
    fn the_default_address_is_loopback_only() {
        for c in [
            Config::embedded_default(),
            Config::parse("plugins: {}\n").unwrap(),
        ] {
            let addr = parse_addr(&c.server.address).unwrap();
            assert!(addr.ip().is_loopback(), "{addr}");
            assert_eq!(addr.port(), 8080);
        }
    }

    #[test]
    fn embedded_default_plans_the_seed_paths() {
        let plan = Config::embedded_default().plan(&registry()).unwrap();
        let paths: Vec<_> = plan.iter().map(|m| m.path.as_str()).collect();
        for p in ["/memfs", "/kvfs", "/hellofs", "/serverinfofs", "/dev"] {
            assert!(paths.contains(&p), "{p} missing from {paths:?}");
        }
    }

    #[test]
    fn parse_addr_accepts_go_forms() {
        assert_eq!(parse_addr(":9000").unwrap().to_string(), "0.0.0.0:9000");
        assert_eq!(
            parse_addr("127.0.0.1:1").unwrap().to_string(),
            "127.0.0.1:1"
        );
        assert_eq!(parse_addr("8081").unwrap().to_string(), "127.0.0.1:8081");
        assert_eq!(
            parse_addr("localhost:80").unwrap().to_string(),
            "127.0.0.1:80"
        );
        assert!(parse_addr("nowhere").is_err());
    }

    #[test]
    fn redact_hides_secret_looking_values() {
        let v = redact(
            &json!({"dsn": "u:p@x", "access_key_id": "A", "bucket": "b", "nested": {"password": "p"}}),
        );
        assert_eq!(
            v,
            json!({"dsn": "***", "access_key_id": "***", "bucket": "b", "nested": {"password": "***"}})
        );
    }

    #[test]
    fn key_as_a_word_is_secret_and_inside_a_word_is_not() {
        for secret in [
            "key",
            "api_key",
            "private_key_pem",
            "key-file",
            "signing.key",
        ] {
            assert!(is_secret_key(secret), "{secret}");
        }
        for plain in ["monkey", "keys", "keyspace", "bucket", "cache_max_size"] {
            assert!(!is_secret_key(plain), "{plain}");
        }
    }

    #[test]
    fn redact_masks_passwords_in_urls() {
        let v = redact(&json!({
            "base_url": "http://al:pw@h:1/api/v1",
            "plain": "http://h:1/a@b",
            "user_only": "http://al@h:1",
            "text": "a:b@c",
        }));
        assert_eq!(
            v,
            json!({
                "base_url": "http://al:***@h:1/api/v1",
                "plain": "http://h:1/a@b",
                "user_only": "http://al@h:1",
                "text": "a:b@c",
            })
        );
    }
}
