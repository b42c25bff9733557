//! `impl FileSystem for ProxyFs`: every operation is one request to the remote's `/api/v1`, bodies
//! stream both ways; `/reload` is the control file that re-creates the client and re-checks the remote.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{
    ByteStream, Capabilities, Content, ContentBody, Error, FileInfo, FileSystem, Meta, Result,
    WriteFlags, read_window,
};
use parking_lot::RwLock;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, ETAG, LAST_MODIFIED};
use serde_json::{Value, json};

use super::client::{Progress, Remote, RemoteInfo, UploadState, build_client, upload};
use super::config::Settings;
use super::reconfig::check;
use super::wire;

/// The control file at the mount root.
pub const RELOAD: &str = "/reload";
/// Reads answering with at most this many bytes (by `Content-Length`) are returned whole;
/// longer or unknown ones stream.
const SMALL_READ: u64 = 256 << 10;

/// The longest a new config's check of its remote may take before the change is refused (three
/// requests, each bounded by the new `timeout` alone, could hold the change for much longer).
pub(crate) const CHECK_LIMIT: Duration = Duration::from_secs(30);

/// A mount of another pfs or AGFS server.
#[derive(Debug)]
pub struct ProxyFs {
    /// The remote of the config in force: replaced whole by a change of config, read only to clone
    /// the `Arc` (an operation keeps the remote it started with to its end).
    remote: RwLock<Arc<Remote>>,
    reloads: AtomicU64,
}

impl ProxyFs {
    /// A proxy that has not contacted the remote yet; until [`ProxyFs::check`] runs it assumes
    /// a pfs remote that supports everything.
    ///
    /// # Errors
    /// `Internal` when the HTTP client cannot be built.
    pub fn new(settings: &Settings) -> Result<Self> {
        Ok(ProxyFs {
            remote: RwLock::new(Arc::new(Remote::new(settings)?)),
            reloads: AtomicU64::new(0),
        })
    }

    /// A proxy whose remote answered the check (see [`ProxyFs::check`]).
    ///
    /// # Errors
    /// As `check`.
    pub async fn connect(settings: &Settings) -> Result<Self> {
        let fs = Self::new(settings)?;
        let r = fs.remote();
        // The mount has no path to blame yet: keep the kind and the remote's words.
        let info = check(&r, &r.client())
            .await
            .map_err(|e| Error::new(e.kind(), e.message().to_string()).with_op("mount"))?;
        r.install(r.client(), info);
        Ok(fs)
    }

    /// The remote of the config in force (an operation that starts now talks to it).
    pub(crate) fn remote(&self) -> Arc<Remote> {
        self.remote.read().clone()
    }

    /// The remote API root this proxy talks to.
    pub fn base_url(&self) -> String {
        self.remote().base.clone()
    }

    /// How many reloads succeeded.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// Checks the current remote through `client` (see `check`).
    ///
    /// # Errors
    /// As `check`.
    pub async fn check(&self, client: &reqwest::Client) -> Result<RemoteInfo> {
        check(&self.remote(), client).await
    }

    /// What writing `reload` does: builds a new client (new connections), checks the remote
    /// with it and swaps it in. On failure the old client stays.
    ///
    /// # Errors
    /// As [`ProxyFs::check`], the message prefixed with `reload failed`.
    pub async fn reload(&self) -> Result<()> {
        let r = self.remote();
        let client = build_client(r.timeout, &r.tls)?;
        match check(&r, &client).await {
            Ok(info) => {
                r.install(client, info);
                self.reloads.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                let msg = format!("reload failed: {e}");
                Err(Error::new(e.kind(), msg)
                    .with_op("reload")
                    .with_path(RELOAD))
            }
        }
    }

    fn reload_text(&self) -> Bytes {
        let r = self.remote();
        let info = r.info();
        Bytes::from(format!(
            "Write to this file to reload the proxy connection\nremote: {}\nremote_path: {}\nwrite_flags: {}\nreloads: {}\n",
            r.base,
            r.root,
            info.write_flags,
            self.reloads()
        ))
    }

    fn reload_info(&self) -> FileInfo {
        let mut content = BTreeMap::new();
        content.insert(
            "description".to_string(),
            "Write to this file to reload proxy connection".to_string(),
        );
        content.insert("remote-url".to_string(), self.remote().base.clone());
        FileInfo::file("reload", 0, 0o200, None).with_meta(Meta {
            name: "proxyfs".into(),
            kind: "control".into(),
            content: Some(content),
        })
    }

    /// The query of a write: the remote path, `offset` when given, `flags` by name when any.
    fn write_query(
        r: &Remote,
        path: &str,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Vec<(&'static str, String)> {
        let mut q = vec![("path", r.path(path))];
        if let Some(o) = offset {
            q.push(("offset", o.to_string()));
        }
        let names: Vec<&str> = [
            ("append", WriteFlags::APPEND),
            ("create", WriteFlags::CREATE),
            ("exclusive", WriteFlags::EXCLUSIVE),
            ("truncate", WriteFlags::TRUNCATE),
            ("sync", WriteFlags::SYNC),
        ]
        .into_iter()
        .filter(|(_, f)| flags.contains(*f))
        .map(|(n, _)| n)
        .collect();
        if !names.is_empty() {
            q.push(("flags", names.join(",")));
        }
        q
    }

    /// Refuses, before anything is sent, a write an AGFS remote would silently turn into a
    /// whole-file replace.
    fn check_write(r: &Remote, path: &str, offset: Option<u64>, flags: WriteFlags) -> Result<()> {
        if r.info().write_flags || plain_write(offset, flags) {
            return Ok(());
        }
        Err(Error::unsupported("write")
            .with_path(path)
            .with_message(format!(
                "operation not supported: remote {} ignores offset and flags (AGFS), only whole-file writes pass through",
                r.base
            )))
    }

    /// One request with a query and no body, on the current remote, for `path` and `extra`.
    async fn simple(
        &self,
        op: &'static str,
        path: &str,
        method: Method,
        endpoint: &str,
        extra: &[(&'static str, String)],
    ) -> Result<()> {
        let r = self.remote();
        let mut query = at(&r, path);
        query.extend_from_slice(extra);
        let req = r.request(method, endpoint).query(&query);
        r.send(op, path, req, None).await.map(drop)
    }
}

/// The query naming the remote path of `path`.
fn at(r: &Remote, path: &str) -> Vec<(&'static str, String)> {
    vec![("path", r.path(path))]
}

impl ProxyFs {
    /// Serves `remote` from now on (operations already running keep theirs).
    pub(crate) fn replace(&self, remote: Arc<Remote>) {
        *self.remote.write() = remote;
    }
}

/// Whether a write means "replace the whole file, creating it if missing", the only write AGFS
/// performs.
pub fn plain_write(offset: Option<u64>, flags: WriteFlags) -> bool {
    offset.is_none()
        && flags.creates()
        && !flags.contains(WriteFlags::APPEND)
        && !flags.contains(WriteFlags::EXCLUSIVE)
}

pub(crate) fn info_of(v: Value, path: &str) -> Result<FileInfo> {
    wire::file_info(v).map_err(|e| Error::internal(e).with_path(path))
}

fn control_file(op: &'static str) -> Error {
    Error::permission_denied(RELOAD)
        .with_op(op)
        .with_message("permission denied: reload is the proxy's control file")
}

#[async_trait]
impl FileSystem for ProxyFs {
    fn capabilities(&self) -> Capabilities {
        self.remote().info().caps
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        if path == RELOAD {
            return Ok(self.reload_info());
        }
        let r = self.remote();
        let req = r.request(Method::GET, "stat").query(&at(&r, path));
        let mut info = info_of(r.json("stat", path, req).await?, path)?;
        if path == "/" {
            info.name = "/".to_string();
        }
        info.meta
            .content
            .get_or_insert_with(BTreeMap::new)
            .insert("remote-url".to_string(), r.base.clone());
        Ok(info)
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        let r = self.remote();
        let req = r.request(Method::GET, "directories").query(&at(&r, path));
        let mut files = wire::listing(r.json("readdir", path, req).await?)
            .map_err(|e| Error::internal(e).with_path(path))?;
        if path == "/" {
            files.retain(|f| f.name != "reload");
            files.push(self.reload_info());
        }
        Ok(files)
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        self.read_content(path, offset, size)
            .await?
            .into_bytes()
            .await
    }

    async fn read_content(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Content> {
        if path == RELOAD {
            return Ok(Content::from(read_window(
                &self.reload_text(),
                offset,
                size,
            )));
        }
        let r = self.remote();
        let mut q = at(&r, path);
        // Past INT64_MAX no file has bytes; AGFS parses both numbers as int64.
        let (offset, size) = (
            offset.min(fs_core::MAX_FILE_SIZE),
            size.map(|s| s.min(fs_core::MAX_FILE_SIZE)),
        );
        if offset > 0 {
            q.push(("offset", offset.to_string()));
        }
        if let Some(s) = size {
            q.push(("size", s.to_string()));
        }
        let req = r.request(Method::GET, "files").query(&q);
        let resp = r.send("read", path, req, None).await?;
        let header = |name| resp.headers().get(name).and_then(|v| v.to_str().ok());
        let modified = header(LAST_MODIFIED).and_then(|v| httpdate::parse_http_date(v).ok());
        let etag = header(ETAG)
            .filter(|v| !v.starts_with("W/"))
            .map(|v| v.trim_matches('"').to_string());
        let len = resp.content_length();
        let body = if len.is_some_and(|l| l <= SMALL_READ) {
            ContentBody::Bytes(r.collect("read", path, resp, SMALL_READ).await?)
        } else {
            ContentBody::Stream {
                len,
                stream: r.body("read", path, resp, true),
            }
        };
        Ok(Content {
            body,
            modified,
            etag,
        })
    }

    async fn write(
        &self,
        path: &str,
        data: Bytes,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        if path == RELOAD {
            self.reload().await?;
            return Ok(data.len() as u64);
        }
        let r = self.remote();
        Self::check_write(&r, path, offset, flags)?;
        let n = data.len() as u64;
        let req = r
            .request(Method::PUT, "files")
            .query(&Self::write_query(&r, path, offset, flags))
            .body(data);
        let v = r.json("write", path, req).await?;
        Ok(wire::written(&v).unwrap_or(n))
    }

    async fn write_stream(
        &self,
        path: &str,
        data: ByteStream,
        limit: u64,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        if path == RELOAD {
            let n = fs_core::collect_stream(data, limit).await?.len() as u64;
            self.reload().await?;
            return Ok(n);
        }
        let r = self.remote();
        Self::check_write(&r, path, offset, flags)?;
        let progress = Arc::new(Progress::new());
        let state = Arc::new(UploadState::default());
        let req = r
            .request(Method::PUT, "files")
            .query(&Self::write_query(&r, path, offset, flags))
            .body(upload(data, limit, progress.clone(), state.clone()));
        let sent = r.send("write", path, req, Some(&progress)).await;
        // Our own body failing aborts the request; that failure, not the broken request, is the answer.
        if let Some(e) = state.failure.lock().take() {
            return Err(e);
        }
        let resp = sent?;
        let body = r.collect("write", path, resp, 1 << 20).await?;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok(wire::written(&v).unwrap_or_else(|| state.sent.load(Ordering::Relaxed)))
    }

    async fn create(&self, path: &str) -> Result<()> {
        if path == RELOAD {
            return Err(Error::already_exists(RELOAD).with_op("create"));
        }
        self.simple("create", path, Method::POST, "files", &[])
            .await
    }

    async fn mkdir(&self, path: &str, mode: u32) -> Result<()> {
        if path == RELOAD {
            return Err(Error::already_exists(RELOAD).with_op("mkdir"));
        }
        let mode = [("mode", format!("{mode:o}"))];
        self.simple("mkdir", path, Method::POST, "directories", &mode)
            .await
    }

    async fn remove(&self, path: &str) -> Result<()> {
        if path == RELOAD {
            return Err(control_file("remove"));
        }
        self.simple("remove", path, Method::DELETE, "files", &[])
            .await
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        if path == RELOAD {
            return Err(control_file("remove"));
        }
        let recursive = [("recursive", "true".to_string())];
        self.simple("remove", path, Method::DELETE, "files", &recursive)
            .await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        if from == RELOAD || to == RELOAD {
            return Err(control_file("rename"));
        }
        let r = self.remote();
        let body = json!({ "newPath": r.path(to) }).to_string();
        let req = r
            .request(Method::POST, "rename")
            .query(&at(&r, from))
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        r.send("rename", from, req, None).await.map(drop)
    }

    async fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        if path == RELOAD {
            return Err(control_file("chmod"));
        }
        let r = self.remote();
        let req = r
            .request(Method::POST, "chmod")
            .query(&at(&r, path))
            .header(CONTENT_TYPE, "application/json")
            .body(json!({ "mode": mode }).to_string());
        r.send("chmod", path, req, None).await.map(drop)
    }

    async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        if path == RELOAD {
            // Shells truncate before they write (`echo > reload`): let that through.
            return Ok(());
        }
        let size = [("size", size.to_string())];
        self.simple("truncate", path, Method::POST, "truncate", &size)
            .await
    }

    async fn touch(&self, path: &str) -> Result<()> {
        if path == RELOAD {
            return self.reload().await;
        }
        self.simple("touch", path, Method::POST, "touch", &[]).await
    }

    /// The remote cannot say which reads change state, so every file named `dequeue` (queuefs's
    /// consuming control file) counts as one: grep skips it, HEAD answers from stat, and no generic
    /// handle reads it. A plain file of that name elsewhere is treated the same way.
    fn read_has_side_effects(&self, path: &str) -> bool {
        fs_core::path::basename(path) == "dequeue"
    }

    async fn open_stream(&self, path: &str) -> Result<ByteStream> {
        if path == RELOAD {
            return Err(Error::unsupported("stream").with_path(RELOAD));
        }
        let r = self.remote();
        let mut q = at(&r, path);
        q.push(("stream", "true".to_string()));
        let req = r.request(Method::GET, "files").query(&q);
        let resp = r.send("stream", path, req, None).await?;
        // A live stream may stay silent for as long as its writers do.
        Ok(r.body("stream", path, resp, false))
    }

    /// `base_url`, `timeout`, `tls_ca` and `tls_skip_verify` change in place: a new remote,
    /// checked as at mount, replaces the old one; `remote_path` names another tree (a remount).
    async fn reconfigure(&self, old: &Value, new: &Value) -> Result<fs_core::Reconfigured> {
        self.take(old, new).await
    }
}
