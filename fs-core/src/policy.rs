//! [`MountPolicy`]: what an operator lets a mount do beyond pfs itself. Mounts written in the
//! config file are the operator's own and unrestricted; mounts made through the API get the
//! server's policy, so a client cannot, for example, publish a tree on an interface the operator
//! did not choose (httpfs on `0.0.0.0`).

use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// Where a mount's own listeners may bind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Listen {
    /// Anywhere (config mounts).
    #[default]
    Any,
    /// Loopback addresses, plus these.
    LoopbackAnd(Vec<IpAddr>),
}

/// Where on the host a mount may keep or read files (localfs's directory, an SQLite file).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Roots {
    /// Anywhere (config mounts).
    #[default]
    Any,
    /// Under one of these directories (none: nowhere).
    Under(Vec<PathBuf>),
}

/// The limits a mount is made under ([`crate::MountContext::policy`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountPolicy {
    /// Where the mount's own listeners may bind.
    pub listen: Listen,
    /// The config key that sets the listen policy, named in refusals (`server.api_mount_listen`).
    pub source: &'static str,
    /// Where the mount may keep files on the host.
    pub roots: Roots,
    /// The config key that sets the roots, named in refusals (`server.mount_roots`).
    pub roots_source: &'static str,
}

impl MountPolicy {
    /// No limits: the operator's own config mounts.
    pub fn unrestricted() -> Self {
        Self::default()
    }

    /// Checks that a listener of the mount may bind `ip`.
    ///
    /// ```
    /// use fs_core::policy::{Listen, MountPolicy};
    /// let api = MountPolicy {
    ///     listen: Listen::LoopbackAnd(vec![]),
    ///     source: "server.api_mount_listen",
    ///     ..MountPolicy::default()
    /// };
    /// assert!(api.check_listen("127.0.0.1".parse().unwrap()).is_ok());
    /// assert!(api.check_listen("::1".parse().unwrap()).is_ok());
    /// assert!(api.check_listen("0.0.0.0".parse().unwrap()).is_err());
    /// assert!(MountPolicy::unrestricted().check_listen("0.0.0.0".parse().unwrap()).is_ok());
    /// ```
    ///
    /// # Errors
    /// `PermissionDenied` naming the address and the config key that would allow it.
    pub fn check_listen(&self, ip: IpAddr) -> Result<()> {
        match &self.listen {
            Listen::Any => Ok(()),
            Listen::LoopbackAnd(extra) if ip.is_loopback() || extra.contains(&ip) => Ok(()),
            Listen::LoopbackAnd(_) => Err(Error::permission_denied(ip.to_string()).with_message(
                format!(
                    "permission denied: a mount made through the API may not listen on {ip}; it may listen on loopback and the addresses in {}",
                    self.source
                ),
            )),
        }
    }

    /// Checks that the mount may keep files at `path` (a directory or a file; it need not exist
    /// yet). The path is made absolute and resolved through every symbolic link of the part
    /// that exists, so neither `..` nor a link inside a root leads out of it.
    ///
    /// ```
    /// use fs_core::policy::{MountPolicy, Roots};
    /// let root = std::env::temp_dir().canonicalize().unwrap();
    /// let api = MountPolicy { roots: Roots::Under(vec![root.clone()]), roots_source: "server.mount_roots", ..MountPolicy::default() };
    /// assert!(api.check_local_path(&root.join("pfs-doc-test/new.db")).is_ok());
    /// assert!(api.check_local_path(&root.join("../etc/passwd")).is_err());
    /// assert!(api.check_local_path(std::path::Path::new("/")).is_err());
    /// assert!(MountPolicy::unrestricted().check_local_path(std::path::Path::new("/")).is_ok());
    /// ```
    ///
    /// # Errors
    /// `PermissionDenied` naming the path and the config key that would allow it.
    pub fn check_local_path(&self, path: &Path) -> Result<()> {
        let Roots::Under(roots) = &self.roots else {
            return Ok(());
        };
        let refused = || {
            Error::permission_denied(path.display().to_string()).with_message(format!(
                "permission denied: a mount made through the API may keep files only under {} ({}); {} is not under them",
                self.roots_source,
                if roots.is_empty() {
                    "none set".to_string()
                } else {
                    roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
                },
                path.display()
            ))
        };
        let resolved = resolve(path).ok_or_else(refused)?;
        let inside = roots.iter().any(|r| {
            let r = r.canonicalize().unwrap_or_else(|_| r.clone());
            resolved.starts_with(&r)
        });
        if inside { Ok(()) } else { Err(refused()) }
    }
}

/// `path` made absolute, its existing part resolved through symbolic links and the rest
/// appended; `None` when the part that does not exist yet has `..` (it could not be resolved).
fn resolve(path: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(path).ok()?;
    let mut existing = absolute.as_path();
    let mut tail = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in tail.iter().rev() {
                out.push(part);
            }
            return Some(out);
        }
        let name = existing.file_name()?;
        tail.push(name.to_owned());
        existing = existing.parent()?;
        if tail
            .iter()
            .any(|p| Path::new(p).components().any(|c| c == Component::ParentDir))
        {
            return None;
        }
    }
}
