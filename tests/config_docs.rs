//! Each built-in plugin's declared config keys against what documents them: the key table of its
//! README (which is also its rustdoc and what `GET /api/v1/plugins` serves) and its section of
//! `config.example.yaml`. The keys are declared once, in the plugin (`fs_core::config_keys!`);
//!
//!     PFS_BLESS=1 cargo test -p tests --test config_docs
//!
//! rewrites the README tables from the declarations.

use std::path::{Path, PathBuf};

use fs_core::PluginRegistry;
use fs_core::config::docs::{bless_readme, check_readme, sample_key_marks};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn builtin_registry() -> PluginRegistry {
    let registry = PluginRegistry::new();
    builtin_plugins::register_builtin(&registry).expect("built-in plugin names are unique");
    registry
}

#[test]
fn readme_key_tables_follow_the_declared_keys() {
    let bless = std::env::var_os("PFS_BLESS").is_some();
    let mut failures = Vec::new();
    for plugin in builtin_registry().list() {
        let name = plugin.name();
        let path = root().join("plugins").join(name).join("README.md");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let params = plugin.config_params();
        match check_readme(&text, &params) {
            Ok(()) => {}
            Err(e) if bless => match bless_readme(&text, &params) {
                Some(blessed) => std::fs::write(&path, blessed).expect("write the README"),
                None => failures.push(format!("{name}: {e}")),
            },
            Err(e) => failures.push(format!("{name} ({}): {e}", path.display())),
        }
        if !bless {
            assert_eq!(
                plugin.readme(),
                text,
                "{name}: the README GET /plugins serves is not plugins/{name}/README.md"
            );
        }
    }
    assert!(
        failures.is_empty(),
        "README key tables differ from the declared keys (PFS_BLESS=1 rewrites them):\n\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn sample_config_sections_name_exactly_the_declared_keys_and_mark_the_live_ones() {
    let sample = std::fs::read_to_string(root().join("config.example.yaml"))
        .expect("read config.example.yaml");
    let mut failures = Vec::new();
    for plugin in builtin_registry().list() {
        let name = plugin.name();
        let Some(marks) = sample_key_marks(&sample, name) else {
            failures.push(format!("{name}: no section in config.example.yaml"));
            continue;
        };
        let found: std::collections::BTreeSet<String> = marks.keys().cloned().collect();
        let live = |p: &fs_core::ConfigParam| p.change == fs_core::config::Change::Live;
        for p in plugin.config_params() {
            if marks.get(p.name).is_some_and(|marked| *marked != live(&p)) {
                failures.push(format!(
                    "{name}: '{}' {} in place, so its line {} say \"(live)\"",
                    p.name,
                    if live(&p) {
                        "changes"
                    } else {
                        "does not change"
                    },
                    if live(&p) { "must" } else { "must not" },
                ));
            }
        }
        let declared: std::collections::BTreeSet<String> = plugin
            .config_params()
            .iter()
            .map(|p| p.name.to_string())
            .collect();
        let missing: Vec<_> = declared.difference(&found).collect();
        let unknown: Vec<_> = found.difference(&declared).collect();
        if !missing.is_empty() || !unknown.is_empty() {
            failures.push(format!(
                "{name}: keys not in its section: {missing:?}; keys in its section it does not declare: {unknown:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "config.example.yaml differs from the declared keys:\n{}",
        failures.join("\n")
    );
}
