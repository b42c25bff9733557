//! Tab completion at the prompt: command names in command position (functions, pfs commands,
//! builtins), and **remote paths** elsewhere, from a listing of the directory being completed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;

use crate::client::Client;
use crate::path;

/// How long a completion may wait for the server before offering nothing.
const LIST_TIMEOUT: Duration = Duration::from_secs(3);

/// The line editor's helper: completes with the shell's client and current directory.
pub(crate) struct PfsHelper {
    client: Client,
    /// The shell's current directory, updated before each prompt.
    pub(crate) cwd: Arc<Mutex<String>>,
    /// Names completed in command position, updated before each prompt.
    pub(crate) names: Arc<Mutex<Vec<String>>>,
    runtime: tokio::runtime::Handle,
}

impl PfsHelper {
    pub(crate) fn new(client: Client, runtime: tokio::runtime::Handle) -> Self {
        PfsHelper {
            client,
            cwd: Arc::new(Mutex::new("/".to_string())),
            names: Arc::new(Mutex::new(Vec::new())),
            runtime,
        }
    }

    fn commands(&self, word: &str) -> Vec<Pair> {
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<Pair> = names
            .iter()
            .filter(|n| n.starts_with(word))
            .map(|n| Pair {
                display: n.clone(),
                replacement: format!("{n} "),
            })
            .collect();
        out.dedup_by(|a, b| a.display == b.display);
        out
    }

    fn paths(&self, word: &str) -> Vec<Pair> {
        let (dir, prefix) = match word.rfind('/') {
            Some(i) => (&word[..=i], &word[i + 1..]),
            None => ("", word),
        };
        let cwd = self.cwd.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let abs = path::resolve(&cwd, if dir.is_empty() { "." } else { dir });
        let client = self.client.clone();
        let listed = self.runtime.block_on(async move {
            tokio::time::timeout(LIST_TIMEOUT, async move {
                client.list(&abs).await?.collect().await
            })
            .await
        });
        let Ok(Ok(entries)) = listed else {
            return Vec::new();
        };
        let mut out: Vec<Pair> = entries
            .into_iter()
            .filter(|e| e.name.starts_with(prefix))
            .filter(|e| prefix.starts_with('.') || !e.name.starts_with('.'))
            .map(|e| {
                let escaped = escape(&e.name);
                let end = if e.is_dir { "/" } else { " " };
                Pair {
                    display: format!("{}{}", e.name, if e.is_dir { "/" } else { "" }),
                    replacement: format!("{dir}{escaped}{end}"),
                }
            })
            .collect();
        out.sort_by(|a, b| a.display.cmp(&b.display));
        out
    }
}

/// A name as a shell word: special characters escaped with `\`.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_whitespace() || "'\"\\$`*?[]|&;<>()#!{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Where the word under the cursor starts, and whether it is in command position.
fn word_at(before: &str) -> (usize, bool) {
    let start = before
        .rfind(|c: char| c.is_whitespace() || "|;&<>(`".contains(c))
        .map_or(0, |i| i + 1);
    let head = before[..start].trim_end();
    let command = head.is_empty()
        || head.ends_with(['|', ';', '&', '(', '`'])
        || matches!(
            head.rsplit(char::is_whitespace).next(),
            Some("then" | "do" | "else" | "if" | "while" | "until" | "command" | "!")
        );
    (start, command)
}

impl Completer for PfsHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let (start, command) = word_at(before);
        let word = &before[start..];
        if command && !word.contains('/') {
            return Ok((start, self.commands(word)));
        }
        Ok((start, self.paths(word)))
    }
}

impl Hinter for PfsHelper {
    type Hint = String;
}

impl Highlighter for PfsHelper {}

impl Validator for PfsHelper {}

impl rustyline::Helper for PfsHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_under_the_cursor_and_its_position() {
        assert_eq!(word_at("ca"), (0, true));
        assert_eq!(word_at("cat /mem"), (4, false));
        assert_eq!(word_at("cat /a | gr"), (9, true));
        assert_eq!(word_at("echo x >/q"), (8, false));
        assert_eq!(word_at("if tr"), (3, true));
        assert_eq!(escape("a b*"), r"a\ b\*");
    }
}
