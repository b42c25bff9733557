/*
 * pfs_plugin.h — the C ABI of pfs external plugins.
 *
 * A plugin is a shared library (.so) that exports C symbols. pfs loads it with dlopen, calls
 * PluginNew once per mount, and calls the FS* functions of that instance for every request routed
 * to the mount.
 *
 * ABI v1 is the AGFS ABI, frozen: same symbol names, same signatures, same struct layouts, only
 * PluginNew required. A plugin built for AGFS loads into pfs unchanged.
 *
 * Extensions (optional symbols, prefixed PFS) are probed at load; a plugin without them behaves as
 * v1. Adding an optional symbol never changes the major version, only the minor (1.1 brought the
 * first extensions; each later one names its minor: 1.2 PFSNonBlocking, 1.3 PFSReconfigure);
 * changing any existing signature or struct would (and is never done to v1). A host loads a plugin
 * of its major whatever the minor: a symbol newer than the host is simply never called.
 *
 * ---------------------------------------------------------------------------------------------
 * Conventions
 *
 * Strings: every `const char*` is NUL-terminated UTF-8. Paths are normalized and relative to the
 *   mount point ("/" is the mount root, no trailing slash, no "." or "..").
 *
 * Host → plugin memory: every pointer the host passes (path, config_json, data) is owned by the host
 *   and valid only during the call. Copy what you keep.
 *
 * Plugin → host memory: every pointer a plugin returns stays owned by the plugin.
 *   - Without PFSFree (v1): the host never frees it. Return static storage or accept the leak (AGFS's
 *     hellofs.c mixes string literals and malloc'd memory; both are safe with pfs).
 *   - With PFSFree: the host hands EVERY non-NULL pointer it received (strings, error texts, read
 *     data, amended configs, FileInfoC, FileInfoArray) back through PFSFree exactly once, after
 *     copying it. A plugin that exports PFSFree must therefore only return memory that PFSFree can
 *     release (no literals, unless PFSFree recognises them).
 *
 * Errors: functions returning `const char*` return NULL (or "") on success and an error text on
 *   failure. The text's words choose the HTTP status: "not found" / "no such file" → 404,
 *   "already exists" / "exists" → 409, "not a directory" / "is a directory" / "invalid" → 400,
 *   "not empty" → 409, "permission denied" / "read-only" → 403, "not supported" /
 *   "not implemented" → 501, anything else → 500. A text may also start with an errno name and a
 *   colon ("ENOENT: ...", "EEXIST: ...", "ENOTDIR: ...", "EISDIR: ...", "ENOTEMPTY: ...",
 *   "EACCES: ...", "EINVAL: ...", "ENOTSUP: ...", "EAGAIN: ...", "ETIMEDOUT: ...", "EIO: ...",
 *   "EFBIG: ..." / "ENOSPC: ..." / "EDQUOT: ..." → 413, "ENOMEM: ..." → 503) to choose the status
 *   exactly.
 *
 * Threading: the host serializes the calls it makes on one instance (one PluginNew result); calls
 *   on different instances (different mounts) may run concurrently. A plugin may block: its calls
 *   start on a thread of the instance's own, and move onto the server's async threads only after a
 *   thousand calls in a row each took under 200 µs; a call there that takes over 2 ms sends them
 *   back (and the next streak needed doubles). So successive calls may come from different threads,
 *   one at a time; a plugin must not rely on thread-local state between calls.
 *
 * Lifecycle, per mount: PluginNew → [PFSPluginABIVersion checked before anything, once per library]
 *   → PluginName → PluginValidate(config) → PluginInitialize(config) → FS* calls (and
 *   PFSReconfigure, between them, when the mount's config changes in place) → PluginShutdown →
 *   PluginFree. config_json is a JSON object of the mount's config plus "mount_path". The library
 *   stays loaded while any instance exists.
 */
#ifndef PFS_PLUGIN_H
#define PFS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------- */
/* Structs (v1 layout, identical to AGFS's hellofs.c; never change them)                        */

/* One file or directory. */
typedef struct {
    const char* Name;        /* last path component ("" or "/" for the root) */
    int64_t Size;            /* bytes; 0 for directories */
    uint32_t Mode;           /* permission bits (0644); type bits are ignored */
    int64_t ModTime;         /* modification time, Unix seconds */
    int32_t IsDir;           /* 1 = directory, 0 = file */
    const char* MetaName;    /* plugin name for meta.Name (may be NULL) */
    const char* MetaType;    /* type word for meta.Type (may be NULL) */
    const char* MetaContent; /* JSON object of string → string for meta.Content (may be NULL) */
} FileInfoC;

/* A directory listing. The host reads the count from FSReadDir's out_count, not from Count. */
typedef struct {
    FileInfoC* Items;
    int Count;
} FileInfoArray;

/* FSWrite flags (AGFS WriteFlag bits). No flag at all with offset < 0 = create + replace. pfs
 * adds PFS_WRITE_CREATE to a write whose only flag is SYNC (it creates, as with no flag), so a
 * plugin sees "create" on every write that may create. Offsets are >= 0 or -1, and offset +
 * data_len never passes INT64_MAX: the host refuses such writes before calling. */
#define PFS_WRITE_APPEND    (1u << 0) /* write at the end */
#define PFS_WRITE_CREATE    (1u << 1) /* create when missing */
#define PFS_WRITE_EXCLUSIVE (1u << 2) /* with CREATE: fail when it exists */
#define PFS_WRITE_TRUNCATE  (1u << 3) /* empty the file first */
#define PFS_WRITE_SYNC      (1u << 4) /* durable before returning */

/* ------------------------------------------------------------------------------------------- */
/* v1: lifecycle                                                                                */

/* Required. Creates one instance (one per mount). NULL = the plugin cannot be used. */
void* PluginNew(void);

/* Frees the instance; called once, after PluginShutdown. */
void PluginFree(void* plugin);

/* The plugin's name: the fstype used by POST /mount and config mounts. Called once at load, on a
 * throw-away instance. Returned memory: see "Plugin → host memory". */
const char* PluginName(void* plugin);

/* Checks a config (JSON object text). NULL or "" = valid, else an error text (→ 400). */
const char* PluginValidate(void* plugin, const char* config_json);

/* Applies a config and prepares to serve. NULL or "" = ready, else an error text (→ 400, nothing
 * is mounted). */
const char* PluginInitialize(void* plugin, const char* config_json);

/* Releases what Initialize acquired; called once per instance (unmount or server stop). */
const char* PluginShutdown(void* plugin);

/* The plugin's README (Markdown), shown by GET /api/v1/plugins. */
const char* PluginGetReadme(void* plugin);

/* ------------------------------------------------------------------------------------------- */
/* v1: filesystem. A missing symbol makes that operation answer 501.                            */

/* Creates an empty file. Returns NULL or an error text. */
const char* FSCreate(void* plugin, const char* path);

/* Creates a directory with permission bits `mode`. */
const char* FSMkdir(void* plugin, const char* path, uint32_t mode);

/* Removes a file or an empty directory. */
const char* FSRemove(void* plugin, const char* path);

/* Removes a path and everything below it. */
const char* FSRemoveAll(void* plugin, const char* path);

/* Reads up to `size` bytes (to the end when size < 0) from `offset`.
 * Success: returns the data (may contain NUL bytes) and sets *out_len >= 0; NULL with
 *   *out_len >= 0 means empty.
 * Failure: sets *out_len < 0 and returns an error text (or NULL: "read failed"). */
const char* FSRead(void* plugin, const char* path, int64_t offset, int64_t size, int* out_len);

/* Writes `data_len` bytes at `offset` (offset < 0: replace the content) with PFS_WRITE_* flags.
 * Returns the number of bytes written, or a negative value on failure: -1 is an unexplained
 * failure (→ 500); -errno (e.g. -2 ENOENT, -17 EEXIST, -20 ENOTDIR, -21 EISDIR, -13 EACCES,
 * -22 EINVAL, -95 ENOTSUP, -27 EFBIG, -28 ENOSPC, -12 ENOMEM) chooses the status. */
int64_t FSWrite(void* plugin, const char* path, const char* data, int data_len, int64_t offset,
                uint32_t flags);

/* Lists a directory. Returns the entries and sets *out_count to their number; NULL with
 * *out_count >= 0 is an empty directory; *out_count < 0 is an error (the host stats the path to
 * tell "not found" from "not a directory"). */
FileInfoArray* FSReadDir(void* plugin, const char* path, int* out_count);

/* Returns the metadata of a path, or NULL when it does not exist (→ 404). */
FileInfoC* FSStat(void* plugin, const char* path);

/* Moves old_path to new_path inside this plugin. */
const char* FSRename(void* plugin, const char* old_path, const char* new_path);

/* Sets the permission bits of a path. */
const char* FSChmod(void* plugin, const char* path, uint32_t mode);

/* ------------------------------------------------------------------------------------------- */
/* Extensions (pfs). All optional.                                                             */

/* The ABI version the plugin was built for: (major << 16) | minor. Absent = 1.0. The host checks
 * it before calling any other symbol and refuses a major it does not know, naming both numbers. */
#define PFS_PLUGIN_ABI_MAJOR 1u
#define PFS_PLUGIN_ABI_MINOR 3u
#define PFS_PLUGIN_ABI_VERSION ((PFS_PLUGIN_ABI_MAJOR << 16) | PFS_PLUGIN_ABI_MINOR)
uint32_t PFSPluginABIVersion(void);

/* What a pointer handed to PFSFree is. */
#define PFS_FREE_BYTES 1u          /* a string, error text, FSRead data or amended config */
#define PFS_FREE_FILEINFO 2u       /* an FSStat result, with its strings */
#define PFS_FREE_FILEINFO_ARRAY 3u /* an FSReadDir result, with its items and their strings */

/* Releases a pointer the plugin returned (see "Plugin → host memory"). `plugin` is the instance
 * that returned it; the host frees results before it frees their instance. */
void PFSFree(void* plugin, void* ptr, uint32_t kind);

/* Sets the size of a file, cutting or zero-extending it. Returns NULL or an error text.
 * Absent: POST /truncate answers 501. */
const char* PFSTruncate(void* plugin, const char* path, int64_t size);

/* (1.2) Nonzero promises that no call of this plugin blocks: no I/O, no sleeping, no waiting on
 * anything but short critical sections. The host then makes the calls on its own async worker
 * threads, one at a time per instance, from the first call. Absent or zero: the calls of an
 * instance run on a thread of its own until they prove quick (see "Threading" above). */
int PFSNonBlocking(void);

/* (1.3) Takes a new config on this mounted instance, in place (POST /api/v1/mounts/config).
 * old_config_json is the config in force, new_config_json the one asked for, both JSON objects as
 * PluginInitialize gets them (with "mount_path"). The host does not call PluginValidate first:
 * judge the new config here. *amended_json is NULL when the call starts. Three answers:
 *
 *   accepted  NULL (or "") and *amended_json left NULL: the instance now runs on new_config_json.
 *             It is the same instance: open files and other state carry on.
 *   amended   NULL, and *amended_json set to the whole config actually applied (a JSON object,
 *             UTF-8; e.g. with a value clamped to a limit). The host stores and shows it instead
 *             of the one asked for. It is plugin memory like any other returned pointer (see
 *             "Plugin → host memory"): with PFSFree it comes back as PFS_FREE_BYTES. Its
 *             "mount_path" is ignored (the host keeps its own). A text that is not a JSON object
 *             is a plugin failure (→ 500) and is stored nowhere: do not return one.
 *   rejected  an error text, with nothing changed. A plain reason is an invalid config (→ 400);
 *             an errno prefix chooses as elsewhere ("EINVAL: ..." → 400, "ENOSPC: ..." → 413,
 *             "EIO: ..." → 500), and "ENOTSUP: ..." means "not in place": the caller is told to
 *             ask for a remount ("remount": true builds a new instance: PluginNew, PluginValidate,
 *             PluginInitialize, and the old one is shut down). A text set in *amended_json as well
 *             is freed and ignored.
 *
 * Called one at a time with the instance's other calls, like them (see "Threading").
 * Absent: every config change needs a remount (the caller is told so; nothing is called). */
const char* PFSReconfigure(void* plugin, const char* old_config_json, const char* new_config_json,
                           const char** amended_json);

#ifdef __cplusplus
}
#endif

/* Layout checks: the host's Rust mirrors assert the same numbers (c-abi/src/ffi.rs). */
#if defined(__x86_64__) || defined(__aarch64__)
_Static_assert(sizeof(FileInfoC) == 64, "FileInfoC is 64 bytes on LP64");
_Static_assert(offsetof(FileInfoC, Size) == 8, "FileInfoC.Size at 8");
_Static_assert(offsetof(FileInfoC, Mode) == 16, "FileInfoC.Mode at 16");
_Static_assert(offsetof(FileInfoC, ModTime) == 24, "FileInfoC.ModTime at 24");
_Static_assert(offsetof(FileInfoC, IsDir) == 32, "FileInfoC.IsDir at 32");
_Static_assert(offsetof(FileInfoC, MetaName) == 40, "FileInfoC.MetaName at 40");
_Static_assert(offsetof(FileInfoC, MetaType) == 48, "FileInfoC.MetaType at 48");
_Static_assert(offsetof(FileInfoC, MetaContent) == 56, "FileInfoC.MetaContent at 56");
_Static_assert(sizeof(FileInfoArray) == 16, "FileInfoArray is 16 bytes on LP64");
_Static_assert(offsetof(FileInfoArray, Count) == 8, "FileInfoArray.Count at 8");
_Static_assert(sizeof(int) == 4, "out-parameters are 32-bit int");
#endif

#endif /* PFS_PLUGIN_H */
