//! [`FilenamePattern`]: the `filename_pattern` of streamrotatefs, checked once at validate and
//! expanded for each new output file (all times in UTC).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use fs_core::{Error, Result};

/// The variables a pattern may use, for error messages.
const VARIABLES: &str = "{channel}, {timestamp}, {date}, {time}, {datetime}, {index}";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Channel,
    Timestamp,
    Date,
    Time,
    DateTime,
    Index,
}

/// A parsed `filename_pattern`: literal text and `{variable}`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilenamePattern {
    parts: Vec<Part>,
}

impl FilenamePattern {
    /// Parses `pattern`. It may contain `/` to put files in subdirectories of `output_path`.
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown `{variable}`, an unclosed `{`, an empty pattern, a leading
    /// `/`, or an empty, `.` or `..` path component.
    pub fn parse(pattern: &str) -> Result<Self> {
        let invalid = |why: String| {
            Error::invalid_argument(format!("invalid value for 'filename_pattern': {why}"))
        };
        if pattern.is_empty() {
            return Err(invalid("must not be empty".into()));
        }
        if pattern.starts_with('/') {
            return Err(invalid(
                "must be relative to output_path (no leading '/')".into(),
            ));
        }
        if pattern
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(invalid(
                "path components must not be empty, '.' or '..'".into(),
            ));
        }
        let mut parts = Vec::new();
        let mut rest = pattern;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| invalid(format!("unclosed '{{' (variables: {VARIABLES})")))?;
            let name = &rest[open + 1..open + close];
            parts.push(match name {
                "channel" => Part::Channel,
                "timestamp" => Part::Timestamp,
                "date" => Part::Date,
                "time" => Part::Time,
                "datetime" => Part::DateTime,
                "index" => Part::Index,
                other => {
                    return Err(invalid(format!(
                        "unknown variable '{{{other}}}' (variables: {VARIABLES})"
                    )));
                }
            });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(FilenamePattern { parts })
    }

    /// The file name (relative to `output_path`) for stream `channel`'s file number `index`, opened
    /// at `now`.
    pub fn expand(&self, channel: &str, now: SystemTime, index: u64) -> String {
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (year, month, day) = civil_from_days((secs / 86_400) as i64);
        let of_day = secs % 86_400;
        let (hour, minute, second) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
        let mut out = String::new();
        for part in &self.parts {
            // Writing to a String cannot fail.
            let _ = match part {
                Part::Literal(s) => write!(out, "{s}"),
                Part::Channel => write!(out, "{channel}"),
                Part::Timestamp => write!(out, "{secs}"),
                Part::Date => write!(out, "{year:04}{month:02}{day:02}"),
                Part::Time => write!(out, "{hour:02}{minute:02}{second:02}"),
                Part::DateTime => write!(
                    out,
                    "{year:04}{month:02}{day:02}_{hour:02}{minute:02}{second:02}"
                ),
                Part::Index => write!(out, "{index:06}"),
            };
        }
        out
    }
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod unit {
    use std::time::Duration;

    use fs_core::ErrorKind;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn expand_every_variable_in_utc() {
        let p =
            FilenamePattern::parse("{channel}/{date}-{time}-{datetime}-{timestamp}-{index}.log")
                .unwrap();
        // 2024-02-29T13:05:09Z, a leap day.
        assert_eq!(
            p.expand("cam", at(1_709_211_909), 7),
            "cam/20240229-130509-20240229_130509-1709211909-000007.log"
        );
        assert_eq!(
            FilenamePattern::parse("{datetime}")
                .unwrap()
                .expand("x", at(0), 0),
            "19700101_000000"
        );
        assert_eq!(
            FilenamePattern::parse("{date}")
                .unwrap()
                .expand("x", at(951_782_400), 0),
            "20000229"
        );
    }

    #[test]
    fn default_pattern_expands_like_agfs() {
        let p = FilenamePattern::parse(super::super::DEFAULT_FILENAME_PATTERN).unwrap();
        assert_eq!(
            p.expand("live", at(1_700_000_000), 3),
            "live_1700000000.dat"
        );
    }

    #[test]
    fn parse_rejects_bad_patterns() {
        for bad in [
            "",
            "/abs.dat",
            "{nope}.dat",
            "{channel",
            "a//b",
            "../x",
            "{channel}/./x",
        ] {
            let err = FilenamePattern::parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
            assert!(err.to_string().contains("filename_pattern"), "{bad}: {err}");
        }
        let err = FilenamePattern::parse("{nope}.dat").unwrap_err();
        assert!(err.to_string().contains("{nope}"), "{err}");
    }
}
