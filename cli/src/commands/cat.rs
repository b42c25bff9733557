//! `cat` and `head`: file bytes streamed to standard output.

use bytes::Bytes;
use clap::Args;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;

use super::{CmdResult, Runner};
use crate::client::{ByteStream, ReadOptions};
use crate::error::Error;

/// `cat [--stream] [PATH...]`
#[derive(Debug, Args)]
pub struct CatArgs {
    /// Read a live stream (streamfs) and keep printing what is written to it until interrupted.
    #[arg(long)]
    stream: bool,
    /// Files to print, in order (none: standard input).
    paths: Vec<String>,
}

/// Prints each file's bytes as they arrive; a failed file is reported and the next one printed.
pub async fn cat(a: CatArgs, r: &mut Runner<'_>) -> CmdResult {
    if a.paths.is_empty() {
        tokio::io::copy(&mut r.io.stdin, &mut r.io.stdout).await?;
        return Ok(());
    }
    let opts = ReadOptions {
        stream: a.stream,
        ..ReadOptions::default()
    };
    for given in &a.paths {
        let abs = r.resolve(given);
        let result = r.ctx.client.read_to(&abs, opts, &mut r.io.stdout).await;
        match result {
            Ok(_) => {}
            Err(e) if e.is_broken_pipe() => return Err(e),
            Err(e) => r.error(Some(given), &e).await,
        }
    }
    Ok(())
}

/// `head [-n N | -c N] [PATH...]`
#[derive(Debug, Args)]
pub struct HeadArgs {
    /// Print the first N lines.
    #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 10)]
    lines: u64,
    /// Print the first N bytes instead of lines.
    #[arg(short = 'c', long = "bytes", value_name = "N")]
    bytes: Option<u64>,
    /// Files to read (none: standard input).
    paths: Vec<String>,
}

/// Prints the start of each file; only what is printed is read (`-c` asks the server for that
/// many bytes, `-n` stops reading after the last line it needs).
pub async fn head(a: HeadArgs, r: &mut Runner<'_>) -> CmdResult {
    if a.paths.is_empty() {
        let stdin = std::mem::replace(&mut r.io.stdin, Box::new(tokio::io::empty()));
        let stream = tokio_util::io::ReaderStream::new(stdin).map(|c| c.map_err(Error::Io));
        let result = head_of(Box::pin(stream), &a, &mut r.io.stdout).await;
        return result;
    }
    let many = a.paths.len() > 1;
    for (i, given) in a.paths.iter().enumerate() {
        let abs = r.resolve(given);
        let opts = ReadOptions {
            size: a.bytes,
            ..ReadOptions::default()
        };
        let stream = match r.ctx.client.read_stream(&abs, opts).await {
            Ok(s) => s,
            Err(e) => {
                r.error(Some(given), &e).await;
                continue;
            }
        };
        if many {
            let sep = if i > 0 { "\n" } else { "" };
            r.out(format!("{sep}==> {given} <==\n").as_bytes()).await?;
        }
        match head_of(stream, &a, &mut r.io.stdout).await {
            Ok(()) => {}
            Err(e) if e.is_broken_pipe() => return Err(e),
            Err(e) => r.error(Some(given), &e).await,
        }
    }
    Ok(())
}

/// Copies the first `-c` bytes or `-n` lines of `stream` to `out`.
async fn head_of(
    mut stream: ByteStream,
    a: &HeadArgs,
    out: &mut (impl tokio::io::AsyncWrite + Unpin + ?Sized),
) -> CmdResult {
    match a.bytes {
        Some(n) => copy_limited(&mut stream, n, out).await,
        None => copy_lines(&mut stream, a.lines, out).await,
    }
}

/// Copies at most `n` bytes.
async fn copy_limited(
    stream: &mut (impl Stream<Item = crate::error::Result<Bytes>> + Unpin),
    mut n: u64,
    out: &mut (impl tokio::io::AsyncWrite + Unpin + ?Sized),
) -> CmdResult {
    while n > 0 {
        let Some(chunk) = stream.next().await else {
            break;
        };
        let chunk = chunk?;
        let take = chunk.len().min(n as usize);
        out.write_all(&chunk[..take]).await?;
        n -= take as u64;
    }
    Ok(())
}

/// Copies up to and including the `n`th newline.
async fn copy_lines(
    stream: &mut (impl Stream<Item = crate::error::Result<Bytes>> + Unpin),
    mut n: u64,
    out: &mut (impl tokio::io::AsyncWrite + Unpin + ?Sized),
) -> CmdResult {
    while n > 0 {
        let Some(chunk) = stream.next().await else {
            break;
        };
        let chunk = chunk?;
        let mut end = chunk.len();
        for (i, b) in chunk.iter().enumerate() {
            if *b == b'\n' {
                n -= 1;
                if n == 0 {
                    end = i + 1;
                    break;
                }
            }
        }
        out.write_all(&chunk[..end]).await?;
    }
    Ok(())
}
