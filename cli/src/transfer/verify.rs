//! Checks a finished download: its size, and its digest against the server's `digest` route
//! computed the same way here (XXH3-128's low 64 bits as 16 hex digits, which is what pfs and AGFS
//! answer for `xxh3`), reading the local file in blocks on the blocking pool.

use std::io::Read;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3Default;

use crate::error::{Error, Result};

/// Block read at a time while hashing.
const BLOCK: usize = 1 << 20;

/// The `xxh3` digest of a local file, as the server's `digest` route writes it.
///
/// # Errors
/// The local read's error.
pub async fn xxh3_file(path: &Path) -> Result<String> {
    let path: PathBuf = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(&path)?;
        let mut h = Xxh3Default::new();
        let mut buf = vec![0u8; BLOCK];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(xxh3_hex(&h))
    })
    .await
    .map_err(|e| Error::Invalid(format!("hashing failed: {e}")))?
    .map_err(Error::Io)
}

/// The hex form of a finished hasher (low 64 bits of the 128-bit digest).
///
/// ```
/// use xxhash_rust::xxh3::Xxh3Default;
/// let mut h = Xxh3Default::new();
/// h.update(b"hello");
/// assert_eq!(pfs_cli::transfer::verify::xxh3_hex(&h).len(), 16);
/// ```
pub fn xxh3_hex(h: &Xxh3Default) -> String {
    format!("{:016x}", h.digest128() as u64)
}

/// Checks that the local file at `path` has `size` bytes.
///
/// # Errors
/// `Invalid` naming both sizes when they differ; the local error when it cannot be read.
pub async fn check_size(path: &Path, size: u64) -> Result<()> {
    let got = tokio::fs::metadata(path).await?.len();
    if got == size {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "size mismatch: expected {size} bytes, got {got}"
        )))
    }
}
