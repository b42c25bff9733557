//! Config reload (`SIGHUP`, `POST /api/v1/config/reload`): re-read the file the server started
//! with (or the embedded default), check all of it, and change only what differs. Decision 0022.
//!
//! - A file that does not parse, names an unknown key, or fails a plugin's `validate` changes
//!   nothing: every problem is reported.
//! - Mounts are compared with the file the server last read, entry by entry: a new entry is
//!   mounted, an entry gone (or disabled) is unmounted, a changed entry is re-configured in place
//!   or, when the plugin needs a new instance, remounted; an unchanged entry is not touched (same
//!   instance, same handles), even if its config was changed at runtime since.
//! - A mount made through the API is left alone unless the file claims its path; then the file
//!   wins: the same plugin with the same config is adopted as it is, a different config is
//!   applied as a change, a different plugin replaces it.
//! - `external_plugins`: libraries that appear are loaded (before the mounts that may need
//!   them), libraries that vanish are unloaded after their mounts go.
//! - `server` keys take effect at the next start; the answer names those that differ. Except
//!   `server.auth`: principals, roles and tokens apply to the next request (a revoked token
//!   stops working at once).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use fs_core::ErrorKind;
use serde::Serialize;
use serde_json::Value;

use crate::config::{Config, PlannedMount};
use crate::state::{AppState, MountStatus};

/// What a reload did, for the answer and the log.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct ReloadReport {
    /// Where the config came from (a file, or the embedded default).
    pub source: String,
    /// Mount paths mounted anew.
    pub added: Vec<String>,
    /// Mount paths unmounted.
    pub removed: Vec<String>,
    /// Mount paths whose config changed, and how.
    pub changed: Vec<ChangedMount>,
    /// Mount paths left as they were.
    pub kept: Vec<String>,
    /// Mounts made through the API that the file now declares, as they are.
    pub adopted: Vec<String>,
    /// Mounts (or libraries) the file asks for that could not be made, with why; what was there
    /// before serves on.
    pub failed: Vec<Failure>,
    /// External plugins loaded.
    pub plugins_loaded: Vec<String>,
    /// External plugins unloaded.
    pub plugins_unloaded: Vec<String>,
    /// `server` keys that differ from the running ones; they take effect at the next start
    /// (`server.auth` excepted: it applies at once).
    pub restart_required: Vec<String>,
    /// Whether `server.auth` changed (new principals, roles or tokens apply to the next request).
    pub auth_changed: bool,
}

/// One re-configured mount.
#[derive(Debug, Serialize, PartialEq)]
pub struct ChangedMount {
    /// The mount path.
    pub path: String,
    /// A new instance replaced the old one.
    pub remounted: bool,
    /// The plugin amended the config it was given.
    pub amended: bool,
    /// The mount's generation now.
    pub generation: u64,
}

/// Something the file asks for that did not happen.
#[derive(Debug, Serialize, PartialEq)]
pub struct Failure {
    /// The mount path or library.
    pub path: String,
    /// Why.
    pub error: String,
}

/// A file that changes nothing: every problem found.
#[derive(Debug)]
pub struct Rejected {
    /// Where the config came from.
    pub source: String,
    /// Each problem, one line each.
    pub problems: Vec<String>,
}

impl AppState {
    /// Re-reads the config the server started with and applies the difference (see the module
    /// docs). Reloads run one at a time.
    ///
    /// # Errors
    /// [`Rejected`] when the file cannot be read, parsed or checked; nothing changed then.
    pub async fn reload(&self) -> Result<ReloadReport, Rejected> {
        let mut running = self.running.lock().await;
        let (source, text) = match self.config_source() {
            None => (
                "embedded default config".to_string(),
                crate::config::DEFAULT_CONFIG.to_string(),
            ),
            Some(path) => {
                let shown = path.display().to_string();
                match std::fs::read_to_string(&path) {
                    Ok(t) => (shown, t),
                    Err(e) => {
                        return Err(Rejected {
                            problems: vec![format!("cannot read {shown}: {e}")],
                            source: shown,
                        });
                    }
                }
            }
        };
        let reject = |problems: Vec<String>| Rejected {
            source: source.clone(),
            problems,
        };
        let mut new = Config::parse(&text).map_err(|e| reject(vec![e.to_string()]))?;
        // The data directory was resolved at start (flags, environment); a reload keeps it.
        new.server.data_dir = running.server.data_dir.clone();
        let plan = new.plan_all(&self.registry).map_err(&reject)?;
        let mut problems = Vec::new();
        for m in &plan.mounts {
            let plugin = self
                .registry
                .get(&m.plugin)
                .expect("planned from the registry");
            if let Err(e) = fs_core::plugin::vet(plugin.as_ref(), &m.config) {
                problems.push(format!("config: plugin '{}' at {}: {e}", m.plugin, m.path));
            }
        }
        if !problems.is_empty() {
            return Err(reject(problems));
        }
        // Read again (token files, variables) right before it applies.
        let auth = (new.server.auth != running.server.auth)
            .then(|| new.server.auth.build())
            .transpose()
            .map_err(|e| reject(vec![e.to_string()]))?;

        let mut report = ReloadReport {
            source: source.clone(),
            restart_required: server_changes(&running, &new),
            ..ReloadReport::default()
        };
        // Libraries first: an entry may mount a plugin that is only now listed.
        let host = self
            .host
            .reconcile(&self.registry, &self.fs, new.external_plugins.host_config())
            .await;
        report.plugins_loaded = host.loaded;
        report.plugins_unloaded = host.unloaded;
        report.failed.extend(
            host.failed
                .into_iter()
                .map(|(path, error)| Failure { path, error }),
        );
        // Entries of plugins that were unknown before the libraries loaded.
        let plan = match new.plan_all(&self.registry) {
            Ok(p) => p,
            Err(problems) => return Err(reject(problems)),
        };
        self.apply_mounts(plan, &mut report).await;
        if let Some(auth) = auth {
            tracing::info!("reload: {}", auth.describe());
            self.auth.store(Arc::new(auth));
            report.auth_changed = true;
        }
        *running = Arc::new(new);
        Ok(report)
    }

    async fn apply_mounts(&self, plan: crate::config::Plan, report: &mut ReloadReport) {
        let records = self.tracker.records();
        let wanted: BTreeMap<&str, &PlannedMount> =
            plan.mounts.iter().map(|m| (m.path.as_str(), m)).collect();
        let unknown: Vec<&str> = plan.unknown.iter().map(|u| u.mount.path.as_str()).collect();
        // Gone from the file: unmounted (handles closed) and forgotten.
        for path in records.keys() {
            if wanted.contains_key(path.as_str()) || unknown.contains(&path.as_str()) {
                continue;
            }
            if self.fs.mount_at(path).is_some()
                && let Err(e) = self.fs.unmount(path).await
                && e.kind() != ErrorKind::NotFound
            {
                tracing::warn!(path = %path, "reload: unmounted, but {e}");
            }
            self.tracker.forget(path);
            report.removed.push(path.clone());
        }
        for u in &plan.unknown {
            self.tracker
                .set(&u.mount, MountStatus::Failed, Some(u.error.clone()));
            report.failed.push(Failure {
                path: u.mount.path.clone(),
                error: u.error.clone(),
            });
        }
        for m in &plan.mounts {
            let record = records.get(&m.path);
            let live = self.fs.mount_at(&m.path);
            match live {
                None => {
                    self.mount_planned(m).await;
                    self.note_mount(m, report);
                }
                Some(live) if live.plugin != m.plugin => {
                    let _ = self.fs.unmount(&m.path).await;
                    self.mount_planned(m).await;
                    self.note_mount(m, report);
                }
                Some(live) => {
                    // Compared with what the file said last time; a mount the file did not
                    // declare (made through the API) with what is in force.
                    let before = record.map_or(&live.config, |r| &r.config);
                    if *before == m.config {
                        if record.is_none() {
                            report.adopted.push(m.path.clone());
                        } else {
                            report.kept.push(m.path.clone());
                        }
                        self.tracker.set(m, MountStatus::Mounted, None);
                    } else {
                        self.change(m, report).await;
                    }
                }
            }
        }
    }

    fn note_mount(&self, m: &PlannedMount, report: &mut ReloadReport) {
        let record = self.tracker.records().remove(&m.path);
        match record {
            Some(r) if r.status == MountStatus::Mounted => report.added.push(m.path.clone()),
            r => report.failed.push(Failure {
                path: m.path.clone(),
                error: r.and_then(|r| r.error).unwrap_or_default(),
            }),
        }
    }

    /// A changed entry: in place when the plugin takes it, else a remount.
    async fn change(&self, m: &PlannedMount, report: &mut ReloadReport) {
        let policy = fs_core::policy::MountPolicy::unrestricted;
        let mut result = self
            .fs
            .reconfigure(&self.registry, &m.path, m.config.clone(), false, policy())
            .await;
        if matches!(&result, Err(e) if e.kind() == ErrorKind::Unsupported) {
            result = self
                .fs
                .reconfigure(&self.registry, &m.path, m.config.clone(), true, policy())
                .await;
        }
        match result {
            Ok(c) => {
                if let Some(e) = &c.shutdown_error {
                    tracing::warn!(path = %m.path, "reload: remounted, but the old instance's shutdown failed: {e}");
                }
                self.tracker.set(m, MountStatus::Mounted, None);
                report.changed.push(ChangedMount {
                    path: m.path.clone(),
                    remounted: c.remounted,
                    amended: c.amended,
                    generation: c.generation,
                });
            }
            Err(e) => report.failed.push(Failure {
                path: m.path.clone(),
                error: e.to_string(),
            }),
        }
    }

    /// The file the server reads its config from; `None`: the embedded default.
    pub fn config_source(&self) -> Option<PathBuf> {
        self.config_source.lock().clone()
    }

    /// Names the file a reload re-reads (the `-c` file).
    pub fn set_config_source(&self, path: Option<PathBuf>) {
        *self.config_source.lock() = path;
    }
}

/// The `server` keys whose values differ.
fn server_changes(old: &Config, new: &Config) -> Vec<String> {
    let (Ok(Value::Object(old)), Ok(Value::Object(new))) = (
        serde_json::to_value(&old.server),
        serde_json::to_value(&new.server),
    ) else {
        return Vec::new();
    };
    new.iter()
        .filter(|(k, v)| *k != "auth" && old.get(*k) != Some(v))
        .map(|(k, _)| format!("server.{k}"))
        .collect()
}

impl Rejected {
    /// One line naming the source and every problem.
    pub fn message(&self) -> String {
        format!(
            "config reload of {} refused, nothing changed: {}",
            self.source,
            self.problems.join("; ")
        )
    }
}
