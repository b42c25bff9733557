//! The remote's JSON, read back: FileInfo (pfs and AGFS shapes, RFC 3339 times with any offset),
//! error bodies, write answers, capabilities; and `map_status`, remote HTTP codes back into kinds.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fs_core::{Capabilities, ErrorKind, FileInfo, Meta};
use serde::Deserialize;
use serde_json::Value;

/// A FileInfo as the remote sends it.
#[derive(Debug, Deserialize)]
struct WireInfo {
    #[serde(default)]
    name: String,
    #[serde(default)]
    size: i64,
    #[serde(default)]
    mode: u64,
    #[serde(rename = "modTime", default)]
    mod_time: Option<String>,
    #[serde(rename = "isDir", default)]
    is_dir: bool,
    #[serde(default)]
    meta: Option<WireMeta>,
}

#[derive(Debug, Deserialize)]
struct WireMeta {
    #[serde(rename = "Name", default)]
    name: String,
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(rename = "Content", default)]
    content: Option<BTreeMap<String, Value>>,
}

/// Reads one FileInfo object. `mode` keeps permission bits only (AGFS's localfs sends Go's
/// directory bit); a negative size counts as 0; an unreadable time as unknown.
pub(crate) fn file_info(v: Value) -> Result<FileInfo, String> {
    let w: WireInfo = serde_json::from_value(v).map_err(|e| format!("bad FileInfo: {e}"))?;
    let meta = w.meta.map_or_else(Meta::default, |m| Meta {
        name: m.name,
        kind: m.kind,
        content: m.content.map(|c| {
            c.into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect()
        }),
    });
    Ok(FileInfo {
        name: w.name,
        size: w.size.max(0) as u64,
        mode: (w.mode & 0o7777) as u32,
        mod_time: w.mod_time.as_deref().and_then(parse_rfc3339),
        is_dir: w.is_dir,
        meta,
    })
}

/// Reads a listing, `{"files": [...]}` or AGFS's `{"files": null}`.
pub(crate) fn listing(v: Value) -> Result<Vec<FileInfo>, String> {
    match v.get("files") {
        Some(Value::Array(a)) => a.iter().cloned().map(file_info).collect(),
        Some(Value::Null) => Ok(Vec::new()),
        _ => Err("listing without a files array".to_string()),
    }
}

/// The byte count of a write answer: pfs's `written`, or AGFS's `"Written N bytes"` message.
pub(crate) fn written(v: &Value) -> Option<u64> {
    v.get("written").and_then(Value::as_u64).or_else(|| {
        v.get("message")
            .and_then(Value::as_str)?
            .strip_prefix("Written ")?
            .split(' ')
            .next()?
            .parse()
            .ok()
    })
}

/// The message of an error answer: the JSON `error` field, else the trimmed text.
pub(crate) fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}

/// What `GET /capabilities?path=` tells: the capabilities of the remote mount (pfs only) and
/// whether the remote honours `offset` and `flags` on writes (pfs's `write_flags` feature; AGFS
/// ignores both).
pub(crate) fn capabilities(v: &Value) -> (Option<Capabilities>, bool) {
    let write_flags = v
        .get("features")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|x| x == "write_flags"));
    let caps = v.get("capabilities").and_then(Value::as_object).map(|c| {
        let on = |k: &str| c.get(k).and_then(Value::as_bool).unwrap_or(true);
        Capabilities {
            write: on("write"),
            create: on("create"),
            mkdir: on("mkdir"),
            remove: on("remove"),
            rename: on("rename"),
            chmod: on("chmod"),
            truncate: on("truncate"),
            // `stream=true` always answers through a pfs remote (it falls back to the content).
            live_stream: true,
            max_file_size: c
                .get("max_file_size")
                .and_then(Value::as_u64)
                .map_or(fs_core::MAX_FILE_SIZE, |m| m.min(fs_core::MAX_FILE_SIZE)),
        }
    });
    (caps, write_flags)
}

/// Turns a remote HTTP status (and, where one code covers several kinds, the message's words)
/// back into a kind, so a remote 404 is a local 404. A 500 is read by its words too: AGFS
/// answers 500 for most plugin errors (`no such file or directory: /x`).
pub fn map_status(status: u16, message: &str) -> ErrorKind {
    let m = message.to_ascii_lowercase();
    let has = |w: &str| m.contains(w);
    match status {
        400 if has("not a directory") => ErrorKind::NotADirectory,
        400 if has("is a directory") => ErrorKind::IsADirectory,
        400 | 416 | 422 => ErrorKind::InvalidArgument,
        401 | 403 => ErrorKind::PermissionDenied,
        404 | 410 => ErrorKind::NotFound,
        405 | 501 => ErrorKind::Unsupported,
        409 if has("not empty") => ErrorKind::DirectoryNotEmpty,
        409 => ErrorKind::AlreadyExists,
        413 => ErrorKind::PayloadTooLarge,
        408 | 504 => ErrorKind::Timeout,
        502 | 503 => ErrorKind::Unavailable,
        508 => ErrorKind::LoopDetected,
        500 if has("no such file") || has("not found") => ErrorKind::NotFound,
        500 if has("not empty") => ErrorKind::DirectoryNotEmpty,
        500 if has("already exists") || has("file exists") => ErrorKind::AlreadyExists,
        500 if has("not a directory") => ErrorKind::NotADirectory,
        500 if has("is a directory") => ErrorKind::IsADirectory,
        500 if has("not supported") || has("does not support") => ErrorKind::Unsupported,
        500 if has("permission denied") || has("read-only") => ErrorKind::PermissionDenied,
        _ => ErrorKind::Internal,
    }
}

/// Parses an RFC 3339 time with any offset (`2025-11-17T15:20:45.434785-08:00`, `...Z`). Times
/// before 1970, Go's zero time among them, read as unknown.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (i, c) in frac[..digits].bytes().take(9).enumerate() {
            nanos += u32::from(c - b'0') * 10u32.pow(8 - i as u32);
        }
        rest = &frac[digits..];
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let d = |c: &u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
            let mins = (d(h1)? * 10 + d(h2)?) * 60 + d(m1)? * 10 + d(m2)?;
            if *sign == b'-' { -mins * 60 } else { mins * 60 }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset;
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::new(s, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
