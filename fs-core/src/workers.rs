//! [`Workers`]: a few threads of a plugin's own that run its blocking calls (file system calls,
//! SQLite), fed through one queue.
//!
//! tokio's `spawn_blocking` wakes a pool thread for every call and `block_in_place` moves the
//! async worker to another thread: both cost context switches on every call, which made them most
//! of the CPU of a small request (a localfs PUT, a sqlfs GET). A call sent to threads that are
//! already busy with the previous one costs a queue push; they sleep only when the queue is
//! empty. The threads also bound how many blocking calls of the plugin run at once.

use std::future::Future;

use crate::{Error, Result};

type Job<S> = Box<dyn FnOnce(&mut S) + Send>;

/// Threads that each own a state `S` (a database connection, or nothing) and run the calls
/// queued for them. Dropping the `Workers` ends the threads once the calls already queued ran.
pub struct Workers<S = ()> {
    queue: crossbeam_channel::Sender<Job<S>>,
    name: String,
    /// Starts the threads on the first call, so that a mount that is never used (of 10,000)
    /// costs no threads.
    start: std::sync::Mutex<Option<Starter>>,
    started: std::sync::atomic::AtomicBool,
}

type Starter = Box<dyn FnOnce() + Send>;

impl<S> std::fmt::Debug for Workers<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers").field("name", &self.name).finish()
    }
}

/// One thread per CPU, at least 2 and at most 8: enough to keep the CPUs busy with blocking
/// calls, few enough not to queue them in the kernel instead.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

impl Workers<()> {
    /// `threads` threads named `name` with no state.
    pub fn new(name: &str, threads: usize) -> Self {
        Self::with_state(name, threads, || ())
    }
}

impl<S: 'static> Workers<S> {
    /// `threads` threads named `name`, each with a state made by `init` on that thread.
    ///
    /// # Panics
    /// When the system cannot start a thread.
    pub fn with_state(
        name: &str,
        threads: usize,
        init: impl Fn() -> S + Send + Clone + 'static,
    ) -> Self {
        let (queue, jobs) = crossbeam_channel::unbounded::<Job<S>>();
        let thread_name = name.to_string();
        let starter: Starter = Box::new(move || {
            for i in 0..threads.max(1) {
                let (jobs, init) = (jobs.clone(), init.clone());
                std::thread::Builder::new()
                    .name(format!("{thread_name} {i}"))
                    .spawn(move || {
                        let mut state = init();
                        for job in jobs.iter() {
                            // A call that panics answers an error (its sender is dropped); the
                            // thread lives on for the next call.
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                job(&mut state);
                            }));
                        }
                    })
                    .expect("a worker thread starts");
            }
        });
        Workers {
            queue,
            name: name.to_string(),
            start: std::sync::Mutex::new(Some(starter)),
            started: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn ensure_started(&self) {
        use std::sync::atomic::Ordering;
        if self.started.load(Ordering::Acquire) {
            return;
        }
        let mut start = self
            .start
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(starter) = start.take() {
            starter();
        }
        self.started.store(true, Ordering::Release);
    }

    /// Runs `f` on one of the threads with its state; resolves to what `f` returned. A call whose
    /// future is dropped still runs to its end.
    ///
    /// # Errors
    /// Whatever `f` returns; `Internal` when the threads are gone.
    pub fn run<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + use<T, F, S>
    where
        T: Send + 'static,
        F: FnOnce(&mut S) -> Result<T> + Send + 'static,
    {
        let (tell, told) = tokio::sync::oneshot::channel();
        let job: Job<S> = Box::new(move |state| {
            let _ = tell.send(f(state));
        });
        self.ensure_started();
        let sent = self.queue.send(job).is_ok();
        let name = self.name.clone();
        async move {
            if !sent {
                return Err(Error::internal(format!(
                    "{name}: its worker threads are gone"
                )));
            }
            told.await.map_err(|_| {
                Error::internal(format!("{name}: the call panicked on its worker thread"))
            })?
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn calls_run_on_the_threads_with_their_state() {
        let workers = Workers::with_state("t", 2, || 0u32);
        let mut sums = Vec::new();
        for i in 0..100u32 {
            sums.push(workers.run(move |count: &mut u32| {
                *count += 1;
                Ok((i, std::thread::current().name().unwrap().to_string()))
            }));
        }
        for (i, call) in sums.into_iter().enumerate() {
            let (got, thread) = call.await.unwrap();
            assert_eq!(got, i as u32);
            assert!(thread == "t 0" || thread == "t 1", "{thread}");
        }
    }

    #[tokio::test]
    async fn a_dropped_call_still_runs_and_threads_end_with_the_workers() {
        static RAN: AtomicUsize = AtomicUsize::new(0);
        let workers = Workers::new("d", 1);
        let call = workers.run(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            RAN.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        drop(call);
        let last = workers.run(|_| Ok(RAN.load(Ordering::SeqCst)));
        assert_eq!(
            last.await.unwrap(),
            1,
            "the dropped call ran before the next one"
        );
        drop(workers);
    }

    #[tokio::test]
    async fn a_panicking_call_answers_an_error_and_the_thread_lives_on() {
        let workers = Workers::new("p", 1);
        let err = workers
            .run(|_| -> Result<()> { panic!("injected") })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
        assert_eq!(workers.run(|_| Ok(7)).await.unwrap(), 7);
    }

    #[test]
    fn no_thread_starts_before_the_first_call() {
        let workers = Workers::new("lazy", 4);
        assert!(workers.start.lock().unwrap().is_some());
    }
}
