//! The JSON shapes of the protocol: error kinds, file infos, capabilities, write flags, the hello.

use std::time::SystemTime;

use fs_core::{Capabilities, Error, ErrorKind, FileInfo, Meta, Result, WriteFlags};
use serde_json::{Map, Value, json};

/// Every error kind with its protocol name.
const KINDS: [(ErrorKind, &str); 14] = [
    (ErrorKind::NotFound, "not_found"),
    (ErrorKind::AlreadyExists, "already_exists"),
    (ErrorKind::PermissionDenied, "permission_denied"),
    (ErrorKind::InvalidArgument, "invalid_argument"),
    (ErrorKind::NotADirectory, "not_a_directory"),
    (ErrorKind::IsADirectory, "is_a_directory"),
    (ErrorKind::DirectoryNotEmpty, "directory_not_empty"),
    (ErrorKind::PayloadTooLarge, "payload_too_large"),
    (ErrorKind::Unsupported, "unsupported"),
    (ErrorKind::Unavailable, "unavailable"),
    (ErrorKind::Timeout, "timeout"),
    (ErrorKind::RequestTimeout, "request_timeout"),
    (ErrorKind::LoopDetected, "loop_detected"),
    (ErrorKind::Internal, "internal"),
];

/// The protocol name of `kind`.
pub fn kind_name(kind: ErrorKind) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("internal", |(_, n)| n)
}

/// The kind a protocol name stands for; an unknown name is `Internal`.
pub fn kind_of(name: &str) -> ErrorKind {
    KINDS
        .iter()
        .find(|(_, n)| *n == name)
        .map_or(ErrorKind::Internal, |(k, _)| *k)
}

/// An error as the `error` of an answer.
pub fn error_to_json(e: &Error) -> Value {
    json!({"kind": kind_name(e.kind()), "message": e.to_string()})
}

/// The error an answer's `error` stands for.
pub fn error_from_json(v: &Value) -> Error {
    let kind = kind_of(v.get("kind").and_then(Value::as_str).unwrap_or("internal"));
    let message = v
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or(kind.as_str());
    Error::new(kind, message)
}

/// A file info as the plugin sends it.
///
/// # Errors
/// `Internal` naming the field that is missing or of the wrong type.
pub fn info_from_json(v: &Value) -> Result<FileInfo> {
    let bad = |field: &str| {
        Error::internal(format!(
            "the plugin sent a file info without a valid '{field}': {v}"
        ))
    };
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("name"))?;
    let size = v
        .get("size")
        .map_or(Some(0), Value::as_u64)
        .ok_or_else(|| bad("size"))?;
    let mode = v
        .get("mode")
        .map_or(Some(0), Value::as_u64)
        .and_then(|m| u32::try_from(m).ok())
        .ok_or_else(|| bad("mode"))?;
    let is_dir = v
        .get("isDir")
        .map_or(Some(false), Value::as_bool)
        .ok_or_else(|| bad("isDir"))?;
    let mod_time = match v.get("modTime").and_then(Value::as_str) {
        None => None,
        Some(t) => humantime::parse_rfc3339_weak(t)
            .ok()
            .filter(|t| *t >= SystemTime::UNIX_EPOCH),
    };
    let meta = match v.get("meta") {
        Some(Value::Object(m)) => Meta {
            name: m
                .get("Name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            kind: m
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            content: m.get("Content").and_then(Value::as_object).map(|c| {
                c.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), String::from),
                        )
                    })
                    .collect()
            }),
        },
        _ => Meta::default(),
    };
    Ok(FileInfo {
        name: name.to_string(),
        size,
        mode: mode & 0o7777,
        mod_time,
        is_dir,
        meta,
    })
}

/// Capabilities as `initialize` answers them.
pub fn caps_to_json(c: &Capabilities) -> Value {
    json!({
        "write": c.write, "create": c.create, "mkdir": c.mkdir, "remove": c.remove,
        "rename": c.rename, "chmod": c.chmod, "truncate": c.truncate,
        "max_file_size": c.max_file_size,
    })
}

/// The capabilities `initialize` answered; absent fields are `false`. Live streams are never
/// offered through the protocol.
pub fn caps_from_json(v: &Value) -> Capabilities {
    let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    let max = Capabilities::READ_ONLY.max_file_size;
    Capabilities {
        write: flag("write"),
        create: flag("create"),
        mkdir: flag("mkdir"),
        remove: flag("remove"),
        rename: flag("rename"),
        chmod: flag("chmod"),
        truncate: flag("truncate"),
        live_stream: false,
        max_file_size: v
            .get("max_file_size")
            .and_then(Value::as_u64)
            .map_or(max, |m| m.min(max)),
    }
}

/// Write flags as a request carries them.
pub fn flags_to_json(f: WriteFlags) -> Value {
    json!({
        "append": f.contains(WriteFlags::APPEND),
        "create": f.contains(WriteFlags::CREATE),
        "exclusive": f.contains(WriteFlags::EXCLUSIVE),
        "truncate": f.contains(WriteFlags::TRUNCATE),
    })
}

/// The write flags a request carries.
pub fn flags_from_json(v: Option<&Value>) -> WriteFlags {
    let flag = |k: &str| {
        v.and_then(|v| v.get(k))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    [
        ("append", WriteFlags::APPEND),
        ("create", WriteFlags::CREATE),
        ("exclusive", WriteFlags::EXCLUSIVE),
        ("truncate", WriteFlags::TRUNCATE),
    ]
    .into_iter()
    .filter(|(k, _)| flag(k))
    .fold(WriteFlags::NONE, |a, (_, f)| a | f)
}

/// What a plugin says first.
#[derive(Debug, Clone, PartialEq)]
pub struct Hello {
    /// The protocol version it speaks.
    pub protocol: u64,
    /// The cookie it was started with.
    pub cookie: String,
    /// Its name.
    pub name: String,
    /// Its README.
    pub readme: String,
    /// Its config keys as declared (`GET /plugins`'s shape), if it declares them.
    pub config_params: Option<Vec<Value>>,
}

impl Hello {
    /// The hello frame's header.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("hello".into(), json!(self.protocol));
        m.insert("cookie".into(), json!(self.cookie));
        m.insert("name".into(), json!(self.name));
        m.insert("readme".into(), json!(self.readme));
        if let Some(p) = &self.config_params {
            m.insert("config_params".into(), json!(p));
        }
        Value::Object(m)
    }

    /// Reads a hello header, checking it against the protocol version and cookie expected.
    ///
    /// # Errors
    /// `InvalidArgument` naming both versions or both cookies, or the missing field.
    pub fn check(header: &Map<String, Value>) -> Result<Hello> {
        let protocol = header.get("hello").and_then(Value::as_u64).ok_or_else(|| {
            Error::invalid_argument(
                "the plugin did not begin with a hello (is it a pfs plugin speaking this protocol?)",
            )
        })?;
        if protocol != crate::PROTOCOL_VERSION {
            return Err(Error::invalid_argument(format!(
                "the plugin speaks protocol version {protocol}; this server speaks version {}",
                crate::PROTOCOL_VERSION
            )));
        }
        let cookie = header
            .get("cookie")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if cookie != crate::MAGIC_COOKIE_VALUE {
            return Err(Error::invalid_argument(format!(
                "the plugin's handshake cookie is '{cookie}', expected '{}'",
                crate::MAGIC_COOKIE_VALUE
            )));
        }
        let name = header
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::invalid_argument("the plugin's hello has no name"))?;
        Ok(Hello {
            protocol,
            cookie: cookie.to_string(),
            name: name.to_string(),
            readme: header
                .get("readme")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            config_params: header
                .get("config_params")
                .and_then(Value::as_array)
                .cloned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_and_unknown_is_internal() {
        for kind in ErrorKind::ALL {
            assert_eq!(kind_of(kind_name(kind)), kind);
            let e = error_from_json(&error_to_json(&Error::new(kind, "why")));
            assert_eq!((e.kind(), e.to_string()), (kind, "why".to_string()));
        }
        assert_eq!(kind_of("exploded"), ErrorKind::Internal);
    }

    #[test]
    fn file_infos_round_trip_through_the_api_shape() {
        let info = FileInfo::file(
            "a",
            5,
            0o644,
            Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86400)),
        )
        .with_meta(Meta::new("p", "file"));
        let v = serde_json::to_value(&info).unwrap();
        assert_eq!(info_from_json(&v).unwrap(), info);
        let e = info_from_json(&json!({"name": "x", "size": -1})).unwrap_err();
        assert!(e.to_string().contains("'size'"), "{e}");
    }

    #[test]
    fn a_hello_of_another_version_or_cookie_is_named() {
        let hello = |p: u64, c: &str| {
            let Value::Object(m) = json!({"hello": p, "cookie": c, "name": "x"}) else {
                unreachable!()
            };
            Hello::check(&m)
        };
        assert!(hello(1, crate::MAGIC_COOKIE_VALUE).is_ok());
        let e = hello(2, crate::MAGIC_COOKIE_VALUE).unwrap_err().to_string();
        assert!(e.contains("version 2") && e.contains("version 1"), "{e}");
        let e = hello(1, "other").unwrap_err().to_string();
        assert!(
            e.contains("'other'") && e.contains(crate::MAGIC_COOKIE_VALUE),
            "{e}"
        );
    }
}
