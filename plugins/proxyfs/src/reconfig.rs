//! What proxyfs checks before it serves a remote (at mount, on `reload`, and before it takes a new
//! config in place), and the change of config itself: a new remote, checked, swapped in.

use std::sync::Arc;

use fs_core::config::{check_live, params};
use fs_core::{Error, ErrorKind, Reconfigured, Result};
use reqwest::Method;
use serde_json::Value;

use super::client::{Remote, RemoteInfo};
use super::config::{KEYS, Settings};
use super::fs::{CHECK_LIMIT, ProxyFs, info_of};
use super::wire;

/// Checks the remote `r` through `client`: `GET /health` answers 2xx, `remote_path` is a
/// directory there; learns its capabilities (`GET /capabilities?path=`).
///
/// # Errors
/// `Unavailable` (unreachable), `Timeout`, the remote's kind for a failed health or stat
/// (`NotFound` for a missing `remote_path`), `NotADirectory` when it is a file.
pub(crate) async fn check(r: &Remote, client: &reqwest::Client) -> Result<RemoteInfo> {
    r.send("connect", "/", r.on(client, Method::GET, "health"), None)
        .await?;
    let root = r.path("/");
    let stat = r.on(client, Method::GET, "stat").query(&[("path", &root)]);
    let info = info_of(r.json("connect", "/", stat).await?, "/")?;
    if !info.is_dir {
        return Err(Error::not_a_directory("/")
            .with_op("connect")
            .with_message(format!(
                "remote_path {root} is not a directory on {}",
                r.base
            )));
    }
    let caps = r
        .on(client, Method::GET, "capabilities")
        .query(&[("path", &root)]);
    // The remote's root, or a directory that only holds mount points, is no one mount: its
    // paths answer for themselves, so keep the router's capabilities.
    let virtual_dir = info.meta.name == "rootfs";
    Ok(match r.json("connect", "/", caps).await {
        Ok(v) => {
            let (caps, write_flags) = wire::capabilities(&v);
            RemoteInfo {
                caps: caps
                    .filter(|_| !virtual_dir)
                    .unwrap_or(RemoteInfo::default().caps),
                write_flags,
            }
        }
        // A server without `/capabilities` is an old AGFS: it ignores offset and flags.
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Unsupported) => RemoteInfo {
            write_flags: false,
            ..RemoteInfo::default()
        },
        Err(e) => return Err(e),
    })
}

impl ProxyFs {
    /// Takes the config `new` in place: a remote built from it (new client, new connections) must
    /// pass [`check`] within [`CHECK_LIMIT`] before it replaces the current one; operations that
    /// began on the old remote finish there. The proxy keeps its id, so a loop through the new
    /// remote is still refused.
    ///
    /// # Errors
    /// `Unsupported` for a changed `remote_path` (another tree: a remount); `InvalidArgument`
    /// with the reason when the new remote fails its check or a client cannot be built.
    pub(crate) async fn take(&self, old: &Value, new: &Value) -> Result<Reconfigured> {
        check_live(&params(&[KEYS]), old, new)?;
        // Even an unchanged config makes a new remote: `tls_ca` is read again (a renewed CA file)
        // and the connections are new, as a write of `reload` would make them.
        let current = self.remote();
        let settings = Settings {
            id: current.id(),
            ..Settings::parse(new)?
        };
        let refused = |why: String| {
            Error::invalid_argument(format!(
                "proxyfs cannot use remote {}: {why}; the mount keeps its current config",
                settings.base
            ))
        };
        let remote = Remote::new(&settings).map_err(|e| refused(e.message().to_string()))?;
        let client = remote.client();
        let info = match tokio::time::timeout(CHECK_LIMIT, check(&remote, &client)).await {
            Ok(Ok(info)) => info,
            Ok(Err(e)) => return Err(refused(e.message().to_string())),
            Err(_) => {
                return Err(refused(format!(
                    "no answer within {}s",
                    CHECK_LIMIT.as_secs()
                )));
            }
        };
        remote.install(client, info);
        self.replace(Arc::new(remote));
        Ok(Reconfigured::Accepted)
    }
}
