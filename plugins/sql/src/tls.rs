//! TLS to MySQL, MariaDB and TiDB: AGFS's keys (`enable_tls`, `tls_server_name`,
//! `tls_skip_verify`), the Go driver's `tls=` DSN parameter, mysql_async's `require_ssl` URL
//! parameters, and `tls_ca` (a PEM file of the CA to trust, for servers with a private CA).

use std::path::PathBuf;

use fs_core::{Error, Result};
use mysql_async::SslOpts;
use serde_json::Value;

/// How a mount's connections use TLS (verification on unless `skip_verify`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MysqlTls {
    /// The name the server's certificate must carry, when not the host connected to.
    pub server_name: Option<String>,
    /// Accept any certificate and name (AGFS `tls_skip_verify`, Go `tls=skip-verify`).
    pub skip_verify: bool,
    /// A CA to trust besides the built-in web roots.
    pub ca: Option<PathBuf>,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::invalid_argument(msg.into())
}

impl MysqlTls {
    /// The Go driver's `tls=` DSN value: `None` for plain connections.
    ///
    /// # Errors
    /// `InvalidArgument` for `preferred` (TLS only when the server offers it, which this client
    /// cannot do) and for a Go-registered config name.
    pub fn from_go_param(value: &str) -> Result<Option<Self>> {
        match value.to_ascii_lowercase().as_str() {
            "" | "false" => Ok(None),
            "true" => Ok(Some(Self::default())),
            "skip-verify" => Ok(Some(Self {
                skip_verify: true,
                ..Self::default()
            })),
            "preferred" => Err(invalid(
                "invalid 'dsn': tls=preferred (TLS only if the server offers it) is not supported; \
                 use tls=true or tls=skip-verify",
            )),
            other => Err(invalid(format!(
                "invalid 'dsn': tls={other} names a TLS config registered in Go code; use tls=true \
                 with the tls_ca and tls_server_name keys"
            ))),
        }
    }

    /// What a `mysql://` DSN's `require_ssl`, `verify_ca` and `verify_identity` asked for.
    pub fn from_url_opts(ssl: Option<&SslOpts>) -> Option<Self> {
        ssl.map(|s| Self {
            server_name: s.tls_hostname_override().map(str::to_owned),
            skip_verify: s.accept_invalid_certs() || s.skip_domain_validation(),
            ca: None,
        })
    }

    /// Applies the config keys over what the DSN said (`dsn`): `enable_tls` turns TLS on or off,
    /// `tls_ca` turns it on; `tls_server_name` and `tls_skip_verify` refine it.
    ///
    /// # Errors
    /// `InvalidArgument` when `tls_ca` names no readable file.
    pub fn with_keys(dsn: Option<Self>, config: &Value) -> Result<Option<Self>> {
        use crate::{ENABLE_TLS, TLS_CA, TLS_SERVER_NAME, TLS_SKIP_VERIFY};
        let ca = TLS_CA.opt(config)?.map(PathBuf::from);
        let on = match ENABLE_TLS.opt(config)? {
            Some(on) => on || ca.is_some(),
            None => dsn.is_some() || ca.is_some(),
        };
        if !on {
            return Ok(None);
        }
        let mut tls = dsn.unwrap_or_default();
        if let Some(name) = TLS_SERVER_NAME.opt(config)? {
            tls.server_name = Some(name);
        }
        if TLS_SKIP_VERIFY.opt(config)? == Some(true) {
            tls.skip_verify = true;
        }
        if let Some(ca) = ca {
            if let Err(e) = std::fs::File::open(&ca) {
                return Err(invalid(format!(
                    "invalid value for 'tls_ca': cannot read {}: {e}",
                    ca.display()
                )));
            }
            tls.ca = Some(ca);
        }
        Ok(Some(tls))
    }

    /// The driver's options for these settings.
    pub fn ssl_opts(&self) -> SslOpts {
        let mut opts = SslOpts::default()
            .with_danger_accept_invalid_certs(self.skip_verify)
            .with_danger_skip_domain_validation(self.skip_verify);
        if let Some(ca) = &self.ca {
            opts = opts.with_root_certs(vec![ca.clone().into()]);
        }
        if let Some(name) = &self.server_name {
            opts = opts.with_danger_tls_hostname_override(Some(name.clone()));
        }
        opts
    }
}

#[cfg(test)]
mod tests {
    use fs_core::ErrorKind;
    use serde_json::json;

    use super::MysqlTls;
    use crate::mysql::{Flavor, MysqlConfig};

    fn tls(config: serde_json::Value) -> fs_core::Result<Option<MysqlTls>> {
        MysqlConfig::from_config_with_default(Flavor::Mysql, &config, "db").map(|c| c.tls)
    }

    fn on(server_name: Option<&str>, skip_verify: bool) -> Option<MysqlTls> {
        Some(MysqlTls {
            server_name: server_name.map(str::to_owned),
            skip_verify,
            ca: None,
        })
    }

    #[test]
    fn keys_and_dsn_forms_turn_tls_on_and_off() {
        let cases = [
            (json!({}), None),
            (json!({"enable_tls": false, "tls_skip_verify": true}), None),
            (json!({"enable_tls": true}), on(None, false)),
            (
                json!({"enable_tls": true, "tls_server_name": "db.internal", "tls_skip_verify": true}),
                on(Some("db.internal"), true),
            ),
            (json!({"dsn": "u:p@tcp(h:1)/d?tls=true"}), on(None, false)),
            (
                json!({"dsn": "u:p@tcp(h:1)/d?tls=skip-verify"}),
                on(None, true),
            ),
            (json!({"dsn": "u:p@tcp(h:1)/d?tls=false"}), None),
            // Explicit keys win over the DSN.
            (
                json!({"dsn": "u:p@tcp(h:1)/d?tls=true", "enable_tls": false}),
                None,
            ),
            (
                json!({"dsn": "mysql://u:p@h:1/d?require_ssl=true"}),
                on(None, false),
            ),
            (
                json!({"dsn": "mysql://u:p@h:1/d?require_ssl=true&verify_ca=false"}),
                on(None, true),
            ),
        ];
        for (config, want) in cases {
            assert_eq!(tls(config.clone()).unwrap(), want, "{config}");
        }
    }

    #[test]
    fn a_ca_file_implies_tls_and_must_be_readable() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let got = tls(json!({"tls_ca": ca.to_str().unwrap()}))
            .unwrap()
            .unwrap();
        assert_eq!(got.ca.as_deref(), Some(ca.as_path()));
        let missing = dir.path().join("missing.pem");
        let e = tls(json!({"tls_ca": missing.to_str().unwrap()})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains("tls_ca"), "{e}");
    }

    #[test]
    fn modes_this_client_cannot_do_are_refused_by_name() {
        for (mode, words) in [
            ("preferred", "tls=preferred"),
            ("custom", "registered in Go"),
        ] {
            let e = tls(json!({"dsn": format!("u:p@tcp(h:1)/d?tls={mode}")})).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.to_string().contains(words), "{e}");
        }
    }
}
