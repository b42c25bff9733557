//! External plugins end to end: C plugins built with the machine's `cc`, loaded by a real server
//! from its YAML config and through `/api/v1/plugins/load`, mounted twice with independent state,
//! unmounted, unloaded (refused while mounted), reloaded after a rebuild, and given a new config
//! in place (`PFSReconfigure`) or, without it, by a remount.

use std::path::Path;

use serde_json::Value;
use tests::{Server, build_example, start_server};

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// A plugin directory holding hellofs-c (v1, AGFS-style) and memfs-c (extensions), and a server
/// whose config loads that directory and mounts hellofs-c.
fn server_with_plugin_dir(dir: &Path) -> Server {
    let plugins = dir.join("plugins");
    build_example("hellofs-c", "hellofs-c.so", &plugins);
    build_example("memfs-c", "memfs-c.so", &plugins);
    let config = dir.join("pfs.yaml");
    std::fs::write(
        &config,
        format!(
            "external_plugins:\n  enabled: true\n  auto_load: true\n  plugin_dir: {}\n\
             plugins:\n  memfs: {{path: /memfs}}\n  hellofs-c: {{path: /helloc}}\n",
            plugins.display()
        ),
    )
    .unwrap();
    start_server(&["-c", config.to_str().unwrap()])
}

#[test]
fn agfs_style_plugin_serves_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let s = server_with_plugin_dir(dir.path());
    assert_eq!(
        s.get("/api/v1/files?path=/helloc/hello"),
        (200, "Hello from C plugin!\n".into())
    );
    let (code, body) = s.get("/api/v1/stat?path=/helloc/hello");
    assert_eq!(code, 200);
    let v = json(&body);
    assert_eq!(
        (v["name"].as_str(), v["size"].as_u64(), v["isDir"].as_bool()),
        (Some("hello"), Some(21), Some(false))
    );
    let (_, body) = s.get("/api/v1/directories?path=/helloc");
    assert_eq!(json(&body)["files"][0]["name"], "hello");
    // A missing file is a 404 with the plugin's words, not a 500.
    let (code, body) = s.get("/api/v1/files?path=/helloc/nope");
    assert_eq!(code, 404, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("not found"));
    let (code, _) = s.get("/api/v1/stat?path=/helloc/nope");
    assert_eq!(code, 404);
    // Its mutations say "operation not supported": 501.
    let (code, _) = s.send("POST", "/api/v1/files?path=/helloc/new", "");
    assert_eq!(code, 501);
    // No handles on C plugins (as in AGFS): the 501 that sends FUSE clients to plain reads.
    let (code, body) = s.send("POST", "/api/v1/handles/open?path=/helloc/hello", "");
    assert_eq!(
        (code, body.as_str()),
        (
            501,
            r#"{"error":"openhandle: /helloc/hello: operation not supported"}"#
        )
    );

    let (_, body) = s.get("/api/v1/plugins");
    let plugins = json(&body)["plugins"].as_array().unwrap().clone();
    let hello = plugins
        .iter()
        .find(|p| p["name"] == "hellofs-c")
        .expect("hellofs-c listed");
    assert_eq!(hello["is_external"], true);
    assert!(
        hello["library_path"]
            .as_str()
            .unwrap()
            .ends_with("plugins/hellofs-c.so")
    );
    assert_eq!(hello["mounted_paths"][0]["path"], "/helloc");
    assert!(hello["readme"].as_str().unwrap().contains("hellofs"));
    let memfs_c = plugins
        .iter()
        .find(|p| p["name"] == "memfs-c")
        .expect("memfs-c auto-loaded");
    assert_eq!(memfs_c["is_external"], true);
}

#[test]
fn two_mounts_are_independent_and_unload_waits_for_unmount() {
    let dir = tempfile::tempdir().unwrap();
    let s = server_with_plugin_dir(dir.path());
    for path in ["/m1", "/m2"] {
        let (code, body) = s.send(
            "POST",
            "/api/v1/mount",
            &format!(r#"{{"fstype":"memfs-c","path":"{path}"}}"#),
        );
        assert_eq!(code, 200, "{body}");
    }
    assert_eq!(s.send("PUT", "/api/v1/files?path=/m1/a.txt", "one").0, 200);
    assert_eq!(s.get("/api/v1/files?path=/m1/a.txt"), (200, "one".into()));
    assert_eq!(
        s.get("/api/v1/files?path=/m2/a.txt").0,
        404,
        "instances must not share state"
    );

    assert_eq!(
        s.send("POST", "/api/v1/unmount", r#"{"path":"/m1"}"#).0,
        200
    );
    assert_eq!(s.send("PUT", "/api/v1/files?path=/m2/b.txt", "two").0, 200);
    assert_eq!(s.get("/api/v1/files?path=/m2/b.txt"), (200, "two".into()));

    let lib = dir.path().join("plugins/memfs-c.so");
    let unload = format!(r#"{{"library_path":"{}"}}"#, lib.display());
    let (code, body) = s.send("POST", "/api/v1/plugins/unload", &unload);
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("/m2"), "the refusal names the mount: {body}");
    assert_eq!(
        s.get("/api/v1/files?path=/m2/b.txt").0,
        200,
        "a refused unload changes nothing"
    );

    let force = format!(r#"{{"library_path":"{}","force":true}}"#, lib.display());
    let (code, body) = s.send("POST", "/api/v1/plugins/unload", &force);
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["message"], "plugin unloaded successfully");
    assert_eq!(s.get("/api/v1/files?path=/m2/b.txt").0, 404);
    let (code, _) = s.send(
        "POST",
        "/api/v1/mount",
        r#"{"fstype":"memfs-c","path":"/m3"}"#,
    );
    assert_eq!(code, 400, "an unloaded plugin cannot be mounted");
}

#[test]
fn load_api_respects_the_plugin_dir_renames_clashes_and_reloads_rebuilt_code() {
    let dir = tempfile::tempdir().unwrap();
    let s = server_with_plugin_dir(dir.path());
    // Outside the plugin directory: refused (loading a library is running code).
    let outside = dir.path().join("elsewhere");
    let lib = build_example("hellofs-c", "hellofs-c.so", &outside);
    let (code, body) = s.send(
        "POST",
        "/api/v1/plugins/load",
        &format!(r#"{{"library_path":"{}"}}"#, lib.display()),
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("outside the plugin directory"), "{body}");
    let (code, _) = s.send(
        "POST",
        "/api/v1/plugins/load",
        r#"{"library_path":"https://example.invalid/x.so"}"#,
    );
    assert_eq!(code, 400);

    // The same plugin under a second file name: the name clash is renamed as in AGFS.
    let copy = dir.path().join("plugins/hello-copy.so");
    std::fs::copy(&lib, &copy).unwrap();
    let load = format!(r#"{{"library_path":"{}"}}"#, copy.display());
    let (code, body) = s.send("POST", "/api/v1/plugins/load", &load);
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    assert_eq!(
        (
            v["plugin_name"].as_str(),
            v["original_name"].as_str(),
            v["renamed"].as_bool()
        ),
        (Some("hellofs-c-1"), Some("hellofs-c"), Some(true))
    );
    assert_eq!(
        s.send("POST", "/api/v1/plugins/load", &load).0,
        409,
        "already loaded"
    );

    // Unload, rebuild the file with new code, load again: the new code serves.
    assert_eq!(s.send("POST", "/api/v1/plugins/unload", &load).0, 200);
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hellofs-c/hellofs.c"),
    )
    .unwrap();
    let changed = src.replace("Hello from C plugin!", "Hello from rebuilt!!");
    assert_ne!(
        src, changed,
        "the example's greeting moved; update this test"
    );
    let c_file = dir.path().join("rebuilt.c");
    std::fs::write(&c_file, changed).unwrap();
    let cc = std::process::Command::new("cc")
        .args(["-std=c11", "-fPIC", "-shared", "-o"])
        .arg(&copy)
        .arg(&c_file)
        .status()
        .unwrap();
    assert!(cc.success());
    let (code, body) = s.send("POST", "/api/v1/plugins/load", &load);
    assert_eq!(code, 200, "{body}");
    let name = json(&body)["plugin_name"].as_str().unwrap().to_string();
    let (code, body) = s.send(
        "POST",
        "/api/v1/mount",
        &format!(r#"{{"fstype":"{name}","path":"/rebuilt"}}"#),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        s.get("/api/v1/files?path=/rebuilt/hello"),
        (200, "Hello from rebuilt!!\n".into())
    );
    // The original mount still runs the original code.
    assert_eq!(
        s.get("/api/v1/files?path=/helloc/hello"),
        (200, "Hello from C plugin!\n".into())
    );
}

#[test]
fn load_is_refused_when_external_plugins_are_disabled() {
    let s = start_server(&[]);
    let (code, body) = s.send(
        "POST",
        "/api/v1/plugins/load",
        r#"{"library_path":"/tmp/x.so"}"#,
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("external plugins are disabled"), "{body}");
    assert_eq!(s.send("POST", "/api/v1/plugins/load", "{}").0, 400);
}

/// The upload-then-load attack: a localfs mount serves the plugin directory, a client writes a
/// library there and asks to load it. Refused before `dlopen` (the library's constructor, which
/// would leave a marker file, never runs), naming the mount; so is a library in a directory
/// others may write to.
#[test]
fn a_library_a_mount_exposes_or_others_may_write_is_refused_before_dlopen() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let plugins = root.join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let marker = root.join("constructor-ran");
    let src = root.join("evil.c");
    std::fs::write(
        &src,
        format!(
            "#include <stdio.h>\n__attribute__((constructor)) static void ran(void) {{ FILE *f = fopen(\"{}\", \"w\"); if (f) fclose(f); }}\nconst char *PluginName(void) {{ return \"evil\"; }}\n",
            marker.display()
        ),
    )
    .unwrap();
    let built = root.join("evil.so");
    let ok = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&built)
        .arg(&src)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cc builds the library");
    let config = root.join("pfs.yaml");
    std::fs::write(
        &config,
        format!(
            "external_plugins:\n  enabled: true\n  plugin_dir: {}\nplugins:\n  localfs: {{path: /up, config: {{local_dir: {}}}}}\n",
            plugins.display(),
            plugins.display()
        ),
    )
    .unwrap();
    let s = start_server(&["-c", config.to_str().unwrap()]);
    // The client uploads the library through the mount, then asks to load it.
    let upload = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-T"])
        .arg(&built)
        .arg(s.url("/api/v1/files?path=/up/evil.so"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&upload.stdout), "200");
    let load = format!(
        r#"{{"library_path":"{}"}}"#,
        plugins.join("evil.so").display()
    );
    let (code, body) = s.send("POST", "/api/v1/plugins/load", &load);
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("which a mount serves"), "{body}");
    assert!(!marker.exists(), "the library's constructor ran");

    // Not exposed, but in a directory others may write to.
    let shared = root.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::copy(&built, shared.join("evil.so")).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let load = format!(
        r#"{{"library_path":"{}"}}"#,
        shared.join("evil.so").display()
    );
    std::fs::write(
        &config,
        "external_plugins:\n  enabled: true\n  allow_any_path: true\nplugins: {}\n",
    )
    .unwrap();
    let s2 = start_server(&["-c", config.to_str().unwrap()]);
    let (code, body) = s2.send("POST", "/api/v1/plugins/load", &load);
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("writable by others"), "{body}");
    assert!(!marker.exists(), "the library's constructor ran");
    let (_, plugins_list) = s2.get("/api/v1/plugins");
    assert!(!plugins_list.contains("evil"), "{plugins_list}");
}

/// The row of `GET /api/v1/mounts` for `path`.
fn mount_row(s: &Server, path: &str) -> Value {
    let (code, body) = s.get("/api/v1/mounts");
    assert_eq!(code, 200, "{body}");
    json(&body)["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == path)
        .cloned()
        .unwrap_or_else(|| panic!("{path} is not in {body}"))
}

/// `POST /api/v1/mounts/config` with `body`: the status and the answer.
fn change(s: &Server, body: Value) -> (u16, Value) {
    let (code, answer) = s.send("POST", "/api/v1/mounts/config", &body.to_string());
    (code, json(&answer))
}

#[test]
fn memfs_c_takes_a_config_change_in_place_rejects_or_amends_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = server_with_plugin_dir(dir.path());
    let mount = r#"{"fstype":"memfs-c","path":"/capped","config":{"max_file_size":100}}"#;
    let (code, body) = s.send("POST", "/api/v1/mount", mount);
    assert_eq!(code, 200, "{body}");
    let (small, big) = ("s".repeat(80), "b".repeat(200));
    assert_eq!(
        s.send("PUT", "/api/v1/files?path=/capped/small", &small).0,
        200
    );
    assert_eq!(s.send("PUT", "/api/v1/files?path=/capped/big", &big).0, 413);
    let row = mount_row(&s, "/capped");
    assert_eq!(
        (&row["generation"], &row["config"]["max_file_size"]),
        (&serde_json::json!(1), &serde_json::json!(100))
    );

    // Accepted: the same instance (its file is still there) takes the larger cap.
    let (code, v) = change(
        &s,
        serde_json::json!({"path": "/capped", "config": {"max_file_size": 1000}}),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        (&v["amended"], &v["remounted"], &v["generation"]),
        (
            &serde_json::json!(false),
            &serde_json::json!(false),
            &serde_json::json!(2)
        ),
        "{v}"
    );
    assert_eq!(v["config"], serde_json::json!({"max_file_size": 1000}));
    assert_eq!(s.send("PUT", "/api/v1/files?path=/capped/big", &big).0, 200);
    assert_eq!(
        s.get("/api/v1/files?path=/capped/small"),
        (200, small.clone())
    );

    // Rejected, with the plugin's reason: the config on record and the data stay as they were,
    // and the cap in force is still 1000 (a 500-byte file is written, a 1001-byte one is not).
    for (bad, words) in [
        (
            serde_json::json!(10),
            "max_file_size 10 is below the largest file this mount holds (200 bytes)",
        ),
        (
            serde_json::json!("lots"),
            "max_file_size must be a whole number of bytes",
        ),
    ] {
        let (code, v) = change(
            &s,
            serde_json::json!({"path": "/capped", "config": {"max_file_size": bad}}),
        );
        assert_eq!(code, 400, "{v}");
        let error = v["error"].as_str().unwrap();
        assert!(
            error.contains(words) && error.contains("plugin memfs-c"),
            "{error}"
        );
        let row = mount_row(&s, "/capped");
        assert_eq!(
            (&row["generation"], &row["config"]),
            (
                &serde_json::json!(2),
                &serde_json::json!({"max_file_size": 1000})
            )
        );
        assert_eq!(s.get("/api/v1/files?path=/capped/big"), (200, big.clone()));
    }
    let (mid, over) = ("m".repeat(500), "o".repeat(1001));
    assert_eq!(s.send("PUT", "/api/v1/files?path=/capped/mid", &mid).0, 200);
    assert_eq!(
        s.send("PUT", "/api/v1/files?path=/capped/over", &over).0,
        413
    );

    // Amended: a cap above what a file can hold is clamped; the answer and the mount list show
    // the config the plugin applied, other keys as sent.
    let (code, v) = change(
        &s,
        serde_json::json!({"path": "/capped", "config": {"max_file_size": 99_999_999_999_u64, "note": "x"}}),
    );
    assert_eq!(code, 200, "{v}");
    let applied = serde_json::json!({"max_file_size": 2_147_483_647_u64, "note": "x"});
    assert_eq!(
        (&v["amended"], &v["generation"], &v["config"]),
        (&serde_json::json!(true), &serde_json::json!(3), &applied),
        "{v}"
    );
    let row = mount_row(&s, "/capped");
    assert_eq!(
        (&row["generation"], &row["config"]),
        (&serde_json::json!(3), &applied)
    );
    assert_eq!(
        s.send("PUT", "/api/v1/files?path=/capped/over", &over).0,
        200
    );
    assert_eq!(s.get("/api/v1/files?path=/capped/small"), (200, small));
}

#[test]
fn a_plugin_without_pfs_reconfigure_asks_for_a_remount() {
    let dir = tempfile::tempdir().unwrap();
    let s = server_with_plugin_dir(dir.path());
    let before = mount_row(&s, "/helloc");
    assert_eq!(before["generation"], 1, "{before}");

    let (code, v) = change(
        &s,
        serde_json::json!({"path": "/helloc", "config": {"greeting": "hi"}}),
    );
    assert_eq!(code, 501, "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(
        error.contains("plugin hellofs-c cannot change its config in place")
            && error.contains("ask for a remount (\"remount\": true)"),
        "{error}"
    );
    assert_eq!(
        mount_row(&s, "/helloc"),
        before,
        "a refused change changes nothing"
    );

    // The remount it points to works: a new instance with the new config, in the old one's place.
    let (code, v) = change(
        &s,
        serde_json::json!({"path": "/helloc", "config": {"greeting": "hi"}, "remount": true}),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        (&v["message"], &v["remounted"], &v["generation"]),
        (
            &serde_json::json!("plugin remounted"),
            &serde_json::json!(true),
            &serde_json::json!(2)
        ),
        "{v}"
    );
    let row = mount_row(&s, "/helloc");
    assert_eq!(
        (&row["generation"], &row["config"]),
        (
            &serde_json::json!(2),
            &serde_json::json!({"greeting": "hi"})
        )
    );
    assert_eq!(
        s.get("/api/v1/files?path=/helloc/hello"),
        (200, "Hello from C plugin!\n".into())
    );
}
