//! Marks the TiDB tests ignored (with the reason, in cargo's report) unless `PFS_TEST_TIDB_DSN`
//! names a server: TiDB has no Debian package, so `scripts/test` cannot start one, and a test that
//! returned early without it would be counted as passed.

fn main() {
    println!("cargo::rerun-if-env-changed=PFS_TEST_TIDB_DSN");
    println!("cargo::rustc-check-cfg=cfg(pfs_tidb)");
    if std::env::var("PFS_TEST_TIDB_DSN").is_ok_and(|v| !v.trim().is_empty()) {
        println!("cargo::rustc-cfg=pfs_tidb");
    }
}
