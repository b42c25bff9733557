//! Where an external plugin runs: in the server's process (the C ABI called directly) or in a
//! process of its own (the plugin protocol, `pfs_plugin_proto`), and how that process is started.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use fs_core::{Error, Result};
use pfs_plugin_proto::process::{Limits, Program};

use crate::adapter::is_library;

/// Where a plugin runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Isolation {
    /// In the server's process: fastest; a crash in the plugin is a crash of the server.
    #[default]
    InProcess,
    /// In a process of its own, supervised: a crash costs its mounts only.
    Process,
}

impl Isolation {
    /// The config and API spelling: `in-process` or `process`.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::InProcess => "in-process",
            Isolation::Process => "process",
        }
    }

    /// Parses the config and API spelling.
    ///
    /// # Errors
    /// `InvalidArgument` naming the two accepted words.
    pub fn parse(s: &str) -> Result<Isolation> {
        match s {
            "in-process" | "none" => Ok(Isolation::InProcess),
            "process" => Ok(Isolation::Process),
            other => Err(Error::invalid_argument(format!(
                "invalid isolation '{other}': expected 'process' or 'in-process'"
            ))),
        }
    }
}

/// One library or program to load, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginPath {
    /// The file.
    pub path: PathBuf,
    /// Its isolation; `None`: the section's default (an executable is always isolated).
    pub isolation: Option<Isolation>,
}

impl From<PathBuf> for PluginPath {
    fn from(path: PathBuf) -> Self {
        PluginPath {
            path,
            isolation: None,
        }
    }
}

/// Whether `path` is a program (an executable file that is not a shared library): a plugin that
/// speaks the protocol itself.
pub fn is_program(path: &Path) -> bool {
    !is_library(path)
        && std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The program that serves `path` isolated: `launcher plugin-host --parent <pid> [limits]
/// (--library|--exec) <path>`. The launcher (the server's own binary) confines itself to the
/// server's life and the limits, then serves the library or `exec`s the program.
///
/// # Errors
/// `InvalidArgument` when no launcher is configured.
pub fn program_for(path: &Path, launcher: Option<&Path>, limits: &Limits) -> Result<Program> {
    let launcher = launcher.ok_or_else(|| {
        Error::invalid_argument(
            "isolated plugins need the plugin host (pfs-server plugin-host), which this server was not given",
        )
    })?;
    let mut args: Vec<OsString> = vec![
        "plugin-host".into(),
        "--parent".into(),
        std::process::id().to_string().into(),
    ];
    if let Some(m) = limits.memory {
        args.extend(["--memory".into(), m.to_string().into()]);
    }
    if let Some(c) = limits.cpu_seconds {
        args.extend(["--cpu".into(), c.to_string().into()]);
    }
    args.push(
        if is_library(path) {
            "--library"
        } else {
            "--exec"
        }
        .into(),
    );
    args.push(path.as_os_str().to_owned());
    Ok(Program {
        path: launcher.to_path_buf(),
        args,
        shown: path.display().to_string(),
    })
}
