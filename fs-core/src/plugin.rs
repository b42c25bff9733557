//! Plugins: the [`ServicePlugin`] factory trait, its config parameter list and checks, the context a
//! mount gets, and the [`PluginRegistry`] of every plugin the server can mount.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::SystemTime;

use async_trait::async_trait;
use parking_lot::RwLock;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{Error, FileSystem, MountableFs, Result};

/// The type of a config parameter, as listed by `GET /plugins` (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// A JSON/YAML string.
    String,
    /// An integer (a whole float such as `3.0` from JSON is accepted).
    Int,
    /// A number.
    Float,
    /// `true` or `false`.
    Bool,
    /// A list of strings.
    #[serde(rename = "array")]
    StringList,
    /// A map of string keys to scalar values.
    #[serde(rename = "map")]
    StringMap,
    /// A byte size: a number of bytes or a string such as `512KB`, `6MB`.
    Size,
    /// A duration: seconds as a number or a string such as `30s`, `5m`.
    Duration,
}

/// One parameter a plugin's config accepts (AGFS's `config_params` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigParam {
    /// The key.
    pub name: &'static str,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// Whether the key must be present.
    pub required: bool,
    /// The default, as text (empty when none).
    pub default: &'static str,
    /// What it does.
    pub description: &'static str,
}

impl ConfigParam {
    /// An optional parameter with a default.
    pub const fn optional(
        name: &'static str,
        kind: ParamType,
        default: &'static str,
        description: &'static str,
    ) -> Self {
        ConfigParam {
            name,
            kind,
            required: false,
            default,
            description,
        }
    }

    /// A required parameter.
    pub const fn required(name: &'static str, kind: ParamType, description: &'static str) -> Self {
        ConfigParam {
            name,
            kind,
            required: true,
            default: "",
            description,
        }
    }
}

/// The synthetic key AGFS injects into every plugin config; always accepted, never required.
pub const MOUNT_PATH_KEY: &str = "mount_path";

/// Checks `config` against `params`: it must be an object (or null), with no unknown key (other
/// than [`MOUNT_PATH_KEY`]), every required key present, and every value of the declared type.
///
/// # Errors
/// `InvalidArgument` naming the offending key and, for unknown keys, the allowed ones.
///
/// ```
/// use fs_core::plugin::{check_config, ConfigParam, ParamType};
/// let params = [ConfigParam::optional("init_dirs", ParamType::StringList, "[]", "dirs")];
/// assert!(check_config(&params, &serde_json::json!({"init_dirs": ["/a"]})).is_ok());
/// let err = check_config(&params, &serde_json::json!({"bogus": 1})).unwrap_err();
/// assert!(err.to_string().contains("unknown configuration parameter(s) 'bogus'"));
/// assert!(err.to_string().contains("'init_dirs'"));
/// ```
pub fn check_config(params: &[ConfigParam], config: &Value) -> Result<()> {
    let empty = Map::new();
    let obj = match config {
        Value::Null => &empty,
        Value::Object(m) => m,
        other => {
            return Err(Error::invalid_argument(format!(
                "invalid config: expected a map of parameters, got {}",
                json_type(other)
            )));
        }
    };
    let unknown: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| *k != MOUNT_PATH_KEY && !params.iter().any(|p| p.name == *k))
        .collect();
    if !unknown.is_empty() {
        let allowed = if params.is_empty() {
            "none".to_string()
        } else {
            params
                .iter()
                .map(|p| format!("'{}'", p.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(Error::invalid_argument(format!(
            "unknown configuration parameter(s) '{}' - allowed parameters are: {allowed}",
            unknown.join("', '")
        )));
    }
    for p in params {
        match obj.get(p.name) {
            None | Some(Value::Null) if p.required => {
                return Err(Error::invalid_argument(format!("{} is required", p.name)));
            }
            None | Some(Value::Null) => {}
            Some(v) => check_type(p, v)?,
        }
    }
    Ok(())
}

fn check_type(p: &ConfigParam, v: &Value) -> Result<()> {
    let ok = match p.kind {
        ParamType::String => v.is_string(),
        ParamType::Int => v.as_i64().is_some() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        ParamType::Float => v.is_number(),
        ParamType::Bool => v.is_boolean(),
        ParamType::StringList => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        ParamType::StringMap => v
            .as_object()
            .is_some_and(|m| m.values().all(|x| !x.is_array() && !x.is_object())),
        ParamType::Size => v.is_number() || v.as_str().is_some_and(|s| parse_size(s).is_ok()),
        ParamType::Duration => {
            v.is_number() || v.as_str().is_some_and(|s| parse_duration(s).is_ok())
        }
    };
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_argument(format!(
            "invalid value for '{}': expected {}, got {}",
            p.name,
            serde_json::to_value(p.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            json_type(v)
        )))
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Parses a byte size: `1024`, `512KB`, `6MB`, `1GiB` (K/M/G are powers of 1024, as in AGFS).
///
/// ```
/// use fs_core::plugin::parse_size;
/// assert_eq!(parse_size("512KB").unwrap(), 512 * 1024);
/// assert_eq!(parse_size("6mb").unwrap(), 6 * 1024 * 1024);
/// assert_eq!(parse_size("100").unwrap(), 100);
/// assert!(parse_size("many").is_err());
/// ```
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| Error::invalid_argument(format!("invalid size '{s}'")))?;
    let mul: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => {
            return Err(Error::invalid_argument(format!(
                "invalid size '{s}': unknown unit"
            )));
        }
    };
    Ok((n * mul as f64) as u64)
}

/// Parses a duration: a number of seconds or a string such as `30s`, `5m`, `1h30m`, `250ms`.
///
/// ```
/// use std::time::Duration;
/// use fs_core::plugin::parse_duration;
/// assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
/// assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert_eq!(parse_duration("2.5").unwrap(), Duration::from_millis(2500));
/// ```
///
/// # Errors
/// `InvalidArgument` for anything else, a negative number, or more than [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return seconds(secs);
    }
    let d = humantime::parse_duration(t)
        .map_err(|e| Error::invalid_argument(format!("invalid duration '{s}': {e}")))?;
    seconds(d.as_secs_f64())
}

/// The longest duration a config or a request may give: 10 years. Longer ones are refused, so no
/// deadline computed from one (`now + timeout`) can overflow.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(10 * 365 * 86_400);

/// A number of seconds as a duration.
///
/// ```
/// use fs_core::plugin::seconds;
/// assert_eq!(seconds(1.5).unwrap().as_millis(), 1500);
/// assert!(seconds(-1.0).is_err() && seconds(f64::NAN).is_err() && seconds(1e300).is_err());
/// ```
///
/// # Errors
/// `InvalidArgument` when it is negative, not a number, or more than [`MAX_DURATION`].
pub fn seconds(secs: f64) -> Result<std::time::Duration> {
    if !(secs >= 0.0 && secs <= MAX_DURATION.as_secs_f64()) {
        return Err(Error::invalid_argument(format!(
            "invalid duration {secs}: must be between 0 and {} seconds (10 years)",
            MAX_DURATION.as_secs()
        )));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

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

    /// The config keys the plugin accepts.
    fn config_params(&self) -> Vec<ConfigParam>;

    /// Checks a config's shape only: unknown keys, missing required keys, wrong types. The server
    /// runs it at startup on every config mount, so a typo stops the server before it serves.
    ///
    /// # Errors
    /// `InvalidArgument` naming the key. The default runs [`check_config`] against
    /// [`ServicePlugin::config_params`].
    fn check_keys(&self, config: &Value) -> Result<()> {
        check_config(&self.config_params(), config)
    }

    /// Checks a config without side effects, before `initialize`.
    ///
    /// # Errors
    /// `InvalidArgument` naming the problem. The default is [`ServicePlugin::check_keys`]; plugins
    /// add their own checks. A failure here (at mount time) leaves the mount `failed`.
    fn validate(&self, config: &Value) -> Result<()> {
        self.check_keys(config)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params() -> Vec<ConfigParam> {
        vec![
            ConfigParam::required("local_dir", ParamType::String, "root"),
            ConfigParam::optional("port", ParamType::Int, "8000", "port"),
            ConfigParam::optional("buf", ParamType::Size, "6MB", "buffer"),
        ]
    }

    #[test]
    fn check_config_requires_required_keys() {
        let e = check_config(&params(), &json!({})).unwrap_err();
        assert_eq!(e.to_string(), "local_dir is required");
    }

    #[test]
    fn check_config_checks_types() {
        let e = check_config(&params(), &json!({"local_dir": "/x", "port": "eighty"})).unwrap_err();
        assert!(
            e.to_string().contains("'port': expected int, got a string"),
            "{e}"
        );
        assert!(
            check_config(
                &params(),
                &json!({"local_dir": "/x", "port": 80.0, "buf": "1MB"})
            )
            .is_ok()
        );
        assert!(check_config(&params(), &json!({"local_dir": "/x", "buf": "lots"})).is_err());
    }

    #[test]
    fn check_config_rejects_non_maps() {
        assert!(check_config(&params(), &json!([1])).is_err());
        assert!(check_config(&[], &Value::Null).is_ok());
    }
}
