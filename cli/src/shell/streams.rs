//! Where a command's standard streams go: the shell's own, an OS pipe (between pipeline stages,
//! into a remote redirection, into `$(...)`), or nothing; and how each becomes a builtin's
//! async [`Io`] or a local program's `Stdio`.

use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::unix::pipe;

use crate::context::{Input, Io, Output};

/// A command's standard input.
#[derive(Debug, Clone)]
pub(crate) enum In {
    /// The shell process's standard input.
    Inherit,
    /// Nothing (end of file at once).
    Null,
    /// The read end of an OS pipe.
    Pipe(Arc<OwnedFd>),
    /// A local file (`< local:PATH`).
    File(Arc<std::fs::File>),
}

/// A command's standard output or error.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    /// The shell's standard output.
    Stdout,
    /// The shell's standard error.
    Stderr,
    /// The write end of an OS pipe.
    Pipe(Arc<OwnedFd>),
    /// Nowhere (`> /dev/null`).
    Null,
    /// A local file (`> local:PATH`).
    File(Arc<std::fs::File>),
}

/// The three streams of a command. Cloning shares the pipes; a pipe's reader sees its end when
/// every clone of the write end is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Streams {
    pub(crate) stdin: In,
    pub(crate) stdout: Out,
    pub(crate) stderr: Out,
}

impl Streams {
    /// The shell's own streams.
    pub(crate) fn inherit() -> Self {
        Streams {
            stdin: In::Inherit,
            stdout: Out::Stdout,
            stderr: Out::Stderr,
        }
    }
}

/// An OS pipe: `(read end, write end)`.
pub(crate) fn os_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = std::io::pipe()?;
    Ok((OwnedFd::from(r), OwnedFd::from(w)))
}

/// A clonable handle on one of the shell's output streams (the process's buffered standard
/// output, or its standard error), shared by the builtins that write to it in turn. It remembers
/// whether the last byte written ended a line, so that a prompt after `cat /queuefs/q/size`
/// (which prints `3` without a newline) starts on a line of its own.
#[derive(Clone)]
pub(crate) struct Shared(Arc<Mutex<(Output, bool)>>);

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}

impl Shared {
    pub(crate) fn new(out: Output) -> Self {
        Shared(Arc::new(Mutex::new((out, true))))
    }

    fn with<T>(&self, f: impl FnOnce(Pin<&mut Output>, &mut bool) -> T) -> T {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (out, at_start) = &mut *guard;
        f(Pin::new(out), at_start)
    }

    /// Whether nothing was written since the last newline.
    pub(crate) fn at_line_start(&self) -> bool {
        self.with(|_, at_start| *at_start)
    }

    /// Notes that output not seen here (a local program's) may have been written.
    pub(crate) fn set_line_start(&self) {
        self.with(|_, at_start| *at_start = true);
    }
}

impl AsyncWrite for Shared {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.with(|o, at_start| {
            let r = o.poll_write(cx, buf);
            if let Poll::Ready(Ok(n)) = r
                && n > 0
            {
                *at_start = buf[n - 1] == b'\n';
            }
            r
        })
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        self.with(|o, _| o.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        // The shell's streams outlive every command: a command's shutdown only flushes them.
        self.with(|o, _| o.poll_flush(cx))
    }
}

/// The write end of a pipe as an async writer. The pipe is non-blocking while a builtin holds it
/// and made blocking again when it is dropped, because a local program may get the same pipe
/// next (`{ echo a; printf b; } | wc`), and programs expect blocking standard streams.
struct PipeWriter(Option<pipe::Sender>);

impl Drop for PipeWriter {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            let _ = s.into_blocking_fd();
        }
    }
}

impl AsyncWrite for PipeWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.0.as_mut() {
            Some(s) => Pin::new(s).poll_write(cx, buf),
            None => Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.0.as_mut() {
            Some(s) => Pin::new(s).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.0.as_mut() {
            Some(s) => Pin::new(s).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

/// The read end of a pipe as an async reader (blocking again once dropped, as [`PipeWriter`]).
pub(crate) struct PipeReader(Option<pipe::Receiver>);

impl Drop for PipeReader {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            let _ = r.into_blocking_fd();
        }
    }
}

impl AsyncRead for PipeReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.0.as_mut() {
            Some(r) => Pin::new(r).poll_read(cx, buf),
            None => Poll::Ready(Ok(())),
        }
    }
}

/// An async reader of a pipe's read end (a duplicate of the descriptor).
pub(crate) fn reader(fd: &OwnedFd) -> std::io::Result<PipeReader> {
    Ok(PipeReader(Some(pipe::Receiver::from_owned_fd(
        fd.try_clone()?,
    )?)))
}

/// An async writer of a pipe's write end (a duplicate of the descriptor).
pub(crate) fn writer(fd: &OwnedFd) -> std::io::Result<impl AsyncWrite + Send + Unpin + 'static> {
    Ok(PipeWriter(Some(pipe::Sender::from_owned_fd(
        fd.try_clone()?,
    )?)))
}

/// The shell's own output streams, shared by all its builtins.
#[derive(Debug, Clone)]
pub(crate) struct Terminal {
    pub(crate) stdout: Shared,
    pub(crate) stderr: Shared,
    /// Whether the process's standard output is a terminal.
    pub(crate) stdout_is_terminal: bool,
}

impl Terminal {
    fn output(&self, out: &Out) -> std::io::Result<Output> {
        Ok(match out {
            Out::Stdout => Box::new(self.stdout.clone()),
            Out::Stderr => Box::new(self.stderr.clone()),
            Out::Pipe(fd) => Box::new(writer(fd)?),
            Out::Null => Box::new(tokio::io::sink()),
            Out::File(f) => Box::new(tokio::fs::File::from_std(f.try_clone()?)),
        })
    }

    /// The async streams a builtin runs with.
    pub(crate) fn io(&self, s: &Streams) -> std::io::Result<Io> {
        let stdin: Input = match &s.stdin {
            In::Inherit => Box::new(tokio::io::stdin()),
            In::Null => Box::new(tokio::io::empty()),
            In::Pipe(fd) => Box::new(reader(fd)?),
            In::File(f) => Box::new(tokio::fs::File::from_std(f.try_clone()?)),
        };
        Ok(Io {
            stdin,
            stdout: self.output(&s.stdout)?,
            stderr: self.output(&s.stderr)?,
            stdout_is_terminal: matches!(s.stdout, Out::Stdout) && self.stdout_is_terminal,
        })
    }

    /// Flushes the shell's buffered output before a local program writes to the same stream.
    pub(crate) async fn flush(&self) {
        use tokio::io::AsyncWriteExt;
        let mut out = self.stdout.clone();
        let _ = out.flush().await;
    }

    /// Ends the output's last line if a command left it open (before a prompt or an echoed
    /// command), as zsh and fish do.
    pub(crate) async fn end_line(&self) {
        use tokio::io::AsyncWriteExt;
        let mut out = self.stdout.clone();
        if !out.at_line_start() {
            let _ = out.write_all(b"\n").await;
        }
        let _ = out.flush().await;
    }
}

/// A local program's standard input.
pub(crate) fn stdin_stdio(i: &In) -> std::io::Result<Stdio> {
    Ok(match i {
        In::Inherit => Stdio::inherit(),
        In::Null => Stdio::null(),
        In::Pipe(fd) => Stdio::from(fd.try_clone()?),
        In::File(f) => Stdio::from(f.try_clone()?),
    })
}

/// A local program's standard output or error.
pub(crate) fn out_stdio(o: &Out) -> std::io::Result<Stdio> {
    Ok(match o {
        Out::Stdout => Stdio::from(std::io::stdout().as_fd_owned()?),
        Out::Stderr => Stdio::from(std::io::stderr().as_fd_owned()?),
        Out::Pipe(fd) => Stdio::from(fd.try_clone()?),
        Out::Null => Stdio::null(),
        Out::File(f) => Stdio::from(f.try_clone()?),
    })
}

/// A duplicate of a standard stream's descriptor.
trait AsFdOwned {
    fn as_fd_owned(&self) -> std::io::Result<OwnedFd>;
}

impl<T: std::os::fd::AsFd> AsFdOwned for T {
    fn as_fd_owned(&self) -> std::io::Result<OwnedFd> {
        self.as_fd().try_clone_to_owned()
    }
}
