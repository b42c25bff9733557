//! Changing a mount's config while it serves: in place, when the filesystem takes the change
//! ([`FileSystem::reconfigure`](crate::FileSystem::reconfigure)), or by a remount that swaps in a
//! new instance only once it is initialized.

use std::sync::Arc;

use serde_json::Value;

use super::{Mount, MountableFs};
use crate::lifecycle::Life;
use crate::plugin::{MountContext, PluginRegistry};
use crate::policy::MountPolicy;
use crate::{Error, Result, path};

/// What a filesystem did with a new config it was asked to take in place.
#[derive(Debug, Clone, PartialEq)]
pub enum Reconfigured {
    /// Applied as given.
    Accepted,
    /// Applied as this config instead (the plugin changed or completed it).
    Amended(Value),
}

/// What [`MountableFs::reconfigure`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigChange {
    /// The config now in force.
    pub config: Value,
    /// The mount's generation now.
    pub generation: u64,
    /// The plugin amended the config it was given.
    pub amended: bool,
    /// A new instance replaced the old one.
    pub remounted: bool,
    /// The old instance's shutdown failed after a remount (the new one serves regardless).
    pub shutdown_error: Option<String>,
}

impl MountableFs {
    /// Gives the mount at `path` the config `config`. The keys are checked and the plugin's
    /// `validate` runs first; then the mounted filesystem takes the change in place, or, with
    /// `remount`, a new instance is initialized under `policy` and swapped in, and the old one
    /// leaves as on unmount (its handles are closed, its shutdown runs once). Any failure leaves
    /// the mount as it was, serving.
    ///
    /// # Errors
    /// `NotFound` when nothing is mounted at `path`; the plugin's `InvalidArgument` (rejected) or
    /// `Unsupported` (in place impossible: ask for a remount); the new instance's error.
    pub async fn reconfigure(
        self: &Arc<Self>,
        registry: &PluginRegistry,
        path: &str,
        config: Value,
        remount: bool,
        policy: MountPolicy,
    ) -> Result<ConfigChange> {
        let path = path::normalize(path)?;
        let op = |e: Error| {
            let e = if e.path().is_none() {
                e.with_path(&path)
            } else {
                e
            };
            e.with_op("reconfigure")
        };
        let (old, new, amended) = {
            let _w = self.writer.lock().await;
            let cur = self.table.load();
            let Some(old) = cur.get(&path).cloned() else {
                return Err(Error::not_found(&path)
                    .with_op("reconfigure")
                    .with_message("not found (no mount at path)"));
            };
            let factory = registry.get(&old.plugin).map_err(op)?;
            crate::plugin::vet(factory.as_ref(), &config).map_err(op)?;
            let (fs, config, amended, life, id) = if remount {
                let ctx = MountContext {
                    mount_path: path.clone(),
                    config: config.clone(),
                    root: Arc::downgrade(self),
                    server: self.server.clone(),
                    policy,
                };
                let fs = factory.initialize(ctx).await.map_err(op)?;
                let life = Arc::new(Life::default());
                life.start(&fs, self.hook_timeout()).await.map_err(op)?;
                (fs, config, false, life, super::next_mount_id())
            } else {
                let (config, amended) = match old.fs.reconfigure(&old.config, &config).await {
                    Ok(Reconfigured::Accepted) => (config, false),
                    Ok(Reconfigured::Amended(amended)) => (amended, true),
                    Err(e) => return Err(op(e)),
                };
                let keep = (old.life.clone(), old.id);
                (old.fs.clone(), config, amended, keep.0, keep.1)
            };
            let new = Arc::new(Mount {
                path: path.clone(),
                plugin: old.plugin.clone(),
                instance: old.instance.clone(),
                config,
                fs,
                generation: old.generation + 1,
                id,
                life,
            });
            let table = cur
                .without(&path)
                .and_then(|(rest, _)| rest.with(new.clone()))
                .ok_or_else(|| Error::internal(format!("{path}: the mount table changed")))?;
            self.table.store(Arc::new(table));
            (old, new, amended)
        };
        let mut shutdown_error = None;
        if remount {
            for hook in self.unmount_hooks.read().iter() {
                hook(&old);
            }
            shutdown_error = self.shut_down(&old).await.err().map(|e| e.to_string());
        }
        Ok(ConfigChange {
            config: new.config.clone(),
            generation: new.generation,
            amended,
            remounted: remount,
            shutdown_error,
        })
    }
}
