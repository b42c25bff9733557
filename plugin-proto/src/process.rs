//! Plugin processes: launched with a clean environment and the handshake cookie, tied to the
//! server's life, and supervised — a process that exits, crashes, breaks the protocol or stops
//! answering is killed and started again with its mount's config, with backoff; too many crashes
//! in a row leave the mount failed.
//!
//! [`ProcessPlugin`] is the [`ServicePlugin`] the server registers; each mount gets a
//! [`ProcessFs`] (in `process/fs.rs`) with a process of its own.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use fs_core::config::{ConfigParam, ParamType};
use fs_core::plugin::{MountContext, ServicePlugin};
use fs_core::{Error, ErrorKind, FileSystem, Result};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::client::Connection;
use crate::wire::Hello;

mod fs;
mod handle;
pub use fs::ProcessFs;

/// How plugin processes are started and supervised (`external_plugins.process` in the config).
#[derive(Debug, Clone)]
pub struct Limits {
    /// How long one call may take before the process is deemed hung and restarted.
    pub call_timeout: Duration,
    /// How long a process may take to say hello.
    pub start_timeout: Duration,
    /// Crashes within [`Limits::crash_window`] after which the mount is failed.
    pub max_restarts: u32,
    /// The window crashes are counted in.
    pub crash_window: Duration,
    /// The first restart's delay; each crash in the window doubles it (at most 10 s).
    pub backoff: Duration,
    /// `RLIMIT_DATA` of the process (its heap and anonymous memory), in bytes (applied by the
    /// launcher: [`confine`]). Not `RLIMIT_AS`: that counts the mapped binary and reserved
    /// address space too, and a runtime with a few threads would not even start under a
    /// useful cap.
    pub memory: Option<u64>,
    /// `RLIMIT_CPU` of the process, in seconds (applied by the launcher: [`confine`]).
    pub cpu_seconds: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            call_timeout: Duration::from_secs(30),
            start_timeout: Duration::from_secs(10),
            max_restarts: 5,
            crash_window: Duration::from_secs(60),
            backoff: Duration::from_millis(100),
            memory: None,
            cpu_seconds: None,
        }
    }
}

/// What to run for a plugin: a program and its arguments.
#[derive(Debug, Clone)]
pub struct Program {
    /// The executable.
    pub path: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// What `GET /plugins` shows as the plugin's file (the library, or the executable).
    pub shown: String,
}

/// Environment variables a plugin process keeps from the server's; everything else (credentials
/// included) is left out.
const KEPT_ENV: [&str; 5] = ["PATH", "HOME", "LANG", "LC_ALL", "TZ"];

/// A started plugin process and its channel.
pub(crate) struct Started {
    pub(crate) child: Child,
    pub(crate) conn: Arc<Connection>,
    pub(crate) hello: Hello,
}

/// Starts `program` and reads its hello.
pub(crate) async fn launch(program: &Program, limits: &Limits, label: &str) -> Result<Started> {
    let mut cmd = Command::new(&program.path);
    cmd.args(&program.args)
        .env_clear()
        .envs(
            KEPT_ENV
                .iter()
                .filter_map(|k| std::env::var_os(k).map(|v| (k, v))),
        )
        .env(crate::MAGIC_COOKIE_KEY, crate::MAGIC_COOKIE_VALUE)
        .env(crate::PROTOCOL_KEY, crate::PROTOCOL_VERSION.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a Ctrl-C at the server's terminal reaches the server, which
        // shuts the plugin down in order, not the plugin directly.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| {
        Error::invalid_argument(format!("cannot start {}: {e}", program.path.display()))
    })?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(Error::internal("the plugin process has no pipes"));
    };
    // Pipes hold 64 KiB by default: a 1 MiB chunk would cross in 16 turns of both processes.
    // As large as the system allows, up to a whole chunk (best effort).
    for fd in [
        std::os::fd::AsFd::as_fd(&stdin),
        std::os::fd::AsFd::as_fd(&stdout),
    ] {
        let _ = rustix::pipe::fcntl_setpipe_size(fd, crate::CHUNK as usize + 4096);
    }
    let label = label.to_string();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::info!(plugin = %label, "{line}");
        }
    });
    match Connection::open(stdout, stdin, limits.start_timeout).await {
        Ok((conn, hello)) => Ok(Started {
            child,
            conn: Arc::new(conn),
            hello,
        }),
        Err(e) => {
            let _ = child.start_kill();
            let status = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
            let exited = match status {
                Ok(Ok(s)) => format!(" (it exited: {s})"),
                _ => String::new(),
            };
            Err(Error::new(
                if e.kind() == ErrorKind::Unavailable {
                    ErrorKind::InvalidArgument
                } else {
                    e.kind()
                },
                format!("{}: {}{exited}", program.path.display(), e.message()),
            ))
        }
    }
}

/// Ties the calling process (a plugin host or launcher, before it serves or `exec`s the plugin) to
/// the server: the kernel kills it when the server dies (no orphans, even after `kill -9` of the
/// server; the setting survives `exec`), and the resource limits apply to it and what it `exec`s.
///
/// # Errors
/// When a setting fails, or the server (`parent`) is already gone.
pub fn confine(parent: u32, memory: Option<u64>, cpu_seconds: Option<u64>) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, set_parent_process_death_signal, setrlimit};
    set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    // The server may have died before the line above: nobody would kill us then.
    if rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32) != Some(parent) {
        return Err(std::io::Error::other(
            "the server that started this plugin is gone",
        ));
    }
    for (resource, value) in [(Resource::Data, memory), (Resource::Cpu, cpu_seconds)] {
        if let Some(v) = value {
            setrlimit(
                resource,
                Rlimit {
                    current: Some(v),
                    maximum: Some(v),
                },
            )?;
        }
    }
    Ok(())
}

/// Kills `child` and reaps it (bounded).
pub(crate) async fn kill(mut child: Child) {
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
}

/// Crash bookkeeping: when a restart may happen, and whether too many happened.
#[derive(Debug, Default)]
pub(crate) struct Crashes {
    recent: VecDeque<Instant>,
}

impl Crashes {
    /// Records a crash now; returns the delay before the next start, or `None` when there were
    /// more than `max_restarts` within the window (the mount is then failed).
    pub(crate) fn record(&mut self, limits: &Limits) -> Option<Duration> {
        let now = Instant::now();
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > limits.crash_window)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        let n = self.recent.len() as u32;
        if n > limits.max_restarts {
            return None;
        }
        let delay = limits.backoff.saturating_mul(1 << (n - 1).min(16));
        Some(delay.min(Duration::from_secs(10)))
    }
}

/// A plugin whose mounts each run in a process of their own.
#[derive(Debug)]
pub struct ProcessPlugin {
    name: String,
    program: Program,
    limits: Limits,
    readme: String,
    params: Option<Vec<ConfigParam>>,
}

impl ProcessPlugin {
    /// Starts `program` once to read its hello (name, README, config keys), then stops it.
    ///
    /// # Errors
    /// `InvalidArgument` when it cannot start or its handshake is wrong (naming both versions or
    /// cookies).
    pub async fn probe(program: Program, limits: Limits) -> Result<ProcessPlugin> {
        let started = launch(&program, &limits, &program.shown).await?;
        let hello = started.hello.clone();
        // A polite shutdown, briefly: the probe's process is killed either way.
        let within = limits.start_timeout.min(std::time::Duration::from_secs(1));
        let _ = started
            .conn
            .call("shutdown", Value::Null, bytes::Bytes::new(), within)
            .await;
        kill(started.child).await;
        let params = hello
            .config_params
            .as_ref()
            .map(|list| list.iter().filter_map(param_of).collect::<Vec<_>>());
        Ok(ProcessPlugin {
            name: hello.name.clone(),
            readme: hello.readme,
            program,
            limits,
            params,
        })
    }

    /// The same plugin under another name (a clash with a plugin already registered).
    pub fn renamed(mut self, name: String) -> Self {
        self.name = name;
        self
    }
}

/// A config key as a plugin declared it. The names live as long as the process: one small
/// allocation per key per load.
fn param_of(v: &Value) -> Option<ConfigParam> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    let name = text("name");
    if name.is_empty() {
        return None;
    }
    let kind = match text("type") {
        "int" => ParamType::Int,
        "float" => ParamType::Float,
        "bool" => ParamType::Bool,
        "array" => ParamType::StringList,
        "map" => ParamType::StringMap,
        "size" => ParamType::Size,
        "duration" => ParamType::Duration,
        _ => ParamType::String,
    };
    let required = v.get("required").and_then(Value::as_bool).unwrap_or(false);
    let default = match v.get("default") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let description = leak(text("description"));
    Some(if required {
        ConfigParam::required(leak(name), kind, description)
    } else {
        let mut p = ConfigParam::optional(leak(name), kind, "", description);
        p.default = default.into();
        p
    })
}

#[async_trait]
impl ServicePlugin for ProcessPlugin {
    fn name(&self) -> &str {
        &self.name
    }

    fn readme(&self) -> &str {
        &self.readme
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        self.params.clone().unwrap_or_default()
    }

    /// The declared keys when the plugin declares them; any map otherwise (its `validate` call
    /// judges the config at mount time).
    fn check_keys(&self, config: &Value) -> Result<()> {
        match &self.params {
            Some(p) => fs_core::plugin::check_config(p, config),
            None => match config {
                Value::Null | Value::Object(_) => Ok(()),
                _ => Err(Error::invalid_argument(
                    "invalid config: expected a map of parameters",
                )),
            },
        }
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let mut config = match ctx.config {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        config.insert(
            fs_core::plugin::MOUNT_PATH_KEY.into(),
            Value::String(ctx.mount_path.clone()),
        );
        let label = format!("{}@{}", self.name, ctx.mount_path);
        let fs = ProcessFs::start_process(
            label,
            self.program.clone(),
            self.limits.clone(),
            Value::Object(config),
        )
        .await?;
        Ok(Arc::new(fs))
    }

    fn library_path(&self) -> Option<&str> {
        Some(&self.program.shown)
    }

    fn isolated(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crashes_back_off_and_too_many_in_the_window_fail() {
        let limits = Limits {
            max_restarts: 3,
            backoff: Duration::from_millis(100),
            ..Limits::default()
        };
        let mut c = Crashes::default();
        assert_eq!(c.record(&limits), Some(Duration::from_millis(100)));
        assert_eq!(c.record(&limits), Some(Duration::from_millis(200)));
        assert_eq!(c.record(&limits), Some(Duration::from_millis(400)));
        assert_eq!(c.record(&limits), None);
    }
}
