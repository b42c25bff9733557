//! The interactive shell: the `pfs:/path>` prompt, line editing and history (rustyline, on a
//! thread of its own so the runtime keeps serving completions), and Ctrl-C, which stops the
//! running command and returns to the prompt.

use std::path::PathBuf;

use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor};
use tokio::signal::unix::{SignalKind, signal};

use super::complete::PfsHelper;
use super::parse::{Parsed, Reader};
use super::{Flow, Shell};

/// The history file: `$PFS_HISTORY`, else `$XDG_DATA_HOME/pfs/history`, else
/// `~/.local/share/pfs/history`. `PFS_HISTORY` set to nothing keeps no history file.
fn history_path(shell: &Shell) -> Option<PathBuf> {
    let var = |k: &str| shell.vars.get(k).cloned();
    if let Some(p) = var("PFS_HISTORY") {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    let data = match var("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(var("HOME")?).join(".local/share"),
    };
    Some(data.join("pfs/history"))
}

/// The editor's side: reads a line for each prompt it is sent, until the channel closes.
fn editor(
    helper: PfsHelper,
    history: Option<PathBuf>,
    prompts: std::sync::mpsc::Receiver<String>,
    lines: tokio::sync::mpsc::Sender<Result<String, ReadlineError>>,
) {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .build();
    let mut ed: Editor<PfsHelper, FileHistory> = match Editor::with_config(config) {
        Ok(ed) => ed,
        Err(e) => {
            let _ = lines.blocking_send(Err(e));
            return;
        }
    };
    ed.set_helper(Some(helper));
    if let Some(h) = &history {
        let _ = ed.load_history(h);
    }
    while let Ok(prompt) = prompts.recv() {
        let read = ed.readline(&prompt);
        if let Ok(line) = &read
            && !line.trim().is_empty()
        {
            let _ = ed.add_history_entry(line.as_str());
            if let Some(h) = &history {
                if let Some(dir) = h.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let _ = ed.append_history(h);
            }
        }
        if lines.blocking_send(read).is_err() {
            break;
        }
    }
}

/// Runs the prompt loop until Ctrl-D or `exit`; returns the exit code (`exit`'s, else the last
/// command's status, as bash does).
pub(crate) async fn run(shell: &mut Shell) -> i32 {
    shell.interactive = true;
    // Registered before anything runs: from now on SIGINT stops a command, not the shell.
    let mut interrupts = match signal(SignalKind::interrupt()) {
        Ok(s) => s,
        Err(e) => {
            shell.complain(&format!("cannot handle Ctrl-C: {e}")).await;
            return 1;
        }
    };
    let helper = PfsHelper::new(shell.ctx.client.clone(), tokio::runtime::Handle::current());
    let (cwd, names) = (helper.cwd.clone(), helper.names.clone());
    let (prompt_tx, prompt_rx) = std::sync::mpsc::channel();
    let (line_tx, mut line_rx) = tokio::sync::mpsc::channel(1);
    let history = history_path(shell);
    let editor_thread = std::thread::spawn(move || editor(helper, history, prompt_rx, line_tx));
    let mut reader = Reader::default();
    loop {
        *cwd.lock().unwrap_or_else(|p| p.into_inner()) = shell.ctx.cwd.clone();
        *names.lock().unwrap_or_else(|p| p.into_inner()) = command_names(shell);
        shell.term.end_line().await;
        let prompt = if reader.is_pending() {
            "> ".to_string()
        } else {
            shell.prompt()
        };
        if prompt_tx.send(prompt).is_err() {
            break;
        }
        let line = match line_rx.recv().await {
            Some(Ok(line)) => line,
            Some(Err(ReadlineError::Interrupted)) => {
                reader = Reader::default();
                shell.status = 130;
                continue;
            }
            Some(Err(ReadlineError::Eof)) | None => break,
            Some(Err(e)) => {
                shell
                    .complain(&format!("cannot read the terminal: {e}"))
                    .await;
                break;
            }
        };
        let Some((_, parsed)) = reader.push(&line) else {
            continue;
        };
        match parsed {
            Parsed::Program(p) => {
                tokio::select! {
                    _ = shell.run_program(&p) => {}
                    _ = interrupts.recv() => {
                        // The command's future is dropped: its requests end, its local programs
                        // (which got the SIGINT too) are killed.
                        shell.term.flush().await;
                        eprintln!();
                        shell.status = 130;
                    }
                }
            }
            Parsed::Error(e) => {
                shell.complain(&format!("syntax error: {e}")).await;
                shell.status = 2;
            }
            Parsed::Incomplete => {}
        }
        if let Some(Flow::Exit(code)) = shell.flow {
            shell.status = code;
            break;
        }
        shell.flow = None;
    }
    drop(prompt_tx);
    drop(line_rx);
    let _ = tokio::task::spawn_blocking(move || editor_thread.join()).await;
    shell.status
}

/// What completes in command position: functions, pfs commands, builtins.
fn command_names(shell: &Shell) -> Vec<String> {
    let mut names: Vec<String> = shell.funcs.keys().cloned().collect();
    names.extend(crate::commands::command_names());
    names.extend(Shell::builtin_names().iter().map(|s| s.to_string()));
    names.sort();
    names.dedup();
    names
}
