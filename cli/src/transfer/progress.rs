//! Progress of a transfer, kept out of the transfer logic: transfers report to a [`Progress`]
//! (files started, bytes moved), and [`Bars`] draws indicatif bars on standard error while
//! [`Quiet`] draws nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where a transfer reports what it does. Every method has an empty default.
pub trait Progress: Send + Sync + std::fmt::Debug {
    /// The head step is done: `files` files of `bytes` bytes in all will move.
    fn begin(&self, files: u64, bytes: u64) {
        let _ = (files, bytes);
    }

    /// A file starts (`size` when known); the handle counts its bytes and finishes on drop.
    fn file(&self, name: &str, size: Option<u64>) -> Box<dyn FileProgress> {
        let _ = (name, size);
        Box::new(())
    }

    /// The transfer ended (bars are cleared).
    fn end(&self) {}
}

/// The bytes of one file as they move.
pub trait FileProgress: Send + Sync {
    /// `n` more bytes arrived or left.
    fn add(&self, n: u64);
}

impl FileProgress for () {
    fn add(&self, _n: u64) {}
}

/// No progress at all (standard error is not a terminal, or `--quiet`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Progress for Quiet {}

/// Files at least this big get a bar of their own in a tree transfer; smaller ones count only in
/// the overall bar.
const OWN_BAR: u64 = 8 << 20;

/// indicatif bars on standard error: one per file for big files (every file when only one moves),
/// plus one overall bar when a tree moves.
#[derive(Debug)]
pub struct Bars {
    multi: MultiProgress,
    overall: OnceLock<ProgressBar>,
    files: AtomicU64,
    files_done: Arc<AtomicU64>,
    /// Bars of files still moving, so `end` can clear what an error left.
    open: Mutex<Vec<ProgressBar>>,
}

impl Default for Bars {
    fn default() -> Self {
        Bars::new()
    }
}

impl Bars {
    /// Bars drawn on standard error, whether or not it is a terminal (the caller decides).
    pub fn new() -> Self {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            overall: OnceLock::new(),
            files: AtomicU64::new(1),
            files_done: Arc::new(AtomicU64::new(0)),
            open: Mutex::new(Vec::new()),
        }
    }

    fn style() -> ProgressStyle {
        ProgressStyle::with_template(
            "{msg:24!} {wide_bar} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
    }

    fn spinner_style() -> ProgressStyle {
        ProgressStyle::with_template("{msg:24!} {spinner} {bytes:>10} {binary_bytes_per_sec:>12}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
    }
}

impl Progress for Bars {
    fn begin(&self, files: u64, bytes: u64) {
        self.files.store(files, Ordering::Relaxed);
        if files > 1 {
            let bar = self.multi.add(ProgressBar::new(bytes));
            bar.set_style(Bars::style());
            bar.set_message(format!("0/{files} files"));
            let _ = self.overall.set(bar);
        }
    }

    fn file(&self, name: &str, size: Option<u64>) -> Box<dyn FileProgress> {
        let single = self.files.load(Ordering::Relaxed) <= 1;
        let own = single || size.is_none_or(|s| s >= OWN_BAR);
        let bar = own.then(|| {
            let bar = match size {
                Some(s) => {
                    let b = ProgressBar::new(s);
                    b.set_style(Bars::style());
                    b
                }
                None => {
                    let b = ProgressBar::new_spinner();
                    b.set_style(Bars::spinner_style());
                    b
                }
            };
            let bar = self.multi.add(bar);
            bar.set_message(name.to_string());
            if let Ok(mut open) = self.open.lock() {
                open.push(bar.clone());
            }
            bar
        });
        Box::new(FileBar {
            bar,
            overall: self.overall.get().cloned(),
            files: self.files.load(Ordering::Relaxed),
            done: Arc::clone(&self.files_done),
        })
    }

    fn end(&self) {
        if let Ok(mut open) = self.open.lock() {
            for bar in open.drain(..) {
                bar.finish_and_clear();
            }
        }
        if let Some(bar) = self.overall.get() {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

/// One file's bar (when it has one) and the overall bar.
struct FileBar {
    bar: Option<ProgressBar>,
    overall: Option<ProgressBar>,
    files: u64,
    done: Arc<AtomicU64>,
}

impl FileProgress for FileBar {
    fn add(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
        if let Some(b) = &self.overall {
            b.inc(n);
        }
    }
}

impl Drop for FileBar {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(b) = &self.overall {
            b.set_message(format!("{done}/{} files", self.files));
        }
    }
}
