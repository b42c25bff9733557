//! Pipelines, simple commands and redirections: how a name resolves (function, pfs command,
//! shell builtin, local program), how stages are joined by OS pipes, and how `>`, `>>`, `<`,
//! `<<<`, `<<` and `2>&1` connect a command to remote files.

use std::path::PathBuf;
use std::sync::Arc;

use brush_parser::ast;
use clap::Parser;
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;
use tokio::io::AsyncWriteExt;

use super::streams::{self, In, Out, Streams};
use super::{Shell, io_reason};
use crate::commands::{self, Command};

/// One command line of the pfs commands (clap's multicall: `argv[0]` names it).
#[derive(Debug, Parser)]
#[command(multicall = true)]
struct Line {
    #[command(subcommand)]
    command: Command,
}

/// Transfers that run beside a command: a remote file feeding its input, its output going to a
/// remote file, a here-document.
pub(crate) struct Pumps {
    futures: Vec<LocalBoxFuture<'static, Result<(), String>>>,
    stderr: streams::Shared,
}

impl Pumps {
    /// No transfers yet; failures will be printed to `stderr`.
    pub(crate) fn new(stderr: streams::Shared) -> Self {
        Pumps {
            futures: Vec::new(),
            stderr,
        }
    }

    /// Adds a transfer.
    pub(crate) fn push(&mut self, f: LocalBoxFuture<'static, Result<(), String>>) {
        self.futures.push(f);
    }

    /// Runs the transfers to their end; `Some(1)` when one failed (its error printed).
    pub(crate) async fn run(self) -> Option<i32> {
        let results = futures_util::future::join_all(self.futures).await;
        let mut failed = None;
        for r in results {
            if let Err(e) = r {
                let mut err = self.stderr.clone();
                let _ = err.write_all(format!("pfs: {e}\n").as_bytes()).await;
                let _ = err.flush().await;
                failed = Some(1);
            }
        }
        failed
    }
}

/// Runs a pipeline's stages at once; the status is the last one's. When a stage ends, the stages
/// before it are stopped: their output has no reader left, and one waiting for input that may
/// never come (`cat --stream /streamfs/live | head -n 2`) would otherwise hang the pipeline
/// until its next write fails, as it does in bash.
async fn run_stages(stages: Vec<LocalBoxFuture<'_, (usize, i32)>>) -> i32 {
    let last = stages.len().saturating_sub(1);
    let mut ids: Vec<usize> = (0..stages.len()).collect();
    let mut stages = stages;
    let mut status = 0;
    while !stages.is_empty() {
        let ((i, st), pos, rest) = futures_util::future::select_all(stages).await;
        if i == last {
            status = st;
        }
        // `select_all` took the finished future out with `swap_remove`: do the same to the ids.
        ids.swap_remove(pos);
        let (kept_ids, kept): (Vec<usize>, Vec<_>) =
            ids.into_iter().zip(rest).filter(|(id, _)| *id > i).unzip();
        ids = kept_ids;
        stages = kept;
    }
    status
}

impl Shell {
    /// Runs a pipeline: one command in this shell, several in subshells joined by OS pipes,
    /// all at once. The status is the last stage's (`!` inverts it).
    pub(crate) async fn exec_pipeline(&mut self, p: &ast::Pipeline, s: Streams) -> i32 {
        let status = if p.seq.len() == 1 {
            self.exec_command(&p.seq[0], s).await
        } else {
            let n = p.seq.len();
            let mut stages = Vec::with_capacity(n);
            let mut next_in = s.stdin.clone();
            for (i, cmd) in p.seq.iter().enumerate() {
                let (stdin, stdout) = if i + 1 == n {
                    (std::mem::replace(&mut next_in, In::Null), s.stdout.clone())
                } else {
                    let (r, w) = match streams::os_pipe() {
                        Ok(p) => p,
                        Err(e) => {
                            self.complain(&format!("pipe: {e}")).await;
                            return 1;
                        }
                    };
                    let stdin = std::mem::replace(&mut next_in, In::Pipe(Arc::new(r)));
                    (stdin, Out::Pipe(Arc::new(w)))
                };
                let st = Streams {
                    stdin,
                    stdout,
                    stderr: s.stderr.clone(),
                };
                let mut sub = self.clone();
                stages.push(async move { (i, sub.exec_command(cmd, st).await) }.boxed_local());
            }
            drop(s);
            run_stages(stages).await
        };
        if p.bang {
            i32::from(status == 0)
        } else {
            status
        }
    }

    /// Runs one command of a pipeline.
    pub(crate) fn exec_command<'a>(
        &'a mut self,
        cmd: &'a ast::Command,
        s: Streams,
    ) -> LocalBoxFuture<'a, i32> {
        async move {
            match cmd {
                ast::Command::Simple(c) => self.exec_simple(c, s).await,
                ast::Command::Compound(cc, redirects) => {
                    self.with_redirects(redirects.as_ref(), s, cc).await
                }
                ast::Command::Function(f) => {
                    let name = f.fname.value.clone();
                    self.funcs.insert(name, Arc::new(f.clone()));
                    0
                }
                ast::Command::ExtendedTest(..) => {
                    self.complain("[[ ... ]] is not supported: use [ ... ] or test")
                        .await;
                    2
                }
            }
        }
        .boxed_local()
    }

    async fn exec_simple(&mut self, c: &ast::SimpleCommand, s: Streams) -> i32 {
        let mut assignments = Vec::new();
        let mut words = Vec::new();
        let mut redirects = Vec::new();
        let name: Vec<ast::CommandPrefixOrSuffixItem> = c
            .word_or_name
            .iter()
            .map(|w| ast::CommandPrefixOrSuffixItem::Word(w.clone()))
            .collect();
        let prefix = c.prefix.iter().flat_map(|p| &p.0).map(|i| (i, true));
        let rest = name.iter().chain(c.suffix.iter().flat_map(|x| &x.0));
        for (item, in_prefix) in prefix.chain(rest.map(|i| (i, false))) {
            match item {
                ast::CommandPrefixOrSuffixItem::IoRedirect(r) => redirects.push(r.clone()),
                ast::CommandPrefixOrSuffixItem::Word(w) => words.push(w.clone()),
                // After the command name `X=1` is an argument (`echo n=$n`, `export X=1`).
                ast::CommandPrefixOrSuffixItem::AssignmentWord(_, w) if !in_prefix => {
                    words.push(w.clone())
                }
                ast::CommandPrefixOrSuffixItem::AssignmentWord(a, _) => assignments.push(a.clone()),
                ast::CommandPrefixOrSuffixItem::ProcessSubstitution(..) => {
                    self.complain("process substitution <(...) is not supported")
                        .await;
                    return 2;
                }
            }
        }
        self.substitution_status = None;
        let mut env = Vec::new();
        for a in &assignments {
            let ast::AssignmentName::VariableName(name) = &a.name else {
                self.complain("arrays are not supported").await;
                return 2;
            };
            let ast::AssignmentValue::Scalar(w) = &a.value else {
                self.complain("arrays are not supported").await;
                return 2;
            };
            let mut value = match self.expand_one(w).await {
                Ok(v) => v,
                Err(e) => {
                    self.complain(&e).await;
                    return 1;
                }
            };
            if a.append {
                value = format!(
                    "{}{value}",
                    self.vars.get(name).cloned().unwrap_or_default()
                );
            }
            env.push((name.clone(), value));
        }
        let argv = match self.expand_words(&words).await {
            Ok(v) => v,
            Err(e) => {
                self.complain(&e).await;
                return 1;
            }
        };
        let (streams, pumps) = match self.redirect(&redirects, s).await {
            Ok(x) => x,
            Err(code) => return code,
        };
        if argv.is_empty() {
            // Assignments alone set shell variables; `$?` is that of the last `$(...)`.
            for (k, v) in env {
                self.vars.insert(k, v);
            }
            drop(streams);
            let st = self.substitution_status.take().unwrap_or(0);
            return pumps.run().await.unwrap_or(st);
        }
        let forced_local = words.first().is_some_and(|w| w.value.starts_with('\\'));
        let run = self.dispatch(argv, env, streams, forced_local);
        let (status, pumped) = futures_util::future::join(run, pumps.run()).await;
        pumped.unwrap_or(status)
    }

    /// Runs an expanded command line: a function, a pfs command, a shell builtin or a local
    /// program, in that order (`forced_local`: a local program only).
    pub(crate) fn dispatch(
        &mut self,
        mut argv: Vec<String>,
        env: Vec<(String, String)>,
        s: Streams,
        forced_local: bool,
    ) -> LocalBoxFuture<'_, i32> {
        async move {
            if forced_local {
                return self.run_local(argv, env, s).await;
            }
            if let Some(f) = self.funcs.get(&argv[0]).cloned() {
                return self.call_function(f, argv, s).await;
            }
            if argv[0] == "pfs" && argv.len() > 1 && commands::is_command(&argv[1]) {
                // `pfs ls /` at the prompt, out of habit, is `ls /`.
                argv.remove(0);
            }
            if commands::is_command(&argv[0]) {
                return self.run_pfs_command(argv, env, s).await;
            }
            if Self::is_builtin(&argv[0]) {
                return self.run_builtin(argv, s).await;
            }
            self.run_local(argv, env, s).await
        }
        .boxed_local()
    }

    /// A pfs command. A line the command refuses while it reads a pipe (`grep -v err`, `grep err`
    /// without a remote path) runs the local program of the same name instead, if there is one:
    /// a filter in a pipeline means the local tool.
    async fn run_pfs_command(
        &mut self,
        argv: Vec<String>,
        env: Vec<(String, String)>,
        s: Streams,
    ) -> i32 {
        let parsed = match Line::try_parse_from(&argv) {
            Ok(line) => Ok(line.command),
            Err(e) => {
                let reads_pipe = matches!(s.stdin, In::Pipe(_));
                if e.exit_code() != 0 && reads_pipe && self.find_program(&argv[0]).is_some() {
                    return self.run_local(argv, env, s).await;
                }
                Err(e)
            }
        };
        let mut io = match self.term.io(&s) {
            Ok(io) => io,
            Err(e) => {
                self.complain(&format!("{}: {e}", argv[0])).await;
                return 1;
            }
        };
        drop(s);
        match parsed {
            Ok(command) => commands::execute(&mut self.ctx, command, &mut io).await,
            Err(e) => commands::usage_error(e, &mut io).await,
        }
    }

    /// Where a program is: a name with a `/` as it is, else the first executable in `$PATH`.
    pub(crate) fn find_program(&self, name: &str) -> Option<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let executable = |p: &std::path::Path| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        };
        if name.contains('/') {
            let p = PathBuf::from(name);
            return executable(&p).then_some(p);
        }
        let path = self.vars.get("PATH")?;
        std::env::split_paths(path)
            .map(|d| d.join(name))
            .find(|p| executable(p))
    }

    /// Runs a local program with `s` as its standard streams and the exported variables (plus
    /// `env`) as its environment; waits for it. A program killed by a signal gives 128 + signal.
    pub(crate) async fn run_local(
        &mut self,
        argv: Vec<String>,
        env: Vec<(String, String)>,
        s: Streams,
    ) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        let Some(program) = self.find_program(&argv[0]) else {
            drop(s);
            self.complain(&format!("{}: command not found", argv[0]))
                .await;
            return 127;
        };
        let stdio = (|| {
            Ok::<_, std::io::Error>((
                streams::stdin_stdio(&s.stdin)?,
                streams::out_stdio(&s.stdout)?,
                streams::out_stdio(&s.stderr)?,
            ))
        })();
        let (i, o, e) = match stdio {
            Ok(x) => x,
            Err(e) => {
                self.complain(&format!("{}: {e}", argv[0])).await;
                return 126;
            }
        };
        if matches!(s.stdout, Out::Stdout) || matches!(s.stderr, Out::Stdout) {
            self.term.flush().await;
        }
        let s_stdout = s.stdout.clone();
        let mut cmd = tokio::process::Command::new(program);
        cmd.arg0(&argv[0])
            .args(&argv[1..])
            .env_clear()
            .envs(
                self.exported
                    .iter()
                    .filter_map(|k| self.vars.get(k).map(|v| (k, v))),
            )
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(i)
            .stdout(o)
            .stderr(e)
            .kill_on_drop(true);
        let spawned = cmd.spawn();
        // The parent's copies of the pipe ends close now, so readers see the end when the
        // program exits.
        drop(cmd);
        drop(s);
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                self.complain(&format!("{}: {}", argv[0], io_reason(&e)))
                    .await;
                return 126;
            }
        };
        if matches!(s_stdout, Out::Stdout) {
            self.term.stdout.set_line_start();
        }
        match child.wait().await {
            Ok(st) => st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)),
            Err(e) => {
                self.complain(&format!("{}: {e}", argv[0])).await;
                1
            }
        }
    }
}
