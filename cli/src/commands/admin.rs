//! Server administration: `mounts`, `mount`, `unmount`, `plugins`, `health`, `config`.

use clap::{Args, Subcommand};
use serde_json::{Map, Value};

use super::{CmdResult, Runner};
use crate::error::Error;

/// `mounts`
#[derive(Debug, Args)]
pub struct MountsArgs {}

/// Prints `PATH  PLUGIN  STATUS` per mount, aligned, sorted by path as the server sends them.
pub async fn mounts(_a: MountsArgs, r: &mut Runner<'_>) -> CmdResult {
    let reply = r.ctx.client.mounts().await?;
    if r.ctx.json {
        r.emit_json(reply.raw);
        return Ok(());
    }
    let rows: Vec<[String; 4]> = reply.value["mounts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
            [s("path"), s("pluginName"), s("status"), s("error")]
        })
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0);
    let mut text = String::new();
    for [path, plugin, status, error] in rows {
        let mut line = format!("{path:<w0$}  {plugin:<w1$}  {status}");
        if !error.is_empty() {
            line.push_str(&format!(" ({error})"));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    r.out(text.as_bytes()).await
}

/// `mount FSTYPE PATH [KEY=VALUE...]`
#[derive(Debug, Args)]
pub struct MountArgs {
    /// The plugin to mount (`memfs`, `sqlfs`, an external plugin's name, ...).
    fstype: String,
    /// Where to mount it.
    path: String,
    /// Config keys: numbers and true/false are sent as such, anything else as text.
    #[arg(value_name = "KEY=VALUE")]
    config: Vec<String>,
}

/// Mounts a plugin with the config given as `key=value` pairs.
pub async fn mount(a: MountArgs, r: &mut Runner<'_>) -> CmdResult {
    let mut config = Map::new();
    for pair in &a.config {
        let Some((k, v)) = pair.split_once('=') else {
            r.fail(&format!("{pair}: expected KEY=VALUE")).await;
            return Ok(());
        };
        config.insert(k.to_string(), config_value(v));
    }
    let path = r.resolve(&a.path);
    match r
        .ctx
        .client
        .mount(&a.fstype, &path, Value::Object(config))
        .await
    {
        Ok(reply) if r.ctx.json => r.emit_json(reply.raw),
        Ok(_) => {}
        Err(e) => r.error(Some(&a.path), &e).await,
    }
    Ok(())
}

/// A config value as the AGFS shell reads it: an integer, a float, `true`/`false`, else text.
///
/// ```
/// # use pfs_cli::commands::admin::config_value;
/// use serde_json::json;
/// assert_eq!(config_value("8080"), json!(8080));
/// assert_eq!(config_value("1.5"), json!(1.5));
/// assert_eq!(config_value("true"), json!(true));
/// assert_eq!(config_value("/tmp/x"), json!("/tmp/x"));
/// assert_eq!(config_value("10MB"), json!("10MB"));
/// ```
pub fn config_value(v: &str) -> Value {
    if let Ok(i) = v.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = v.parse::<f64>()
        && f.is_finite()
        && v.contains('.')
    {
        return Value::from(f);
    }
    match v {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(v.to_string()),
    }
}

/// `unmount PATH`
#[derive(Debug, Args)]
pub struct UnmountArgs {
    /// The mount point.
    path: String,
}

/// Unmounts the plugin at a path.
pub async fn unmount(a: UnmountArgs, r: &mut Runner<'_>) -> CmdResult {
    let path = r.resolve(&a.path);
    match r.ctx.client.unmount(&path).await {
        Ok(reply) if r.ctx.json => r.emit_json(reply.raw),
        Ok(_) => {}
        Err(e) => r.error(Some(&a.path), &e).await,
    }
    Ok(())
}

/// `plugins [list | load PATH [--isolation MODE] | unload PATH [--force]]`
#[derive(Debug, Args)]
pub struct PluginsArgs {
    #[command(subcommand)]
    action: Option<PluginsAction>,
}

/// What `plugins` does.
#[derive(Debug, Subcommand)]
pub enum PluginsAction {
    /// List every plugin the server can mount (the default).
    List,
    /// Load an external plugin (a shared library or a plugin program) on the server.
    Load {
        /// The library's path on the server's machine.
        path: String,
        /// `process` runs each of its mounts in a process of its own; `in-process` loads it
        /// into the server (absent: the server's config decides).
        #[arg(long, value_parser = ["process", "in-process"])]
        isolation: Option<String>,
    },
    /// Unload an external plugin.
    Unload {
        /// The library's path as it was loaded.
        path: String,
        /// Unmount its mounts first instead of refusing.
        #[arg(long)]
        force: bool,
    },
}

/// Lists, loads or unloads plugins.
pub async fn plugins(a: PluginsArgs, r: &mut Runner<'_>) -> CmdResult {
    let (reply, target) = match a.action.unwrap_or(PluginsAction::List) {
        PluginsAction::List => return list_plugins(r).await,
        PluginsAction::Load { path, isolation } => (
            r.ctx.client.load_plugin(&path, isolation.as_deref()).await,
            path,
        ),
        PluginsAction::Unload { path, force } => {
            (r.ctx.client.unload_plugin(&path, force).await, path)
        }
    };
    match reply {
        Ok(reply) if r.ctx.json => r.emit_json(reply.raw),
        Ok(reply) => {
            let name = reply.value["plugin_name"].as_str().unwrap_or_default();
            let message = reply.value["message"].as_str().unwrap_or("done");
            r.out(format!("{message}: {name}\n").as_bytes()).await?;
        }
        Err(e) => r.error(Some(&target), &e).await,
    }
    Ok(())
}

/// `NAME  MOUNTS  [external: LIBRARY, ISOLATION]` per plugin.
async fn list_plugins(r: &mut Runner<'_>) -> CmdResult {
    let reply = r.ctx.client.plugins().await?;
    if r.ctx.json {
        r.emit_json(reply.raw);
        return Ok(());
    }
    let plugins = reply.value["plugins"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let width = plugins
        .iter()
        .filter_map(|p| p["name"].as_str())
        .map(str::len)
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for p in &plugins {
        let name = p["name"].as_str().unwrap_or_default();
        let mounts: Vec<&str> = p["mounted_paths"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|m| m["path"].as_str())
            .collect();
        let mounts = if mounts.is_empty() {
            "-".to_string()
        } else {
            mounts.join(",")
        };
        let mut line = format!("{name:<width$}  {mounts}");
        if let Some(lib) = p["library_path"].as_str() {
            let isolation = p["isolation"].as_str().unwrap_or("in-process");
            line.push_str(&format!("  [external: {lib}, {isolation}]"));
        }
        text.push_str(&line);
        text.push('\n');
    }
    r.out(text.as_bytes()).await
}

/// `health`
#[derive(Debug, Args)]
pub struct HealthArgs {}

/// Prints the server's status; exit 1 unless it is `healthy`.
pub async fn health(_a: HealthArgs, r: &mut Runner<'_>) -> CmdResult {
    let reply = r.ctx.client.health().await?;
    let v = &reply.value;
    let status = v["status"].as_str().unwrap_or("unknown").to_string();
    if r.ctx.json {
        r.emit_json(reply.raw.clone());
    } else {
        let m = &v["mounts"];
        let n = |k: &str| m[k].as_u64().unwrap_or(0);
        let mut text = format!(
            "{status}: version {}, {} mounts ({} mounted, {} pending, {} failed)\n",
            v["version"].as_str().unwrap_or("?"),
            n("total"),
            n("mounted"),
            n("pending"),
            n("failed")
        );
        for u in v["unhealthy_mounts"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            text.push_str(&format!(
                "  {}: {} ({})\n",
                u["path"].as_str().unwrap_or_default(),
                u["status"].as_str().unwrap_or_default(),
                u["error"].as_str().unwrap_or_default()
            ));
        }
        r.out(text.as_bytes()).await?;
    }
    if status != "healthy" {
        r.status = super::EXIT_FAILED;
    }
    Ok(())
}

/// `config show | reload`
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    action: ConfigAction,
}

/// What `config` does.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the running configuration as YAML (secrets masked), always YAML even with --json.
    Show,
    /// Re-read the server's config file and apply the difference.
    Reload,
}

/// Shows or reloads the running configuration.
pub async fn config(a: ConfigArgs, r: &mut Runner<'_>) -> CmdResult {
    match a.action {
        ConfigAction::Show => {
            let yaml = r.ctx.client.config().await?;
            r.out(yaml.as_bytes()).await
        }
        ConfigAction::Reload => {
            let reply = match r.ctx.client.reload_config().await {
                Ok(reply) => reply,
                Err(e @ Error::Api { .. }) => {
                    r.error(None, &e).await;
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            if r.ctx.json {
                r.emit_json(reply.raw);
                return Ok(());
            }
            let v = &reply.value;
            let mut text = format!("{}\n", v["message"].as_str().unwrap_or("config reloaded"));
            for key in [
                "added",
                "removed",
                "adopted",
                "plugins_loaded",
                "plugins_unloaded",
            ] {
                let items: Vec<String> = v[key]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                    .collect();
                if !items.is_empty() {
                    text.push_str(&format!("  {key}: {}\n", items.join(", ")));
                }
            }
            let changed: Vec<&str> = v["changed"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|c| c["path"].as_str())
                .collect();
            if !changed.is_empty() {
                text.push_str(&format!("  changed: {}\n", changed.join(", ")));
            }
            r.out(text.as_bytes()).await?;
            for f in v["failed"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let path = f["path"].as_str().unwrap_or_default();
                let why = f["error"].as_str().unwrap_or_default();
                r.fail(&format!("{path}: {why}")).await;
            }
            Ok(())
        }
    }
}
