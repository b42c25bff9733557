/*
 * hellofs-c — an AGFS-style external plugin that uses only the v1 C ABI.
 *
 * It serves a read-only tree of two entries:
 *
 *   /        a directory
 *   /hello   a file whose content is "Hello from C plugin!\n"
 *
 * It exports every v1 symbol and no PFS* extension, so it loads into AGFS and into pfs alike.
 * It deliberately does NOT include pfs_plugin.h: AGFS plugins do not have that header, and this one
 * shows what such a plugin looks like. The two structs are declared here with the layout of the v1
 * ABI (checked below with _Static_assert on LP64 targets).
 *
 * Memory ownership (the v1 contract: the host never frees anything a plugin returns):
 *   - PluginName, PluginGetReadme, every error text and the empty read return STRING LITERALS;
 *   - FSRead data, FSStat results and FSReadDir results are malloc'd/strdup'd per call and never
 *     freed by a v1 host (they leak, as in AGFS's own example).
 * A host that can free memory (pfs with PFSFree) does not free these: the plugin exports no
 * PFSFree, so pfs treats it as v1.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------------------------- */
/* v1 structs, same layout as the ABI's FileInfoC / FileInfoArray                               */

typedef struct {
    const char* Name;        /* last path component ("/" for the root) */
    int64_t Size;            /* bytes; 0 for directories */
    uint32_t Mode;           /* permission bits */
    int64_t ModTime;         /* Unix seconds */
    int32_t IsDir;           /* 1 = directory */
    const char* MetaName;    /* plugin name */
    const char* MetaType;    /* type word */
    const char* MetaContent; /* JSON object of string -> string, or NULL */
} FileInfoC;

typedef struct {
    FileInfoC* Items;
    int Count;
} FileInfoArray;

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
#endif

/* ------------------------------------------------------------------------------------------- */
/* The plugin                                                                                  */

#define HELLO_NAME "hellofs-c"
#define HELLO_CONTENT "Hello from C plugin!\n"
#define HELLO_LEN ((int64_t)(sizeof(HELLO_CONTENT) - 1))
#define READ_ONLY "operation not supported: read-only filesystem"

typedef struct {
    int initialized;
    time_t started; /* ModTime reported for both entries */
} Hello;

/* Fills `info` for the root or /hello with strdup'd strings; 0 on success, -1 when out of memory. */
static int fill_info(const Hello* h, FileInfoC* info, int root)
{
    memset(info, 0, sizeof *info);
    info->Name = strdup(root ? "/" : "hello");
    info->Size = root ? 0 : HELLO_LEN;
    info->Mode = root ? 0755u : 0644u;
    info->ModTime = (int64_t)(h->started ? h->started : time(NULL));
    info->IsDir = root ? 1 : 0;
    info->MetaName = strdup(HELLO_NAME);
    info->MetaType = strdup(root ? "directory" : "file");
    info->MetaContent = root ? NULL : strdup("{\"language\":\"c\"}");
    if (!info->Name || !info->MetaName || !info->MetaType || (!root && !info->MetaContent)) {
        free((void*)info->Name);
        free((void*)info->MetaName);
        free((void*)info->MetaType);
        free((void*)info->MetaContent);
        return -1;
    }
    return 0;
}

static int is_root(const char* path) { return path && strcmp(path, "/") == 0; }
static int is_hello(const char* path) { return path && strcmp(path, "/hello") == 0; }

/* ---- lifecycle ---- */

void* PluginNew(void)
{
    Hello* h = calloc(1, sizeof *h);
    if (h) {
        h->started = time(NULL);
    }
    return h;
}

void PluginFree(void* plugin) { free(plugin); }

const char* PluginName(void* plugin)
{
    (void)plugin;
    return HELLO_NAME; /* literal */
}

const char* PluginValidate(void* plugin, const char* config_json)
{
    (void)plugin;
    (void)config_json;
    return NULL; /* any config is accepted */
}

const char* PluginInitialize(void* plugin, const char* config_json)
{
    (void)config_json;
    if (!plugin) {
        return "invalid plugin instance";
    }
    ((Hello*)plugin)->initialized = 1;
    return NULL;
}

const char* PluginShutdown(void* plugin)
{
    if (plugin) {
        ((Hello*)plugin)->initialized = 0;
    }
    return NULL;
}

const char* PluginGetReadme(void* plugin)
{
    (void)plugin;
    return "# hellofs-c\n"
           "\n"
           "A read-only example plugin written in C against the v1 (AGFS) ABI.\n"
           "\n"
           "- `/hello` contains `Hello from C plugin!`\n"
           "- every mutation answers `operation not supported: read-only filesystem`\n";
}

/* ---- filesystem: mutations are refused ---- */

const char* FSCreate(void* plugin, const char* path)
{
    (void)plugin;
    (void)path;
    return READ_ONLY;
}

const char* FSMkdir(void* plugin, const char* path, uint32_t mode)
{
    (void)plugin;
    (void)path;
    (void)mode;
    return READ_ONLY;
}

const char* FSRemove(void* plugin, const char* path)
{
    (void)plugin;
    (void)path;
    return READ_ONLY;
}

const char* FSRemoveAll(void* plugin, const char* path)
{
    (void)plugin;
    (void)path;
    return READ_ONLY;
}

int64_t FSWrite(void* plugin, const char* path, const char* data, int data_len, int64_t offset,
                uint32_t flags)
{
    (void)plugin;
    (void)path;
    (void)data;
    (void)data_len;
    (void)offset;
    (void)flags;
    return -1; /* read-only: an unexplained failure, as in AGFS */
}

const char* FSRename(void* plugin, const char* old_path, const char* new_path)
{
    (void)plugin;
    (void)old_path;
    (void)new_path;
    return READ_ONLY;
}

const char* FSChmod(void* plugin, const char* path, uint32_t mode)
{
    (void)plugin;
    (void)path;
    (void)mode;
    return READ_ONLY;
}

/* ---- filesystem: reads ---- */

const char* FSRead(void* plugin, const char* path, int64_t offset, int64_t size, int* out_len)
{
    (void)plugin;
    if (!out_len) {
        return "invalid argument: out_len is NULL";
    }
    if (is_root(path)) {
        *out_len = -1;
        return "read failed: is a directory";
    }
    if (!is_hello(path)) {
        *out_len = -1;
        return "file not found";
    }
    if (offset < 0) {
        *out_len = -1;
        return "invalid argument: negative offset";
    }
    if (offset >= HELLO_LEN || size == 0) {
        *out_len = 0;
        return ""; /* literal: empty read */
    }
    int64_t n = HELLO_LEN - offset;
    if (size > 0 && size < n) {
        n = size;
    }
    char* buf = malloc((size_t)n + 1);
    if (!buf) {
        *out_len = -1;
        return "out of memory";
    }
    memcpy(buf, HELLO_CONTENT + offset, (size_t)n);
    buf[n] = '\0';
    *out_len = (int)n;
    return buf; /* malloc'd; a v1 host never frees it */
}

FileInfoC* FSStat(void* plugin, const char* path)
{
    const Hello* h = plugin;
    int root = is_root(path);
    if (!h || (!root && !is_hello(path))) {
        return NULL; /* not found */
    }
    FileInfoC* info = malloc(sizeof *info);
    if (!info) {
        return NULL;
    }
    if (fill_info(h, info, root) != 0) {
        free(info);
        return NULL;
    }
    return info; /* malloc'd with strdup'd strings; a v1 host never frees it */
}

FileInfoArray* FSReadDir(void* plugin, const char* path, int* out_count)
{
    const Hello* h = plugin;
    if (!out_count) {
        return NULL;
    }
    if (!h || !is_root(path)) {
        *out_count = -1; /* /hello is not a directory, anything else does not exist */
        return NULL;
    }
    FileInfoArray* list = malloc(sizeof *list);
    FileInfoC* items = malloc(sizeof *items);
    if (!list || !items || fill_info(h, &items[0], 0) != 0) {
        free(list);
        free(items);
        *out_count = -1;
        return NULL;
    }
    list->Items = items;
    list->Count = 1;
    *out_count = 1;
    return list; /* malloc'd; a v1 host never frees it */
}
