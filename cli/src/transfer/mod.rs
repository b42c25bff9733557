//! Transfers: remote-to-remote copies, and the Dragonfly-style transfers between this machine and
//! the server: head first, then big files in ranged pieces fetched in parallel, retried piece by
//! piece, verified and resumable; uploads that stream and leave the target as it was on failure.
//!
//! The parts: [`local`] (the `local:` path syntax, local trees, positional writes), [`pieces`]
//! (piece plans, retries), [`source`] (what a download reads: a pfs path or any HTTP URL),
//! [`download`], [`upload`], [`tree`] (whole directories), [`resume`] (the state kept next to a partial download), [`verify`]
//! (digests computed locally) and [`progress`] (bars kept out of the transfer logic).

pub mod download;
pub mod local;
pub mod pieces;
pub mod progress;
pub mod remote;
pub mod resume;
pub mod source;
pub mod tree;
pub mod upload;
pub mod verify;

use std::sync::Arc;

pub use remote::{TreeReport, copy_file, copy_tree, disk_usage, move_across};

use crate::error::Error;

/// One MiB.
pub const MIB: u64 = 1 << 20;
/// Download piece size when none is given: large enough that a request's round trip is small next
/// to its transfer, small enough that a 1 GiB file has 128 pieces to spread and retry.
pub const DEFAULT_PIECE_SIZE: u64 = 8 * MIB;
/// Upload piece size when none is given: half the server's default body limit (64 MiB), so a file
/// up to it goes as one body and larger ones in pieces the server accepts.
pub const DEFAULT_UPLOAD_PIECE_SIZE: u64 = 32 * MIB;
/// Requests in flight at once when none is given (pieces of a file, or files of a tree).
pub const DEFAULT_PARALLEL: usize = 4;
/// Attempts per piece (or per small file) before the transfer fails.
pub const DEFAULT_ATTEMPTS: u32 = 5;

/// How a transfer runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Piece size of downloads; files up to it go in one request.
    pub piece_size: u64,
    /// Piece size of uploads; files up to it go as one body.
    pub upload_piece_size: u64,
    /// Requests in flight at once, across all files of a transfer.
    pub parallel: usize,
    /// Attempts per piece before giving up.
    pub attempts: u32,
    /// `--continue`: keep what a previous, interrupted download fetched.
    pub resume: bool,
    /// Compare the server's digest of a pieced download with the local file's.
    pub verify: bool,
    /// Where progress goes.
    pub progress: Arc<dyn progress::Progress>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            piece_size: DEFAULT_PIECE_SIZE,
            upload_piece_size: DEFAULT_UPLOAD_PIECE_SIZE,
            parallel: DEFAULT_PARALLEL,
            attempts: DEFAULT_ATTEMPTS,
            resume: false,
            verify: true,
            progress: Arc::new(progress::Quiet),
        }
    }
}

/// What a tree transfer did; the files that failed are listed with their errors, and the others
/// were still transferred.
#[derive(Debug, Default)]
pub struct Report {
    /// Files transferred.
    pub files: u64,
    /// Bytes transferred.
    pub bytes: u64,
    /// Directories made.
    pub dirs: u64,
    /// Entries left out on purpose (symbolic links), with why.
    pub skipped: Vec<(String, String)>,
    /// Entries that failed, each with the path as the user would name it.
    pub failed: Vec<(String, Error)>,
}
