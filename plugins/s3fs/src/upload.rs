//! Streamed whole-object writes: one PUT for bodies up to a part, a multipart upload above.
//!
//! The body is cut into parts of `part_size` as it arrives; at most `upload_concurrency` parts are
//! in flight, so memory stays near `(upload_concurrency + 1) × part_size` whatever the body's size.
//! S3 replaces the object only when the upload completes: a failed or oversized body aborts the
//! upload and leaves the previous object as it was.

use aws_sdk_s3::primitives::ByteStream as SdkBody;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use fs_core::{ByteStream, Error, ErrorKind, Result};
use futures_util::StreamExt;
use tokio::task::JoinSet;

use super::fs::S3Fs;

/// Writes the stream `data` (at most `limit` bytes) as the object of `path`; returns its length.
pub(crate) async fn put_stream(
    fs: &S3Fs,
    path: &str,
    data: ByteStream,
    limit: u64,
    exclusive: bool,
) -> Result<u64> {
    let mut parts = Parts {
        data,
        ended: false,
        pending: Bytes::new(),
        part_size: fs.part_size as usize,
        total: 0,
        limit,
    };
    let key = fs.keys.file(path);
    let first = parts.next(false).await?.unwrap_or_default();
    let Some(second) = parts.next(true).await? else {
        fs.put(path, &key, first, exclusive).await?;
        return Ok(parts.total);
    };
    let created = fs
        .client
        .create_multipart_upload()
        .bucket(&fs.bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| fs.err(path, e))?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| Error::internal("S3 returned no upload id"))?
        .to_owned();
    let upload = Upload {
        fs,
        path,
        key: &key,
        upload_id: &upload_id,
    };
    let completed = match upload.send_all(&mut parts, [first, second]).await {
        Ok(completed) => completed,
        Err(e) => {
            upload.abort().await;
            return Err(e);
        }
    };
    let mut complete = fs
        .client
        .complete_multipart_upload()
        .bucket(&fs.bucket)
        .key(&key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        );
    if exclusive {
        complete = complete.if_none_match("*");
    }
    if let Err(e) = complete.send().await {
        upload.abort().await;
        return Err(fs.err(path, e));
    }
    Ok(parts.total)
}

/// Cuts a body into parts of exactly `part_size` bytes (the last may be shorter), each in an
/// allocation of its own, so a part in flight holds nothing but its bytes.
struct Parts {
    data: ByteStream,
    /// The body has ended (a stream must not be polled again after its end).
    ended: bool,
    /// The unread rest of the last chunk received.
    pending: Bytes,
    part_size: usize,
    /// Bytes received so far.
    total: u64,
    limit: u64,
}

impl Parts {
    /// The next part; `None` at the end of the body. `full_capacity` allocates the whole part at
    /// once (for parts after the first; the first grows, as most bodies are small).
    async fn next(&mut self, full_capacity: bool) -> Result<Option<Bytes>> {
        let mut part = if full_capacity {
            BytesMut::with_capacity(self.part_size)
        } else {
            BytesMut::new()
        };
        while part.len() < self.part_size {
            if self.pending.is_empty() {
                if self.ended {
                    break;
                }
                match self.data.next().await {
                    None => {
                        self.ended = true;
                        break;
                    }
                    Some(chunk) => {
                        let chunk = chunk?;
                        self.total += chunk.len() as u64;
                        if self.total > self.limit {
                            return Err(Error::new(
                                ErrorKind::PayloadTooLarge,
                                format!(
                                    "request body exceeds maximum size of {} bytes",
                                    self.limit
                                ),
                            ));
                        }
                        self.pending = chunk;
                    }
                }
            }
            let take = self.pending.len().min(self.part_size - part.len());
            part.extend_from_slice(&self.pending.split_to(take));
        }
        Ok((!part.is_empty()).then(|| part.freeze()))
    }
}

/// One multipart upload in progress.
struct Upload<'a> {
    fs: &'a S3Fs,
    path: &'a str,
    key: &'a str,
    upload_id: &'a str,
}

impl Upload<'_> {
    /// Sends `first` parts, then the rest of `parts`, at most `upload_concurrency` at once; returns
    /// the completed parts in order.
    async fn send_all(&self, parts: &mut Parts, first: [Bytes; 2]) -> Result<Vec<CompletedPart>> {
        let mut in_flight: JoinSet<Result<CompletedPart>> = JoinSet::new();
        let mut done = Vec::new();
        let mut number = 0i32;
        let mut queued = first.into_iter();
        loop {
            let part = match queued.next() {
                Some(p) => p,
                None => match parts.next(true).await? {
                    Some(p) => p,
                    None => break,
                },
            };
            number += 1;
            if in_flight.len() >= self.fs.upload_concurrency {
                done.push(joined(in_flight.join_next().await)?);
            }
            in_flight.spawn(self.send_part(number, part));
        }
        while let Some(finished) = in_flight.join_next().await {
            done.push(joined(Some(finished))?);
        }
        done.sort_by_key(|p| p.part_number());
        Ok(done)
    }

    /// The future uploading one part (owning what it needs, so it can run as its own task).
    fn send_part(
        &self,
        number: i32,
        part: Bytes,
    ) -> impl Future<Output = Result<CompletedPart>> + Send + 'static {
        let request = self
            .fs
            .client
            .upload_part()
            .bucket(&self.fs.bucket)
            .key(self.key)
            .upload_id(self.upload_id)
            .part_number(number)
            .body(SdkBody::from(part));
        let (path, where_) = (self.path.to_owned(), self.fs.where_.clone());
        async move {
            let out = request
                .send()
                .await
                .map_err(|e| super::client::map_err(e, &path, &where_))?;
            Ok(CompletedPart::builder()
                .set_e_tag(out.e_tag().map(str::to_owned))
                .part_number(number)
                .build())
        }
    }

    /// Best-effort cleanup of a failed upload (S3 also expires abandoned uploads by lifecycle rules).
    async fn abort(&self) {
        let result = self
            .fs
            .client
            .abort_multipart_upload()
            .bucket(&self.fs.bucket)
            .key(self.key)
            .upload_id(self.upload_id)
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(
                "s3fs: aborting upload {} of {} failed: {}",
                self.upload_id,
                self.key,
                aws_sdk_s3::error::DisplayErrorContext(&e)
            );
        }
    }
}

fn joined(
    done: Option<std::result::Result<Result<CompletedPart>, tokio::task::JoinError>>,
) -> Result<CompletedPart> {
    match done {
        Some(Ok(part)) => part,
        Some(Err(e)) => Err(Error::internal(format!("part upload task failed: {e}"))),
        None => Err(Error::internal("no part upload in flight")),
    }
}
