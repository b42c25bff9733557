//! What a download reads from: a path on the pfs server, or any HTTP(S) URL whose server answers
//! `Range` (a pfs `/api/v1/files?path=...` URL counts as a pfs path on that server). The head step
//! learns the size and what identifies this version of the file; `get` fetches a range.

use std::time::Duration;

use reqwest::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, ETAG, LAST_MODIFIED, RANGE};
use reqwest::{Method, Response};

use crate::client::Client;
use crate::error::{Error, Result};

/// Where a download's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file on a pfs server: sized by `stat`, verified by `digest`.
    Pfs {
        /// The server's client.
        client: Client,
        /// The absolute remote path.
        path: String,
    },
    /// Any HTTP(S) URL: sized by `HEAD` (or a one-byte ranged `GET`).
    Url {
        /// A client of its own (the URL may be on any host).
        http: reqwest::Client,
        /// The URL.
        url: String,
    },
}

/// What the head step learned about a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// Its size, when the server tells.
    pub size: Option<u64>,
    /// Its entity tag, when the server sends one.
    pub etag: Option<String>,
    /// Its modification time as the server gives it (pfs `modTime`, or `Last-Modified`).
    pub modified: Option<String>,
    /// Whether ranged reads work (always on pfs; `Accept-Ranges: bytes` or a 206 elsewhere).
    pub ranges: bool,
}

impl Source {
    /// The source a `get` operand names: an `http(s)://` URL (a pfs files URL becomes a pfs path
    /// on that server), or else a path on `client`'s server.
    ///
    /// # Errors
    /// `Invalid` for a URL the HTTP client cannot take.
    pub fn parse(operand: &str, client: &Client, resolve: impl Fn(&str) -> String) -> Result<Self> {
        if !(operand.starts_with("http://") || operand.starts_with("https://")) {
            return Ok(Source::Pfs {
                client: client.clone(),
                path: resolve(operand),
            });
        }
        let url = reqwest::Url::parse(operand)
            .map_err(|e| Error::Invalid(format!("invalid URL: {e}")))?;
        if let Some(prefix) = url.path().strip_suffix("/api/v1/files")
            && let Some((_, path)) = url.query_pairs().find(|(k, _)| k == "path")
            && url.query_pairs().all(|(k, _)| k == "path")
        {
            let root = format!("{}{prefix}", url.origin().ascii_serialization());
            return Ok(Source::Pfs {
                client: Client::new(&root)?,
                path: crate::path::resolve("/", &path),
            });
        }
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Source::Url {
            http,
            url: operand.to_string(),
        })
    }

    /// What identifies the source in a resume state.
    pub fn identity(&self) -> String {
        match self {
            Source::Pfs { client, path } => format!("pfs {}{path}", client.server()),
            Source::Url { url, .. } => url.clone(),
        }
    }

    /// The name a download takes when no output is given: the last path component.
    pub fn file_name(&self) -> String {
        let name = match self {
            Source::Pfs { path, .. } => crate::path::basename(path).to_string(),
            Source::Url { url, .. } => reqwest::Url::parse(url)
                .ok()
                .and_then(|u| {
                    u.path_segments()
                        .and_then(|mut s| s.rfind(|x| !x.is_empty()).map(str::to_string))
                })
                .unwrap_or_default(),
        };
        if name.is_empty() || name == "/" {
            "index".to_string()
        } else {
            name
        }
    }

    /// The head step for one file: size, version and whether ranges work. On pfs a `stat`, plus a
    /// `HEAD` for the entity tag when the file is bigger than `etag_above` (it will go in pieces).
    ///
    /// # Errors
    /// The server's refusal (`not found`); `is a directory` for a pfs directory.
    pub async fn head(&self, etag_above: u64) -> Result<Head> {
        match self {
            Source::Pfs { client, path } => {
                let info = client.stat(path).await?.value;
                if info.is_dir {
                    return Err(Error::Invalid("is a directory".into()));
                }
                let mut head = Head {
                    size: Some(info.size),
                    etag: None,
                    modified: Some(info.mod_time),
                    ranges: true,
                };
                if info.size > etag_above {
                    let req = client
                        .request(Method::HEAD, "files")
                        .query(&[("path", path.as_str())]);
                    if let Ok(resp) = client.send(req).await {
                        head.etag = header(&resp, ETAG);
                    }
                }
                Ok(head)
            }
            Source::Url { http, url } => {
                let resp = send_url(url, http.head(url)).await;
                match resp {
                    Ok(resp) if resp.headers().contains_key(CONTENT_LENGTH) => Ok(Head {
                        size: header(&resp, CONTENT_LENGTH).and_then(|v| v.parse().ok()),
                        etag: header(&resp, ETAG),
                        modified: header(&resp, LAST_MODIFIED),
                        ranges: header(&resp, ACCEPT_RANGES).is_some_and(|v| v == "bytes"),
                    }),
                    // No HEAD, or no length in it: ask for the first byte instead.
                    _ => {
                        let resp = self.get(Some((0, 0))).await?;
                        let total = header(&resp, CONTENT_RANGE)
                            .and_then(|v| v.rsplit('/').next().and_then(|t| t.parse().ok()));
                        let ranged = resp.status().as_u16() == 206 && total.is_some();
                        Ok(Head {
                            size: if ranged { total } else { None },
                            etag: header(&resp, ETAG),
                            modified: header(&resp, LAST_MODIFIED),
                            ranges: ranged,
                        })
                    }
                }
            }
        }
    }

    /// `GET`s the file, or the inclusive byte range `first..=last` of it.
    ///
    /// # Errors
    /// Connection failures and error statuses.
    pub async fn get(&self, range: Option<(u64, u64)>) -> Result<Response> {
        let with_range = |req: reqwest::RequestBuilder| match range {
            Some((a, b)) => req.header(RANGE, format!("bytes={a}-{b}")),
            None => req,
        };
        match self {
            Source::Pfs { client, path } => {
                let req = client
                    .request(Method::GET, "files")
                    .query(&[("path", path.as_str())]);
                client.send(with_range(req)).await
            }
            Source::Url { http, url } => send_url(url, with_range(http.get(url))).await,
        }
    }

    /// The server's digest of the file (xxh3), when the source is on pfs and the server has one.
    pub async fn digest(&self) -> Option<String> {
        match self {
            Source::Pfs { client, path } => client
                .digest(path, "xxh3")
                .await
                .ok()
                .and_then(|r| r.value["digest"].as_str().map(str::to_string)),
            Source::Url { .. } => None,
        }
    }
}

/// A header's value as text.
pub(crate) fn header(resp: &Response, name: reqwest::header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Sends a request to a foreign URL; an error status becomes [`Error::Api`] with the body's first
/// line as the message.
async fn send_url(url: &str, req: reqwest::RequestBuilder) -> Result<Response> {
    let resp = req.send().await.map_err(|e| {
        if e.is_connect() {
            Error::Connect {
                url: url.to_string(),
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
    let text = resp.text().await.unwrap_or_default();
    let line = text.lines().next().unwrap_or("").trim();
    let message = if line.is_empty() {
        format!("HTTP {status}")
    } else {
        line.chars().take(200).collect()
    };
    Err(Error::Api { status, message })
}
