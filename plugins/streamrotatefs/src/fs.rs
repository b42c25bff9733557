//! [`StreamRotateFs`]: a [`StreamFs`] whose stream writes are also appended to rotating files on
//! another pfs path, through the server's mount tree.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{
    ByteStream, Capabilities, Content, Error, ErrorKind, FileInfo, FileSystem, MountableFs, Result,
    WriteFlags, path,
};
use parking_lot::{Mutex, RwLock};

use super::RotationConfig;
use pfs_streamfs::{StreamFs, StreamFsConfig};

const PLUGIN: &str = "streamrotatefs";
const DIR_MODE: u32 = 0o755;
/// How many `-N` suffixes are tried when a new file's name is already taken.
const MAX_NAME_SUFFIX: u32 = 1000;

/// The file a stream is currently recorded to.
#[derive(Debug)]
struct OpenFile {
    /// Full pfs path.
    path: String,
    opened: Instant,
    bytes: u64,
}

/// Rotation bookkeeping of one stream.
#[derive(Debug, Default)]
struct Recording {
    current: Option<OpenFile>,
    /// The `{index}` of the next file.
    next_index: u64,
    /// Output files created for this stream, the current one included.
    files_written: u64,
    /// Chunks that could not be recorded.
    output_errors: u64,
    last_error: Option<String>,
}

impl Recording {
    fn is_pristine(&self) -> bool {
        self.current.is_none() && self.files_written == 0 && self.output_errors == 0
    }
}

/// One stream's recorder.
#[derive(Debug, Default)]
struct Recorder {
    // Held by a writer across its stream push and its output append, so chunks reach the file in
    // the order readers see them. Readers and stat never take it; they only wait for `state`,
    // which is never held across an await.
    order: tokio::sync::Mutex<()>,
    state: Mutex<Recording>,
}

/// The name of the stream `path` points at, if it is a stream path (as streamfs lays them out).
fn stream_name(path: &str) -> Option<&str> {
    let rel = path.strip_prefix('/')?;
    (!rel.is_empty() && !rel.contains('/') && rel != "README").then_some(rel)
}

/// `name` with `-n` before its extension: `live.dat` → `live-2.dat`.
fn with_suffix(file: &str, n: u32) -> String {
    let (dir, base) = match file.rfind('/') {
        Some(i) => file.split_at(i + 1),
        None => ("", file),
    };
    match base.rfind('.') {
        Some(dot) if dot > 0 => format!("{dir}{}-{n}{}", &base[..dot], &base[dot..]),
        _ => format!("{dir}{base}-{n}"),
    }
}

/// The streamrotatefs filesystem: streamfs streams, each recorded to rotating files.
#[derive(Debug)]
pub struct StreamRotateFs {
    inner: StreamFs,
    /// The rotation settings; a config change swaps them while mounted, and each chunk is
    /// recorded under the settings it found when it started.
    rotation: RwLock<Arc<RotationConfig>>,
    root: Weak<MountableFs>,
    // Held only to find, add or drop a recorder.
    recorders: Mutex<HashMap<String, Arc<Recorder>>>,
}

impl StreamRotateFs {
    /// Creates a filesystem with `streams`'s buffer sizes that records into `root` as `rotation`
    /// says, with `readme` as `/README`.
    pub fn new(
        streams: StreamFsConfig,
        rotation: RotationConfig,
        root: Weak<MountableFs>,
        readme: Bytes,
    ) -> Self {
        StreamRotateFs {
            inner: StreamFs::new(streams, readme),
            rotation: RwLock::new(Arc::new(rotation)),
            root,
            recorders: Mutex::new(HashMap::new()),
        }
    }

    /// The rotation settings in use.
    pub fn rotation(&self) -> Arc<RotationConfig> {
        Arc::clone(&self.rotation.read())
    }

    fn recorder(&self, name: &str) -> Arc<Recorder> {
        Arc::clone(self.recorders.lock().entry(name.to_string()).or_default())
    }

    /// Drops `name`'s recorder when `ours` is it, nobody else holds it and it never recorded.
    fn forget_unused(&self, name: &str, ours: &Arc<Recorder>) {
        let mut recorders = self.recorders.lock();
        if let Some(r) = recorders.get(name)
            && Arc::ptr_eq(r, ours)
            // The map's reference and ours: no other writer is waiting on it.
            && Arc::strong_count(ours) == 2
            && ours.state.lock().is_pristine()
        {
            recorders.remove(name);
        }
    }

    /// Adds the rotation fields to a stream's info and names the plugin.
    fn decorate(&self, mut info: FileInfo, stream: Option<&str>) -> FileInfo {
        info.meta.name = PLUGIN.to_string();
        let Some(name) = stream else {
            return info;
        };
        let recorder = self.recorders.lock().get(name).cloned();
        let (current, bytes, files, errors, last) = match recorder {
            Some(r) => {
                let st = r.state.lock();
                (
                    st.current
                        .as_ref()
                        .map(|f| f.path.clone())
                        .unwrap_or_default(),
                    st.current.as_ref().map_or(0, |f| f.bytes),
                    st.files_written,
                    st.output_errors,
                    st.last_error.clone(),
                )
            }
            None => (String::new(), 0, 0, 0, None),
        };
        let content = info.meta.content.get_or_insert_with(Default::default);
        content.insert("current_file".into(), current);
        content.insert("bytes_in_current_file".into(), bytes.to_string());
        content.insert("files_written".into(), files.to_string());
        content.insert("output_errors".into(), errors.to_string());
        if let Some(last) = last {
            content.insert("last_output_error".into(), last);
        }
        info
    }

    /// Records one chunk of stream `name`; a failure is logged and counted, never returned.
    async fn record(&self, name: &str, recorder: &Recorder, chunk: Bytes) {
        let rotation = self.rotation();
        if let Err(e) = self.append(&rotation, name, recorder, chunk).await {
            tracing::warn!(
                stream = name,
                output_path = %rotation.output_path,
                error = %e,
                "streamrotatefs: could not record a chunk"
            );
            let mut st = recorder.state.lock();
            st.output_errors += 1;
            st.last_error = Some(e.to_string());
        }
    }

    async fn append(
        &self,
        rotation: &RotationConfig,
        name: &str,
        recorder: &Recorder,
        chunk: Bytes,
    ) -> Result<()> {
        let root = self
            .root
            .upgrade()
            .ok_or_else(|| Error::internal("the server's mount tree is gone"))?;
        let len = chunk.len() as u64;
        let current = {
            let st = recorder.state.lock();
            st.current
                .as_ref()
                .filter(|f| !must_rotate(rotation, f, len))
                .map(|f| f.path.clone())
        };
        if let Some(file) = current {
            // CREATE too: a file removed behind our back is started again under the same name.
            root.write(&file, chunk, None, WriteFlags::APPEND | WriteFlags::CREATE)
                .await?;
            if let Some(f) = recorder.state.lock().current.as_mut() {
                f.bytes += len;
            }
            return Ok(());
        }
        let index = recorder.state.lock().next_index;
        let file = start_file(rotation, &root, name, index, chunk).await?;
        let mut st = recorder.state.lock();
        st.current = Some(OpenFile {
            path: file,
            opened: Instant::now(),
            bytes: len,
        });
        st.next_index += 1;
        st.files_written += 1;
        Ok(())
    }
}

/// Whether a chunk of `len` bytes must go to a new file instead of `f`, under `rotation`.
fn must_rotate(rotation: &RotationConfig, f: &OpenFile, len: u64) -> bool {
    // A chunk is never split: an empty file takes any chunk, even one larger than the size.
    let by_size = f.bytes > 0 && f.bytes.saturating_add(len) > rotation.rotation_size;
    let by_age = rotation
        .rotation_interval
        .is_some_and(|i: Duration| f.opened.elapsed() >= i);
    by_size || by_age
}

/// Creates stream `name`'s file number `index` holding `chunk`, named as `rotation` says;
/// returns its path.
async fn start_file(
    rotation: &RotationConfig,
    root: &MountableFs,
    name: &str,
    index: u64,
    chunk: Bytes,
) -> Result<String> {
    let rel = rotation
        .filename_pattern
        .expand(name, SystemTime::now(), index);
    let file = path::child(&rotation.output_path, &rel);
    mkdir_all(root, path::parent(&file)).await?;
    // Old files are never overwritten: a taken name gets a `-N` suffix.
    for n in 0..=MAX_NAME_SUFFIX {
        let candidate = if n == 0 {
            file.clone()
        } else {
            with_suffix(&file, n)
        };
        let flags = WriteFlags::CREATE | WriteFlags::EXCLUSIVE | WriteFlags::APPEND;
        match root.write(&candidate, chunk.clone(), None, flags).await {
            Ok(_) => return Ok(candidate),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::already_exists(&file).with_message(format!(
        "file exists: {file} and its first {MAX_NAME_SUFFIX} suffixed names are taken"
    )))
}

/// Creates `dir` and its missing ancestors in `root` (`mkdir -p`).
async fn mkdir_all(root: &MountableFs, dir: &str) -> Result<()> {
    let mut missing = Vec::new();
    let mut cur = dir;
    loop {
        match root.stat(cur).await {
            Ok(info) if info.is_dir => break,
            Ok(_) => return Err(Error::not_a_directory(cur)),
            Err(e) if e.kind() == ErrorKind::NotFound && cur != "/" => {
                missing.push(cur);
                cur = path::parent(cur);
            }
            Err(e) => return Err(e),
        }
    }
    for d in missing.into_iter().rev() {
        match root.mkdir(d, DIR_MODE).await {
            // Another stream may have created it meanwhile.
            Err(e) if e.kind() != ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl FileSystem for StreamRotateFs {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        let info = self.inner.stat(path).await?;
        Ok(self.decorate(info, stream_name(path)))
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        let entries = self.inner.read_dir(path).await?;
        Ok(entries
            .into_iter()
            .map(|info| {
                let name = (!info.is_dir && info.name != "README").then(|| info.name.clone());
                self.decorate(info, name.as_deref())
            })
            .collect())
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        self.inner.read(path, offset, size).await
    }

    async fn read_content(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Content> {
        self.inner.read_content(path, offset, size).await
    }

    async fn write(
        &self,
        path: &str,
        data: Bytes,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let Some(name) = stream_name(path) else {
            return self.inner.write(path, data, offset, flags).await;
        };
        let recorder = self.recorder(name);
        let order = recorder.order.lock().await;
        match self.inner.write(path, data.clone(), offset, flags).await {
            Ok(written) => {
                if !data.is_empty() {
                    self.record(name, &recorder, data).await;
                }
                Ok(written)
            }
            Err(e) => {
                drop(order);
                self.forget_unused(name, &recorder);
                Err(e)
            }
        }
    }

    async fn write_stream(
        &self,
        path: &str,
        data: ByteStream,
        limit: u64,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        // Through `self.write`, so the chunk is recorded too.
        let data = fs_core::collect_stream(data, limit).await?;
        self.write(path, data, offset, flags).await
    }

    async fn create(&self, path: &str) -> Result<()> {
        self.inner.create(path).await
    }

    async fn mkdir(&self, path: &str, mode: u32) -> Result<()> {
        self.inner.mkdir(path, mode).await
    }

    async fn remove(&self, path: &str) -> Result<()> {
        self.inner.remove(path).await?;
        if let Some(name) = stream_name(path) {
            // The recordings stay; a new stream of the same name starts at index 0 again.
            self.recorders.lock().remove(name);
        }
        Ok(())
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        self.inner.remove_all(path).await?;
        if path == "/" {
            self.recorders.lock().clear();
        } else if let Some(name) = stream_name(path) {
            self.recorders.lock().remove(name);
        }
        Ok(())
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.inner.rename(from, to).await
    }

    async fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        self.inner.chmod(path, mode).await
    }

    async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        self.inner.truncate(path, size).await
    }

    async fn touch(&self, path: &str) -> Result<()> {
        self.inner.touch(path).await
    }

    async fn open_stream(&self, path: &str) -> Result<ByteStream> {
        self.inner.open_stream(path).await
    }

    fn read_has_side_effects(&self, path: &str) -> bool {
        self.inner.read_has_side_effects(path)
    }

    /// No handles: a write must also reach the recorder, which the stream handles of the inner
    /// streamfs would bypass. The 501 sends FUSE clients to plain reads and writes.
    async fn open_handle(
        self: Arc<Self>,
        path: &str,
        _flags: fs_core::OpenFlags,
        _mode: u32,
    ) -> Result<Box<dyn fs_core::FileHandle>> {
        Err(Error::unsupported("openhandle").with_path(path))
    }

    /// The buffer sizes change as in streamfs ([`StreamFs::set_config`]); the rotation settings
    /// hold from the next chunk on: the current file stays open until a chunk would take it past
    /// the new `rotation_size` or it is older than the new `rotation_interval`, and the next file
    /// is named by the new `filename_pattern` (`{index}` counts on). `output_path` needs a
    /// remount.
    async fn reconfigure(
        &self,
        old: &serde_json::Value,
        new: &serde_json::Value,
    ) -> Result<fs_core::Reconfigured> {
        let params = fs_core::config::params(&[pfs_streamfs::BUFFER_KEYS, crate::KEYS]);
        fs_core::config::check_live(&params, old, new)?;
        // Both read before either applies: a refused value changes nothing.
        let streams = StreamFsConfig::from_value(new)?;
        let rotation = RotationConfig::from_value(new)?;
        self.inner.set_config(streams);
        *self.rotation.write() = Arc::new(rotation);
        Ok(fs_core::Reconfigured::Accepted)
    }

    async fn start(&self, background: &fs_core::Background) -> Result<()> {
        self.inner.start(background).await
    }

    fn health(&self) -> fs_core::Health {
        self.inner.health()
    }

    async fn shutdown(&self) -> Result<()> {
        self.inner.shutdown().await?;
        self.recorders.lock().clear();
        Ok(())
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn stream_name_matches_streamfs_layout() {
        assert_eq!(stream_name("/live"), Some("live"));
        assert_eq!(stream_name("/"), None);
        assert_eq!(stream_name("/README"), None);
        assert_eq!(stream_name("/a/b"), None);
    }

    #[test]
    fn with_suffix_goes_before_the_extension() {
        assert_eq!(with_suffix("/o/live.dat", 1), "/o/live-1.dat");
        assert_eq!(with_suffix("/o/live", 2), "/o/live-2");
        assert_eq!(with_suffix("/o.d/.hidden", 3), "/o.d/.hidden-3");
        assert_eq!(with_suffix("/o/a.b.c", 4), "/o/a.b-4.c");
    }
}
