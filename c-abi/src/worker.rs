//! [`Worker`]: where the C calls of one plugin instance run.
//!
//! By default on a thread of the instance's own, in order, so that a call that blocks never holds
//! an executor thread. That costs two thread hand-offs per call (to the plugin's thread and back),
//! which on a small read is a third of the server's CPU. So the worker watches its calls: once an
//! instance has answered [`PROMOTE_AFTER`] calls in a row, each within [`QUICK`], its calls run in
//! place on the calling executor thread; a call that takes longer than [`SLOW`] because it slept
//! (waited for I/O, a lock, a timer: the thread gave up the CPU) or computed that long sends the
//! instance back to its thread (logged), and each time that happens the streak it needs to come
//! back doubles. A call that was only preempted (the thread's CPU taken by another, which on a busy
//! machine happens to some call every few milliseconds) is not the plugin's doing and counts as
//! quick; the thread's own counters (`getrusage(RUSAGE_THREAD)`: voluntary switches, CPU time)
//! tell the two apart. While a call runs in place, a second caller yields to its executor for a few
//! µs, trying again in between, and then queues on the instance's thread rather than wait for it.
//! A plugin whose `PFSNonBlocking` promises that no call blocks runs in place from the start.
//!
//! What the heuristic costs: a plugin that is quick a thousand times and then blocks holds one
//! executor thread for that call (and again after 2,000, 4,000, ... quick calls); the other
//! executor threads keep serving, and the other calls of the same instance queue on its thread.
//! Why: docs/decisions/0019-adaptive-c-plugin-calls.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use fs_core::workers::Workers;
use fs_core::{Error, Result};

/// Consecutive quick calls on the instance's thread after which its calls run in place (doubled
/// with each demotion).
pub(crate) const PROMOTE_AFTER: u32 = 1000;
/// A call at most this long counts as quick.
pub(crate) const QUICK: Duration = Duration::from_micros(200);
/// A call in place longer than this sends the instance back to its thread.
pub(crate) const SLOW: Duration = Duration::from_millis(2);
/// How long a caller waits for a call in place to finish before it queues on the thread instead.
/// Calls in place are quick (a few µs), so the wait is usually shorter than two thread hand-offs.
const SPIN: Duration = Duration::from_micros(20);

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
    /// The instance's own thread (one of fs-core's `Workers`, started at the first call).
    thread: Workers,
    /// Quick calls in a row on the thread.
    streak: AtomicU32,
    /// Calls run in place now.
    inline: AtomicBool,
    /// How many times a call in place was slow.
    demotions: AtomicU32,
    /// Calls handed to the instance's thread so far.
    queued: AtomicU32,
    /// A call of the instance is running, in place or on its thread: calls take turns through this
    /// flag, so the instance's lock is never waited on and a call's timing never includes a wait.
    busy: AtomicBool,
}

impl Worker {
    /// A worker for an instance of `plugin`; `non_blocking` when the plugin said so.
    pub(crate) fn spawn(plugin: &str, non_blocking: bool) -> Result<Worker> {
        if non_blocking {
            return Ok(Worker::Inline);
        }
        Ok(Worker::Adaptive(Arc::new(Adaptive {
            plugin: plugin.to_string(),
            // Ends when every handle of the instance is gone.
            thread: Workers::new(&format!("plugin {plugin}"), 1),
            streak: AtomicU32::new(0),
            inline: AtomicBool::new(false),
            demotions: AtomicU32::new(0),
            queued: AtomicU32::new(0),
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
        if adaptive.inline.load(Ordering::Relaxed) && adaptive.claim_soon().await {
            let start = Timing::start();
            let out = guarded();
            adaptive.busy.store(false, Ordering::Release);
            adaptive.inline_took(&start);
            return out;
        }
        let a = adaptive.clone();
        let call = adaptive.thread.run(move |()| {
            // The instance's turn first (a call in place may be running), then the timing: a wait
            // for another call is not this call's slowness.
            a.claim_waiting();
            let start = Timing::start();
            let out = guarded();
            a.busy.store(false, Ordering::Release);
            a.thread_took(&start);
            out
        });
        adaptive.queued.fetch_add(1, Ordering::Relaxed);
        call.await
    }
}

impl Adaptive {
    /// Takes the right to call in place; false when a call runs in place already.
    fn claim(&self) -> bool {
        self.busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// [`Adaptive::claim`], on the instance's own thread: waits as long as it takes (spinning a
    /// little, then yielding, then sleeping in short naps).
    fn claim_waiting(&self) {
        let start = Instant::now();
        while !self.claim() {
            let waited = start.elapsed();
            if waited < SPIN {
                std::hint::spin_loop();
            } else if waited < Duration::from_millis(1) {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }

    /// [`Adaptive::claim`], waiting up to [`SPIN`] for a call in place to finish. The caller
    /// yields to its executor between tries (its thread serves other requests meanwhile) rather
    /// than spinning.
    async fn claim_soon(&self) -> bool {
        if self.claim() {
            return true;
        }
        let start = Instant::now();
        while start.elapsed() < SPIN {
            tokio::task::yield_now().await;
            if self.claim() {
                return true;
            }
        }
        false
    }

    fn thread_took(&self, start: &Timing) {
        let took = start.wall.elapsed();
        if took > QUICK {
            // A call in place would wait for this one on the instance's lock: none from now on.
            if took > SLOW && start.plugin_was_slow() {
                self.streak.store(0, Ordering::Relaxed);
                self.demote(took);
                return;
            }
            if !start.only_preempted() {
                self.streak.store(0, Ordering::Relaxed);
                return;
            }
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

    fn inline_took(&self, start: &Timing) {
        let took = start.wall.elapsed();
        if took > SLOW && start.plugin_was_slow() {
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

/// When a call started, by the wall clock and by the calling thread's own counters.
struct Timing {
    wall: Instant,
    thread: ThreadUsage,
}

impl Timing {
    fn start() -> Timing {
        Timing {
            wall: Instant::now(),
            thread: ThreadUsage::now(),
        }
    }

    /// Whether the call was slow by the plugin's doing: it slept (the thread gave the CPU up, as
    /// it does waiting for I/O, a lock or a timer) or it computed for longer than [`SLOW`].
    /// A call that was only preempted was not.
    fn plugin_was_slow(&self) -> bool {
        let now = ThreadUsage::now();
        now.voluntary_switches != self.thread.voluntary_switches
            || now.cpu.saturating_sub(self.thread.cpu) > SLOW
    }

    /// Whether a call longer than [`QUICK`] was so only because it was preempted.
    fn only_preempted(&self) -> bool {
        let now = ThreadUsage::now();
        now.voluntary_switches == self.thread.voluntary_switches
            && now.cpu.saturating_sub(self.thread.cpu) <= QUICK
    }
}

/// The calling thread's voluntary context switches and CPU time so far.
struct ThreadUsage {
    voluntary_switches: i64,
    cpu: Duration,
}

impl ThreadUsage {
    #[cfg(target_os = "linux")]
    fn now() -> ThreadUsage {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage fills the struct it is given; RUSAGE_THREAD names the calling thread.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
        if rc != 0 {
            return ThreadUsage::unknown();
        }
        // SAFETY: the call above succeeded, so it filled the struct.
        let usage = unsafe { usage.assume_init() };
        let time = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec.max(0) as u64)
                + Duration::from_micros(t.tv_usec.max(0) as u64)
        };
        ThreadUsage {
            voluntary_switches: usage.ru_nvcsw,
            cpu: time(usage.ru_utime) + time(usage.ru_stime),
        }
    }

    /// Without per-thread counters, every slow call counts as the plugin's (the safe side).
    #[cfg(not(target_os = "linux"))]
    fn now() -> ThreadUsage {
        ThreadUsage::unknown()
    }

    /// Counters that differ from any other reading: a call is taken as having slept.
    fn unknown() -> ThreadUsage {
        static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(i64::MIN);
        ThreadUsage {
            voluntary_switches: NEXT.fetch_add(1, Ordering::Relaxed),
            cpu: Duration::ZERO,
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

    /// Holds the instance's turn (as a call in place would) while `call` is made, until it has
    /// been handed to the instance's thread; then lets it run and returns its result.
    async fn made_while_busy<T: Send + 'static>(
        w: &Worker,
        call: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let Worker::Adaptive(a) = w else {
            unreachable!()
        };
        assert!(a.claim(), "nothing runs in place");
        let before = a.queued.load(Ordering::Relaxed);
        let w2 = w.clone();
        let task = tokio::spawn(async move { w2.run(call).await });
        let deadline = Instant::now() + Duration::from_secs(10);
        while a.queued.load(Ordering::Relaxed) == before {
            assert!(
                Instant::now() < deadline,
                "the call never reached the thread"
            );
            tokio::task::yield_now().await;
        }
        a.busy.store(false, Ordering::Release);
        task.await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn while_a_call_runs_in_place_the_next_caller_queues_on_the_thread() {
        let w = Worker::spawn("b", false).unwrap();
        promote(&w).await;
        assert!(
            made_while_busy(&w, || Ok(on_plugin_thread()))
                .await
                .unwrap()
        );
        assert!(!w.run(|| Ok(on_plugin_thread())).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_call_on_the_thread_moves_the_calls_back_too() {
        let w = Worker::spawn("q", false).unwrap();
        promote(&w).await;
        made_while_busy(&w, || {
            std::thread::sleep(SLOW * 2);
            Ok(())
        })
        .await
        .unwrap();
        assert!(!w.runs_inline());
    }

    #[tokio::test]
    async fn a_call_that_only_computes_briefly_or_was_preempted_keeps_its_place() {
        let w = Worker::spawn("c", false).unwrap();
        promote(&w).await;
        // Spins a little over SLOW by the wall clock: CPU-bound, no sleep. Whether or not the
        // machine preempted it, it took at most about SLOW of CPU, so it is not demoted unless
        // it computed longer than SLOW (it may, barely: then the test is moot, not failed).
        let demoted_for_cpu = w
            .run(|| {
                let start = Timing::start();
                while start.wall.elapsed() < SLOW + SLOW / 4 {
                    std::hint::spin_loop();
                }
                Ok(ThreadUsage::now().cpu.saturating_sub(start.thread.cpu) > SLOW)
            })
            .await
            .unwrap();
        assert_eq!(w.runs_inline(), !demoted_for_cpu);
    }

    #[test]
    fn sleeping_counts_as_slow_and_spinning_shorter_than_slow_does_not() {
        let t = Timing::start();
        std::thread::sleep(Duration::from_millis(3));
        assert!(t.plugin_was_slow(), "a sleep is a voluntary switch");
        let t = Timing::start();
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_micros(300) {
            std::hint::spin_loop();
        }
        assert!(
            !t.plugin_was_slow(),
            "300 µs of CPU, preempted or not, is not slow"
        );
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
