//! The s3fs filesystem: pfs operations as S3 requests (see the module docs for the layout).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::MetadataDirective;
use bytes::{Bytes, BytesMut};
use fs_core::write::check_size;
use fs_core::{
    ByteStream, Capabilities, Content, ContentBody, Error, ErrorKind, FileInfo, FileSystem,
    MAX_FILE_SIZE, Meta, Result, WriteFlags, WritePlan, path as fspath,
};

use super::S3Config;
use super::client::{self, etag, time};
use super::keys::{Keys, base_name};
use super::requests::Entry;

const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// A bucket (or a prefix of one) as a filesystem.
#[derive(Debug)]
pub struct S3Fs {
    pub(crate) client: Client,
    pub(crate) bucket: String,
    pub(crate) keys: Keys,
    /// `bucket 'b' at <endpoint>`, for messages.
    pub(crate) where_: String,
    pub(crate) part_size: u64,
    pub(crate) upload_concurrency: usize,
    pub(crate) rewrite_limit: u64,
    meta: BTreeMap<String, String>,
    /// Keys per `DeleteObjects` request ([`super::bulk::DELETE_BATCH`]; tests use fewer).
    pub(crate) delete_batch_size: usize,
    /// Whether the server takes `DeleteObjects` (cleared the first time it refuses one).
    pub(crate) batch_deletes: AtomicBool,
    /// Tests: copies left before every further copy fails (`usize::MAX`: never).
    #[cfg(test)]
    pub(crate) copies_before_failure: std::sync::atomic::AtomicUsize,
    /// Tests: refuse every `DeleteObjects` request as a server without it would.
    #[cfg(test)]
    pub(crate) refuse_batch_deletes: AtomicBool,
}

impl S3Fs {
    /// Builds the client and checks that the bucket answers (one `ListObjectsV2` of one key).
    ///
    /// # Errors
    /// The mapped S3 error, its message naming the bucket and endpoint: `Unavailable` for a missing
    /// bucket or an unreachable endpoint, `PermissionDenied` for refused credentials.
    pub async fn connect(config: S3Config) -> Result<Self> {
        let client = client::build(&config).await;
        let where_ = config.describe();
        let meta = BTreeMap::from([
            ("region".to_owned(), config.region.clone()),
            ("bucket".to_owned(), config.bucket.clone()),
            ("prefix".to_owned(), config.prefix.clone()),
        ]);
        let fs = S3Fs {
            client,
            bucket: config.bucket,
            keys: Keys {
                prefix: config.prefix,
            },
            where_,
            part_size: config.part_size,
            upload_concurrency: config.upload_concurrency,
            rewrite_limit: config.rewrite_limit,
            meta,
            delete_batch_size: super::bulk::DELETE_BATCH,
            batch_deletes: AtomicBool::new(true),
            #[cfg(test)]
            copies_before_failure: std::sync::atomic::AtomicUsize::new(usize::MAX),
            #[cfg(test)]
            refuse_batch_deletes: AtomicBool::new(false),
        };
        fs.client
            .list_objects_v2()
            .bucket(&fs.bucket)
            .prefix(&fs.keys.prefix)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| {
                let e = fs.err("/", e);
                let message = format!("s3fs cannot use {}: {}", fs.where_, e.message());
                e.with_message(message)
            })?;
        Ok(fs)
    }

    /// Maps an SDK error for `path`.
    pub(crate) fn err<E, R>(&self, path: &str, e: aws_sdk_s3::error::SdkError<E, R>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + client::HasStatus,
    {
        client::map_err(e, path, &self.where_)
    }

    fn info(&self, name: &str, entry: &Entry) -> FileInfo {
        let (info, kind) = match entry {
            Entry::File { size, modified } => {
                (FileInfo::file(name, *size, FILE_MODE, *modified), "file")
            }
            _ => {
                let modified = match entry {
                    Entry::Dir { modified } => *modified,
                    _ => None,
                };
                (FileInfo::dir(name, DIR_MODE, modified), "dir")
            }
        };
        info.with_meta(Meta {
            name: "s3fs".into(),
            kind: kind.into(),
            content: Some(self.meta.clone()),
        })
    }

    /// The error for a `path` a lookup found missing: `NotADirectory` when one of its parents is a
    /// file (as the trait promises), else `NotFound`. One more lookup per missing ancestor, up to
    /// the first that exists (none for a name in the root); when that lookup fails, `NotFound`.
    async fn missing(&self, path: &str) -> Error {
        let mut dir = fspath::parent(path);
        while dir != "/" {
            match self.lookup(dir).await {
                Ok(Entry::File { .. }) => return Error::not_a_directory(path),
                Ok(Entry::Missing) => dir = fspath::parent(dir),
                Ok(Entry::Dir { .. }) | Err(_) => break,
            }
        }
        Error::not_found(path)
    }
}

/// The largest object S3 stores: 5 TiB.
pub(crate) const MAX_OBJECT_SIZE: u64 = 5 << 40;

/// The `Range` header of a read window, `None` for the whole object. Numbers past the largest
/// object are clamped (the window then starts past any end: an empty read), never wrapped.
fn range(offset: u64, size: Option<u64>) -> Option<String> {
    let offset = offset.min(MAX_FILE_SIZE);
    match size {
        None if offset == 0 => None,
        None => Some(format!("bytes={offset}-")),
        Some(n) => Some(format!(
            "bytes={offset}-{}",
            offset
                .saturating_add(n.saturating_sub(1))
                .min(MAX_FILE_SIZE)
        )),
    }
}

#[async_trait]
impl FileSystem for S3Fs {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            chmod: false,
            max_file_size: MAX_OBJECT_SIZE,
            ..Capabilities::READ_WRITE
        }
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        match self.lookup(path).await? {
            Entry::Missing => Err(self.missing(path).await),
            entry => Ok(self.info(fspath::basename(path), &entry)),
        }
    }

    /// One listing of the prefix, one level deep. Only when it finds nothing (no directory
    /// here, not even a marker) does a lookup tell a file from a missing path.
    async fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        let prefix = self.keys.dir(path);
        let mut out = Vec::new();
        let mut anything = false;
        self.list_pages(path, &prefix, Some("/"), |page| {
            anything |= !page.contents().is_empty() || !page.common_prefixes().is_empty();
            for p in page.common_prefixes() {
                if let Some(p) = p.prefix() {
                    out.push(self.info(base_name(p), &Entry::Dir { modified: None }));
                }
            }
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                if key == prefix || key.ends_with('/') {
                    continue; // this directory's own marker
                }
                let entry = Entry::File {
                    size: o.size().unwrap_or(0).max(0) as u64,
                    modified: time(o.last_modified()),
                };
                out.push(self.info(base_name(key), &entry));
            }
        })
        .await?;
        if anything || path == "/" {
            return Ok(out);
        }
        match self.lookup(path).await? {
            Entry::Missing => Err(Error::not_found(path)),
            Entry::File { .. } => Err(Error::not_a_directory(path)),
            // Made between the two requests: empty so far.
            Entry::Dir { .. } => Ok(out),
        }
    }

    async fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Bytes> {
        self.read_content(path, offset, size)
            .await?
            .into_bytes()
            .await
    }

    async fn read_content(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Content> {
        if path == "/" {
            return Err(Error::is_a_directory(path));
        }
        if size == Some(0) {
            return match self.lookup(path).await? {
                Entry::File { modified, .. } => Ok(Content {
                    body: ContentBody::Bytes(Bytes::new()),
                    modified,
                    etag: None,
                }),
                Entry::Dir { .. } => Err(Error::is_a_directory(path)),
                Entry::Missing => Err(Error::not_found(path)),
            };
        }
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.keys.file(path))
            .set_range(range(offset, size))
            .send()
            .await;
        let out = match got {
            Ok(out) => out,
            Err(e) if e.code() == Some("InvalidRange") => {
                // The object exists and the window starts at or past its end.
                return Ok(Content::from(Bytes::new()));
            }
            Err(e) => {
                let e = self.err(path, e);
                if matches!(self.lookup(path).await, Ok(Entry::Dir { .. })) {
                    return Err(Error::is_a_directory(path));
                }
                return Err(e);
            }
        };
        let modified = time(out.last_modified());
        let etag = etag(out.e_tag());
        let len = out.content_length().map(|l| l.max(0) as u64);
        let where_ = self.where_.clone();
        let owned_path = path.to_owned();
        let stream: ByteStream =
            Box::pin(futures_util::stream::unfold(out.body, move |mut body| {
                let (where_, path) = (where_.clone(), owned_path.clone());
                async move {
                    body.next().await.map(|chunk| {
                        let chunk = chunk.map_err(|e| {
                            Error::new(
                                ErrorKind::Unavailable,
                                format!("reading from S3 {where_} failed: {e}"),
                            )
                            .with_path(path)
                        });
                        (chunk, body)
                    })
                }
            }));
        Ok(Content {
            body: ContentBody::Stream { len, stream },
            modified,
            etag,
        })
    }

    async fn write(
        &self,
        path: &str,
        data: Bytes,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let existing = self.prepare_write(path, flags).await?;
        let written = data.len() as u64;
        let plan = WritePlan::new(path, existing, offset, flags, written, MAX_OBJECT_SIZE)?;
        let key = self.keys.file(path);
        let exclusive = flags.is_exclusive();
        if plan.keep == 0 && plan.at == 0 {
            self.put(path, &key, data, exclusive).await?;
            return Ok(written);
        }
        if plan.size > self.rewrite_limit {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "a positional write ending at byte {} is over s3fs's rewrite_limit ({} bytes)",
                    plan.size, self.rewrite_limit
                ),
            )
            .with_path(path));
        }
        let content = if plan.keep > 0 {
            self.read_for_rewrite(path, plan.keep, "this write").await?
        } else {
            BytesMut::new()
        };
        let content = plan.apply(content.freeze(), data);
        self.put(path, &key, content, exclusive).await?;
        Ok(written)
    }

    async fn write_stream(
        &self,
        path: &str,
        data: ByteStream,
        limit: u64,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        if offset.is_some() || flags.contains(WriteFlags::APPEND) {
            let data = fs_core::collect_stream(data, limit.min(self.rewrite_limit)).await?;
            return self.write(path, data, offset, flags).await;
        }
        self.prepare_write(path, flags).await?;
        super::upload::put_stream(
            self,
            path,
            data,
            limit,
            flags.contains(WriteFlags::EXCLUSIVE),
        )
        .await
    }

    async fn create(&self, path: &str) -> Result<()> {
        match self.lookup(path).await? {
            Entry::Missing => {}
            _ => return Err(Error::already_exists(path)),
        }
        self.require_parent(path).await?;
        self.put(path, &self.keys.file(path), Bytes::new(), true)
            .await
    }

    async fn mkdir(&self, path: &str, _mode: u32) -> Result<()> {
        match self.lookup(path).await? {
            Entry::Missing => {}
            _ => return Err(Error::already_exists(path)),
        }
        self.require_parent(path).await?;
        self.put(path, &self.keys.dir(path), Bytes::new(), false)
            .await
    }

    async fn remove(&self, path: &str) -> Result<()> {
        if path == "/" {
            return Err(Error::permission_denied(path));
        }
        match self.lookup(path).await? {
            Entry::Missing => Err(Error::not_found(path)),
            Entry::File { .. } => self.delete(path, &self.keys.file(path)).await,
            Entry::Dir { .. } => {
                let prefix = self.keys.dir(path);
                let page = self.list_first(path, &prefix, 2).await?;
                if page
                    .contents()
                    .iter()
                    .any(|o| o.key() != Some(prefix.as_str()))
                {
                    return Err(Error::directory_not_empty(path));
                }
                self.delete(path, &prefix).await
            }
        }
    }

    async fn remove_all(&self, path: &str) -> Result<()> {
        let keys = match self.lookup(path).await? {
            Entry::Missing => return Err(Error::not_found(path)),
            Entry::File { .. } => vec![self.keys.file(path)],
            Entry::Dir { .. } => self.keys_under(path, &self.keys.dir(path)).await?,
        };
        self.delete_all(path, &keys).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        fspath::check_rename(from, to)?;
        if from == to {
            return match self.lookup(from).await? {
                Entry::Missing => Err(Error::not_found(from)),
                _ => Ok(()),
            };
        }
        let source = self.lookup(from).await?;
        let target = self.lookup(to).await?;
        match (&source, &target) {
            (Entry::Missing, _) => return Err(Error::not_found(from)),
            (Entry::File { .. }, Entry::Dir { .. }) => return Err(Error::is_a_directory(to)),
            (Entry::Dir { .. }, Entry::File { .. }) => return Err(Error::not_a_directory(to)),
            (_, Entry::Missing) => self.require_parent(to).await?,
            _ => {}
        }
        match source {
            Entry::File { .. } => {
                let (src, dst) = (self.keys.file(from), self.keys.file(to));
                self.copy(from, &src, &dst).await?;
                self.delete(from, &src).await
            }
            _ => {
                if let Entry::Dir { .. } = target {
                    // An existing target directory must be empty; its marker goes first.
                    self.remove(to).await?;
                }
                self.rename_dir(from, to).await
            }
        }
    }

    async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        check_size(path, size, MAX_OBJECT_SIZE)?;
        let current = match self.lookup(path).await? {
            Entry::Missing => return Err(Error::not_found(path)),
            Entry::Dir { .. } => return Err(Error::is_a_directory(path)),
            Entry::File { size, .. } => size,
        };
        let key = self.keys.file(path);
        if size == 0 {
            return self.put(path, &key, Bytes::new(), false).await;
        }
        if size > self.rewrite_limit {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "truncating to {size} bytes is over s3fs's rewrite_limit ({} bytes)",
                    self.rewrite_limit
                ),
            )
            .with_path(path));
        }
        let mut content = self
            .read_for_rewrite(path, current.min(size), "truncate")
            .await?;
        content.truncate(size as usize);
        content.resize(size as usize, 0);
        self.put(path, &key, content.freeze(), false).await
    }

    async fn touch(&self, path: &str) -> Result<()> {
        match self.lookup(path).await? {
            Entry::Dir { .. } => Ok(()),
            Entry::File { .. } => {
                // A copy onto itself with new metadata is S3's way to bump LastModified.
                let key = self.keys.file(path);
                self.client
                    .copy_object()
                    .bucket(&self.bucket)
                    .copy_source(super::keys::copy_source(&self.bucket, &key))
                    .key(&key)
                    .metadata_directive(MetadataDirective::Replace)
                    .send()
                    .await
                    .map_err(|e| self.err(path, e))?;
                Ok(())
            }
            Entry::Missing => {
                self.require_parent(path).await?;
                self.put(path, &self.keys.file(path), Bytes::new(), false)
                    .await
            }
        }
    }
}
