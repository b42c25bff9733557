//! The idle timeout of a connection, without a timer per request: a connection with no request in
//! flight for `server.idle_timeout` is closed, whether it sits idle between keep-alive requests or
//! trickles a request head in a byte at a time (slowloris). hyper's own `header_read_timeout` did
//! the same with a timer armed and cancelled around every request head, about 1,250 instructions
//! of a 1 KiB GET's 22,000; here a request costs two atomic updates and one clock read, and each
//! connection has a watch task with one timer that wakes when the connection could have expired.
//!
//! A request counts as in flight from the moment its head is complete until its response body is
//! finished or dropped ([`BusyBody`]), so a long download or a live stream that sends nothing for
//! a while is never cut; stalls inside a request are the body and send timeouts' business.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

/// One connection's activity: requests in flight, and when the last one ended.
#[derive(Debug)]
pub(crate) struct Idle {
    start: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds from `start` to the end of the last request (0: none yet).
    last_end_ms: AtomicU64,
}

impl Idle {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Idle {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_end_ms: AtomicU64::new(0),
        })
    }

    /// Marks a request as in flight until the returned guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    /// Watches a connection: aborts its task (`conn`), which closes it whatever part of a head it
    /// was reading, once no request has been in flight for `timeout`; ends with the connection.
    pub(crate) async fn watch(
        self: Arc<Self>,
        timeout: Duration,
        conn: tokio::task::AbortHandle,
        ended: tokio::sync::oneshot::Receiver<()>,
    ) {
        tokio::select! {
            () = self.expired(timeout) => conn.abort(),
            _ = ended => {}
        }
    }

    /// Resolves once no request has been in flight for `timeout`.
    pub(crate) async fn expired(&self, timeout: Duration) {
        loop {
            let idle_since = Duration::from_millis(self.last_end_ms.load(Ordering::Acquire));
            tokio::time::sleep_until(self.start + idle_since + timeout).await;
            // The end time is written before the count drops, so a count of 0 read here comes
            // with the end time of the request that brought it there (or a later one).
            if self.in_flight.load(Ordering::Acquire) == 0
                && self.last_end_ms.load(Ordering::Acquire) == idle_since.as_millis() as u64
            {
                return;
            }
            if self.in_flight.load(Ordering::Acquire) > 0 {
                // Busy: look again a timeout from now at the earliest.
                tokio::time::sleep(timeout).await;
            }
        }
    }
}

/// A request in flight ([`Idle::begin`]); dropping it ends the request.
#[derive(Debug)]
pub(crate) struct Busy(Arc<Idle>);

impl Drop for Busy {
    fn drop(&mut self) {
        let ms = self.0.start.elapsed().as_millis() as u64;
        self.0.last_end_ms.fetch_max(ms, Ordering::AcqRel);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request in flight until it is finished or dropped.
    pub(crate) struct BusyBody<B> {
        #[pin]
        body: B,
        busy: Option<Busy>,
    }
}

impl<B> BusyBody<B> {
    /// `body`, keeping `busy` alive as long as it is.
    pub(crate) fn new(body: B, busy: Option<Busy>) -> Self {
        BusyBody { body, busy }
    }
}

impl<B: Body<Data = Bytes>> Body for BusyBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let polled = this.body.poll_frame(cx);
        if let Poll::Ready(None) = polled {
            // Finished: the request ends now, not when hyper gets round to dropping the body.
            this.busy.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn expires_a_timeout_after_the_last_request_ends_and_never_while_one_runs() {
        let idle = Idle::new();
        let t0 = tokio::time::Instant::now();
        idle.expired(Duration::from_secs(5)).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(5), "idle from the start");

        let busy = idle.begin();
        let watch = {
            let idle = idle.clone();
            tokio::spawn(async move { idle.expired(Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(
            !watch.is_finished(),
            "a request in flight for a minute is not idle"
        );
        let ended = tokio::time::Instant::now();
        drop(busy);
        watch.await.unwrap();
        assert!(
            ended.elapsed() >= Duration::from_secs(5),
            "{:?}",
            ended.elapsed()
        );
        assert!(
            ended.elapsed() < Duration::from_secs(11),
            "{:?}",
            ended.elapsed()
        );
    }
}
