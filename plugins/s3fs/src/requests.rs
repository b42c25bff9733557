//! The S3 requests behind s3fs's operations: lookups, listings, copies, deletes, rewrites.

use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use fs_core::{Error, ErrorKind, FileSystem, Result, WriteFlags, path as fspath};

use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::primitives::ByteStream as SdkBody;

use super::client::time;
use super::fs::S3Fs;

/// What a path is in the bucket.
#[derive(Debug)]
pub(crate) enum Entry {
    /// An object at the file key.
    File {
        size: u64,
        modified: Option<SystemTime>,
    },
    /// A marker object or other keys under the directory prefix (`modified` is the marker's time).
    Dir { modified: Option<SystemTime> },
    /// Neither.
    Missing,
}

impl S3Fs {
    /// Finds what `path` is: a one-key listing of the directory prefix and a HEAD of the file key,
    /// sent together (one round trip, not two, for the files most lookups are about).
    ///
    /// The listing decides first: once it shows a directory the HEAD is dropped, whatever it
    /// would have said. Some S3-compatible servers that store objects as files (s3s-fs) answer a
    /// HEAD of a directory's name with a 500, which the SDK retries with backoff.
    pub(crate) async fn lookup(&self, path: &str) -> Result<Entry> {
        if path == "/" {
            return Ok(Entry::Dir { modified: None });
        }
        let prefix = self.keys.dir(path);
        let list = self.list_first(path, &prefix, 1);
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.keys.file(path))
            .send();
        tokio::pin!(list, head);
        let mut head_first = None;
        let page = tokio::select! {
            page = &mut list => page?,
            h = &mut head => {
                head_first = Some(h);
                list.await?
            }
        };
        match page.contents().first() {
            Some(o) if o.key() == Some(prefix.as_str()) => {
                return Ok(Entry::Dir {
                    modified: time(o.last_modified()),
                });
            }
            Some(_) => return Ok(Entry::Dir { modified: None }),
            None => {}
        }
        let head = match head_first {
            Some(h) => h,
            None => head.await,
        };
        match head {
            Ok(h) => Ok(Entry::File {
                size: h.content_length().unwrap_or(0).max(0) as u64,
                modified: time(h.last_modified()),
            }),
            Err(e) => {
                let e = self.err(path, e);
                if e.kind() == ErrorKind::NotFound {
                    Ok(Entry::Missing)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The first `max_keys` keys under `prefix`, in key order.
    pub(crate) async fn list_first(
        &self,
        path: &str,
        prefix: &str,
        max_keys: i32,
    ) -> Result<ListObjectsV2Output> {
        self.client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(max_keys)
            .send()
            .await
            .map_err(|e| self.err(path, e))
    }

    /// Checks that the parent of `path` is a directory.
    pub(crate) async fn require_parent(&self, path: &str) -> Result<()> {
        let parent = fspath::parent(path);
        match self.lookup(parent).await? {
            Entry::Dir { .. } => Ok(()),
            Entry::File { .. } => Err(Error::not_a_directory(parent)),
            Entry::Missing => Err(Error::not_found(parent)),
        }
    }

    /// Lists `prefix` page by page (with `delimiter`: one level), handing each page to `each`.
    pub(crate) async fn list_pages(
        &self,
        path: &str,
        prefix: &str,
        delimiter: Option<&str>,
        mut each: impl FnMut(&ListObjectsV2Output),
    ) -> Result<()> {
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_delimiter(delimiter.map(str::to_owned))
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| self.err(path, e))?;
            each(&page);
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() || page.is_truncated() != Some(true) {
                return Ok(());
            }
        }
    }

    /// Every key under `prefix` (all pages).
    pub(crate) async fn keys_under(&self, path: &str, prefix: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        self.list_pages(path, prefix, None, |page| {
            out.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        })
        .await?;
        Ok(out)
    }

    /// Stores `data` at `key` in one PUT (`exclusive`: only if no object is there).
    pub(crate) async fn put(
        &self,
        path: &str,
        key: &str,
        data: Bytes,
        exclusive: bool,
    ) -> Result<()> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(SdkBody::from(data));
        if exclusive {
            req = req.if_none_match("*");
        }
        req.send().await.map_err(|e| self.err(path, e))?;
        Ok(())
    }

    pub(crate) async fn copy(&self, path: &str, from: &str, to: &str) -> Result<()> {
        #[cfg(test)]
        {
            use std::sync::atomic::Ordering::SeqCst;
            let left = &self.copies_before_failure;
            if left.load(SeqCst) == 0 {
                return Err(Error::new(ErrorKind::Unavailable, "injected copy failure"));
            }
            let _ = left.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
        }
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(super::keys::copy_source(&self.bucket, from))
            .key(to)
            .send()
            .await
            .map_err(|e| self.err(path, e))?;
        Ok(())
    }

    pub(crate) async fn delete(&self, path: &str, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.err(path, e))?;
        Ok(())
    }

    /// The first `len` bytes of the object at `path`, refusing more than the rewrite limit.
    pub(crate) async fn read_for_rewrite(
        &self,
        path: &str,
        len: u64,
        op: &'static str,
    ) -> Result<BytesMut> {
        if len > self.rewrite_limit {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{op} would rewrite a {len}-byte object; s3fs rewrites objects up to rewrite_limit ({} bytes) — write the whole file instead",
                    self.rewrite_limit
                ),
            )
            .with_path(path));
        }
        if len == 0 {
            return Ok(BytesMut::new());
        }
        let bytes = self.read(path, 0, Some(len)).await?;
        Ok(BytesMut::from(&bytes[..]))
    }

    /// Checks a write's flags against what is there; returns the current size of an existing file.
    pub(crate) async fn prepare_write(&self, path: &str, flags: WriteFlags) -> Result<Option<u64>> {
        match self.lookup(path).await? {
            Entry::Dir { .. } => Err(Error::is_a_directory(path)),
            Entry::File { .. } if flags.is_exclusive() => Err(Error::already_exists(path)),
            Entry::File { size, .. } => Ok(Some(size)),
            Entry::Missing if flags.creates() => {
                self.require_parent(path).await?;
                Ok(None)
            }
            Entry::Missing => Err(Error::not_found(path)),
        }
    }
}
