//! The HTML httpfs sends: directory listings and error pages, plus the escaping, link encoding and
//! content types they rely on.

use std::fmt::Write as _;
use std::time::SystemTime;

use fs_core::FileInfo;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters left as they are in a link's path segment: RFC 3986's unreserved set.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The absolute link to a normalized path of the published tree, each segment percent-encoded;
/// directories end with `/`.
pub(crate) fn href(path: &str, is_dir: bool) -> String {
    let mut out = String::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        out.extend(utf8_percent_encode(seg, SEGMENT));
    }
    if is_dir || out.is_empty() {
        out.push('/');
    }
    out
}

/// Whether a file is shown inline under its directory's listing and served as text
/// (`README`, `README.md`, `readme.txt`, ...).
pub(crate) fn is_readme(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "readme" || lower.starts_with("readme.")
}

/// The `Content-Type` of a file, from its name.
pub(crate) fn content_type(name: &str) -> &'static str {
    if is_readme(name) {
        return "text/plain; charset=utf-8";
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "xml" => "application/xml",
        "csv" => "text/csv; charset=utf-8",
        "txt" | "text" | "log" | "md" | "markdown" | "rst" | "ini" | "conf" | "toml" | "yaml"
        | "yml" | "sh" | "py" | "rs" | "go" | "c" | "h" | "cpp" | "hpp" | "java" | "sql" => {
            "text/plain; charset=utf-8"
        }
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "avif" => "image/avif",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "wasm" => "application/wasm",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// `512 B`, `1.5 KiB`, `3.0 MiB`.
pub(crate) fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `2025-11-03 14:05:09 UTC`, or `-` when unknown.
fn date(t: Option<SystemTime>) -> String {
    match t {
        Some(t) if t > SystemTime::UNIX_EPOCH => humantime::format_rfc3339_seconds(t)
            .to_string()
            .replacen('T', " ", 1)
            .replace('Z', " UTC"),
        _ => "-".to_string(),
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;\
margin:2rem;color:#1f2328;background:#fff}\
h1{font-size:1.4rem;font-weight:600;margin:0 0 .25rem}\
p.src{color:#59636e;margin:0 0 1rem;font-size:.9rem}\
table{border-collapse:collapse;width:100%;max-width:60rem}\
th,td{padding:.35rem .75rem;border-bottom:1px solid #d1d9e0;text-align:left;white-space:nowrap}\
th{background:#f6f8fa;font-weight:600}\
.size{text-align:right;font-variant-numeric:tabular-nums}\
td.date{color:#59636e;font-variant-numeric:tabular-nums}\
a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}\
tr.dir a{font-weight:600}\
section.readme{max-width:60rem;margin-top:1.5rem;border:1px solid #d1d9e0;border-radius:6px}\
section.readme h2{font-size:.9rem;margin:0;padding:.5rem .75rem;background:#f6f8fa;\
border-bottom:1px solid #d1d9e0}\
section.readme pre{margin:0;padding:.75rem;white-space:pre-wrap;font-size:.85rem;\
font-family:ui-monospace,'DejaVu Sans Mono',monospace}\
footer{margin-top:1.5rem;color:#59636e;font-size:.8rem}";

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(title)
    );
}

/// A README shown under a listing.
#[derive(Debug)]
pub(crate) struct Readme {
    /// Its file name.
    pub(crate) name: String,
    /// Its text (lossily decoded, possibly cut).
    pub(crate) text: String,
    /// Whether the text was cut at the inline limit.
    pub(crate) truncated: bool,
}

/// The listing page of the directory `rel` (a normalized path of the published tree) whose pfs
/// path is `full`. `entries` must already be sorted (directories first).
pub(crate) fn listing(
    rel: &str,
    full: &str,
    entries: &[FileInfo],
    readme: Option<&Readme>,
) -> String {
    let shown = if rel == "/" {
        "/".to_string()
    } else {
        format!("{rel}/")
    };
    let mut out = String::with_capacity(2048 + entries.len() * 160);
    head(&mut out, &format!("Index of {shown}"));
    let _ = write!(
        out,
        "<h1>Index of {}</h1>\n<p class=\"src\">pfs path <code>{}</code> &middot; {} {}</p>\n\
         <table id=\"listing\">\n<thead><tr><th>Name</th><th class=\"size\">Size</th>\
         <th>Modified</th></tr></thead>\n<tbody>\n",
        escape(&shown),
        escape(full),
        entries.len(),
        if entries.len() == 1 {
            "entry"
        } else {
            "entries"
        },
    );
    if rel != "/" {
        let _ = writeln!(
            out,
            "<tr class=\"up\"><td><a href=\"{}\">../</a></td><td class=\"size\">-</td>\
             <td class=\"date\">-</td></tr>",
            escape(&href(fs_core::path::parent(rel), true))
        );
    }
    for e in entries {
        let link = escape(&href(&fs_core::path::child(rel, &e.name), e.is_dir));
        let name = escape(&e.name);
        let (class, slash, size) = if e.is_dir {
            ("dir", "/", "<td class=\"size\">-</td>".to_string())
        } else {
            (
                "file",
                "",
                format!(
                    "<td class=\"size\" data-bytes=\"{}\" title=\"{} bytes\">{}</td>",
                    e.size,
                    e.size,
                    human_size(e.size)
                ),
            )
        };
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td><a href=\"{link}\">{name}{slash}</a></td>{size}\
             <td class=\"date\">{}</td></tr>",
            date(e.mod_time)
        );
    }
    out.push_str("</tbody>\n</table>\n");
    if let Some(r) = readme {
        let _ = write!(
            out,
            "<section class=\"readme\" id=\"readme\">\n<h2>{}</h2>\n<pre>{}{}</pre>\n</section>\n",
            escape(&r.name),
            escape(&r.text),
            if r.truncated { "\n[…]" } else { "" },
        );
    }
    out.push_str("<footer>Served by pfs httpfs</footer>\n</body>\n</html>\n");
    out
}

/// A small page for an error status: `404 Not Found` and what was asked for.
pub(crate) fn error_page(code: u16, reason: &str, rel: &str, detail: &str) -> String {
    let mut out = String::with_capacity(1024);
    head(&mut out, &format!("{code} {reason}"));
    let _ = write!(
        out,
        "<h1>{code} {}</h1>\n<p class=\"src\"><code>{}</code>: {}</p>\n\
         <p><a href=\"/\">Back to the top</a></p>\n</body>\n</html>\n",
        escape(reason),
        escape(rel),
        escape(detail),
    );
    out
}
