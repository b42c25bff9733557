//! `impl FileSystem for ProxyFs`: every operation is one request to the remote's `/api/v1`, bodies
//! stream both ways; `/reload` is the control file that re-creates the client and re-checks the remote.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::{
    ByteStream, Capabilities, Content, ContentBody, Error, ErrorKind, FileInfo, FileSystem, Meta,
    Result, WriteFlags, read_window,
};
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, ETAG, LAST_MODIFIED};
use serde_json::{Value, json};

use super::client::{Progress, Remote, RemoteInfo, UploadState, build_client, upload};
use super::config::Settings;
use super::wire;

/// The control file at the mount root.
pub const RELOAD: &str = "/reload";
/// Reads answering with at most this many bytes (by `Content-Length`) are returned whole;
/// longer or unknown ones stream.
const SMALL_READ: u64 = 256 << 10;

/// A mount of another pfs or AGFS server.
#[derive(Debug)]
pub struct ProxyFs {
    remote: Remote,
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
            remote: Remote::new(settings)?,
            reloads: AtomicU64::new(0),
        })
    }

    /// A proxy whose remote answered the check (see [`ProxyFs::check`]).
    ///
    /// # Errors
    /// As `check`.
    pub async fn connect(settings: &Settings) -> Result<Self> {
        let fs = Self::new(settings)?;
        // The mount has no path to blame yet: keep the kind and the remote's words.
        let info = fs
            .check(&fs.remote.client())
            .await
            .map_err(|e| Error::new(e.kind(), e.message().to_string()).with_op("mount"))?;
        fs.remote.install(fs.remote.client(), info);
        Ok(fs)
    }

    /// The remote API root this proxy talks to.
    pub fn base_url(&self) -> &str {
        &self.remote.base
    }

    /// How many reloads succeeded.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// Checks the remote through `client`: `GET /health` answers 2xx, `remote_path` is a
    /// directory there; learns its capabilities (`GET /capabilities?path=`).
    ///
    /// # Errors
    /// `Unavailable` (unreachable), `Timeout`, the remote's kind for a failed health or stat
    /// (`NotFound` for a missing `remote_path`), `NotADirectory` when it is a file.
    pub async fn check(&self, client: &reqwest::Client) -> Result<RemoteInfo> {
        let r = &self.remote;
        r.send("connect", "/", r.on(client, Method::GET, "health"), None)
            .await?;
        let root = r.path("/");
        let stat = r.on(client, Method::GET, "stat").query(&[("path", &root)]);
        let info = info_of(r.json("connect", "/", stat).await?, "/")?;
        if !info.is_dir {
            return Err(Error::not_a_directory("/")
                .with_op("connect")
                .with_message(format!(
                    "remote_path {root} is not a directory on {}",
                    r.base
                )));
        }
        let caps = r
            .on(client, Method::GET, "capabilities")
            .query(&[("path", &root)]);
        // The remote's root, or a directory that only holds mount points, is no one mount: its
        // paths answer for themselves, so keep the router's capabilities.
        let virtual_dir = info.meta.name == "rootfs";
        Ok(match r.json("connect", "/", caps).await {
            Ok(v) => {
                let (caps, write_flags) = wire::capabilities(&v);
                RemoteInfo {
                    caps: caps
                        .filter(|_| !virtual_dir)
                        .unwrap_or(RemoteInfo::default().caps),
                    write_flags,
                }
            }
            // A server without `/capabilities` is an old AGFS: it ignores offset and flags.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Unsupported) => {
                RemoteInfo {
                    write_flags: false,
                    ..RemoteInfo::default()
                }
            }
            Err(e) => return Err(e),
        })
    }

    /// What writing `reload` does: builds a new client (new connections), checks the remote
    /// with it and swaps it in. On failure the old client stays.
    ///
    /// # Errors
    /// As [`ProxyFs::check`], the message prefixed with `reload failed`.
    pub async fn reload(&self) -> Result<()> {
        let client = build_client(self.remote.timeout, &self.remote.tls)?;
        match self.check(&client).await {
            Ok(info) => {
                self.remote.install(client, info);
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
        let info = self.remote.info();
        Bytes::from(format!(
            "Write to this file to reload the proxy connection\nremote: {}\nremote_path: {}\nwrite_flags: {}\nreloads: {}\n",
            self.remote.base,
            self.remote.root,
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
        content.insert("remote-url".to_string(), self.remote.base.clone());
        FileInfo::file("reload", 0, 0o200, None).with_meta(Meta {
            name: "proxyfs".into(),
            kind: "control".into(),
            content: Some(content),
        })
    }

    /// The query of a write: the remote path, `offset` when given, `flags` by name when any.
    fn write_query(
        &self,
        path: &str,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Vec<(&str, String)> {
        let mut q = vec![("path", self.remote.path(path))];
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
    fn check_write(&self, path: &str, offset: Option<u64>, flags: WriteFlags) -> Result<()> {
        if self.remote.info().write_flags || plain_write(offset, flags) {
            return Ok(());
        }
        Err(Error::unsupported("write")
            .with_path(path)
            .with_message(format!(
                "operation not supported: remote {} ignores offset and flags (AGFS), only whole-file writes pass through",
                self.remote.base
            )))
    }

    async fn simple(
        &self,
        op: &'static str,
        path: &str,
        method: Method,
        endpoint: &str,
        query: &[(&str, String)],
    ) -> Result<()> {
        let req = self.remote.request(method, endpoint).query(query);
        self.remote.send(op, path, req, None).await.map(drop)
    }

    fn at(&self, path: &str) -> Vec<(&'static str, String)> {
        vec![("path", self.remote.path(path))]
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

fn info_of(v: Value, path: &str) -> Result<FileInfo> {
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
        self.remote.info().caps
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        if path == RELOAD {
            return Ok(self.reload_info());
        }
        let req = self
            .remote
            .request(Method::GET, "stat")
            .query(&self.at(path));
        let mut info = info_of(self.remote.json("stat", path, req).await?, path)?;
        if path == "/" {
            info.name = "/".to_string();
        }
        info.meta
            .content
            .get_or_insert_with(BTreeMap::new)
            .insert("remote-url".to_string(), self.remote.base.clone());
        Ok(info)
    }

    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        let req = self
            .remote
            .request(Method::GET, "directories")
            .query(&self.at(path));
        let mut files = wire::listing(self.remote.json("readdir", path, req).await?)
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
        let mut q = self.at(path);
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
        let req = self.remote.request(Method::GET, "files").query(&q);
        let resp = self.remote.send("read", path, req, None).await?;
        let header = |name| resp.headers().get(name).and_then(|v| v.to_str().ok());
        let modified = header(LAST_MODIFIED).and_then(|v| httpdate::parse_http_date(v).ok());
        let etag = header(ETAG)
            .filter(|v| !v.starts_with("W/"))
            .map(|v| v.trim_matches('"').to_string());
        let len = resp.content_length();
        let body = if len.is_some_and(|l| l <= SMALL_READ) {
            ContentBody::Bytes(self.remote.collect("read", path, resp, SMALL_READ).await?)
        } else {
            ContentBody::Stream {
                len,
                stream: self.remote.body("read", path, resp, true),
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
        self.check_write(path, offset, flags)?;
        let n = data.len() as u64;
        let req = self
            .remote
            .request(Method::PUT, "files")
            .query(&self.write_query(path, offset, flags))
            .body(data);
        let v = self.remote.json("write", path, req).await?;
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
        self.check_write(path, offset, flags)?;
        let progress = Arc::new(Progress::new());
        let state = Arc::new(UploadState::default());
        let req = self
            .remote
            .request(Method::PUT, "files")
            .query(&self.write_query(path, offset, flags))
            .body(upload(data, limit, progress.clone(), state.clone()));
        let sent = self.remote.send("write", path, req, Some(&progress)).await;
        // Our own body failing aborts the request; that failure, not the broken request, is the answer.
        if let Some(e) = state.failure.lock().take() {
            return Err(e);
        }
        let resp = sent?;
        let body = self.remote.collect("write", path, resp, 1 << 20).await?;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok(wire::written(&v).unwrap_or_else(|| state.sent.load(Ordering::Relaxed)))
    }

    async fn create(&self, path: &str) -> Result<()> {
        if path == RELOAD {
            return Err(Error::already_exists(RELOAD).with_op("create"));
        }
        self.simple("create", path, Method::POST, "files", &self.at(path))
            .await
    }

    async fn mkdir(&self, path: &str, mode: u32) -> Result<()> {
        if path == RELOAD {
            return Err(Error::already_exists(RELOAD).with_op("mkdir"));
        }
        let mut q = self.at(path);
        q.push(("mode", format!("{mode:o}")));
        self.simple("mkdir", path, Method::POST, "directories", &q)
            .await
    }

    async fn remove(&self, path: &str) -> Result<()> {
        if path == RELOAD {
            return Err(control_file("remove"));
        }
        self.simple("remove", path, Method::DELETE, "files", &self.at(path))
            .await
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        if path == RELOAD {
            return Err(control_file("remove"));
        }
        let mut q = self.at(path);
        q.push(("recursive", "true".to_string()));
        self.simple("remove", path, Method::DELETE, "files", &q)
            .await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        if from == RELOAD || to == RELOAD {
            return Err(control_file("rename"));
        }
        let body = json!({ "newPath": self.remote.path(to) }).to_string();
        let req = self
            .remote
            .request(Method::POST, "rename")
            .query(&self.at(from))
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        self.remote.send("rename", from, req, None).await.map(drop)
    }

    async fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        if path == RELOAD {
            return Err(control_file("chmod"));
        }
        let req = self
            .remote
            .request(Method::POST, "chmod")
            .query(&self.at(path))
            .header(CONTENT_TYPE, "application/json")
            .body(json!({ "mode": mode }).to_string());
        self.remote.send("chmod", path, req, None).await.map(drop)
    }

    async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        if path == RELOAD {
            // Shells truncate before they write (`echo > reload`): let that through.
            return Ok(());
        }
        let mut q = self.at(path);
        q.push(("size", size.to_string()));
        self.simple("truncate", path, Method::POST, "truncate", &q)
            .await
    }

    async fn touch(&self, path: &str) -> Result<()> {
        if path == RELOAD {
            return self.reload().await;
        }
        self.simple("touch", path, Method::POST, "touch", &self.at(path))
            .await
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
        let mut q = self.at(path);
        q.push(("stream", "true".to_string()));
        let req = self.remote.request(Method::GET, "files").query(&q);
        let resp = self.remote.send("stream", path, req, None).await?;
        // A live stream may stay silent for as long as its writers do.
        Ok(self.remote.body("stream", path, resp, false))
    }
}
