//! The socket as hyper sees it: reads pass through; a write that makes no progress for the send
//! timeout fails (a client that stopped reading cannot hold a connection, and what it pins, for
//! ever); and the few error answers hyper writes itself, with an empty body, get the API's JSON
//! error body.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Sleep, sleep};

/// A connection's socket with the send timeout and hyper's error answers made JSON.
#[derive(Debug)]
pub(crate) struct GuardedIo {
    inner: TcpStream,
    send_timeout: Duration,
    /// Running while a write waits for the socket.
    stall: Option<Pin<Box<Sleep>>>,
    /// An answer being written in place of the one hyper handed over.
    replacement: Option<Replacement>,
}

#[derive(Debug)]
struct Replacement {
    bytes: Vec<u8>,
    written: usize,
    /// What hyper is told was written once the replacement is out: the length it handed over.
    reported: usize,
}

impl GuardedIo {
    pub(crate) fn new(inner: TcpStream, send_timeout: Duration) -> Self {
        GuardedIo {
            inner,
            send_timeout,
            stall: None,
            replacement: None,
        }
    }

    /// `r` as it is, or a timeout error once writes have made no progress for the send timeout.
    fn watch<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if r.is_ready() {
            self.stall = None;
            return r;
        }
        let timeout = self.send_timeout;
        let stall = self.stall.get_or_insert_with(|| Box::pin(sleep(timeout)));
        match stall.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the client read nothing for {}",
                    humantime::format_duration(timeout)
                ),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Writes what is left of the replacement; ready with hyper's length once all of it is out.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<usize>>> {
        loop {
            let Some(r) = &mut self.replacement else {
                return Poll::Ready(Ok(None));
            };
            if r.written == r.bytes.len() {
                let reported = r.reported;
                self.replacement = None;
                return Poll::Ready(Ok(Some(reported)));
            }
            let polled = Pin::new(&mut self.inner).poll_write(cx, &r.bytes[r.written..]);
            let n = ready!(self.watch(cx, polled))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            if let Some(r) = &mut self.replacement {
                r.written += n;
            }
        }
    }
}

/// The JSON answer for a head hyper wrote for a request it could not parse (400 malformed, 414
/// URI too long, 431 header fields too large): hyper sends these with an empty body and closes;
/// the routes never answer an error without a body, so such a head is always hyper's.
fn json_for_bodiless_error(head: &[u8]) -> Option<Vec<u8>> {
    let (code, why) = match head.get(..12)? {
        b"HTTP/1.1 400" => (400, "malformed HTTP request"),
        b"HTTP/1.1 413" => (413, "request too large"),
        b"HTTP/1.1 414" => (414, "request URI too long"),
        b"HTTP/1.1 431" => (431, "request header fields too large"),
        _ => return None,
    };
    let text = std::str::from_utf8(head).ok()?;
    if !text.ends_with("\r\n\r\n")
        || !text
            .to_ascii_lowercase()
            .contains("\r\ncontent-length: 0\r\n")
    {
        return None;
    }
    let reason = text.lines().next()?.get(13..)?.trim();
    let body = serde_json::json!({ "error": why }).to_string();
    Some(
        format!(
            "HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacement.is_none() {
            // hyper hands a bodiless head over as the only slice of its write.
            let mut parts = bufs.iter().filter(|b| !b.is_empty());
            if let (Some(head), None) = (parts.next(), parts.next())
                && let Some(bytes) = json_for_bodiless_error(head)
            {
                this.replacement = Some(Replacement {
                    bytes,
                    written: 0,
                    reported: head.len(),
                });
            }
        }
        // A replacement in progress: this call repeats the write hyper is waiting on.
        if let Some(n) = ready!(this.drain(cx))? {
            return Poll::Ready(Ok(n));
        }
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bodiless_errors_are_rewritten() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(json_for_bodiless_error(head).unwrap()).unwrap();
        assert!(
            out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{out}"
        );
        assert!(out.contains("content-type: application/json\r\n"), "{out}");
        assert!(
            out.ends_with(r#"{"error":"request header fields too large"}"#),
            "{out}"
        );
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n";
        assert!(json_for_bodiless_error(with_body).is_none());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(json_for_bodiless_error(ok).is_none());
    }
}
