//! `tail`: the end of a file, read from its end backwards (never the whole file), and `-f`, which
//! follows a growing file by its size or a live stream (streamfs) by a stream read.

use std::time::Duration;

use clap::Args;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::{CmdResult, Runner};
use crate::client::ReadOptions;
use crate::error::Error;

/// Bytes read per step while looking backwards for line starts.
const BLOCK: u64 = 64 * 1024;

/// `tail [-n N | -c N] [-f] [-s SECONDS] PATH`
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Print the last N lines.
    #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 10)]
    lines: u64,
    /// Print the last N bytes instead of lines.
    #[arg(short = 'c', long = "bytes", value_name = "N")]
    bytes: Option<u64>,
    /// Keep printing what is appended (a file) or written (a streamfs stream) until interrupted.
    #[arg(short = 'f', long = "follow")]
    follow: bool,
    /// With -f on a file, seconds between two looks at its size.
    #[arg(
        short = 's',
        long = "sleep-interval",
        value_name = "SECONDS",
        default_value_t = 1.0
    )]
    interval: f64,
    /// The file or stream.
    path: String,
}

/// Prints the end of the file, then follows it with `-f`.
pub async fn tail(a: TailArgs, r: &mut Runner<'_>) -> CmdResult {
    let abs = r.resolve(&a.path);
    let info = match r.ctx.client.stat(&abs).await {
        Ok(i) => i.value,
        Err(e) => {
            r.error(Some(&a.path), &e).await;
            return Ok(());
        }
    };
    if info.is_dir {
        r.error(Some(&a.path), &Error::Invalid("is a directory".into()))
            .await;
        return Ok(());
    }
    if info.meta.kind == "stream" {
        if !a.follow {
            let why = "a live stream has no end: use tail -f or cat --stream";
            r.error(Some(&a.path), &Error::Invalid(why.into())).await;
            return Ok(());
        }
        // A new stream reader first gets what the stream's ring buffer still holds, then live data.
        let opts = ReadOptions {
            stream: true,
            ..ReadOptions::default()
        };
        if let Err(e) = r.ctx.client.read_to(&abs, opts, &mut r.io.stdout).await {
            r.error(Some(&a.path), &e).await;
        }
        return Ok(());
    }
    let size = info.size;
    let start = match a.bytes {
        Some(n) => size.saturating_sub(n),
        None => match line_start(r, &abs, size, a.lines).await {
            Ok(s) => s,
            Err(e) => {
                r.error(Some(&a.path), &e).await;
                return Ok(());
            }
        },
    };
    let mut offset = start;
    if size > start {
        match copy_range(r, &abs, start, size - start).await {
            Ok(n) => offset += n,
            Err(e) => {
                r.error(Some(&a.path), &e).await;
                return Ok(());
            }
        }
    }
    if !a.follow {
        return Ok(());
    }
    r.io.stdout.flush().await?;
    let interval = Duration::from_secs_f64(a.interval.clamp(0.001, 3600.0));
    loop {
        tokio::time::sleep(interval).await;
        let size = match r.ctx.client.stat(&abs).await {
            Ok(i) => i.value.size,
            Err(e) => {
                r.error(Some(&a.path), &e).await;
                return Ok(());
            }
        };
        if size < offset {
            r.io.error_line(&format!("pfs: tail: {}: file truncated", a.path))
                .await;
            offset = 0;
        }
        if size > offset {
            match copy_range(r, &abs, offset, size - offset).await {
                Ok(n) => offset += n,
                Err(e) if e.is_broken_pipe() => return Err(e),
                Err(e) => {
                    r.error(Some(&a.path), &e).await;
                    return Ok(());
                }
            }
            r.io.stdout.flush().await?;
        }
    }
}

/// Copies `len` bytes at `offset` to standard output; returns how many came.
async fn copy_range(r: &mut Runner<'_>, path: &str, offset: u64, len: u64) -> Result<u64, Error> {
    let opts = ReadOptions {
        offset: Some(offset),
        size: Some(len),
        stream: false,
    };
    r.ctx.client.read_to(path, opts, &mut r.io.stdout).await
}

/// Where the last `n` lines of a file of `size` bytes start, found by reading blocks backwards
/// from the end. A final newline ends the last line rather than starting an empty one.
async fn line_start(r: &mut Runner<'_>, path: &str, size: u64, n: u64) -> Result<u64, Error> {
    if n == 0 {
        return Ok(size);
    }
    let mut found = 0u64;
    let mut end = size;
    while end > 0 {
        let from = end.saturating_sub(BLOCK);
        let opts = ReadOptions {
            offset: Some(from),
            size: Some(end - from),
            stream: false,
        };
        let mut stream = r.ctx.client.read_stream(path, opts).await?;
        let mut block = Vec::with_capacity((end - from) as usize);
        while let Some(chunk) = stream.next().await {
            block.extend_from_slice(&chunk?);
        }
        for (i, b) in block.iter().enumerate().rev() {
            let at = from + i as u64;
            if *b == b'\n' && at != size - 1 {
                found += 1;
                if found == n {
                    return Ok(at + 1);
                }
            }
        }
        end = from;
    }
    Ok(0)
}
