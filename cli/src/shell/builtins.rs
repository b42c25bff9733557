//! The shell's own builtins: `cd`, `pwd`, `echo`, `test`/`[`, `true`/`false`/`:`, `exit`,
//! `return`, `break`, `continue`, variables (`export`, `unset`, `local`, `set`, `shift`, `read`),
//! `source`/`.`, `eval`, `command`, `type`, `help`. `test -e/-f/-d/-s/-L` look at remote paths.

use brush_parser::ast::{BinaryPredicate as BP, TestExpr, UnaryPredicate as UP};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::streams::Streams;
use super::{Flow, Shell, io_reason};
use crate::context::Io;

const BUILTINS: &[&str] = &[
    "cd", "pwd", "echo", "test", "[", "true", "false", ":", "exit", "return", "break", "continue",
    "export", "unset", "local", "set", "shift", "read", "source", ".", "eval", "command", "type",
    "help",
];

/// Writes to a builtin's output, ignoring a closed reader (as `echo` into `head` does).
async fn say(out: &mut crate::context::Output, text: &str) {
    let _ = out.write_all(text.as_bytes()).await;
    let _ = out.flush().await;
}

impl Shell {
    /// Whether `name` is one of the shell's builtins.
    pub(crate) fn is_builtin(name: &str) -> bool {
        BUILTINS.contains(&name)
    }

    /// The names of the shell's builtins (for completion and `help`).
    pub(crate) fn builtin_names() -> &'static [&'static str] {
        BUILTINS
    }

    /// Runs a builtin with `s` as its streams.
    pub(crate) async fn run_builtin(&mut self, argv: Vec<String>, s: Streams) -> i32 {
        let mut io = match self.term.io(&s) {
            Ok(io) => io,
            Err(e) => {
                self.complain(&format!("{}: {e}", argv[0])).await;
                return 1;
            }
        };
        if argv[0] == "command" && argv.len() > 1 {
            drop(io);
            return self.run_local(argv[1..].to_vec(), Vec::new(), s).await;
        }
        if argv[0] == "eval" {
            drop(io);
            return self.eval_text(&argv[1..].join(" "), s).await;
        }
        drop(s);
        let args = &argv[1..];
        let status = match argv[0].as_str() {
            "cd" => self.cd(args, &mut io).await,
            "pwd" => {
                say(&mut io.stdout, &format!("{}\n", self.ctx.cwd)).await;
                0
            }
            "echo" => echo(args, &mut io).await,
            "true" | ":" | "command" => 0,
            "false" => 1,
            "test" => self.test(args, &mut io).await,
            "[" => match args.split_last() {
                Some((last, rest)) if last == "]" => self.test(rest, &mut io).await,
                _ => {
                    io.error_line("pfs: [: missing ]").await;
                    2
                }
            },
            "exit" | "return" => {
                let code = match args.first().map(|a| a.parse::<i32>()) {
                    None => self.status,
                    Some(Ok(n)) => n & 0xff,
                    Some(Err(_)) => {
                        io.error_line(&format!(
                            "pfs: {}: {}: numeric argument required",
                            argv[0], args[0]
                        ))
                        .await;
                        2
                    }
                };
                self.flow = Some(if argv[0] == "exit" {
                    Flow::Exit(code)
                } else {
                    Flow::Return
                });
                code
            }
            "break" | "continue" => {
                let n = args
                    .first()
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(1u32)
                    .max(1);
                self.flow = Some(if argv[0] == "break" {
                    Flow::Break(n)
                } else {
                    Flow::Continue(n)
                });
                0
            }
            "export" | "local" => self.export(args, argv[0] == "export", &mut io).await,
            "unset" => {
                for a in args.iter().filter(|a| !a.starts_with('-')) {
                    self.vars.remove(a);
                    self.exported.remove(a);
                    self.funcs.remove(a);
                }
                0
            }
            "set" => self.set_builtin(args, &mut io).await,
            "shift" => {
                let n = args.first().and_then(|a| a.parse().ok()).unwrap_or(1usize);
                if n > self.args.len() {
                    1
                } else {
                    self.args.drain(..n);
                    0
                }
            }
            "read" => self.read(args, &mut io).await,
            "source" | "." => self.source(args, &mut io).await,
            "type" => self.type_builtin(args, &mut io).await,
            "help" => {
                let pfs: Vec<String> = crate::commands::command_names().collect();
                let text = format!(
                    "pfs commands (remote paths; NAME --help for each): {}\n\
                     shell builtins: {}\n\
                     Anything else runs as a local program from PATH; `command NAME` or `\\NAME` \
                     forces the local program.\n",
                    pfs.join(" "),
                    BUILTINS.join(" ")
                );
                say(&mut io.stdout, &text).await;
                0
            }
            _ => 127,
        };
        let _ = io.stdout.flush().await;
        status
    }

    /// `eval TEXT`: parses and runs the text with the builtin's streams.
    async fn eval_text(&mut self, text: &str, s: Streams) -> i32 {
        match super::parse::parse(text) {
            super::parse::Parsed::Program(p) => {
                let mut status = 0;
                for c in &p.complete_commands {
                    status = self.exec_list(c, s.clone()).await;
                    if self.flow.is_some() {
                        break;
                    }
                }
                status
            }
            _ => {
                self.complain(&format!("eval: {text}: syntax error")).await;
                2
            }
        }
    }

    async fn cd(&mut self, args: &[String], io: &mut Io) -> i32 {
        let target = match args.first().map(String::as_str) {
            None => "/".to_string(),
            Some("-") => match &self.oldpwd {
                Some(o) => {
                    say(&mut io.stdout, &format!("{o}\n")).await;
                    o.clone()
                }
                None => {
                    io.error_line("pfs: cd: OLDPWD not set").await;
                    return 1;
                }
            },
            Some(p) => p.to_string(),
        };
        let abs = self.ctx.resolve(&target);
        match self.ctx.client.stat(&abs).await {
            Ok(info) if info.value.is_dir => {
                self.oldpwd = Some(std::mem::replace(&mut self.ctx.cwd, abs.clone()));
                self.vars.insert("PWD".to_string(), abs);
                0
            }
            Ok(_) => {
                io.error_line(&format!("pfs: cd: {target}: not a directory"))
                    .await;
                1
            }
            Err(e) => {
                io.error_line(&format!("pfs: cd: {target}: {}", e.reason()))
                    .await;
                1
            }
        }
    }

    async fn export(&mut self, args: &[String], export: bool, io: &mut Io) -> i32 {
        if args.is_empty() && export {
            let mut names: Vec<&String> = self.exported.iter().collect();
            names.sort();
            let mut text = String::new();
            for n in names {
                if let Some(v) = self.vars.get(n) {
                    text.push_str(&format!("export {n}={v:?}\n"));
                }
            }
            say(&mut io.stdout, &text).await;
            return 0;
        }
        for a in args {
            let (name, value) = match a.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (a.clone(), None),
            };
            if let Some(v) = value {
                self.vars.insert(name.clone(), v);
            }
            if export {
                self.exported.insert(name);
            }
        }
        0
    }

    async fn set_builtin(&mut self, args: &[String], io: &mut Io) -> i32 {
        if args.is_empty() {
            let mut vars: Vec<(&String, &String)> = self.vars.iter().collect();
            vars.sort();
            let text: String = vars.iter().map(|(k, v)| format!("{k}={v:?}\n")).collect();
            say(&mut io.stdout, &text).await;
            return 0;
        }
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "-e" => self.errexit = true,
                "+e" => self.errexit = false,
                "--" => {
                    self.args = it.cloned().collect();
                    return 0;
                }
                other => {
                    io.error_line(&format!(
                        "pfs: set: {other}: only -e, +e and -- are supported"
                    ))
                    .await;
                    return 2;
                }
            }
        }
        0
    }

    /// `read [-r] NAME...`: one line of standard input, split into the names (the last takes
    /// the rest). Bytes are read one at a time so that the rest stays for the next reader.
    async fn read(&mut self, args: &[String], io: &mut Io) -> i32 {
        let names: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        let mut got_newline = false;
        while let Ok(1) = io.stdin.read(&mut byte).await {
            if byte[0] == b'\n' {
                got_newline = true;
                break;
            }
            line.push(byte[0]);
        }
        if line.is_empty() && !got_newline {
            return 1;
        }
        let line = String::from_utf8_lossy(&line).into_owned();
        let names: Vec<String> = if names.is_empty() {
            vec!["REPLY".to_string()]
        } else {
            names.into_iter().cloned().collect()
        };
        let mut rest = line.trim_start();
        for (i, n) in names.iter().enumerate() {
            let value = if i + 1 == names.len() {
                std::mem::take(&mut rest).trim_end().to_string()
            } else {
                let (w, r) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                rest = r.trim_start();
                w.to_string()
            };
            self.vars.insert(n.clone(), value);
        }
        0
    }

    async fn source(&mut self, args: &[String], io: &mut Io) -> i32 {
        let Some(file) = args.first() else {
            io.error_line("pfs: source: a local script file is needed")
                .await;
            return 2;
        };
        let text = match tokio::fs::read_to_string(file).await {
            Ok(t) => t,
            Err(e) => {
                io.error_line(&format!("pfs: source: {file}: {}", io_reason(&e)))
                    .await;
                return 1;
            }
        };
        let saved = (args.len() > 1).then(|| std::mem::replace(&mut self.args, args[1..].to_vec()));
        let status = self.run_text(&text, false).await;
        if let Some(a) = saved {
            self.args = a;
        }
        if self.flow == Some(Flow::Return) {
            self.flow = None;
        }
        status
    }

    async fn type_builtin(&mut self, args: &[String], io: &mut Io) -> i32 {
        let mut status = 0;
        for name in args {
            let what = if self.funcs.contains_key(name) {
                format!("{name} is a function\n")
            } else if crate::commands::is_command(name) {
                format!("{name} is a pfs command\n")
            } else if Self::is_builtin(name) {
                format!("{name} is a shell builtin\n")
            } else if let Some(p) = self.find_program(name) {
                format!("{name} is {}\n", p.display())
            } else {
                io.error_line(&format!("pfs: type: {name}: not found"))
                    .await;
                status = 1;
                continue;
            };
            say(&mut io.stdout, &what).await;
        }
        status
    }

    async fn test(&mut self, args: &[String], io: &mut Io) -> i32 {
        let expr = match brush_parser::test_command::parse(args) {
            Ok(e) => e,
            Err(e) => {
                io.error_line(&format!("pfs: test: {e}")).await;
                return 2;
            }
        };
        match self.eval_test(&expr).await {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(e) => {
                io.error_line(&format!("pfs: test: {e}")).await;
                2
            }
        }
    }

    fn eval_test<'a>(
        &'a mut self,
        e: &'a TestExpr,
    ) -> futures_util::future::LocalBoxFuture<'a, Result<bool, String>> {
        use futures_util::FutureExt;
        async move {
            Ok(match e {
                TestExpr::False => false,
                TestExpr::Literal(s) => !s.is_empty(),
                TestExpr::And(a, b) => self.eval_test(a).await? && self.eval_test(b).await?,
                TestExpr::Or(a, b) => self.eval_test(a).await? || self.eval_test(b).await?,
                TestExpr::Not(a) => !self.eval_test(a).await?,
                TestExpr::Parenthesized(a) => self.eval_test(a).await?,
                TestExpr::UnaryTest(p, s) => self.unary_test(p, s).await?,
                TestExpr::BinaryTest(p, a, b) => binary_test(p, a, b)?,
            })
        }
        .boxed_local()
    }

    async fn unary_test(&mut self, p: &UP, s: &str) -> Result<bool, String> {
        Ok(match p {
            UP::StringHasZeroLength => s.is_empty(),
            UP::StringHasNonZeroLength => !s.is_empty(),
            UP::ShellVariableIsSetAndAssigned => self.vars.contains_key(s),
            UP::FdIsOpenTerminal => false,
            p => {
                let abs = self.ctx.resolve(s);
                let info = match self.ctx.client.stat(&abs).await {
                    Ok(r) => r.value,
                    Err(e) if e.is_not_found() => return Ok(false),
                    Err(e) => return Err(format!("{s}: {}", e.reason())),
                };
                match p {
                    UP::FileExistsAndIsDir => info.is_dir,
                    UP::FileExistsAndIsRegularFile => !info.is_dir && !info.is_symlink(),
                    UP::FileExistsAndIsSymlink => info.is_symlink(),
                    UP::FileExistsAndIsNotZeroLength => info.size > 0,
                    _ => true,
                }
            }
        })
    }
}

fn binary_test(p: &BP, a: &str, b: &str) -> Result<bool, String> {
    let num = |s: &str| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| format!("{s}: integer expression expected"))
    };
    Ok(match p {
        BP::StringExactlyMatchesString | BP::StringExactlyMatchesPattern => a == b,
        BP::StringDoesNotExactlyMatchString | BP::StringDoesNotExactlyMatchPattern => a != b,
        BP::LeftSortsBeforeRight => a < b,
        BP::LeftSortsAfterRight => a > b,
        BP::ArithmeticEqualTo => num(a)? == num(b)?,
        BP::ArithmeticNotEqualTo => num(a)? != num(b)?,
        BP::ArithmeticLessThan => num(a)? < num(b)?,
        BP::ArithmeticLessThanOrEqualTo => num(a)? <= num(b)?,
        BP::ArithmeticGreaterThan => num(a)? > num(b)?,
        BP::ArithmeticGreaterThanOrEqualTo => num(a)? >= num(b)?,
        BP::StringContainsSubstring => a.contains(b),
        other => return Err(format!("{other:?}: not supported")),
    })
}

/// `echo [-n] [-e] ARGS...`
async fn echo(args: &[String], io: &mut Io) -> i32 {
    let mut newline = true;
    let mut escapes = false;
    let mut words = args;
    while let Some((first, rest)) = words.split_first() {
        let flags = first
            .strip_prefix('-')
            .filter(|f| !f.is_empty() && f.chars().all(|c| matches!(c, 'n' | 'e' | 'E')));
        let Some(flags) = flags else { break };
        for c in flags.chars() {
            match c {
                'n' => newline = false,
                'e' => escapes = true,
                _ => escapes = false,
            }
        }
        words = rest;
    }
    let mut text = words.join(" ");
    if escapes {
        text = text
            .replace("\\n", "\n")
            .replace("\\t", "\t")
            .replace("\\\\", "\\");
    }
    if newline {
        text.push('\n');
    }
    match io.stdout.write_all(text.as_bytes()).await {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => crate::commands::EXIT_BROKEN_PIPE,
        Err(_) => 1,
    }
}
