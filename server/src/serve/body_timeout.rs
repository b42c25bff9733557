//! The request-body timeout: a body that goes `server.body_timeout` without a byte fails with
//! [`BodyTimedOut`] (a 408 to the client, nothing changed). A timer is armed only while the body
//! waits for the client and is kept, not re-armed, across polls of one wait: a body that flows
//! never touches the timer wheel (tower-http's `TimeoutBody` armed and dropped one per frame,
//! about 700 instructions of every upload).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// The error of a body that timed out.
#[derive(Debug)]
pub struct BodyTimedOut(pub Duration);

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no byte of the request body arrived for {}",
            humantime::format_duration(self.0)
        )
    }
}

impl std::error::Error for BodyTimedOut {}

pin_project_lite::pin_project! {
    /// A request body under [`BodyTimedOut`]'s rule.
    pub(crate) struct TimedBody<B> {
        #[pin]
        body: B,
        timeout: Duration,
        // Running while the body waits for the client.
        #[pin]
        waiting: Option<Sleep>,
    }
}

impl<B> TimedBody<B> {
    pub(crate) fn new(body: B, timeout: Duration) -> Self {
        TimedBody {
            body,
            timeout,
            waiting: None,
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        if let Poll::Ready(frame) = this.body.poll_frame(cx) {
            this.waiting.set(None);
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.waiting.is_none() {
            this.waiting.set(Some(tokio::time::sleep(*this.timeout)));
        }
        match this.waiting.as_pin_mut().map(|s| s.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Some(Err(Box::new(BodyTimedOut(*this.timeout))))),
            _ => Poll::Pending,
        }
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
    use http_body_util::BodyExt;
    use http_body_util::StreamBody;

    #[tokio::test(start_paused = true)]
    async fn a_body_fails_only_after_a_whole_timeout_without_a_byte() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
        let body = StreamBody::new(tokio_stream_from(rx));
        let mut body = std::pin::pin!(TimedBody::new(body, Duration::from_secs(5)));
        let feeder = tokio::spawn(async move {
            for _ in 0..3 {
                // Under the timeout each time, well over it in all.
                tokio::time::sleep(Duration::from_secs(4)).await;
                tx.send(Ok(Frame::data(Bytes::from_static(b"x"))))
                    .await
                    .unwrap();
            }
            // Then silence, with the sender kept open.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(tx);
        });
        for _ in 0..3 {
            let frame = body.as_mut().frame().await.unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), "x");
        }
        let t = tokio::time::Instant::now();
        let e = body.as_mut().frame().await.unwrap().unwrap_err();
        assert!(e.is::<BodyTimedOut>(), "{e}");
        assert_eq!(t.elapsed(), Duration::from_secs(5));
        feeder.abort();
    }

    /// An mpsc receiver as a stream.
    fn tokio_stream_from<T: Send + 'static>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
