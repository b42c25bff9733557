//! `write` and `put`: bytes to a remote file, streamed from the arguments, a local file or
//! standard input.

use clap::Args;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{CmdResult, Runner};
use crate::client::WriteOptions;
use crate::error::Error;
use crate::path;

/// Largest chunk sent as one write with `--stream`.
const STREAM_CHUNK: usize = 64 * 1024;

/// `write [-a] [--offset N] [--stream] [-i FILE] PATH [DATA...]`
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// Append to the file (created when missing) instead of replacing it.
    #[arg(short = 'a', long, conflicts_with = "offset")]
    append: bool,
    /// Write at this byte offset, keeping the bytes before and after.
    #[arg(long, value_name = "N")]
    offset: Option<u64>,
    /// Send each chunk of input as its own write as soon as it is read (for streamfs streams).
    #[arg(long)]
    stream: bool,
    /// Read the data from this local file instead of standard input.
    #[arg(
        short = 'i',
        long = "input",
        value_name = "FILE",
        conflicts_with = "data"
    )]
    input: Option<std::path::PathBuf>,
    /// The remote file.
    path: String,
    /// The data, words joined by spaces (none: standard input or `-i`).
    data: Vec<String>,
}

/// Writes the data; prints nothing on success (the server's answer with `--json`).
pub async fn write(a: WriteArgs, r: &mut Runner<'_>) -> CmdResult {
    let abs = r.resolve(&a.path);
    let opts = WriteOptions {
        append: a.append,
        offset: a.offset,
    };
    let result = if !a.data.is_empty() {
        let data = a.data.join(" ");
        if a.stream {
            stream_chunks(r, &abs, &mut data.as_bytes(), opts).await
        } else {
            r.ctx.client.write_body(&abs, data, opts).await.map(Some)
        }
    } else if let Some(local) = &a.input {
        match tokio::fs::File::open(local).await {
            Ok(mut f) => send(r, &abs, &mut f, opts, a.stream).await,
            Err(e) => {
                r.error(Some(&local.display().to_string()), &Error::Io(e))
                    .await;
                return Ok(());
            }
        }
    } else {
        let mut stdin = std::mem::replace(&mut r.io.stdin, Box::new(tokio::io::empty()));
        let result = send(r, &abs, &mut stdin, opts, a.stream).await;
        r.io.stdin = stdin;
        result
    };
    finish(r, &a.path, result).await
}

/// Sends `reader` as one streamed body, or chunk by chunk with `stream`.
async fn send<R: AsyncRead + Unpin + ?Sized>(
    r: &mut Runner<'_>,
    abs: &str,
    reader: &mut R,
    opts: WriteOptions,
    stream: bool,
) -> Result<Option<crate::client::Reply<serde_json::Value>>, Error> {
    if stream {
        stream_chunks(r, abs, reader, opts).await
    } else {
        r.ctx.client.write_from(abs, reader, opts).await.map(Some)
    }
}

/// One write per chunk read, each sent as soon as it is read; the last answer is returned.
async fn stream_chunks<R: AsyncRead + Unpin + ?Sized>(
    r: &mut Runner<'_>,
    abs: &str,
    reader: &mut R,
    opts: WriteOptions,
) -> Result<Option<crate::client::Reply<serde_json::Value>>, Error> {
    let mut last = None;
    let mut buf = vec![0u8; STREAM_CHUNK];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(last);
        }
        let chunk = bytes::Bytes::copy_from_slice(&buf[..n]);
        last = Some(r.ctx.client.write_body(abs, chunk, opts).await?);
    }
}

async fn finish(
    r: &mut Runner<'_>,
    given: &str,
    result: Result<Option<crate::client::Reply<serde_json::Value>>, Error>,
) -> CmdResult {
    match result {
        Ok(Some(reply)) if r.ctx.json => r.emit_json(reply.raw),
        Ok(_) => {}
        Err(e) => r.error(Some(given), &e).await,
    }
    Ok(())
}

/// `put [-a] [--offset N] SOURCE DEST`
#[derive(Debug, Args)]
pub struct PutArgs {
    /// Append to the remote file instead of replacing it.
    #[arg(short = 'a', long, conflicts_with = "offset")]
    append: bool,
    /// Write at this byte offset, keeping the bytes before and after.
    #[arg(long, value_name = "N")]
    offset: Option<u64>,
    /// A local file, or `-` for standard input.
    source: String,
    /// The remote file, or a remote directory to put it in under its own name.
    dest: String,
}

/// Uploads a local file or standard input as one streamed body.
pub async fn put(a: PutArgs, r: &mut Runner<'_>) -> CmdResult {
    let mut dest = r.resolve(&a.dest);
    if a.source != "-" {
        let into_dir = a.dest.ends_with('/')
            || matches!(r.ctx.client.stat(&dest).await, Ok(i) if i.value.is_dir);
        if into_dir {
            dest = path::child(&dest, path::basename(&a.source));
        }
    }
    let opts = WriteOptions {
        append: a.append,
        offset: a.offset,
    };
    let result = if a.source == "-" {
        let mut stdin = std::mem::replace(&mut r.io.stdin, Box::new(tokio::io::empty()));
        let result = r.ctx.client.write_from(&dest, &mut stdin, opts).await;
        r.io.stdin = stdin;
        result
    } else {
        match tokio::fs::File::open(&a.source).await {
            Ok(mut f) => r.ctx.client.write_from(&dest, &mut f, opts).await,
            Err(e) => {
                r.error(Some(&a.source), &Error::Io(e)).await;
                return Ok(());
            }
        }
    };
    finish(r, &a.dest, result.map(Some)).await
}
