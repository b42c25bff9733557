//! The shared conformance suite: one `pub async fn` per case, each taking a fresh [`Fixture`] and
//! asserting. [`conformance_tests!`](crate::conformance_tests) expands to one `#[tokio::test]` per
//! case, so a failure is reported by name (`memfs::tests::rename_directory_moves_subtree`).
//!
//! Cases consult [`FileSystem::capabilities`] and the fixture first and return early when they do not
//! apply; [`caps`] checks the capabilities both ways: an operation marked unsupported answers
//! `Unsupported`, and one marked supported never does.

use std::sync::Arc;

use bytes::Bytes;

use crate::{Capabilities, ErrorKind, FileSystem, Result, WriteFlags};

pub mod caps;
pub mod clock;
pub mod dirs;
pub mod extremes;
pub mod faults;
pub mod files;
pub mod lifecycle;
pub mod paths;
pub mod rename;
pub mod roots;

/// What a case runs against.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The filesystem under test, fresh for each case.
    pub fs: Arc<dyn FileSystem>,
    /// A directory where the case may create files (`/` for a free tree, `/keys` for kvfs);
    /// `None` when the filesystem has nowhere to write (read-only plugins, devfs).
    pub root: Option<String>,
    /// An existing file and its exact content, for read cases on read-only filesystems.
    pub existing: Option<(String, Bytes)>,
    /// What the filesystem under test supports; for a router, the capabilities of the mount that
    /// serves `root` (see [`Fixture::with_caps`]).
    pub caps: Capabilities,
    /// The path of the mount root in `fs`: `/` for a plugin, the mount point through a router.
    pub mount_root: String,
    /// Whether a directory exists while it is empty. `false` for a store where a directory exists
    /// only as long as it has entries (s3s-fs, which keeps objects as plain files): the cases
    /// that make a directory and then use it do not run ([`Fixture::has_dirs`]).
    pub empty_dirs: bool,
    /// Cases this filesystem is known to fail, each with the reason (a bug to fix, not a different
    /// contract): the generated test prints the reason and passes. See [`Fixture::with_known_gap`].
    pub known_gaps: Vec<(&'static str, &'static str)>,
}

impl Fixture {
    /// A fixture whose cases write below `root`.
    pub fn writable(fs: Arc<dyn FileSystem>, root: &str) -> Self {
        let caps = fs.capabilities();
        Fixture {
            fs,
            root: Some(root.to_string()),
            existing: None,
            caps,
            mount_root: "/".to_string(),
            empty_dirs: true,
            known_gaps: Vec::new(),
        }
    }

    /// A fixture for a filesystem that cannot store files; `existing` names a file it serves.
    pub fn read_only(fs: Arc<dyn FileSystem>, existing: Option<(&str, &[u8])>) -> Self {
        let caps = fs.capabilities();
        Fixture {
            fs,
            root: None,
            existing: existing.map(|(p, b)| (p.to_string(), Bytes::copy_from_slice(b))),
            caps,
            mount_root: "/".to_string(),
            empty_dirs: true,
            known_gaps: Vec::new(),
        }
    }

    /// Replaces the capabilities the cases consult (for a router, those of the mount under test).
    pub fn with_caps(mut self, caps: Capabilities) -> Self {
        self.caps = caps;
        self
    }

    /// Names the mount root the cases treat as such (a router fixture's mount point).
    pub fn with_mount_root(mut self, path: &str) -> Self {
        self.mount_root = path.to_string();
        self
    }

    /// Marks a filesystem whose directories exist only while they have entries (see
    /// [`Fixture::empty_dirs`]).
    pub fn dirs_exist_only_with_entries(mut self) -> Self {
        self.empty_dirs = false;
        self
    }

    /// Records that `case` (a case's function name, such as `file_as_parent_is_rejected`) is known
    /// to fail on this filesystem, for the reason `why`. A stopgap until the bug is fixed: the
    /// suite stays as strict as the trait for everyone else, and the gap is written down here.
    pub fn with_known_gap(mut self, case: &'static str, why: &'static str) -> Self {
        self.known_gaps.push((case, why));
        self
    }

    /// The reason `case` is a known gap of this fixture, if it is one.
    pub fn known_gap(&self, case: &str) -> Option<&'static str> {
        self.known_gaps
            .iter()
            .find(|(c, _)| *c == case)
            .map(|(_, why)| *why)
    }

    /// The full path of `name` below the writable root, or `None` when there is no root.
    pub fn at(&self, name: &str) -> Option<String> {
        self.root.as_deref().map(|r| crate::path::child(r, name))
    }

    /// Whether the cases can make directories below the root and use them: `mkdir` is supported,
    /// and a directory it made exists before anything is put in it.
    pub fn has_dirs(&self) -> bool {
        self.root.is_some() && self.caps.mkdir && self.empty_dirs
    }

    /// Writes `data` as the whole content of `path` (the `PUT /files` default), panicking on error.
    pub async fn put(&self, path: &str, data: &[u8]) {
        let n = self
            .fs
            .write(path, Bytes::copy_from_slice(data), None, WriteFlags::NONE)
            .await
            .unwrap_or_else(|e| panic!("write {path}: {e}"));
        assert_eq!(n, data.len() as u64, "write {path} reported {n} bytes");
    }

    /// Reads the whole content of `path`, panicking on error.
    pub async fn get(&self, path: &str) -> Bytes {
        self.fs
            .read(path, 0, None)
            .await
            .unwrap_or_else(|e| panic!("read {path}: {e}"))
    }
}

/// The fixture `make` builds, reached through a mount router instead: its filesystem mounted at
/// `mount_path`, beside a second one from `make` (at `sibling` next to it, or inside it when
/// `mount_path` is `/`) so that a request routed to the wrong mount shows. The writable root,
/// the existing file and the mount root move below `mount_path`; the capabilities are those the
/// router reports for the mount, which must be the plugin's own.
///
/// ```text
/// mod through_the_router {
///     use super::*;
///     fs_core::conformance_tests!(|| conformance::mounted_at("/a/b", plugin_fixture));
/// }
/// ```
pub async fn mounted_at<F, Fut>(mount_path: &str, make: F) -> Fixture
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Fixture>,
{
    let plugin = make().await;
    let router = crate::MountableFs::new(mount_context(mount_path, serde_json::Value::Null).server);
    router
        .mount(
            mount_path,
            "under-test",
            None,
            serde_json::json!({}),
            plugin.fs.clone(),
        )
        .await
        .unwrap_or_else(|e| panic!("mount at {mount_path}: {e}"));
    let sibling = match mount_path {
        "/" => "/sibling".to_string(),
        p => crate::path::child(crate::path::parent(p), "sibling"),
    };
    router
        .mount(
            &sibling,
            "sibling",
            None,
            serde_json::json!({}),
            make().await.fs,
        )
        .await
        .unwrap_or_else(|e| panic!("mount at {sibling}: {e}"));
    let caps = router.capabilities_at(mount_path);
    assert_eq!(
        caps, plugin.caps,
        "the router reports other capabilities than the plugin"
    );
    let at = |p: &str| crate::path::join(mount_path, p);
    Fixture {
        fs: router,
        root: plugin.root.as_deref().map(at),
        existing: plugin.existing.map(|(p, b)| (at(&p), b)),
        caps,
        mount_root: at(&plugin.mount_root),
        empty_dirs: plugin.empty_dirs,
        known_gaps: plugin.known_gaps,
    }
}

/// A mount context for tests: `mount_path`, `config`, no router, a server at version `9.9.9`
/// started now.
pub fn mount_context(mount_path: &str, config: serde_json::Value) -> crate::MountContext {
    crate::MountContext {
        mount_path: mount_path.to_string(),
        config,
        root: std::sync::Weak::new(),
        server: crate::ServerInfo {
            version: "9.9.9".into(),
            started: std::time::SystemTime::now(),
            data_dir: None,
        },
        policy: crate::policy::MountPolicy::unrestricted(),
    }
}

/// The value of `var`, which names a real server a test needs (`PFS_TEST_MYSQL_DSN`,
/// `PFS_TEST_S3_ENDPOINT`, ...). Unset or empty: under `CI` (where `scripts/test` starts the
/// server and sets it) a failure, elsewhere a skip notice naming `hint` and `None`.
#[track_caller]
pub fn test_server(var: &str, hint: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{var} is not set: CI must run this test ({hint})")
        }
        _ => {
            println!("skipping: set {var} ({hint})");
            None
        }
    }
}

/// Asserts that `r` failed with `kind`.
#[track_caller]
pub fn assert_kind<T: std::fmt::Debug>(r: Result<T>, kind: ErrorKind) {
    match r {
        Err(e) if e.kind() == kind => {}
        Err(e) => panic!("expected {kind:?}, got {:?}: {e}", e.kind()),
        Ok(v) => panic!("expected {kind:?}, got Ok({v:?})"),
    }
}

/// Asserts that `r` failed with one of `kinds`.
#[track_caller]
pub fn assert_kind_in<T: std::fmt::Debug>(r: Result<T>, kinds: &[ErrorKind]) {
    match r {
        Err(e) if kinds.contains(&e.kind()) => {}
        Err(e) => panic!("expected one of {kinds:?}, got {:?}: {e}", e.kind()),
        Ok(v) => panic!("expected one of {kinds:?}, got Ok({v:?})"),
    }
}

/// Names of the entries of `dir`, sorted.
pub async fn names(fs: &dyn FileSystem, dir: &str) -> Result<Vec<String>> {
    let mut v: Vec<String> = fs
        .read_dir(dir)
        .await?
        .into_iter()
        .map(|i| i.name)
        .collect();
    v.sort();
    Ok(v)
}

/// Expands to one `#[tokio::test]` per conformance case. `$fixture` is a closure returning a
/// future of a fresh [`Fixture`]:
///
/// ```text
/// fs_core::conformance_tests!(|| async { Fixture::writable(Arc::new(MemFs::new()), "/") });
/// ```
///
/// With `optional`, the closure returns `Option<Fixture>`, and a case returns early on `None` (for
/// backends that may be absent; the closure says why):
///
/// ```text
/// fs_core::conformance_tests!(optional || async { server().map(|s| Fixture::writable(s, "/")) });
/// ```
#[macro_export]
macro_rules! conformance_tests {
    (optional $fixture:expr) => {
        $crate::conformance_tests!(@list optional, $fixture);
    };
    (@list $mode:ident, $fixture:expr) => {
        $crate::conformance_tests!(@cases $mode, $fixture;
            paths::special_names_roundtrip,
            paths::root_is_a_directory,
            paths::trailing_slash_names_the_same_file,
            paths::missing_parent_is_not_found,
            paths::stat_missing_is_not_found,
            files::overwrite_replaces_content,
            files::append_flag_appends,
            files::pwrite_inside_keeps_the_rest,
            files::pwrite_past_eof_zero_fills,
            files::read_at_and_past_eof_is_empty,
            files::read_ranges_slice_content,
            files::create_existing_is_already_exists,
            files::exclusive_create_on_existing_fails,
            files::write_missing_without_create_is_not_found,
            files::truncate_flag_empties_first,
            files::truncate_shrinks_and_extends,
            files::touch_creates_then_keeps_content,
            files::write_stream_matches_write,
            files::read_content_matches_read,
            files::stat_reports_size_and_mode_bits,
            files::chmod_sets_permission_bits,
            files::existing_file_reads,
            files::sync_only_write_creates_like_no_flags,
            extremes::pwrite_at_extreme_offsets_is_exact_or_refused,
            extremes::streamed_pwrite_at_extreme_offsets_is_exact_or_refused,
            extremes::append_past_the_largest_file_is_refused,
            extremes::truncate_to_extreme_sizes_is_exact_or_refused,
            extremes::handle_seek_far_then_write_is_exact_or_refused,
            extremes::reads_at_extreme_offsets_are_empty_or_exact,
            roots::mount_root_mutations_are_refused,
            faults::a_panicking_body_changes_nothing,
            dirs::mkdir_then_list,
            dirs::empty_directory_lists_empty,
            dirs::mkdir_existing_is_already_exists,
            dirs::remove_non_empty_directory_fails,
            dirs::remove_all_removes_subtree,
            dirs::remove_missing_is_not_found,
            dirs::read_dir_of_file_is_not_a_directory,
            dirs::read_of_directory_is_a_directory,
            dirs::file_as_parent_is_rejected,
            rename::rename_file_moves_content,
            rename::rename_onto_existing_file_replaces_it,
            rename::rename_directory_moves_subtree,
            rename::rename_into_own_subtree_fails,
            rename::rename_missing_is_not_found,
            caps::unsupported_ops_answer_unsupported,
            caps::supported_ops_do_not_answer_unsupported,
        );
    };
    (@cases required, $fixture:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let fixture = ($fixture)().await;
                if let Some(why) = fixture.known_gap(stringify!($case)) {
                    println!("skipping {}: a known gap: {why}", stringify!($case));
                    return;
                }
                $crate::conformance::$module::$case(fixture).await;
            }
        )*
    };
    (@cases optional, $fixture:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some(fixture) = ($fixture)().await else { return };
                if let Some(why) = fixture.known_gap(stringify!($case)) {
                    println!("skipping {}: a known gap: {why}", stringify!($case));
                    return;
                }
                $crate::conformance::$module::$case(fixture).await;
            }
        )*
    };
    ($fixture:expr) => {
        $crate::conformance_tests!(@list required, $fixture);
    };
}
