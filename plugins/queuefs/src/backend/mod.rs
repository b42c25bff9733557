//! Where queuefs keeps its queues: the [`Backend`] trait and its implementations (`memory`,
//! `sqlite`, `mysql`/`tidb`).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use fs_core::Result;

pub(crate) mod memory;
pub(crate) mod mysql;
pub(crate) mod sqlite;

/// One message: its time-ordered unique id, the exact bytes written, and when it was enqueued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) id: String,
    pub(crate) data: Bytes,
    pub(crate) timestamp: SystemTime,
}

impl Message {
    /// A new message holding `data`, stamped now with a UUIDv7 (monotonic within the process,
    /// random bits keep ids from two servers apart).
    pub(crate) fn new(data: Bytes) -> Self {
        Message {
            id: uuid::Uuid::now_v7().to_string(),
            data,
            timestamp: wall_now(),
        }
    }

    /// The JSON a read of `dequeue` or `peek` returns: `{"id","data","timestamp"}`, with the data
    /// as (lossy) UTF-8 text and the timestamp in RFC 3339 with nanoseconds.
    pub(crate) fn to_json(&self) -> Bytes {
        #[derive(serde::Serialize)]
        struct Wire<'a> {
            id: &'a str,
            data: &'a str,
            timestamp: String,
        }
        let data = String::from_utf8_lossy(&self.data);
        let wire = Wire {
            id: &self.id,
            data: &data,
            timestamp: fs_core::filesystem::format_time(Some(self.timestamp)),
        };
        Bytes::from(serde_json::to_vec(&wire).expect("a struct of strings serializes"))
    }
}

/// What a backend knows about one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueStat {
    /// Messages waiting.
    pub(crate) size: u64,
    /// When the queue was created.
    pub(crate) created: SystemTime,
    /// When the last message was enqueued, if ever.
    pub(crate) last_enqueue: Option<SystemTime>,
}

/// A store of named FIFO queues. Names are slash-separated without a leading slash
/// (`logs/errors`); every ancestor of an existing queue exists too (`logs`).
///
/// Every operation is atomic on its own; implementations never hold one lock across all queues.
#[async_trait]
pub(crate) trait Backend: Send + Sync + fmt::Debug + 'static {
    /// The backend's config name (`memory`, `sqlite`, `mysql`, `tidb`).
    fn name(&self) -> &'static str;

    /// Creates `queue` and its missing ancestors; an existing queue is left as is.
    async fn create_queue(&self, queue: &str) -> Result<()>;

    /// The queue's counters, or `None` when it does not exist.
    async fn stat(&self, queue: &str) -> Result<Option<QueueStat>>;

    /// Appends `msg` to `queue`, creating the queue (and its ancestors) when missing. `sync` asks
    /// for the strongest durability the backend offers before returning. With `max_len`, a queue
    /// that holds that many messages already is full: nothing changes.
    ///
    /// # Errors
    /// `PayloadTooLarge` ([`queue_full`](crate::limits::queue_full)) when the queue is full.
    async fn enqueue(
        &self,
        queue: &str,
        msg: Message,
        sync: bool,
        max_len: Option<u64>,
    ) -> Result<()>;

    /// Removes and returns the oldest message; `None` when the queue is empty or missing. Each
    /// message is returned to exactly one caller.
    async fn dequeue(&self, queue: &str) -> Result<Option<Message>>;

    /// The oldest message without removing it.
    async fn peek(&self, queue: &str) -> Result<Option<Message>>;

    /// Drops every message of `queue` (not of its sub-queues); a missing queue is a no-op.
    async fn clear(&self, queue: &str) -> Result<()>;

    /// The names (last component only) of the direct sub-queues of `parent`; `""` lists the
    /// top-level queues.
    async fn children(&self, parent: &str) -> Result<Vec<String>>;

    /// Removes `queue`. Without `recursive` it must hold no message and no sub-queue; with it,
    /// the queue goes with its messages and every nested queue.
    ///
    /// # Errors
    /// `NotFound` when the queue does not exist; `DirectoryNotEmpty` (non-recursive) when it has
    /// messages or sub-queues.
    async fn remove_queue(&self, queue: &str, recursive: bool) -> Result<()>;

    /// Removes every queue and message.
    async fn remove_all(&self) -> Result<()>;
}

/// `queue` and its ancestors, shortest first: `a/b/c` → `a`, `a/b`, `a/b/c`.
pub(crate) fn with_ancestors(queue: &str) -> impl Iterator<Item = &str> {
    queue
        .match_indices('/')
        .map(|(i, _)| &queue[..i])
        .chain(std::iter::once(queue))
}

/// Whether `name` is a queue strictly below `queue`.
pub(crate) fn is_below(name: &str, queue: &str) -> bool {
    name.len() > queue.len() + 1 && name.starts_with(queue) && name.as_bytes()[queue.len()] == b'/'
}

/// The wall clock queuefs stamps queues and messages with: [`SystemTime::now`], except in this
/// crate's tests, where it moves with tokio's clock (see `fs_core::conformance::clock`) so that a
/// test under a paused clock sets it exactly. Read it on the async side: on a thread outside the
/// runtime a test would get the real time.
pub(crate) fn wall_now() -> SystemTime {
    #[cfg(test)]
    return fs_core::conformance::clock::wall_now();
    #[cfg(not(test))]
    SystemTime::now()
}

/// Nanoseconds since the Unix epoch (0 before it), as stored by the SQL backends.
pub(crate) fn to_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The inverse of [`to_nanos`].
pub(crate) fn from_nanos(n: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(u64::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_ancestors_lists_shortest_first() {
        assert_eq!(
            with_ancestors("a/b/c").collect::<Vec<_>>(),
            ["a", "a/b", "a/b/c"]
        );
        assert_eq!(with_ancestors("q").collect::<Vec<_>>(), ["q"]);
    }

    #[test]
    fn is_below_needs_a_separator() {
        assert!(is_below("a/b", "a"));
        assert!(!is_below("ab", "a"));
        assert!(!is_below("a", "a"));
    }

    #[test]
    fn message_json_has_the_wire_keys() {
        let m = Message {
            id: "x".into(),
            data: Bytes::from_static(b"hi\n\xff"),
            timestamp: UNIX_EPOCH,
        };
        assert_eq!(
            m.to_json(),
            "{\"id\":\"x\",\"data\":\"hi\\n\u{fffd}\",\"timestamp\":\"1970-01-01T00:00:00.000000000Z\"}"
        );
    }
}
