//! Request loops through proxies. A proxyfs mount whose remote leads back to the same mount (a
//! proxy of its own server's root, or two servers whose proxies point at each other) would
//! forward a request to itself for ever: a recursive grep never ended, and descriptors climbed.
//!
//! Every proxyfs mount has a random id. A request a proxy forwards carries, in [`VIA_HEADER`], the
//! ids of the proxies it has passed; the server runs it inside [`within`], so when a proxy is
//! asked to forward it again, [`forward`] finds its own id in the chain and refuses (508)
//! instead of sending. Coming back to the same *server* is no loop (a proxy of this server's
//! `/memfs/shared` serves memfs), coming back to the same *proxy* is. A server also refuses a
//! request that has passed [`MAX_HOPS`] proxies. Work spawned off a request keeps its chain
//! through [`propagate`].

use std::future::Future;
use std::sync::Arc;

use crate::{Error, ErrorKind, Result};

/// The request header holding the ids of the proxies a request passed, comma-separated.
pub const VIA_HEADER: &str = "x-pfs-via";

/// The most proxies a request may pass.
pub const MAX_HOPS: usize = 8;

tokio::task_local! {
    static CHAIN: Arc<str>;
}

/// A new random id (16 hex digits) for a proxy.
pub fn new_id() -> Arc<str> {
    let mut bytes = [0u8; 8];
    // The kernel's randomness; failing that, the clock and the pid are unique enough here.
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = (t ^ u64::from(std::process::id()).rotate_left(32)).to_le_bytes();
    }
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into()
}

fn ids(chain: &str) -> impl Iterator<Item = &str> {
    chain.split(',').map(str::trim).filter(|id| !id.is_empty())
}

/// Whether a request whose [`VIA_HEADER`] is `via` has passed [`MAX_HOPS`] proxies already.
///
/// ```
/// use fs_core::hops::too_many_hops;
/// assert!(!too_many_hops("a,b"));
/// assert!(too_many_hops("1,2,3,4,5,6,7,8"));
/// ```
pub fn too_many_hops(via: &str) -> bool {
    ids(via).count() >= MAX_HOPS
}

/// Runs `f` as the handling of a request that came through the proxies of `via`.
pub fn within<F: Future>(via: &str, f: F) -> tokio::task::futures::TaskLocalFuture<Arc<str>, F> {
    CHAIN.scope(via.into(), f)
}

/// The [`VIA_HEADER`] the proxy `id` sends with a request it forwards for the request being
/// handled: that request's chain plus `id`.
///
/// # Errors
/// `LoopDetected` when the chain holds `id` already (the request came back to this proxy) or
/// [`MAX_HOPS`] ids.
pub fn forward(id: &str) -> Result<String> {
    let chain = CHAIN.try_with(Arc::clone).ok();
    let chain = chain.as_deref().unwrap_or("");
    if ids(chain).any(|seen| seen == id) || too_many_hops(chain) {
        return Err(Error::new(
            ErrorKind::LoopDetected,
            format!(
                "loop detected: the request already passed through this proxy (x-pfs-via: {chain}); the remote leads back to this mount"
            ),
        ));
    }
    Ok(if chain.is_empty() {
        id.to_string()
    } else {
        format!("{chain},{id}")
    })
}

/// `f` with the chain of the request being handled, for work spawned on another task.
pub fn propagate<F: Future + Send + 'static>(
    f: F,
) -> impl Future<Output = F::Output> + Send + 'static
where
    F::Output: Send,
{
    let chain = CHAIN.try_with(Arc::clone).ok();
    async move {
        match chain {
            Some(c) => CHAIN.scope(c, f).await,
            None => f.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_proxy_refuses_a_request_that_passed_it_and_spawned_work_keeps_the_chain() {
        assert_eq!(forward("p").unwrap(), "p");
        within("a,b", async {
            assert_eq!(forward("p").unwrap(), "a,b,p");
            assert_eq!(forward("b").unwrap_err().kind(), ErrorKind::LoopDetected);
            let spawned = tokio::spawn(propagate(async { forward("a") }));
            assert!(spawned.await.unwrap().is_err());
        })
        .await;
        within("1,2,3,4,5,6,7,8", async {
            assert!(forward("p").is_err());
        })
        .await;
        assert_ne!(new_id(), new_id());
        assert_eq!(new_id().len(), 16);
    }
}
