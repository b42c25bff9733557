//! `upload`, `download`, `get`, and `cp` between local and remote paths: the command side of
//! [`crate::transfer`] (operands, destinations, flags, error lines).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tokio::sync::Semaphore;

use super::{CmdResult, Runner};
use crate::error::Error;
use crate::path;
use crate::transfer::local::{self, Operand};
use crate::transfer::progress::{Bars, Progress, Quiet};
use crate::transfer::source::Source;
use crate::transfer::{self, Options, Report, download, tree, upload};

/// The flags every transfer takes.
#[derive(Debug, Clone, Args)]
pub struct TransferFlags {
    /// Piece size: bytes, or with K, M or G (binary). Downloads: files above it go in ranged
    /// pieces (default 8M). Uploads: files above it go in offset writes (default 32M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub piece_size: Option<u64>,
    /// Requests in flight at once: pieces of a file, or files of a tree.
    #[arg(long, value_name = "N", default_value_t = transfer::DEFAULT_PARALLEL,
          value_parser = parse_parallel)]
    pub parallel: usize,
    /// Attempts per piece (or small file) before giving up.
    #[arg(long, value_name = "N", default_value_t = transfer::DEFAULT_ATTEMPTS,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub attempts: u32,
    /// Downloads: keep what an interrupted download already fetched (FILE.pfs-part and
    /// FILE.pfs-state) and fetch only the missing pieces; in a tree, keep files already there
    /// with the remote size.
    #[arg(short = 'c', long = "continue")]
    pub resume: bool,
    /// Skip comparing the server's digest with the downloaded file's (sizes are still checked).
    #[arg(long)]
    pub no_verify: bool,
    /// No progress bars.
    #[arg(short = 'q', long, conflicts_with = "progress")]
    pub quiet: bool,
    /// Progress bars even when standard error is not a terminal.
    #[arg(long)]
    pub progress: bool,
}

impl TransferFlags {
    /// The transfer options these flags give.
    fn options(&self) -> Options {
        let progress: Arc<dyn Progress> =
            if !self.quiet && (self.progress || std::io::stderr().is_terminal()) {
                Arc::new(Bars::new())
            } else {
                Arc::new(Quiet)
            };
        Options {
            piece_size: self.piece_size.unwrap_or(transfer::DEFAULT_PIECE_SIZE),
            upload_piece_size: self
                .piece_size
                .unwrap_or(transfer::DEFAULT_UPLOAD_PIECE_SIZE),
            parallel: self.parallel,
            attempts: self.attempts,
            resume: self.resume,
            verify: !self.no_verify,
            progress,
        }
    }
}

/// A count of requests in flight, 1 to 256.
fn parse_parallel(s: &str) -> Result<usize, String> {
    s.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=256).contains(n))
        .ok_or_else(|| format!("invalid count '{s}': give 1 to 256"))
}

/// A size: digits, optionally followed by `K`, `M` or `G` (powers of 1024; `KiB`, `MB` and the
/// like are read the same), at least 1 byte.
///
/// ```
/// use pfs_cli::commands::transfer::parse_size;
/// assert_eq!(parse_size("8M"), Ok(8 << 20));
/// assert_eq!(parse_size("512k"), Ok(512 << 10));
/// assert_eq!(parse_size("1GiB"), Ok(1 << 30));
/// assert_eq!(parse_size("100"), Ok(100));
/// assert!(parse_size("0").is_err() && parse_size("8X").is_err());
/// ```
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => {
            return Err(format!(
                "invalid size '{s}': use bytes or a K, M or G suffix"
            ));
        }
    };
    n.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("invalid size '{s}': give a positive number"))
}

/// `upload [-r] LOCAL... REMOTE`
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Upload directories and everything below them.
    #[arg(short = 'r', short_alias = 'R', long = "recursive")]
    recursive: bool,
    /// Local files or directories (a `local:` prefix is accepted), then the remote destination: a
    /// file name, or an existing directory to upload into.
    #[arg(required = true, num_args = 2.., value_name = "PATH")]
    paths: Vec<String>,
    #[command(flatten)]
    flags: TransferFlags,
}

/// Uploads each local operand.
pub async fn upload(a: UploadArgs, r: &mut Runner<'_>) -> CmdResult {
    let (dest, sources) = a.paths.split_last().expect("clap requires two");
    let sources: Vec<(String, PathBuf)> = sources
        .iter()
        .map(|s| (s.clone(), local::local_path(s)))
        .collect();
    upload_all(r, &sources, dest, a.recursive, &a.flags).await
}

/// `download [-r] REMOTE... LOCAL`
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// Download directories and everything below them.
    #[arg(short = 'r', short_alias = 'R', long = "recursive")]
    recursive: bool,
    /// Remote files or directories, then the local destination: a file name, or an existing
    /// directory to download into (a `local:` prefix is accepted).
    #[arg(required = true, num_args = 2.., value_name = "PATH")]
    paths: Vec<String>,
    #[command(flatten)]
    flags: TransferFlags,
}

/// Downloads each remote operand.
pub async fn download(a: DownloadArgs, r: &mut Runner<'_>) -> CmdResult {
    let (dest, sources) = a.paths.split_last().expect("clap requires two");
    download_all(r, sources, dest, a.recursive, &a.flags).await
}

/// `get URL [-o FILE]`
#[derive(Debug, Args)]
pub struct GetArgs {
    /// An `http(s)://` URL (a pfs `/api/v1/files?path=...` URL, or any server that answers
    /// `Range`), or a path on the server.
    url: String,
    /// The local file to write (an existing directory: the URL's file name inside it). Default:
    /// the URL's file name in the current directory.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<String>,
    #[command(flatten)]
    flags: TransferFlags,
}

/// Downloads one URL or remote file, `dfget`'s way.
pub async fn get(a: GetArgs, r: &mut Runner<'_>) -> CmdResult {
    let source = match Source::parse(&a.url, &r.ctx.client, |p| r.ctx.resolve(p)) {
        Ok(s) => s,
        Err(e) => {
            r.error(Some(&a.url), &e).await;
            return Ok(());
        }
    };
    let name = source.file_name();
    let target = match &a.output {
        Some(o) => tree::local_target(&local::local_path(o), o, &name),
        None => PathBuf::from(&name),
    };
    let opts = a.flags.options();
    let limit = Arc::new(Semaphore::new(opts.parallel));
    let result = download::download_file(&source, &target, &opts, &limit).await;
    opts.progress.end();
    if let Err(e) = result {
        r.error(Some(&a.url), &e).await;
    }
    Ok(())
}

/// `cp` with a `local:` operand: an upload when the sources are local, a download when the
/// destination is.
pub async fn cp_local(
    r: &mut Runner<'_>,
    paths: &[String],
    recursive: bool,
    flags: &TransferFlags,
) -> CmdResult {
    let (dest, sources) = paths.split_last().expect("clap requires two");
    let local_sources = sources
        .iter()
        .filter(|s| Operand::parse(s).is_local())
        .count();
    let dest_local = Operand::parse(dest).is_local();
    match (local_sources, dest_local) {
        (n, false) if n == sources.len() => {
            let sources: Vec<(String, PathBuf)> = sources
                .iter()
                .map(|s| (s.clone(), local::local_path(s)))
                .collect();
            upload_all(r, &sources, dest, recursive, flags).await
        }
        (0, true) => download_all(r, sources, dest, recursive, flags).await,
        (_, true) => {
            r.fail("both sides are local: use your shell's cp").await;
            Ok(())
        }
        _ => {
            r.fail("the sources must be all local (local:PATH) or all remote")
                .await;
            Ok(())
        }
    }
}

/// Uploads `sources` (as given, and as local paths) to the remote `dest_given`.
async fn upload_all(
    r: &mut Runner<'_>,
    sources: &[(String, PathBuf)],
    dest_given: &str,
    recursive: bool,
    flags: &TransferFlags,
) -> CmdResult {
    let dest = r.resolve(dest_given);
    let dest_is_dir = dest_given.ends_with('/')
        || matches!(r.ctx.client.stat(&dest).await, Ok(i) if i.value.is_dir);
    if sources.len() > 1 && !dest_is_dir {
        r.error(Some(dest_given), &Error::Invalid("not a directory".into()))
            .await;
        return Ok(());
    }
    let opts = flags.options();
    let limit = Arc::new(Semaphore::new(opts.parallel));
    for (given, local) in sources {
        let meta = match tokio::fs::metadata(local).await {
            Ok(m) => m,
            Err(e) => {
                r.error(Some(given), &Error::Io(e)).await;
                continue;
            }
        };
        let to = match local::file_name(local) {
            Some(name) if dest_is_dir => path::child(&dest, &name),
            _ => dest.clone(),
        };
        if meta.is_dir() {
            if !recursive {
                let why = Error::Invalid("is a directory (use -r to upload it)".into());
                r.error(Some(given), &why).await;
                continue;
            }
            match tree::upload_tree(&r.ctx.client, local, &to, &opts).await {
                Ok(report) => print_report(r, &report).await,
                Err(e) => r.error(Some(given), &e).await,
            }
        } else {
            match upload::upload_file(&r.ctx.client, local, &to, &opts, &limit).await {
                Ok(u) if u.in_place => {
                    let line = format!(
                        "pfs: {}: {to}: note: its mount cannot rename, so the pieces were written in place",
                        r.name
                    );
                    r.io.error_line(&line).await;
                }
                Ok(_) => {}
                // A local read failed: the source; anything else is the remote target's.
                Err(e @ Error::Io(_)) => r.error(Some(given), &e).await,
                Err(e) => r.error(Some(&to), &e).await,
            }
        }
    }
    opts.progress.end();
    Ok(())
}

/// Downloads the remote `sources` to the local `dest_given`.
async fn download_all(
    r: &mut Runner<'_>,
    sources: &[String],
    dest_given: &str,
    recursive: bool,
    flags: &TransferFlags,
) -> CmdResult {
    let dest = local::local_path(dest_given);
    if sources.len() > 1 && !dest.is_dir() {
        r.error(Some(dest_given), &Error::Invalid("not a directory".into()))
            .await;
        return Ok(());
    }
    let opts = flags.options();
    let limit = Arc::new(Semaphore::new(opts.parallel));
    for given in sources {
        let from = r.resolve(given);
        let info = match r.ctx.client.stat(&from).await {
            Ok(i) => i.value,
            Err(e) => {
                r.error(Some(given), &e).await;
                continue;
            }
        };
        let target = tree::local_target(&dest, dest_given, path::basename(&from));
        if info.is_dir {
            if !recursive {
                let why = Error::Invalid("is a directory (use -r to download it)".into());
                r.error(Some(given), &why).await;
                continue;
            }
            match tree::download_tree(&r.ctx.client, &from, &target, &opts).await {
                Ok(report) => print_report(r, &report).await,
                Err(e) => r.error(Some(given), &e).await,
            }
        } else {
            let source = Source::Pfs {
                client: r.ctx.client.clone(),
                path: from,
            };
            if let Err(e) = download::download_file(&source, &target, &opts, &limit).await {
                r.error(Some(given), &e).await;
            }
        }
    }
    opts.progress.end();
    Ok(())
}

/// Prints a tree transfer's failures (each an error line) and skipped entries (a note each).
async fn print_report(r: &mut Runner<'_>, report: &Report) {
    for (p, why) in &report.skipped {
        let line = format!("pfs: {}: {p}: skipped ({why})", r.name);
        r.io.error_line(&line).await;
    }
    for (p, e) in &report.failed {
        r.error(Some(p), e).await;
    }
}

/// Whether any operand names a local path (`cp` then transfers instead of copying remotely).
pub fn any_local(paths: &[String]) -> bool {
    paths.iter().any(|p| Operand::parse(p).is_local())
}
