//! Plugins: the [`ServicePlugin`] factory trait, the context a mount gets, and the
//! [`PluginRegistry`] of every plugin the server can mount. Config keys and their checks are in
//! [`crate::config`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::SystemTime;

use async_trait::async_trait;
use parking_lot::RwLock;
use serde_json::Value;

pub use crate::config::{ConfigParam, MOUNT_PATH_KEY, check_config};
#[doc(hidden)]
pub use crate::config::{MAX_DURATION, parse_duration, parse_size, seconds};
use crate::{Error, FileSystem, MountableFs, Result};

/// Process-wide facts a plugin may show (serverinfofs) or need.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// The server's version.
    pub version: String,
    /// When the server started.
    pub started: SystemTime,
    /// Where plugins keep files whose location their config leaves out (sqlfs's default database);
    /// `None`: the working directory, as in AGFS.
    pub data_dir: Option<std::path::PathBuf>,
}

/// What a plugin gets when it is mounted.
#[derive(Debug, Clone)]
pub struct MountContext {
    /// The normalized path the filesystem is being mounted at.
    pub mount_path: String,
    /// The plugin's config (already checked by `validate`).
    pub config: Value,
    /// The whole tree, for plugins that read or write other mounts (httpfs, streamrotatefs).
    pub root: Weak<MountableFs>,
    /// Facts about the server.
    pub server: ServerInfo,
    /// What the mount may do beyond pfs (unrestricted for config mounts).
    pub policy: crate::policy::MountPolicy,
}

/// A plugin: a named factory of filesystems (AGFS's `ServicePlugin`).
///
/// The registry holds one per plugin name; every mount calls [`ServicePlugin::initialize`] again and
/// gets its own filesystem instance, whose [`FileSystem::shutdown`] runs once when it is unmounted.
#[async_trait]
pub trait ServicePlugin: Send + Sync + fmt::Debug + 'static {
    /// The plugin's name: the `fstype` of `POST /mount` and the key in the YAML config.
    fn name(&self) -> &str;

    /// The plugin's README (Markdown), shown by `GET /plugins` and, where the plugin has one, as the
    /// `README` file at its mount root.
    fn readme(&self) -> &str;

    /// The config keys the plugin accepts, each declared once (see [`crate::config`]).
    fn config_params(&self) -> Vec<ConfigParam>;

    /// Checks a config's shape only: unknown keys, missing required keys, wrong types. The server
    /// runs it on every config before [`ServicePlugin::validate`] (at startup on every config
    /// mount, so a typo stops the server before it serves; and at each mount).
    ///
    /// # Errors
    /// `InvalidArgument` naming the key. The default runs [`check_config`] against
    /// [`ServicePlugin::config_params`].
    fn check_keys(&self, config: &Value) -> Result<()> {
        check_config(&self.config_params(), config)
    }

    /// Checks a config whose keys passed [`ServicePlugin::check_keys`] for what the keys alone
    /// cannot say (ranges, combinations), without side effects, before `initialize`.
    ///
    /// # Errors
    /// `InvalidArgument` naming the problem. The default accepts. A failure here (at mount time)
    /// leaves the mount `failed`.
    fn validate(&self, _config: &Value) -> Result<()> {
        Ok(())
    }

    /// Creates a filesystem instance for one mount.
    ///
    /// # Errors
    /// Any error the backend reports; nothing is mounted then.
    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>>;

    /// Whether the plugin is loaded from a shared library (`is_external` in `GET /plugins`).
    fn library_path(&self) -> Option<&str> {
        None
    }

    /// Whether each mount of the plugin runs in a process of its own (`isolation` in
    /// `GET /plugins`).
    fn isolated(&self) -> bool {
        false
    }
}

/// Everything the server checks of a config before mounting it: the keys
/// ([`ServicePlugin::check_keys`]), then the plugin's own rules ([`ServicePlugin::validate`]).
///
/// # Errors
/// The first check's `InvalidArgument`.
pub fn vet(plugin: &(impl ServicePlugin + ?Sized), config: &Value) -> Result<()> {
    plugin.check_keys(config)?;
    plugin.validate(config)
}

/// Every plugin the server knows, by name. Reads are frequent (mounts), writes rare (external loads).
#[derive(Debug, Default)]
pub struct PluginRegistry {
    plugins: RwLock<BTreeMap<String, Arc<dyn ServicePlugin>>>,
}

impl PluginRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a plugin under its name.
    ///
    /// # Errors
    /// `AlreadyExists` when the name is taken.
    pub fn register(&self, plugin: Arc<dyn ServicePlugin>) -> Result<()> {
        let mut map = self.plugins.write();
        let name = plugin.name().to_string();
        if map.contains_key(&name) {
            return Err(Error::new(
                crate::ErrorKind::AlreadyExists,
                format!("plugin already registered: {name}"),
            ));
        }
        map.insert(name, plugin);
        Ok(())
    }

    /// Removes the plugin called `name`, returning it.
    pub fn unregister(&self, name: &str) -> Option<Arc<dyn ServicePlugin>> {
        self.plugins.write().remove(name)
    }

    /// The plugin called `name`.
    ///
    /// # Errors
    /// `InvalidArgument` naming the available plugins.
    pub fn get(&self, name: &str) -> Result<Arc<dyn ServicePlugin>> {
        let map = self.plugins.read();
        map.get(name).cloned().ok_or_else(|| {
            Error::invalid_argument(format!(
                "unknown filesystem type: {name} (available: {})",
                map.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// All plugins, sorted by name.
    pub fn list(&self) -> Vec<Arc<dyn ServicePlugin>> {
        self.plugins.read().values().cloned().collect()
    }

    /// All plugin names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.plugins.read().keys().cloned().collect()
    }
}
