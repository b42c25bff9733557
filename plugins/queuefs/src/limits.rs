//! queuefs's operator limits: the largest message and the longest queue. Both are off unless
//! configured (AGFS has neither), and both change on a mounted instance.

use fs_core::config::{Key, Size};
use fs_core::{Error, ErrorKind, Result};
use serde_json::Value;

fs_core::config_keys! {
    /// The limits, after the backend keys (the order `GET /plugins` lists).
    pub(crate) LIMIT_KEYS;
    MAX_MESSAGE_SIZE: Size = Key::unset(
        "max_message_size",
        "the largest message `enqueue` takes, in bytes (`64KB`, `1MB` or a number); a larger one is refused with 413 before it is stored; at least 1",
    )
    .default_text("no limit")
    .live();
    MAX_QUEUE_LENGTH: u64 = Key::unset(
        "max_queue_length",
        "the most messages one queue holds; an enqueue into a full queue is refused with 413 until a dequeue or clear makes room; at least 1",
    )
    .default_text("no limit")
    .live();
}

/// The limits in force; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) max_message_size: Option<u64>,
    pub(crate) max_queue_length: Option<u64>,
}

impl Limits {
    /// Reads the limits of a config whose keys were checked.
    ///
    /// # Errors
    /// `InvalidArgument` naming the key for a value that is not a size or count, or is 0.
    pub(crate) fn from_config(config: &Value) -> Result<Self> {
        let at_least_one = |key: &str, v: Option<u64>| match v {
            Some(0) => Err(Error::invalid_argument(format!(
                "invalid value for '{key}': must be at least 1 (leave it out for no limit)"
            ))),
            v => Ok(v),
        };
        Ok(Limits {
            max_message_size: at_least_one(MAX_MESSAGE_SIZE.name(), MAX_MESSAGE_SIZE.opt(config)?)?,
            max_queue_length: at_least_one(MAX_QUEUE_LENGTH.name(), MAX_QUEUE_LENGTH.opt(config)?)?,
        })
    }

    /// Checks a message of `len` bytes against `max_message_size`.
    ///
    /// # Errors
    /// `PayloadTooLarge` naming the key and the limit.
    pub(crate) fn check_message(&self, path: &str, len: u64) -> Result<()> {
        match self.max_message_size {
            Some(max) if len > max => Err(message_too_large(path, max)),
            _ => Ok(()),
        }
    }
}

/// A message over `max_message_size` (`max` bytes).
pub(crate) fn message_too_large(path: &str, max: u64) -> Error {
    Error::new(
        ErrorKind::PayloadTooLarge,
        format!(
            "message too large: more than the {max} bytes this mount's {} allows",
            MAX_MESSAGE_SIZE.name()
        ),
    )
    .with_path(path)
}

/// An enqueue into `queue`, which holds `max` messages already.
pub(crate) fn queue_full(queue: &str, max: u64) -> Error {
    Error::new(
        ErrorKind::PayloadTooLarge,
        format!(
            "queue full: /{queue} holds {max} messages, this mount's {}; dequeue or clear to make room",
            MAX_QUEUE_LENGTH.name()
        ),
    )
    .with_path(format!("/{queue}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_are_off_unless_given_and_zero_is_refused() {
        assert_eq!(Limits::from_config(&json!({})).unwrap(), Limits::default());
        assert_eq!(
            Limits::from_config(&json!({"max_message_size": "1KB", "max_queue_length": 3}))
                .unwrap(),
            Limits {
                max_message_size: Some(1024),
                max_queue_length: Some(3)
            }
        );
        for (key, bad) in [
            ("max_message_size", json!(0)),
            ("max_queue_length", json!(0)),
            ("max_queue_length", json!(-1)),
            ("max_queue_length", json!(1e300)),
            ("max_message_size", json!("lots")),
        ] {
            let e = Limits::from_config(&json!({ key: bad })).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{key}: {e}");
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn check_message_allows_exactly_the_limit() {
        let limits = Limits {
            max_message_size: Some(4),
            max_queue_length: None,
        };
        assert!(limits.check_message("/q/enqueue", 4).is_ok());
        let e = limits.check_message("/q/enqueue", 5).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PayloadTooLarge);
        assert!(e.to_string().contains("max_message_size"), "{e}");
        assert!(
            Limits::default()
                .check_message("/q/enqueue", u64::MAX)
                .is_ok()
        );
    }
}
