//! The `pfs` binary's command line: global options (`--server`, `--json`), every command of
//! [`Command`], and `completions`.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use tokio::io::AsyncWriteExt;

use crate::client::{Client, server_from_env};
use crate::commands::{self, Command, EXIT_FAILED};
use crate::context::{Context, Io};

/// `pfs [--server URL] [--json] COMMAND [ARGS...]`
#[derive(Debug, Parser)]
#[command(
    name = "pfs",
    version,
    about = "Command-line client of a pfs (or AGFS) server",
    after_help = "The server is --server, else $PFS_URL, else $AGFS_API_URL, else http://127.0.0.1:8080.\n\
                  Exit codes: 0 ok, 1 an operation failed, 2 usage error (grep: 1 no match, 2 error)."
)]
pub struct Cli {
    /// The server's URL (`http://host:port`, with or without `/api/v1`).
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Print the server's JSON answers (one JSON document per command) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: TopCommand,
}

/// The binary's commands: the remote ones, and those only the binary has.
#[derive(Debug, Subcommand)]
pub enum TopCommand {
    /// A remote command.
    #[command(flatten)]
    Remote(Command),
    /// The pfs shell: interactive at the `pfs:/>` prompt, or a script (`pfs sh FILE`, `-c`).
    Sh(crate::shell::ShArgs),
    /// Print a completion script for a shell (`source <(pfs completions bash)`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Runs the binary's command line `args` (`args[0]` is the program name) with `io`; returns the
/// exit code.
pub async fn run_args(args: Vec<String>, io: &mut Io) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return commands::usage_error(e, io).await,
    };
    let (command, sh) = match cli.command {
        TopCommand::Remote(c) => (Some(c), None),
        TopCommand::Sh(a) => (None, Some(a)),
        TopCommand::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "pfs", &mut script);
            let written = async {
                io.stdout.write_all(&script).await?;
                io.stdout.flush().await
            };
            return match written.await {
                Ok(()) => 0,
                Err(_) => EXIT_FAILED,
            };
        }
    };
    let server = server_from_env(cli.server.as_deref());
    let client = match Client::new(&server) {
        Ok(c) => c,
        Err(e) => {
            io.error_line(&format!("pfs: {}", e.reason())).await;
            return EXIT_FAILED;
        }
    };
    let mut ctx = Context::new(client);
    ctx.json = cli.json;
    match (command, sh) {
        (Some(command), _) => commands::execute(&mut ctx, command, io).await,
        (None, Some(sh)) => crate::shell::run(ctx, sh, io).await,
        (None, None) => EXIT_FAILED,
    }
}

/// The binary's `main`: a small runtime, the process's standard streams, the exit code.
///
/// One thread: a command's future, the HTTP connections it drives and its pieces all run there,
/// so a received chunk reaches the writer without a wake-up across threads (on two worker
/// threads a 512 MiB `cat` made 4,000 futex calls and ran at 0.63x curl's speed). Blocking work
/// (files, standard streams) still goes to tokio's blocking pool.
pub fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pfs: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED as u8);
        }
    };
    let code = runtime.block_on(async {
        let mut io = Io::stdio();
        run_args(std::env::args().collect(), &mut io).await
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
