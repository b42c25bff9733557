//! Tests of the generated symbols, called as Rust functions: ownership round trips through
//! `PFSFree` (every test ends with no live allocation), errno texts and codes, panics, NULL
//! arguments, and the layout of what the SDK builds.

use std::collections::BTreeMap;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::mem::{offset_of, size_of};
use std::ptr;
use std::time::{Duration, SystemTime};

use c_abi::ffi::{FREE_BYTES, FREE_FILEINFO, FREE_FILEINFO_ARRAY, FileInfoArray, FileInfoC};

use crate::__private::LIVE;
use crate::{FileInfo, PluginError, PluginFs, Reconfigured, WriteFlags};

mod reconfigure;

/// A small in-memory plugin: files at the root only, plus paths that misbehave on purpose.
#[derive(Default)]
struct TestFs {
    files: BTreeMap<String, Vec<u8>>,
    mount_path: String,
}

const MTIME: u64 = 1_700_000_000;

impl TestFs {
    fn info(&self, path: &str) -> Result<FileInfo, PluginError> {
        let data = self.files.get(path).ok_or(PluginError::NotFound)?;
        Ok(FileInfo::file(&path[1..], data.len() as u64)
            .with_mod_time(SystemTime::UNIX_EPOCH + Duration::from_secs(MTIME))
            .with_meta("testfs", "file")
            .with_content("mount", self.mount_path.clone()))
    }
}

impl PluginFs for TestFs {
    const NAME: &'static str = "testfs";
    const NON_BLOCKING: bool = true;

    fn readme() -> &'static str {
        "# testfs\n"
    }

    fn validate(&self, config: &serde_json::Value) -> Result<(), PluginError> {
        if config.get("bad").is_some() {
            return Err(PluginError::InvalidArgument.with_message("unknown key \"bad\""));
        }
        Ok(())
    }

    fn initialize(&mut self, config: &serde_json::Value) -> Result<(), PluginError> {
        self.mount_path = config["mount_path"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.files.insert("/hello".into(), b"Hello\n".to_vec());
        self.files.insert("/bin".into(), b"a\0b\0".to_vec());
        Ok(())
    }

    fn stat(&self, path: &str) -> Result<FileInfo, PluginError> {
        match path {
            "/" | "/empty" => Ok(FileInfo::dir(
                path.rsplit('/')
                    .next()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("/"),
            )),
            "/panic" => panic!("stat exploded"),
            _ => self.info(path),
        }
    }

    fn read_dir(&self, path: &str) -> Result<Vec<FileInfo>, PluginError> {
        match path {
            "/" => self.files.keys().map(|k| self.info(k)).collect(),
            "/empty" => Ok(Vec::new()),
            "/panic" => panic!("read_dir exploded"),
            _ if self.files.contains_key(path) => Err(PluginError::NotADirectory),
            _ => Err(PluginError::NotFound),
        }
    }

    fn read(&self, path: &str, offset: u64, size: Option<u64>) -> Result<Vec<u8>, PluginError> {
        if path == "/panic" {
            panic!("boom {}", 42);
        }
        let data = self.files.get(path).ok_or(PluginError::NotFound)?;
        let start = (offset as usize).min(data.len());
        let end = size.map_or(data.len(), |s| (start + s as usize).min(data.len()));
        // Hand back more than asked for: the SDK must cut it to `size`.
        Ok(data[start..]
            .iter()
            .take(end - start + usize::from(size.is_some()))
            .copied()
            .collect())
    }

    fn write(
        &mut self,
        path: &str,
        data: &[u8],
        offset: Option<u64>,
        flags: WriteFlags,
    ) -> Result<u64, PluginError> {
        match path {
            "/ro" => return Err(PluginError::PermissionDenied),
            "/panic" => panic!("write exploded"),
            _ => {}
        }
        let exists = self.files.contains_key(path);
        if exists && flags.contains(WriteFlags::CREATE | WriteFlags::EXCLUSIVE) {
            return Err(PluginError::AlreadyExists);
        }
        let file = self.files.entry(path.to_string()).or_default();
        match offset {
            None => *file = data.to_vec(),
            Some(o) => {
                let o = o as usize;
                if file.len() < o + data.len() {
                    file.resize(o + data.len(), 0);
                }
                file[o..o + data.len()].copy_from_slice(data);
            }
        }
        Ok(data.len() as u64)
    }

    fn create(&mut self, path: &str) -> Result<(), PluginError> {
        if self.files.contains_key(path) {
            return Err(PluginError::AlreadyExists);
        }
        self.files.insert(path.to_string(), Vec::new());
        Ok(())
    }

    fn remove(&mut self, path: &str) -> Result<(), PluginError> {
        self.files
            .remove(path)
            .map(drop)
            .ok_or(PluginError::NotFound)
    }

    fn truncate(&mut self, path: &str, size: u64) -> Result<(), PluginError> {
        self.files
            .get_mut(path)
            .ok_or(PluginError::NotFound)?
            .resize(size as usize, 0);
        Ok(())
    }

    /// `limit` (at most 100: more is clamped, and the config amended) lands in the file `/limit`;
    /// `root` cannot change in place; `panic` panics.
    fn reconfigure(
        &mut self,
        old: &serde_json::Value,
        new: &serde_json::Value,
    ) -> Result<Reconfigured, PluginError> {
        if new.get("panic").is_some() {
            panic!("reconfigure exploded");
        }
        if old.get("root") != new.get("root") {
            return Err(PluginError::Unsupported.with_message("root cannot change in place"));
        }
        let limit = new["limit"].as_u64().ok_or_else(|| {
            PluginError::InvalidArgument.with_message("limit must be a whole number")
        })?;
        self.files
            .insert("/limit".into(), limit.min(100).to_string().into_bytes());
        if limit <= 100 {
            return Ok(Reconfigured::Accepted);
        }
        let mut applied = new.clone();
        applied["limit"] = 100.into();
        Ok(Reconfigured::Amended(applied))
    }
}

crate::export_plugin!(TestFs);

// ---------------------------------------------------------------------------------------------
// Helpers: each wraps one unsafe call, so the tests read as plain calls.

/// Copies an error text or string and hands it back to PFSFree; `None` for NULL.
fn take_text(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: a non-NULL string the SDK returned, valid until PFSFree.
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
    // SAFETY: released once, with the kind of a string.
    unsafe { PFSFree(ptr::null_mut(), p.cast_mut().cast(), FREE_BYTES) };
    Some(s)
}

/// A `FileInfoC` copied to plain values.
#[derive(Debug, PartialEq)]
struct Info {
    name: String,
    size: i64,
    mode: u32,
    mod_time: i64,
    is_dir: i32,
    meta: (Option<String>, Option<String>, Option<String>),
}

fn opt(p: *const c_char) -> Option<String> {
    // SAFETY: NULL or a NUL-terminated string of a live FileInfoC.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string())
}

fn copy_info(c: &FileInfoC) -> Info {
    Info {
        name: opt(c.name).unwrap(),
        size: c.size,
        mode: c.mode,
        mod_time: c.mod_time,
        is_dir: c.is_dir,
        meta: (opt(c.meta_name), opt(c.meta_type), opt(c.meta_content)),
    }
}

/// A fresh, initialized instance mounted at `/t`.
fn mounted() -> *mut c_void {
    let p = PluginNew();
    assert!(!p.is_null());
    // SAFETY: a live instance and a NUL-terminated config.
    let err = unsafe { PluginInitialize(p, c"{\"mount_path\":\"/t\"}".as_ptr()) };
    assert_eq!(take_text(err), None);
    p
}

fn unmount(p: *mut c_void) {
    // SAFETY: a live instance, shut down and freed once.
    let err = unsafe { PluginShutdown(p) };
    assert_eq!(take_text(err), None);
    // SAFETY: as above.
    unsafe { PluginFree(p) };
}

fn stat(p: *mut c_void, path: &CStr) -> Option<Info> {
    // SAFETY: a live instance (or NULL) and a NUL-terminated path.
    let c = unsafe { FSStat(p, path.as_ptr()) };
    // SAFETY: NULL or a FileInfoC the SDK built, valid until PFSFree.
    let info = unsafe { c.as_ref() }.map(copy_info);
    if !c.is_null() {
        // SAFETY: released once, as the FileInfoC it is.
        unsafe { PFSFree(p, c.cast(), FREE_FILEINFO) };
    }
    info
}

/// `(out_len, data or error text)`.
fn read(p: *mut c_void, path: &CStr, offset: i64, size: i64) -> (c_int, Option<Vec<u8>>) {
    let mut len: c_int = 7;
    // SAFETY: a live instance, a NUL-terminated path, a valid out-param.
    let data = unsafe { FSRead(p, path.as_ptr(), offset, size, &mut len) };
    if data.is_null() {
        return (len, None);
    }
    let n = if len < 0 {
        // SAFETY: an error text.
        unsafe { CStr::from_ptr(data) }.to_bytes().len()
    } else {
        len as usize
    };
    // SAFETY: `n` readable bytes at `data`.
    let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), n) }.to_vec();
    // SAFETY: released once, as bytes.
    unsafe { PFSFree(p, data.cast_mut().cast(), FREE_BYTES) };
    (len, Some(bytes))
}

fn write(p: *mut c_void, path: &CStr, data: &[u8], offset: i64, flags: WriteFlags) -> i64 {
    // SAFETY: a live instance, a NUL-terminated path, `data.len()` bytes at `data`.
    unsafe {
        FSWrite(
            p,
            path.as_ptr(),
            data.as_ptr().cast(),
            data.len() as c_int,
            offset,
            flags.bits(),
        )
    }
}

/// `(out_count, entries)`.
fn read_dir(p: *mut c_void, path: &CStr) -> (c_int, Vec<Info>) {
    let mut count: c_int = 7;
    // SAFETY: a live instance, a NUL-terminated path, a valid out-param.
    let arr = unsafe { FSReadDir(p, path.as_ptr(), &mut count) };
    let mut out = Vec::new();
    // SAFETY: NULL or an array the SDK built, valid until PFSFree.
    if let Some(a) = unsafe { arr.as_ref() } {
        assert_eq!(a.count, count, "Count and *out_count agree");
        for i in 0..count as usize {
            // SAFETY: `i < count` items.
            out.push(copy_info(unsafe { &*a.items.add(i) }));
        }
        // SAFETY: released once, as the array it is.
        unsafe { PFSFree(p, arr.cast(), FREE_FILEINFO_ARRAY) };
    }
    (count, out)
}

fn live() -> isize {
    LIVE.with(|l| l.get())
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn abi_version_is_the_header_version() {
    assert_eq!(
        PFSPluginABIVersion(),
        (c_abi::ffi::ABI_MAJOR << 16) | c_abi::ffi::ABI_MINOR
    );
    assert_eq!(PFSPluginABIVersion(), 0x0001_0003);
}

#[test]
fn non_blocking_is_exported_from_the_trait_constant() {
    assert_eq!(PFSNonBlocking(), 1);
}

#[test]
fn name_and_readme_round_trip_through_pfs_free() {
    let name = PluginName(ptr::null_mut());
    assert_eq!(live(), 1, "one allocation handed out");
    assert_eq!(take_text(name).as_deref(), Some("testfs"));
    assert_eq!(live(), 0, "and released by PFSFree");
    assert_eq!(
        take_text(PluginGetReadme(ptr::null_mut())).as_deref(),
        Some("# testfs\n")
    );
    assert_eq!(live(), 0);
}

#[test]
fn validate_bad_config_returns_einval_text() {
    let p = PluginNew();
    // SAFETY: a live instance and NUL-terminated texts (or NULL) in each call below.
    let (bad_key, bad_json, null, good) = unsafe {
        (
            PluginValidate(p, c"{\"bad\":1}".as_ptr()),
            PluginValidate(p, c"{not json".as_ptr()),
            PluginValidate(p, ptr::null()),
            PluginValidate(p, c"{\"mount_path\":\"/t\"}".as_ptr()),
        )
    };
    assert_eq!(
        take_text(bad_key).as_deref(),
        Some("EINVAL: unknown key \"bad\"")
    );
    assert!(
        take_text(bad_json)
            .unwrap()
            .starts_with("EINVAL: config_json is not valid JSON")
    );
    assert_eq!(
        take_text(null).as_deref(),
        Some("EINVAL: config_json is NULL")
    );
    assert_eq!(take_text(good), None);
    unmount(p);
    assert_eq!(live(), 0);
}

#[test]
fn stat_file_builds_every_field_and_frees_it() {
    let p = mounted();
    let hello = stat(p, c"/hello").unwrap();
    assert_eq!(
        hello,
        Info {
            name: "hello".into(),
            size: 6,
            mode: 0o644,
            mod_time: MTIME as i64,
            is_dir: 0,
            meta: (
                Some("testfs".into()),
                Some("file".into()),
                Some("{\"mount\":\"/t\"}".into())
            ),
        }
    );
    let root = stat(p, c"/").unwrap();
    assert_eq!(
        (root.name.as_str(), root.is_dir, root.mode, root.size),
        ("/", 1, 0o755, 0)
    );
    assert_eq!(root.meta, (None, None, None), "empty meta fields are NULL");
    assert_eq!(stat(p, c"/missing"), None);
    unmount(p);
    assert_eq!(live(), 0);
}

#[test]
fn stat_result_has_the_header_layout() {
    assert_eq!(size_of::<FileInfoC>(), 64);
    assert_eq!(size_of::<FileInfoArray>(), 16);
    assert_eq!(offset_of!(FileInfoArray, count), 8);
    let p = mounted();
    // SAFETY: a live instance and a NUL-terminated path.
    let c = unsafe { FSStat(p, c"/hello".as_ptr()) };
    assert!(!c.is_null());
    let base = c.cast::<u8>();
    // SAFETY: reads inside the 64-byte struct at the header's offsets, with the header's types.
    unsafe {
        assert_eq!(base.add(8).cast::<i64>().read(), 6, "Size at 8");
        assert_eq!(base.add(16).cast::<u32>().read(), 0o644, "Mode at 16");
        assert_eq!(
            base.add(24).cast::<i64>().read(),
            MTIME as i64,
            "ModTime at 24"
        );
        assert_eq!(base.add(32).cast::<i32>().read(), 0, "IsDir at 32");
        let name = base.cast::<*const c_char>().read();
        assert_eq!(CStr::from_ptr(name), c"hello", "Name at 0");
        assert_eq!(
            CStr::from_ptr(base.add(40).cast::<*const c_char>().read()),
            c"testfs",
            "MetaName at 40"
        );
        assert_eq!(
            CStr::from_ptr(base.add(48).cast::<*const c_char>().read()),
            c"file",
            "MetaType at 48"
        );
        assert_eq!(
            CStr::from_ptr(base.add(56).cast::<*const c_char>().read()),
            c"{\"mount\":\"/t\"}"
        );
        PFSFree(p, c.cast(), FREE_FILEINFO);
    }
    let mut count: c_int = 0;
    // SAFETY: a live instance, a NUL-terminated path, a valid out-param.
    let arr = unsafe { FSReadDir(p, c"/".as_ptr(), &mut count) };
    assert_eq!(count, 2);
    // SAFETY: the array and its 2 items the SDK built; items are 64 bytes apart; freed once.
    unsafe {
        assert_eq!(
            arr.cast::<u8>().add(8).cast::<c_int>().read(),
            2,
            "Count at 8"
        );
        let items = arr.cast::<*const u8>().read();
        let second = items.add(64);
        assert_eq!(
            CStr::from_ptr(second.cast::<*const c_char>().read()),
            c"hello"
        );
        assert_eq!(second.add(8).cast::<i64>().read(), 6);
        PFSFree(p, arr.cast(), FREE_FILEINFO_ARRAY);
    }
    unmount(p);
    assert_eq!(live(), 0);
}

#[test]
fn read_binary_ranges_and_errors() {
    let p = mounted();
    assert_eq!(
        read(p, c"/bin", 0, -1),
        (4, Some(b"a\0b\0".to_vec())),
        "NUL bytes survive"
    );
    assert_eq!(
        read(p, c"/hello", 1, 3),
        (3, Some(b"ell".to_vec())),
        "cut to size"
    );
    assert_eq!(read(p, c"/hello", 6, -1), (0, None), "at EOF: NULL and 0");
    assert_eq!(read(p, c"/hello", 0, 0), (0, None));
    let (len, text) = read(p, c"/missing", 0, -1);
    assert_eq!(
        (len, String::from_utf8(text.unwrap()).unwrap()),
        (-1, "ENOENT: no such file or directory".into())
    );
    let (len, text) = read(p, c"/hello", -1, -1);
    assert_eq!(
        (len, String::from_utf8(text.unwrap()).unwrap()),
        (-1, "EINVAL: negative offset".into())
    );
    unmount(p);
    assert_eq!(live(), 0);
}

#[test]
fn write_returns_count_or_negative_errno() {
    let p = mounted();
    assert_eq!(write(p, c"/new", b"abc", -1, WriteFlags::NONE), 3);
    assert_eq!(write(p, c"/new", b"Z", 1, WriteFlags::NONE), 1);
    assert_eq!(read(p, c"/new", 0, -1).1.unwrap(), b"aZc");
    assert_eq!(
        write(
            p,
            c"/new",
            b"x",
            -1,
            WriteFlags::CREATE | WriteFlags::EXCLUSIVE
        ),
        -17
    );
    assert_eq!(write(p, c"/ro", b"x", -1, WriteFlags::NONE), -13);
    assert_eq!(write(p, c"/panic", b"x", -1, WriteFlags::NONE), -5);
    assert_eq!(write(p, c"/empty-data", b"", 0, WriteFlags::NONE), 0);
    // SAFETY: NULL data with a zero or positive length, and a negative length: refused, nothing read.
    let (null_empty, null_data, negative) = unsafe {
        (
            FSWrite(p, c"/n".as_ptr(), ptr::null(), 0, -1, 0),
            FSWrite(p, c"/n".as_ptr(), ptr::null(), 4, -1, 0),
            FSWrite(p, c"/n".as_ptr(), c"x".as_ptr(), -1, -1, 0),
        )
    };
    assert_eq!((null_empty, null_data, negative), (0, -22, -22));
    unmount(p);
    assert_eq!(live(), 0);
}

#[test]
fn string_ops_return_errno_prefixed_texts() {
    let p = mounted();
    // SAFETY: a live instance and NUL-terminated paths in each call.
    let (exists, created, unsupported, missing, rename, chmod, negative, truncated) = unsafe {
        (
            FSCreate(p, c"/hello".as_ptr()),
            FSCreate(p, c"/fresh".as_ptr()),
            FSMkdir(p, c"/d".as_ptr(), 0o755),
            FSRemove(p, c"/nope".as_ptr()),
            FSRename(p, c"/hello".as_ptr(), c"/bye".as_ptr()),
            FSChmod(p, c"/hello".as_ptr(), 0o600),
            PFSTruncate(p, c"/hello".as_ptr(), -1),
            PFSTruncate(p, c"/hello".as_ptr(), 2),
        )
    };
    assert_eq!(
        take_text(exists).as_deref(),
        Some("EEXIST: file already exists")
    );
    assert_eq!(take_text(created), None);
    assert_eq!(
        take_text(unsupported).as_deref(),
        Some("ENOTSUP: operation not supported")
    );
    assert_eq!(
        take_text(missing).as_deref(),
        Some("ENOENT: no such file or directory")
    );
    assert_eq!(
        take_text(rename).as_deref(),
        Some("ENOTSUP: operation not supported")
    );
    assert_eq!(
        take_text(chmod).as_deref(),
        Some("ENOTSUP: operation not supported")
    );
    assert_eq!(
        take_text(negative).as_deref(),
        Some("EINVAL: negative size")
    );
    assert_eq!(take_text(truncated), None);
    assert_eq!(read(p, c"/hello", 0, -1).1.unwrap(), b"He");
    // SAFETY: as above.
    let removed = unsafe { FSRemoveAll(p, c"/hello".as_ptr()) };
    assert_eq!(
        take_text(removed).as_deref(),
        Some("ENOTSUP: operation not supported")
    );
    unmount(p);
    assert_eq!(live(), 0);
}

#[test]
fn read_dir_lists_empty_and_fails_with_negative_count() {
    let p = mounted();
    let (count, entries) = read_dir(p, c"/");
    assert_eq!(count, 2);
    let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["bin", "hello"]);
    assert_eq!(entries[1].size, 6);
    assert_eq!(read_dir(p, c"/empty"), (0, Vec::new()), "empty: NULL and 0");
    assert_eq!(read_dir(p, c"/missing"), (-1, Vec::new()));
    assert_eq!(read_dir(p, c"/hello"), (-1, Vec::new()));
    assert_eq!(read_dir(p, c"/panic"), (-1, Vec::new()));
    unmount(p);
    assert_eq!(live(), 0);
}

#[test]
fn panic_becomes_eio_and_instance_stays_usable() {
    let p = mounted();
    let (len, text) = read(p, c"/panic", 0, -1);
    assert_eq!(len, -1);
    assert_eq!(
        String::from_utf8(text.unwrap()).unwrap(),
        "EIO: plugin panicked: boom 42"
    );
    assert_eq!(stat(p, c"/panic"), None, "FSStat has no text: NULL");
    // The call that panicked released the instance: the next one runs.
    assert_eq!(read(p, c"/hello", 0, -1).1.unwrap(), b"Hello\n");
    unmount(p);
    assert_eq!(live(), 0);
}

#[test]
fn null_arguments_are_refused_before_the_plugin_runs() {
    let p = mounted();
    assert_eq!(stat(ptr::null_mut(), c"/hello"), None);
    // SAFETY: NULL instance / path / out-params are what is tested; nothing else is invalid.
    let (no_inst, no_path, no_old, no_len, no_count) = unsafe {
        (
            FSCreate(ptr::null_mut(), c"/x".as_ptr()),
            FSCreate(p, ptr::null()),
            FSRename(p, ptr::null(), c"/y".as_ptr()),
            FSRead(p, c"/hello".as_ptr(), 0, -1, ptr::null_mut()),
            FSReadDir(p, c"/".as_ptr(), ptr::null_mut()),
        )
    };
    assert_eq!(
        take_text(no_inst).as_deref(),
        Some("EINVAL: plugin instance is NULL")
    );
    assert_eq!(take_text(no_path).as_deref(), Some("EINVAL: path is NULL"));
    assert_eq!(
        take_text(no_old).as_deref(),
        Some("EINVAL: old_path is NULL")
    );
    assert!(no_len.is_null() && no_count.is_null());
    // SAFETY: NULL instance or pointer: both ignored.
    unsafe {
        assert_eq!(
            FSWrite(ptr::null_mut(), c"/x".as_ptr(), c"x".as_ptr(), 1, -1, 0),
            -22
        );
        assert_eq!(FSStat(p, ptr::null()), ptr::null_mut());
        PFSFree(p, ptr::null_mut(), FREE_BYTES);
        PluginFree(ptr::null_mut());
    }
    unmount(p);
    assert_eq!(live(), 0);
}

#[test]
fn panicking_default_makes_plugin_new_return_null() {
    #[derive(Debug)]
    struct Broken;
    impl Default for Broken {
        fn default() -> Self {
            panic!("no default today")
        }
    }
    impl PluginFs for Broken {
        const NAME: &'static str = "broken";
        fn stat(&self, _: &str) -> Result<FileInfo, PluginError> {
            Err(PluginError::NotFound)
        }
        fn read_dir(&self, _: &str) -> Result<Vec<FileInfo>, PluginError> {
            Err(PluginError::NotFound)
        }
        fn read(&self, _: &str, _: u64, _: Option<u64>) -> Result<Vec<u8>, PluginError> {
            Err(PluginError::NotFound)
        }
    }
    assert!(crate::__private::plugin_new::<Broken>().is_null());
}

#[test]
fn errors_map_to_errno_names_and_numbers() {
    let table = [
        (PluginError::NotFound, "ENOENT", 2),
        (PluginError::AlreadyExists, "EEXIST", 17),
        (PluginError::NotADirectory, "ENOTDIR", 20),
        (PluginError::IsADirectory, "EISDIR", 21),
        (PluginError::NotEmpty, "ENOTEMPTY", 39),
        (PluginError::PermissionDenied, "EACCES", 13),
        (PluginError::InvalidArgument, "EINVAL", 22),
        (PluginError::Unsupported, "ENOTSUP", 95),
        (PluginError::Io("x".into()), "EIO", 5),
    ];
    for (e, name, errno) in table {
        assert_eq!((e.errno_name(), e.errno()), (name, errno), "{e:?}");
        assert!(e.to_string().starts_with(&format!("{name}: ")));
        let m = e.clone().with_message("detail");
        assert_eq!(
            (m.errno(), m.to_string()),
            (errno, format!("{name}: detail"))
        );
        assert_eq!(
            m.with_message("again").to_string(),
            format!("{name}: again")
        );
    }
    let io = PluginError::from(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"));
    assert_eq!((io.errno(), io.to_string()), (2, "ENOENT: gone".into()));
    let other = PluginError::from(std::io::Error::other("disk"));
    assert_eq!(other, PluginError::Io("disk".into()));
}

#[test]
fn write_flags_match_the_header_bits() {
    assert_eq!(
        [
            WriteFlags::APPEND,
            WriteFlags::CREATE,
            WriteFlags::EXCLUSIVE,
            WriteFlags::TRUNCATE,
            WriteFlags::SYNC
        ]
        .map(WriteFlags::bits),
        [1, 2, 4, 8, 16]
    );
    assert_eq!(
        format!("{:?}", WriteFlags::CREATE | WriteFlags::TRUNCATE),
        "CREATE | TRUNCATE"
    );
    assert_eq!(
        format!("{:?}", WriteFlags::from_bits(0x41)),
        "APPEND | 0x40"
    );
    assert_eq!(format!("{:?}", WriteFlags::NONE), "NONE");
}

#[test]
fn mod_time_before_epoch_is_negative() {
    let before =
        FileInfo::file("x", 0).with_mod_time(SystemTime::UNIX_EPOCH - Duration::from_secs(10));
    assert_eq!(before.mod_time_unix(), -10);
}
