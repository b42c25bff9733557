//! One heartbeat item and the shape of a path: what `ctl` reads and takes, and where a path points.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use fs_core::{Error, Result};
// tokio's Instant is std's own clock unless tokio's `test-util` is on (this crate's tests), where it
// follows the paused clock the tests move with `tokio::time::advance`.
use tokio::time::Instant;

pub(crate) const KEEPALIVE: &str = "keepalive";
pub(crate) const CTL: &str = "ctl";
/// AGFS's words for a bad `ctl` write.
const INVALID_CTL: &str = "invalid ctl command, use 'timeout=N' (seconds)";

/// The wall clock: [`SystemTime::now`], except in this crate's tests, where it moves with tokio's
/// clock (see `fs_core::conformance::clock`) so that a test under a paused clock sets it exactly.
pub(crate) fn wall_now() -> SystemTime {
    #[cfg(test)]
    return fs_core::conformance::clock::wall_now();
    #[cfg(not(test))]
    SystemTime::now()
}

/// One heartbeat item.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// Wall-clock time of the last heartbeat, as shown in `ctl`.
    pub(crate) last_beat: SystemTime,
    /// Monotonic time of the last heartbeat; expiry is decided on it, so a clock step cannot
    /// expire or revive an item.
    pub(crate) last_instant: Instant,
    pub(crate) timeout: Duration,
}

impl Item {
    pub(crate) fn new(timeout: Duration) -> Self {
        Item {
            last_beat: wall_now(),
            last_instant: Instant::now(),
            timeout,
        }
    }

    pub(crate) fn beat(&mut self) {
        self.last_beat = wall_now();
        self.last_instant = Instant::now();
    }

    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        self.last_instant
            .checked_add(self.timeout)
            .is_some_and(|deadline| now >= deadline)
    }

    pub(crate) fn expire_ts(&self) -> SystemTime {
        self.last_beat
            .checked_add(self.timeout)
            .unwrap_or(self.last_beat)
    }

    pub(crate) fn status(&self, now: Instant) -> &'static str {
        if self.is_expired(now) {
            "expired"
        } else {
            "alive"
        }
    }

    /// The text of `ctl`.
    pub(crate) fn ctl_text(&self, now: Instant) -> String {
        format!(
            "last_heartbeat_ts: {}\nexpire_ts: {}\ntimeout: {}\nstatus: {}\n",
            rfc3339(self.last_beat),
            rfc3339(self.expire_ts()),
            seconds(self.timeout),
            self.status(now)
        )
    }
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A timeout in seconds: `300`, or `1.5` for a fractional one.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

/// Parses a `ctl` command: `timeout=N`, N > 0 seconds, surrounding whitespace ignored.
pub(crate) fn parse_ctl(data: &[u8]) -> Result<Duration> {
    let invalid = || Error::invalid_argument(INVALID_CTL);
    let text = std::str::from_utf8(data).map_err(|_| invalid())?.trim();
    let value = text.strip_prefix("timeout=").ok_or_else(invalid)?.trim();
    let secs: f64 = value.parse().map_err(|_| invalid())?;
    match fs_core::config::seconds(secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(invalid()),
    }
}

/// The files inside an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    Keepalive,
    Ctl,
}

impl Special {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            KEEPALIVE => Some(Special::Keepalive),
            CTL => Some(Special::Ctl),
            _ => None,
        }
    }
}

/// Where a path points, by its shape only (whether the item exists is checked separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place<'a> {
    Root,
    Readme,
    /// `/<name>`: an item directory (existing or not).
    Top(&'a str),
    /// `/<item>/<name>`.
    In(&'a str, &'a str),
    /// Below `/README`, or below `/<item>/<name>`.
    Deeper(&'a str, &'a str),
}

pub(crate) fn place(path: &str) -> Place<'_> {
    if path == "/" {
        return Place::Root;
    }
    let rel = path.trim_start_matches('/');
    let mut parts = rel.splitn(3, '/');
    let first = parts.next().unwrap_or_default();
    match (parts.next(), parts.next()) {
        (None, _) if first == "README" => Place::Readme,
        (None, _) => Place::Top(first),
        (Some(second), None) if first != "README" => Place::In(first, second),
        (Some(second), _) => Place::Deeper(first, second),
    }
}

pub(crate) type Items = BTreeMap<String, Item>;

/// The item called `name`, unless it is missing or expired (an expired item is gone even before
/// the sweeper deletes it).
pub(crate) fn live<'m>(items: &'m Items, name: &str, now: Instant) -> Option<&'m Item> {
    items.get(name).filter(|i| !i.is_expired(now))
}

pub(crate) fn live_mut<'m>(items: &'m mut Items, name: &str, now: Instant) -> Option<&'m mut Item> {
    items.get_mut(name).filter(|i| !i.is_expired(now))
}

/// The error for a path below a file, or below a missing item.
pub(crate) fn deeper_error(
    items: &Items,
    path: &str,
    first: &str,
    second: &str,
    now: Instant,
) -> Error {
    let below_file = first == "README"
        || (live(items, first, now).is_some() && Special::parse(second).is_some());
    if below_file {
        Error::not_a_directory(path)
    } else {
        Error::not_found(path)
    }
}

#[cfg(test)]
mod tests {
    use fs_core::ErrorKind;

    use super::*;

    #[test]
    fn parse_ctl_accepts_timeout_with_newline() {
        assert_eq!(parse_ctl(b"timeout=5\n").unwrap(), Duration::from_secs(5));
        assert_eq!(
            parse_ctl(b" timeout=1.5 ").unwrap(),
            Duration::from_millis(1500)
        );
        for bad in [
            &b"timeout=0"[..],
            b"timeout=-1",
            // A deadline of now + 1e18 s would overflow the clock (a panic, before).
            b"timeout=1e18",
            b"timeout=1e300",
            b"timeout=",
            b"ttl=5",
            b"",
            b"timeout=x",
        ] {
            let e = parse_ctl(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert_eq!(e.to_string(), INVALID_CTL);
        }
    }

    #[test]
    fn place_classifies_paths() {
        assert_eq!(place("/"), Place::Root);
        assert_eq!(place("/README"), Place::Readme);
        assert_eq!(place("/svc"), Place::Top("svc"));
        assert_eq!(place("/svc/ctl"), Place::In("svc", "ctl"));
        assert_eq!(place("/svc/ctl/x"), Place::Deeper("svc", "ctl"));
        assert_eq!(place("/README/x"), Place::Deeper("README", "x"));
    }
}
