//! Sizes and durations as configs write them: `512KB`, `6MB`, `30s`, `1h30m`, or plain numbers.

use crate::{Error, Result};

/// Parses a byte size: `1024`, `512KB`, `6MB`, `1GiB` (K/M/G are powers of 1024, as in AGFS).
///
/// ```
/// use fs_core::config::parse_size;
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
/// use fs_core::config::parse_duration;
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
/// use fs_core::config::seconds;
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

/// A byte size as a config would write it: the largest unit that divides it (`8MB`, `512KB`,
/// `1GB`), or bytes.
///
/// ```
/// use fs_core::config::parse::{format_size, parse_size};
/// assert_eq!(format_size(8 << 20), "8MB");
/// assert_eq!(format_size(1000), "1000");
/// assert_eq!(parse_size(&format_size(3 << 30)).unwrap(), 3 << 30);
/// ```
pub fn format_size(n: u64) -> String {
    for (shift, unit) in [(40, "TB"), (30, "GB"), (20, "MB"), (10, "KB")] {
        if n != 0 && n.is_multiple_of(1u64 << shift) {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

/// A duration as a config would write it: whole hours, minutes, seconds or milliseconds (`1h`,
/// `5m`, `30s`, `250ms`).
///
/// ```
/// use std::time::Duration;
/// use fs_core::config::parse::format_duration;
/// assert_eq!(format_duration(Duration::from_secs(60)), "1m");
/// assert_eq!(format_duration(Duration::from_secs(90)), "90s");
/// assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
/// ```
pub fn format_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    match s {
        0 => "0s".to_string(),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}
