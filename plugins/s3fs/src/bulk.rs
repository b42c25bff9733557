//! Operations over many keys: deleting a tree (`DeleteObjects`, up to 1000 keys a request) and
//! moving a directory (copies in flight together, then one batched delete).

use std::sync::atomic::Ordering;

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use bytes::Bytes;
use fs_core::{Error, ErrorKind, Result};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::fs::S3Fs;

/// Keys per `DeleteObjects` request (S3's limit).
pub(crate) const DELETE_BATCH: usize = 1000;
/// Server-side copies in flight at once while a directory moves.
pub(crate) const COPY_CONCURRENCY: usize = 8;

impl S3Fs {
    /// Deletes `keys`, [`DELETE_BATCH`] to a `DeleteObjects` request, and reports how many remain
    /// when some could not be deleted.
    ///
    /// A server that refuses `DeleteObjects` as a whole (some S3-compatible servers lack it or
    /// want a checksum the client does not send) gets one `DeleteObject` per key from then on.
    pub(crate) async fn delete_all(&self, path: &str, keys: &[String]) -> Result<()> {
        let mut failed = 0usize;
        let mut first: Option<Error> = None;
        for batch in keys.chunks(self.delete_batch_size) {
            let left = if self.batch_deletes.load(Ordering::Relaxed) {
                match self.delete_batch(path, batch).await {
                    Ok(left) => left,
                    Err(e) => {
                        tracing::warn!(
                            "s3fs: {}: DeleteObjects refused ({}); deleting one key at a time",
                            self.where_,
                            e.message()
                        );
                        self.batch_deletes.store(false, Ordering::Relaxed);
                        self.delete_each(path, batch).await
                    }
                }
            } else {
                self.delete_each(path, batch).await
            };
            failed += left.len();
            if let Some(e) = left.into_iter().next() {
                first.get_or_insert(e);
            }
        }
        match first {
            None => Ok(()),
            Some(e) => {
                let message = format!(
                    "deleted {} of {} objects; {failed} remain (first error: {})",
                    keys.len() - failed,
                    keys.len(),
                    e.message()
                );
                Err(e.with_message(message))
            }
        }
    }

    /// One `DeleteObjects` request (quiet: only failures come back); `Ok` holds an error per key
    /// that stayed, `Err` means the request itself was refused.
    async fn delete_batch(&self, path: &str, batch: &[String]) -> Result<Vec<Error>> {
        #[cfg(test)]
        if self.refuse_batch_deletes.load(Ordering::SeqCst) {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "injected DeleteObjects refusal",
            ));
        }
        let objects = batch
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        let out = self
            .client
            .delete_objects()
            .bucket(&self.bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| self.err(path, e))?;
        Ok(out
            .errors()
            .iter()
            .map(|e| {
                let kind = match e.code() {
                    Some("AccessDenied") => ErrorKind::PermissionDenied,
                    _ => ErrorKind::Unavailable,
                };
                Error::new(
                    kind,
                    format!(
                        "{}: {} ({})",
                        e.key().unwrap_or("?"),
                        e.message().unwrap_or("not deleted"),
                        e.code().unwrap_or("no code")
                    ),
                )
                .with_path(path)
            })
            .collect())
    }

    /// One `DeleteObject` per key; the errors of the keys that stayed.
    async fn delete_each(&self, path: &str, batch: &[String]) -> Vec<Error> {
        let mut left = Vec::new();
        for key in batch {
            if let Err(e) = self.delete(path, key).await {
                left.push(e);
            }
        }
        left
    }

    /// Moves one directory's keys from `from` to `to`: copy everything ([`COPY_CONCURRENCY`] at a
    /// time), then delete the sources. A failed copy stops new copies, lets those in flight finish,
    /// removes every copy made and leaves the source whole.
    pub(crate) async fn rename_dir(&self, from: &str, to: &str) -> Result<()> {
        let (src, dst) = (self.keys.dir(from), self.keys.dir(to));
        let keys = self.keys_under(from, &src).await?;
        let mut todo = keys.iter();
        let mut in_flight = FuturesUnordered::new();
        let mut copied = Vec::with_capacity(keys.len());
        let mut failure = None;
        loop {
            while failure.is_none() && in_flight.len() < COPY_CONCURRENCY {
                let Some(key) = todo.next() else { break };
                let target = format!("{dst}{}", &key[src.len()..]);
                in_flight.push(async move {
                    let r = self.copy(from, key, &target).await;
                    (target, r)
                });
            }
            match in_flight.next().await {
                None => break,
                Some((target, Ok(()))) => copied.push(target),
                Some((_, Err(e))) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            let undo = self.delete_all(to, &copied).await;
            let message = format!(
                "rename stopped after copying {} of {} objects ({}); {from} is unchanged{}",
                copied.len(),
                keys.len(),
                e.message(),
                match undo {
                    Ok(()) => String::new(),
                    Err(u) => format!(", and removing the partial copy failed: {}", u.message()),
                }
            );
            return Err(e.with_message(message));
        }
        if !keys.contains(&src) {
            // An implicit directory: give the target a marker so it stays once the sources go.
            self.put(to, &dst, Bytes::new(), false).await?;
        }
        self.delete_all(from, &keys).await.map_err(|e| {
            let message = format!(
                "{to} holds every object of {from}, but removing the originals failed: {}",
                e.message()
            );
            e.with_message(message)
        })
    }
}
