//! What a backend offers the filesystem logic ([`super::ops`]): the statements of one transaction
//! over the node and chunk tables.

use async_trait::async_trait;
use fs_core::Result;

/// A row of the node table.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) id: i64,
    pub(crate) is_dir: bool,
    pub(crate) mode: u32,
    pub(crate) size: u64,
    pub(crate) mtime_ns: i64,
}

/// The statements of one transaction; every path and value is bound, never spliced into SQL.
///
/// Chunk rows may be shorter than their extent in the file (or missing): the rest reads as zeros.
#[async_trait]
pub(crate) trait Tx: Send {
    /// The node at `path` (locked until commit in write transactions on MySQL).
    async fn node(&mut self, path: &str) -> Result<Option<Node>>;
    /// Inserts a node, returning its id.
    async fn insert(
        &mut self,
        path: &str,
        parent: &str,
        is_dir: bool,
        mode: u32,
        now: i64,
    ) -> Result<i64>;
    /// Sets size and modification time.
    async fn set_size(&mut self, id: i64, size: u64, now: i64) -> Result<()>;
    /// Sets the permission bits.
    async fn set_mode(&mut self, id: i64, mode: u32) -> Result<()>;
    /// One chunk row.
    async fn chunk(&mut self, id: i64, idx: u64) -> Result<Option<Vec<u8>>>;
    /// The chunk rows with `lo <= idx < hi`.
    async fn chunks(&mut self, id: i64, lo: u64, hi: u64) -> Result<Vec<(u64, Vec<u8>)>>;
    /// Inserts or replaces one chunk row.
    async fn put_chunk(&mut self, id: i64, idx: u64, data: &[u8]) -> Result<()>;
    /// Deletes the chunk rows with `idx >= from`.
    async fn delete_chunks_from(&mut self, id: i64, from: u64) -> Result<()>;
    /// Deletes a node and its chunks.
    async fn delete_node(&mut self, id: i64) -> Result<()>;
    /// The direct children of the directory `dir`: (path, node).
    async fn children(&mut self, dir: &str) -> Result<Vec<(String, Node)>>;
    /// Whether `dir` has any child.
    async fn has_children(&mut self, dir: &str) -> Result<bool>;
    /// Deletes every node strictly below `dir`, with their chunks.
    async fn delete_below(&mut self, dir: &str) -> Result<()>;
    /// Moves one node to `to` (its parent `parent`).
    async fn move_node(&mut self, id: i64, to: &str, parent: &str) -> Result<()>;
    /// Moves every node strictly below `from` to the same place below `to`.
    async fn move_below(&mut self, from: &str, to: &str) -> Result<()>;
    /// How many chunk rows `id` has.
    async fn chunk_count(&mut self, id: i64) -> Result<u64>;
    /// Gives node `id` the id `new_id`, so the chunk rows of `new_id` become its content.
    async fn renumber(&mut self, id: i64, new_id: i64) -> Result<()>;
}

/// `(lo, hi)` such that `lo < p < hi` holds exactly for the paths strictly below `dir` (`0`
/// follows `/`), so no `LIKE` pattern (and no wildcard escaping) is ever needed.
pub(crate) fn below_range(dir: &str) -> (String, String) {
    if dir == "/" {
        ("/".to_string(), "0".to_string())
    } else {
        (format!("{dir}/"), format!("{dir}0"))
    }
}
