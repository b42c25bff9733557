//! Typed getters for one value of a plugin config (a JSON object after YAML/JSON decoding), so every
//! plugin reads sizes, durations, strings and booleans the same way and names the key in its
//! errors. Each answers `None` when the key is absent or `null`; [`Key::get`](super::Key::get)
//! adds the declared default.

use std::time::Duration;

use serde_json::Value;

use super::parse::{parse_duration, parse_size, seconds};
use crate::{Error, Result};

/// The value at `key`, treating JSON `null` as absent.
fn get<'a>(config: &'a Value, key: &str) -> Option<&'a Value> {
    config.get(key).filter(|v| !v.is_null())
}

/// The byte size at `key` (a whole number or a string such as `"8MB"`).
///
/// ```
/// use fs_core::config::value::size;
/// let c = serde_json::json!({"a": "6MB", "b": 10, "c": "lots"});
/// assert_eq!(size(&c, "a").unwrap(), Some(6 << 20));
/// assert_eq!(size(&c, "b").unwrap(), Some(10));
/// assert_eq!(size(&c, "z").unwrap(), None);
/// assert!(size(&c, "c").unwrap_err().to_string().contains("'c'"));
/// ```
///
/// # Errors
/// `InvalidArgument` naming `key` when the value is not a size.
pub fn size(config: &Value, key: &str) -> Result<Option<u64>> {
    let invalid = || {
        Error::invalid_argument(format!(
            "invalid value for '{key}': expected a number of bytes or a size such as \"512KB\" or \"6MB\""
        ))
    };
    match get(config, key) {
        None => Ok(None),
        Some(Value::Number(n)) => whole(n).map(Some).ok_or_else(invalid),
        Some(Value::String(s)) => parse_size(s).map(Some).map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

/// The duration at `key` (seconds as a number, or a string such as `"30s"`), or `None` when absent.
///
/// # Errors
/// `InvalidArgument` naming `key` when the value is not a duration.
pub fn duration(config: &Value, key: &str) -> Result<Option<Duration>> {
    let invalid = || {
        Error::invalid_argument(format!(
            "invalid value for '{key}': expected seconds or a duration such as \"30s\" or \"5m\""
        ))
    };
    match get(config, key) {
        None => Ok(None),
        Some(Value::String(s)) => parse_duration(s).map(Some).map_err(|_| invalid()),
        Some(Value::Number(n)) => n
            .as_f64()
            .and_then(|f| seconds(f).ok())
            .map(Some)
            .ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}

/// The string at `key`, or `None` when absent or empty.
///
/// # Errors
/// `InvalidArgument` naming `key` when the value is not a string.
pub fn string(config: &Value, key: &str) -> Result<Option<String>> {
    match get(config, key) {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::invalid_argument(format!(
            "invalid value for '{key}': expected a string"
        ))),
    }
}

/// The boolean at `key` (`true`/`false`, or the strings `"true"`/`"false"`).
///
/// # Errors
/// `InvalidArgument` naming `key` when the value is not a boolean.
pub fn boolean(config: &Value, key: &str) -> Result<Option<bool>> {
    match get(config, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(Error::invalid_argument(format!(
            "invalid value for '{key}': expected true or false"
        ))),
    }
}

/// A whole non-negative number (a whole float such as `3.0` from JSON counts).
fn whole(n: &serde_json::Number) -> Option<u64> {
    n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < u64::MAX as f64)
            .map(|f| f as u64)
    })
}

/// The whole non-negative number at `key`.
///
/// # Errors
/// `InvalidArgument` naming `key` when the value is not one.
pub fn count(config: &Value, key: &str) -> Result<Option<u64>> {
    match get(config, key) {
        None => Ok(None),
        Some(Value::Number(n)) if whole(n).is_some() => Ok(whole(n)),
        Some(_) => Err(Error::invalid_argument(format!(
            "invalid value for '{key}': expected a whole number, 0 or more"
        ))),
    }
}

/// The number at `key`.
///
/// # Errors
/// `InvalidArgument` naming `key` when the value is not a number.
pub fn number(config: &Value, key: &str) -> Result<Option<f64>> {
    match get(config, key) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(Error::invalid_argument(format!(
            "invalid value for '{key}': expected a number"
        ))),
    }
}

/// The list of strings at `key`.
///
/// # Errors
/// `InvalidArgument` naming `key` when the value is not a list of strings.
pub fn list(config: &Value, key: &str) -> Result<Option<Vec<String>>> {
    let invalid = || {
        Error::invalid_argument(format!(
            "invalid value for '{key}': expected a list of strings"
        ))
    };
    match get(config, key) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(invalid))
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(_) => Err(invalid()),
    }
}

/// The map at `key`.
///
/// # Errors
/// `InvalidArgument` naming `key` when the value is not a map.
pub fn map(config: &Value, key: &str) -> Result<Option<serde_json::Map<String, Value>>> {
    match get(config, key) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(_) => Err(Error::invalid_argument(format!(
            "invalid value for '{key}': expected a map"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_past_the_limit_are_refused_not_panicked_on() {
        let c = serde_json::json!({"a": 1e300, "b": "1e300", "c": "500000 days", "d": 90});
        for key in ["a", "b", "c"] {
            let e = duration(&c, key).unwrap_err();
            assert!(e.to_string().contains(&format!("'{key}'")), "{e}");
        }
        assert_eq!(duration(&c, "d").unwrap(), Some(Duration::from_secs(90)));
    }
}
