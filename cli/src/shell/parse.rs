//! Parsing with brush-parser (bash's grammar): whole programs, words, and telling an unfinished
//! command (`for x in a b; do`, an open quote) from a syntax error.

use brush_parser::{ParseError, ParserOptions, TokenizerError, ast};

/// What parsing a piece of input gave.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A complete program (possibly empty: blank lines, comments).
    Program(ast::Program),
    /// More lines are needed (an open quote, `if` without `fi`, a trailing `|` or `&&`).
    Incomplete,
    /// A syntax error, as a message.
    Error(String),
}

/// The options every parse uses: bash syntax, no extended globs (`!(x)` is rare in paths and
/// would make `!` in words surprising).
pub(crate) fn options() -> ParserOptions {
    ParserOptions {
        enable_extended_globbing: false,
        ..ParserOptions::default()
    }
}

/// Parses `text` as a shell program.
pub(crate) fn parse(text: &str) -> Parsed {
    let mut parser = brush_parser::Parser::new(std::io::Cursor::new(text), &options());
    match parser.parse_program() {
        Ok(p) => Parsed::Program(p),
        Err(ParseError::ParsingAtEndOfInput) => Parsed::Incomplete,
        Err(ParseError::Tokenizing { inner, .. }) if unterminated(&inner) => Parsed::Incomplete,
        Err(e) => Parsed::Error(e.to_string()),
    }
}

fn unterminated(e: &TokenizerError) -> bool {
    e.is_incomplete()
}

/// Feeds input line by line and hands out each complete command with its text, the way an
/// interactive shell and a script runner read: a command ends at the first line where what was
/// gathered parses.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    pending: String,
}

impl Reader {
    /// Whether a command is half read (the prompt is then the continuation prompt).
    pub(crate) fn is_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Adds a line (without its newline); gives the text gathered and its parse once complete.
    pub(crate) fn push(&mut self, line: &str) -> Option<(String, Parsed)> {
        self.pending.push_str(line);
        self.pending.push('\n');
        match parse(&self.pending) {
            Parsed::Incomplete => None,
            done => Some((std::mem::take(&mut self.pending), done)),
        }
    }

    /// The end of the input: what is still gathered is an unfinished command.
    pub(crate) fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.pending);
        (!rest.trim().is_empty()).then_some(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_tells_unfinished_from_wrong() {
        assert!(matches!(parse("echo 'a"), Parsed::Incomplete));
        assert!(matches!(parse("for x in a; do"), Parsed::Incomplete));
        assert!(matches!(parse("ls |"), Parsed::Incomplete));
        assert!(matches!(parse("echo $(ls"), Parsed::Incomplete));
        assert!(matches!(parse("fi\n"), Parsed::Error(_)));
        assert!(matches!(parse("ls | grep x && echo y"), Parsed::Program(_)));
    }

    #[test]
    fn reader_gathers_lines_until_a_command_is_complete() {
        let mut r = Reader::default();
        assert!(r.push("if true").is_none());
        assert!(r.is_pending());
        let (text, parsed) = r.push("then echo y; fi").expect("complete");
        assert_eq!(text, "if true\nthen echo y; fi\n");
        assert!(matches!(parsed, Parsed::Program(_)));
        assert!(r.finish().is_none());
    }
}
