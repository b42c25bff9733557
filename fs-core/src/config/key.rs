//! [`Key`]: one config key declared once — its name, type, default, meaning and whether it can
//! change on a mounted instance — and read through that declaration.

use std::borrow::Cow;
use std::time::Duration;

use serde_json::Value;

use super::parse::{format_duration, format_size};
use super::{Change, ConfigParam, ParamType, value};
use crate::{Error, Result};

/// A Rust type a config key can hold: how it is read from a config and how its default is written.
pub trait KeyType: Copy + Send + Sync + 'static {
    /// The type `GET /api/v1/plugins` shows and [`check_config`](super::check_config) checks.
    const KIND: ParamType;
    /// What reading the key gives.
    type Value;
    /// The value at `key`, `None` when absent or `null`.
    ///
    /// # Errors
    /// `InvalidArgument` naming `key` when the value has the wrong type.
    fn read(config: &Value, key: &str) -> Result<Option<Self::Value>>;
    /// A declared default as a value.
    fn value(self) -> Self::Value;
    /// A declared default as a config would write it.
    fn text(self) -> String;
}

/// A byte size (`ParamType::Size`): a number of bytes or a string such as `8MB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

/// A list of strings (`ParamType::StringList`), with its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct List(pub &'static [&'static str]);

/// A map (`ParamType::StringMap`); its default is the empty map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Map;

impl KeyType for &'static str {
    const KIND: ParamType = ParamType::String;
    type Value = String;
    fn read(config: &Value, key: &str) -> Result<Option<String>> {
        value::string(config, key)
    }
    fn value(self) -> String {
        self.to_string()
    }
    fn text(self) -> String {
        self.to_string()
    }
}

impl KeyType for bool {
    const KIND: ParamType = ParamType::Bool;
    type Value = bool;
    fn read(config: &Value, key: &str) -> Result<Option<bool>> {
        value::boolean(config, key)
    }
    fn value(self) -> bool {
        self
    }
    fn text(self) -> String {
        self.to_string()
    }
}

impl KeyType for u64 {
    const KIND: ParamType = ParamType::Int;
    type Value = u64;
    fn read(config: &Value, key: &str) -> Result<Option<u64>> {
        value::count(config, key)
    }
    fn value(self) -> u64 {
        self
    }
    fn text(self) -> String {
        self.to_string()
    }
}

impl KeyType for f64 {
    const KIND: ParamType = ParamType::Float;
    type Value = f64;
    fn read(config: &Value, key: &str) -> Result<Option<f64>> {
        value::number(config, key)
    }
    fn value(self) -> f64 {
        self
    }
    fn text(self) -> String {
        self.to_string()
    }
}

impl KeyType for Size {
    const KIND: ParamType = ParamType::Size;
    type Value = u64;
    fn read(config: &Value, key: &str) -> Result<Option<u64>> {
        value::size(config, key)
    }
    fn value(self) -> u64 {
        self.0
    }
    fn text(self) -> String {
        format_size(self.0)
    }
}

impl KeyType for Duration {
    const KIND: ParamType = ParamType::Duration;
    type Value = Duration;
    fn read(config: &Value, key: &str) -> Result<Option<Duration>> {
        value::duration(config, key)
    }
    fn value(self) -> Duration {
        self
    }
    fn text(self) -> String {
        format_duration(self)
    }
}

impl KeyType for List {
    const KIND: ParamType = ParamType::StringList;
    type Value = Vec<String>;
    fn read(config: &Value, key: &str) -> Result<Option<Vec<String>>> {
        value::list(config, key)
    }
    fn value(self) -> Vec<String> {
        self.0.iter().map(|s| s.to_string()).collect()
    }
    fn text(self) -> String {
        format!("[{}]", self.0.join(", "))
    }
}

impl KeyType for Map {
    const KIND: ParamType = ParamType::StringMap;
    type Value = serde_json::Map<String, Value>;
    fn read(config: &Value, key: &str) -> Result<Option<Self::Value>> {
        value::map(config, key)
    }
    fn value(self) -> Self::Value {
        serde_json::Map::new()
    }
    fn text(self) -> String {
        "{}".to_string()
    }
}

/// One config key, declared once: [`Key::param`] is its entry in `config_params()` (and so in
/// `GET /api/v1/plugins`, the README's key table and the sample config), and [`Key::get`] reads it
/// with the declared default.
///
/// ```
/// use std::time::Duration;
/// use fs_core::config::{Declared, Key, Size};
/// const PART: Key<Size> = Key::optional("part_size", Size(8 << 20), "part size of uploads");
/// const TIMEOUT: Key<Duration> =
///     Key::optional("timeout", Duration::from_secs(60), "one attempt's timeout").live();
/// let config = serde_json::json!({"part_size": "16MB"});
/// assert_eq!(PART.get(&config).unwrap(), 16 << 20);
/// assert_eq!(TIMEOUT.get(&config).unwrap(), Duration::from_secs(60));
/// assert_eq!(PART.param().default, "8MB");
/// assert_eq!(TIMEOUT.param().default, "1m");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Key<T> {
    name: &'static str,
    required: bool,
    default: Option<T>,
    default_text: Option<&'static str>,
    description: &'static str,
    change: Change,
}

impl<T: KeyType> Key<T> {
    /// A key that must be given.
    pub const fn required(name: &'static str, description: &'static str) -> Self {
        Key {
            name,
            required: true,
            default: None,
            default_text: None,
            description,
            change: Change::Remount,
        }
    }

    /// A key that may be left out, `default` then.
    pub const fn optional(name: &'static str, default: T, description: &'static str) -> Self {
        Key {
            name,
            required: false,
            default: Some(default),
            default_text: None,
            description,
            change: Change::Remount,
        }
    }

    /// A key that may be left out, with no fixed default ([`Key::opt`] reads it; say what its
    /// absence means with [`Key::default_text`]).
    pub const fn unset(name: &'static str, description: &'static str) -> Self {
        Key {
            name,
            required: false,
            default: None,
            default_text: None,
            description,
            change: Change::Remount,
        }
    }

    /// Describes the default in words, where it depends on other keys or on the machine.
    pub const fn default_text(mut self, text: &'static str) -> Self {
        self.default_text = Some(text);
        self
    }

    /// Declares that a mounted instance takes a new value in place.
    pub const fn live(mut self) -> Self {
        self.change = Change::Live;
        self
    }

    /// The key's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The value in `config`, `None` when absent (the default is not applied).
    ///
    /// # Errors
    /// `InvalidArgument` naming the key when the value has the wrong type.
    pub fn opt(&self, config: &Value) -> Result<Option<T::Value>> {
        T::read(config, self.name)
    }

    /// The value in `config`, or the declared default.
    ///
    /// # Errors
    /// `InvalidArgument` naming the key when the value has the wrong type, or when it is absent and
    /// has no default.
    pub fn get(&self, config: &Value) -> Result<T::Value> {
        match (self.opt(config)?, self.default) {
            (Some(v), _) => Ok(v),
            (None, Some(d)) => Ok(d.value()),
            (None, None) if self.required => Err(Error::invalid_argument(format!(
                "{} is required",
                self.name
            ))),
            (None, None) => Err(Error::invalid_argument(format!(
                "missing parameter '{}'",
                self.name
            ))),
        }
    }

    /// The value in `config` as given, for keys a plugin reads in its own way (`null` is absent).
    pub fn raw<'a>(&self, config: &'a Value) -> Option<&'a Value> {
        config.get(self.name).filter(|v| !v.is_null())
    }
}

/// A declared key of any type: what [`config_keys!`](crate::config_keys) lists.
pub trait Declared: Sync {
    /// The key's entry in `config_params()`.
    fn param(&self) -> ConfigParam;
}

impl<T: KeyType> Declared for Key<T> {
    fn param(&self) -> ConfigParam {
        let default = match (self.default_text, self.default) {
            (Some(text), _) => Cow::Borrowed(text),
            (None, Some(d)) => Cow::Owned(d.text()),
            (None, None) => Cow::Borrowed(""),
        };
        ConfigParam {
            name: self.name,
            kind: T::KIND,
            required: self.required,
            default,
            description: self.description,
            change: self.change,
        }
    }
}

/// The `config_params()` of the key sets `sets`, in order.
pub fn params(sets: &[&[&dyn Declared]]) -> Vec<ConfigParam> {
    sets.iter()
        .flat_map(|set| set.iter().map(|k| k.param()))
        .collect()
}

/// Declares a plugin's config keys, each once, and `KEYS`, the list of them all in order:
///
/// ```
/// use fs_core::config::{Key, Size};
/// fs_core::config_keys! {
///     pub KEYS;
///     /// Where the data lives.
///     pub DIR: &'static str = Key::required("dir", "the directory served");
///     pub LIMIT: Size = Key::optional("limit", Size(1 << 20), "the largest file");
/// }
/// let params = fs_core::config::params(&[KEYS]);
/// assert_eq!(params.iter().map(|p| p.name).collect::<Vec<_>>(), ["dir", "limit"]);
/// assert_eq!(params[1].default, "1MB");
/// ```
#[macro_export]
macro_rules! config_keys {
    ($(#[$set_meta:meta])* $set_vis:vis $set:ident;
     $( $(#[$meta:meta])* $vis:vis $key:ident : $ty:ty = $decl:expr; )+) => {
        $(
            #[doc = concat!("The config key `", stringify!($key), "`.")]
            $(#[$meta])*
            $vis const $key: $crate::config::Key<$ty> = $decl;
        )+
        /// Every config key, in the order `GET /api/v1/plugins` lists them.
        $(#[$set_meta])*
        $set_vis const $set: &[&dyn $crate::config::Declared] = &[$(&$key),+];
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NAME: Key<&'static str> = Key::required("name", "a name");
    const RATE: Key<f64> = Key::unset("rate", "a rate").default_text("as fast as it goes");
    const DIRS: Key<List> = Key::optional("dirs", List(&["/a", "/b"]), "dirs");
    const ON: Key<bool> = Key::optional("on", true, "switch").live();

    #[test]
    fn defaults_apply_only_when_absent() {
        let c = json!({"on": false, "dirs": ["/x"]});
        assert!(!ON.get(&c).unwrap());
        assert!(ON.get(&json!({})).unwrap());
        assert_eq!(DIRS.get(&c).unwrap(), ["/x"]);
        assert_eq!(DIRS.get(&Value::Null).unwrap(), ["/a", "/b"]);
        assert_eq!(RATE.opt(&json!({"rate": 2.5})).unwrap(), Some(2.5));
        assert_eq!(RATE.opt(&json!({})).unwrap(), None);
    }

    #[test]
    fn missing_and_mistyped_values_name_the_key() {
        assert_eq!(
            NAME.get(&json!({})).unwrap_err().to_string(),
            "name is required"
        );
        let e = RATE.get(&json!({})).unwrap_err().to_string();
        assert!(e.contains("'rate'"), "{e}");
        let e = ON.get(&json!({"on": 3})).unwrap_err().to_string();
        assert!(e.contains("'on'"), "{e}");
    }

    #[test]
    fn params_say_type_default_and_change() {
        let p = params(&[&[&NAME, &RATE, &DIRS, &ON]]);
        let row = |i: usize| (p[i].name, p[i].kind, p[i].required, p[i].default.as_ref());
        assert_eq!(row(0), ("name", ParamType::String, true, ""));
        assert_eq!(
            row(1),
            ("rate", ParamType::Float, false, "as fast as it goes")
        );
        assert_eq!(row(2), ("dirs", ParamType::StringList, false, "[/a, /b]"));
        assert_eq!(row(3), ("on", ParamType::Bool, false, "true"));
        assert_eq!(p[3].change, Change::Live);
        assert_eq!(p[0].change, Change::Remount);
    }
}
