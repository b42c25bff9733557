//! The async HTTP client of the `/api/v1` REST API: one method per route, errors typed, bodies
//! streamed both ways (never a whole file in memory).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::{Method, RequestBuilder, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Result};
use crate::listing::Listing;

/// The server used when neither `--server`, `PFS_URL` nor `AGFS_API_URL` names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Chunk size of bodies sent from a reader.
const CHUNK: usize = 256 * 1024;

/// A stream of body bytes, as the server sends them.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// The server to talk to: `flag` (from `--server`), else `$PFS_URL`, else AGFS's `$AGFS_API_URL`,
/// else [`DEFAULT_SERVER`]. Empty values count as unset.
pub fn server_from_env(flag: Option<&str>) -> String {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    flag.map(str::to_string)
        .filter(|v| !v.trim().is_empty())
        .or_else(|| env("PFS_URL"))
        .or_else(|| env("AGFS_API_URL"))
        .unwrap_or_else(|| DEFAULT_SERVER.to_string())
}

/// Normalizes a server URL to its root: adds `http://` when no scheme is given and drops a
/// trailing `/` and `/api/v1` (AGFS's `AGFS_API_URL` includes it).
///
/// ```
/// use pfs_cli::client::server_root;
/// assert_eq!(server_root("http://localhost:8080/api/v1/"), "http://localhost:8080");
/// assert_eq!(server_root("127.0.0.1:9000"), "http://127.0.0.1:9000");
/// assert_eq!(server_root("https://pfs.example/base/"), "https://pfs.example/base");
/// ```
pub fn server_root(url: &str) -> String {
    let url = url.trim();
    let mut root = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    while root.ends_with('/') {
        root.pop();
    }
    if let Some(stripped) = root.strip_suffix("/api/v1") {
        root.truncate(stripped.len());
    }
    root
}

/// A parsed JSON answer together with the bytes the server sent, which `--json` prints as they are.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    /// The answer, parsed.
    pub value: T,
    /// The answer's bytes.
    pub raw: Bytes,
}

/// A file's metadata as `/stat` and listings give it (AGFS's `FileInfo`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FileInfo {
    /// The last path component.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (localfs may add Go's type bits above `0o7777`).
    pub mode: u64,
    /// Modification time, RFC 3339, in the server's zone.
    #[serde(rename = "modTime")]
    pub mod_time: String,
    /// Whether it is a directory.
    #[serde(rename = "isDir")]
    pub is_dir: bool,
    /// Plugin metadata.
    pub meta: Meta,
}

/// The plugin part of a [`FileInfo`] (`meta`, keys capitalised as AGFS sends them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Meta {
    /// The plugin's name.
    #[serde(rename = "Name")]
    pub name: String,
    /// A type word: `file`, `dir`, `symlink`, `stream`, `queue`, ...
    #[serde(rename = "Type")]
    pub kind: String,
    /// Extra properties (a link's `target`, a stream's counters).
    #[serde(rename = "Content")]
    pub content: Option<BTreeMap<String, String>>,
}

impl FileInfo {
    /// Whether this entry is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.meta.kind == "symlink"
    }

    /// A link's target, when the server sent it.
    pub fn link_target(&self) -> Option<&str> {
        self.meta
            .content
            .as_ref()?
            .get("target")
            .map(String::as_str)
    }
}

/// Where and how much to read (`GET /files`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// First byte to read.
    pub offset: Option<u64>,
    /// How many bytes at most; `None` reads to the end.
    pub size: Option<u64>,
    /// `stream=true`: follow a live stream (streamfs) instead of reading what is there.
    pub stream: bool,
}

/// How to write (`PUT /files`).
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Append to the end, creating the file when missing.
    pub append: bool,
    /// Write at this offset, keeping the bytes around it.
    pub offset: Option<u64>,
}

/// A grep request (`POST /grep`).
#[derive(Debug, Clone, Default)]
pub struct GrepOptions {
    /// Search a directory tree.
    pub recursive: bool,
    /// Ignore case.
    pub case_insensitive: bool,
    /// Stop after this many matches.
    pub limit: Option<u64>,
}

/// One line of a streamed grep answer: a match, or the summary that ends the stream.
#[derive(Debug, Clone, Deserialize)]
pub struct GrepEvent {
    /// The file of a match.
    #[serde(default)]
    pub file: Option<String>,
    /// The 1-based line number of a match.
    #[serde(default)]
    pub line: Option<u64>,
    /// The matching line.
    #[serde(default)]
    pub content: Option<String>,
    /// `summary` on the last line.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The number of matches (summary).
    #[serde(default)]
    pub count: Option<u64>,
    /// Why the search stopped early (summary).
    #[serde(default)]
    pub error: Option<String>,
}

/// The HTTP client of one pfs server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    root: String,
    api: String,
}

impl Client {
    /// A client of the server at `url` (see [`server_root`] for the forms taken).
    ///
    /// # Errors
    /// `Invalid` when the HTTP client cannot be built (no TLS provider).
    pub fn new(url: &str) -> Result<Self> {
        // reqwest takes rustls's process-wide provider; installing fails only when one is there.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Invalid(format!("cannot build the HTTP client: {e}")))?;
        let root = server_root(url);
        let api = format!("{root}/api/v1");
        Ok(Client { http, root, api })
    }

    /// The server's root URL, without `/api/v1`.
    pub fn server(&self) -> &str {
        &self.root
    }

    /// A request to `/api/v1/<route>`.
    pub fn request(&self, method: Method, route: &str) -> RequestBuilder {
        self.http.request(method, format!("{}/{route}", self.api))
    }

    /// Sends a request; an error status becomes [`Error::Api`] with the server's message.
    ///
    /// # Errors
    /// `Connect` when the server cannot be reached, `Http` when the exchange breaks, `Api` for an
    /// error status.
    pub async fn send(&self, req: RequestBuilder) -> Result<Response> {
        let resp = req.send().await.map_err(|e| {
            if e.is_connect() {
                Error::Connect {
                    url: self.root.clone(),
                    source: e,
                }
            } else {
                Error::Http(e)
            }
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap_or_default();
        let message = match serde_json::from_slice::<Value>(&body) {
            Ok(v) => match v.get("error").and_then(Value::as_str) {
                Some(m) => m.to_string(),
                None => String::from_utf8_lossy(&body).trim().to_string(),
            },
            Err(_) => String::from_utf8_lossy(&body).trim().to_string(),
        };
        Err(Error::Api { status, message })
    }

    /// Sends a request and parses its JSON answer, keeping the bytes.
    ///
    /// # Errors
    /// As [`Client::send`]; `Invalid` when the answer is not the expected JSON.
    pub async fn send_json<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<Reply<T>> {
        let resp = self.send(req).await?;
        let raw = resp.bytes().await.map_err(Error::Http)?;
        let value = serde_json::from_slice(&raw)
            .map_err(|e| Error::Invalid(format!("unexpected answer from the server: {e}")))?;
        Ok(Reply { value, raw })
    }

    fn with_path(&self, method: Method, route: &str, path: &str) -> RequestBuilder {
        self.request(method, route).query(&[("path", path)])
    }

    fn post_body(&self, route: &str, path: Option<&str>, body: &Value) -> RequestBuilder {
        let req = match path {
            Some(p) => self.with_path(Method::POST, route, p),
            None => self.request(Method::POST, route),
        };
        req.header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<Reply<Value>> {
        self.send_json(self.request(Method::GET, "health")).await
    }

    /// `GET /stat`: the metadata of `path` (of a link itself, not its target).
    pub async fn stat(&self, path: &str) -> Result<Reply<FileInfo>> {
        self.send_json(self.with_path(Method::GET, "stat", path))
            .await
    }

    /// `GET /directories`, parsed entry by entry as the answer arrives (see [`Listing`]).
    pub async fn list(&self, path: &str) -> Result<Listing> {
        self.list_fields(path, None).await
    }

    /// `GET /directories` with only the entry keys in `fields` (comma-separated; `None`: all).
    /// A server that ignores `fields` (AGFS) sends whole entries, which parse the same.
    ///
    /// # Errors
    /// As [`Client::send`].
    pub async fn list_fields(&self, path: &str, fields: Option<&str>) -> Result<Listing> {
        let mut req = self.with_path(Method::GET, "directories", path);
        if let Some(f) = fields {
            req = req.query(&[("fields", f)]);
        }
        let resp = self.send(req).await?;
        Ok(Listing::new(body_stream(resp)))
    }

    /// `GET /directories` as the raw JSON body, streamed.
    pub async fn list_raw(&self, path: &str) -> Result<ByteStream> {
        let resp = self
            .send(self.with_path(Method::GET, "directories", path))
            .await?;
        Ok(body_stream(resp))
    }

    /// `GET /files`: the response whose body is the file's bytes.
    pub async fn read(&self, path: &str, opts: ReadOptions) -> Result<Response> {
        let mut req = self.with_path(Method::GET, "files", path);
        if let Some(o) = opts.offset {
            req = req.query(&[("offset", o)]);
        }
        if let Some(s) = opts.size {
            req = req.query(&[("size", s)]);
        }
        if opts.stream {
            req = req.query(&[("stream", "true")]);
        }
        self.send(req).await
    }

    /// `GET /files` as a stream of chunks.
    pub async fn read_stream(&self, path: &str, opts: ReadOptions) -> Result<ByteStream> {
        Ok(body_stream(self.read(path, opts).await?))
    }

    /// Copies a file's bytes to `out` chunk by chunk, flushing after each; returns the count.
    pub async fn read_to<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        path: &str,
        opts: ReadOptions,
        out: &mut W,
    ) -> Result<u64> {
        let mut stream = self.read_stream(path, opts).await?;
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            n += chunk.len() as u64;
            out.write_all(&chunk).await?;
            if opts.stream {
                out.flush().await?;
            }
        }
        Ok(n)
    }

    fn write_request(&self, path: &str, opts: WriteOptions) -> RequestBuilder {
        let mut req = self.with_path(Method::PUT, "files", path);
        if let Some(o) = opts.offset {
            req = req.query(&[("offset", o)]);
        }
        if opts.append {
            req = req.query(&[("flags", "append,create")]);
        }
        req
    }

    /// `PUT /files` with a body given whole or as a `'static` stream (`reqwest::Body::wrap_stream`).
    pub async fn write_body(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        opts: WriteOptions,
    ) -> Result<Reply<Value>> {
        self.send_json(self.write_request(path, opts).body(body))
            .await
    }

    /// `PUT /files` streaming the body from `reader` (stdin, a local file) in chunks as it is
    /// read; a read error aborts the upload, so the server keeps the old content.
    pub async fn write_from<R: AsyncRead + Unpin + ?Sized>(
        &self,
        path: &str,
        reader: &mut R,
        opts: WriteOptions,
    ) -> Result<Reply<Value>> {
        // The body must be 'static, the reader is borrowed: chunks go through a small channel,
        // filled here while the request runs.
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
        let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async {
            rx.recv().await.map(|item| (item, rx))
        }));
        let request = self.write_body(path, body, opts);
        let pump = async move {
            loop {
                let mut buf = vec![0u8; CHUNK];
                match reader.read(&mut buf).await {
                    Ok(0) => return Ok(()),
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.send(Ok(Bytes::from(buf))).await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(e) => {
                        let copy = std::io::Error::new(e.kind(), e.to_string());
                        let _ = tx.send(Err(copy)).await;
                        return Err(e);
                    }
                }
            }
        };
        tokio::pin!(request, pump);
        let mut pumping = true;
        loop {
            tokio::select! {
                r = &mut request => return r,
                p = &mut pump, if pumping => {
                    pumping = false;
                    if let Err(e) = p {
                        // The request fails too (its body broke); the read error is the cause.
                        let _ = (&mut request).await;
                        return Err(Error::Io(e));
                    }
                }
            }
        }
    }

    /// `POST /files`: creates an empty file.
    pub async fn create(&self, path: &str) -> Result<Reply<Value>> {
        self.send_json(self.with_path(Method::POST, "files", path))
            .await
    }

    /// `POST /directories`: makes one directory (its parent must exist).
    pub async fn mkdir(&self, path: &str, mode: Option<u32>) -> Result<Reply<Value>> {
        let mut req = self.with_path(Method::POST, "directories", path);
        if let Some(m) = mode {
            req = req.query(&[("mode", format!("{m:o}"))]);
        }
        self.send_json(req).await
    }

    /// `DELETE /files`: removes a file or empty directory, or a whole tree with `recursive`.
    pub async fn remove(&self, path: &str, recursive: bool) -> Result<Reply<Value>> {
        let mut req = self.with_path(Method::DELETE, "files", path);
        if recursive {
            req = req.query(&[("recursive", "true")]);
        }
        self.send_json(req).await
    }

    /// `POST /rename`.
    pub async fn rename(&self, from: &str, to: &str) -> Result<Reply<Value>> {
        self.send_json(self.post_body("rename", Some(from), &json!({ "newPath": to })))
            .await
    }

    /// `POST /chmod` with the permission bits.
    pub async fn chmod(&self, path: &str, mode: u32) -> Result<Reply<Value>> {
        self.send_json(self.post_body("chmod", Some(path), &json!({ "mode": mode })))
            .await
    }

    /// `POST /touch`: creates the file or updates its modification time.
    pub async fn touch(&self, path: &str) -> Result<Reply<Value>> {
        self.send_json(self.with_path(Method::POST, "touch", path))
            .await
    }

    /// `POST /truncate`.
    pub async fn truncate(&self, path: &str, size: u64) -> Result<Reply<Value>> {
        let req = self
            .with_path(Method::POST, "truncate", path)
            .query(&[("size", size)]);
        self.send_json(req).await
    }

    /// `POST /symlink`: makes `link` point at `target`.
    pub async fn symlink(&self, target: &str, link: &str) -> Result<Reply<Value>> {
        self.send_json(self.post_body("symlink", Some(link), &json!({ "target": target })))
            .await
    }

    /// `GET /readlink`: `{"target": "..."}`.
    pub async fn readlink(&self, path: &str) -> Result<Reply<Value>> {
        self.send_json(self.with_path(Method::GET, "readlink", path))
            .await
    }

    /// `POST /grep` in stream mode: one [`GrepEvent`] per NDJSON line, the summary last.
    pub async fn grep(
        &self,
        path: &str,
        pattern: &str,
        opts: &GrepOptions,
    ) -> Result<impl Stream<Item = Result<GrepEvent>> + Send + use<>> {
        let mut body = json!({
            "path": path,
            "pattern": pattern,
            "recursive": opts.recursive,
            "case_insensitive": opts.case_insensitive,
            "stream": true,
        });
        if let Some(l) = opts.limit {
            body["limit"] = json!(l);
        }
        let resp = self.send(self.post_body("grep", None, &body)).await?;
        Ok(crate::listing::ndjson(body_stream(resp)))
    }

    /// `POST /digest`: `{"algorithm", "path", "digest"}`.
    pub async fn digest(&self, path: &str, algorithm: &str) -> Result<Reply<Value>> {
        let body = json!({ "algorithm": algorithm, "path": path });
        self.send_json(self.post_body("digest", None, &body)).await
    }

    /// `GET /mounts`.
    pub async fn mounts(&self) -> Result<Reply<Value>> {
        self.send_json(self.request(Method::GET, "mounts")).await
    }

    /// `POST /mount`.
    pub async fn mount(&self, fstype: &str, path: &str, config: Value) -> Result<Reply<Value>> {
        let body = json!({ "fstype": fstype, "path": path, "config": config });
        self.send_json(self.post_body("mount", None, &body)).await
    }

    /// `POST /unmount`.
    pub async fn unmount(&self, path: &str) -> Result<Reply<Value>> {
        self.send_json(self.post_body("unmount", None, &json!({ "path": path })))
            .await
    }

    /// `GET /plugins`.
    pub async fn plugins(&self) -> Result<Reply<Value>> {
        self.send_json(self.request(Method::GET, "plugins")).await
    }

    /// `POST /plugins/load`; `isolation` is `process` or `in-process` (absent: the server's default).
    pub async fn load_plugin(
        &self,
        library_path: &str,
        isolation: Option<&str>,
    ) -> Result<Reply<Value>> {
        let mut body = json!({ "library_path": library_path });
        if let Some(i) = isolation {
            body["isolation"] = json!(i);
        }
        self.send_json(self.post_body("plugins/load", None, &body))
            .await
    }

    /// `POST /plugins/unload`; `force` unmounts its mounts first.
    pub async fn unload_plugin(&self, library_path: &str, force: bool) -> Result<Reply<Value>> {
        let body = json!({ "library_path": library_path, "force": force });
        self.send_json(self.post_body("plugins/unload", None, &body))
            .await
    }

    /// `GET /config`: the running configuration as YAML text.
    pub async fn config(&self) -> Result<String> {
        let resp = self.send(self.request(Method::GET, "config")).await?;
        resp.text().await.map_err(Error::Http)
    }

    /// `POST /config/reload`: what the reload changed. A refused reload is an `Api` error (400)
    /// whose message lists the problems.
    pub async fn reload_config(&self) -> Result<Reply<Value>> {
        let resp = self
            .request(Method::POST, "config/reload")
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    Error::Connect {
                        url: self.root.clone(),
                        source: e,
                    }
                } else {
                    Error::Http(e)
                }
            })?;
        let status = resp.status().as_u16();
        let raw = resp.bytes().await.map_err(Error::Http)?;
        let value: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(Reply { value, raw });
        }
        let mut message = value["error"]
            .as_str()
            .unwrap_or("config reload refused")
            .to_string();
        if let Some(problems) = value["problems"].as_array() {
            for p in problems.iter().filter_map(Value::as_str) {
                if !message.contains(p) {
                    message.push_str("; ");
                    message.push_str(p);
                }
            }
        }
        Err(Error::Api { status, message })
    }
}

/// A response body as a stream of chunks with typed errors.
fn body_stream(resp: Response) -> ByteStream {
    Box::pin(resp.bytes_stream().map(|r| r.map_err(Error::Http)))
}
