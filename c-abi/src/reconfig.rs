//! The configs a plugin is given and gives back (ABI 1.3, `PFSReconfigure`): the JSON text the
//! plugin reads (the mount's config plus `mount_path`, as `PluginInitialize` gets it), and the
//! checks an amended config must pass before the host stores it.
//!
//! Safe code only: the call itself is `vtable.rs`'s.

use std::ffi::CString;

use fs_core::{Error, Result};
use serde_json::{Map, Value};

/// The key the host adds to every config it hands a plugin.
const MOUNT_PATH: &str = "mount_path";

/// `config` (a JSON object; `null` counts as an empty one) with `mount_path` set to `mount_path`,
/// as the NUL-terminated JSON text the ABI passes.
///
/// # Errors
/// `InvalidArgument` for a config that is not an object, or a text with a NUL byte.
pub(crate) fn config_text(config: &Value, mount_path: &str) -> Result<CString> {
    let mut map = match config {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        _ => {
            return Err(Error::invalid_argument(
                "invalid config: expected a map of parameters",
            ));
        }
    };
    map.insert(MOUNT_PATH.into(), Value::String(mount_path.into()));
    CString::new(Value::Object(map).to_string())
        .map_err(|_| Error::invalid_argument("a NUL byte cannot cross the plugin ABI"))
}

/// The config `plugin` says it applied instead of `asked`, from the bytes `PFSReconfigure`
/// returned: it must be UTF-8 and a JSON object, or the plugin broke the contract (`Internal`,
/// and nothing is stored). Its `mount_path` is the host's: the one `asked` carries (the caller's
/// own key, if any), else none.
///
/// The adapter knows no declared keys of an external plugin (`config_params` is empty: the
/// plugin's own code judges its keys), so beyond being an object nothing more is required.
pub(crate) fn amended_config(plugin: &str, bytes: Vec<u8>, asked: &Value) -> Result<Value> {
    let broken = |what: String| {
        Error::internal(format!(
            "plugin {plugin}: PFSReconfigure returned an amended config that {what}; \
             the mount keeps the config it had on record"
        ))
    };
    let text = String::from_utf8(bytes).map_err(|e| broken(format!("is not UTF-8 ({e})")))?;
    let mut map = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => map,
        Ok(other) => return Err(broken(format!("is not a JSON object: {}", kind(&other)))),
        Err(e) => return Err(broken(format!("is not JSON ({e})"))),
    };
    match asked.get(MOUNT_PATH) {
        Some(own) => map.insert(MOUNT_PATH.into(), own.clone()),
        None => map.remove(MOUNT_PATH),
    };
    Ok(Value::Object(map))
}

/// What kind of JSON value `v` is, for an error message.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use fs_core::ErrorKind;
    use serde_json::json;

    use super::*;

    #[test]
    fn the_plugin_reads_the_config_with_its_mount_path() {
        let text = config_text(&json!({"size": 3, "mount_path": "/mine"}), "/m").unwrap();
        let v: Value = serde_json::from_str(text.to_str().unwrap()).unwrap();
        assert_eq!(v, json!({"size": 3, "mount_path": "/m"}));
        let empty = config_text(&Value::Null, "/m").unwrap();
        assert_eq!(empty.to_str().unwrap(), r#"{"mount_path":"/m"}"#);
        let e = config_text(&json!([1]), "/m").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        // A NUL inside a value crosses escaped, never cutting the text short.
        let nul = config_text(&json!({"k": "a\u{0}b"}), "/m").unwrap();
        assert_eq!(
            nul.to_str().unwrap(),
            r#"{"k":"a\u0000b","mount_path":"/m"}"#
        );
    }

    #[test]
    fn an_amended_object_is_kept_with_the_hosts_mount_path() {
        let amended = br#"{"size": 10, "mount_path": "/elsewhere"}"#.to_vec();
        assert_eq!(
            amended_config("p", amended.clone(), &json!({"size": 99})).unwrap(),
            json!({"size": 10})
        );
        assert_eq!(
            amended_config("p", amended, &json!({"mount_path": "/asked"})).unwrap(),
            json!({"size": 10, "mount_path": "/asked"})
        );
    }

    #[test]
    fn an_amended_text_that_is_not_a_utf8_json_object_is_a_plugin_failure() {
        let cases: [(&[u8], &str); 5] = [
            (b"[1,2]", "is not a JSON object: an array"),
            (b"\"x\"", "is not a JSON object: a string"),
            (b"{not json", "is not JSON"),
            (b"", "is not JSON"),
            (b"{\"name\":\"caf\xe9\"}", "is not UTF-8"),
        ];
        for (bytes, words) in cases {
            let e = amended_config("memfs-c", bytes.to_vec(), &json!({})).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Internal, "{bytes:?}");
            let text = e.to_string();
            assert!(
                text.contains(words) && text.starts_with("plugin memfs-c: PFSReconfigure"),
                "{bytes:?}: {text}"
            );
        }
    }
}
