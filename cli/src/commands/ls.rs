//! `ls` and `tree`.

use clap::Args;
use futures_util::StreamExt;

use super::{CmdResult, Runner};
use crate::client::FileInfo;
use crate::error::Error;
use crate::output::{columns, human_size, mode_string, short_time, terminal_width};
use crate::path;

/// `ls [-l] [-a] [-h] [PATH...]`
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct LsArgs {
    /// Print help (`-h` is --human-readable here).
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Long listing: mode, size, modification time, name (directories end in `/`).
    #[arg(short = 'l')]
    long: bool,
    /// Show entries whose names start with `.`.
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// With -l, sizes in K, M, G.
    #[arg(short = 'h', long = "human-readable")]
    human: bool,
    /// One name per line, even on a terminal.
    #[arg(short = '1')]
    one: bool,
    /// Directories or files to list (default: the current directory).
    paths: Vec<String>,
}

/// Lists each operand: a directory's entries as they arrive, or a file's own line.
pub async fn ls(a: LsArgs, r: &mut Runner<'_>) -> CmdResult {
    let paths = if a.paths.is_empty() {
        vec![".".to_string()]
    } else {
        a.paths.clone()
    };
    if r.ctx.json {
        return ls_json(&paths, r).await;
    }
    let many = paths.len() > 1;
    for (i, given) in paths.iter().enumerate() {
        let abs = r.resolve(given);
        // Names are all a short listing prints: the server need not send the rest (a pfs server
        // honours `fields`; AGFS ignores it and sends whole entries, which parse the same).
        let fields = if a.long { None } else { Some("name") };
        let mut listing = match r.ctx.client.list_fields(&abs, fields).await {
            Ok(l) => l,
            Err(e) if e.reason() == "not a directory" => {
                match r.ctx.client.stat(&abs).await {
                    Ok(info) => {
                        let mut info = info.value;
                        info.name = given.clone();
                        let line = entry_line(&a, &info);
                        r.out(line.as_bytes()).await?;
                    }
                    Err(e) => r.error(Some(given), &e).await,
                }
                continue;
            }
            Err(e) => {
                r.error(Some(given), &e).await;
                continue;
            }
        };
        if many {
            let sep = if i > 0 { "\n" } else { "" };
            r.out(format!("{sep}{given}:\n").as_bytes()).await?;
        }
        let in_columns = r.io.stdout_is_terminal && !a.long && !a.one;
        let mut names = Vec::new();
        while let Some(entry) = listing.next().await {
            let info = match entry {
                Ok(info) => info,
                Err(e) => {
                    r.error(Some(given), &e).await;
                    break;
                }
            };
            if !a.all && info.name.starts_with('.') {
                continue;
            }
            if in_columns {
                names.push(info.name);
            } else {
                r.out(entry_line(&a, &info).as_bytes()).await?;
            }
        }
        if in_columns {
            r.out(columns(&names, terminal_width()).as_bytes()).await?;
        }
    }
    Ok(())
}

/// `--json`: the server's listing answers, streamed through when there is one operand.
async fn ls_json(paths: &[String], r: &mut Runner<'_>) -> CmdResult {
    for given in paths {
        let abs = r.resolve(given);
        let mut body = match r.ctx.client.list_raw(&abs).await {
            Ok(b) => b,
            Err(e) => {
                r.error(Some(given), &e).await;
                continue;
            }
        };
        if paths.len() == 1 {
            while let Some(chunk) = body.next().await {
                r.out(&chunk?).await?;
            }
            r.out(b"\n").await?;
        } else {
            let mut all = Vec::new();
            while let Some(chunk) = body.next().await {
                all.extend_from_slice(&chunk?);
            }
            r.emit_json(all.into());
        }
    }
    Ok(())
}

/// One line of a listing: the name, or with `-l` the long form.
fn entry_line(a: &LsArgs, info: &FileInfo) -> String {
    if !a.long {
        return format!("{}\n", info.name);
    }
    let size = if a.human {
        human_size(info.size)
    } else {
        info.size.to_string()
    };
    let suffix = match info.link_target() {
        Some(t) if info.is_symlink() => format!(" -> {t}"),
        _ if info.is_dir => "/".to_string(),
        _ => String::new(),
    };
    format!(
        "{} {size:>10} {:>16} {}{suffix}\n",
        mode_string(info.mode, info.is_dir, info.is_symlink()),
        short_time(&info.mod_time),
        info.name
    )
}

/// `tree [-L N] [-a] [PATH]`
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// Descend at most this many levels.
    #[arg(short = 'L', value_name = "LEVEL")]
    level: Option<usize>,
    /// Show entries whose names start with `.`.
    #[arg(short = 'a')]
    all: bool,
    /// The tree's root (default: the current directory).
    path: Option<String>,
}

#[derive(Default)]
struct Counts {
    dirs: u64,
    files: u64,
}

/// Prints the tree under the operand, then the count of directories and files.
pub async fn tree(a: TreeArgs, r: &mut Runner<'_>) -> CmdResult {
    if r.ctx.json {
        return Err(Error::Invalid(
            "--json is not available for tree (use ls --json or du)".into(),
        ));
    }
    let given = a.path.clone().unwrap_or_else(|| ".".to_string());
    let root = r.resolve(&given);
    let entries = match r.ctx.client.list(&root).await {
        Ok(l) => l.collect().await,
        Err(e) => Err(e),
    };
    let entries = match entries {
        Ok(e) => e,
        Err(e) => {
            r.error(Some(&given), &e).await;
            return Ok(());
        }
    };
    r.out(format!("{given}\n").as_bytes()).await?;
    let mut counts = Counts::default();
    // (directory, entries, next index, prefix, depth)
    let mut stack: Vec<(String, Vec<FileInfo>, usize, String, usize)> =
        vec![(root, visible(entries, a.all), 0, String::new(), 1)];
    while let Some(top) = stack.last_mut() {
        let (dir, entries, next, prefix, depth) = top;
        let Some(info) = entries.get(*next).cloned() else {
            stack.pop();
            continue;
        };
        *next += 1;
        let last = *next == entries.len();
        let (dir, prefix, depth) = (dir.clone(), prefix.clone(), *depth);
        let branch = if last { "└── " } else { "├── " };
        let name = match info.link_target() {
            Some(t) if info.is_symlink() => format!("{} -> {t}", info.name),
            _ => info.name.clone(),
        };
        r.out(format!("{prefix}{branch}{name}\n").as_bytes())
            .await?;
        if !info.is_dir || info.is_symlink() {
            counts.files += 1;
            continue;
        }
        counts.dirs += 1;
        if a.level.is_some_and(|max| depth >= max) {
            continue;
        }
        let path = path::child(&dir, &info.name);
        let children = match r.ctx.client.list(&path).await {
            Ok(l) => l.collect().await,
            Err(e) => Err(e),
        };
        match children {
            Ok(c) => {
                let more = if last { "    " } else { "│   " };
                stack.push((
                    path,
                    visible(c, a.all),
                    0,
                    format!("{prefix}{more}"),
                    depth + 1,
                ));
            }
            Err(e) => r.error(Some(&path), &e).await,
        }
    }
    let word = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    r.out(
        format!(
            "\n{}, {}\n",
            word(counts.dirs, "directory", "directories"),
            word(counts.files, "file", "files")
        )
        .as_bytes(),
    )
    .await
}

fn visible(entries: Vec<FileInfo>, all: bool) -> Vec<FileInfo> {
    entries
        .into_iter()
        .filter(|e| all || !e.name.starts_with('.'))
        .collect()
}
