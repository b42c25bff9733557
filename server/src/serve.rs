//! The connection layer under the routes: accepting with a cap on open connections (one more is
//! answered 503 and closed), hyper's HTTP/1 with a timeout on request heads (which closes idle
//! keep-alive connections too), a timeout on stalled request bodies, a handler panic answered as
//! a JSON 500, the send timeout and JSON error bodies of `guarded_io`, the descriptor limit
//! raised at start, and graceful shutdown.

mod body_timeout;
mod guarded_io;
mod idle;
mod site_guard;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use futures_util::FutureExt;
use futures_util::future::{CatchUnwind, Either, Map, Ready, ready};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::task::futures::TaskLocalFuture;

use crate::auth::Auth;
pub use body_timeout::BodyTimedOut;
use body_timeout::TimedBody;
use guarded_io::GuardedIo;
use idle::{Busy, BusyBody, Idle};
pub use site_guard::{SiteGuard, SiteHeaders};

/// The header that carries a request's chain of proxies ([`fs_core::hops`]).
const VIA: HeaderName = HeaderName::from_static(fs_core::hops::VIA_HEADER);

/// How long shutdown waits for open connections to finish before it goes on without them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Connections refused over the limit whose request is still being read after their 503, so that
/// closing does not reset the answer away (each for at most [`REFUSE_DRAIN`]); past this many, a
/// refused connection is closed as soon as its answer is written. Every refused connection gets
/// its answer: idle sockets holding the drain slots must not turn a health check's 503 into a
/// connection closed unanswered.
const DRAINING: usize = 1024;
/// How long a refused connection's request is read after the 503, so closing does not reset the
/// answer away.
const REFUSE_DRAIN: Duration = Duration::from_millis(250);
/// The most bytes of header fields a request may carry (names and values; nginx allows 32 KiB,
/// Go 1 MiB). hyper's own bound depends on how the bytes arrive, so this one decides.
pub const MAX_HEADER_BYTES: usize = 64 << 10;
/// hyper's read buffer: a head must fit in it (then [`MAX_HEADER_BYTES`] applies); body chunks
/// are at most this large.
const READ_BUFFER: usize = 256 << 10;

/// The limits of the connection layer (`server.*` in the config).
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// A connection must deliver a complete request head within this long of opening or of its
    /// previous answer: slow headers and idle keep-alive connections are closed alike.
    pub idle_timeout: Duration,
    /// A write to a client may make no progress for this long.
    pub send_timeout: Duration,
    /// A request body may go without a byte for this long (then the request fails with 408).
    pub body_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open connections finish their
/// requests (at most `SHUTDOWN_GRACE`).
///
/// # Errors
/// None today; accept errors are logged and retried.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    guard: SiteGuard,
    auth: Arc<ArcSwap<Auth>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let guard = Arc::new(guard);
    let max = limits.max_connections.clamp(1, u32::MAX as usize);
    let permits = Arc::new(Semaphore::new(max));
    let draining = Arc::new(Semaphore::new(DRAINING));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let idle = Idle::new();
                let served = Served {
                    app: app.clone(),
                    body_timeout: limits.body_timeout,
                    guard: guard.clone(),
                    auth: auth.clone(),
                    peer: peer.ip(),
                    idle: idle.clone(),
                    allowed_host: std::cell::RefCell::default(),
                };
                let (ended, ended_rx) = oneshot::channel::<()>();
                let conn = tokio::spawn(connection(
                    tcp,
                    served,
                    limits,
                    stop_rx.clone(),
                    permit,
                    ended,
                ));
                tokio::spawn(idle.watch(limits.idle_timeout, conn.abort_handle(), ended_rx));
            }
            Err(_) => {
                let drain = draining.clone().try_acquire_owned().ok();
                tokio::spawn(refuse(tcp, max, drain));
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let all = max as u32;
    if tokio::time::timeout(SHUTDOWN_GRACE, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open {} after shutdown began; stopping without them",
            humantime::format_duration(SHUTDOWN_GRACE)
        );
    }
    Ok(())
}

/// A failed accept: out of descriptors is waited out (the connection stays queued), anything
/// else (a client gone before it was accepted) is skipped.
async fn accept_failed(e: io::Error) {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    if matches!(e.raw_os_error(), Some(EMFILE | ENFILE)) {
        tracing::warn!("accept: {e}; waiting for descriptors to free up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    } else {
        tracing::debug!("accept: {e}");
    }
}

/// Serves one connection until it closes, or, once `stop` is set, until its current request is
/// answered.
async fn connection(
    tcp: TcpStream,
    served: Served,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
    // Dropped when the connection ends, which ends its idle watch.
    _ended: oneshot::Sender<()>,
) {
    // Without TCP_NODELAY, headers and body leave as separate segments and streamed bodies stall
    // on delayed ACKs (~90 requests/s per connection).
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::warn!("TCP_NODELAY failed: {e}");
    }
    let io = TokioIo::new(GuardedIo::new(tcp, limits.send_timeout));
    // No header_read_timeout: the connection's idle watch (`Idle::watch`) ends this task when no
    // request has been in flight for the idle timeout, idle keep-alive and slow heads alike,
    // without a timer per request.
    let conn = http1::Builder::new()
        .header_read_timeout(None)
        .max_buf_size(READ_BUFFER)
        .keep_alive(true)
        .serve_connection(io, served);
    tokio::pin!(conn);
    // The guard `wait_for` returns must not live across the await below.
    let stopping = async {
        let _ = stop.wait_for(|s| *s).await;
    };
    let done = tokio::select! {
        done = conn.as_mut() => done,
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = done {
        tracing::debug!("connection closed: {e}");
    }
}

/// The routes as hyper calls them: requests from pages the operator did not allow refused
/// ([`SiteGuard`]), the request body timed out between chunks, and a panic in a handler answered
/// as a JSON 500 (the connection and the process go on) — without a box or a layer on the request
/// path.
#[derive(Clone)]
struct Served {
    app: Router,
    body_timeout: Duration,
    guard: Arc<SiteGuard>,
    /// Who may call the API ([`Auth`]).
    auth: Arc<ArcSwap<Auth>>,
    /// The client's address.
    peer: std::net::IpAddr,
    /// This connection's requests in flight, for its idle timeout.
    idle: Arc<Idle>,
    /// The last `Host` of this connection that the site guard let through.
    allowed_host: std::cell::RefCell<Option<Vec<u8>>>,
}

type Answer = Result<Response, Infallible>;
type Handled = Either<RouteFuture<Infallible>, TaskLocalFuture<Arc<str>, RouteFuture<Infallible>>>;
type Routed =
    Map<CatchUnwind<AssertUnwindSafe<Handled>>, fn(std::thread::Result<Answer>) -> Answer>;
/// What hyper gets: the answer, whose body keeps the request in flight until it is sent.
type Tracked = Result<Response<BusyBody<Body>>, Infallible>;

pin_project_lite::pin_project! {
    /// A request's answer on its way: holds the request in flight (for the idle timeout) and
    /// hands that on to the answer's body.
    struct InFlight<F> {
        #[pin]
        answer: F,
        busy: Option<Busy>,
    }
}

impl<F: Future<Output = Answer>> Future for InFlight<F> {
    type Output = Tracked;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Tracked> {
        let this = self.project();
        let Ok(resp) = std::task::ready!(this.answer.poll(cx));
        let busy = this.busy.take();
        std::task::Poll::Ready(Ok(resp.map(|body| BusyBody::new(body, busy))))
    }
}

impl hyper::service::Service<Request<Incoming>> for Served {
    type Response = Response<BusyBody<Body>>;
    type Error = Infallible;
    type Future = InFlight<Either<Ready<Answer>, Routed>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        InFlight {
            answer: self.answer(req),
            busy: Some(self.idle.begin()),
        }
    }
}

impl Served {
    /// The answer to `req`, before it is tracked.
    fn answer(&self, req: Request<Incoming>) -> Either<Ready<Answer>, Routed> {
        // One pass over the headers: their size, what the site guard reads, the proxy chain.
        let mut header_bytes = 0;
        let mut site = SiteHeaders::default();
        let mut via = None;
        for (name, value) in req.headers() {
            header_bytes += name.as_str().len() + value.len();
            if name == VIA {
                via = via.or_else(|| value.to_str().ok().map(str::to_string));
            } else {
                site.note(name, value);
            }
        }
        if header_bytes > MAX_HEADER_BYTES {
            return Either::Left(ready(Ok(headers_too_large(header_bytes))));
        }
        if let Some(refused) = self.guard.check(req.method(), &site, &self.allowed_host) {
            return Either::Left(ready(Ok(refused)));
        }
        // The principal is not passed on yet: nothing after this point asks who is calling (an
        // extension insert would cost every request a map allocation).
        if let Err(refused) = self.auth.load().check(
            req.method(),
            req.uri().path(),
            req.uri().query(),
            req.headers(),
            self.peer,
        ) {
            return Either::Left(ready(Ok(*refused)));
        }
        if let Some(via) = &via
            && fs_core::hops::too_many_hops(via)
        {
            return Either::Left(ready(Ok(looped(via))));
        }
        let timeout = self.body_timeout;
        let req = req.map(|b| Body::new(TimedBody::new(b, timeout)));
        let routed = tower::Service::call(&mut self.app.clone(), req);
        let future = match via {
            // Forwarded by proxies: one of them asked to forward it again finds itself in it.
            Some(via) => Either::Right(fs_core::hops::within(&via, routed)),
            None => Either::Left(routed),
        };
        Either::Right(
            AssertUnwindSafe(future)
                .catch_unwind()
                .map(|answer| answer.unwrap_or_else(|panic| Ok(panicked(&*panic)))),
        )
    }
}

/// The answer to a request that has passed too many proxies.
fn looped(via: &str) -> Response {
    (
        StatusCode::LOOP_DETECTED,
        crate::error::error_body(&format!(
            "loop detected: this request has passed {} proxies already (x-pfs-via: {via})",
            fs_core::hops::MAX_HOPS
        )),
    )
        .into_response()
}

/// The answer to a head whose header fields pass [`MAX_HEADER_BYTES`]; the connection closes.
fn headers_too_large(bytes: usize) -> Response {
    let mut resp = (
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        crate::error::error_body(&format!(
            "request header fields too large: {bytes} bytes, at most {MAX_HEADER_BYTES}"
        )),
    )
        .into_response();
    resp.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    resp
}

/// The answer to a request whose handler panicked: logged with the panic's message, a JSON 500 to
/// the client.
fn panicked(panic: &(dyn std::any::Any + Send)) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message");
    tracing::error!("a request handler panicked: {what}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        crate::error::error_body(
            "internal error: the server hit a bug while answering (its log has the details)",
        ),
    )
        .into_response()
}

/// Answers a connection over the limit with a JSON 503 and closes it; with a `drain` slot, it
/// first reads what the client sent meanwhile so the close does not reset the answer away.
async fn refuse(mut tcp: TcpStream, max: usize, drain: Option<OwnedSemaphorePermit>) {
    let body = serde_json::json!({
        "error": format!("too many connections: this server serves at most {max} at once (server.max_connections); try again")
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let answered = tokio::time::timeout(REFUSE_DRAIN, async {
        tcp.write_all(answer.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
    if drain.is_some() && matches!(answered, Ok(Ok(()))) {
        let _ = tokio::time::timeout(REFUSE_DRAIN, async {
            let mut sink = [0u8; 4096];
            while tcp.read(&mut sink).await? > 0 {}
            io::Result::Ok(())
        })
        .await;
    }
}

/// The soft limit of open descriptors (`None`: unlimited).
pub fn descriptor_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// Raises the soft limit of open descriptors to the hard limit (each connection holds one),
/// logging the change, and returns the limit in force.
pub fn raise_descriptor_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let (soft, hard) = (limit.current, limit.maximum);
    if soft.is_some() && soft != hard {
        limit.current = hard;
        match setrlimit(Resource::Nofile, limit) {
            Ok(()) => tracing::info!(
                "raised the open-file limit from {} to {}",
                soft.map_or("unlimited".to_string(), |s| s.to_string()),
                hard.map_or("unlimited".to_string(), |h| h.to_string())
            ),
            Err(e) => tracing::warn!("could not raise the open-file limit: {e}"),
        }
    }
    descriptor_limit()
}
