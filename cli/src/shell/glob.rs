//! Globbing against the server: each path component with an unquoted `*`, `?` or `[...]` is
//! matched against a listing of the directory so far. Names starting with `.` match only a
//! pattern starting with `.`; matches are sorted; no match leaves the word as it is (bash's
//! default).

use super::Shell;
use super::expand::{Field, glob_regex};

/// Splits a pattern at `/`s that are not escaped.
fn components(pattern: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => {
                let last = out.last_mut().expect("one component");
                last.push('\\');
                if let Some(n) = it.next() {
                    last.push(n);
                }
            }
            '/' => out.push(String::new()),
            c => out.last_mut().expect("one component").push(c),
        }
    }
    out
}

fn has_glob(component: &str) -> bool {
    let mut it = component.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => {
                it.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

fn unescape(component: &str) -> String {
    let mut out = String::new();
    let mut it = component.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn join(base: &str, name: &str) -> String {
    match base {
        "" => name.to_string(),
        b if b.ends_with('/') => format!("{b}{name}"),
        b => format!("{b}/{name}"),
    }
}

impl Shell {
    /// The remote paths matching a field's pattern, in the form it was written (relative stays
    /// relative); the field's text when nothing matches.
    pub(crate) async fn glob(&mut self, f: &Field) -> Result<Vec<String>, String> {
        let comps = components(&f.pattern);
        let absolute = f.pattern.starts_with('/');
        let mut found = vec![if absolute {
            "/".to_string()
        } else {
            String::new()
        }];
        let mut must_check = false;
        let n = comps.len();
        for (i, c) in comps.iter().enumerate() {
            if c.is_empty() {
                continue;
            }
            let last = i + 1 == n;
            if !has_glob(c) {
                let lit = unescape(c);
                for p in &mut found {
                    *p = join(p, &lit);
                }
                continue;
            }
            // What came before this component was only checked by listings so far.
            must_check = false;
            let re = glob_regex(c)?;
            let hidden_ok = c.starts_with('.');
            let mut next = Vec::new();
            for base in &found {
                let dir = self.ctx.resolve(if base.is_empty() { "." } else { base });
                let Ok(listing) = self.ctx.client.list(&dir).await else {
                    continue;
                };
                let Ok(entries) = listing.collect().await else {
                    continue;
                };
                let mut names: Vec<String> = entries
                    .into_iter()
                    .filter(|e| last || e.is_dir || e.is_symlink())
                    .map(|e| e.name)
                    .filter(|name| (hidden_ok || !name.starts_with('.')) && re.is_match(name))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|name| join(base, &name)));
            }
            found = next;
            if found.is_empty() {
                break;
            }
            must_check = !last;
        }
        if must_check {
            // Literal components after the last glob (`/memfs/*/data`): keep what exists.
            let mut kept = Vec::new();
            for p in found {
                let abs = self.ctx.resolve(&p);
                if self.ctx.client.stat(&abs).await.is_ok() {
                    kept.push(p);
                }
            }
            found = kept;
        }
        if found.is_empty() {
            return Ok(vec![f.text.clone()]);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_split_at_unescaped_slashes() {
        assert_eq!(components("/memfs/*.txt"), ["", "memfs", "*.txt"]);
        assert_eq!(components(r"a\*/b"), [r"a\*", "b"]);
        assert!(has_glob("*.txt") && !has_glob(r"\*.txt") && has_glob("f[0-9]"));
        assert_eq!(unescape(r"a\*b"), "a*b");
        assert_eq!(join("/", "memfs"), "/memfs");
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("/memfs", "a"), "/memfs/a");
    }
}
