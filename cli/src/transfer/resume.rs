//! The state of a partial download, kept next to it so `--continue` fetches only what is missing.
//!
//! A download of `FILE` writes into `FILE.pfs-part` and keeps `FILE.pfs-state`, a small JSON
//! document naming the source and the version it started against (size, entity tag, modification
//! time), the piece size, and the pieces finished so far as ranges of piece numbers:
//!
//! ```json
//! {"version":1,"source":"pfs http://127.0.0.1:8080/memfs/big","size":1073741824,
//!  "etag":"\"v7\"","modified":"2025-01-01T00:00:00Z","piece_size":8388608,"done":[[0,41],[43,50]]}
//! ```
//!
//! The state is rewritten (to a temporary name, then renamed) after each finished piece, after the
//! piece's bytes were written, so a killed client loses at most the pieces in flight.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::source::Head;
use crate::error::{Error, Result};

/// Version of the state format.
const FORMAT: u32 = 1;

/// Where the bytes of a partial download of `target` go.
///
/// ```
/// use pfs_cli::transfer::resume::{part_path, state_path};
/// assert_eq!(part_path("d/big.iso".as_ref()), std::path::Path::new("d/big.iso.pfs-part"));
/// assert_eq!(state_path("big.iso".as_ref()), std::path::Path::new("big.iso.pfs-state"));
/// ```
pub fn part_path(target: &Path) -> PathBuf {
    with_suffix(target, ".pfs-part")
}

/// Where the state of a partial download of `target` is kept.
pub fn state_path(target: &Path) -> PathBuf {
    with_suffix(target, ".pfs-state")
}

fn with_suffix(target: &Path, suffix: &str) -> PathBuf {
    let mut s = target.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// What a partial download was started against, and which of its pieces are on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The state format's version (1).
    pub version: u32,
    /// The source's identity (server and path, or URL).
    pub source: String,
    /// The remote size.
    pub size: u64,
    /// The remote entity tag, when it had one.
    pub etag: Option<String>,
    /// The remote modification time, when it had one.
    pub modified: Option<String>,
    /// The piece size the download was cut with (a resumed download keeps it).
    pub piece_size: u64,
    /// Finished pieces, as inclusive ranges of piece numbers.
    #[serde(with = "ranges")]
    pub done: Vec<bool>,
}

impl State {
    /// A state with no piece done.
    pub fn new(source: String, size: u64, head: &Head, piece_size: u64) -> Self {
        State {
            version: FORMAT,
            source,
            size,
            etag: head.etag.clone(),
            modified: head.modified.clone(),
            piece_size,
            done: vec![false; super::pieces::count(size, piece_size) as usize],
        }
    }

    /// Whether this state belongs to the same version of the same source: same identity, size,
    /// entity tag and modification time.
    pub fn matches(&self, source: &str, size: u64, head: &Head) -> bool {
        self.version == FORMAT
            && self.source == source
            && self.size == size
            && self.etag == head.etag
            && self.modified == head.modified
            && self.piece_size > 0
            && self.done.len() as u64 == super::pieces::count(size, self.piece_size)
    }

    /// Stretches `done` to the plan's piece count after loading (the file stores only ranges).
    fn fit(&mut self) {
        let n = super::pieces::count(self.size, self.piece_size.max(1)) as usize;
        if self.done.len() <= n {
            self.done.resize(n, false);
        }
    }

    /// How many pieces are done.
    pub fn done_count(&self) -> u64 {
        self.done.iter().filter(|d| **d).count() as u64
    }

    /// Reads the state kept for `target`; `None` when there is none or it does not parse.
    pub async fn load(target: &Path) -> Option<State> {
        let bytes = tokio::fs::read(state_path(target)).await.ok()?;
        let mut state: State = serde_json::from_slice(&bytes).ok()?;
        state.fit();
        Some(state)
    }

    /// Writes the state for `target`: to a temporary name, then renamed over the old one.
    ///
    /// # Errors
    /// The local write's error.
    pub async fn save(&self, target: &Path) -> Result<()> {
        let path = state_path(target);
        let tmp = with_suffix(&path, ".tmp");
        let json = serde_json::to_vec(self).map_err(|e| Error::Invalid(e.to_string()))?;
        tokio::fs::write(&tmp, json).await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }

    /// Removes the state kept for `target`.
    pub async fn remove(target: &Path) {
        let _ = tokio::fs::remove_file(state_path(target)).await;
    }
}

/// `done` as `[[first, last], ...]` in JSON.
mod ranges {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(done: &[bool], s: S) -> Result<S::Ok, S::Error> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (i, d) in done.iter().enumerate() {
            if !d {
                continue;
            }
            let i = i as u64;
            match out.last_mut() {
                Some(last) if last.1 + 1 == i => last.1 = i,
                _ => out.push((i, i)),
            }
        }
        out.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<bool>, D::Error> {
        // The length is restored from the size by the caller's `matches` check; here the vector
        // is as long as the last finished piece.
        let pairs = Vec::<(u64, u64)>::deserialize(d)?;
        let len = pairs.iter().map(|p| p.1 + 1).max().unwrap_or(0);
        if len > 1 << 32 {
            return Err(serde::de::Error::custom("piece number out of range"));
        }
        let mut done = vec![false; len as usize];
        for (a, b) in pairs {
            for i in a..=b.min(len.saturating_sub(1)) {
                done[i as usize] = true;
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_with_ranges() {
        let head = Head {
            size: Some(100),
            etag: Some("\"e\"".into()),
            modified: Some("t".into()),
            ranges: true,
        };
        let mut s = State::new("src".into(), 100, &head, 10);
        for i in [0, 1, 2, 5, 9] {
            s.done[i] = true;
        }
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""done":[[0,2],[5,5],[9,9]]"#), "{json}");
        let mut back: State = serde_json::from_str(&json).unwrap();
        back.fit();
        assert_eq!(back, s);
        assert!(back.matches("src", 100, &head));
        assert_eq!(back.done_count(), 5);
        let changed = Head {
            etag: Some("\"f\"".into()),
            ..head.clone()
        };
        assert!(!back.matches("src", 100, &changed));
        assert!(!back.matches("src", 101, &head));
        assert!(!back.matches("other", 100, &head));
    }
}
