//! Runs the curl examples of the repository's `README.md` and of the pages listed in
//! [`tests::DOCS`], in that order, against one fresh server on the embedded default config, and
//! checks their output.
//!
//! The convention (docs/development.md, "Testing", states it too): inside a ```` ```bash ```` fence,
//! a line starting with `curl ` is a command (a line ending in `\` continues on the next line). The
//! `# ` comment lines right after it are its expected stdout, one per line; an expected line ending
//! in `...` matches as a prefix, any other exactly. Without such comments only the exit status is
//! checked. Every command must exit 0. `http://localhost:8080` becomes the test server's URL.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Fewer commands than this means the extraction is broken, not that the README is short.
const MIN_COMMANDS: usize = 15;
/// The URL the README's examples use.
const README_URL: &str = "http://localhost:8080";
/// The longest a single example may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// One curl example of a page.
#[derive(Debug)]
struct Example {
    /// The page (a path of `tests::DOCS`); empty until the caller fills it in.
    doc: &'static str,
    /// 1-based line of the page where the command starts.
    line: usize,
    /// The command as written (continuation lines joined).
    command: String,
    /// The expected stdout lines; empty: only the exit status is checked.
    expected: Vec<String>,
}

/// Extracts the examples from Markdown text.
fn extract(markdown: &str) -> Vec<Example> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out = Vec::new();
    let mut in_bash = false;
    // A walkthrough region (`<!-- NAME-walkthrough:begin ... -->` to `...:end -->`) needs a server
    // of its own: the plugin one is run by `scripts/readme-plugins`, the security one by
    // `readme_security_walkthrough_passes_against_its_config` below.
    let mut in_walkthrough = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if let Some(marker) = trimmed.strip_prefix("<!-- ")
            && let Some((name, edge)) = marker.split_once("-walkthrough:")
            && !name.contains(' ')
        {
            in_walkthrough = edge.starts_with("begin");
        }
        if in_walkthrough {
            i += 1;
            continue;
        }
        if trimmed.starts_with("```") {
            in_bash = !in_bash && trimmed.trim_end() == "```bash";
            i += 1;
            continue;
        }
        if !in_bash || !line.starts_with("curl ") {
            i += 1;
            continue;
        }
        let start = i;
        let mut command = line.to_string();
        // Kept as written: `sh` reads backslash-newline as a continuation.
        while command.ends_with('\\') && i + 1 < lines.len() {
            i += 1;
            command.push('\n');
            command.push_str(lines[i]);
        }
        i += 1;
        let mut expected = Vec::new();
        while i < lines.len() {
            let l = lines[i];
            if l == "#" {
                expected.push(String::new());
            } else if let Some(rest) = l.strip_prefix("# ") {
                expected.push(rest.to_string());
            } else {
                break;
            }
            i += 1;
        }
        out.push(Example {
            doc: "",
            line: start + 1,
            command,
            expected,
        });
    }
    out
}

/// Whether `actual` is what `expected` describes.
fn matches(expected: &[String], actual: &str) -> bool {
    let actual: Vec<&str> = actual.lines().collect();
    expected.len() == actual.len()
        && expected
            .iter()
            .zip(&actual)
            .all(|(e, a)| match e.strip_suffix("...") {
                Some(prefix) => a.starts_with(prefix),
                None => e == a,
            })
}

/// Runs `command` with `sh -c`, with curl's user config and proxies out of the way (and
/// `S3_ENDPOINT` set when an S3 server is given, `PFS_DATA_DIR` when a data directory is).
fn run(
    command: &str,
    curl_home: &Path,
    s3_endpoint: Option<&str>,
    data_dir: Option<&Path>,
) -> Output {
    let mut sh = Command::new("sh");
    if let Some(dir) = data_dir {
        sh.env("PFS_DATA_DIR", dir);
    }
    if let Some(endpoint) = s3_endpoint {
        sh.env("S3_ENDPOINT", endpoint);
    }
    let child = sh
        .arg("-c")
        .arg(command)
        .env("CURL_HOME", curl_home)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sh");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(COMMAND_TIMEOUT) {
        Ok(out) => out.expect("wait for sh"),
        Err(_) => panic!("timed out after {COMMAND_TIMEOUT:?} (sh pid {pid}):\n{command}"),
    }
}

fn tool_available(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn extraction_follows_the_convention() {
    let md = "text\n```bash\n# a comment\ncurl -s a \\\n  -d b\n# out 1\n# out...\n#\n\ncurl -s c\necho no\n```\n\
              ```yaml\ncurl -s not-a-command\n# no\n```\n```bash\ncurl -s d\n# x\nplain\n# not expected\n```\n";
    let ex = extract(md);
    let got: Vec<(usize, &str, Vec<&str>)> = ex
        .iter()
        .map(|e| {
            (
                e.line,
                e.command.as_str(),
                e.expected.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (4, "curl -s a \\\n  -d b", vec!["out 1", "out...", ""]),
            (10, "curl -s c", vec![]),
            (18, "curl -s d", vec!["x"]),
        ]
    );
    let expected = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(matches(&expected(&["a", "b..."]), "a\nbcd\n"));
    assert!(matches(&expected(&["a", "b..."]), "a\nbcd"));
    assert!(!matches(&expected(&["a"]), "a\nb"));
    assert!(!matches(&expected(&["a"]), "ab"));
    assert!(matches(&expected(&["..."]), "anything"));
}

#[test]
fn readme_curl_examples_pass_against_a_fresh_server() {
    let mut examples = Vec::new();
    for doc in tests::DOCS {
        examples.extend(extract(&tests::read_doc(doc)).into_iter().map(|mut e| {
            e.doc = doc;
            e
        }));
    }
    assert!(
        examples.iter().filter(|e| e.doc == "README.md").count() >= MIN_COMMANDS,
        "found fewer than {MIN_COMMANDS} curl examples in README.md: is the convention still followed?"
    );
    assert!(
        tool_available("curl"),
        "curl is not installed (scripts/test installs it)"
    );
    if examples.iter().any(|e| e.command.contains("jq ")) {
        assert!(
            tool_available("jq"),
            "the README's examples use jq, which is not installed (scripts/test installs it)"
        );
    }

    // An empty curl config: a user's ~/.curlrc must not change what the examples print.
    let curl_home = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(curl_home.path().join(".curlrc"), "max-time = 30\n").expect("write .curlrc");

    // The S3FS section needs an S3 server: scripts/test starts moto (PFS_TEST_S3_ENDPOINT), and the
    // examples find it as S3_ENDPOINT. Without one, that section is skipped (outside CI only).
    let s3 = std::env::var("PFS_TEST_S3_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty());
    if s3.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "PFS_TEST_S3_ENDPOINT is not set: CI must run the README's S3FS examples (scripts/test starts moto)"
        );
        println!("skipping the S3FS examples: set PFS_TEST_S3_ENDPOINT (scripts/test starts moto)");
    }
    let server = tests::start_server(&[]);
    let mut skipped = 0;
    for (n, ex) in examples.iter().enumerate() {
        if s3.is_none() && (ex.command.contains("S3_ENDPOINT") || ex.command.contains("/s3")) {
            skipped += 1;
            continue;
        }
        let command = ex.command.replace(README_URL, &server.base_url);
        // `$PFS_DATA_DIR` in an example is the server's data directory, as for a user who set it.
        let out = run(
            &command,
            curl_home.path(),
            s3.as_deref(),
            Some(server.data_dir.path()),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let ok = out.status.success() && (ex.expected.is_empty() || matches(&ex.expected, &stdout));
        assert!(
            ok,
            "{} line {} (example {} of {}) failed\n--- command\n{}\n--- expected stdout\n{}\n--- actual stdout\n{}\n--- {}\n--- stderr\n{}",
            ex.doc,
            ex.line,
            n + 1,
            examples.len(),
            ex.command,
            if ex.expected.is_empty() {
                "(not checked)".to_string()
            } else {
                ex.expected.join("\n")
            },
            stdout,
            out.status,
            String::from_utf8_lossy(&out.stderr),
        );
    }
    println!(
        "{} README examples passed, {skipped} skipped",
        examples.len() - skipped
    );
}

/// The README's security walkthrough: the server runs on the section's YAML (its `/etc/pfs/`
/// token files made in a temporary directory), then its curl examples run as in the test above.
#[test]
fn readme_security_walkthrough_passes_against_its_config() {
    let readme = tests::read_doc("README.md");
    let start = readme
        .find("<!-- security-walkthrough:begin")
        .expect("README has the security walkthrough");
    let end = readme[start..]
        .find("<!-- security-walkthrough:end")
        .map(|e| start + e)
        .expect("the walkthrough ends");
    let region = &readme[start..end];
    let region = &region[region.find('\n').unwrap() + 1..];
    let yaml = region
        .split("```yaml\n")
        .nth(1)
        .and_then(|r| r.split("```").next())
        .expect("the walkthrough has a YAML block");
    let etc = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(etc.path().join("reader.token"), "reader-token-change-me\n").unwrap();
    let yaml = yaml.replace("/etc/pfs/", &format!("{}/", etc.path().display()));
    let config = etc.path().join("secure.yaml");
    std::fs::write(&config, yaml).unwrap();
    let examples = extract(region);
    assert!(examples.len() >= 5, "{examples:?}");
    let curl_home = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(curl_home.path().join(".curlrc"), "max-time = 30\n").unwrap();
    let server = tests::start_server(&["-c", config.to_str().unwrap()]);
    for ex in &examples {
        let command = ex.command.replace(README_URL, &server.base_url);
        let out = run(&command, curl_home.path(), None, None);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && matches(&ex.expected, &stdout),
            "README security example at region line {}\n--- command\n{}\n--- expected\n{}\n--- actual\n{}",
            ex.line,
            ex.command,
            ex.expected.join("\n"),
            stdout
        );
    }
}
