//! The YAML config: AGFS's schema (`server`, `external_plugins`, `plugins` in single and list form),
//! the embedded default, and the startup checks that name what is allowed. The `server` section is
//! in `server`, secret masking in [`redact`].

mod auth;
mod external;
mod redact;
mod server;

pub use auth::{AuthConfig, MIN_TOKEN_LEN, TokenConfig};
pub use external::{ExternalPluginsConfig, PluginPathEntry, ProcessConfig};
pub use redact::{is_secret_key, redact};
pub use server::{
    DEFAULT_MAX_BODY, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HANDLES, DEFAULT_TIMEOUT, Seconds,
    ServerConfig, default_data_dir, parse_addr,
};

use fs_core::{Error, PluginRegistry, Result};
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

/// The config the server runs on when no `-c` is given: the seed README's mount paths.
pub const DEFAULT_CONFIG: &str = include_str!("../default-config.yaml");

/// The documented sample config (`--print-sample-config`).
pub const SAMPLE_CONFIG: &str = include_str!("../../../config.example.yaml");

/// The whole config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener and limits.
    #[serde(default)]
    pub server: ServerConfig,
    /// External (shared-library) plugins; kept for the C-ABI loader.
    #[serde(default)]
    pub external_plugins: ExternalPluginsConfig,
    /// Mounts, keyed by plugin name, in file order.
    #[serde(default)]
    pub plugins: IndexMap<String, PluginEntry>,
}

/// One plugin key of `plugins`: a single instance or a list of named instances.
#[derive(Debug, Clone)]
pub enum PluginEntry {
    /// `memfs: {path: /memfs, config: {...}}`
    Single(Instance),
    /// `sqlfs: [{name: local, path: /sqlfs, ...}, ...]`
    List(Vec<Instance>),
}

// By hand rather than `#[serde(untagged)]`: an untagged enum reports a misspelled key of an
// instance only as "did not match any variant"; this way the error names the key and the allowed
// ones.
impl<'de> Deserialize<'de> for PluginEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = PluginEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mount ({path, name, enabled, config}) or a list of them")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<PluginEntry, A::Error> {
                let raw = SingleOrInstances::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                raw.into_entry().map_err(serde::de::Error::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> std::result::Result<PluginEntry, A::Error> {
                Vec::<Instance>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(PluginEntry::List)
            }
        }
        d.deserialize_any(Entry)
    }
}

/// The map form of an entry: one mount, or AGFS's sample's `instances:` list (which AGFS itself
/// ignores, mounting nothing; pfs mounts what it lists, as its writer meant).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SingleOrInstances {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    config: Value,
    #[serde(default)]
    instances: Option<Vec<Instance>>,
}

impl SingleOrInstances {
    fn into_entry(self) -> std::result::Result<PluginEntry, String> {
        match (self.instances, self.path) {
            (Some(list), None) if self.config.is_null() && self.name.is_none() => {
                // `enabled: false` on the parent turns the whole list off.
                Ok(PluginEntry::List(
                    list.into_iter()
                        .map(|mut i| {
                            if self.enabled == Some(false) {
                                i.enabled = Some(false);
                            }
                            i
                        })
                        .collect(),
                ))
            }
            (Some(_), _) => Err(
                "an entry with `instances` takes no path, name or config of its own: put them in each instance".into(),
            ),
            (None, Some(path)) => Ok(PluginEntry::Single(Instance {
                name: self.name,
                enabled: self.enabled,
                path,
                config: self.config,
            })),
            (None, None) => Err("missing field `path`: a mount is {path, name, enabled, config}".into()),
        }
    }
}

/// One mount declared in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// Instance name (multi-instance form), shown in `/mounts` as `instance`.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether to mount it; omitted means enabled (AGFS defaulted to disabled).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Mount path.
    pub path: String,
    /// Plugin config.
    #[serde(default)]
    pub config: Value,
}

/// A mount to perform at start.
#[derive(Debug, Clone)]
pub struct PlannedMount {
    /// Plugin name.
    pub plugin: String,
    /// Instance name, if any.
    pub instance: Option<String>,
    /// Normalized mount path.
    pub path: String,
    /// Plugin config.
    pub config: Value,
}

impl Config {
    /// Parses YAML text.
    ///
    /// # Errors
    /// `InvalidArgument` with the parser's message (which names unknown keys and the allowed ones).
    pub fn parse(text: &str) -> Result<Config> {
        // Without the parser's snippet of the file: the line it would quote may hold a token or
        // a password, and the message reaches logs and the reload answer. Line and column stay.
        let mut cfg: Config = serde_saphyr::from_str(text).map_err(|e| {
            Error::invalid_argument(format!("invalid config: {}", e.without_snippet()))
        })?;
        for entry in cfg.plugins.values_mut() {
            for inst in entry.instances_mut() {
                if inst.config.is_null() {
                    inst.config = Value::Object(Default::default());
                }
            }
        }
        cfg.server.api_mount_policy()?;
        cfg.server.auth.check()?;
        cfg.external_plugins.process.limits()?;
        Ok(cfg)
    }

    /// The embedded default config.
    pub fn embedded_default() -> Config {
        Config::parse(DEFAULT_CONFIG).expect("the embedded default config parses")
    }

    /// Checks every enabled mount against the registry and returns them in file order.
    ///
    /// # Behavior
    /// - A disabled entry is skipped before its plugin is looked up (as AGFS does), so a config
    ///   may name plugins this build lacks (`sqlfs2`, `gptfs`, `vectorfs`) as long as they are off.
    /// - An enabled entry of a plugin the registry does not have is not an error: it is returned
    ///   in [`Plan::unknown`] with a message naming the closest plugin, and becomes a `failed`
    ///   mount while the rest serve (`--strict` makes it stop the server instead).
    ///
    /// # Errors
    /// `InvalidArgument` for a config key a known plugin does not accept (naming the accepted
    /// ones), a value of the wrong type, a bad or duplicate path.
    pub fn plan(&self, registry: &PluginRegistry) -> Result<Plan> {
        self.plan_all(registry)
            .map_err(|problems| Error::invalid_argument(problems.join("; ")))
    }

    /// [`Config::plan`], reporting every problem rather than the first, and with `/dev` (devfs)
    /// first unless the file mounts something there.
    ///
    /// # Errors
    /// Each problem, one line each.
    pub fn plan_all(&self, registry: &PluginRegistry) -> std::result::Result<Plan, Vec<String>> {
        let mut problems = Vec::new();
        let mut plan = Plan::default();
        for (plugin_name, entry) in &self.plugins {
            for inst in entry.instances() {
                if inst.enabled == Some(false) {
                    tracing::debug!(plugin = %plugin_name, path = %inst.path, "config: skipping a disabled mount");
                    continue;
                }
                let path = match fs_core::path::normalize(&inst.path) {
                    Ok(p) => p,
                    Err(e) => {
                        problems.push(format!("config: plugin '{plugin_name}': {e}"));
                        continue;
                    }
                };
                if plan.mounts.iter().any(|m| m.path == path)
                    || plan.unknown.iter().any(|m| m.mount.path == path)
                {
                    problems.push(format!("config: two mounts at {path}"));
                    continue;
                }
                let mount = PlannedMount {
                    plugin: plugin_name.clone(),
                    instance: inst.name.clone(),
                    path,
                    config: inst.config.clone(),
                };
                let Ok(plugin) = registry.get(plugin_name) else {
                    let error = unknown_plugin(plugin_name, &registry.names());
                    plan.unknown.push(UnknownMount { mount, error });
                    continue;
                };
                if let Err(e) = plugin.check_keys(&inst.config) {
                    problems.push(format!(
                        "config: plugin '{plugin_name}' at {}: {e}",
                        mount.path
                    ));
                    continue;
                }
                plan.mounts.push(mount);
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        if !plan.mounts.iter().any(|m| m.path == "/dev") {
            plan.mounts.insert(
                0,
                PlannedMount {
                    plugin: "devfs".into(),
                    instance: None,
                    path: "/dev".into(),
                    config: serde_json::json!({}),
                },
            );
        }
        Ok(plan)
    }
}

/// The mounts a config asks for ([`Config::plan`]).
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The mounts of known plugins, in file order.
    pub mounts: Vec<PlannedMount>,
    /// Enabled entries naming a plugin this server does not have.
    pub unknown: Vec<UnknownMount>,
}

/// An enabled config entry whose plugin this server does not have: a `failed` mount.
#[derive(Debug, Clone)]
pub struct UnknownMount {
    /// Where it would have been mounted.
    pub mount: PlannedMount,
    /// Why it is not: the name, the closest known plugin, what is available.
    pub error: String,
}

/// The message for an unknown plugin name: the closest known one (a name that begins with a
/// plugin's, as the seed README's `localfs_home:`, or the fewest edits away), and every name.
fn unknown_plugin(name: &str, known: &[String]) -> String {
    let closest = known
        .iter()
        .filter(|k| name.starts_with(k.as_str()))
        .max_by_key(|k| k.len())
        .or_else(|| known.iter().min_by_key(|k| edit_distance(name, k)));
    let hint = match closest {
        Some(k) if name.starts_with(k.as_str()) => format!(
            "; did you mean '{k}'? An entry's key is its plugin's name: for several {k} mounts use the list form ({k}: [{{name, path, config}}, ...])"
        ),
        Some(k) => format!("; the closest is '{k}'"),
        None => String::new(),
    };
    format!(
        "unknown plugin '{name}': this server has no such plugin{hint} (available: {})",
        known.join(", ")
    )
}

/// Levenshtein distance, for suggesting a plugin name.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

impl PluginEntry {
    fn instances(&self) -> &[Instance] {
        match self {
            PluginEntry::Single(i) => std::slice::from_ref(i),
            PluginEntry::List(v) => v,
        }
    }

    fn instances_mut(&mut self) -> &mut [Instance] {
        match self {
            PluginEntry::Single(i) => std::slice::from_mut(i),
            PluginEntry::List(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry() -> PluginRegistry {
        let r = PluginRegistry::new();
        builtin_plugins::register_builtin(&r).unwrap();
        r
    }

    #[test]
    fn parse_accepts_single_and_list_forms() {
        let cfg = Config::parse(
            "server: {address: ':9000'}\nplugins:\n  memfs:\n    path: /m\n    config: {init_dirs: [/a]}\n  kvfs:\n    - name: one\n      path: /k1\n    - name: two\n      enabled: false\n      path: /k2\n",
        )
        .unwrap();
        let plan = cfg.plan(&registry()).unwrap().mounts;
        let paths: Vec<_> = plan.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["/dev", "/m", "/k1"], "/dev first, always");
        assert_eq!(plan[1].config, json!({"init_dirs": ["/a"]}));
        assert_eq!(plan[2].instance.as_deref(), Some("one"));
        assert_eq!(cfg.server.address, ":9000");
    }

    #[test]
    fn an_unknown_plugin_is_a_failed_mount_naming_the_closest_one() {
        let cfg = Config::parse(
            "plugins:\n  nosuchfs: {path: /x}\n  sqlfs2: {path: /s2}\n  localfs_home: {path: /home, config: {local_dir: /h}}\n  memfs: {path: /m}\n",
        )
        .unwrap();
        let plan = cfg.plan(&registry()).unwrap();
        assert_eq!(
            plan.mounts.len(),
            2,
            "the known plugin (and /dev) still mount"
        );
        let errors: Vec<(&str, &str)> = plan
            .unknown
            .iter()
            .map(|u| (u.mount.path.as_str(), u.error.as_str()))
            .collect();
        assert_eq!(errors.len(), 3);
        for (path, e) in &errors {
            assert!(
                e.contains("unknown plugin") && e.contains("available: devfs"),
                "{path}: {e}"
            );
        }
        assert!(
            errors[1].1.contains("did you mean 'sqlfs'"),
            "{}",
            errors[1].1
        );
        assert!(
            errors[2].1.contains("did you mean 'localfs'") && errors[2].1.contains("list form"),
            "{}",
            errors[2].1
        );
    }

    /// AGFS skips disabled entries before it looks their plugin up; so does pfs, checking nothing
    /// in them.
    #[test]
    fn disabled_entries_are_skipped_unchecked() {
        let cfg = Config::parse(
            "plugins:\n  gptfs: {enabled: false, path: /gpt, config: {api_key: k}}\n  memfs:\n    - {name: a, path: /a}\n    - {name: off, enabled: false, path: /b, config: {no_such_key: 1}}\n",
        )
        .unwrap();
        let plan = cfg.plan(&registry()).unwrap();
        assert!(plan.unknown.is_empty());
        let paths: Vec<_> = plan.mounts.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["/dev", "/a"]);
    }

    /// The `instances:` list AGFS's sample prints (and AGFS ignores) mounts what it lists.
    #[test]
    fn an_instances_list_is_the_list_form() {
        let cfg = Config::parse(
            "plugins:\n  kvfs:\n    instances:\n      - {name: one, path: /k1}\n      - {name: two, enabled: false, path: /k2}\n  memfs:\n    enabled: false\n    instances:\n      - {name: m, path: /m}\n",
        )
        .unwrap();
        let plan = cfg.plan(&registry()).unwrap();
        let paths: Vec<_> = plan.mounts.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["/dev", "/k1"]);
        let e = Config::parse("plugins:\n  kvfs: {path: /k, instances: []}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("instances"), "{e}");
    }

    #[test]
    fn plan_rejects_unknown_config_key_naming_the_allowed_ones() {
        let cfg = Config::parse("plugins:\n  memfs:\n    path: /m\n    config: {init_dir: [/a]}\n")
            .unwrap();
        let e = cfg.plan(&registry()).unwrap_err().to_string();
        assert!(e.contains("'init_dir'") && e.contains("'init_dirs'"), "{e}");
    }

    #[test]
    fn a_misspelled_instance_key_is_named_with_the_allowed_ones() {
        for yaml in [
            "plugins:\n  memfs: {pth: /memfs}\n",
            "plugins:\n  memfs:\n    - {name: a, path: /a, enable: true}\n",
        ] {
            let e = Config::parse(yaml).unwrap_err().to_string();
            assert!(
                (e.contains("pth") || e.contains("enable"))
                    && e.contains("path")
                    && e.contains("enabled"),
                "{e}"
            );
        }
        let e = Config::parse("plugins:\n  memfs: /memfs\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a mount"), "{e}");
    }

    #[test]
    fn parse_rejects_unknown_server_key() {
        let e = Config::parse("server: {adress: ':1'}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("adress"), "{e}");
    }

    #[test]
    fn embedded_default_plans_the_seed_paths() {
        let plan = Config::embedded_default().plan(&registry()).unwrap().mounts;
        let paths: Vec<_> = plan.iter().map(|m| m.path.as_str()).collect();
        for p in ["/memfs", "/kvfs", "/hellofs", "/serverinfofs", "/dev"] {
            assert!(paths.contains(&p), "{p} missing from {paths:?}");
        }
    }
}
