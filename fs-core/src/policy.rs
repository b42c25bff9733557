//! [`MountPolicy`]: what an operator lets a mount do beyond pfs itself. Mounts written in the
//! config file are the operator's own and unrestricted; mounts made through the API get the
//! server's policy, so a client cannot, for example, publish a tree on an interface the operator
//! did not choose (httpfs on `0.0.0.0`).

use std::net::IpAddr;

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

/// The limits a mount is made under ([`crate::MountContext::policy`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountPolicy {
    /// Where the mount's own listeners may bind.
    pub listen: Listen,
    /// The config key that sets the policy, named in refusals (`server.api_mount_listen`).
    pub source: &'static str,
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
    /// let api = MountPolicy { listen: Listen::LoopbackAnd(vec![]), source: "server.api_mount_listen" };
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
}
