//! The load-time checks and the extensions: ABI version refusal, missing PluginNew, validate and
//! initialize failures (nothing left behind), PFSFree receiving every pointer exactly once,
//! PFSTruncate, and errno-coded errors.

mod common;

use std::sync::Arc;

use c_abi::{ExternalPlugin, LoadedLibrary};
use fs_core::conformance::assert_kind;
use fs_core::{ErrorKind, FileSystem, ServicePlugin, WriteFlags};

#[test]
fn newer_abi_major_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let so = common::cc(
        "#include <stdint.h>\nuint32_t PFSPluginABIVersion(void) { return (2u << 16) | 3u; }\n\
         void* PluginNew(void) { static int x; return &x; }\n",
        "abi2",
        dir.path(),
    );
    let e = LoadedLibrary::load(&so).unwrap_err().to_string();
    assert!(e.contains("plugin ABI 2.3, host supports 1.x"), "{e}");
    assert!(e.contains("abi2.so"), "the error names the library: {e}");
}

#[tokio::test]
async fn pfs_non_blocking_moves_calls_in_place_only_when_it_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let memfs = common::make_example("memfs-c", "memfs-c.so", dir.path());
    let lib = LoadedLibrary::load(&memfs).unwrap();
    assert!(lib.non_blocking);
    assert_eq!(lib.abi, (1, 3));
    let hello = common::make_example("hellofs-c", "hellofs-c.so", dir.path());
    assert!(!LoadedLibrary::load(&hello).unwrap().non_blocking);
    // Exported but answering 0: still a thread of its own.
    let zero = common::cc(
        "int PFSNonBlocking(void) { return 0; }
void* PluginNew(void) { static int x; return &x; }
",
        "nonblocking0",
        dir.path(),
    );
    assert!(!LoadedLibrary::load(&zero).unwrap().non_blocking);

    // The adapter follows the library: memfs-c runs in place and still works.
    let plugin = ExternalPlugin::new(Arc::new(lib), "memfs-c".into());
    let fs = plugin
        .initialize(common::ctx("/m", serde_json::json!({})))
        .await
        .unwrap();
    fs.write(
        "/a",
        bytes::Bytes::from_static(b"inline"),
        None,
        WriteFlags::NONE,
    )
    .await
    .unwrap();
    assert_eq!(fs.read("/a", 0, None).await.unwrap(), "inline");
}

#[test]
fn missing_plugin_new_is_refused_naming_the_symbol() {
    let dir = tempfile::tempdir().unwrap();
    let so = common::cc(
        "int NotAPlugin(void) { return 1; }\n",
        "noplugin",
        dir.path(),
    );
    let e = LoadedLibrary::load(&so).unwrap_err().to_string();
    assert!(
        e.contains("missing required symbol PluginNew") && e.contains("noplugin.so"),
        "{e}"
    );
}

#[test]
fn a_file_that_is_not_a_library_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.so");
    std::fs::write(&bogus, b"not an ELF file").unwrap();
    let e = LoadedLibrary::load(&bogus).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("bogus.so"), "{e}");
}

/// A plugin that logs its lifecycle to the file named by its `log` config key, fails validate
/// when the config has "bad", and counts the buffers it hands out (PFSFree decrements).
const TRACKING: &str = r##"
#define _POSIX_C_SOURCE 200809L
#include "pfs_plugin.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long outstanding = 0; /* buffers handed out and not yet given back through PFSFree */
static long live = 0;        /* instances not yet freed */

typedef struct { char log[512]; } Tracking;

static void logline(Tracking* t, const char* what) {
    if (!t->log[0]) return;
    FILE* f = fopen(t->log, "a");
    if (!f) return;
    fprintf(f, "%s %ld %ld\n", what, outstanding, live);
    fclose(f);
}

static char* own(const char* s) { outstanding++; return strdup(s); }

uint32_t PFSPluginABIVersion(void) { return PFS_PLUGIN_ABI_VERSION; }
void* PluginNew(void) { live++; return calloc(1, sizeof(Tracking)); }
void PluginFree(void* p) { live--; logline(p, "free"); free(p); }
const char* PluginName(void* p) { (void)p; return own("tracking"); }
const char* PluginGetReadme(void* p) { (void)p; return own("# tracking\n"); }
const char* PluginValidate(void* p, const char* cfg) {
    /* The test passes {"log": "<path>"}: remember where to log. */
    const char* k = strstr(cfg, "\"log\":\"");
    if (k) {
        k += 7;
        size_t n = strcspn(k, "\"");
        if (n < sizeof(((Tracking*)p)->log)) { memcpy(((Tracking*)p)->log, k, n); ((Tracking*)p)->log[n] = 0; }
    }
    return strstr(cfg, "\"bad\"") ? own("EINVAL: bad is not allowed") : NULL;
}
const char* PluginInitialize(void* p, const char* cfg) {
    (void)p;
    return strstr(cfg, "\"fail_init\"") ? own("backend unreachable") : NULL;
}
const char* PluginShutdown(void* p) { logline(p, "shutdown"); return NULL; }

static int is_file(const char* path) { return strcmp(path, "/f") == 0; }

FileInfoC* FSStat(void* p, const char* path) {
    (void)p;
    if (strcmp(path, "/") != 0 && !is_file(path)) return NULL;
    FileInfoC* i = calloc(1, sizeof *i);
    outstanding++;
    i->Name = strdup(is_file(path) ? "f" : "");
    i->Size = is_file(path) ? 3 : 0;
    i->Mode = 0640;
    i->ModTime = 1700000000;
    i->IsDir = !is_file(path);
    i->MetaName = strdup("tracking");
    i->MetaType = strdup(is_file(path) ? "file" : "dir");
    i->MetaContent = strdup("{\"k\":\"v\"}");
    return i;
}

FileInfoArray* FSReadDir(void* p, const char* path, int* out_count) {
    if (strcmp(path, "/") != 0) { *out_count = -1; return NULL; }
    FileInfoArray* a = malloc(sizeof *a);
    outstanding++;
    a->Count = 1;
    a->Items = calloc(1, sizeof(FileInfoC));
    FileInfoC* s = FSStat(p, "/f");
    outstanding--; /* its struct is copied into the array; only the strings move */
    a->Items[0] = *s;
    free(s);
    *out_count = 1;
    return a;
}

const char* FSRead(void* p, const char* path, int64_t offset, int64_t size, int* out_len) {
    (void)p; (void)size;
    if (!is_file(path)) { *out_len = -1; return own("ENOENT: no such file"); }
    if (offset >= 3) { *out_len = 0; return NULL; }
    *out_len = (int)(3 - offset);
    return own("abc" + offset);
}

int64_t FSWrite(void* p, const char* path, const char* d, int n, int64_t off, uint32_t flags) {
    (void)p; (void)d; (void)off; (void)flags;
    if (strcmp(path, "/exists") == 0) return -17;
    if (strcmp(path, "/dir") == 0) return -21;
    return is_file(path) ? n : -2;
}

const char* FSMkdir(void* p, const char* path, uint32_t mode) {
    (void)p; (void)mode;
    return strcmp(path, "/f") == 0 ? own("EEXIST: already exists") : own("ENOTDIR: parent is a file");
}

const char* PFSTruncate(void* p, const char* path, int64_t size) {
    (void)p;
    if (!is_file(path)) return own("ENOENT: no such file");
    return size > 3 ? own("EINVAL: cannot grow") : NULL;
}

void PFSFree(void* p, void* ptr, uint32_t kind) {
    (void)p;
    outstanding--;
    if (kind == PFS_FREE_FILEINFO || kind == PFS_FREE_FILEINFO_ARRAY) {
        FileInfoC* items = kind == PFS_FREE_FILEINFO ? (FileInfoC*)ptr : ((FileInfoArray*)ptr)->Items;
        int n = kind == PFS_FREE_FILEINFO ? 1 : ((FileInfoArray*)ptr)->Count;
        for (int i = 0; i < n; i++) {
            free((void*)items[i].Name); free((void*)items[i].MetaName);
            free((void*)items[i].MetaType); free((void*)items[i].MetaContent);
        }
        if (kind == PFS_FREE_FILEINFO_ARRAY) free(items);
    }
    free(ptr);
}
"##;

struct Tracking {
    _dir: tempfile::TempDir,
    log: std::path::PathBuf,
    plugin: ExternalPlugin,
}

fn tracking() -> Tracking {
    let dir = tempfile::tempdir().unwrap();
    let so = common::cc(TRACKING, "tracking", dir.path());
    let log = dir.path().join("lifecycle.log");
    let lib = Arc::new(LoadedLibrary::load(&so).unwrap());
    let plugin = ExternalPlugin::new(lib, "tracking".into());
    Tracking {
        _dir: dir,
        log,
        plugin,
    }
}

fn config(t: &Tracking, extra: serde_json::Value) -> serde_json::Value {
    let mut c = serde_json::json!({ "log": t.log.display().to_string() });
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    c
}

fn log_lines(t: &Tracking) -> Vec<String> {
    std::fs::read_to_string(&t.log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn every_returned_pointer_goes_back_through_pfs_free() {
    let t = tracking();
    assert_eq!(t.plugin.library().abi, (1, 3));
    assert_eq!(t.plugin.library().readme, "# tracking\n");
    let fs = t
        .plugin
        .initialize(common::ctx("/t", config(&t, serde_json::json!({}))))
        .await
        .unwrap();
    let info = fs.stat("/f").await.unwrap();
    assert_eq!(
        (info.name.as_str(), info.size, info.mode, info.is_dir),
        ("f", 3, 0o640, false)
    );
    assert_eq!(info.meta.content.unwrap()["k"], "v");
    let listed = fs.read_dir("/").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "f");
    assert_eq!(fs.read("/f", 1, None).await.unwrap(), "bc");
    assert!(fs.read("/f", 5, None).await.unwrap().is_empty());
    assert_kind(fs.read("/nope", 0, None).await, ErrorKind::NotFound);
    assert_kind(fs.read_dir("/f").await, ErrorKind::NotADirectory);
    assert_kind(fs.mkdir("/f", 0o755).await, ErrorKind::AlreadyExists);
    assert_kind(fs.truncate("/f", 9).await, ErrorKind::InvalidArgument);
    fs.truncate("/f", 1).await.unwrap();
    // The plugin counts what it handed out; after all that, nothing may be left unreleased.
    let outstanding = outstanding_after_shutdown(&t, fs).await;
    assert_eq!(
        outstanding,
        0,
        "the host kept plugin memory: {:?}",
        log_lines(&t)
    );
}

async fn outstanding_after_shutdown(t: &Tracking, fs: Arc<dyn FileSystem>) -> i64 {
    fs.shutdown().await.unwrap();
    let lines = log_lines(t);
    let last = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("free "))
        .expect("PluginFree ran");
    last.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn failed_validate_or_initialize_frees_the_instance_and_names_the_problem() {
    let t = tracking();
    let e = t
        .plugin
        .initialize(common::ctx("/t", config(&t, serde_json::json!({"bad": 1}))))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.to_string()
            .contains("validate failed: EINVAL: bad is not allowed"),
        "{e}"
    );
    let e = t
        .plugin
        .initialize(common::ctx(
            "/t",
            config(&t, serde_json::json!({"fail_init": 1})),
        ))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("initialize failed: backend unreachable"),
        "{e}"
    );
    // "free <outstanding buffers> <live instances>": both failed mounts freed their instance and
    // every error text went back through PFSFree; neither was shut down (never initialized).
    assert_eq!(log_lines(&t), ["free 0 0", "free 0 0"]);
}

#[tokio::test]
async fn negative_write_results_map_errno() {
    let t = tracking();
    let fs = t
        .plugin
        .initialize(common::ctx("/t", config(&t, serde_json::json!({}))))
        .await
        .unwrap();
    assert_eq!(
        fs.write("/f", "xyz".into(), None, WriteFlags::NONE)
            .await
            .unwrap(),
        3
    );
    assert_kind(
        fs.write("/missing", "x".into(), None, WriteFlags::NONE)
            .await,
        ErrorKind::NotFound,
    );
    assert_kind(
        fs.write("/exists", "x".into(), None, WriteFlags::CREATE)
            .await,
        ErrorKind::AlreadyExists,
    );
    assert_kind(
        fs.write("/dir", "x".into(), None, WriteFlags::NONE).await,
        ErrorKind::IsADirectory,
    );
    assert!(fs.capabilities().truncate && fs.capabilities().write && !fs.capabilities().rename);
    assert_kind(fs.rename("/f", "/g").await, ErrorKind::Unsupported);
    fs.shutdown().await.unwrap();
}

#[test]
fn error_texts_map_to_kinds() {
    use c_abi::map_error_text as m;
    assert_eq!(m("ENOENT: gone").kind(), ErrorKind::NotFound);
    assert_eq!(
        m("ENOTEMPTY: has children").kind(),
        ErrorKind::DirectoryNotEmpty
    );
    assert_eq!(m("file not found").kind(), ErrorKind::NotFound);
    assert_eq!(
        m("operation not supported: read-only filesystem").kind(),
        ErrorKind::Unsupported
    );
    assert_eq!(m("file already exists").kind(), ErrorKind::AlreadyExists);
    assert_eq!(m("permission denied").kind(), ErrorKind::PermissionDenied);
    assert_eq!(m("something broke").kind(), ErrorKind::Internal);
}
