//! The header compiles on its own, with its layout `_Static_assert`s, as C11 and as C++.

mod common;

#[test]
fn header_compiles_with_static_layout_asserts() {
    let dir = tempfile::tempdir().unwrap();
    let so = common::cc(
        "#include \"pfs_plugin.h\"\nuint32_t PFSPluginABIVersion(void) { return PFS_PLUGIN_ABI_VERSION; }\n\
         void* PluginNew(void) { return 0; }\n",
        "header_only",
        dir.path(),
    );
    assert!(so.exists());
}

#[test]
fn header_version_matches_the_host() {
    let text = std::fs::read_to_string(common::repo().join("c-abi/include/pfs_plugin.h")).unwrap();
    assert!(text.contains(&format!(
        "#define PFS_PLUGIN_ABI_MAJOR {}u",
        c_abi::ffi::ABI_MAJOR
    )));
    assert!(text.contains(&format!(
        "#define PFS_PLUGIN_ABI_MINOR {}u",
        c_abi::ffi::ABI_MINOR
    )));
    for (name, value) in [
        ("PFS_FREE_BYTES", c_abi::ffi::FREE_BYTES),
        ("PFS_FREE_FILEINFO", c_abi::ffi::FREE_FILEINFO),
        ("PFS_FREE_FILEINFO_ARRAY", c_abi::ffi::FREE_FILEINFO_ARRAY),
    ] {
        assert!(text.contains(&format!("#define {name} {value}u")), "{name}");
    }
}
