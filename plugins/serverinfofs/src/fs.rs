//! [`ServerInfoFs`]: read-only files about the running server, generated at each read and stat.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::filesystem::format_time;
use fs_core::{Content, ContentBody, Error, FileInfo, Meta, ReadOnlySource, Result, read_window};
use serde::Serialize;

const PLUGIN: &str = "serverinfofs";
const ROOT_MODE: u32 = 0o555;
const FILE_MODE: u32 = 0o444;

/// The files at the root, in listing order.
const FILES: [&str; 5] = ["README", "server_info", "stats", "uptime", "version"];

/// The serverinfofs filesystem: a fixed, read-only set of generated files.
#[derive(Debug)]
pub struct ServerInfoFs {
    version: String,
    started: SystemTime,
    readme: &'static str,
    mounted: SystemTime,
}

/// `/server_info`.
#[derive(Debug, Serialize)]
struct ServerInfoJson<'a> {
    version: &'a str,
    uptime: String,
    uptime_seconds: u64,
    start_time: String,
    pid: u32,
    num_cpus: usize,
    os: &'static str,
    arch: &'static str,
    memory: RssJson,
}

/// `memory` of `/server_info`.
#[derive(Debug, Serialize)]
struct RssJson {
    rss_bytes: Option<u64>,
}

/// `/stats`.
#[derive(Debug, Serialize)]
struct StatsJson {
    uptime_seconds: u64,
    threads: Option<u64>,
    memory: MemoryJson,
}

/// `memory` of `/stats`.
#[derive(Debug, Serialize)]
struct MemoryJson {
    rss_bytes: Option<u64>,
    rss_peak_bytes: Option<u64>,
    vm_peak_bytes: Option<u64>,
}

/// The figures of `/proc/self/status` serverinfofs shows; `None` where unavailable.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct ProcStatus {
    /// Resident set size (`VmRSS`).
    pub(super) rss_bytes: Option<u64>,
    /// Peak resident set size (`VmHWM`).
    pub(super) rss_peak_bytes: Option<u64>,
    /// Peak virtual memory size (`VmPeak`).
    pub(super) vm_peak_bytes: Option<u64>,
    /// Number of threads (`Threads`).
    pub(super) threads: Option<u64>,
}

impl ProcStatus {
    /// Reads the current process's status; all `None` when `/proc` is not there.
    fn current() -> Self {
        std::fs::read_to_string("/proc/self/status")
            .map(|s| Self::parse(&s))
            .unwrap_or_default()
    }

    /// Parses the text of `/proc/<pid>/status` (`VmRSS:\t  1234 kB`, `Threads:\t4`).
    pub(super) fn parse(text: &str) -> Self {
        let mut out = ProcStatus::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let mut words = value.split_whitespace();
            let Some(n) = words.next().and_then(|w| w.parse::<u64>().ok()) else {
                continue;
            };
            let bytes = match words.next() {
                Some(unit) if unit.eq_ignore_ascii_case("kb") => n.saturating_mul(1024),
                _ => n,
            };
            match key {
                "VmRSS" => out.rss_bytes = Some(bytes),
                "VmHWM" => out.rss_peak_bytes = Some(bytes),
                "VmPeak" => out.vm_peak_bytes = Some(bytes),
                "Threads" => out.threads = Some(n),
                _ => {}
            }
        }
        out
    }
}

/// Formats a duration in whole seconds as Go does: `3s`, `4m5s`, `1h2m3s`.
pub(super) fn format_uptime(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Serializes `value` as indented JSON with a trailing newline.
fn pretty_json(value: &impl Serialize) -> Result<Bytes> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::internal(format!("serverinfofs: cannot encode JSON: {e}")))?;
    text.push('\n');
    Ok(Bytes::from(text))
}

impl ServerInfoFs {
    /// Creates the filesystem: `version` is what `/version` shows, `started` when the server started,
    /// `readme` the text of `/README`.
    pub fn new(version: impl Into<String>, started: SystemTime, readme: &'static str) -> Self {
        ServerInfoFs {
            version: version.into(),
            started,
            readme,
            mounted: SystemTime::now(),
        }
    }

    fn uptime(&self) -> Duration {
        SystemTime::now()
            .duration_since(self.started)
            .unwrap_or_default()
    }

    /// The content of the root file `name` as of now, with its modification time; `None` when there
    /// is no such file.
    fn render(&self, name: &str) -> Result<Option<(Bytes, SystemTime)>> {
        let now = SystemTime::now();
        let body = match name {
            "README" => {
                return Ok(Some((
                    Bytes::from_static(self.readme.as_bytes()),
                    self.mounted,
                )));
            }
            "version" => {
                return Ok(Some((
                    Bytes::from(format!("{}\n", self.version)),
                    self.mounted,
                )));
            }
            "uptime" => Bytes::from(format!("{}\n", format_uptime(self.uptime()))),
            "server_info" => {
                let uptime = self.uptime();
                pretty_json(&ServerInfoJson {
                    version: &self.version,
                    uptime: format_uptime(uptime),
                    uptime_seconds: uptime.as_secs(),
                    start_time: format_time(Some(self.started)),
                    pid: std::process::id(),
                    num_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
                    os: std::env::consts::OS,
                    arch: std::env::consts::ARCH,
                    memory: RssJson {
                        rss_bytes: ProcStatus::current().rss_bytes,
                    },
                })?
            }
            "stats" => {
                let proc = ProcStatus::current();
                pretty_json(&StatsJson {
                    uptime_seconds: self.uptime().as_secs(),
                    threads: proc.threads,
                    memory: MemoryJson {
                        rss_bytes: proc.rss_bytes,
                        rss_peak_bytes: proc.rss_peak_bytes,
                        vm_peak_bytes: proc.vm_peak_bytes,
                    },
                })?
            }
            _ => return Ok(None),
        };
        Ok(Some((body, now)))
    }

    /// The content of the file at `path`, or the error a read of `path` gets.
    fn file(&self, path: &str) -> Result<(Bytes, SystemTime)> {
        if path == "/" {
            return Err(Error::is_a_directory(path));
        }
        let rest = &path[1..];
        match rest.split_once('/') {
            // A file used as a directory.
            Some((parent, _)) if FILES.contains(&parent) => Err(Error::not_a_directory(path)),
            Some(_) => Err(Error::not_found(path)),
            None => self.render(rest)?.ok_or_else(|| Error::not_found(path)),
        }
    }

    fn file_info(name: &str, content: &Bytes, modified: SystemTime) -> FileInfo {
        FileInfo::file(name, content.len() as u64, FILE_MODE, Some(modified))
            .with_meta(Meta::new(PLUGIN, "file"))
    }
}

#[async_trait]
impl ReadOnlySource for ServerInfoFs {
    async fn stat(&self, path: &str) -> Result<FileInfo> {
        if path == "/" {
            return Ok(FileInfo::dir("/", ROOT_MODE, Some(self.mounted))
                .with_meta(Meta::new(PLUGIN, "dir")));
        }
        // Generated now, so the size is that of a read made now.
        let (content, modified) = self.file(path)?;
        Ok(Self::file_info(
            fs_core::path::basename(path),
            &content,
            modified,
        ))
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        if path != "/" {
            self.file(path)?;
            return Err(Error::not_a_directory(path));
        }
        let mut out = Vec::with_capacity(FILES.len());
        for name in FILES {
            if let Some((content, modified)) = self.render(name)? {
                out.push(Self::file_info(name, &content, modified));
            }
        }
        Ok(out)
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        let (content, _) = self.file(path)?;
        Ok(read_window(&content, offset, size))
    }

    async fn read_content(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Content> {
        let (content, modified) = self.file(path)?;
        Ok(Content {
            body: ContentBody::Bytes(read_window(&content, offset, size)),
            modified: Some(modified),
            etag: None,
        })
    }
}
