//! localfs writes. Every body is received into a temporary file beside the target first, so a body
//! that fails or passes the size limit leaves the target as it was. A whole-file write (or one with
//! `truncate`) then renames the temporary file over the target (links it, for an exclusive
//! create); a positional or append write copies it into the target at its place.

use std::io::{self, Seek, SeekFrom, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use cap_std::fs::{Dir, Metadata, MetadataExt, OpenOptions, Permissions, PermissionsExt};
use fs_core::write::check_size;
use fs_core::{ByteStream, Error, ErrorKind, MAX_FILE_SIZE, Result, WriteFlags};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::fs::{
    LocalFs, NEW_FILE_MODE, TEMP_PREFIX, drop_special_bits, map_io_error, mode_of, open_parent,
    sync_dir,
};
use super::open_files::OpenFiles;

/// Makes temporary names unique within the process (the pid makes them unique across processes).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

struct TempFile {
    parent: Arc<Dir>,
    name: String,
    armed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.parent.remove_file(&self.name);
        }
    }
}

/// Copies `data` into `file`, at most `limit` bytes in all; returns the count.
async fn pump(
    file: &mut tokio::fs::File,
    mut data: ByteStream,
    limit: u64,
    path: &str,
) -> Result<u64> {
    let mut total = 0u64;
    while let Some(chunk) = data.next().await {
        let chunk = chunk?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(Error::new(
                ErrorKind::PayloadTooLarge,
                format!("request body exceeds maximum size of {limit} bytes"),
            ));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| map_io_error(e, path))?;
    }
    file.flush().await.map_err(|e| map_io_error(e, path))?;
    Ok(total)
}

/// What is at a write's target name: its metadata, looked up once without following a final
/// symlink; a symlink is followed with a second lookup (the write replaces the link by a file with
/// the mode of the file it named).
struct Found {
    meta: Metadata,
    via_link: bool,
}

/// Looks the target `name` up in `parent`: `None` when nothing is there (or a link names nothing).
fn lookup(parent: &Dir, name: &str, p: &str) -> Result<Option<Found>> {
    let found = match parent.symlink_metadata(name) {
        Ok(m) if m.file_type().is_symlink() => parent.metadata(name).map(|meta| Found {
            meta,
            via_link: true,
        }),
        Ok(meta) => Ok(Found {
            meta,
            via_link: false,
        }),
        Err(e) => Err(e),
    };
    match found {
        Ok(found) => Ok(Some(found)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(map_io_error(e, p)),
    }
}

/// What the flags say about the target before any byte arrives: `Ok(Some(mode))` when it exists
/// (its permission bits), `Ok(None)` when it does not and may be created.
fn check_target(
    found: Option<&Found>,
    p: &str,
    exclusive: bool,
    may_create: bool,
) -> Result<Option<u32>> {
    match found {
        Some(f) if f.meta.is_dir() => Err(Error::is_a_directory(p)),
        Some(_) if exclusive => Err(Error::already_exists(p)),
        Some(f) => Ok(Some(mode_of(&f.meta))),
        None if may_create => Ok(None),
        None => Err(Error::not_found(p)),
    }
}

/// A new temporary file in `parent` with permission bits `mode`, removed again when the guard is
/// dropped armed.
fn new_temp(parent: &Arc<Dir>, p: &str, mode: u32) -> Result<(TempFile, std::fs::File)> {
    let name = format!(
        "{TEMP_PREFIX}{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let file = parent
        .open_with(
            &name,
            OpenOptions::new().read(true).write(true).create_new(true),
        )
        .map_err(|e| map_io_error(e, p))?;
    let temp = TempFile {
        parent: parent.clone(),
        name,
        armed: true,
    };
    file.set_permissions(Permissions::from_mode(mode))
        .map_err(|e| map_io_error(e, p))?;
    Ok((temp, file.into_std()))
}

/// How a positional or append write opens its target: for writing, appending with `APPEND`,
/// created when missing as the flags say (`create_new` for an exclusive create).
fn in_place_options(flags: WriteFlags) -> OpenOptions {
    let mut opts = OpenOptions::new();
    opts.write(true);
    if flags.contains(WriteFlags::APPEND) {
        opts.append(true);
    }
    if flags.is_exclusive() {
        opts.create_new(true);
    } else if flags.creates() {
        opts.create(true);
    }
    opts
}

/// Puts a finished temporary file in the target's place: renamed over it, or, for an exclusive
/// create, linked to its name (link(2) never replaces: a file created meanwhile makes this fail,
/// as it should). With `sync`, the directory entry is made durable too.
fn commit(
    parent: &Dir,
    mut temp: TempFile,
    name: &str,
    exclusive: bool,
    sync: bool,
    p: &str,
) -> Result<()> {
    if exclusive {
        parent
            .hard_link(&temp.name, parent, name)
            .map_err(|e| map_io_error(e, p))?;
    } else {
        parent
            .rename(&temp.name, parent, name)
            .map_err(|e| map_io_error(e, p))?;
        temp.armed = false;
    }
    if sync {
        sync_dir(parent, p)?;
    }
    Ok(())
}

/// Rewrites the file `name` in place with `chunks` (`n` bytes) when that is as safe as replacing
/// it, and says whether it did; otherwise nothing is touched and the caller replaces the file.
///
/// Replacing a file allocates an inode and frees one per write, which some filesystems make slow
/// (ext4 without a journal scans past every inode freed in the last 30 s: an overwrite took 85 µs
/// of CPU, a rewrite in place 4). In place is used only where no one can tell the difference:
/// - the new content fits in one page and is at least as long as the old, so one `pwrite` of
///   one page replaces every old byte: a kill cannot interrupt a one-page write midway (the
///   kernel checks for fatal signals between pages), and the space is reserved first, so a full
///   disk fails before any byte changes;
/// - the file is a regular file with one link (no other name sees it change), that no read or
///   handle of this mount has open (they would see a mix; they keep the old file otherwise);
/// - the filesystem overwrites in place (ext4, XFS, tmpfs; a copy-on-write one may need new
///   space for an overwrite).
///
/// Readers outside pfs that read the file during that one-page write may see part of it; a
/// replace would have given them the old file whole.
#[allow(clippy::too_many_arguments)]
fn rewrite_in_place(
    parent: &Dir,
    name: &str,
    before: &Found,
    chunks: &[Bytes],
    n: u64,
    mask: u32,
    sync: bool,
    files: &OpenFiles,
    p: &str,
) -> Result<bool> {
    use std::os::unix::fs::FileExt;
    if before.via_link || n > rustix::param::page_size() as u64 {
        return Ok(false);
    }
    let before = &before.meta;
    if !before.is_file() || before.nlink() != 1 || before.len() > n {
        return Ok(false);
    }
    let Ok(file) = parent.open_with(name, OpenOptions::new().write(true)) else {
        return Ok(false);
    };
    let m = file.metadata().map_err(|e| map_io_error(e, p))?;
    let file = file.into_std();
    // The same file as checked (not something renamed into its place since).
    let key = (before.dev(), before.ino());
    if (m.dev(), m.ino()) != key || m.nlink() != 1 || m.len() > n {
        return Ok(false);
    }
    const EXT4: u64 = 0xEF53;
    const XFS: u64 = 0x5846_5342;
    const TMPFS: u64 = 0x0102_1994;
    let overwrites = rustix::fs::fstatfs(&file)
        .is_ok_and(|s| matches!(u64::try_from(s.f_type).unwrap_or(0), EXT4 | XFS | TMPFS));
    if !overwrites {
        return Ok(false);
    }
    // Space for every byte first: the write cannot run out of it halfway.
    if n > 0 && rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::KEEP_SIZE, 0, n).is_err() {
        return Ok(false);
    }
    let content: Vec<u8> = chunks.concat();
    let written = files.unless_read(key, || file.write_at(&content, 0));
    match written {
        None => return Ok(false),
        Some(Ok(w)) if w == content.len() => {}
        Some(Ok(w)) => {
            return Err(Error::internal(format!(
                "{p}: wrote {w} of {} bytes in place",
                content.len()
            )));
        }
        Some(Err(e)) => return Err(map_io_error(e, p)),
    }
    drop_special_bits(&file, mask).map_err(|e| map_io_error(e, p))?;
    if sync {
        file.sync_data().map_err(|e| map_io_error(e, p))?;
    }
    Ok(true)
}

/// What [`create_unnamed`] did.
enum Created {
    /// The file is in place.
    Done,
    /// Nothing was done; stage and rename instead.
    Fallback,
}

/// Writes a new file as an unnamed inode (`O_TMPFILE`) and gives it its name with one `linkat`:
/// the file appears whole or not at all, as with a staged file and a rename, but with one change
/// to the directory instead of three (create the staging name, rename it, and the rename's
/// removal) — and the directory lock is what concurrent creates wait on. `Fallback` where the
/// filesystem has no `O_TMPFILE` or `/proc` is not there to name the inode through, and when a
/// file of that name appeared meanwhile (an exclusive create fails instead, as it should).
#[allow(clippy::too_many_arguments)]
fn create_unnamed(
    parent: &Dir,
    name: &str,
    chunks: &[Bytes],
    offset: Option<u64>,
    mode: u32,
    exclusive: bool,
    sync: bool,
    p: &str,
) -> Result<Created> {
    use rustix::fs::{Mode, OFlags};
    let Ok(fd) = rustix::fs::openat(
        parent,
        ".",
        OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    ) else {
        return Ok(Created::Fallback);
    };
    let mut file = std::fs::File::from(fd);
    if umask().is_none_or(|u| mode & u != 0) {
        // Exactly `mode`: open(2) applied the umask.
        rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))
            .map_err(|e| map_io_error(e.into(), p))?;
    }
    if let Some(off) = offset.filter(|o| *o > 0) {
        file.seek(SeekFrom::Start(off))
            .map_err(|e| map_io_error(e, p))?;
    }
    chunks
        .iter()
        .try_for_each(|c| file.write_all(c))
        .map_err(|e| map_io_error(e, p))?;
    if sync {
        file.sync_all().map_err(|e| map_io_error(e, p))?;
    }
    match link_unnamed(&file, parent, name) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) if exclusive => return Err(Error::already_exists(p)),
        Err(_) => return Ok(Created::Fallback),
    }
    if sync {
        sync_dir(parent, p)?;
    }
    Ok(Created::Done)
}

/// Whether `linkat(fd, "", AT_EMPTY_PATH)` names an unnamed inode here: it needs
/// `CAP_DAC_READ_SEARCH`; without it the kernel answers `ENOENT` and the link goes through
/// `/proc/self/fd` instead (a longer path walk) from then on.
static EMPTY_PATH_LINKS: AtomicBool = AtomicBool::new(true);

/// Gives the unnamed inode `file` the name `name` in `parent` (never replacing: `EEXIST`).
fn link_unnamed(file: &std::fs::File, parent: &Dir, name: &str) -> rustix::io::Result<()> {
    use rustix::fs::{AtFlags, CWD};
    use std::os::fd::AsRawFd;
    if EMPTY_PATH_LINKS.load(Ordering::Relaxed) {
        match rustix::fs::linkat(file, "", parent, name, AtFlags::EMPTY_PATH) {
            Err(rustix::io::Errno::NOENT) => {}
            done => return done,
        }
    }
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    let linked = rustix::fs::linkat(
        CWD,
        proc_path.as_str(),
        parent,
        name,
        AtFlags::SYMLINK_FOLLOW,
    );
    if linked.is_ok() {
        // ENOENT came from the missing capability, not from a missing directory.
        EMPTY_PATH_LINKS.store(false, Ordering::Relaxed);
    }
    linked
}

/// The process's umask, read once from `/proc/self/status` (`umask(2)` can only read it by
/// changing it); `None` where that is not there.
fn umask() -> Option<u32> {
    static UMASK: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
        u32::from_str_radix(line.trim(), 8).ok()
    })
}

/// Bodies up to this size are gathered in memory and written in one blocking call.
const SMALL_BODY: u64 = 256 * 1024;

/// A request body, read as far as it takes to know whether it is small.
pub(super) enum Body {
    /// The whole body, at most [`SMALL_BODY`] bytes.
    Small(Vec<Bytes>),
    /// A larger body: the chunks read so far, then the rest, as one stream.
    Large(ByteStream),
}

/// Reads `data` until it ends or passes [`SMALL_BODY`] bytes.
///
/// # Errors
/// `PayloadTooLarge` past `limit`; the stream's own errors.
pub(super) async fn gather(mut data: ByteStream, limit: u64) -> Result<Body> {
    let mut chunks = Vec::new();
    let mut total = 0u64;
    while let Some(chunk) = data.next().await {
        let chunk = chunk?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(Error::new(
                ErrorKind::PayloadTooLarge,
                format!("request body exceeds maximum size of {limit} bytes"),
            ));
        }
        chunks.push(chunk);
        if total > SMALL_BODY {
            let head = futures_util::stream::iter(chunks.into_iter().map(Ok));
            return Ok(Body::Large(Box::pin(head.chain(data))));
        }
    }
    Ok(Body::Small(chunks))
}

/// A target checked and a temporary file opened beside it.
struct Staged {
    parent: Arc<Dir>,
    name: String,
    temp: TempFile,
    file: std::fs::File,
}

impl LocalFs {
    /// Checks the target against `flags` and opens a temporary file beside it (with the target's
    /// mode, or the new-file mode; special bits only where the mount allows them).
    async fn stage(&self, path: &str, flags: WriteFlags) -> Result<Staged> {
        let (exclusive, may_create) = (flags.is_exclusive(), flags.creates());
        let mask = self.mode_mask();
        self.at(path, move |root, rel, p| {
            if rel == "." {
                return Err(Error::is_a_directory(p));
            }
            let (parent, name) = open_parent(root, rel, p)?;
            let found = lookup(&parent, &name, p)?;
            let mode = check_target(found.as_ref(), p, exclusive, may_create)?;
            let parent = Arc::new(parent.into_owned(p)?);
            let (temp, file) = new_temp(&parent, p, mode.unwrap_or(NEW_FILE_MODE) & mask)?;
            Ok(Staged {
                parent,
                name,
                temp,
                file,
            })
        })
        .await
    }

    /// A write that replaces the whole file (no offset and no append, or `truncate`): the body
    /// goes into the temporary file (at `offset`, zeros before it), which then replaces the target
    /// (or, for an exclusive create, is linked to its name).
    pub(super) async fn write_replace(
        &self,
        path: &str,
        data: ByteStream,
        limit: u64,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let exclusive = flags.is_exclusive();
        let sync = flags.contains(WriteFlags::SYNC);
        let Staged {
            parent,
            name,
            temp,
            mut file,
        } = self.stage(path, flags).await?;
        if let Some(off) = offset.filter(|o| *o > 0) {
            file.seek(SeekFrom::Start(off))
                .map_err(|e| map_io_error(e, path))?;
        }
        let mut file = tokio::fs::File::from_std(file);
        let n = pump(&mut file, data, limit, path).await?;
        if sync {
            file.sync_all().await.map_err(|e| map_io_error(e, path))?;
        }
        drop(file);
        let p = path.to_string();
        self.blocking(move || commit(&parent, temp, &name, exclusive, sync, &p))
            .await?;
        Ok(n)
    }

    /// A body small enough to be in memory already ([`gather`]) written in one blocking call: a
    /// replacing write stages it beside the target and renames it over (as the streaming path
    /// does, without the hops between threads); an in-place write needs no staging, since no
    /// part of the body can fail to arrive any more, and goes straight into the target.
    pub(super) async fn write_small(
        &self,
        path: &str,
        chunks: Vec<Bytes>,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let n: u64 = chunks.iter().map(|c| c.len() as u64).sum();
        let replace = flags.replaces(offset);
        let (exclusive, may_create) = (flags.is_exclusive(), flags.creates());
        let (append, sync, mask) = (
            flags.contains(WriteFlags::APPEND),
            flags.contains(WriteFlags::SYNC),
            self.mode_mask(),
        );
        if !replace && !append {
            // Checked before any byte reaches the target.
            check_size(path, offset.unwrap_or(0).saturating_add(n), MAX_FILE_SIZE)?;
        }
        let files = self.open_files.clone();
        self.at(path, move |root, rel, p| {
            if rel == "." {
                return Err(Error::is_a_directory(p));
            }
            let (parent, name) = open_parent(root, rel, p)?;
            let found = lookup(&parent, &name, p)?;
            if let Some(before) = found.as_ref().filter(|_| replace && !exclusive)
                && offset.unwrap_or(0) == 0
                && rewrite_in_place(&parent, &name, before, &chunks, n, mask, sync, &files, p)?
            {
                return Ok(());
            }
            let write_all = |file: &mut std::fs::File| {
                chunks
                    .iter()
                    .try_for_each(|c| file.write_all(c))
                    .map_err(|e| map_io_error(e, p))
            };
            if replace {
                let mode = check_target(found.as_ref(), p, exclusive, may_create)?;
                if mode.is_none() {
                    let bits = NEW_FILE_MODE & mask;
                    match create_unnamed(&parent, &name, &chunks, offset, bits, exclusive, sync, p)?
                    {
                        Created::Done => return Ok(()),
                        Created::Fallback => {}
                    }
                }
                let parent = Arc::new(parent.into_owned(p)?);
                let (temp, mut file) = new_temp(&parent, p, mode.unwrap_or(NEW_FILE_MODE) & mask)?;
                if let Some(off) = offset.filter(|o| *o > 0) {
                    file.seek(SeekFrom::Start(off))
                        .map_err(|e| map_io_error(e, p))?;
                }
                write_all(&mut file)?;
                if sync {
                    file.sync_all().map_err(|e| map_io_error(e, p))?;
                }
                drop(file);
                return commit(&parent, temp, &name, exclusive, sync, p);
            }
            check_target(found.as_ref(), p, exclusive, may_create)?;
            let mut target = parent
                .open_with(&name, &in_place_options(flags))
                .map_err(|e| map_io_error(e, p))?
                .into_std();
            if !append {
                target
                    .seek(SeekFrom::Start(offset.unwrap_or(0)))
                    .map_err(|e| map_io_error(e, p))?;
            }
            write_all(&mut target)?;
            drop_special_bits(&target, mask).map_err(|e| map_io_error(e, p))?;
            if sync {
                target.sync_all().map_err(|e| map_io_error(e, p))?;
                sync_dir(&parent, p)?;
            }
            Ok(())
        })
        .await?;
        Ok(n)
    }

    /// A positional or append write: the body goes into the temporary file, and only once it is
    /// whole is it copied into the target (at `offset`, or at the end with `append`). The target is
    /// created here if the flags allow and it is missing.
    pub(super) async fn write_in_place(
        &self,
        path: &str,
        data: ByteStream,
        limit: u64,
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64> {
        let append = flags.contains(WriteFlags::APPEND);
        let mask = self.mode_mask();
        let sync = flags.contains(WriteFlags::SYNC);
        let opts = in_place_options(flags);
        let Staged {
            parent,
            name,
            temp,
            file,
        } = self.stage(path, flags).await?;
        let mut file = tokio::fs::File::from_std(file);
        let n = pump(&mut file, data, limit, path).await?;
        if !append {
            // Checked before any byte reaches the target: a copy refused midway would be partial.
            check_size(path, offset.unwrap_or(0).saturating_add(n), MAX_FILE_SIZE)?;
        }
        let mut staged = file.into_std().await;
        let p = path.to_string();
        self.blocking(move || {
            let _temp = temp;
            let target = parent
                .open_with(&name, &opts)
                .map_err(|e| map_io_error(e, &p))?;
            let mut target = target.into_std();
            if !append {
                target
                    .seek(SeekFrom::Start(offset.unwrap_or(0)))
                    .map_err(|e| map_io_error(e, &p))?;
            }
            staged
                .seek(SeekFrom::Start(0))
                .map_err(|e| map_io_error(e, &p))?;
            io::copy(&mut staged, &mut target).map_err(|e| map_io_error(e, &p))?;
            drop_special_bits(&target, mask).map_err(|e| map_io_error(e, &p))?;
            if sync {
                target.sync_all().map_err(|e| map_io_error(e, &p))?;
                sync_dir(&parent, &p)?;
            }
            Ok(())
        })
        .await?;
        Ok(n)
    }
}
