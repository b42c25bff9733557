//! The `server` section: listener, limits, data directory.

use std::net::SocketAddr;

use fs_core::{Error, Result};
use serde::Deserialize;

/// Default request body limit: 64 MiB, as AGFS.
pub const DEFAULT_MAX_BODY: u64 = 64 * 1024 * 1024;

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
