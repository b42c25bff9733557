//! The `server` section: listener, limits, data directory.

use std::net::SocketAddr;
use std::time::Duration;

use fs_core::{Error, Result};
use serde::{Deserialize, Serialize};

use fs_core::policy::{Listen, MountPolicy, Roots};

use super::AuthConfig;
use crate::serve::ConnLimits;

/// Default request body limit: 64 MiB, as AGFS.
pub const DEFAULT_MAX_BODY: u64 = 64 * 1024 * 1024;

/// The `server` section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
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
    /// How long a connection may take to deliver a whole request head, counted from its opening
    /// or from its previous answer: slow headers and idle keep-alive connections are closed alike
    /// (default 60 s).
    pub idle_timeout: Seconds,
    /// How long a request body may go without a byte before the request fails with 408 and
    /// changes nothing (default 60 s).
    pub body_timeout: Seconds,
    /// How long a write to a client may make no progress before the connection is closed
    /// (default 60 s).
    pub send_timeout: Seconds,
    /// Connections served at once; one more is answered 503 and closed. 0 (the default): half the
    /// open-file limit, at most 10000.
    pub max_connections: usize,
    /// Host names requests may carry besides this machine's addresses, `localhost` and
    /// `*.localhost` (`*`: any); others are refused with 403 (DNS rebinding). Default none.
    pub allowed_hosts: Vec<String>,
    /// Web origins (`http://host:port`) whose pages may change this server besides its own (`*`:
    /// any). Default none.
    pub allowed_origins: Vec<String>,
    /// IP addresses besides loopback where a mount made through the API may open a listener of
    /// its own (httpfs); `*`: anywhere. Default none. Mounts from the config are not limited.
    pub api_mount_listen: Vec<String>,
    /// Directories under which a mount made through the API may keep files on this host
    /// (localfs's `local_dir`, an SQLite `db_path`); `*`: anywhere. Default none: the data
    /// directory only. Mounts from the config are not limited.
    pub mount_roots: Vec<String>,
    /// How long a plugin's start, the end of its background work, and its shutdown may each
    /// take before they are abandoned (logged), so a hung plugin cannot hold up an unmount, a
    /// reload or the server's exit (default 10 s).
    pub hook_timeout: Seconds,
    /// Stop at start on any config problem (an unknown plugin, a mount that fails), as
    /// `--strict`. Default false: they are reported failed and the rest serve.
    pub strict: bool,
    /// Who may call the API: bearer tokens with roles, and protected mode (see
    /// [`AuthConfig`]). Applied again by a reload.
    pub auth: AuthConfig,
}

/// A duration in the config: seconds as a number, or a string such as `"30s"` or `"2m"`; more
/// than zero and at most [`fs_core::config::MAX_DURATION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        let parsed = match Raw::deserialize(d)? {
            Raw::Number(n) => fs_core::config::seconds(n),
            Raw::Text(t) => fs_core::config::parse_duration(&t),
        };
        match parsed {
            Ok(d) if !d.is_zero() => Ok(Seconds(d)),
            Ok(_) => Err(serde::de::Error::custom(
                "a timeout must be more than 0 seconds",
            )),
            Err(e) => Err(serde::de::Error::custom(e.message())),
        }
    }
}

impl Serialize for Seconds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&fs_core::config::parse::format_duration(self.0))
    }
}

/// The default of every connection timeout: 60 s.
pub const DEFAULT_TIMEOUT: Seconds = Seconds(Duration::from_secs(60));
/// The most connections the default allows, whatever the open-file limit.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

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
            idle_timeout: DEFAULT_TIMEOUT,
            body_timeout: DEFAULT_TIMEOUT,
            send_timeout: DEFAULT_TIMEOUT,
            max_connections: 0,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            api_mount_listen: Vec::new(),
            mount_roots: Vec::new(),
            hook_timeout: Seconds(fs_core::lifecycle::DEFAULT_HOOK_TIMEOUT),
            strict: false,
            auth: AuthConfig::default(),
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

    /// The limits of the connection layer, with `max_connections` 0 resolved against the
    /// open-file limit `nofile` (each connection holds a descriptor; half stay for files).
    pub fn conn_limits(&self, nofile: Option<u64>) -> ConnLimits {
        let max_connections = match self.max_connections {
            0 => nofile.map_or(DEFAULT_MAX_CONNECTIONS, |n| {
                usize::try_from(n / 2)
                    .unwrap_or(usize::MAX)
                    .clamp(16, DEFAULT_MAX_CONNECTIONS)
            }),
            n => n,
        };
        ConnLimits {
            idle_timeout: self.idle_timeout.0,
            send_timeout: self.send_timeout.0,
            body_timeout: self.body_timeout.0,
            max_connections,
        }
    }

    /// The policy of mounts made through the API ([`MountPolicy`]): where their listeners may
    /// bind, and where on this host they may keep files (`mount_roots`, else the data directory).
    ///
    /// # Errors
    /// `InvalidArgument` for an entry of `api_mount_listen` that is neither `*` nor an IP address,
    /// or of `mount_roots` that is neither `*` nor an absolute path.
    pub fn api_mount_policy(&self) -> Result<MountPolicy> {
        let listen = if self.api_mount_listen.iter().any(|a| a.trim() == "*") {
            Listen::Any
        } else {
            let ips = self
                .api_mount_listen
                .iter()
                .map(|a| {
                    a.trim().parse().map_err(|_| {
                        Error::invalid_argument(format!(
                            "invalid config: server.api_mount_listen: '{a}' is neither an IP address nor *"
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Listen::LoopbackAnd(ips)
        };
        let roots = if self.mount_roots.iter().any(|r| r.trim() == "*") {
            Roots::Any
        } else if self.mount_roots.is_empty() {
            Roots::Under(
                (!self.data_dir.is_empty())
                    .then(|| self.data_dir.clone().into())
                    .into_iter()
                    .collect(),
            )
        } else {
            for r in &self.mount_roots {
                if !std::path::Path::new(r.trim()).is_absolute() {
                    return Err(Error::invalid_argument(format!(
                        "invalid config: server.mount_roots: '{r}' is neither an absolute path nor *"
                    )));
                }
            }
            Roots::Under(self.mount_roots.iter().map(|r| r.trim().into()).collect())
        };
        Ok(MountPolicy {
            listen,
            source: "server.api_mount_listen",
            roots,
            roots_source: "server.mount_roots",
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

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
}
