//! The `memory` backend: queues in process memory, gone when the server stops.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use fs_core::{Error, Result};
use parking_lot::{Mutex, RwLock};

use super::{Backend, Message, QueueStat, is_below, wall_now, with_ancestors};
use crate::limits::queue_full;

/// One queue: its messages and counters, behind its own lock.
#[derive(Debug)]
struct Queue {
    messages: VecDeque<Message>,
    created: SystemTime,
    last_enqueue: Option<SystemTime>,
}

impl Queue {
    fn new() -> Self {
        Queue {
            messages: VecDeque::new(),
            created: wall_now(),
            last_enqueue: None,
        }
    }
}

/// Queues in memory.
#[derive(Debug, Default)]
pub(crate) struct MemoryBackend {
    // The map lock is taken for writing only to add or drop queues. Message operations hold it for
    // reading (shared) plus the one queue's mutex, so independent queues proceed in parallel and a
    // queue cannot be dropped between its lookup and a push (no message lands in a removed queue).
    queues: RwLock<BTreeMap<String, Arc<Mutex<Queue>>>>,
}

impl MemoryBackend {
    /// An empty store.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn with_queue<T>(&self, queue: &str, f: impl FnOnce(&mut Queue) -> T) -> Option<T> {
        let map = self.queues.read();
        map.get(queue).map(|q| f(&mut q.lock()))
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn create_queue(&self, queue: &str) -> Result<()> {
        if self.queues.read().contains_key(queue) {
            return Ok(());
        }
        let mut map = self.queues.write();
        for name in with_ancestors(queue) {
            map.entry(name.to_string())
                .or_insert_with(|| Arc::new(Mutex::new(Queue::new())));
        }
        Ok(())
    }

    async fn stat(&self, queue: &str) -> Result<Option<QueueStat>> {
        Ok(self.with_queue(queue, |q| QueueStat {
            size: q.messages.len() as u64,
            created: q.created,
            last_enqueue: q.last_enqueue,
        }))
    }

    async fn enqueue(
        &self,
        queue: &str,
        msg: Message,
        _sync: bool,
        max_len: Option<u64>,
    ) -> Result<()> {
        let mut msg = Some(msg);
        // Checked and pushed under the queue's lock: concurrent enqueues never pass the limit.
        let push = |q: &mut Queue, msg: &mut Option<Message>| {
            if let Some(max) = max_len
                && q.messages.len() as u64 >= max
            {
                return Err(queue_full(queue, max));
            }
            let m = msg.take().expect("pushed once");
            q.last_enqueue = Some(m.timestamp);
            q.messages.push_back(m);
            Ok(())
        };
        if let Some(pushed) = self.with_queue(queue, |q| push(q, &mut msg)) {
            return pushed;
        }
        // First enqueue: create the queue and its ancestors, then push under the same write lock.
        let mut map = self.queues.write();
        for name in with_ancestors(queue) {
            map.entry(name.to_string())
                .or_insert_with(|| Arc::new(Mutex::new(Queue::new())));
        }
        let q = map
            .get(queue)
            .ok_or_else(|| Error::internal("queue vanished"))?;
        push(&mut q.lock(), &mut msg)
    }

    async fn dequeue(&self, queue: &str) -> Result<Option<Message>> {
        Ok(self.with_queue(queue, |q| q.messages.pop_front()).flatten())
    }

    async fn peek(&self, queue: &str) -> Result<Option<Message>> {
        Ok(self
            .with_queue(queue, |q| q.messages.front().cloned())
            .flatten())
    }

    async fn clear(&self, queue: &str) -> Result<()> {
        self.with_queue(queue, |q| q.messages.clear());
        Ok(())
    }

    async fn children(&self, parent: &str) -> Result<Vec<String>> {
        let map = self.queues.read();
        let names = if parent.is_empty() {
            map.keys().filter(|k| !k.contains('/')).cloned().collect()
        } else {
            let prefix = format!("{parent}/");
            map.range(prefix.clone()..)
                .map(|(k, _)| k)
                .take_while(|k| k.starts_with(&prefix))
                .filter_map(|k| {
                    let rest = &k[prefix.len()..];
                    (!rest.contains('/')).then(|| rest.to_string())
                })
                .collect()
        };
        Ok(names)
    }

    async fn remove_queue(&self, queue: &str, recursive: bool) -> Result<()> {
        let mut map = self.queues.write();
        let Some(q) = map.get(queue) else {
            return Err(Error::not_found(format!("/{queue}")));
        };
        if !recursive {
            let has_children = map
                .range(format!("{queue}/")..)
                .next()
                .is_some_and(|(k, _)| is_below(k, queue));
            if has_children || !q.lock().messages.is_empty() {
                return Err(Error::directory_not_empty(format!("/{queue}")));
            }
        }
        map.remove(queue);
        map.retain(|k, _| !is_below(k, queue));
        Ok(())
    }

    async fn remove_all(&self) -> Result<()> {
        self.queues.write().clear();
        Ok(())
    }
}
