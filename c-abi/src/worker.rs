//! [`Worker`]: where the C calls of one plugin instance run.
//!
//! By default on a thread of the instance's own, in order, so that a call that blocks never holds
//! an executor thread. That costs two thread hand-offs per call (to the plugin's thread and back),
//! which on a small read is a third of the server's CPU. So the worker watches its calls: once an
//! instance has answered [`PROMOTE_AFTER`] calls in a row, each within [`QUICK`], its calls run in
//! place on the calling executor thread; a call that takes longer than [`SLOW`] sends the instance
//! back to its thread (logged), and each time that happens the streak it needs to come back
//! doubles. A preempted executor thread makes a quick call look slow now and then, which costs a
//! thousand calls on the thread; a plugin that really blocks now and then never gets the streak
//! again. While a call runs in place, a second caller spins a few µs for it to end and then queues
//! on the instance's thread rather than wait for it on an executor thread. A plugin whose
//! `PFSNonBlocking` promises that no call blocks runs in place from the start.
//!
//! What the heuristic costs: a plugin that is quick a thousand times and then blocks holds one
//! executor thread for that call (and again after 2,000, 4,000, ... quick calls); the other
//! executor threads keep serving, and the other calls of the same instance queue on its thread.
//! Why: docs/decisions/0019-adaptive-c-plugin-calls.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use fs_core::{Error, ErrorKind, Result};

/// Consecutive quick calls on the instance's thread after which its calls run in place (doubled
/// with each demotion).
pub(crate) const PROMOTE_AFTER: u32 = 1000;
/// A call at most this long counts as quick.
pub(crate) const QUICK: Duration = Duration::from_micros(200);
/// A call in place longer than this sends the instance back to its thread.
pub(crate) const SLOW: Duration = Duration::from_millis(2);
/// How long a caller spins for a call in place to finish before it queues on the thread instead.
/// Calls in place are quick (a few µs), so the wait is usually shorter than two thread hand-offs.
const SPIN: Duration = Duration::from_micros(20);

type Job = Box<dyn FnOnce() + Send>;

/// Where the C calls of one instance run (see the module docs).
#[derive(Debug, Clone)]
pub(crate) enum Worker {
    /// A thread of the instance's own, and in place once the calls proved quick.
    Adaptive(Arc<Adaptive>),
    /// Always in place: the plugin said its calls never block.
    Inline,
}

#[derive(Debug)]
pub(crate) struct Adaptive {
    plugin: String,
    jobs: std::sync::mpsc::Sender<Job>,
    /// Quick calls in a row on the thread.
    streak: AtomicU32,
    /// Calls run in place now.
    inline: AtomicBool,
    /// How many times a call in place was slow.
    demotions: AtomicU32,
    /// A call is running in place (the next caller queues on the thread rather than waiting).
    busy: AtomicBool,
}

impl Worker {
    /// A worker for an instance of `plugin`; `non_blocking` when the plugin said so.
    pub(crate) fn spawn(plugin: &str, non_blocking: bool) -> Result<Worker> {
        if non_blocking {
            return Ok(Worker::Inline);
        }
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(format!("plugin {plugin}"))
            .spawn(move || {
                // Ends when every handle of the instance is gone.
                while let Ok(job) = queue.recv() {
                    job();
                }
            })
            .map_err(|e| {
                Error::internal(format!("cannot start a thread for plugin {plugin}: {e}"))
            })?;
        Ok(Worker::Adaptive(Arc::new(Adaptive {
            plugin: plugin.to_string(),
            jobs,
            streak: AtomicU32::new(0),
            inline: AtomicBool::new(false),
            demotions: AtomicU32::new(0),
            busy: AtomicBool::new(false),
        })))
    }

    /// Whether the instance's calls run in place now.
    pub(crate) fn runs_inline(&self) -> bool {
        match self {
            Worker::Inline => true,
            Worker::Adaptive(a) => a.inline.load(Ordering::Relaxed),
        }
    }

    /// Runs `f` where the instance's calls run and resolves to its result. A panic in `f` is an
    /// `Internal` error, never the end of the thread or the process.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let guarded = move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .unwrap_or_else(|_| Err(Error::internal("plugin call panicked in the host")))
        };
        let adaptive = match self {
            Worker::Inline => return guarded(),
            Worker::Adaptive(a) => a,
        };
        if adaptive.inline.load(Ordering::Relaxed) && adaptive.claim_soon() {
            let start = Instant::now();
            let out = guarded();
            adaptive.busy.store(false, Ordering::Release);
            adaptive.inline_took(start.elapsed());
            return out;
        }
        let (done, result) = tokio::sync::oneshot::channel();
        let a = adaptive.clone();
        let job: Job = Box::new(move || {
            let start = Instant::now();
            let out = guarded();
            a.thread_took(start.elapsed());
            let _ = done.send(out);
        });
        adaptive
            .jobs
            .send(job)
            .map_err(|_| Error::new(ErrorKind::Unavailable, "plugin thread has stopped"))?;
        result
            .await
            .map_err(|_| Error::internal("plugin thread dropped the call"))?
    }
}

impl Adaptive {
    /// Takes the right to call in place; false when a call runs in place already.
    fn claim(&self) -> bool {
        self.busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// [`Adaptive::claim`], waiting up to [`SPIN`] for a call in place to finish.
    fn claim_soon(&self) -> bool {
        if self.claim() {
            return true;
        }
        let start = Instant::now();
        loop {
            for _ in 0..64 {
                std::hint::spin_loop();
                if !self.busy.load(Ordering::Relaxed) && self.claim() {
                    return true;
                }
            }
            if start.elapsed() > SPIN {
                return false;
            }
        }
    }

    fn thread_took(&self, took: Duration) {
        if took > QUICK {
            self.streak.store(0, Ordering::Relaxed);
            // A call in place would wait for this one on the instance's lock: none from now on.
            if took > SLOW {
                self.demote(took);
            }
            return;
        }
        let streak = self.streak.fetch_add(1, Ordering::Relaxed) + 1;
        if u64::from(streak) >= self.streak_needed() {
            self.inline.store(true, Ordering::Relaxed);
        }
    }

    /// [`PROMOTE_AFTER`], doubled for each demotion (past 20 of them, never).
    fn streak_needed(&self) -> u64 {
        match self.demotions.load(Ordering::Relaxed) {
            d @ 0..=20 => u64::from(PROMOTE_AFTER) << d,
            _ => u64::MAX,
        }
    }

    fn inline_took(&self, took: Duration) {
        if took > SLOW {
            self.demote(took);
        }
    }

    /// Sends the calls back to the instance's thread after a call that took `took`.
    fn demote(&self, took: Duration) {
        if self.inline.swap(false, Ordering::Relaxed) {
            self.streak.store(0, Ordering::Relaxed);
            let demotions = self.demotions.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                plugin = %self.plugin,
                took_ms = took.as_millis() as u64,
                demotions,
                "a plugin call took longer than {} ms: this instance's calls run on its own \
                 thread until {} quick calls in a row",
                SLOW.as_millis(),
                self.streak_needed()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_plugin_thread() -> bool {
        std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("plugin "))
    }

    /// Quick calls until the instance runs in place (a busy machine may preempt one of them past
    /// QUICK, which restarts the count), at most 20 rounds of them.
    async fn promote(w: &Worker) {
        for _ in 0..20 * PROMOTE_AFTER {
            if w.runs_inline() {
                return;
            }
            assert!(w.run(|| Ok(on_plugin_thread())).await.unwrap());
        }
    }

    #[tokio::test]
    async fn quick_calls_move_in_place_and_a_slow_one_moves_them_back() {
        let w = Worker::spawn("t", false).unwrap();
        assert!(!w.runs_inline());
        promote(&w).await;
        assert!(w.runs_inline());
        assert!(!w.run(|| Ok(on_plugin_thread())).await.unwrap());
        // A slow call in place demotes the instance.
        w.run(|| {
            std::thread::sleep(SLOW * 2);
            Ok(())
        })
        .await
        .unwrap();
        assert!(!w.runs_inline());
        assert!(w.run(|| Ok(on_plugin_thread())).await.unwrap());
        // Back after twice the streak, not before.
        for _ in 0..PROMOTE_AFTER + PROMOTE_AFTER / 2 {
            assert!(w.run(|| Ok(on_plugin_thread())).await.unwrap());
        }
        assert!(!w.runs_inline(), "a demoted instance needs a longer streak");
        promote(&w).await;
        assert!(w.runs_inline());
    }

    #[tokio::test]
    async fn a_slow_call_on_the_thread_restarts_the_count() {
        let w = Worker::spawn("s", false).unwrap();
        for _ in 0..PROMOTE_AFTER - 1 {
            w.run(|| Ok(())).await.unwrap();
        }
        w.run(|| {
            std::thread::sleep(QUICK * 3);
            Ok(())
        })
        .await
        .unwrap();
        w.run(|| Ok(())).await.unwrap();
        assert!(!w.runs_inline());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn while_a_call_runs_in_place_the_next_caller_queues_on_the_thread() {
        let w = Worker::spawn("b", false).unwrap();
        promote(&w).await;
        let Worker::Adaptive(a) = &w else {
            unreachable!()
        };
        assert!(a.claim(), "nothing runs in place");
        // As if a call were running in place: this one goes to the plugin's thread.
        assert!(w.run(|| Ok(on_plugin_thread())).await.unwrap());
        a.busy.store(false, Ordering::Release);
        assert!(!w.run(|| Ok(on_plugin_thread())).await.unwrap());
    }

    #[tokio::test]
    async fn a_slow_call_on_the_thread_moves_the_calls_back_too() {
        let w = Worker::spawn("q", false).unwrap();
        promote(&w).await;
        let Worker::Adaptive(a) = &w else {
            unreachable!()
        };
        assert!(a.claim());
        w.run(|| {
            std::thread::sleep(SLOW * 2);
            Ok(())
        })
        .await
        .unwrap();
        a.busy.store(false, Ordering::Release);
        assert!(!w.runs_inline());
    }

    #[tokio::test]
    async fn a_panicking_call_is_an_error_in_either_place() {
        let w = Worker::spawn("p", false).unwrap();
        let err = w.run(|| -> Result<()> { panic!("injected") }).await;
        assert!(err.unwrap_err().to_string().contains("panicked"));
        promote(&w).await;
        let err = w.run(|| -> Result<()> { panic!("injected") }).await;
        assert!(err.unwrap_err().to_string().contains("panicked"));
        assert!(w.run(|| Ok(1)).await.is_ok());
    }
}
