//! How answers are shown: permission strings, times, human sizes, columns, and raw JSON.

use tokio::io::{AsyncWrite, AsyncWriteExt};

/// `ls -l`'s type and permission string.
///
/// ```
/// use pfs_cli::output::mode_string;
/// assert_eq!(mode_string(0o755, true, false), "drwxr-xr-x");
/// assert_eq!(mode_string(0o644, false, false), "-rw-r--r--");
/// assert_eq!(mode_string(0o777, false, true), "lrwxrwxrwx");
/// assert_eq!(mode_string(0o4755, false, false), "-rwsr-xr-x");
/// ```
pub fn mode_string(mode: u64, is_dir: bool, is_link: bool) -> String {
    let mut s = String::with_capacity(10);
    s.push(if is_link {
        'l'
    } else if is_dir {
        'd'
    } else {
        '-'
    });
    let special = [(0o4000, 's', 'S'), (0o2000, 's', 'S'), (0o1000, 't', 'T')];
    for (i, shift) in [6u32, 3, 0].into_iter().enumerate() {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let (flag, set_x, set_no_x) = special[i];
        let x = bits & 1 != 0;
        s.push(match (mode & flag != 0, x) {
            (true, true) => set_x,
            (true, false) => set_no_x,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// An RFC 3339 time as `YYYY-MM-DD HH:MM` in the zone the server gave; `-` for Go's zero time
/// or text that is not a time.
///
/// ```
/// use pfs_cli::output::short_time;
/// assert_eq!(short_time("2025-01-15T10:30:45.123456+08:00"), "2025-01-15 10:30");
/// assert_eq!(short_time("0001-01-01T00:00:00Z"), "-");
/// ```
pub fn short_time(rfc3339: &str) -> String {
    let b = rfc3339.as_bytes();
    let shaped = b.len() >= 16
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b' ')
        && b[13] == b':';
    if !shaped || rfc3339.starts_with("0001-01-01") {
        return "-".to_string();
    }
    format!("{} {}", &rfc3339[..10], &rfc3339[11..16])
}

/// A size in powers of 1024 with a unit letter, as `du -h` and `ls -lh` print it.
///
/// ```
/// use pfs_cli::output::human_size;
/// assert_eq!(human_size(0), "0");
/// assert_eq!(human_size(1023), "1023");
/// assert_eq!(human_size(1536), "1.5K");
/// assert_eq!(human_size(64 << 20), "64M");
/// ```
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    if n < 1024 {
        return n.to_string();
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 && value.fract() >= 0.05 {
        format!("{value:.1}{}", UNITS[unit])
    } else {
        format!("{}{}", value.round() as u64, UNITS[unit])
    }
}

/// Names laid out in columns across `width` characters, filled down then across (`ls -C`).
///
/// ```
/// use pfs_cli::output::columns;
/// let names = ["README", "logs", "notifications", "orders"].map(String::from);
/// assert_eq!(columns(&names, 80), "README  logs  notifications  orders\n");
/// assert_eq!(columns(&names, 30), "README  notifications\nlogs    orders\n");
/// assert_eq!(columns(&names, 10), "README\nlogs\nnotifications\norders\n");
/// ```
pub fn columns(names: &[String], width: usize) -> String {
    if names.is_empty() {
        return String::new();
    }
    let len = |s: &String| s.chars().count();
    let mut rows = names.len();
    for cols in (1..=names.len()).rev() {
        let r = names.len().div_ceil(cols);
        let widths: Vec<usize> = names
            .chunks(r)
            .map(|c| c.iter().map(len).max().unwrap_or(0))
            .collect();
        let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
        if total <= width {
            rows = r;
            break;
        }
    }
    let cols: Vec<&[String]> = names.chunks(rows).collect();
    let widths: Vec<usize> = cols
        .iter()
        .map(|c| c.iter().map(len).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in 0..rows {
        let mut line = String::new();
        for (c, col) in cols.iter().enumerate() {
            if let Some(name) = col.get(r) {
                line.push_str(name);
                if c + 1 < cols.len() && cols[c + 1].get(r).is_some() {
                    line.push_str(&" ".repeat(widths[c] - len(name) + 2));
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The terminal width from `$COLUMNS`, else 80.
pub fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|w| *w > 0)
        .unwrap_or(80)
}

/// Writes a JSON answer as the server sent it, ending it with a newline.
///
/// # Errors
/// Errors of the output stream.
pub async fn write_json<W: AsyncWrite + Unpin + ?Sized>(
    out: &mut W,
    raw: &[u8],
) -> std::io::Result<()> {
    out.write_all(raw).await?;
    if !raw.ends_with(b"\n") {
        out.write_all(b"\n").await?;
    }
    Ok(())
}
