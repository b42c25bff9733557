//! Commands the server computes over file contents or trees: `grep`, `digest`, `du`.

use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use serde_json::json;

use super::{CmdResult, EXIT_OK, Runner};
use crate::client::GrepOptions;
use crate::output::human_size;
use crate::transfer;

/// grep's exit code when nothing matched.
const GREP_NO_MATCH: i32 = 1;
/// grep's exit code for an error (whatever matched).
const GREP_ERROR: i32 = 2;

/// `grep [-r] [-i] [-n] [-m N] PATTERN PATH...`
#[derive(Debug, Args)]
pub struct GrepArgs {
    /// Search every file below directories.
    #[arg(short = 'r', short_alias = 'R', long = "recursive")]
    recursive: bool,
    /// Ignore case.
    #[arg(short = 'i', long = "ignore-case")]
    ignore_case: bool,
    /// Prefix each match with its line number.
    #[arg(short = 'n', long = "line-number")]
    line_number: bool,
    /// Print only the number of matches.
    #[arg(short = 'c', long = "count")]
    count: bool,
    /// Stop after N matches.
    #[arg(short = 'm', long = "max-count", value_name = "N")]
    max: Option<u64>,
    /// A regular expression (Rust `regex` syntax), matched line by line.
    pattern: String,
    /// Files, or directories with -r.
    #[arg(required = true)]
    paths: Vec<String>,
}

/// Prints matches as the server finds them. Exit codes as grep's: 0 when something matched, 1
/// when nothing did, 2 after an error.
pub async fn grep(a: GrepArgs, r: &mut Runner<'_>) -> CmdResult {
    let opts = GrepOptions {
        recursive: a.recursive,
        case_insensitive: a.ignore_case,
        limit: a.max,
    };
    let with_file = a.recursive || a.paths.len() > 1;
    let mut total = 0u64;
    let mut errors = false;
    let mut collected = Vec::new();
    for given in &a.paths {
        let abs = r.resolve(given);
        let mut events = match r.ctx.client.grep(&abs, &a.pattern, &opts).await {
            Ok(s) => Box::pin(s),
            Err(e) => {
                r.error(Some(given), &e).await;
                errors = true;
                continue;
            }
        };
        let mut count = 0u64;
        while let Some(ev) = events.next().await {
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) => {
                    r.error(Some(given), &e).await;
                    errors = true;
                    break;
                }
            };
            if ev.kind.as_deref() == Some("summary") {
                if let Some(why) = ev.error {
                    r.fail(&format!("{given}: {why}")).await;
                    errors = true;
                }
                break;
            }
            count += 1;
            let file = ev.file.unwrap_or_default();
            let line = ev.line.unwrap_or(0);
            let content = ev.content.unwrap_or_default();
            if r.ctx.json {
                collected.push(json!({ "file": file, "line": line, "content": content }));
            } else if !a.count {
                let mut out = String::new();
                if with_file {
                    out.push_str(&file);
                    out.push(':');
                }
                if a.line_number {
                    out.push_str(&line.to_string());
                    out.push(':');
                }
                out.push_str(&content);
                out.push('\n');
                r.out(out.as_bytes()).await?;
            }
        }
        if a.count && !r.ctx.json {
            let line = if with_file {
                format!("{given}:{count}\n")
            } else {
                format!("{count}\n")
            };
            r.out(line.as_bytes()).await?;
        }
        total += count;
    }
    if r.ctx.json {
        let doc = json!({ "matches": collected, "count": total });
        r.emit_json(doc.to_string().into());
    }
    r.status = if errors {
        GREP_ERROR
    } else if total == 0 {
        GREP_NO_MATCH
    } else {
        EXIT_OK
    };
    Ok(())
}

/// A checksum the server computes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Algorithm {
    /// XXH3 (64-bit, the low half of XXH3-128 as AGFS gives it).
    Xxh3,
    /// MD5.
    Md5,
}

/// `digest [-a xxh3|md5] PATH...`
#[derive(Debug, Args)]
pub struct DigestArgs {
    /// The checksum.
    #[arg(short = 'a', long = "algorithm", value_enum, default_value = "xxh3")]
    algorithm: Algorithm,
    /// Files.
    #[arg(required = true)]
    paths: Vec<String>,
}

/// Prints `DIGEST  PATH` per file, as `md5sum` does.
pub async fn digest(a: DigestArgs, r: &mut Runner<'_>) -> CmdResult {
    let name = match a.algorithm {
        Algorithm::Xxh3 => "xxh3",
        Algorithm::Md5 => "md5",
    };
    for given in &a.paths {
        let abs = r.resolve(given);
        match r.ctx.client.digest(&abs, name).await {
            Ok(reply) if r.ctx.json => r.emit_json(reply.raw),
            Ok(reply) => {
                let d = reply.value["digest"].as_str().unwrap_or_default();
                r.out(format!("{d}  {given}\n").as_bytes()).await?;
            }
            Err(e) => r.error(Some(given), &e).await,
        }
    }
    Ok(())
}

/// `du [-s] [-h] [PATH...]`
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct DuArgs {
    /// Print help (`-h` is --human-readable here).
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Only each operand's total.
    #[arg(short = 's', long = "summarize")]
    summarize: bool,
    /// Sizes in K, M, G.
    #[arg(short = 'h', long = "human-readable")]
    human: bool,
    /// Files or directories (default: the current directory).
    paths: Vec<String>,
}

/// Prints the bytes below each directory (apparent sizes from listings; nothing is read), children
/// before parents, as `SIZE<TAB>PATH`.
pub async fn du(a: DuArgs, r: &mut Runner<'_>) -> CmdResult {
    let paths = if a.paths.is_empty() {
        vec![".".to_string()]
    } else {
        a.paths.clone()
    };
    let mut docs = Vec::new();
    for given in &paths {
        let abs = r.resolve(given);
        let mut rows: Vec<(String, u64)> = Vec::new();
        let result = transfer::disk_usage(&r.ctx.client, &abs, |p, n| {
            rows.push((p.to_string(), n));
        })
        .await;
        let total = match result {
            Ok(t) => t,
            Err(e) => {
                r.error(Some(given), &e).await;
                continue;
            }
        };
        // Show paths as the operand named them.
        let shown = |p: &str| match p.strip_prefix(abs.as_str()) {
            Some(rest) => format!("{}{rest}", given.trim_end_matches('/')),
            None => p.to_string(),
        };
        if r.ctx.json {
            docs.push(json!({ "path": given, "size": total }));
            continue;
        }
        if a.summarize || rows.is_empty() {
            rows = vec![(abs.clone(), total)];
        }
        let mut text = String::new();
        for (p, n) in rows {
            let size = if a.human {
                human_size(n)
            } else {
                n.to_string()
            };
            let mut p = shown(&p);
            if p.is_empty() {
                p = "/".to_string();
            }
            text.push_str(&format!("{size}\t{p}\n"));
        }
        r.out(text.as_bytes()).await?;
    }
    if r.ctx.json {
        let doc = if docs.len() == 1 {
            docs.remove(0)
        } else {
            json!(docs)
        };
        r.emit_json(doc.to_string().into());
    }
    Ok(())
}
