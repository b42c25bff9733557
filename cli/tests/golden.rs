//! Golden tests: each `tests/golden/NAME.pfs` script runs command by command against a fresh
//! server through the real `pfs` binary, and the transcript must equal `tests/golden/NAME.out`.
//!
//! Script lines: `pfs ARGS` runs a command (words split as a shell does with quotes; a trailing
//! `<<< TEXT` gives `TEXT` and a newline on standard input); `#` lines and blank lines are kept in
//! the transcript as they are. Transcript: the command line, its standard output, its standard
//! error with each line prefixed `2> `, and `? CODE` when the exit code is not 0. Only what truly
//! varies is normalised: the server's address, times, queue message ids, the temp directory.
//! `PFS_BLESS=1 cargo test -p pfs-cli --test golden` rewrites the `.out` files.

mod common;

use std::path::PathBuf;

use common::{pfs, serve};
use regex::Regex;

/// Splits a command line into words: whitespace separates, `'...'` is literal, `"..."` keeps
/// spaces and takes `\"` and `\\`, a lone `\` escapes the next character.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                has = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    cur.push(c);
                }
            }
            '"' => {
                has = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\')) => {
                            cur.push(chars.next().expect("peeked"));
                        }
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                has = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            c if c.is_whitespace() => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => {
                has = true;
                cur.push(c);
            }
        }
    }
    if has {
        out.push(cur);
    }
    out
}

fn normalise(text: &str, server: &str, tmp: &str) -> String {
    let time = Regex::new(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?")
        .expect("regex");
    let id = Regex::new(r#""id":"[^"]*""#).expect("regex");
    let text = text.replace(server, "SERVER").replace(tmp, "TMP");
    let text = time.replace_all(&text, "TIME");
    id.replace_all(&text, r#""id":"ID""#).into_owned()
}

async fn run_script(name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let script = std::fs::read_to_string(dir.join(format!("{name}.pfs")))
        .unwrap_or_else(|e| panic!("{name}.pfs: {e}"));
    let server = serve().await;
    let tmp = server.dir().display().to_string();
    let mut transcript = String::new();
    for line in script.lines() {
        let Some(command) = line.strip_prefix("pfs ") else {
            transcript.push_str(line);
            transcript.push('\n');
            continue;
        };
        let (command, stdin) = match command.split_once(" <<< ") {
            Some((c, text)) => (c, Some(format!("{}\n", words(text).join(" ")))),
            None => (command, None),
        };
        let args = words(command);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = pfs(&server, &args, stdin.as_deref().map(str::as_bytes)).await;
        transcript.push_str(line);
        transcript.push('\n');
        transcript.push_str(&out.stdout);
        if !out.stdout.is_empty() && !out.stdout.ends_with('\n') {
            transcript.push('\n');
        }
        for l in out.stderr.lines() {
            transcript.push_str("2> ");
            transcript.push_str(l);
            transcript.push('\n');
        }
        if out.code != 0 {
            transcript.push_str(&format!("? {}\n", out.code));
        }
    }
    let got = normalise(&transcript, &server.url(), &tmp);
    let expected_path = dir.join(format!("{name}.out"));
    if std::env::var_os("PFS_BLESS").is_some() {
        std::fs::write(&expected_path, &got).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|e| panic!("{name}.out: {e} (PFS_BLESS=1 writes it)"));
    if got != expected {
        let diff: Vec<String> = expected
            .lines()
            .zip(got.lines())
            .enumerate()
            .filter(|(_, (e, g))| e != g)
            .take(5)
            .map(|(i, (e, g))| format!("line {}:\n  expected: {e}\n  got:      {g}", i + 1))
            .collect();
        panic!(
            "{name}: transcript differs from {name}.out ({} vs {} lines)\n{}\n--- got ---\n{got}",
            expected.lines().count(),
            got.lines().count(),
            diff.join("\n")
        );
    }
}

macro_rules! golden {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                run_script(stringify!($name)).await;
            }
        )*
    };
}

golden!(readme, files, errors, admin, json);

#[test]
fn words_split_like_a_shell() {
    assert_eq!(
        words(r#"write /a '{"key": "value"}' "x y" z\ w"#),
        ["write", "/a", r#"{"key": "value"}"#, "x y", "z w"]
    );
    assert_eq!(words("  ''  "), [""]);
}
