//! sqlfs and queuefs against the test MariaDB's TLS-only user: both plugins talk MySQL through
//! the shared SQL crate (pfs-sql), so one test covers the pair.

use fs_core::ErrorKind;
use pfs_sql::mysql::{Flavor, MysqlConfig};
use serde_json::json;

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
    let plugin = pfs_sqlfs::SqlFsPlugin;
    fs_core::plugin::vet(&plugin, &config)?;
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
    let unchecked = mount_sqlfs(config(json!({"enable_tls": true, "tls_skip_verify": true})))
        .await
        .unwrap();
    assert_eq!(
        unchecked.read("/over-tls", 0, None).await.unwrap(),
        "sealed"
    );

    // queuefs shares the connection code.
    use fs_core::ServicePlugin;
    let q = pfs_queuefs::QueueFsPlugin
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

    MysqlConfig::from_config_with_default(Flavor::Mysql, &config(json!({"tls_ca": ca})), "db")
        .unwrap()
        .drop_database()
        .await
        .unwrap();
}
