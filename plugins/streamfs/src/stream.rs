//! One stream: its ring of recent chunks and its readers, each with a bounded queue of its own.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use fs_core::{ByteStream, Error, FileInfo, Meta, Result};
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::StreamFsConfig;
use super::fs::PLUGIN;

const STREAM_MODE: u32 = 0o644;

/// One reader's queue: the ring history it attached with, then live chunks up to the channel size.
#[derive(Debug, Default)]
struct Queue {
    /// Chunks of the ring at attach time; not counted against the channel size.
    history: VecDeque<Bytes>,
    live: VecDeque<Bytes>,
    live_bytes: u64,
    /// Set when the stream is removed: the reader ends once its queue is drained.
    closed: bool,
}

#[derive(Debug, Default)]
struct ReaderQueue {
    queue: Mutex<Queue>,
    // One waiter per queue; `notify_one` stores a permit when the reader is not waiting yet, so a
    // chunk pushed between the reader's check and its wait is never missed.
    ready: Notify,
}

impl ReaderQueue {
    fn close(&self) {
        self.queue.lock().closed = true;
        self.ready.notify_one();
    }
}

/// Everything about one stream that changes, behind one lock.
#[derive(Debug)]
struct StreamState {
    ring: VecDeque<Bytes>,
    ring_bytes: u64,
    readers: HashMap<u64, Arc<ReaderQueue>>,
    next_reader: u64,
    total_written: u64,
    /// Chunks dropped for slow readers since the stream was created, over all readers.
    dropped_chunks: u64,
    modified: SystemTime,
    /// Set when the stream is removed; a writer or reader still holding it then sees `NotFound`.
    closed: bool,
}

impl StreamState {
    /// Drops the oldest chunks until the ring holds at most `max` bytes.
    fn trim_ring(&mut self, max: u64) {
        while self.ring_bytes > max {
            let old = self
                .ring
                .pop_front()
                .expect("ring holds the bytes it counts");
            self.ring_bytes -= old.len() as u64;
        }
    }
}

/// One stream.
#[derive(Debug)]
pub(super) struct Stream {
    // Writers and attaching readers take this lock, then (writers) each reader's queue lock; readers
    // take only their own queue lock, and a departing reader only this one, so no cycle exists.
    state: Mutex<StreamState>,
}

impl Stream {
    pub(super) fn new() -> Self {
        Stream {
            state: Mutex::new(StreamState {
                ring: VecDeque::new(),
                ring_bytes: 0,
                readers: HashMap::new(),
                next_reader: 0,
                total_written: 0,
                dropped_chunks: 0,
                modified: SystemTime::now(),
                closed: false,
            }),
        }
    }

    /// Appends one chunk to the ring and offers it to every reader; never waits. Writers go
    /// through `StreamFs::push`, which holds the sizes in force meanwhile.
    pub(super) fn push(&self, chunk: Bytes, config: &StreamFsConfig, path: &str) -> Result<()> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(Error::not_found(path));
        }
        st.modified = SystemTime::now();
        if chunk.is_empty() {
            return Ok(());
        }
        let len = chunk.len() as u64;
        st.total_written += len;
        if len <= config.ring_buffer_size {
            st.ring.push_back(chunk.clone());
            st.ring_bytes += len;
            st.trim_ring(config.ring_buffer_size);
        } else {
            // The history stays a contiguous suffix of the stream: a chunk larger than the ring
            // leaves it empty.
            st.ring.clear();
            st.ring_bytes = 0;
        }
        let mut dropped = 0;
        for reader in st.readers.values() {
            let mut q = reader.queue.lock();
            // An empty queue takes any chunk, so a reader that keeps up gets chunks larger than
            // the channel size too.
            if q.live.is_empty() || q.live_bytes + len <= config.channel_buffer_size {
                q.live.push_back(chunk.clone());
                q.live_bytes += len;
                drop(q);
                reader.ready.notify_one();
            } else {
                dropped += 1;
            }
        }
        st.dropped_chunks += dropped;
        Ok(())
    }

    /// Drops the ring's oldest chunks until it holds at most `max` bytes (a smaller ring size);
    /// the readers' queues, history included, are theirs and are not cut.
    pub(super) fn trim_ring(&self, max: u64) {
        self.state.lock().trim_ring(max);
    }

    /// Adds a reader that starts with the current ring history.
    pub(super) fn attach(self: &Arc<Self>, path: &str) -> Result<Reader> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(Error::not_found(path));
        }
        let queue = Arc::new(ReaderQueue {
            queue: Mutex::new(Queue {
                history: st.ring.clone(),
                ..Queue::default()
            }),
            ready: Notify::new(),
        });
        let id = st.next_reader;
        st.next_reader += 1;
        st.readers.insert(id, Arc::clone(&queue));
        Ok(Reader {
            stream: Arc::clone(self),
            id,
            queue,
        })
    }

    /// Ends every reader (after what is already queued for it) and refuses further use.
    pub(super) fn close(&self) {
        let mut st = self.state.lock();
        st.closed = true;
        for reader in st.readers.values() {
            reader.close();
        }
        st.ring.clear();
        st.ring_bytes = 0;
    }

    /// Sets the modification time to now.
    pub(super) fn touch(&self, path: &str) -> Result<()> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(Error::not_found(path));
        }
        st.modified = SystemTime::now();
        Ok(())
    }

    pub(super) fn info(&self, name: &str) -> FileInfo {
        let st = self.state.lock();
        let content = BTreeMap::from([
            ("total_written".to_string(), st.total_written.to_string()),
            ("active_readers".to_string(), st.readers.len().to_string()),
            ("dropped_chunks".to_string(), st.dropped_chunks.to_string()),
        ]);
        let mut meta = Meta::new(PLUGIN, "stream");
        meta.content = Some(content);
        FileInfo::file(name, st.total_written, STREAM_MODE, Some(st.modified)).with_meta(meta)
    }
}

/// A live reader. Dropping it (the HTTP client went away) unregisters it and frees its queue.
#[derive(Debug)]
pub(super) struct Reader {
    stream: Arc<Stream>,
    id: u64,
    queue: Arc<ReaderQueue>,
}

impl Reader {
    /// The next chunk: history first, then live chunks; `None` once the stream is removed and the
    /// queue drained.
    pub(super) async fn next(&self) -> Option<Bytes> {
        loop {
            {
                let mut q = self.queue.queue.lock();
                if let Some(chunk) = q.history.pop_front() {
                    return Some(chunk);
                }
                if let Some(chunk) = q.live.pop_front() {
                    q.live_bytes -= chunk.len() as u64;
                    return Some(chunk);
                }
                if q.closed {
                    return None;
                }
            }
            self.queue.ready.notified().await;
        }
    }

    pub(super) fn into_stream(self) -> ByteStream {
        Box::pin(futures_util::stream::unfold(self, |reader| async move {
            let chunk = reader.next().await?;
            Some((Ok(chunk), reader))
        }))
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stream.state.lock().readers.remove(&self.id);
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn ring_keeps_most_recent_bytes() {
        let config = StreamFsConfig {
            ring_buffer_size: 10,
            channel_buffer_size: 100,
        };
        let s = Stream::new();
        for chunk in ["aaaa", "bbbb", "cccc"] {
            s.push(Bytes::from_static(chunk.as_bytes()), &config, "/s")
                .unwrap();
        }
        let ring: Vec<Bytes> = s.state.lock().ring.iter().cloned().collect();
        assert_eq!(ring, ["bbbb", "cccc"]);
        s.push(Bytes::from(vec![b'x'; 11]), &config, "/s").unwrap();
        assert!(s.state.lock().ring.is_empty());
        assert_eq!(s.state.lock().total_written, 23);
    }
}
