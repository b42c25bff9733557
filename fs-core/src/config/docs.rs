//! The documentation that follows from a plugin's declared keys, and the checks that it does: the
//! key table of the plugin's README ([`key_table`], [`check_readme`]) and the keys its section of
//! the sample config names ([`sample_keys`]). The workspace's `tests` crate runs them for every
//! built-in plugin; with `PFS_BLESS=1` it rewrites the README tables from the declarations.

use std::collections::BTreeSet;
use std::ops::Range;

use std::collections::BTreeMap;

use super::{Change, ConfigParam, ParamType};

/// The header row of a README's key table. `live`: whether a mounted instance takes a new value
/// in place (`POST /api/v1/mounts/config`); otherwise a change needs a remount.
pub const TABLE_HEADER: &str = "| key | type | default | live | meaning |";

/// The mark a key's line in the sample config carries when the key changes in place.
pub const LIVE_MARK: &str = "(live)";

/// The word a README's key table uses for `kind`.
pub fn type_word(kind: ParamType) -> &'static str {
    match kind {
        ParamType::String => "string",
        ParamType::Int => "integer",
        ParamType::Float => "number",
        ParamType::Bool => "bool",
        ParamType::StringList => "list of strings",
        ParamType::StringMap => "map",
        ParamType::Size => "size",
        ParamType::Duration => "duration",
    }
}

/// The README key table of `params`: the header, then one row per key in order.
///
/// ```
/// use fs_core::config::{ConfigParam, ParamType, docs::key_table};
/// let t = key_table(&[ConfigParam::optional("max", ParamType::Size, "1GB", "the largest file")]);
/// assert_eq!(t, "| key | type | default | live | meaning |\n|---|---|---|---|---|\n| `max` | size | 1GB | no | the largest file |\n");
/// ```
pub fn key_table(params: &[ConfigParam]) -> String {
    let mut out = format!("{TABLE_HEADER}\n|---|---|---|---|---|\n");
    for p in params {
        let default = match (p.required, p.default.as_ref()) {
            (true, _) => "required",
            (false, "") => "—",
            (false, d) => d,
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            p.name,
            type_word(p.kind),
            default.replace('|', "\\|"),
            if p.change == Change::Live {
                "yes"
            } else {
                "no"
            },
            p.description.replace('|', "\\|")
        ));
    }
    out
}

/// Where the key table is in `readme`: from its header row to the end of its last row.
fn table_span(readme: &str) -> Option<Range<usize>> {
    let start = readme.find(&format!("{TABLE_HEADER}\n"))?;
    let mut end = start;
    for line in readme[start..].split_inclusive('\n') {
        if !line.starts_with('|') {
            break;
        }
        end += line.len();
    }
    Some(start..end)
}

/// Checks that `readme`'s key table is [`key_table`] of `params` (and that a plugin without keys
/// has no table).
///
/// # Errors
/// What differs, with the table the README should have.
pub fn check_readme(readme: &str, params: &[ConfigParam]) -> Result<(), String> {
    match (table_span(readme), params.is_empty()) {
        (None, true) => Ok(()),
        (Some(_), true) => {
            Err("the README has a key table, but the plugin declares no keys".into())
        }
        (None, false) => Err(format!(
            "the README has no key table (a table starting `{TABLE_HEADER}`); it should be:\n{}",
            key_table(params)
        )),
        (Some(span), false) => {
            let want = key_table(params);
            let have = &readme[span];
            if have == want {
                return Ok(());
            }
            let first = have
                .lines()
                .zip(want.lines())
                .find(|(h, w)| h != w)
                .map(|(h, w)| format!("first difference:\n  README:   {h}\n  declared: {w}\n"))
                .unwrap_or_else(|| "the tables differ in length\n".into());
            Err(format!("{first}the table should be:\n{want}"))
        }
    }
}

/// `readme` with its key table replaced by [`key_table`] of `params`; `None` when it has none.
pub fn bless_readme(readme: &str, params: &[ConfigParam]) -> Option<String> {
    let span = table_span(readme)?;
    let mut out = readme.to_string();
    out.replace_range(span, &key_table(params));
    Some(out)
}

/// The config keys that `plugin`'s section of the sample config names, commented out or not, in
/// the `config:` maps of its entries (nested maps such as kvfs's `initial_data` values are not
/// keys); `None` when the sample has no section for it.
///
/// A section starts at the line `  <plugin>:` (or `  # <plugin>:`) under `plugins:` and ends at the
/// next such line of another plugin. A commented line counts as if its `# ` were not there.
///
/// ```
/// use fs_core::config::docs::sample_keys;
/// let sample = "plugins:\n  memfs:\n    path: /m\n    config:\n      # Dirs.\n      init_dirs: [/a]\n      # max_file_size: 1GB\n  kvfs:\n    path: /k\n";
/// let keys = sample_keys(sample, "memfs").unwrap();
/// assert_eq!(keys.into_iter().collect::<Vec<_>>(), ["init_dirs", "max_file_size"]);
/// ```
pub fn sample_keys(sample: &str, plugin: &str) -> Option<BTreeSet<String>> {
    sample_key_marks(sample, plugin).map(|m| m.into_keys().collect())
}

/// [`sample_keys`], each with whether one of its lines carries [`LIVE_MARK`] (in a trailing
/// comment: `max_file_size: 1GB  # (live)`).
///
/// ```
/// use fs_core::config::docs::sample_key_marks;
/// let sample = "plugins:\n  memfs:\n    path: /m\n    config:\n      init_dirs: [/a]  # (live)\n      # max_file_size: 1GB\n";
/// let marks = sample_key_marks(sample, "memfs").unwrap();
/// assert_eq!(marks.into_iter().collect::<Vec<_>>(), [("init_dirs".to_string(), true), ("max_file_size".to_string(), false)]);
/// ```
pub fn sample_key_marks(sample: &str, plugin: &str) -> Option<BTreeMap<String, bool>> {
    let lines: Vec<String> = sample.lines().map(uncomment).collect();
    let plugins = lines.iter().position(|l| l == "plugins:")?;
    let is_entry = |l: &str| {
        l.len() > 2
            && l.starts_with("  ")
            && !l[2..].starts_with(' ')
            && key_of(&l[2..]).is_some_and(|k| l[2..].trim_end() == format!("{k}:"))
    };
    let start = plugins
        + 1
        + lines[plugins + 1..]
            .iter()
            .position(|l| is_entry(l) && key_of(&l[2..]) == Some(plugin))?;
    let end = lines[start + 1..]
        .iter()
        .position(|l| is_entry(l))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut keys: BTreeMap<String, bool> = BTreeMap::new();
    let mut config_indent: Option<usize> = None;
    let mut key_indent: Option<usize> = None;
    for line in &lines[start + 1..end] {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim_start();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        if let Some(ci) = config_indent {
            if indent <= ci {
                config_indent = None;
                key_indent = None;
            } else {
                let ki = *key_indent.get_or_insert(indent);
                if indent == ki
                    && let Some(k) = key_of(text)
                {
                    *keys.entry(k.to_string()).or_default() |= text.contains(LIVE_MARK);
                }
                continue;
            }
        }
        if text.trim_start_matches("- ").starts_with("config:") {
            config_indent = Some(indent + if text.starts_with("- ") { 2 } else { 0 });
        }
    }
    Some(keys)
}

/// A line with its first `# ` (at the start of its text) taken out, so a commented-out key reads
/// as the key at the same indentation.
fn uncomment(line: &str) -> String {
    let text = line.trim_start();
    let indent = line.len() - text.len();
    match text.strip_prefix("# ") {
        Some(rest) => format!("{}{rest}", &line[..indent]),
        None => line.to_string(),
    }
}

/// The key a YAML line `key: ...` names (lowercase words and `_`), if it is one.
fn key_of(text: &str) -> Option<&str> {
    let (key, _) = text.split_once(':')?;
    (!key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
    .then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<ConfigParam> {
        vec![
            ConfigParam::required("dir", ParamType::String, "the directory"),
            ConfigParam::optional("ro", ParamType::Bool, "false", "refuse a | b"),
        ]
    }

    #[test]
    fn readme_tables_are_checked_and_blessed() {
        let good = format!("# p\n\n{}\nMore.\n", key_table(&params()));
        assert_eq!(check_readme(&good, &params()), Ok(()));
        let stale = good.replace("| bool | false |", "| bool | true |");
        let e = check_readme(&stale, &params()).unwrap_err();
        assert!(e.contains("README:   | `ro` | bool | true"), "{e}");
        assert_eq!(
            bless_readme(&stale, &params()).as_deref(),
            Some(good.as_str())
        );
        assert!(check_readme("# p\n", &params()).is_err());
        assert!(check_readme(&good, &[]).is_err());
        assert_eq!(check_readme("# p\n", &[]), Ok(()));
    }

    #[test]
    fn sample_keys_follow_each_entry_config() {
        let sample = "\
server:
  address: x
plugins:
  # kvfs: a store.
  kvfs:
    - name: main
      path: /kvfs
      config:
        initial_data:
          welcome: hi
        # max_total_size: 1GB
    - name: cache
      config: {}
  # serverinfofs: facts.
  serverinfofs:
    path: /s
    # config:
    #   # The version text.
    #   version: \"1\"
";
        let kv: Vec<_> = sample_keys(sample, "kvfs").unwrap().into_iter().collect();
        assert_eq!(kv, ["initial_data", "max_total_size"]);
        let si: Vec<_> = sample_keys(sample, "serverinfofs")
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(si, ["version"]);
        assert_eq!(sample_keys(sample, "memfs"), None);
    }
}
