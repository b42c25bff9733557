//! Plugin config: each key declared once ([`Key`], [`config_keys!`](crate::config_keys)), from which
//! a plugin's `config_params()` (what `GET /api/v1/plugins` lists), the key check the server runs
//! before `validate` ([`check_config`]), the typed reading of each value ([`Key::get`]) and the
//! documentation (the key table of the plugin's README and its section of the sample config,
//! checked by [`docs`]) all follow.
//!
//! - [`parse`]: sizes (`512KB`) and durations (`30s`) as written in configs.
//! - [`value`]: typed getters for one value of a config.

pub mod docs;
mod key;
pub mod parse;
pub mod value;

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{Error, Result};

pub use key::{Declared, Key, KeyType, List, Map as MapKey, Size, params};
pub use parse::{MAX_DURATION, parse_duration, parse_size, seconds};

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
    pub default: Cow<'static, str>,
    /// What it does.
    pub description: &'static str,
    /// Whether a mounted instance can take a new value in place.
    pub change: Change,
}

/// Whether a key's value can change on a mounted instance, or only on a new one (a remount).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// The mounted instance takes a new value in place.
    Live,
    /// A new value needs a new instance.
    Remount,
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
            default: Cow::Borrowed(default),
            description,
            change: Change::Remount,
        }
    }

    /// A required parameter.
    pub const fn required(name: &'static str, kind: ParamType, description: &'static str) -> Self {
        ConfigParam {
            name,
            kind,
            required: true,
            default: Cow::Borrowed(""),
            description,
            change: Change::Remount,
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
/// use fs_core::config::{check_config, ConfigParam, ParamType};
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

/// The declared keys whose value differs between the configs `old` and `new` (absent and `null`
/// count as the same).
pub fn changed<'a>(params: &'a [ConfigParam], old: &Value, new: &Value) -> Vec<&'a ConfigParam> {
    let get = |c: &Value, k: &str| c.get(k).filter(|v| !v.is_null()).cloned();
    params
        .iter()
        .filter(|p| get(old, p.name) != get(new, p.name))
        .collect()
}

/// Checks that every key that differs between `old` and `new` can change on a mounted instance
/// ([`Change::Live`]), for a filesystem's `reconfigure`.
///
/// # Errors
/// `Unsupported` naming the keys that need a new instance (a remount).
pub fn check_live(params: &[ConfigParam], old: &Value, new: &Value) -> Result<()> {
    let fixed: Vec<&str> = changed(params, old, new)
        .into_iter()
        .filter(|p| p.change == Change::Remount)
        .map(|p| p.name)
        .collect();
    if fixed.is_empty() {
        return Ok(());
    }
    Err(Error::unsupported("reconfigure").with_message(format!(
        "'{}' cannot change on a mounted instance; ask for a remount (\"remount\": true)",
        fixed.join("', '")
    )))
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
    fn check_live_names_the_keys_that_need_a_remount() {
        let mut params = params();
        params[1].change = Change::Live;
        let old = json!({"local_dir": "/x", "port": 1});
        assert!(check_live(&params, &old, &json!({"local_dir": "/x", "port": 2})).is_ok());
        assert!(
            check_live(
                &params,
                &old,
                &json!({"local_dir": "/x", "port": 1, "buf": null})
            )
            .is_ok()
        );
        let e = check_live(&params, &old, &json!({"local_dir": "/y", "buf": "1MB"})).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Unsupported);
        assert!(
            e.to_string().contains("'local_dir', 'buf' cannot change"),
            "{e}"
        );
    }

    #[test]
    fn check_config_rejects_non_maps() {
        assert!(check_config(&params(), &json!([1])).is_err());
        assert!(check_config(&[], &Value::Null).is_ok());
    }
}
