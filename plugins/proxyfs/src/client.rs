//! The HTTP side of proxyfs: one `reqwest` client per remote (swapped by `reload`), requests
//! bounded by an inactivity timeout, bodies streamed both ways, and every failure turned into a
//! kind: remote statuses by `map_status`, transport failures by `map_reqwest_error`.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use fs_core::{ByteStream, Capabilities, Error, ErrorKind, Result};
use futures_util::{Stream, StreamExt};
use parking_lot::{Mutex, RwLock};
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::Value;
use tokio::time::{Instant, Sleep};

use super::config::{Settings, TlsSettings};
use super::wire;

/// The largest error or JSON answer read from the remote.
const MAX_JSON: u64 = 64 << 20;
/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(60);
/// Keepalive probes on every connection, so a live stream to a vanished host ends eventually.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// What proxyfs knows about the remote, learned at mount time and on every reload.
#[derive(Debug, Clone, Copy)]
pub struct RemoteInfo {
    /// The capabilities of the remote mount that serves `remote_path`.
    pub caps: Capabilities,
    /// Whether the remote honours `offset` and `flags` on `PUT /files` (pfs does, AGFS does not).
    pub write_flags: bool,
}

impl Default for RemoteInfo {
    /// What a pfs router offers: every operation, answered per path by the remote.
    fn default() -> Self {
        RemoteInfo {
            caps: Capabilities {
                live_stream: true,
                ..Capabilities::READ_WRITE
            },
            write_flags: true,
        }
    }
}

/// One remote server.
#[derive(Debug)]
pub(crate) struct Remote {
    /// The remote API root, e.g. `http://127.0.0.1:8080/api/v1`.
    pub(crate) base: String,
    /// Sent as basic auth with every request.
    credentials: Option<super::config::Credentials>,
    /// The remote directory served as the mount root.
    pub(crate) root: String,
    /// The inactivity timeout.
    pub(crate) timeout: Duration,
    /// How an `https` remote's certificate is checked (kept for `reload`).
    pub(crate) tls: TlsSettings,
    /// This proxy's id ([`fs_core::hops`]).
    id: std::sync::Arc<str>,
    client: RwLock<Client>,
    info: RwLock<RemoteInfo>,
}

/// Builds the HTTP client: http/1.1 (TLS by rustls for `https`, trusting the system's roots, the
/// web roots and `tls.ca_pem`), `TCP_NODELAY` (small requests are latency-bound), no proxy from
/// the environment (the remote is named exactly by `base_url`).
pub fn build_client(timeout: Duration, tls: &TlsSettings) -> Result<Client> {
    // reqwest takes rustls's process-wide provider: the aws-lc-rs one the build links anyway.
    // Installing fails only when one is installed already, which is as good.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let built = |e: reqwest::Error| {
        Error::internal(format!("cannot build the HTTP client: {e}")).with_source(e)
    };
    let mut builder = Client::builder()
        .tcp_nodelay(true)
        .tcp_keepalive(TCP_KEEPALIVE)
        .connect_timeout(timeout)
        .pool_idle_timeout(POOL_IDLE)
        .no_proxy()
        .danger_accept_invalid_certs(tls.skip_verify);
    if let Some(pem) = &tls.ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(built)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(built)
}

impl Remote {
    /// A remote from resolved settings; contacts nothing.
    pub(crate) fn new(s: &Settings) -> Result<Self> {
        Ok(Remote {
            base: s.base.clone(),
            credentials: s.credentials.clone(),
            root: s.root.clone(),
            timeout: s.timeout,
            tls: s.tls.clone(),
            id: s.id.clone(),
            client: RwLock::new(build_client(s.timeout, &s.tls)?),
            info: RwLock::new(RemoteInfo::default()),
        })
    }

    /// This proxy's id ([`fs_core::hops`]), which a new remote of the same mount keeps.
    pub(crate) fn id(&self) -> std::sync::Arc<str> {
        self.id.clone()
    }

    /// The current client (a cheap handle on a shared pool).
    pub(crate) fn client(&self) -> Client {
        self.client.read().clone()
    }

    /// What the last check learned.
    pub(crate) fn info(&self) -> RemoteInfo {
        *self.info.read()
    }

    /// Installs a checked client and what its check learned.
    pub(crate) fn install(&self, client: Client, info: RemoteInfo) {
        *self.client.write() = client;
        *self.info.write() = info;
    }

    /// The remote path of mount-relative `rel`.
    pub(crate) fn path(&self, rel: &str) -> String {
        fs_core::path::join(&self.root, rel)
    }

    /// A request to `endpoint` (`files`, `stat`, ...) on `client`.
    pub(crate) fn on(&self, client: &Client, method: Method, endpoint: &str) -> RequestBuilder {
        // A request that loops is refused by `send` before it leaves; its header is moot.
        let via = fs_core::hops::forward(&self.id).unwrap_or_else(|_| self.id.to_string());
        let req = client
            .request(method, format!("{}/{endpoint}", self.base))
            .header(fs_core::hops::VIA_HEADER, via);
        match &self.credentials {
            Some(c) => req.basic_auth(&c.user, c.password.as_ref()),
            None => req,
        }
    }

    /// A request to `endpoint` on the current client.
    pub(crate) fn request(&self, method: Method, endpoint: &str) -> RequestBuilder {
        self.on(&self.client(), method, endpoint)
    }

    /// Sends `req` and waits for the answer's head, at most `timeout` without progress (an
    /// upload's chunks count as progress). A non-2xx answer becomes its error.
    pub(crate) async fn send(
        &self,
        op: &'static str,
        rel: &str,
        req: RequestBuilder,
        progress: Option<&Progress>,
    ) -> Result<Response> {
        // A request that already passed this proxy would come back to it for ever.
        fs_core::hops::forward(&self.id).map_err(|e| e.with_op(op).with_path(rel))?;
        let fresh = Progress::new();
        let progress = progress.unwrap_or(&fresh);
        let resp = match progress.wait(req.send(), self.timeout).await {
            None => return Err(self.timed_out(op, rel, "did not answer")),
            Some(Err(e)) => return Err(self.map_reqwest_error(e).with_op(op).with_path(rel)),
            Some(Ok(r)) => r,
        };
        if resp.status().is_success() {
            return Ok(resp);
        }
        let code = resp.status().as_u16();
        let body = self
            .collect(op, rel, resp, 64 << 10)
            .await
            .unwrap_or_default();
        let mut msg = wire::error_message(&body);
        if msg.is_empty() {
            msg = format!("HTTP {code}");
        }
        Err(Error::new(
            wire::map_status(code, &msg),
            format!("remote {} answered {code}: {msg}", self.base),
        )
        .with_op(op)
        .with_path(rel))
    }

    /// Sends `req` and reads its JSON answer.
    pub(crate) async fn json(
        &self,
        op: &'static str,
        rel: &str,
        req: RequestBuilder,
    ) -> Result<Value> {
        let resp = self.send(op, rel, req, None).await?;
        let body = self.collect(op, rel, resp, MAX_JSON).await?;
        serde_json::from_slice(&body).map_err(|e| {
            Error::internal(format!("remote {} sent invalid JSON: {e}", self.base))
                .with_op(op)
                .with_path(rel)
        })
    }

    /// The whole body of `resp` (at most `limit` bytes), with the inactivity timeout.
    pub(crate) async fn collect(
        &self,
        op: &'static str,
        rel: &str,
        resp: Response,
        limit: u64,
    ) -> Result<Bytes> {
        fs_core::collect_stream(self.body(op, rel, resp, true), limit).await
    }

    /// The body of `resp` as chunks. With `idle_limit`, a silence longer than the timeout ends
    /// it with a `Timeout` error; without (live streams), it may wait forever.
    pub(crate) fn body(
        &self,
        op: &'static str,
        rel: &str,
        resp: Response,
        idle_limit: bool,
    ) -> ByteStream {
        let timeout = idle_limit.then_some(self.timeout);
        Box::pin(Body {
            inner: Box::pin(resp.bytes_stream()),
            sleep: Box::pin(tokio::time::sleep(timeout.unwrap_or(Duration::ZERO))),
            timeout,
            done: false,
            ctx: ErrCtx {
                base: self.base.clone(),
                op,
                rel: rel.to_string(),
                timeout: self.timeout,
            },
        })
    }

    fn timed_out(&self, op: &'static str, rel: &str, what: &str) -> Error {
        ErrCtx {
            base: self.base.clone(),
            op,
            rel: rel.to_string(),
            timeout: self.timeout,
        }
        .timed_out(what)
    }

    /// Maps a transport failure: a timeout is `Timeout` (504), anything else that kept the
    /// answer from arriving (refused, reset, unreachable, closed early) is `Unavailable` (503).
    pub(crate) fn map_reqwest_error(&self, e: reqwest::Error) -> Error {
        let cause = causes(&e);
        let (kind, msg) = if e.is_timeout() {
            (
                ErrorKind::Timeout,
                format!(
                    "remote {} timed out after {}: {cause}",
                    self.base,
                    humantime::format_duration(self.timeout)
                ),
            )
        } else if e.is_builder() {
            (
                ErrorKind::Internal,
                format!("bad request to {}: {cause}", self.base),
            )
        } else {
            (
                ErrorKind::Unavailable,
                format!("remote {} is unreachable: {cause}", self.base),
            )
        };
        Error::new(kind, msg).with_source(e)
    }
}

/// The innermost causes of an error, joined (reqwest's own text repeats the URL).
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

/// What an error in the middle of a body needs to name its remote.
struct ErrCtx {
    base: String,
    op: &'static str,
    rel: String,
    timeout: Duration,
}

impl ErrCtx {
    fn timed_out(&self, what: &str) -> Error {
        Error::new(
            ErrorKind::Timeout,
            format!(
                "remote {} {what} within {}",
                self.base,
                humantime::format_duration(self.timeout)
            ),
        )
        .with_op(self.op)
        .with_path(self.rel.clone())
    }
}

/// A response body as a [`ByteStream`], with an optional inactivity timeout.
struct Body {
    inner: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    sleep: Pin<Box<Sleep>>,
    timeout: Option<Duration>,
    done: bool,
    ctx: ErrCtx,
}

impl Stream for Body {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match this.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(t) = this.timeout {
                    this.sleep.as_mut().reset(Instant::now() + t);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                let cause = causes(&e);
                let err = if e.is_timeout() {
                    this.ctx.timed_out("stalled")
                } else {
                    Error::new(
                        ErrorKind::Unavailable,
                        format!("remote {} broke off the transfer: {cause}", this.ctx.base),
                    )
                    .with_op(this.ctx.op)
                    .with_path(this.ctx.rel.clone())
                };
                Poll::Ready(Some(Err(err.with_source(e))))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.timeout.is_some() && this.sleep.as_mut().poll(cx).is_ready() {
                    this.done = true;
                    return Poll::Ready(Some(Err(this.ctx.timed_out("sent nothing"))));
                }
                Poll::Pending
            }
        }
    }
}

/// The time of the last sign of life of a request (an upload chunk taken by the connection).
#[derive(Debug)]
pub(crate) struct Progress {
    start: Instant,
    last_ms: AtomicU64,
}

impl Progress {
    /// Progress starting now.
    pub(crate) fn new() -> Self {
        Progress {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// Records a sign of life.
    pub(crate) fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn deadline(&self, timeout: Duration) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + timeout
    }

    /// Runs `fut` until it finishes (`Some`) or `timeout` passes without a sign of life (`None`).
    pub(crate) async fn wait<F: Future>(&self, fut: F, timeout: Duration) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            let deadline = self.deadline(timeout);
            tokio::select! {
                out = &mut fut => return Some(out),
                () = tokio::time::sleep_until(deadline) => {
                    if self.deadline(timeout) <= Instant::now() {
                        return None;
                    }
                }
            }
        }
    }
}

/// Why an upload stopped on our side, kept for the caller: the local body's own error, or
/// `PayloadTooLarge` past the limit.
#[derive(Debug, Default)]
pub(crate) struct UploadState {
    /// Bytes handed to the connection.
    pub(crate) sent: AtomicU64,
    /// The local failure, if any.
    pub(crate) failure: Mutex<Option<Error>>,
}

/// Wraps a local body for upload: counts bytes, enforces `limit`, records progress, and ends the
/// request with an error (so the remote commits nothing) when the body fails.
pub(crate) fn upload(
    data: ByteStream,
    limit: u64,
    progress: Arc<Progress>,
    state: Arc<UploadState>,
) -> reqwest::Body {
    let stream = data.map(move |item| {
        progress.touch();
        let failure = match item {
            Ok(chunk) => {
                let total = state.sent.fetch_add(chunk.len() as u64, Ordering::Relaxed)
                    + chunk.len() as u64;
                if total <= limit {
                    return Ok(chunk);
                }
                Error::new(
                    ErrorKind::PayloadTooLarge,
                    format!("request body exceeds maximum size of {limit} bytes"),
                )
            }
            Err(e) => e,
        };
        state.failure.lock().get_or_insert(failure);
        Err(std::io::Error::other(
            "upload aborted: the local body failed",
        ))
    });
    reqwest::Body::wrap_stream(SyncStream(std::sync::Mutex::new(Box::pin(stream))))
}

/// Makes a `Send` stream `Sync` (reqwest asks for it): it is only ever polled through `&mut`.
struct SyncStream<S>(std::sync::Mutex<Pin<Box<S>>>);

impl<S: Stream> Stream for SyncStream<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        match self.get_mut().0.get_mut() {
            Ok(s) => s.as_mut().poll_next(cx),
            Err(poisoned) => poisoned.into_inner().as_mut().poll_next(cx),
        }
    }
}
