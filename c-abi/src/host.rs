//! [`PluginHost`]: which libraries are loaded, where loading is allowed from, and load/unload with
//! the registry and the mount table kept consistent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fs_core::{Error, ErrorKind, MountableFs, PluginRegistry, Result, ServicePlugin};
use parking_lot::Mutex;

use pfs_plugin_proto::process::{Limits, ProcessPlugin};

use crate::adapter::{ExternalPlugin, is_library};
use crate::isolation::{Isolation, PluginPath, is_program, program_for};
use crate::loader::LoadedLibrary;

/// Where plugins may come from (the `external_plugins` config section).
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// Whether external plugins are enabled at all.
    pub enabled: bool,
    /// The plugin directory: scanned at start when `auto_load`, and the only place
    /// `POST /plugins/load` accepts files from unless `allow_any_path`.
    pub plugin_dir: Option<PathBuf>,
    /// Scan `plugin_dir` at start.
    pub auto_load: bool,
    /// Libraries (and plugin programs) loaded at start.
    pub plugin_paths: Vec<PluginPath>,
    /// Let `POST /plugins/load` load any file (loading a library runs its code).
    pub allow_any_path: bool,
    /// Where plugins run unless their entry says (programs are always isolated).
    pub isolation: Isolation,
    /// How isolated plugins' processes are supervised and limited.
    pub process: Limits,
    /// The program that hosts isolated plugins (`pfs-server plugin-host`); without it, isolated
    /// loads are refused.
    pub launcher: Option<PathBuf>,
}

impl HostConfig {
    /// The libraries and programs this section asks for, each with where it runs:
    /// `plugin_paths`, then every library below `plugin_dir` when `auto_load`; none when
    /// disabled.
    pub fn libraries(&self) -> Vec<(PathBuf, Isolation)> {
        if !self.enabled {
            return Vec::new();
        }
        let mut paths = self.plugin_paths.clone();
        if let (true, Some(dir)) = (self.auto_load, &self.plugin_dir) {
            let mut found = Vec::new();
            scan(dir, &mut found);
            paths.extend(found.into_iter().map(PluginPath::from));
        }
        paths
            .into_iter()
            .map(|p| {
                let isolation = self.isolation_of(&p.path, p.isolation);
                (p.path, isolation)
            })
            .collect()
    }

    /// Where `path` runs when loaded with `asked` (or the section's default): a program always
    /// in a process of its own.
    pub fn isolation_of(&self, path: &Path, asked: Option<Isolation>) -> Isolation {
        if is_program(path) {
            Isolation::Process
        } else {
            asked.unwrap_or(self.isolation)
        }
    }
}

/// What [`PluginHost::reconcile`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Names of the plugins loaded.
    pub loaded: Vec<String>,
    /// Names of the plugins unloaded.
    pub unloaded: Vec<String>,
    /// Libraries that could not be loaded or unloaded, with why.
    pub failed: Vec<(String, String)>,
}

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The name the plugin is registered under.
    pub name: String,
    /// The plugin's own name, when it had to be renamed because of a clash.
    pub original_name: Option<String>,
    /// Where it runs.
    pub isolation: Isolation,
}

/// The loaded external plugins.
#[derive(Debug, Default)]
pub struct PluginHost {
    config: Mutex<HostConfig>,
    loaded: Mutex<BTreeMap<PathBuf, Arc<dyn ServicePlugin>>>,
}

impl PluginHost {
    /// A host with nothing loaded.
    pub fn new(config: HostConfig) -> Self {
        PluginHost {
            config: Mutex::new(config),
            loaded: Mutex::default(),
        }
    }

    /// Loads every configured library (`plugin_paths`, and every library below `plugin_dir` when
    /// `auto_load`), logging `load [<name>] plugin from <path>` for each; returns the failures.
    pub async fn load_configured(&self, registry: &PluginRegistry) -> Vec<(PathBuf, Error)> {
        let paths = self.config.lock().libraries();
        let mut failures = Vec::new();
        for (p, isolation) in paths {
            if self.is_loaded(&p) {
                continue;
            }
            if let Err(e) = self.load_as(registry, &p, isolation).await {
                tracing::error!("cannot load plugin {}: {e}", p.display());
                failures.push((p, e));
            }
        }
        failures
    }

    /// Where `path` runs when loaded with `asked` (or the config's default).
    pub fn isolation_of(&self, path: &Path, asked: Option<Isolation>) -> Isolation {
        self.config.lock().isolation_of(path, asked)
    }

    /// Checks that the API may load `path`: plugins enabled, and inside the plugin directory
    /// unless `allow_any_path`.
    ///
    /// # Errors
    /// `PermissionDenied` saying which setting forbids it; `InvalidArgument` for URLs.
    pub fn check_api_path(&self, path: &str) -> Result<PathBuf> {
        if path.contains("://") {
            return Err(Error::invalid_argument(format!(
                "cannot load {path}: only local files can be loaded (no URLs)"
            )));
        }
        let config = self.config.lock().clone();
        if !config.enabled {
            return Err(Error::permission_denied(path)
                .with_message("permission denied: external plugins are disabled (external_plugins.enabled: false)"));
        }
        let canonical = Path::new(path).canonicalize().map_err(|e| {
            Error::not_found(path).with_message(format!("not found: cannot open the library: {e}"))
        })?;
        if config.allow_any_path {
            return Ok(canonical);
        }
        let inside = config
            .plugin_dir
            .as_ref()
            .and_then(|d| d.canonicalize().ok())
            .is_some_and(|d| canonical.starts_with(d));
        if inside {
            Ok(canonical)
        } else {
            Err(Error::permission_denied(path).with_message(format!(
                "permission denied: {} is outside the plugin directory {} \
                 (set external_plugins.allow_any_path: true to load from anywhere)",
                canonical.display(),
                config
                    .plugin_dir
                    .as_ref()
                    .map_or("(none configured)".to_string(), |d| d.display().to_string())
            )))
        }
    }

    /// Loads the library at `path` and registers it, renamed `name-1`, `name-2`, ... when its name
    /// is taken.
    ///
    /// # Errors
    /// `AlreadyExists` when this file is already loaded; the loader's errors otherwise.
    pub fn load(&self, registry: &PluginRegistry, path: &Path) -> Result<Loaded> {
        let canonical = self.not_loaded(path)?;
        let lib = Arc::new(LoadedLibrary::load(&canonical)?);
        let original = lib.name.clone();
        self.register(
            registry,
            &canonical,
            &original,
            Isolation::InProcess,
            |name| Arc::new(ExternalPlugin::new(lib.clone(), name)),
        )
    }

    /// Loads `path` where `isolation` says ([`PluginHost::load`] in-process; a process of its
    /// own, probed for its hello, otherwise; a program always so).
    ///
    /// # Errors
    /// As [`PluginHost::load`]; `InvalidArgument` for a plugin process that does not start or
    /// whose handshake is wrong (naming both versions or cookies).
    pub async fn load_as(
        &self,
        registry: &PluginRegistry,
        path: &Path,
        isolation: Isolation,
    ) -> Result<Loaded> {
        let config = self.config.lock().clone();
        if config.isolation_of(path, Some(isolation)) == Isolation::InProcess {
            return self.load(registry, path);
        }
        let canonical = self.not_loaded(path)?;
        let program = program_for(&canonical, config.launcher.as_deref(), &config.process)?;
        let probed = ProcessPlugin::probe(program, config.process.clone()).await?;
        let original = probed.name().to_string();
        let mut probed = Some(probed);
        self.register(
            registry,
            &canonical,
            &original,
            Isolation::Process,
            |name| {
                let p = probed.take().expect("registered once").renamed(name);
                Arc::new(p)
            },
        )
    }

    /// Whether the file at `path` is loaded.
    pub fn is_loaded(&self, path: &Path) -> bool {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        self.loaded.lock().contains_key(&canonical)
    }

    /// `path`, canonical, when nothing is loaded from it.
    fn not_loaded(&self, path: &Path) -> Result<PathBuf> {
        let canonical = path.canonicalize().map_err(|e| {
            Error::not_found(path.display().to_string())
                .with_message(format!("not found: cannot open the library: {e}"))
        })?;
        if let Some(p) = self.loaded.lock().get(&canonical) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "plugin {} is already loaded from {} (unload it first)",
                    p.name(),
                    canonical.display()
                ),
            ));
        }
        Ok(canonical)
    }

    /// Registers the plugin `make` builds under `original`, or `original-1`, `original-2`, ...
    /// when the name is taken.
    fn register(
        &self,
        registry: &PluginRegistry,
        canonical: &Path,
        original: &str,
        isolation: Isolation,
        mut make: impl FnMut(String) -> Arc<dyn ServicePlugin>,
    ) -> Result<Loaded> {
        let mut loaded = self.loaded.lock();
        if loaded.contains_key(canonical) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("{} was loaded meanwhile", canonical.display()),
            ));
        }
        let mut name = original.to_string();
        let mut n = 0;
        // A clash is known before anything is built (a process plugin is built once).
        while registry.get(&name).is_ok() {
            n += 1;
            name = format!("{original}-{n}");
        }
        let plugin = make(name.clone());
        registry.register(plugin.clone())?;
        loaded.insert(canonical.to_path_buf(), plugin);
        tracing::info!(
            "load [{name}] plugin from {} ({})",
            canonical.display(),
            isolation.as_str()
        );
        Ok(Loaded {
            original_name: (name != original).then_some(original.to_string()),
            name,
            isolation,
        })
    }

    /// Unloads the library loaded from `path`. Refused while mounted, unless `force`, which
    /// unmounts its mounts first. The code is unmapped when the last instance is gone.
    ///
    /// # Errors
    /// `NotFound` when the file is not loaded; `AlreadyExists` (409) naming the mounts while the
    /// plugin is still mounted and `force` is not set.
    pub async fn unload(
        &self,
        registry: &PluginRegistry,
        fs: &MountableFs,
        path: &str,
        force: bool,
    ) -> Result<String> {
        let canonical = Path::new(path)
            .canonicalize()
            .unwrap_or_else(|_| PathBuf::from(path));
        let plugin = self.loaded.lock().get(&canonical).cloned().ok_or_else(|| {
            Error::not_found(path).with_message(format!(
                "not found: plugin not loaded: {}",
                canonical.display()
            ))
        })?;
        let name = plugin.name().to_string();
        let mounts: Vec<String> = fs
            .mounts()
            .into_iter()
            .filter(|m| m.plugin == name)
            .map(|m| m.path.clone())
            .collect();
        if !mounts.is_empty() && !force {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "plugin {name} is still mounted at {} (unmount first, or unload with force)",
                    mounts.join(", ")
                ),
            ));
        }
        for m in &mounts {
            if let Err(e) = fs.unmount(m).await {
                tracing::error!(path = %m, "unmount before unload: {e}");
            }
        }
        self.loaded.lock().remove(&canonical);
        registry.unregister(&name);
        tracing::info!("unload [{name}] plugin from {}", canonical.display());
        Ok(name)
    }

    /// Takes a new `external_plugins` section (a config reload): libraries it lists that are not
    /// loaded are loaded; libraries the previous section listed and this one does not are
    /// unloaded, their mounts unmounted first; libraries loaded through the API stay. The
    /// directory and path rules of `POST /plugins/load` follow the new section.
    pub async fn reconcile(
        &self,
        registry: &PluginRegistry,
        fs: &MountableFs,
        config: HostConfig,
    ) -> Reconciled {
        let canonical = |paths: Vec<(PathBuf, Isolation)>| -> Vec<(PathBuf, Isolation)> {
            paths
                .into_iter()
                .map(|(p, i)| (p.canonicalize().unwrap_or(p), i))
                .collect()
        };
        let old = canonical(self.config.lock().libraries());
        let new = canonical(config.libraries());
        *self.config.lock() = config;
        let mut out = Reconciled::default();
        let listed = |p: &PathBuf| new.iter().any(|(n, _)| n == p);
        for (gone, _) in old.iter().filter(|(p, _)| !listed(p)) {
            if !self.loaded.lock().contains_key(gone) {
                continue;
            }
            let path = gone.display().to_string();
            match self.unload(registry, fs, &path, true).await {
                Ok(name) => out.unloaded.push(name),
                Err(e) => out.failed.push((path, e.to_string())),
            }
        }
        for (p, isolation) in new {
            if self.loaded.lock().contains_key(&p) {
                continue;
            }
            match self.load_as(registry, &p, isolation).await {
                Ok(l) => out.loaded.push(l.name),
                Err(e) => out.failed.push((p.display().to_string(), e.to_string())),
            }
        }
        out
    }

    /// Every loaded plugin, by path.
    pub fn loaded(&self) -> Vec<Arc<dyn ServicePlugin>> {
        self.loaded.lock().values().cloned().collect()
    }
}

/// Collects the libraries below `dir`, recursively, sorted.
fn scan(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        tracing::warn!("plugin_dir {} cannot be read", dir.display());
        return;
    };
    let mut found: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    found.sort();
    for p in found {
        if p.is_dir() {
            scan(&p, out);
        } else if is_library(&p) {
            // Programs are loaded only when named (plugin_paths, the API): a plugin directory
            // may hold helper executables that are not plugins.
            out.push(p);
        }
    }
}
