//! TLS to MySQL, MariaDB and TiDB: AGFS's keys (`enable_tls`, `tls_server_name`,
//! `tls_skip_verify`), the Go driver's `tls=` DSN parameter, mysql_async's `require_ssl` URL
//! parameters, and `tls_ca` (a PEM file of the CA to trust, for servers with a private CA).

use std::path::PathBuf;

use fs_core::{Error, Result};
use mysql_async::SslOpts;
use serde_json::Value;

/// How a mount's connections use TLS (verification on unless `skip_verify`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MysqlTls {
    /// The name the server's certificate must carry, when not the host connected to.
    pub(crate) server_name: Option<String>,
    /// Accept any certificate and name (AGFS `tls_skip_verify`, Go `tls=skip-verify`).
    pub(crate) skip_verify: bool,
    /// A CA to trust besides the built-in web roots.
    pub(crate) ca: Option<PathBuf>,
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
    pub(crate) fn from_go_param(value: &str) -> Result<Option<Self>> {
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
    pub(crate) fn from_url_opts(ssl: Option<&SslOpts>) -> Option<Self> {
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
    pub(crate) fn with_keys(dsn: Option<Self>, config: &Value) -> Result<Option<Self>> {
        let s = |k: &str| {
            config
                .get(k)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
        };
        let ca = s("tls_ca").map(PathBuf::from);
        let on = match config.get("enable_tls").and_then(Value::as_bool) {
            Some(on) => on || ca.is_some(),
            None => dsn.is_some() || ca.is_some(),
        };
        if !on {
            return Ok(None);
        }
        let mut tls = dsn.unwrap_or_default();
        if let Some(name) = s("tls_server_name") {
            tls.server_name = Some(name.to_owned());
        }
        if config.get("tls_skip_verify").and_then(Value::as_bool) == Some(true) {
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
    pub(crate) fn ssl_opts(&self) -> SslOpts {
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
    use crate::sql::mysql::{Flavor, MysqlConfig};

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

    /// Against the test MariaDB's TLS-only user (both plugins that talk MySQL).
    #[cfg(all(feature = "sqlfs", feature = "queuefs"))]
    mod server {
        use super::*;

        /// The TLS-only user's DSN and the CA of the test MariaDB (scripts/mariadb-start).
        fn server() -> Option<(String, String)> {
            let hint = "scripts/test starts a MariaDB with TLS and sets it";
            let dsn = fs_core::conformance::test_server("PFS_TEST_MYSQL_TLS_DSN", hint)?;
            let ca = fs_core::conformance::test_server("PFS_TEST_MYSQL_TLS_CA", hint)?;
            Some((dsn, ca))
        }

        async fn mount_sqlfs(
            config: serde_json::Value,
        ) -> fs_core::Result<std::sync::Arc<dyn fs_core::FileSystem>> {
            use fs_core::ServicePlugin;
            let plugin = crate::sqlfs::SqlFsPlugin;
            plugin.validate(&config)?;
            plugin
                .initialize(fs_core::conformance::mount_context("/s", config))
                .await
        }

        /// A user that must use TLS: refused in plain text, served with the CA, refused when the
        /// certificate cannot be checked or names another host, served with verification off.
        #[tokio::test]
        async fn sqlfs_and_queuefs_reach_a_tls_only_user_with_tls() {
            let Some((dsn, ca)) = server() else { return };
            let database = format!("pfs_tls_{}", uuid::Uuid::now_v7().simple());
            let config = |extra: serde_json::Value| {
                let mut c = json!({"backend": "mysql", "dsn": dsn, "database": database});
                c.as_object_mut()
                    .unwrap()
                    .extend(extra.as_object().unwrap().clone());
                c
            };

            let e = mount_sqlfs(config(json!({}))).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");

            let fs = mount_sqlfs(config(json!({"tls_ca": ca}))).await.unwrap();
            fs.write(
                "/over-tls",
                bytes::Bytes::from_static(b"sealed"),
                None,
                fs_core::WriteFlags::NONE,
            )
            .await
            .unwrap();
            assert_eq!(fs.read("/over-tls", 0, None).await.unwrap(), "sealed");

            // The test CA is not among the built-in roots.
            let e = mount_sqlfs(config(json!({"enable_tls": true})))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
            assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
            // The certificate names localhost and 127.0.0.1, not this.
            let e = mount_sqlfs(config(
                json!({"tls_ca": ca, "tls_server_name": "elsewhere.example"}),
            ))
            .await
            .unwrap_err();
            assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
            let by_name = mount_sqlfs(config(
                json!({"tls_ca": ca, "tls_server_name": "localhost"}),
            ))
            .await
            .unwrap();
            assert_eq!(by_name.read("/over-tls", 0, None).await.unwrap(), "sealed");
            let unchecked =
                mount_sqlfs(config(json!({"enable_tls": true, "tls_skip_verify": true})))
                    .await
                    .unwrap();
            assert_eq!(
                unchecked.read("/over-tls", 0, None).await.unwrap(),
                "sealed"
            );

            // queuefs shares the connection code.
            use fs_core::ServicePlugin;
            let q = crate::queuefs::QueueFsPlugin
                .initialize(fs_core::conformance::mount_context(
                    "/q",
                    config(json!({"tls_ca": ca})),
                ))
                .await
                .unwrap();
            q.mkdir("/jobs", 0o755).await.unwrap();
            q.write(
                "/jobs/enqueue",
                bytes::Bytes::from_static(b"job"),
                None,
                fs_core::WriteFlags::NONE,
            )
            .await
            .unwrap();
            let msg = q.read("/jobs/dequeue", 0, None).await.unwrap();
            assert!(
                String::from_utf8_lossy(&msg).contains("\"data\":\"job\""),
                "{msg:?}"
            );

            MysqlConfig::from_config_with_default(
                Flavor::Mysql,
                &config(json!({"tls_ca": ca})),
                "db",
            )
            .unwrap()
            .drop_database()
            .await
            .unwrap();
        }
    }
}
