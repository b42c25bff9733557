//! Metadata and tree commands: `stat`, `mkdir`, `rm`, `mv`, `cp`, `touch`, `chmod`, `ln`,
//! `readlink`.

use clap::Args;

use super::{CmdResult, Runner};
use crate::client::FileInfo;
use crate::error::Error;
use crate::output::mode_string;
use crate::{path, transfer};

/// `stat PATH...`
#[derive(Debug, Args)]
pub struct StatArgs {
    /// Files or directories (a link is shown itself, not its target).
    #[arg(required = true)]
    paths: Vec<String>,
}

/// Shows each operand's metadata.
pub async fn stat(a: StatArgs, r: &mut Runner<'_>) -> CmdResult {
    for given in &a.paths {
        let abs = r.resolve(given);
        match r.ctx.client.stat(&abs).await {
            Ok(reply) if r.ctx.json => r.emit_json(reply.raw),
            Ok(reply) => r.out(stat_text(given, &reply.value).as_bytes()).await?,
            Err(e) => r.error(Some(given), &e).await,
        }
    }
    Ok(())
}

/// The human form of a `stat`.
fn stat_text(given: &str, i: &FileInfo) -> String {
    let kind = if i.is_symlink() {
        "symbolic link"
    } else if i.is_dir {
        "directory"
    } else if i.meta.kind.is_empty() || i.meta.kind == "file" {
        "file"
    } else {
        &i.meta.kind
    };
    let name = match i.link_target() {
        Some(t) if i.is_symlink() => format!("{given} -> {t}"),
        _ => given.to_string(),
    };
    let mut s = format!(
        "  File: {name}\n  Size: {}\n  Type: {kind}\n  Mode: {:04o} ({})\nModify: {}\n",
        i.size,
        i.mode & 0o7777,
        mode_string(i.mode, i.is_dir, i.is_symlink()),
        i.mod_time
    );
    if !i.meta.name.is_empty() {
        s.push_str(&format!("Plugin: {}\n", i.meta.name));
    }
    if let Some(content) = i.meta.content.as_ref().filter(|c| !c.is_empty()) {
        let pairs: Vec<String> = content
            .iter()
            .filter(|(k, _)| !(i.is_symlink() && k.as_str() == "target"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !pairs.is_empty() {
            s.push_str(&format!("  Info: {}\n", pairs.join(" ")));
        }
    }
    s
}

/// `mkdir [-p] [-m MODE] PATH...`
#[derive(Debug, Args)]
pub struct MkdirArgs {
    /// Make missing parents too, and accept a directory that exists.
    #[arg(short = 'p', long = "parents")]
    parents: bool,
    /// Permission bits of the new directories, octal (default 755).
    #[arg(short = 'm', long = "mode", value_parser = parse_mode)]
    mode: Option<u32>,
    /// Directories to make.
    #[arg(required = true)]
    paths: Vec<String>,
}

/// Makes each directory; with `-p` one request in the common case, and parents only on a 404.
pub async fn mkdir(a: MkdirArgs, r: &mut Runner<'_>) -> CmdResult {
    for given in &a.paths {
        let abs = r.resolve(given);
        let result = if a.parents {
            mkdir_parents(r, &abs, a.mode).await
        } else {
            r.ctx.client.mkdir(&abs, a.mode).await.map(|x| Some(x.raw))
        };
        match result {
            Ok(Some(raw)) if r.ctx.json => r.emit_json(raw),
            Ok(_) => {}
            Err(e) => r.error(Some(given), &e).await,
        }
    }
    Ok(())
}

/// `mkdir -p`: the directory, then its missing ancestors on a 404 (upwards), then back down.
async fn mkdir_parents(
    r: &mut Runner<'_>,
    abs: &str,
    mode: Option<u32>,
) -> Result<Option<bytes::Bytes>, Error> {
    let client = &r.ctx.client;
    let mut missing = vec![abs.to_string()];
    let mut answer = None;
    while let Some(dir) = missing.last().cloned() {
        match client.mkdir(&dir, mode).await {
            Ok(reply) => {
                missing.pop();
                answer = Some(reply.raw);
            }
            Err(e) if e.status() == Some(409) => match client.stat(&dir).await {
                Ok(i) if i.value.is_dir => {
                    missing.pop();
                }
                _ => return Err(e),
            },
            Err(e) if e.is_not_found() && dir != "/" => {
                let parent = path::parent(&dir).to_string();
                if parent == dir || missing.len() > 4096 {
                    return Err(e);
                }
                missing.push(parent);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(answer)
}

/// `rm [-r] [-f] PATH...`
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Remove directories and everything below them.
    #[arg(short = 'r', short_alias = 'R', long = "recursive")]
    recursive: bool,
    /// Ignore operands that do not exist; never fail for them.
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// Files or directories to remove (a link is removed, not its target).
    #[arg(required_unless_present = "force")]
    paths: Vec<String>,
}

/// Removes each operand; without `-r` a directory is refused, as `rm` does.
pub async fn rm(a: RmArgs, r: &mut Runner<'_>) -> CmdResult {
    for given in &a.paths {
        let abs = r.resolve(given);
        if !a.recursive {
            match r.ctx.client.stat(&abs).await {
                Ok(i) if i.value.is_dir && !i.value.is_symlink() => {
                    r.error(Some(given), &Error::Invalid("is a directory".into()))
                        .await;
                    continue;
                }
                Ok(_) => {}
                Err(e) if a.force && e.is_not_found() => continue,
                Err(e) => {
                    r.error(Some(given), &e).await;
                    continue;
                }
            }
        }
        match r.ctx.client.remove(&abs, a.recursive).await {
            Ok(reply) if r.ctx.json => r.emit_json(reply.raw),
            Ok(_) => {}
            Err(e) if a.force && e.is_not_found() => {}
            Err(e) => r.error(Some(given), &e).await,
        }
    }
    Ok(())
}

/// `mv SOURCE... DEST`
#[derive(Debug, Args)]
pub struct MvArgs {
    /// What to move, then where: a new name, or an existing directory to move into.
    #[arg(required = true, num_args = 2.., value_name = "PATH")]
    paths: Vec<String>,
}

/// The operands of `mv`/`cp` (sources, then the destination) as (given, source, target): into the
/// destination when it is a directory, else onto it. `None` (after saying so) when several
/// sources go to something that is not a directory.
async fn sources_and_targets(
    paths: &[String],
    r: &mut Runner<'_>,
) -> Option<Vec<(String, String, String)>> {
    let (dest_given, sources) = paths.split_last().expect("clap requires two");
    let dest = r.resolve(dest_given);
    let dest_is_dir = matches!(r.ctx.client.stat(&dest).await, Ok(i) if i.value.is_dir);
    if sources.len() > 1 && !dest_is_dir {
        r.error(Some(dest_given), &Error::Invalid("not a directory".into()))
            .await;
        return None;
    }
    Some(
        sources
            .iter()
            .map(|given| {
                let src = r.resolve(given);
                let to = if dest_is_dir {
                    path::child(&dest, path::basename(&src))
                } else {
                    dest.clone()
                };
                (given.clone(), src, to)
            })
            .collect(),
    )
}

/// Renames on the server; across mounts, copies then removes the source.
pub async fn mv(a: MvArgs, r: &mut Runner<'_>) -> CmdResult {
    let Some(pairs) = sources_and_targets(&a.paths, r).await else {
        return Ok(());
    };
    for (given, src, to) in pairs {
        let given = &given;
        let result = match r.ctx.client.rename(&src, &to).await {
            Err(e) if e.status() == Some(400) && e.reason().contains("across different mounts") => {
                let is_dir = match r.ctx.client.stat(&src).await {
                    Ok(i) => i.value.is_dir && !i.value.is_symlink(),
                    Err(e) => {
                        r.error(Some(given), &e).await;
                        continue;
                    }
                };
                transfer::move_across(&r.ctx.client, &src, &to, is_dir)
                    .await
                    .map(|()| None)
            }
            other => other.map(|reply| Some(reply.raw)),
        };
        match result {
            Ok(Some(raw)) if r.ctx.json => r.emit_json(raw),
            Ok(_) => {}
            Err(e) => r.error(Some(given), &e).await,
        }
    }
    Ok(())
}

/// `cp [-r] SOURCE... DEST`
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Copy directories and everything below them.
    #[arg(short = 'r', short_alias = 'R', long = "recursive")]
    recursive: bool,
    /// What to copy, then where: a file name, or an existing directory to copy into. Paths are
    /// remote; `local:PATH` names a local one (then the copy is an upload or a download).
    #[arg(required = true, num_args = 2.., value_name = "PATH")]
    paths: Vec<String>,
    /// How local transfers run (remote-to-remote copies ignore these).
    #[command(flatten)]
    flags: super::transfer::TransferFlags,
}

/// Copies remote files and trees, streaming each file from its read into its write; with a
/// `local:` operand, uploads or downloads instead.
pub async fn cp(a: CpArgs, r: &mut Runner<'_>) -> CmdResult {
    if super::transfer::any_local(&a.paths) {
        return super::transfer::cp_local(r, &a.paths, a.recursive, &a.flags).await;
    }
    let Some(pairs) = sources_and_targets(&a.paths, r).await else {
        return Ok(());
    };
    for (given, src, to) in pairs {
        let given = &given;
        let info = match r.ctx.client.stat(&src).await {
            Ok(i) => i.value,
            Err(e) => {
                r.error(Some(given), &e).await;
                continue;
            }
        };
        if info.is_dir && !a.recursive {
            let why = Error::Invalid("is a directory (use -r to copy it)".into());
            r.error(Some(given), &why).await;
            continue;
        }
        if info.is_dir {
            if to == src || to.starts_with(&format!("{src}/")) {
                let why = Error::Invalid("cannot copy a directory into itself".into());
                r.error(Some(given), &why).await;
                continue;
            }
            match transfer::copy_tree(&r.ctx.client, &src, &to).await {
                Ok(report) => {
                    for (p, e) in &report.failed {
                        r.error(Some(p), e).await;
                    }
                }
                Err(e) => r.error(Some(given), &e).await,
            }
        } else if let Err(e) = transfer::copy_file(&r.ctx.client, &src, &to).await {
            r.error(Some(given), &e).await;
        }
    }
    Ok(())
}

/// `touch PATH...`
#[derive(Debug, Args)]
pub struct TouchArgs {
    /// Files to create or to mark modified now.
    #[arg(required = true)]
    paths: Vec<String>,
}

/// Touches each operand.
pub async fn touch(a: TouchArgs, r: &mut Runner<'_>) -> CmdResult {
    for given in &a.paths {
        let abs = r.resolve(given);
        match r.ctx.client.touch(&abs).await {
            Ok(reply) if r.ctx.json => r.emit_json(reply.raw),
            Ok(_) => {}
            Err(e) => r.error(Some(given), &e).await,
        }
    }
    Ok(())
}

/// `chmod MODE PATH...`
#[derive(Debug, Args)]
pub struct ChmodArgs {
    /// The permission bits in octal, e.g. 644 or 0755.
    #[arg(value_parser = parse_mode)]
    mode: u32,
    /// Files or directories.
    #[arg(required = true)]
    paths: Vec<String>,
}

/// Sets the mode of each operand.
pub async fn chmod(a: ChmodArgs, r: &mut Runner<'_>) -> CmdResult {
    for given in &a.paths {
        let abs = r.resolve(given);
        match r.ctx.client.chmod(&abs, a.mode).await {
            Ok(reply) if r.ctx.json => r.emit_json(reply.raw),
            Ok(_) => {}
            Err(e) => r.error(Some(given), &e).await,
        }
    }
    Ok(())
}

/// An octal mode, at most `7777`.
fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("invalid mode '{s}': give octal permission bits, e.g. 644"))
}

/// `ln -s TARGET LINK`
#[derive(Debug, Args)]
pub struct LnArgs {
    /// Make a symbolic link (the only kind the server has; required).
    #[arg(short = 's', long = "symbolic")]
    symbolic: bool,
    /// What the link points at, kept as given (a relative target starts at the link's directory).
    target: String,
    /// The link to make.
    link: String,
}

/// Makes a symbolic link.
pub async fn ln(a: LnArgs, r: &mut Runner<'_>) -> CmdResult {
    if !a.symbolic {
        r.fail("hard links are not supported: use ln -s TARGET LINK")
            .await;
        return Ok(());
    }
    let link = r.resolve(&a.link);
    match r.ctx.client.symlink(&a.target, &link).await {
        Ok(reply) if r.ctx.json => r.emit_json(reply.raw),
        Ok(_) => {}
        Err(e) => r.error(Some(&a.link), &e).await,
    }
    Ok(())
}

/// `readlink PATH...`
#[derive(Debug, Args)]
pub struct ReadlinkArgs {
    /// Symbolic links.
    #[arg(required = true)]
    paths: Vec<String>,
}

/// Prints each link's target as it was given.
pub async fn readlink(a: ReadlinkArgs, r: &mut Runner<'_>) -> CmdResult {
    for given in &a.paths {
        let abs = r.resolve(given);
        match r.ctx.client.readlink(&abs).await {
            Ok(reply) if r.ctx.json => r.emit_json(reply.raw),
            Ok(reply) => {
                let target = reply.value["target"].as_str().unwrap_or_default();
                r.out(format!("{target}\n").as_bytes()).await?;
            }
            Err(e) => r.error(Some(given), &e).await,
        }
    }
    Ok(())
}
