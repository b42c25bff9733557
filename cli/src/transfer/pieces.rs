//! Pieces: how a file of known size is cut into ranges, and how one piece's attempts are retried
//! with backoff without touching the others.

use std::future::Future;
use std::time::Duration;

use crate::error::Error;

/// One range of a file: bytes `offset..offset + len`, the `index`th of its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Position in the plan, from 0.
    pub index: u64,
    /// First byte.
    pub offset: u64,
    /// Length in bytes (the last piece may be shorter than the others).
    pub len: u64,
}

impl Piece {
    /// The last byte, inclusive (an HTTP `Range` end).
    pub fn last(&self) -> u64 {
        self.offset + self.len.max(1) - 1
    }
}

/// How many pieces of `piece_size` a file of `size` bytes has (an empty file has none).
///
/// ```
/// use pfs_cli::transfer::pieces::count;
/// assert_eq!(count(0, 8), 0);
/// assert_eq!(count(8, 8), 1);
/// assert_eq!(count(9, 8), 2);
/// ```
pub fn count(size: u64, piece_size: u64) -> u64 {
    size.div_ceil(piece_size.max(1))
}

/// The `index`th piece of a file of `size` bytes cut in `piece_size` pieces.
///
/// ```
/// use pfs_cli::transfer::pieces::{Piece, piece};
/// assert_eq!(piece(10, 4, 2), Piece { index: 2, offset: 8, len: 2 });
/// assert_eq!(piece(10, 4, 0).last(), 3);
/// ```
pub fn piece(size: u64, piece_size: u64, index: u64) -> Piece {
    let offset = index * piece_size;
    Piece {
        index,
        offset,
        len: piece_size.min(size.saturating_sub(offset)),
    }
}

/// What one attempt's failure means for the next.
#[derive(Debug)]
pub enum Failure {
    /// Worth another attempt: a broken connection, a short body, a 5xx, 408 or 429.
    Retry(Error),
    /// Not worth one: the server refused (4xx), a local file failed, the answer made no sense.
    Fatal(Error),
}

impl Failure {
    /// Sorts an error of the client: transport errors and server-side failures are retried.
    pub fn from_error(e: Error) -> Self {
        let retry = match &e {
            Error::Connect { .. } | Error::Http(_) => true,
            Error::Api { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            Error::Io(_) | Error::Invalid(_) => false,
        };
        if retry {
            Failure::Retry(e)
        } else {
            Failure::Fatal(e)
        }
    }

    /// The error inside.
    pub fn into_error(self) -> Error {
        match self {
            Failure::Retry(e) | Failure::Fatal(e) => e,
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::from_error(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Fatal(Error::Io(e))
    }
}

/// The pause before attempt `n` (from 1): 200 ms doubling, at most 5 s.
///
/// ```
/// use std::time::Duration;
/// use pfs_cli::transfer::pieces::backoff;
/// assert_eq!(backoff(1), Duration::from_millis(200));
/// assert_eq!(backoff(3), Duration::from_millis(800));
/// assert_eq!(backoff(30), Duration::from_secs(5));
/// ```
pub fn backoff(n: u32) -> Duration {
    let ms = 200u64.saturating_mul(1 << n.saturating_sub(1).min(16));
    Duration::from_millis(ms.min(5000))
}

/// Runs `attempt` until it succeeds, fails fatally, or `attempts` tries failed; each retry waits
/// [`backoff`]. `attempt` gets the try number (from 0) and keeps its own progress between tries
/// (a piece resumes where its last try stopped).
///
/// # Errors
/// The fatal error, or the last retryable one.
pub async fn with_retries<T, F, Fut>(attempts: u32, mut attempt: F) -> Result<T, Error>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut n = 0;
    loop {
        match attempt(n).await {
            Ok(v) => return Ok(v),
            Err(Failure::Retry(_)) if n + 1 < attempts.max(1) => {
                n += 1;
                tokio::time::sleep(backoff(n)).await;
            }
            Err(f) => return Err(f.into_error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_file_exactly() {
        for (size, p) in [(0u64, 4u64), (1, 4), (4, 4), (17, 4), (1 << 30, 8 << 20)] {
            let n = count(size, p);
            let mut next = 0;
            for i in 0..n {
                let pc = piece(size, p, i);
                assert_eq!(pc.offset, next);
                assert!(pc.len > 0 && pc.len <= p);
                next += pc.len;
            }
            assert_eq!(next, size);
        }
    }

    #[tokio::test]
    async fn retries_stop_at_the_bound_and_on_fatal_errors() {
        let mut tries = 0;
        let r: Result<(), _> = with_retries(3, |_| {
            tries += 1;
            async { Err(Failure::Retry(Error::Invalid("short".into()))) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(tries, 3);
        let mut tries = 0;
        let r: Result<(), _> = with_retries(3, |_| {
            tries += 1;
            async { Err(Failure::Fatal(Error::Invalid("no".into()))) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(tries, 1);
        let r = with_retries(3, |n| async move {
            if n < 2 {
                Err(Failure::Retry(Error::Invalid("again".into())))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 2);
    }
}
