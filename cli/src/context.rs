//! What a command runs with: the [`Context`] (client, current directory, output options) and the
//! [`Io`] it reads and writes (the process's standard streams, or a shell's pipes and redirections).

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};

use crate::client::Client;
use crate::path;

/// The state commands share: the server's client, the current remote directory and the output
/// options. The shell keeps one for its whole session (its `cd` changes [`Context::cwd`]).
#[derive(Debug, Clone)]
pub struct Context {
    /// The server's client.
    pub client: Client,
    /// The current remote directory, absolute and normalized; relative paths resolve against it.
    pub cwd: String,
    /// `--json`: print the server's JSON answers instead of the human form.
    pub json: bool,
}

impl Context {
    /// A context at `/` with human output.
    pub fn new(client: Client) -> Self {
        Context {
            client,
            cwd: "/".to_string(),
            json: false,
        }
    }

    /// The absolute, normalized form of `path` (relative paths start at [`Context::cwd`]).
    pub fn resolve(&self, path: &str) -> String {
        path::resolve(&self.cwd, path)
    }
}

/// A boxed input stream.
pub type Input = Box<dyn AsyncRead + Send + Unpin>;
/// A boxed output stream.
pub type Output = Box<dyn AsyncWrite + Send + Unpin>;

/// The streams a command reads and writes. The binary wires the process's standard streams; the
/// shell wires pipes, redirections to remote or local files, or its terminal.
pub struct Io {
    /// Standard input (`write` without data, `put -`).
    pub stdin: Input,
    /// Standard output.
    pub stdout: Output,
    /// Standard error: `pfs: <command>: <path>: <reason>` lines.
    pub stderr: Output,
    /// Whether standard output is a terminal (`ls` prints columns there, one name a line elsewhere).
    pub stdout_is_terminal: bool,
}

impl std::fmt::Debug for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io")
            .field("stdout_is_terminal", &self.stdout_is_terminal)
            .finish_non_exhaustive()
    }
}

/// The buffer in front of standard output. tokio hands each write of its stdout to a blocking
/// thread and waits for the previous one first; at 64 KiB a 1 GiB `cat` made 16,384 such hand-offs
/// and ran at 0.6x curl's speed, at 1 MiB it makes 1,024.
const STDOUT_BUFFER: usize = 1 << 20;

impl Io {
    /// The process's standard streams; standard output is buffered (each command flushes it).
    pub fn stdio() -> Self {
        use std::io::IsTerminal;
        Io {
            stdin: Box::new(tokio::io::stdin()),
            stdout: Box::new(BufWriter::with_capacity(STDOUT_BUFFER, tokio::io::stdout())),
            stderr: Box::new(tokio::io::stderr()),
            stdout_is_terminal: std::io::stdout().is_terminal(),
        }
    }

    /// Streams over memory: empty input, output and errors collected into the returned buffers'
    /// writers (for tests and for the shell's `$(...)`).
    pub fn memory() -> (Self, Captured, Captured) {
        let out = Captured::default();
        let err = Captured::default();
        let io = Io {
            stdin: Box::new(tokio::io::empty()),
            stdout: Box::new(out.clone()),
            stderr: Box::new(err.clone()),
            stdout_is_terminal: false,
        };
        (io, out, err)
    }

    /// Writes a line to standard error (errors writing errors are ignored).
    pub async fn error_line(&mut self, line: &str) {
        let _ = self.stderr.write_all(line.as_bytes()).await;
        let _ = self.stderr.write_all(b"\n").await;
        let _ = self.stderr.flush().await;
    }
}

/// Bytes written to an in-memory output, readable with [`Captured::take`].
#[derive(Debug, Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far, leaving the buffer empty.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl AsyncWrite for Captured {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
