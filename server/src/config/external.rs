//! The `external_plugins` section: AGFS's keys, plus `allow_any_path` and where plugins run
//! (`isolation`, per entry or for the section, and the `process` limits of isolated ones).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::server::Seconds;

/// The `external_plugins` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExternalPluginsConfig {
    /// Whether external plugins are loaded at all.
    pub enabled: bool,
    /// A directory scanned for plugins when `auto_load` is set.
    pub plugin_dir: Option<String>,
    /// Whether to load every plugin found in `plugin_dir` at start.
    pub auto_load: bool,
    /// Libraries (and plugin programs) to load at start: a path, or `{path, isolation}`.
    pub plugin_paths: Vec<PluginPathEntry>,
    /// Allow `POST /plugins/load` of files outside the plugin directories.
    pub allow_any_path: bool,
    /// Where plugins run unless their entry says: `in-process` (the default, as AGFS) or
    /// `process` (a process of their own each mount, supervised). Programs always run isolated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<IsolationWord>,
    /// Supervision and limits of isolated plugins.
    pub process: ProcessConfig,
    /// Accepted for AGFS compatibility; unused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wasi_mount_path: Option<String>,
    /// Accepted for AGFS compatibility (WASM pool settings); unused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wasm: Option<Value>,
}

/// One entry of `plugin_paths`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum PluginPathEntry {
    /// A path (AGFS's form): the section's isolation.
    Path(String),
    /// A path and where it runs.
    Entry {
        /// The library or program.
        path: String,
        /// `process` or `in-process`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        isolation: Option<IsolationWord>,
    },
}

/// `process` or `in-process`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum IsolationWord {
    /// A process of its own per mount.
    #[serde(rename = "process")]
    Process,
    /// In the server's process.
    #[serde(rename = "in-process")]
    InProcess,
}

impl From<IsolationWord> for c_abi::Isolation {
    fn from(w: IsolationWord) -> Self {
        match w {
            IsolationWord::Process => c_abi::Isolation::Process,
            IsolationWord::InProcess => c_abi::Isolation::InProcess,
        }
    }
}

/// `external_plugins.process`: how isolated plugins are supervised and limited.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessConfig {
    /// How long one call may take before the process is deemed hung, killed and restarted
    /// (default 30 s).
    pub call_timeout: Seconds,
    /// How long a process may take to start and say hello (default 10 s).
    pub start_timeout: Seconds,
    /// Crashes within `crash_window` after which the mount is failed (default 5).
    pub max_restarts: u32,
    /// The window crashes are counted in (default 60 s).
    pub crash_window: Seconds,
    /// The memory limit of each process (`RLIMIT_DATA`: heap and anonymous memory): bytes or a
    /// size such as `512MB`;
    /// default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<Value>,
    /// The CPU-time limit of each process in seconds (`RLIMIT_CPU`); default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<u64>,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        let d = pfs_plugin_proto::process::Limits::default();
        ProcessConfig {
            call_timeout: Seconds(d.call_timeout),
            start_timeout: Seconds(d.start_timeout),
            max_restarts: d.max_restarts,
            crash_window: Seconds(d.crash_window),
            memory_limit: None,
            cpu_limit: None,
        }
    }
}

impl ProcessConfig {
    /// The supervisor's limits.
    ///
    /// # Errors
    /// `InvalidArgument` for a `memory_limit` that is not a size.
    pub fn limits(&self) -> fs_core::Result<pfs_plugin_proto::process::Limits> {
        let memory = match &self.memory_limit {
            None => None,
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => Some(fs_core::config::parse_size(s)?),
            Some(other) => {
                return Err(fs_core::Error::invalid_argument(format!(
                    "invalid config: external_plugins.process.memory_limit: {other} is not a size"
                )));
            }
        };
        Ok(pfs_plugin_proto::process::Limits {
            call_timeout: self.call_timeout.0,
            start_timeout: self.start_timeout.0,
            max_restarts: self.max_restarts,
            crash_window: self.crash_window.0,
            memory,
            cpu_seconds: self.cpu_limit,
            ..Default::default()
        })
    }
}

impl ExternalPluginsConfig {
    /// The plugin host's settings (paths as given, relative to the working directory). Isolated
    /// plugins are hosted by this very binary (`pfs-server plugin-host`), or the one
    /// `$PFS_PLUGIN_HOST` names.
    pub fn host_config(&self) -> c_abi::HostConfig {
        let launcher = std::env::var_os("PFS_PLUGIN_HOST")
            .filter(|v| !v.is_empty())
            .map(Into::into)
            .or_else(|| std::env::current_exe().ok());
        c_abi::HostConfig {
            enabled: self.enabled,
            plugin_dir: self
                .plugin_dir
                .as_ref()
                .filter(|d| !d.is_empty())
                .map(Into::into),
            auto_load: self.auto_load,
            plugin_paths: self
                .plugin_paths
                .iter()
                .map(|e| match e {
                    PluginPathEntry::Path(p) => c_abi::PluginPath {
                        path: p.into(),
                        isolation: None,
                    },
                    PluginPathEntry::Entry { path, isolation } => c_abi::PluginPath {
                        path: path.into(),
                        isolation: isolation.map(Into::into),
                    },
                })
                .collect(),
            allow_any_path: self.allow_any_path,
            isolation: self.isolation.map(Into::into).unwrap_or_default(),
            process: self.limits_or_default(),
            launcher,
        }
    }

    fn limits_or_default(&self) -> pfs_plugin_proto::process::Limits {
        self.process.limits().unwrap_or_default()
    }
}
