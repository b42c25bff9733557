//! Request loops through proxies. A proxyfs mount pointed at its own server (or at a server whose
//! proxy points back) would forward a request to itself for ever: a recursive grep never ended,
//! and descriptors climbed. Every pfs server has an instance id; a request that a proxy forwards
//! carries the ids of the servers it passed in [`VIA_HEADER`], and a server that finds its own id
//! there, or [`MAX_HOPS`] of them, answers 508 instead of serving it again.
//!
//! The server runs a request that arrived with the header inside [`within`], so the proxy's
//! outgoing request carries the whole chain ([`outgoing`]); spawned work keeps it with
//! [`propagate`]. A chain lost on the way still ends a loop: each server adds its own id.

use std::future::Future;
use std::sync::Arc;

/// The request header holding the instance ids of the pfs servers a request passed through,
/// comma-separated, oldest first.
pub const VIA_HEADER: &str = "x-pfs-via";

/// The most servers a request may pass through before it is refused as a loop.
pub const MAX_HOPS: usize = 8;

tokio::task_local! {
    static CHAIN: Arc<str>;
}

/// A new random instance id (16 hex digits) for a server.
pub fn new_instance_id() -> Arc<str> {
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

/// Whether a request whose [`VIA_HEADER`] is `via` has looped back to the server `me`: `me` is in
/// it, or it names [`MAX_HOPS`] servers already.
///
/// ```
/// use fs_core::hops::looped;
/// assert!(!looped("a,b", "c"));
/// assert!(looped("a, c ,b", "c"));
/// assert!(looped("1,2,3,4,5,6,7,8", "c"));
/// ```
pub fn looped(via: &str, me: &str) -> bool {
    let mut hops = 0;
    for id in via.split(',').map(str::trim).filter(|id| !id.is_empty()) {
        if id == me {
            return true;
        }
        hops += 1;
    }
    hops >= MAX_HOPS
}

/// Runs `f` as the handling of a request that came with the chain `via`, on server `me`: what
/// proxies forward from inside carries `via,me`.
pub fn within<F: Future>(
    via: &str,
    me: &str,
    f: F,
) -> tokio::task::futures::TaskLocalFuture<Arc<str>, F> {
    CHAIN.scope(format!("{via},{me}").into(), f)
}

/// The [`VIA_HEADER`] a proxy on server `me` sends: the chain of the request being handled, or
/// `me` alone outside one.
pub fn outgoing(me: &str) -> Arc<str> {
    CHAIN.try_with(Arc::clone).unwrap_or_else(|_| me.into())
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
    async fn the_chain_follows_the_request_and_spawned_work() {
        assert_eq!(&*outgoing("me"), "me");
        within("a,b", "me", async {
            assert_eq!(&*outgoing("me"), "a,b,me");
            let spawned = tokio::spawn(propagate(async { outgoing("me") }));
            assert_eq!(&*spawned.await.unwrap(), "a,b,me");
        })
        .await;
        assert_ne!(new_instance_id(), new_instance_id());
        assert_eq!(new_instance_id().len(), 16);
    }
}
