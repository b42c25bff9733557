//! Word expansion, in bash's order: quotes, `~`, `$VAR`/`${...}`, `$(...)`, `$((...))`, then
//! field splitting of unquoted results, then globbing of unquoted `*`, `?`, `[...]` against
//! **remote** directories.

use brush_parser::ast;
use brush_parser::word::{self, Parameter, ParameterExpr, ParameterTestType, SpecialParameter};
use brush_parser::word::{TildeExpr, WordPiece, WordPieceWithSource};
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;
use regex::Regex;

use super::parse::{self, Parsed};
use super::streams::{self, In, Out, Streams};
use super::{Flow, Shell};

/// One field being built: its text, the same as a glob pattern (quoted characters escaped), and
/// whether an unquoted glob character is in it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Field {
    pub(crate) text: String,
    pub(crate) pattern: String,
    pub(crate) glob: bool,
}

#[derive(Default)]
struct Fields {
    done: Vec<Field>,
    cur: Field,
    started: bool,
}

impl Fields {
    fn push(&mut self, s: &str, quoted: bool) {
        self.started = true;
        self.cur.text.push_str(s);
        if quoted {
            for c in s.chars() {
                if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                    self.cur.pattern.push('\\');
                }
                self.cur.pattern.push(c);
            }
        } else {
            self.cur.pattern.push_str(s);
            self.cur.glob |= s.contains(['*', '?', '[']);
        }
    }

    fn end(&mut self) {
        if self.started {
            self.done.push(std::mem::take(&mut self.cur));
            self.started = false;
        }
    }

    /// An unquoted expansion's value: split at whitespace into fields.
    fn split(&mut self, s: &str) {
        if s.starts_with(char::is_whitespace) {
            self.end();
        }
        for (i, part) in s.split_whitespace().enumerate() {
            if i > 0 {
                self.end();
            }
            self.push(part, false);
        }
        if s.ends_with(char::is_whitespace) {
            self.end();
        }
    }

    fn finish(mut self) -> Vec<Field> {
        self.end();
        self.done
    }
}

fn pieces(raw: &str) -> Result<Vec<WordPieceWithSource>, String> {
    word::parse(raw, &parse::options()).map_err(|e| format!("{raw}: {e}"))
}

impl Shell {
    /// Expands words into a command line: fields split, globs matched on the server.
    pub(crate) async fn expand_words(
        &mut self,
        words: &[ast::Word],
    ) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for w in words {
            for f in self.fields(&w.value).await? {
                if f.glob {
                    out.extend(self.glob(&f).await?);
                } else {
                    out.push(f.text);
                }
            }
        }
        Ok(out)
    }

    /// Expands a word into one string: no splitting, no globbing (assignments, redirection
    /// targets, `case` subjects).
    pub(crate) async fn expand_one(&mut self, w: &ast::Word) -> Result<String, String> {
        let fields = self.fields(&w.value).await?;
        Ok(fields
            .into_iter()
            .map(|f| f.text)
            .collect::<Vec<_>>()
            .join(" "))
    }

    /// A `case` pattern as an anchored regular expression.
    pub(crate) async fn expand_pattern(&mut self, w: &ast::Word) -> Result<Regex, String> {
        let fields = self.fields(&w.value).await?;
        let pattern: Vec<String> = fields.into_iter().map(|f| f.pattern).collect();
        glob_regex(&pattern.join(" "))
    }

    /// A here-document's body with `$` expansions (quotes are literal there).
    pub(crate) async fn expand_heredoc(&mut self, text: &str) -> Result<String, String> {
        let ps = word::parse_heredoc(text, &parse::options()).map_err(|e| e.to_string())?;
        let mut f = Fields::default();
        self.expand_pieces(&ps, &mut f, true).await?;
        Ok(f.finish().into_iter().map(|f| f.text).collect())
    }

    async fn fields(&mut self, raw: &str) -> Result<Vec<Field>, String> {
        let ps = pieces(raw)?;
        let mut f = Fields::default();
        self.expand_pieces(&ps, &mut f, false).await?;
        Ok(f.finish())
    }

    fn expand_pieces<'a>(
        &'a mut self,
        ps: &'a [WordPieceWithSource],
        f: &'a mut Fields,
        quoted: bool,
    ) -> LocalBoxFuture<'a, Result<(), String>> {
        async move {
            for p in ps {
                match &p.piece {
                    WordPiece::Text(t) => f.push(t, quoted),
                    WordPiece::SingleQuotedText(t) => f.push(t, true),
                    WordPiece::AnsiCQuotedText(t) => f.push(&ansi_c(t), true),
                    WordPiece::DoubleQuotedSequence(inner)
                    | WordPiece::GettextDoubleQuotedSequence(inner) => {
                        f.started = true;
                        if let [one] = inner.as_slice()
                            && let WordPiece::ParameterExpansion(ParameterExpr::Parameter {
                                parameter:
                                    Parameter::Special(SpecialParameter::AllPositionalParameters {
                                        concatenate: false,
                                    }),
                                ..
                            }) = &one.piece
                        {
                            // "$@": one field per argument.
                            f.started = false;
                            for a in self.args.clone() {
                                f.push(&a, true);
                                f.end();
                            }
                            continue;
                        }
                        self.expand_pieces(inner, f, true).await?;
                    }
                    WordPiece::TildeExpansion(t) => {
                        let home = match t {
                            TildeExpr::Home => self.vars.get("HOME").cloned().unwrap_or_default(),
                            TildeExpr::WorkingDir => self.ctx.cwd.clone(),
                            _ => "~".to_string(),
                        };
                        f.push(&home, true);
                    }
                    WordPiece::EscapeSequence(e) => {
                        let c = e.strip_prefix('\\').unwrap_or(e);
                        if !quoted || matches!(c, "$" | "`" | "\"" | "\\" | "\n") {
                            if c != "\n" {
                                f.push(c, true);
                            }
                        } else {
                            f.push(e, true);
                        }
                    }
                    WordPiece::ParameterExpansion(expr) => {
                        let v = self.parameter(expr).await?;
                        if quoted {
                            f.push(&v, true)
                        } else {
                            f.split(&v)
                        }
                    }
                    WordPiece::CommandSubstitution(text)
                    | WordPiece::BackquotedCommandSubstitution(text) => {
                        let v = self.substitute(text).await?;
                        if quoted {
                            f.push(&v, true)
                        } else {
                            f.split(&v)
                        }
                    }
                    WordPiece::ArithmeticExpression(e) => {
                        let v = self.arith(&e.value).await?.to_string();
                        f.push(&v, true);
                    }
                }
            }
            Ok(())
        }
        .boxed_local()
    }

    /// The value of a parameter, `None` when unset.
    fn lookup(&self, p: &Parameter) -> Result<Option<String>, String> {
        Ok(match p {
            Parameter::Positional(0) => Some(self.name.clone()),
            Parameter::Positional(n) => self.args.get(*n as usize - 1).cloned(),
            Parameter::Named(n) => self.vars.get(n).cloned(),
            Parameter::Special(sp) => Some(match sp {
                SpecialParameter::LastExitStatus => self.status.to_string(),
                SpecialParameter::PositionalParameterCount => self.args.len().to_string(),
                SpecialParameter::AllPositionalParameters { .. } => self.args.join(" "),
                SpecialParameter::ProcessId => std::process::id().to_string(),
                SpecialParameter::ShellName => self.name.clone(),
                SpecialParameter::CurrentOptionFlags => String::new(),
                SpecialParameter::LastBackgroundProcessId => String::new(),
            }),
            _ => return Err("arrays are not supported".to_string()),
        })
    }

    /// A word inside `${...}` (a default value, a pattern), expanded without splitting.
    async fn inner(&mut self, raw: &Option<String>) -> Result<String, String> {
        match raw {
            None => Ok(String::new()),
            Some(r) => {
                let fields = self.fields(r).await?;
                Ok(fields
                    .into_iter()
                    .map(|f| f.text)
                    .collect::<Vec<_>>()
                    .join(" "))
            }
        }
    }

    async fn parameter(&mut self, e: &ParameterExpr) -> Result<String, String> {
        let unset = |v: &Option<String>, t: &ParameterTestType| match t {
            ParameterTestType::UnsetOrNull => v.as_deref().is_none_or(str::is_empty),
            ParameterTestType::Unset => v.is_none(),
        };
        match e {
            ParameterExpr::Parameter { parameter, .. } => {
                Ok(self.lookup(parameter)?.unwrap_or_default())
            }
            ParameterExpr::UseDefaultValues {
                parameter,
                test_type,
                default_value,
                ..
            } => {
                let v = self.lookup(parameter)?;
                if unset(&v, test_type) {
                    self.inner(default_value).await
                } else {
                    Ok(v.unwrap_or_default())
                }
            }
            ParameterExpr::AssignDefaultValues {
                parameter,
                test_type,
                default_value,
                ..
            } => {
                let v = self.lookup(parameter)?;
                if !unset(&v, test_type) {
                    return Ok(v.unwrap_or_default());
                }
                let d = self.inner(default_value).await?;
                if let Parameter::Named(n) = parameter {
                    self.vars.insert(n.clone(), d.clone());
                }
                Ok(d)
            }
            ParameterExpr::UseAlternativeValue {
                parameter,
                test_type,
                alternative_value,
                ..
            } => {
                let v = self.lookup(parameter)?;
                if unset(&v, test_type) {
                    Ok(String::new())
                } else {
                    self.inner(alternative_value).await
                }
            }
            ParameterExpr::IndicateErrorIfNullOrUnset {
                parameter,
                test_type,
                error_message,
                ..
            } => {
                let v = self.lookup(parameter)?;
                if unset(&v, test_type) {
                    let m = self.inner(error_message).await?;
                    Err(format!(
                        "{parameter}: {}",
                        if m.is_empty() { "not set" } else { &m }
                    ))
                } else {
                    Ok(v.unwrap_or_default())
                }
            }
            ParameterExpr::ParameterLength { parameter, .. } => Ok(self
                .lookup(parameter)?
                .unwrap_or_default()
                .chars()
                .count()
                .to_string()),
            ParameterExpr::RemoveSmallestSuffixPattern {
                parameter, pattern, ..
            }
            | ParameterExpr::RemoveLargestSuffixPattern {
                parameter, pattern, ..
            }
            | ParameterExpr::RemoveSmallestPrefixPattern {
                parameter, pattern, ..
            }
            | ParameterExpr::RemoveLargestPrefixPattern {
                parameter, pattern, ..
            } => {
                let v = self.lookup(parameter)?.unwrap_or_default();
                let fields = match pattern {
                    Some(p) => self.fields(p).await?,
                    None => Vec::new(),
                };
                let pat: Vec<String> = fields.into_iter().map(|f| f.pattern).collect();
                let re = glob_regex(&pat.join(" "))?;
                let largest = matches!(
                    e,
                    ParameterExpr::RemoveLargestSuffixPattern { .. }
                        | ParameterExpr::RemoveLargestPrefixPattern { .. }
                );
                let suffix = matches!(
                    e,
                    ParameterExpr::RemoveSmallestSuffixPattern { .. }
                        | ParameterExpr::RemoveLargestSuffixPattern { .. }
                );
                Ok(remove_affix(&v, &re, suffix, largest))
            }
            other => Err(format!("${{{other:?}}}: this expansion is not supported")
                .chars()
                .take(120)
                .collect()),
        }
    }

    /// `$(...)`: runs the text in a subshell and gives its output without trailing newlines.
    /// The output is read as it comes (a pipe), so a long-running substitution does not block
    /// the program writing it.
    pub(crate) async fn substitute(&mut self, text: &str) -> Result<String, String> {
        let program = match parse::parse(text) {
            Parsed::Program(p) => p,
            Parsed::Incomplete => return Err(format!("$({text}): unexpected end of input")),
            Parsed::Error(e) => return Err(format!("$({text}): syntax error: {e}")),
        };
        let (r, w) = streams::os_pipe().map_err(|e| format!("pipe: {e}"))?;
        let mut reader = streams::reader(&r).map_err(|e| format!("pipe: {e}"))?;
        drop(r);
        let s = Streams {
            stdin: In::Inherit,
            stdout: Out::Pipe(std::sync::Arc::new(w)),
            stderr: Out::Stderr,
        };
        let mut sub = self.clone();
        let run = async move {
            let mut status = 0;
            for c in &program.complete_commands {
                status = sub.exec_list(c, s.clone()).await;
                sub.status = status;
                if sub.flow.is_some() {
                    break;
                }
            }
            match sub.flow {
                Some(Flow::Exit(code)) => code,
                _ => status,
            }
        };
        let read = async {
            let mut buf = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut buf).await;
            buf
        };
        let (status, out) = futures_util::future::join(run, read).await;
        self.substitution_status = Some(status);
        self.status = status;
        let mut out = String::from_utf8_lossy(&out).into_owned();
        while out.ends_with('\n') {
            out.pop();
        }
        Ok(out)
    }
}

/// A glob pattern (`\` escapes) as an anchored regular expression.
pub(crate) fn glob_regex(pattern: &str) -> Result<Regex, String> {
    let body = brush_parser::pattern::pattern_to_regex_str(pattern, false)
        .map_err(|e| format!("{pattern}: {e}"))?;
    Regex::new(&format!("^(?s:{body})$")).map_err(|e| format!("{pattern}: {e}"))
}

fn remove_affix(v: &str, re: &Regex, suffix: bool, largest: bool) -> String {
    let mut cuts: Vec<usize> = v.char_indices().map(|(i, _)| i).collect();
    cuts.push(v.len());
    // Prefix: the cut after the matched prefix; smallest first unless `largest`.
    let order: Vec<usize> = if suffix == largest {
        cuts.clone()
    } else {
        cuts.iter().rev().copied().collect()
    };
    for i in order {
        let (matched, rest) = if suffix {
            (&v[i..], &v[..i])
        } else {
            (&v[..i], &v[i..])
        };
        if re.is_match(matched) {
            return rest.to_string();
        }
    }
    v.to_string()
}

/// `$'...'` escapes.
fn ansi_c(t: &str) -> String {
    let mut out = String::new();
    let mut it = t.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('e') => out.push('\x1b'),
            Some(c) => out.push(c),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affix_removal_follows_bash() {
        let star_slash = glob_regex("*/").expect("regex");
        assert_eq!(remove_affix("/a/b/c", &star_slash, false, true), "c");
        assert_eq!(remove_affix("/a/b/c", &star_slash, false, false), "a/b/c");
        let dot_star = glob_regex(".*").expect("regex");
        assert_eq!(remove_affix("x.tar.gz", &dot_star, true, false), "x.tar");
        assert_eq!(remove_affix("x.tar.gz", &dot_star, true, true), "x");
    }

    #[test]
    fn fields_split_unquoted_values_only() {
        let mut f = Fields::default();
        f.push("a", false);
        f.split(" b c ");
        f.push("d e", true);
        let texts: Vec<String> = f.finish().into_iter().map(|f| f.text).collect();
        assert_eq!(texts, ["a", "b", "c", "d e"]);
    }
}
