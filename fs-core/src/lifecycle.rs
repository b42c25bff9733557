//! A mounted instance's life: [`FileSystem::start`] once before it serves, background work on
//! [`Background`] tied to one cancellation token, and [`FileSystem::shutdown`] exactly once when
//! it leaves, each hook bounded by a timeout so a plugin that hangs or panics never holds the
//! server up.
//!
//! The guarantees (the daemon-plugin seed's): `start` runs after a successful `initialize` and
//! before the mount is in the table; a failed `start` leaves nothing mounted and is followed by
//! `shutdown` (it releases what `initialize` built); `shutdown` runs once per instance whatever
//! path removes it (unmount, remount, reload, server stop), after its background tasks are
//! cancelled and awaited.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::{Error, FileSystem, Result};

/// How long `start`, the background tasks' exit and `shutdown` may each take by default.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The background work of one mounted instance: every task runs until it ends or the instance
/// is shut down, whichever comes first.
#[derive(Debug, Default)]
pub struct Background {
    token: CancellationToken,
    tasks: TaskTracker,
}

impl Background {
    /// Background work that nothing has cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancelled when the instance shuts down; for work that wants to finish cleanly (flush,
    /// close a listener) rather than be dropped at its next await.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Runs `work` on the runtime until it ends or the instance shuts down (then it is dropped
    /// at its next await point). Work spawned after the shutdown does not run.
    pub fn spawn<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.token.is_cancelled() {
            return;
        }
        let token = self.token.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                biased;
                () = token.cancelled() => {}
                () = work => {}
            }
        });
    }

    /// How many background tasks are running.
    pub fn running(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the instance has been told to stop.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Cancels every task and waits up to `within` for them to end; false when some did not.
    pub async fn stop(&self, within: Duration) -> bool {
        self.token.cancel();
        self.tasks.close();
        tokio::time::timeout(within, self.tasks.wait())
            .await
            .is_ok()
    }
}

/// One mounted instance's lifecycle state, shared by the versions of its mount (a config change
/// in place keeps the instance).
#[derive(Debug, Default)]
pub(crate) struct Life {
    shut_down: AtomicBool,
    pub(crate) background: Background,
}

impl Life {
    /// Runs `fs.start` bounded by `within`; on failure the instance is shut down before the error
    /// returns, so nothing of it keeps running.
    pub(crate) async fn start(
        self: &Arc<Self>,
        fs: &Arc<dyn FileSystem>,
        within: Duration,
    ) -> Result<()> {
        let this = self.clone();
        let started = {
            let fs = fs.clone();
            bounded(
                "start",
                within,
                async move { fs.start(&this.background).await },
            )
            .await
        };
        let Err(e) = started else { return Ok(()) };
        let e = match self.shutdown(fs, within).await {
            Ok(()) => e,
            Err(also) => {
                let msg = format!("{}; and the shutdown after it: {also}", e.message());
                e.with_message(msg)
            }
        };
        Err(e.with_op("start"))
    }

    /// Stops the background work, then runs `fs.shutdown`, at most once over the instance's life;
    /// each step bounded by `within` (a step that overruns is abandoned and reported).
    pub(crate) async fn shutdown(&self, fs: &Arc<dyn FileSystem>, within: Duration) -> Result<()> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let stopped = self.background.stop(within).await;
        let fs = fs.clone();
        let result = bounded("shutdown", within, async move { fs.shutdown().await }).await;
        if !stopped {
            let n = self.background.running();
            return Err(Error::internal(format!(
                "{n} background task(s) did not stop within {within:?}; abandoned"
            )));
        }
        result
    }
}

/// Runs `hook` as its own task, bounded by `within`: a hook that panics or overruns is an error
/// (the overrunning task is left to finish or not; the caller moves on).
async fn bounded<F>(name: &'static str, within: Duration, hook: F) -> Result<()>
where
    F: Future<Output = Result<()>> + Send + 'static,
{
    let task = tokio::spawn(hook);
    match tokio::time::timeout(within, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(joined)) if joined.is_panic() => Err(Error::internal(format!(
            "the plugin's {name} panicked: {}",
            panic_text(&joined.into_panic())
        ))),
        Ok(Err(_)) => Err(Error::internal(format!(
            "the plugin's {name} was cancelled"
        ))),
        Err(_) => Err(Error::internal(format!(
            "the plugin's {name} did not finish within {within:?}; abandoned"
        ))),
    }
}

fn panic_text(panic: &Box<dyn Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn background_tasks_end_when_stopped_and_none_start_after() {
        let bg = Background::new();
        bg.spawn(std::future::pending());
        bg.spawn(async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        assert_eq!(bg.running(), 2);
        assert!(bg.stop(Duration::from_secs(1)).await);
        assert_eq!(bg.running(), 0);
        bg.spawn(std::future::pending());
        assert_eq!(bg.running(), 0, "work spawned after the stop must not run");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hook_that_hangs_or_panics_is_an_error_within_the_bound() {
        let started = tokio::time::Instant::now();
        let e = bounded("shutdown", Duration::from_secs(2), std::future::pending())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("did not finish within 2s"), "{e}");
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        let e = bounded("start", Duration::from_secs(2), async { panic!("boom") })
            .await
            .unwrap_err();
        assert!(e.to_string().contains("start panicked: boom"), "{e}");
    }
}
