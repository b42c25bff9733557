//! The shared state of the HTTP layer: the mount router, the plugin registry, the status of config
//! mounts, and the limits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use fs_core::{MountableFs, PluginRegistry, ServerInfo};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;

use crate::config::{Config, PlannedMount};
use crate::handles::HandleTable;

/// The server's version (`/version`, `/health`, serverinfofs).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the binary was built from, when the build provided it.
pub const GIT_COMMIT: &str = match option_env!("PFS_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};
/// When the binary was built, when the build provided it.
pub const BUILD_TIME: &str = match option_env!("PFS_BUILD_TIME") {
    Some(t) => t,
    None => "unknown",
};

/// Everything a handler needs: one `Arc`, so the per-request clone is one reference count.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The state behind [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// The mount router: the whole tree.
    pub fs: Arc<MountableFs>,
    /// Every plugin that can be mounted.
    pub registry: Arc<PluginRegistry>,
    /// The status of mounts declared in the config.
    pub tracker: Arc<MountTracker>,
    /// Largest accepted request body.
    pub max_body: u64,
    /// The config the server started with (a reload changes mounts and plugins, and reports
    /// `server` keys that differ; these apply at the next start).
    pub config: Arc<Config>,
    /// The external (shared-library) plugins.
    pub host: c_abi::PluginHost,
    /// The open handles (`/handles`); a mount's handles close when it is unmounted.
    pub handles: Arc<HandleTable>,
    /// What mounts made through the API may do (`server.api_mount_listen`).
    pub api_mount_policy: fs_core::policy::MountPolicy,
    /// The file a reload re-reads; `None`: the embedded default.
    pub(crate) config_source: Mutex<Option<std::path::PathBuf>>,
    /// The config last read (at start or by a reload); held by a reload while it runs.
    pub(crate) running: tokio::sync::Mutex<Arc<Config>>,
    /// Who may call the API (`server.auth`), swapped whole by a reload.
    pub auth: Arc<arc_swap::ArcSwap<crate::auth::Auth>>,
    /// Whether the config's external plugins were loaded ([`AppState::load_plugins`]).
    plugins_loaded: std::sync::atomic::AtomicBool,
}

impl AppState {
    /// State for `config`, with every built-in plugin registered and nothing mounted yet; the
    /// configured external plugins load with [`AppState::load_plugins`] (which
    /// [`crate::start_mounts`] calls).
    pub fn new(config: Config) -> Self {
        let registry = PluginRegistry::new();
        builtin_plugins::register_builtin(&registry).expect("built-in plugin names are unique");
        let host = c_abi::PluginHost::new(config.external_plugins.host_config());
        let server = ServerInfo {
            version: VERSION.to_string(),
            started: SystemTime::now(),
            data_dir: (!config.server.data_dir.is_empty())
                .then(|| std::path::PathBuf::from(&config.server.data_dir)),
        };
        let fs = MountableFs::new(server);
        fs.set_hook_timeout(config.server.hook_timeout.0);
        let handles = HandleTable::new(config.server.max_handles());
        let table = Arc::downgrade(&handles);
        fs.on_unmount(move |mount| {
            if let Some(table) = table.upgrade() {
                let n = table.close_mount(mount);
                if n > 0 {
                    tracing::info!(path = %mount.path, handles = n, "closed the unmounted mount's handles");
                }
            }
        });
        let api_mount_policy = config
            .server
            .api_mount_policy()
            .expect("checked when the config was parsed");
        // Checked when the config was parsed; a token file or variable gone since fails closed.
        let auth = config.server.auth.build().unwrap_or_else(|e| {
            tracing::error!("{e}");
            crate::auth::Auth::refusing(e.to_string())
        });
        AppState(Arc::new(Shared {
            auth: Arc::new(arc_swap::ArcSwap::from_pointee(auth)),
            api_mount_policy,
            fs,
            registry: Arc::new(registry),
            tracker: Arc::new(MountTracker::default()),
            max_body: config.server.max_body(),
            config_source: Mutex::new(None),
            plugins_loaded: std::sync::atomic::AtomicBool::new(false),
            running: tokio::sync::Mutex::new(Arc::new(config.clone())),
            config: Arc::new(config),
            host,
            handles,
        }))
    }

    /// Loads the external plugins the config lists (once; failures are logged and leave their
    /// mounts failed). Isolated ones are started once to read their hello, so this is async.
    pub async fn load_plugins(&self) {
        if self
            .plugins_loaded
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        self.host.load_configured(&self.registry).await;
    }

    /// Mounts one planned mount, recording its progress in the tracker.
    pub async fn mount_planned(&self, m: &PlannedMount) {
        self.tracker.set(m, MountStatus::Pending, None);
        let result = self
            .fs
            .mount_plugin(
                &self.registry,
                &m.plugin,
                &m.path,
                m.instance.clone(),
                m.config.clone(),
            )
            .await;
        match result {
            Ok(()) => {
                tracing::info!(path = %m.path, plugin = %m.plugin, "mounted");
                self.tracker.set(m, MountStatus::Mounted, None);
            }
            Err(e) => {
                tracing::error!(path = %m.path, plugin = %m.plugin, "mount failed: {e}");
                self.tracker
                    .set(m, MountStatus::Failed, Some(e.to_string()));
            }
        }
    }
}

/// Where a config mount is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountStatus {
    /// Declared, not mounted yet.
    Pending,
    /// Serving.
    Mounted,
    /// Validate or initialize failed, or (a plugin process) it failed too often after it was
    /// mounted; `error` says why.
    Failed,
    /// Mounted, but its plugin process failed and is being started again; `error` says why.
    Restarting,
}

/// One config mount's record.
#[derive(Debug, Clone)]
pub struct MountRecord {
    /// Plugin name.
    pub plugin: String,
    /// Instance name.
    pub instance: Option<String>,
    /// Config as declared.
    pub config: Value,
    /// Status.
    pub status: MountStatus,
    /// Why it failed.
    pub error: Option<String>,
}

/// The status of every mount declared in the config (AGFS's readiness tracker).
#[derive(Debug, Default)]
pub struct MountTracker {
    records: Mutex<BTreeMap<String, MountRecord>>,
}

/// Counts of config mounts by status (`mounts` in `/health`).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct MountSummary {
    /// All config mounts.
    pub total: usize,
    /// Not mounted yet.
    pub pending: usize,
    /// Serving.
    pub mounted: usize,
    /// Failed.
    pub failed: usize,
}

impl MountTracker {
    /// Records the status of a planned mount.
    pub fn set(&self, m: &PlannedMount, status: MountStatus, error: Option<String>) {
        self.records.lock().insert(
            m.path.clone(),
            MountRecord {
                plugin: m.plugin.clone(),
                instance: m.instance.clone(),
                config: m.config.clone(),
                status,
                error,
            },
        );
    }

    /// Forgets the record at `path` (after an unmount through the API).
    pub fn forget(&self, path: &str) {
        self.records.lock().remove(path);
    }

    /// A copy of every record, by path.
    pub fn records(&self) -> BTreeMap<String, MountRecord> {
        self.records.lock().clone()
    }

    /// Counts by status.
    pub fn summary(&self) -> MountSummary {
        let records = self.records.lock();
        let mut s = MountSummary {
            total: records.len(),
            ..Default::default()
        };
        for r in records.values() {
            match r.status {
                MountStatus::Pending => s.pending += 1,
                MountStatus::Mounted => s.mounted += 1,
                MountStatus::Failed => s.failed += 1,
                // Config records are never restarting (that is a live mount's state).
                MountStatus::Restarting => s.mounted += 1,
            }
        }
        s
    }
}
