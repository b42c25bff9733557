#![doc = include_str!("../README.md")]

mod fs;
mod html;
mod listen;
mod serve;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use fs_core::config::{Key, MOUNT_PATH_KEY, check_config};
use fs_core::{ConfigParam, Error, FileSystem, MountContext, Result, ServicePlugin};
use serde_json::{Map, Value};

pub use fs::HttpFs;
/// The filesystem an httpfs mount serves: the status file read-only, its listener and config
/// changes in [`HttpFs`]'s hooks.
pub type HttpFsMount = fs_core::ReadOnlyFs<HttpFs>;

const README: &str = include_str!("../README.md");

/// The address httpfs listens on when `host` is not given: loopback only (AGFS: every interface).
pub const DEFAULT_HOST: &str = "127.0.0.1";

fs_core::config_keys! {
    KEYS;
    AGFS_PATH: &'static str = Key::required(
        "agfs_path",
        "the pfs path published: a directory (listed) or a single file; it may be mounted later. `pfs_path` is another name for it",
    )
    .live();
    PFS_PATH: &'static str = Key::unset("pfs_path", "another name for `agfs_path` (the seed README's spelling); give one of the two").live();
    HOST: &'static str = Key::optional(
        "host",
        DEFAULT_HOST,
        "the host name or address to bind; `0.0.0.0` or `::` for every interface. A mount made through the API (`POST /api/v1/mount`) may bind only loopback and the addresses in the server's `api_mount_listen` (403 otherwise); a mount in the config file may bind anywhere",
    )
    .live();
    PORT: u64 = Key::required(
        "port",
        "the TCP port of the listener, 1-65535; a numeric string (`\"9000\"`) is accepted; a port in use fails the mount (and a change to it: the old port serves on). `http_port` is another name for it",
    )
    .live();
    HTTP_PORT: u64 = Key::unset("http_port", "another name for `port` (the seed README's spelling); give one of the two").live();
}

/// Config key aliases: `(alias, key)`. `pfs_path` is the seed README's spelling of `agfs_path`,
/// `http_port` its spelling of `port`.
const ALIASES: [(&str, &str); 2] = [
    (PFS_PATH.name(), AGFS_PATH.name()),
    (HTTP_PORT.name(), PORT.name()),
];

/// httpfs's config, with aliases folded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpFsConfig {
    /// The pfs path published (`agfs_path` or `pfs_path`), normalized. Required.
    pub source: String,
    /// The host or address the HTTP listener binds, default [`DEFAULT_HOST`].
    pub host: String,
    /// The TCP port of the HTTP listener, 1 to 65535 (`port` or `http_port`). Required.
    pub port: u16,
}

impl HttpFsConfig {
    /// Reads a config that passed [`HttpFsPlugin::check_keys`].
    ///
    /// # Errors
    /// `InvalidArgument` naming the key.
    pub fn from_value(config: &Value) -> Result<Self> {
        let config = canonical(config)?;
        let source = AGFS_PATH
            .opt(&config)?
            .ok_or_else(|| Error::invalid_argument(required_path_message()))?;
        let source = fs_core::path::normalize(&source)
            .map_err(|e| Error::invalid_argument(format!("invalid value for 'agfs_path': {e}")))?;
        let host = HOST
            .opt(&config)?
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        let port = PORT
            .raw(&config)
            .map(port_value)
            .transpose()?
            .ok_or_else(|| Error::invalid_argument("port is required"))?;
        Ok(HttpFsConfig { source, host, port })
    }
}

fn required_path_message() -> String {
    "agfs_path is required (the pfs path to publish; pfs_path is accepted too)".to_string()
}

/// Folds the aliases into their keys and turns a numeric port string (`"9000"`, AGFS and the seed
/// README write it so) into a number.
fn canonical(config: &Value) -> Result<Value> {
    let mut map = match config {
        Value::Object(m) => m.clone(),
        // Anything else is reported by `check_config`.
        _ => return Ok(config.clone()),
    };
    for (alias, key) in ALIASES {
        if let Some(v) = map.remove(alias) {
            if map.contains_key(key) {
                return Err(Error::invalid_argument(format!(
                    "'{alias}' is another name for '{key}': give only one of them"
                )));
            }
            map.insert(key.to_string(), v);
        }
    }
    if let Some(Value::String(s)) = map.get(PORT.name()) {
        let n = s
            .trim()
            .parse::<u64>()
            .map_err(|_| bad_port(&format!("{s:?}")))?;
        map.insert(PORT.name().into(), Value::from(n));
    }
    Ok(Value::Object(map))
}

fn bad_port(got: &str) -> Error {
    Error::invalid_argument(format!(
        "invalid value for 'port': expected a TCP port from 1 to 65535, got {got}"
    ))
}

fn port_value(v: &Value) -> Result<u16> {
    let n = v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
            .map(|f| f as u64)
    });
    match n {
        Some(n @ 1..=65535) => Ok(n as u16),
        _ => Err(bad_port(&v.to_string())),
    }
}

/// The httpfs factory.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpFsPlugin;

#[async_trait]
impl ServicePlugin for HttpFsPlugin {
    fn name(&self) -> &str {
        "httpfs"
    }

    fn readme(&self) -> &str {
        README
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        fs_core::config::params(&[KEYS])
    }

    fn check_keys(&self, config: &Value) -> Result<()> {
        let canon = canonical(config)?;
        if let Value::Object(m) = &canon
            && !m.contains_key(AGFS_PATH.name())
            && unknown_keys(m, &self.config_params()).is_empty()
        {
            return Err(Error::invalid_argument(required_path_message()));
        }
        check_config(&self.config_params(), &canon)?;
        if let Some(port) = PORT.raw(&canon) {
            port_value(port)?;
        }
        Ok(())
    }

    fn validate(&self, config: &Value) -> Result<()> {
        HttpFsConfig::from_value(config).map(|_| ())
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let config = HttpFsConfig::from_value(&ctx.config)?;
        let fs = HttpFs::bind(&ctx.mount_path, &config, ctx.root, ctx.policy).await?;
        Ok(Arc::new(fs_core::ReadOnlyFs(fs)))
    }
}

/// Keys `check_config` would reject, so that its message (which names the allowed keys) wins over
/// "agfs_path is required" when a user misspells `agfs_path`.
fn unknown_keys<'a>(m: &'a Map<String, Value>, params: &[ConfigParam]) -> Vec<&'a str> {
    m.keys()
        .map(String::as_str)
        .filter(|k| *k != MOUNT_PATH_KEY && !params.iter().any(|p| p.name == *k))
        .collect()
}

#[cfg(test)]
mod config_tests {
    use serde_json::{Value, json};

    use super::*;

    fn check(config: Value) -> std::result::Result<(), String> {
        fs_core::plugin::vet(&HttpFsPlugin, &config).map_err(|e| e.to_string())
    }

    #[test]
    fn config_requires_a_path_and_a_port_in_range() {
        let ok = |c: Value| check(c.clone()).unwrap_or_else(|e| panic!("{c}: {e}"));
        ok(json!({"agfs_path": "/memfs", "port": 9000}));
        ok(json!({"agfs_path": "/memfs", "port": 9000.0, "host": "0.0.0.0", "mount_path": "/h"}));
        ok(json!({"pfs_path": "/memfs", "http_port": "9000"}));
        let parsed =
            HttpFsConfig::from_value(&json!({"pfs_path": "/a/../memfs/", "http_port": "65535"}));
        assert_eq!(
            parsed.unwrap(),
            HttpFsConfig {
                source: "/memfs".into(),
                host: "127.0.0.1".into(),
                port: 65535
            }
        );
        for (config, words) in [
            (json!({"agfs_path": "/memfs"}), "port is required"),
            (json!({"port": 9000}), "agfs_path is required"),
            (
                json!({"agfs_path": "/m", "port": 0}),
                "expected a TCP port from 1 to 65535, got 0",
            ),
            (json!({"agfs_path": "/m", "port": 65536}), "got 65536"),
            (json!({"agfs_path": "/m", "port": "http"}), "got \"http\""),
            (
                json!({"agfs_path": "/m", "port": -1}),
                "invalid value for 'port'",
            ),
            (
                json!({"agfs_path": "/m", "port": 1, "pfs_path": "/n"}),
                "give only one",
            ),
            (
                json!({"agfs_path": "/m", "port": 1, "host": 5}),
                "'host': expected string",
            ),
            (
                json!({"agfs_pth": "/m", "port": 1}),
                "unknown configuration parameter(s) 'agfs_pth'",
            ),
        ] {
            let e = check(config.clone()).expect_err(&config.to_string());
            assert!(e.contains(words), "{config}: {e}");
        }
        let e = check(json!({"agfs_pth": "/m", "port": 1})).unwrap_err();
        assert!(
            e.contains("'agfs_path', 'pfs_path', 'host', 'port', 'http_port'"),
            "{e}"
        );
    }
}
