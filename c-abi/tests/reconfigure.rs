//! `PFSReconfigure` (ABI 1.3) through the adapter: each answer a plugin can give (accepted,
//! amended, rejected with a reason or an errno, "not in place"), the configs it is handed, amended
//! texts that break the contract, every returned pointer back through `PFSFree`, and a plugin
//! without the symbol answering "ask for a remount".

mod common;

use std::sync::Arc;

use c_abi::{ExternalPlugin, LoadedLibrary, Symbol};
use fs_core::{ErrorKind, FileSystem, Reconfigured, ServicePlugin};
use serde_json::{Value, json};

/// A plugin whose `PFSReconfigure` answers what the new config's `"answer"` asks for, remembers
/// the two configs it was given and the config it runs on, and counts the buffers it hands out
/// (PFSFree decrements). `FSRead` of `/old`, `/new`, `/applied` and `/outstanding` shows them.
const RECONF: &str = r##"
#define _POSIX_C_SOURCE 200809L
#include "pfs_plugin.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long outstanding = 0; /* buffers handed out and not yet given back through PFSFree */

typedef struct { char* old_cfg; char* new_cfg; char* applied; } Reconf;

static char* own(const char* s) { outstanding++; return strdup(s); }
static void set(char** field, const char* s) { free(*field); *field = strdup(s); }

uint32_t PFSPluginABIVersion(void) { return PFS_PLUGIN_ABI_VERSION; }
void* PluginNew(void) { return calloc(1, sizeof(Reconf)); }
void PluginFree(void* p) {
    Reconf* r = p;
    free(r->old_cfg); free(r->new_cfg); free(r->applied); free(r);
}
const char* PluginName(void* p) { (void)p; return own("reconf"); }
const char* PluginInitialize(void* p, const char* cfg) { set(&((Reconf*)p)->applied, cfg); return NULL; }

static int asks(const char* cfg, const char* answer) {
    char want[64];
    snprintf(want, sizeof want, "\"answer\":\"%s\"", answer);
    return strstr(cfg, want) != NULL;
}

const char* PFSReconfigure(void* p, const char* old_cfg, const char* new_cfg, const char** amended) {
    Reconf* r = p;
    if (*amended != NULL) return own("EIO: *amended_json was not NULL at the start");
    set(&r->old_cfg, old_cfg);
    set(&r->new_cfg, new_cfg);
    if (asks(new_cfg, "reject")) return own("size must be a number");
    if (asks(new_cfg, "einval")) return own("EINVAL: size must be a number");
    if (asks(new_cfg, "enotsup")) return own("ENOTSUP: root cannot change in place");
    if (asks(new_cfg, "enospc")) return own("ENOSPC: the store already holds more");
    if (asks(new_cfg, "both")) { *amended = own("{\"x\":1}"); return own("EINVAL: refused anyway"); }
    if (asks(new_cfg, "same")) { char* t = own("EINVAL: one pointer"); *amended = t; return t; }
    if (asks(new_cfg, "empty")) return own("");
    if (asks(new_cfg, "amend"))
        *amended = own("{\"answer\":\"amended\",\"size\":10,\"mount_path\":\"/elsewhere\"}");
    if (asks(new_cfg, "array")) *amended = own("[1,2]");
    if (asks(new_cfg, "garbage")) *amended = own("{not json");
    if (asks(new_cfg, "latin1")) *amended = own("{\"name\":\"caf\xe9\"}");
    set(&r->applied, *amended ? *amended : new_cfg);
    return NULL;
}

const char* FSRead(void* p, const char* path, int64_t offset, int64_t size, int* out_len) {
    Reconf* r = p;
    (void)offset; (void)size;
    char count[32];
    const char* text = NULL;
    if (strcmp(path, "/old") == 0) text = r->old_cfg;
    else if (strcmp(path, "/new") == 0) text = r->new_cfg;
    else if (strcmp(path, "/applied") == 0) text = r->applied;
    else if (strcmp(path, "/outstanding") == 0) {
        snprintf(count, sizeof count, "%ld", outstanding); /* before this answer is counted */
        text = count;
    }
    if (!text) { *out_len = -1; return own("ENOENT: no such file"); }
    *out_len = (int)strlen(text);
    return *out_len ? own(text) : NULL;
}

void PFSFree(void* p, void* ptr, uint32_t kind) { (void)p; (void)kind; outstanding--; free(ptr); }
"##;

struct Mounted {
    _dir: tempfile::TempDir,
    fs: Arc<dyn FileSystem>,
}

async fn mounted(config: Value) -> Mounted {
    let dir = tempfile::tempdir().unwrap();
    let so = common::cc(RECONF, "reconf", dir.path());
    let lib = Arc::new(LoadedLibrary::load(&so).unwrap());
    assert_eq!(lib.abi, (1, 3));
    assert!(lib.has(Symbol::PfsReconfigure));
    let plugin = ExternalPlugin::new(lib, "reconf".into());
    let fs = plugin.initialize(common::ctx("/r", config)).await.unwrap();
    Mounted { _dir: dir, fs }
}

/// The JSON the plugin keeps at `path` (`/old`, `/new`, `/applied`).
async fn seen(fs: &Arc<dyn FileSystem>, path: &str) -> Value {
    let bytes = fs.read(path, 0, None).await.unwrap();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{path} is not JSON ({e}): {bytes:?}"))
}

async fn outstanding(fs: &Arc<dyn FileSystem>) -> String {
    let bytes = fs.read("/outstanding", 0, None).await.unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn accepted_and_amended_answers_reach_the_caller() {
    let m = mounted(json!({"size": 1})).await;
    let old = json!({"size": 1});

    // Accepted: the plugin saw both configs as PluginInitialize does, with the mount path.
    let asked = json!({"size": 2, "answer": "accept"});
    assert_eq!(
        m.fs.reconfigure(&old, &asked).await.unwrap(),
        Reconfigured::Accepted
    );
    assert_eq!(
        seen(&m.fs, "/old").await,
        json!({"size": 1, "mount_path": "/r"})
    );
    assert_eq!(
        seen(&m.fs, "/new").await,
        json!({"size": 2, "answer": "accept", "mount_path": "/r"})
    );
    assert_eq!(seen(&m.fs, "/applied").await, seen(&m.fs, "/new").await);

    // An empty error text is success too, as for every call.
    let empty = json!({"answer": "empty"});
    assert_eq!(
        m.fs.reconfigure(&asked, &empty).await.unwrap(),
        Reconfigured::Accepted
    );

    // Amended: the config the plugin applied, with the host's mount_path (here: none of the
    // caller's, so none), not the plugin's.
    let amended =
        m.fs.reconfigure(&asked, &json!({"size": 99, "answer": "amend"}))
            .await
            .unwrap();
    assert_eq!(
        amended,
        Reconfigured::Amended(json!({"answer": "amended", "size": 10}))
    );
    assert_eq!(
        outstanding(&m.fs).await,
        "0",
        "every answer went back to PFSFree"
    );
    m.fs.shutdown().await.unwrap();
}

#[tokio::test]
async fn rejections_map_like_every_error_and_enotsup_asks_for_a_remount() {
    let m = mounted(json!({})).await;
    let old = json!({});
    let cases = [
        (
            "reject",
            ErrorKind::InvalidArgument,
            "size must be a number",
        ),
        (
            "einval",
            ErrorKind::InvalidArgument,
            "EINVAL: size must be a number",
        ),
        (
            "enospc",
            ErrorKind::PayloadTooLarge,
            "ENOSPC: the store already holds more",
        ),
        (
            "enotsup",
            ErrorKind::Unsupported,
            "ENOTSUP: root cannot change in place",
        ),
        // An amended config set beside an error text is released and ignored.
        ("both", ErrorKind::InvalidArgument, "EINVAL: refused anyway"),
        // The same pointer as both answers: an error text, released once (no double free).
        ("same", ErrorKind::InvalidArgument, "EINVAL: one pointer"),
    ];
    for (answer, kind, words) in cases {
        let e =
            m.fs.reconfigure(&old, &json!({ "answer": answer }))
                .await
                .unwrap_err();
        assert_eq!(e.kind(), kind, "{answer}: {e}");
        let text = e.to_string();
        assert!(
            text.contains(words) && text.contains("plugin reconf"),
            "{answer}: {text}"
        );
        assert_eq!(
            text.contains("ask for a remount (\"remount\": true)"),
            kind == ErrorKind::Unsupported,
            "{answer}: {text}"
        );
    }
    // The plugin still runs on the config it was mounted with.
    assert_eq!(seen(&m.fs, "/applied").await, json!({"mount_path": "/r"}));
    assert_eq!(outstanding(&m.fs).await, "0");
    m.fs.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_amended_text_that_is_not_a_json_object_is_a_clear_error() {
    let m = mounted(json!({})).await;
    for (answer, words) in [
        ("array", "is not a JSON object: an array"),
        ("garbage", "is not JSON"),
        ("latin1", "is not UTF-8"),
    ] {
        let e =
            m.fs.reconfigure(&json!({}), &json!({ "answer": answer }))
                .await
                .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Internal, "{answer}: {e}");
        assert!(e.to_string().contains(words), "{answer}: {e}");
    }
    // The instance serves on, and nothing it returned was kept.
    assert_eq!(outstanding(&m.fs).await, "0");
    m.fs.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_plugin_without_the_symbol_asks_for_a_remount_and_is_not_called() {
    let dir = tempfile::tempdir().unwrap();
    let so = common::make_example("hellofs-c", "hellofs-c.so", dir.path());
    let lib = Arc::new(LoadedLibrary::load(&so).unwrap());
    assert!(!lib.has(Symbol::PfsReconfigure));
    let fs = ExternalPlugin::new(lib, "hellofs-c".into())
        .initialize(common::ctx("/h", json!({})))
        .await
        .unwrap();
    let e = fs
        .reconfigure(&json!({}), &json!({"greeting": "hi"}))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(
        e.to_string(),
        "reconfigure: plugin hellofs-c cannot change its config in place (it has no \
         PFSReconfigure); ask for a remount (\"remount\": true)"
    );
    assert_eq!(
        fs.read("/hello", 0, None).await.unwrap(),
        "Hello from C plugin!\n"
    );
}
