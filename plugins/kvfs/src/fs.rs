//! [`KvFs`]: a key-value store shown as files. `/keys/<key>` holds each value; `/README` and the
//! `/keys` directory are fixed.

use std::collections::BTreeMap;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use fs_core::write::check_size;
use fs_core::{
    Capabilities, Content, ContentBody, Error, ErrorKind, FileInfo, FileSystem, MemoryLimits, Meta,
    Result, WriteFlags, WritePlan,
};
use parking_lot::RwLock;

const PLUGIN: &str = "kvfs";
const DIR_MODE: u32 = 0o755;
const README_MODE: u32 = 0o444;
const KEY_MODE: u32 = 0o644;

/// The wall clock: [`SystemTime::now`], except in this crate's tests, where it moves with tokio's
/// clock (see `fs_core::conformance::clock`) so that a test under a paused clock sets it exactly.
fn wall_now() -> SystemTime {
    #[cfg(test)]
    return fs_core::conformance::clock::wall_now();
    #[cfg(not(test))]
    SystemTime::now()
}

/// One stored value.
#[derive(Debug, Clone)]
struct Entry {
    value: Bytes,
    modified: SystemTime,
}

impl Entry {
    fn new(value: Bytes) -> Self {
        Entry {
            value,
            modified: wall_now(),
        }
    }
}

/// Everything that changes, behind one lock.
#[derive(Debug)]
struct State {
    keys: BTreeMap<String, Entry>,
    /// Modification time of `/keys`: the last time a key appeared or went away.
    keys_modified: SystemTime,
    /// The bytes all values hold (for `max_total_size`).
    used: u64,
    /// The caps, beside what they limit: a config change sets them under the same lock.
    limits: MemoryLimits,
}

impl State {
    fn touch_dir(&mut self) {
        self.keys_modified = wall_now();
    }

    /// Stores `value` at `key`, keeping `used` right.
    fn put(&mut self, key: &str, value: Bytes) {
        let new = value.len() as u64;
        let old = self
            .keys
            .insert(key.to_string(), Entry::new(value))
            .map_or(0, |e| e.value.len() as u64);
        self.used = self.used.saturating_sub(old).saturating_add(new);
    }

    /// Removes `key`, keeping `used` right.
    fn take(&mut self, key: &str) -> Option<Entry> {
        let e = self.keys.remove(key)?;
        self.used = self.used.saturating_sub(e.value.len() as u64);
        Some(e)
    }
}

/// What a path names. `Key` may or may not exist; `Other` is a missing top-level name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node<'a> {
    Root,
    Readme,
    Keys,
    Key(&'a str),
    Other,
}

/// Where `path` points. Only one level of keys exists, so deeper paths fail here: below an existing
/// key or `/README` with `NotADirectory`, anywhere else with `NotFound`.
fn node<'a>(state: &State, path: &'a str) -> Result<Node<'a>> {
    match path {
        "/" => return Ok(Node::Root),
        "/README" => return Ok(Node::Readme),
        "/keys" => return Ok(Node::Keys),
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("/keys/") {
        return match rest.split_once('/') {
            None => Ok(Node::Key(rest)),
            Some((parent, _)) if state.keys.contains_key(parent) => {
                Err(Error::not_a_directory(path))
            }
            Some(_) => Err(Error::not_found(path)),
        };
    }
    if path.starts_with("/README/") {
        return Err(Error::not_a_directory(path));
    }
    if path[1..].contains('/') {
        Err(Error::not_found(path))
    } else {
        Ok(Node::Other)
    }
}

/// The error for creating a file outside `/keys`.
fn outside_keys(path: &str) -> Error {
    Error::permission_denied(path)
        .with_message("permission denied: kvfs stores files only in /keys")
}

/// The error for changing the fixed parts of the tree (`/`, `/README`, `/keys`).
fn fixed(path: &str) -> Error {
    Error::permission_denied(path).with_message("permission denied: /, /README and /keys are fixed")
}

/// `value` cut or zero-extended to `size` bytes (already checked against the per-value cap).
fn resize(value: &Bytes, size: u64) -> Bytes {
    let size = size as usize;
    if size <= value.len() {
        return value.slice(..size);
    }
    let mut buf = BytesMut::with_capacity(size);
    buf.extend_from_slice(value);
    buf.resize(size, 0);
    buf.freeze()
}

/// The kvfs filesystem: an in-memory map of keys to byte values.
#[derive(Debug)]
pub struct KvFs {
    // One lock over the whole map: reads share it and hand out slices of the stored buffers. A
    // write holds it while it builds the new value, so concurrent writes to one key never interleave;
    // a whole replacement stores the request body without copying.
    state: RwLock<State>,
    readme: Bytes,
    mounted: SystemTime,
}

impl Default for KvFs {
    fn default() -> Self {
        Self::new()
    }
}

impl KvFs {
    /// Creates an empty store whose `/README` is empty.
    pub fn new() -> Self {
        Self::with_readme(Bytes::new())
    }

    /// Creates an empty store whose `/README` holds `readme`.
    pub fn with_readme(readme: Bytes) -> Self {
        Self::with_limits(readme, MemoryLimits::default())
    }

    /// Creates an empty store whose `/README` holds `readme` and whose values stay within
    /// `limits`.
    pub fn with_limits(readme: Bytes, limits: MemoryLimits) -> Self {
        let now = wall_now();
        KvFs {
            state: RwLock::new(State {
                keys: BTreeMap::new(),
                keys_modified: now,
                used: 0,
                limits,
            }),
            readme,
            mounted: now,
        }
    }

    /// Sets `key` to `value`.
    ///
    /// # Errors
    /// `InvalidArgument` when `key` is not a valid single path component; `PayloadTooLarge` past
    /// the size caps.
    pub fn insert(&self, key: &str, value: impl Into<Bytes>) -> Result<()> {
        check_key(key)?;
        let value = value.into();
        let path = format!("/keys/{key}");
        let mut state = self.state.write();
        check_size(&path, value.len() as u64, state.limits.max_file_size)?;
        let old = state.keys.get(key).map_or(0, |e| e.value.len() as u64);
        state
            .limits
            .check_total(&path, state.used, old, value.len() as u64)?;
        state.put(key, value);
        state.touch_dir();
        Ok(())
    }

    fn info(&self, state: &State, node: Node<'_>, path: &str) -> Result<FileInfo> {
        let meta = |kind: &str| Meta::new(PLUGIN, kind);
        Ok(match node {
            Node::Root => {
                FileInfo::dir("/", DIR_MODE, Some(state.keys_modified)).with_meta(meta("dir"))
            }
            Node::Readme => FileInfo::file(
                "README",
                self.readme.len() as u64,
                README_MODE,
                Some(self.mounted),
            )
            .with_meta(meta("file")),
            Node::Keys => {
                FileInfo::dir("keys", DIR_MODE, Some(state.keys_modified)).with_meta(meta("dir"))
            }
            Node::Key(k) => {
                let e = state.keys.get(k).ok_or_else(|| Error::not_found(path))?;
                key_info(k, e)
            }
            Node::Other => return Err(Error::not_found(path)),
        })
    }

    /// The bytes and modification time at `path`, sliced to the window.
    fn read_window(
        &self,
        path: &str,
        offset: u64,
        size: Option<u64>,
    ) -> Result<(Bytes, SystemTime)> {
        let state = self.state.read();
        match node(&state, path)? {
            Node::Root | Node::Keys => Err(Error::is_a_directory(path)),
            Node::Readme => Ok((
                fs_core::read_window(&self.readme, offset, size),
                self.mounted,
            )),
            Node::Key(k) => {
                let e = state.keys.get(k).ok_or_else(|| Error::not_found(path))?;
                Ok((fs_core::read_window(&e.value, offset, size), e.modified))
            }
            Node::Other => Err(Error::not_found(path)),
        }
    }
}

fn key_info(key: &str, e: &Entry) -> FileInfo {
    FileInfo::file(key, e.value.len() as u64, KEY_MODE, Some(e.modified))
        .with_meta(Meta::new(PLUGIN, "file"))
}

/// Checks that `key` can name a file in `/keys`: one non-empty path component.
///
/// # Errors
/// `InvalidArgument` naming the key and the rule it breaks.
pub(crate) fn check_key(key: &str) -> Result<()> {
    let problem = if key.is_empty() {
        "keys cannot be empty"
    } else if key.contains('/') {
        "keys cannot contain '/'"
    } else if key == "." || key == ".." {
        "keys cannot be '.' or '..'"
    } else if key.contains('\0') {
        "keys cannot contain a NUL byte"
    } else if key.len() > fs_core::path::MAX_NAME_LEN {
        "keys cannot be longer than 255 bytes"
    } else {
        return Ok(());
    };
    Err(Error::invalid_argument(format!(
        "invalid key '{key}': {problem}"
    )))
}

#[async_trait]
impl FileSystem for KvFs {
    /// The size caps change in place (a total below what the store holds is refused; a per-value
    /// cap above the total is amended down to it); `initial_data` needs a remount, so that a
    /// change never overwrites values written since the mount.
    async fn reconfigure(
        &self,
        old: &serde_json::Value,
        new: &serde_json::Value,
    ) -> Result<fs_core::Reconfigured> {
        use fs_core::config::{check_live, params};
        check_live(&params(&[crate::KEYS, MemoryLimits::KEYS]), old, new)?;
        let mut state = self.state.write();
        let (limits, amended) = MemoryLimits::for_change(new, state.used)?;
        state.limits = limits;
        Ok(amended.map_or(
            fs_core::Reconfigured::Accepted,
            fs_core::Reconfigured::Amended,
        ))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            mkdir: false,
            chmod: false,
            max_file_size: self.state.read().limits.max_file_size,
            ..Capabilities::READ_WRITE
        }
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        let state = self.state.read();
        let n = node(&state, path)?;
        self.info(&state, n, path)
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        let state = self.state.read();
        match node(&state, path)? {
            Node::Root => Ok(vec![
                self.info(&state, Node::Readme, "/README")?,
                self.info(&state, Node::Keys, "/keys")?,
            ]),
            Node::Keys => Ok(state.keys.iter().map(|(k, e)| key_info(k, e)).collect()),
            Node::Readme => Err(Error::not_a_directory(path)),
            Node::Key(k) if state.keys.contains_key(k) => Err(Error::not_a_directory(path)),
            Node::Key(_) | Node::Other => Err(Error::not_found(path)),
        }
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        self.read_window(path, offset, size).map(|(b, _)| b)
    }

    async fn read_content(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Content> {
        let (body, modified) = self.read_window(path, offset, size)?;
        Ok(Content {
            body: ContentBody::Bytes(body),
            modified: Some(modified),
            etag: None,
        })
    }

    async fn write(
        &self,
        path: &str,
        data: Bytes,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let written = data.len() as u64;
        let mut state = self.state.write();
        let key = match node(&state, path)? {
            Node::Key(k) => k,
            Node::Root | Node::Keys => return Err(Error::is_a_directory(path)),
            Node::Readme => return Err(fixed(path)),
            Node::Other if flags.creates() => return Err(outside_keys(path)),
            Node::Other => return Err(Error::not_found(path)),
        };
        let current = state.keys.get(key).map(|e| e.value.len() as u64);
        let plan = WritePlan::new(
            path,
            current,
            offset,
            flags,
            written,
            state.limits.max_file_size,
        )?;
        state
            .limits
            .check_total(path, state.used, current.unwrap_or(0), plan.size)?;
        // Taken out, not cloned, so an unshared buffer is written in place.
        let old = state
            .keys
            .get_mut(key)
            .map(|e| std::mem::take(&mut e.value))
            .unwrap_or_default();
        state.put(key, plan.apply(old, data));
        // `put` saw the emptied entry; the taken bytes leave the count here.
        state.used = state.used.saturating_sub(current.unwrap_or(0));
        if plan.creates {
            state.touch_dir();
        }
        Ok(written)
    }

    async fn create(&self, path: &str) -> Result<()> {
        let mut state = self.state.write();
        match node(&state, path)? {
            Node::Key(k) if state.keys.contains_key(k) => Err(Error::already_exists(path)),
            Node::Key(k) => {
                state.keys.insert(k.to_string(), Entry::new(Bytes::new()));
                state.touch_dir();
                Ok(())
            }
            Node::Root | Node::Readme | Node::Keys => Err(Error::already_exists(path)),
            Node::Other => Err(outside_keys(path)),
        }
    }

    async fn mkdir(&self, path: &str, _mode: u32) -> Result<()> {
        Err(Error::new(
            ErrorKind::Unsupported,
            "operation not supported: kvfs has exactly one directory, /keys",
        )
        .with_op("mkdir")
        .with_path(path))
    }

    async fn remove(&self, path: &str) -> Result<()> {
        let mut state = self.state.write();
        match node(&state, path)? {
            Node::Key(k) => {
                state.take(k).ok_or_else(|| Error::not_found(path))?;
                state.touch_dir();
                Ok(())
            }
            Node::Keys if !state.keys.is_empty() => Err(Error::directory_not_empty(path)),
            Node::Root | Node::Readme | Node::Keys => Err(fixed(path)),
            Node::Other => Err(Error::not_found(path)),
        }
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        let mut state = self.state.write();
        match node(&state, path)? {
            Node::Key(k) => {
                state.take(k).ok_or_else(|| Error::not_found(path))?;
            }
            // The fixed entries stay; every key goes.
            Node::Root | Node::Keys => {
                state.keys.clear();
                state.used = 0;
            }
            Node::Readme => return Err(fixed(path)),
            Node::Other => return Err(Error::not_found(path)),
        }
        state.touch_dir();
        Ok(())
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        fs_core::path::check_rename(from, to)?;
        let mut state = self.state.write();
        let src = match node(&state, from)? {
            Node::Key(k) if state.keys.contains_key(k) => k,
            Node::Key(_) | Node::Other => return Err(Error::not_found(from)),
            Node::Root | Node::Readme | Node::Keys => return Err(fixed(from)),
        };
        let dst = match node(&state, to)? {
            Node::Key(k) => k,
            Node::Root | Node::Keys => return Err(Error::is_a_directory(to)),
            Node::Readme => return Err(fixed(to)),
            Node::Other => return Err(outside_keys(to)),
        };
        if src != dst {
            // A rename keeps the value's modification time, as POSIX rename does.
            if let Some(entry) = state.take(src) {
                let value_len = entry.value.len() as u64;
                let replaced = state.keys.insert(dst.to_string(), entry);
                let freed = replaced.map_or(0, |e| e.value.len() as u64);
                state.used = state.used.saturating_sub(freed).saturating_add(value_len);
            }
            state.touch_dir();
        }
        Ok(())
    }

    async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        let mut state = self.state.write();
        match node(&state, path)? {
            Node::Key(k) => {
                check_size(path, size, state.limits.max_file_size)?;
                let old = state.keys.get(k).ok_or_else(|| Error::not_found(path))?;
                state
                    .limits
                    .check_total(path, state.used, old.value.len() as u64, size)?;
                let value = resize(&old.value, size);
                state.put(k, value);
                Ok(())
            }
            Node::Root | Node::Keys => Err(Error::is_a_directory(path)),
            Node::Readme => Err(fixed(path)),
            Node::Other => Err(Error::not_found(path)),
        }
    }

    async fn touch(&self, path: &str) -> Result<()> {
        let mut state = self.state.write();
        match node(&state, path)? {
            Node::Key(k) => {
                match state.keys.get_mut(k) {
                    Some(e) => e.modified = wall_now(),
                    None => {
                        state.keys.insert(k.to_string(), Entry::new(Bytes::new()));
                        state.touch_dir();
                    }
                }
                Ok(())
            }
            Node::Root | Node::Keys => Ok(()),
            Node::Readme => Err(fixed(path)),
            Node::Other => Err(outside_keys(path)),
        }
    }
}
