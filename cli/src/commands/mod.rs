//! The commands: one clap `Args` struct and one `run` function per command, dispatched from
//! [`Command`], and [`run`], the entry the binary and the shell share.

use clap::{Parser, Subcommand};
use tokio::io::AsyncWriteExt;

use crate::context::{Context, Io};
use crate::error::Error;

pub mod admin;
pub mod cat;
pub mod files;
pub mod grep;
pub mod ls;
pub mod tail;
pub mod transfer;
pub mod write;

/// Exit code of a command that did what it was asked.
pub const EXIT_OK: i32 = 0;
/// Exit code of a command whose operation failed (not found, refused, unreachable server).
pub const EXIT_FAILED: i32 = 1;
/// Exit code of a command line clap refused (unknown flag, missing operand).
pub const EXIT_USAGE: i32 = 2;
/// Exit code when standard output closed under the command (`pfs cat big | head`), as a shell
/// reports a process killed by `SIGPIPE`.
pub const EXIT_BROKEN_PIPE: i32 = 141;

/// Every remote command, as the `pfs` binary and the shell's builtins take them.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List directory contents.
    Ls(ls::LsArgs),
    /// List a directory tree.
    Tree(ls::TreeArgs),
    /// Print files (streams them; `--stream` follows a live stream).
    Cat(cat::CatArgs),
    /// Print the first lines or bytes of files.
    Head(cat::HeadArgs),
    /// Print the last lines or bytes of a file; `-f` follows it.
    Tail(tail::TailArgs),
    /// Write data to a file: the arguments, a local file (`-i`), or standard input.
    Write(write::WriteArgs),
    /// Upload standard input or a local file to a remote file (`put SOURCE DEST`).
    Put(write::PutArgs),
    /// Show a file's metadata.
    Stat(files::StatArgs),
    /// Make directories.
    Mkdir(files::MkdirArgs),
    /// Remove files or directories.
    Rm(files::RmArgs),
    /// Move or rename a file or directory.
    Mv(files::MvArgs),
    /// Copy files or trees: remote to remote, or between local (`local:PATH`) and remote.
    Cp(files::CpArgs),
    /// Upload local files or trees (in pieces when big; the target stays as it was on failure).
    Upload(transfer::UploadArgs),
    /// Download remote files or trees (ranged pieces in parallel, verified, resumable).
    Download(transfer::DownloadArgs),
    /// Download a URL or remote file to a local file (`get URL -o FILE`).
    Get(transfer::GetArgs),
    /// Create files or update their modification time.
    Touch(files::TouchArgs),
    /// Change permission bits (octal mode).
    Chmod(files::ChmodArgs),
    /// Make a symbolic link (`ln -s TARGET LINK`).
    Ln(files::LnArgs),
    /// Print a symbolic link's target.
    Readlink(files::ReadlinkArgs),
    /// Search files for a regular expression (on the server).
    Grep(grep::GrepArgs),
    /// Print files' checksums (computed by the server).
    Digest(grep::DigestArgs),
    /// Show disk usage of files and trees.
    Du(grep::DuArgs),
    /// List mounts.
    Mounts(admin::MountsArgs),
    /// Mount a plugin: `mount FSTYPE PATH [key=value...]`.
    Mount(admin::MountArgs),
    /// Unmount the plugin at a path.
    Unmount(admin::UnmountArgs),
    /// List plugins, or load and unload external ones.
    Plugins(admin::PluginsArgs),
    /// Show the server's health.
    Health(admin::HealthArgs),
    /// Show or reload the server's running configuration.
    Config(admin::ConfigArgs),
}

/// The parser of one builtin line, `argv[0]` naming the command (clap's multicall mode).
#[derive(Debug, Parser)]
#[command(multicall = true)]
struct Builtin {
    #[command(subcommand)]
    command: Command,
}

/// Whether `name` is one of the commands of [`Command`] (for the shell's lookup and completion).
pub fn is_command(name: &str) -> bool {
    command_names().any(|n| n == name)
}

/// The names of every command of [`Command`].
pub fn command_names() -> impl Iterator<Item = String> {
    use clap::CommandFactory;
    Builtin::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect::<Vec<_>>()
        .into_iter()
}

/// Parses `argv` (`argv[0]` is the command's name, e.g. `["ls", "-l", "/memfs"]`) and runs it.
///
/// Returns the exit code: [`EXIT_OK`], [`EXIT_FAILED`] when an operation failed (each failure
/// printed to `io.stderr` as `pfs: <command>: <path>: <reason>`), [`EXIT_USAGE`] for a command
/// line clap refused (its message on `io.stderr`; `--help` prints to `io.stdout` and is 0), and
/// [`EXIT_BROKEN_PIPE`] when `io.stdout` closed. Standard output is flushed before returning.
pub async fn run(ctx: &mut Context, argv: &[String], io: &mut Io) -> i32 {
    let parsed = Builtin::try_parse_from(argv);
    match parsed {
        Ok(b) => execute(ctx, b.command, io).await,
        Err(e) => usage_error(e, io).await,
    }
}

/// Prints a clap error (or help) to the right stream and gives its exit code.
pub(crate) async fn usage_error(e: clap::Error, io: &mut Io) -> i32 {
    let text = e.render().to_string();
    let code = e.exit_code();
    let out = if code == 0 {
        &mut io.stdout
    } else {
        &mut io.stderr
    };
    let _ = out.write_all(text.as_bytes()).await;
    let _ = out.flush().await;
    code
}

/// Runs a parsed command; see [`run`] for the exit codes.
pub async fn execute(ctx: &mut Context, command: Command, io: &mut Io) -> i32 {
    let name = command_name(&command);
    let mut r = Runner {
        ctx,
        io,
        name,
        status: EXIT_OK,
        json_docs: Vec::new(),
    };
    let result = match command {
        Command::Ls(a) => ls::ls(a, &mut r).await,
        Command::Tree(a) => ls::tree(a, &mut r).await,
        Command::Cat(a) => cat::cat(a, &mut r).await,
        Command::Head(a) => cat::head(a, &mut r).await,
        Command::Tail(a) => tail::tail(a, &mut r).await,
        Command::Write(a) => write::write(a, &mut r).await,
        Command::Put(a) => write::put(a, &mut r).await,
        Command::Stat(a) => files::stat(a, &mut r).await,
        Command::Mkdir(a) => files::mkdir(a, &mut r).await,
        Command::Rm(a) => files::rm(a, &mut r).await,
        Command::Mv(a) => files::mv(a, &mut r).await,
        Command::Cp(a) => files::cp(a, &mut r).await,
        Command::Upload(a) => transfer::upload(a, &mut r).await,
        Command::Download(a) => transfer::download(a, &mut r).await,
        Command::Get(a) => transfer::get(a, &mut r).await,
        Command::Touch(a) => files::touch(a, &mut r).await,
        Command::Chmod(a) => files::chmod(a, &mut r).await,
        Command::Ln(a) => files::ln(a, &mut r).await,
        Command::Readlink(a) => files::readlink(a, &mut r).await,
        Command::Grep(a) => grep::grep(a, &mut r).await,
        Command::Digest(a) => grep::digest(a, &mut r).await,
        Command::Du(a) => grep::du(a, &mut r).await,
        Command::Mounts(a) => admin::mounts(a, &mut r).await,
        Command::Mount(a) => admin::mount(a, &mut r).await,
        Command::Unmount(a) => admin::unmount(a, &mut r).await,
        Command::Plugins(a) => admin::plugins(a, &mut r).await,
        Command::Health(a) => admin::health(a, &mut r).await,
        Command::Config(a) => admin::config(a, &mut r).await,
    };
    let docs = std::mem::take(&mut r.json_docs);
    let printed = match docs.len() {
        0 => Ok(()),
        1 => r.json(&docs[0]).await,
        _ => {
            let joined: Vec<&[u8]> = docs.iter().map(|d| d.trim_ascii()).collect();
            let mut all = b"[".to_vec();
            all.extend(joined.join(&b","[..]));
            all.push(b']');
            r.json(&all).await
        }
    };
    let flushed = r.io.stdout.flush().await.map_err(Error::Io);
    match result.and(printed).and(flushed) {
        Ok(()) => r.status,
        Err(e) if e.is_broken_pipe() => EXIT_BROKEN_PIPE,
        Err(e) => {
            r.error(None, &e).await;
            r.status
        }
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Ls(_) => "ls",
        Command::Tree(_) => "tree",
        Command::Cat(_) => "cat",
        Command::Head(_) => "head",
        Command::Tail(_) => "tail",
        Command::Write(_) => "write",
        Command::Put(_) => "put",
        Command::Stat(_) => "stat",
        Command::Mkdir(_) => "mkdir",
        Command::Rm(_) => "rm",
        Command::Mv(_) => "mv",
        Command::Cp(_) => "cp",
        Command::Upload(_) => "upload",
        Command::Download(_) => "download",
        Command::Get(_) => "get",
        Command::Touch(_) => "touch",
        Command::Chmod(_) => "chmod",
        Command::Ln(_) => "ln",
        Command::Readlink(_) => "readlink",
        Command::Grep(_) => "grep",
        Command::Digest(_) => "digest",
        Command::Du(_) => "du",
        Command::Mounts(_) => "mounts",
        Command::Mount(_) => "mount",
        Command::Unmount(_) => "unmount",
        Command::Plugins(_) => "plugins",
        Command::Health(_) => "health",
        Command::Config(_) => "config",
    }
}

/// One running command: its context and streams, its name for error lines, and its exit status.
pub struct Runner<'a> {
    /// The shared context.
    pub ctx: &'a mut Context,
    /// The command's streams.
    pub io: &'a mut Io,
    /// The command's name, first word of its error lines.
    pub name: &'static str,
    /// The exit status so far.
    pub status: i32,
    /// JSON answers to print when the command ends (`--json`): one as it is, several as an array.
    json_docs: Vec<bytes::Bytes>,
}

impl std::fmt::Debug for Runner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("name", &self.name)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Runner<'_> {
    /// Prints `pfs: <command>: <path>: <reason>` (no path part when `path` is `None`) and marks the
    /// command failed. A broken output pipe is not printed.
    pub async fn error(&mut self, path: Option<&str>, e: &Error) {
        if e.is_broken_pipe() {
            self.status = EXIT_BROKEN_PIPE;
            return;
        }
        // What was printed before the failure shows before its error line.
        let _ = self.io.stdout.flush().await;
        let line = match path {
            Some(p) => format!("pfs: {}: {p}: {}", self.name, e.reason()),
            None => format!("pfs: {}: {}", self.name, e.reason()),
        };
        self.io.error_line(&line).await;
        if self.status == EXIT_OK {
            self.status = EXIT_FAILED;
        }
    }

    /// Prints `pfs: <command>: <message>` and marks the command failed.
    pub async fn fail(&mut self, message: &str) {
        let _ = self.io.stdout.flush().await;
        self.io
            .error_line(&format!("pfs: {}: {message}", self.name))
            .await;
        if self.status == EXIT_OK {
            self.status = EXIT_FAILED;
        }
    }

    /// The absolute form of a path operand.
    pub fn resolve(&self, path: &str) -> String {
        self.ctx.resolve(path)
    }

    /// Writes bytes to standard output.
    ///
    /// # Errors
    /// Errors of the output stream (`BrokenPipe` when its reader left).
    pub async fn out(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.io.stdout.write_all(bytes).await.map_err(Error::Io)
    }

    /// Keeps a JSON answer to print when the command ends: the command's one document, or with
    /// several operands an array of them in order.
    pub fn emit_json(&mut self, raw: bytes::Bytes) {
        self.json_docs.push(raw);
    }

    /// Writes a JSON answer as the server sent it, with a final newline.
    ///
    /// # Errors
    /// Errors of the output stream.
    pub async fn json(&mut self, raw: &[u8]) -> Result<(), Error> {
        crate::output::write_json(&mut self.io.stdout, raw)
            .await
            .map_err(Error::Io)
    }
}

/// The result of a command body: `Err` is printed without a path.
pub type CmdResult = Result<(), Error>;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_line_definition_is_valid() {
        Builtin::command().debug_assert();
        crate::app::Cli::command().debug_assert();
    }

    #[test]
    fn command_names_match_the_dispatch_names() {
        let names: Vec<String> = command_names().collect();
        assert!(names.len() >= 25, "{names:?}");
        assert!(is_command("ls") && is_command("config") && !is_command("sh"));
    }
}
