//! `pfs sh`: a bash-like shell whose commands are the pfs commands, whose paths (globs,
//! redirections, `cd`) are remote, and whose pipelines also run local programs.
//!
//! Parsing is brush-parser's (bash's grammar); this module expands words ([`expand`](self)),
//! runs the syntax tree (`exec`), pipelines and local programs (`pipeline`), the shell's own
//! builtins (`builtins`), and the terminal side: prompt, history, completion (`interactive`,
//! `complete`). See `docs/decisions/0027-cli-shell.md`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use brush_parser::ast;
use clap::Args;

use crate::context::{Context, Io};

mod arith;
mod builtins;
mod complete;
mod exec;
mod expand;
mod glob;
mod interactive;
mod parse;
mod pipeline;
mod redirect;
mod streams;

use parse::{Parsed, Reader};
use streams::{Shared, Streams, Terminal};

/// `pfs sh [-v] [-c COMMANDS | SCRIPT] [ARGS...]`
#[derive(Debug, Args)]
#[command(
    after_help = "Without -c or SCRIPT, and with a terminal, an interactive shell at the prompt \
                  pfs:/>.\nNames resolve to shell functions, then the pfs commands, then the shell's \
                  builtins, then local programs on PATH (`command NAME` or `\\NAME` forces a local \
                  program)."
)]
pub struct ShArgs {
    /// Run COMMANDS (then $0 and $1... are the ARGS).
    #[arg(short = 'c', value_name = "COMMANDS")]
    command: Option<String>,
    /// Print each command, after the prompt, before running it (a transcript of a script).
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// Stop at the first command that fails (as `set -e`).
    #[arg(short = 'e')]
    errexit: bool,
    /// A script file (lines as typed at the prompt; a `#!` first line is a comment), then its
    /// arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "SCRIPT ARGS"
    )]
    args: Vec<String>,
}

/// Why a list stops early: `break`, `continue`, `return` or `exit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Break(u32),
    Continue(u32),
    Return,
    Exit(i32),
}

/// The shell's state. Pipeline stages and `( ... )` run in a clone of it (a subshell), so their
/// `cd` and variables do not leak out, as in bash.
#[derive(Debug, Clone)]
pub(crate) struct Shell {
    /// The client and the current remote directory.
    pub(crate) ctx: Context,
    /// Shell variables (the process environment is imported at start, exported).
    pub(crate) vars: HashMap<String, String>,
    /// The names of variables local programs see.
    pub(crate) exported: HashSet<String>,
    /// Functions by name.
    pub(crate) funcs: HashMap<String, Arc<ast::FunctionDefinition>>,
    /// `$0`.
    pub(crate) name: String,
    /// `$1`...
    pub(crate) args: Vec<String>,
    /// `$?`.
    pub(crate) status: i32,
    /// The directory before the last `cd` (`cd -`).
    pub(crate) oldpwd: Option<String>,
    /// The shell's own output streams.
    pub(crate) term: Terminal,
    /// Set by `break`, `continue`, `return`, `exit` until the construct they leave handles it.
    pub(crate) flow: Option<Flow>,
    /// `set -e`.
    pub(crate) errexit: bool,
    /// Depth of conditions being evaluated (`if`, `while`, `&&` left sides), where `-e` is off.
    pub(crate) in_condition: u32,
    /// Whether the shell reads a terminal (Ctrl-C returns to the prompt).
    pub(crate) interactive: bool,
    /// The status of the last `$(...)` of the command being expanded (`X=$(false)` sets `$?`).
    pub(crate) substitution_status: Option<i32>,
}

impl Shell {
    /// A shell over `ctx`, writing to `io`'s output streams.
    pub(crate) fn new(ctx: Context, io: &mut Io) -> Self {
        let stdout = std::mem::replace(&mut io.stdout, Box::new(tokio::io::sink()));
        let stderr = std::mem::replace(&mut io.stderr, Box::new(tokio::io::sink()));
        let vars: HashMap<String, String> = std::env::vars().collect();
        let exported = vars.keys().cloned().collect();
        Shell {
            ctx,
            vars,
            exported,
            funcs: HashMap::new(),
            name: "pfs".to_string(),
            args: Vec::new(),
            status: 0,
            oldpwd: None,
            term: Terminal {
                stdout: Shared::new(stdout),
                stderr: Shared::new(stderr),
                stdout_is_terminal: io.stdout_is_terminal,
            },
            flow: None,
            errexit: false,
            in_condition: 0,
            interactive: false,
            substitution_status: None,
        }
    }

    /// Writes `pfs: MESSAGE` to the shell's standard error.
    pub(crate) async fn complain(&self, message: &str) {
        use tokio::io::AsyncWriteExt;
        self.term.flush().await;
        let mut err = self.term.stderr.clone();
        let _ = err.write_all(format!("pfs: {message}\n").as_bytes()).await;
        let _ = err.flush().await;
    }

    /// The prompt: `pfs:/memfs> `.
    pub(crate) fn prompt(&self) -> String {
        format!("pfs:{}> ", self.ctx.cwd)
    }

    /// Runs one parsed program with the shell's own streams; returns `$?`.
    pub(crate) async fn run_program(&mut self, program: &ast::Program) -> i32 {
        for command in &program.complete_commands {
            let status = self.exec_list(command, Streams::inherit()).await;
            self.status = status;
            if self.flow.is_some() {
                break;
            }
        }
        self.status
    }

    /// Runs text (a script, `-c`): command by command as the lines complete, each echoed first
    /// after the prompt with `verbose`. Stops at `exit`; a syntax error is reported and skipped
    /// in a script as at the prompt.
    pub(crate) async fn run_text(&mut self, text: &str, verbose: bool) -> i32 {
        let mut reader = Reader::default();
        for line in text.lines() {
            let Some((source, parsed)) = reader.push(line) else {
                continue;
            };
            if verbose {
                self.echo_source(&source, &parsed).await;
            }
            match parsed {
                Parsed::Program(p) => {
                    self.run_program(&p).await;
                }
                Parsed::Error(e) => {
                    self.complain(&format!("syntax error: {e}")).await;
                    self.status = 2;
                }
                Parsed::Incomplete => {}
            }
            if let Some(Flow::Exit(code)) = self.flow {
                return code;
            }
            self.flow = None;
        }
        if let Some(rest) = reader.finish() {
            if verbose {
                self.echo_source(&rest, &Parsed::Incomplete).await;
            }
            self.complain("syntax error: unexpected end of input").await;
            self.status = 2;
        }
        self.status
    }

    /// `-v`: the command as typed after the prompt (comments and blank lines as they are).
    async fn echo_source(&self, source: &str, parsed: &Parsed) {
        use tokio::io::AsyncWriteExt;
        let empty = matches!(parsed, Parsed::Program(p) if p.complete_commands.is_empty());
        let mut text = String::new();
        let prompt = self.prompt();
        for (i, line) in source.lines().enumerate() {
            if !empty {
                text.push_str(if i == 0 { &prompt } else { "> " });
            }
            text.push_str(line);
            text.push('\n');
        }
        self.term.end_line().await;
        let mut err = self.term.stderr.clone();
        let _ = err.write_all(text.as_bytes()).await;
        let _ = err.flush().await;
    }
}

/// Runs `pfs sh` with `ctx` (the server and options of the command line) and `io` (the
/// process's streams); returns the exit code: the last command's status, or `exit`'s.
pub async fn run(ctx: Context, args: ShArgs, io: &mut Io) -> i32 {
    use std::io::IsTerminal;
    let mut shell = Shell::new(ctx, io);
    shell.errexit = args.errexit;
    let mut rest = args.args.into_iter();
    let code = if let Some(text) = args.command {
        if let Some(name) = rest.next() {
            shell.name = name;
        }
        shell.args = rest.collect();
        shell.run_text(&text, args.verbose).await
    } else if let Some(script) = rest.next() {
        shell.args = rest.collect();
        let text = match tokio::fs::read_to_string(&script).await {
            Ok(t) => t,
            Err(e) => {
                shell
                    .complain(&format!("{script}: {}", io_reason(&e)))
                    .await;
                return 127;
            }
        };
        shell.name = script;
        shell.run_text(&text, args.verbose).await
    } else if std::io::stdin().is_terminal() {
        interactive::run(&mut shell).await
    } else {
        let mut text = String::new();
        if let Err(e) =
            tokio::io::AsyncReadExt::read_to_string(&mut tokio::io::stdin(), &mut text).await
        {
            shell
                .complain(&format!("standard input: {}", io_reason(&e)))
                .await;
            return 1;
        }
        shell.run_text(&text, args.verbose).await
    };
    shell.term.flush().await;
    code
}

/// A local I/O error in coreutils' words.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "not found".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}
