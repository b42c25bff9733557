//! `countingfs`: a plugin that records every lifecycle call, for tests of the guarantees in
//! [`crate::lifecycle`] (start once, shutdown exactly once, nothing left running).
//!
//! Config: `start` and `shutdown` say how each hook behaves (`ok`, `fail`, `hang`, `panic`);
//! `tag` (changes in place) is what `/tag` reads, with the instance's number, so a reader can
//! tell an old instance from a new one. Each instance runs one background task from `start`
//! until it is shut down.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::Value;

use crate::plugin::{ConfigParam, MountContext, ServicePlugin};
use crate::{
    Background, Capabilities, Error, FileInfo, FileSystem, Reconfigured, Result, WriteFlags,
};

crate::config_keys! {
    KEYS;
    START: &'static str = crate::config::Key::optional("start", "ok", "`ok`, `fail`, `hang` or `panic`");
    SHUTDOWN: &'static str = crate::config::Key::optional("shutdown", "ok", "`ok`, `fail`, `hang` or `panic`");
    TAG: &'static str = crate::config::Key::optional("tag", "", "what `/tag` reads").live();
}

/// One lifecycle call: `(hook, mount path, instance number)`.
pub type Event = (&'static str, String, usize);

/// What every instance of one [`CountingPlugin`] did, in order.
#[derive(Debug, Default)]
pub struct Journal {
    events: Mutex<Vec<Event>>,
    instances: AtomicUsize,
    tasks: AtomicUsize,
}

impl Journal {
    /// Every call so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().clone()
    }

    /// How many times `hook` ran for `instance`.
    pub fn count(&self, hook: &str, instance: usize) -> usize {
        self.events
            .lock()
            .iter()
            .filter(|(h, _, i)| *h == hook && *i == instance)
            .count()
    }

    /// How many instances were initialized.
    pub fn instances(&self) -> usize {
        self.instances.load(Ordering::SeqCst)
    }

    /// How many background tasks of any instance are running now.
    pub fn tasks(&self) -> usize {
        self.tasks.load(Ordering::SeqCst)
    }

    /// Checks the guarantees over everything recorded: every instance initialized once; started at
    /// most once, after its initialize; shut down exactly once, after its start (when
    /// `all_gone`, every instance has been shut down; otherwise at most once).
    ///
    /// # Panics
    /// Naming the instance and the events, when a guarantee does not hold.
    pub fn assert_once_each(&self, all_gone: bool) {
        let events = self.events();
        for n in 1..=self.instances() {
            let mine: Vec<&str> = events
                .iter()
                .filter(|(_, _, i)| *i == n)
                .map(|(h, _, _)| *h)
                .collect();
            let ok = matches!(
                mine.as_slice(),
                ["initialize"] | ["initialize", "start"] if !all_gone
            ) || matches!(
                mine.as_slice(),
                ["initialize", "shutdown"] | ["initialize", "start", "shutdown"]
            );
            assert!(ok, "instance {n}: {mine:?} (all events: {events:?})");
        }
    }

    fn record(&self, hook: &'static str, path: &str, instance: usize) {
        self.events.lock().push((hook, path.to_string(), instance));
    }
}

/// The `countingfs` factory; every instance records into one [`Journal`].
#[derive(Debug, Default)]
pub struct CountingPlugin {
    /// What the instances did.
    pub journal: Arc<Journal>,
}

#[async_trait]
impl ServicePlugin for CountingPlugin {
    fn name(&self) -> &str {
        "countingfs"
    }

    fn readme(&self) -> &str {
        "countingfs: records its lifecycle calls (a test plugin)."
    }

    fn config_params(&self) -> Vec<ConfigParam> {
        crate::config::params(&[KEYS])
    }

    fn validate(&self, config: &Value) -> Result<()> {
        for key in [START, SHUTDOWN] {
            let v = key.get(config)?;
            if !["ok", "fail", "hang", "panic"].contains(&v.as_str()) {
                return Err(Error::invalid_argument(format!(
                    "invalid value for '{}': {v}",
                    key.name()
                )));
            }
        }
        Ok(())
    }

    async fn initialize(&self, ctx: MountContext) -> Result<Arc<dyn FileSystem>> {
        let instance = self.journal.instances.fetch_add(1, Ordering::SeqCst) + 1;
        self.journal.record("initialize", &ctx.mount_path, instance);
        Ok(Arc::new(CountingFs {
            journal: self.journal.clone(),
            path: ctx.mount_path,
            instance,
            start: START.get(&ctx.config)?.to_string(),
            shutdown: SHUTDOWN.get(&ctx.config)?.to_string(),
            tag: Mutex::new(TAG.get(&ctx.config)?.to_string()),
        }))
    }
}

#[derive(Debug)]
struct CountingFs {
    journal: Arc<Journal>,
    path: String,
    instance: usize,
    start: String,
    shutdown: String,
    tag: Mutex<String>,
}

/// Counts a running background task while it lives.
struct TaskGuard(Arc<Journal>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.tasks.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn behave(how: &str, hook: &str) -> Result<()> {
    match how {
        "fail" => Err(Error::invalid_argument(format!(
            "{hook} failed as configured"
        ))),
        "hang" => std::future::pending().await,
        "panic" => panic!("{hook} panicked as configured"),
        _ => Ok(()),
    }
}

fn refuse(op: &'static str) -> Error {
    Error::unsupported(op)
}

#[async_trait]
impl FileSystem for CountingFs {
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    async fn start(&self, background: &Background) -> Result<()> {
        self.journal.record("start", &self.path, self.instance);
        behave(&self.start, "start").await?;
        self.journal.tasks.fetch_add(1, Ordering::SeqCst);
        let guard = TaskGuard(self.journal.clone());
        background.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        Ok(())
    }

    async fn reconfigure(&self, old: &Value, new: &Value) -> Result<Reconfigured> {
        crate::config::check_live(&crate::config::params(&[KEYS]), old, new)?;
        *self.tag.lock() = TAG.get(new)?.to_string();
        Ok(Reconfigured::Accepted)
    }

    async fn shutdown(&self) -> Result<()> {
        self.journal.record("shutdown", &self.path, self.instance);
        behave(&self.shutdown, "shutdown").await
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        match path {
            "/" => Ok(FileInfo::dir("", 0o755, None)),
            "/tag" => Ok(FileInfo::file("tag", 0, 0o444, None)),
            _ => Err(Error::not_found(path)),
        }
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        match path {
            "/" => Ok(vec![self.stat("/tag").await?]),
            _ => Err(Error::not_found(path)),
        }
    }

    async fn read(&self, path: &str, _: u64, _: Option<u64>) -> Result<Bytes> {
        match path {
            "/tag" => Ok(Bytes::from(format!(
                "{} #{}",
                self.tag.lock(),
                self.instance
            ))),
            _ => Err(Error::not_found(path)),
        }
    }

    async fn write(&self, _: &str, _: Bytes, _: Option<u64>, _: WriteFlags) -> Result<u64> {
        Err(refuse("write"))
    }
    async fn create(&self, _: &str) -> Result<()> {
        Err(refuse("create"))
    }
    async fn mkdir(&self, _: &str, _: u32) -> Result<()> {
        Err(refuse("mkdir"))
    }
    async fn remove(&self, _: &str) -> Result<()> {
        Err(refuse("remove"))
    }
    async fn remove_all(&self, _: &str) -> Result<()> {
        Err(refuse("remove_all"))
    }
    async fn rename(&self, _: &str, _: &str) -> Result<()> {
        Err(refuse("rename"))
    }
}

/// The events of `journal` at `path`, as `hook#instance`.
pub fn events_at(journal: &Journal, path: &str) -> Vec<String> {
    journal
        .events()
        .into_iter()
        .filter(|(_, p, _)| p == path)
        .map(|(h, _, i)| format!("{h}#{i}"))
        .collect()
}

/// Instances by the path they were mounted at.
pub fn instances_by_path(journal: &Journal) -> BTreeMap<String, Vec<usize>> {
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (h, p, i) in journal.events() {
        if h == "initialize" {
            out.entry(p).or_default().push(i);
        }
    }
    out
}
