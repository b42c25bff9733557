/*
 * memfs-c — a writable in-memory filesystem written in C against pfs_plugin.h.
 *
 * It implements every v1 function and every pfs extension (PFSPluginABIVersion, PFSFree,
 * PFSTruncate, PFSNonBlocking, PFSReconfigure), and it is the plugin pfs's shared conformance suite
 * runs against through the external-plugin adapter.
 *
 * Config: one key, max_file_size (bytes, a JSON number; default and most 2147483647), read by
 * config.c. PFSReconfigure changes it on a mounted instance: accepted, rejected (not a number, or
 * below the largest file held), or amended (more than the most is clamped, and the config applied
 * says so).
 *
 * Memory: because the plugin exports PFSFree, the host hands every non-NULL pointer it receives back
 * exactly once. So every pointer returned here is heap memory that PFSFree can release: names, the
 * README, error texts, read data, FSStat and FSReadDir results. The one exception is the static
 * out-of-memory text, which PFSFree recognises and skips (returning NULL instead would read as
 * success).
 *
 * Errors start with an errno name ("ENOENT: ...") so the host picks the HTTP status exactly; FSWrite
 * returns -errno.
 *
 * State is per instance (one tree + one mutex per PluginNew), never global: two mounts are two
 * instances and may run concurrently. pfs serializes the calls on one instance; the mutex makes the
 * plugin safe under a v1 host that does not (AGFS calls concurrently).
 */
#define _POSIX_C_SOURCE 200809L /* strdup, pthread */

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "pfs_plugin.h"

#define PLUGIN_NAME "memfs-c"

/* Largest file: FSRead reports lengths in a 32-bit int, so nothing larger could be read whole.
 * The config's max_file_size may lower it per instance. */
#define MAX_FILE_SIZE MEMFS_MAX_FILE_SIZE

#define ALL_WRITE_FLAGS                                                                            \
    (PFS_WRITE_APPEND | PFS_WRITE_CREATE | PFS_WRITE_EXCLUSIVE | PFS_WRITE_TRUNCATE |             \
     PFS_WRITE_SYNC)

/* ------------------------------------------------------------------------------------------- */
/* The tree                                                                                    */

typedef struct Node {
    char* name; /* "/" for the root */
    int is_dir;
    uint32_t mode; /* permission bits only */
    int64_t mtime; /* Unix seconds */
    /* file content */
    unsigned char* data;
    size_t size;
    size_t cap;
    /* tree links; children are kept sorted by name (bytewise) */
    struct Node* parent;
    struct Node* first_child;
    struct Node* next;
} Node;

typedef struct {
    pthread_mutex_t lock;
    Node* root;
    uint64_t max_file_size; /* the config's cap, at most MAX_FILE_SIZE; no file is larger */
} MemFs;

static int64_t now(void) { return (int64_t)time(NULL); }

static Node* node_new(const char* name, size_t name_len, int is_dir, uint32_t mode)
{
    Node* n = calloc(1, sizeof *n);
    if (!n) {
        return NULL;
    }
    n->name = malloc(name_len + 1);
    if (!n->name) {
        free(n);
        return NULL;
    }
    memcpy(n->name, name, name_len);
    n->name[name_len] = '\0';
    n->is_dir = is_dir;
    n->mode = mode & 07777u;
    n->mtime = now();
    return n;
}

/* Frees a node with its whole subtree (it must already be unlinked from its parent). */
static void node_free(Node* n)
{
    if (!n) {
        return;
    }
    Node* c = n->first_child;
    while (c) {
        Node* next = c->next;
        node_free(c); /* recursion depth = tree depth */
        c = next;
    }
    free(n->data);
    free(n->name);
    free(n);
}

/* Removes every child of a directory. */
static void node_clear(Node* dir)
{
    Node* c = dir->first_child;
    while (c) {
        Node* next = c->next;
        node_free(c);
        c = next;
    }
    dir->first_child = NULL;
}

/* Compares a stored name with the component [s, s+len). */
static int name_cmp(const char* name, const char* s, size_t len)
{
    size_t nlen = strlen(name);
    int c = memcmp(name, s, nlen < len ? nlen : len);
    if (c != 0) {
        return c;
    }
    return nlen < len ? -1 : nlen > len ? 1 : 0;
}

static Node* find_child(const Node* dir, const char* s, size_t len)
{
    for (Node* c = dir->first_child; c; c = c->next) {
        int r = name_cmp(c->name, s, len);
        if (r == 0) {
            return c;
        }
        if (r > 0) {
            break; /* sorted */
        }
    }
    return NULL;
}

static void link_child(Node* dir, Node* child)
{
    Node** at = &dir->first_child;
    while (*at && strcmp((*at)->name, child->name) < 0) {
        at = &(*at)->next;
    }
    child->next = *at;
    *at = child;
    child->parent = dir;
}

static void unlink_child(Node* child)
{
    Node** at = &child->parent->first_child;
    while (*at != child) {
        at = &(*at)->next;
    }
    *at = child->next;
    child->next = NULL;
    child->parent = NULL;
}

/* ------------------------------------------------------------------------------------------- */
/* Paths                                                                                        */

/* Returns the next component of *p (skipping slashes) and its length, or NULL at the end. */
static const char* next_comp(const char** p, size_t* len)
{
    const char* s = *p;
    while (*s == '/') {
        s++;
    }
    if (*s == '\0') {
        *p = s;
        return NULL;
    }
    const char* e = s;
    while (*e != '\0' && *e != '/') {
        e++;
    }
    *len = (size_t)(e - s);
    *p = e;
    return s;
}

/* The host passes normalized paths; anything else ("." or "..", NULL) is refused with EINVAL.
 * Repeated or trailing slashes are tolerated. */
static int check_path(const char* path)
{
    if (!path) {
        return EINVAL;
    }
    const char* p = path;
    const char* c;
    size_t len;
    while ((c = next_comp(&p, &len))) {
        if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.')) {
            return EINVAL;
        }
    }
    return 0;
}

static int is_root(const char* path)
{
    size_t len;
    return next_comp(&path, &len) == NULL;
}

/* Finds the node at `path`: 0, ENOENT, or ENOTDIR when a file is used as a directory. */
static int walk(const MemFs* fs, const char* path, Node** out)
{
    Node* n = fs->root;
    const char* p = path;
    const char* c;
    size_t len;
    while ((c = next_comp(&p, &len))) {
        if (!n->is_dir) {
            return ENOTDIR;
        }
        n = find_child(n, c, len);
        if (!n) {
            return ENOENT;
        }
    }
    *out = n;
    return 0;
}

/* Finds the directory that holds (or would hold) `path`, which must not be the root, and the last
 * component. 0, ENOENT (a parent is missing) or ENOTDIR (a parent is a file). */
static int walk_parent(const MemFs* fs, const char* path, Node** dir_out, const char** name,
                       size_t* name_len)
{
    Node* dir = fs->root;
    const char* p = path;
    size_t len = 0;
    const char* c = next_comp(&p, &len);
    for (;;) {
        const char* q = p;
        size_t next_len = 0;
        const char* next = next_comp(&q, &next_len);
        if (!dir->is_dir) {
            return ENOTDIR;
        }
        if (!next) {
            *dir_out = dir;
            *name = c;
            *name_len = len;
            return 0;
        }
        dir = find_child(dir, c, len);
        if (!dir) {
            return ENOENT;
        }
        c = next;
        len = next_len;
        p = q;
    }
}

/* ------------------------------------------------------------------------------------------- */
/* Returned memory and errors                                                                  */

/* Returned when an error text cannot be allocated; PFSFree recognises it and does nothing. */
static const char oom_text[] = "ENOMEM: out of memory";

static const char* errno_name(int code)
{
    switch (code) {
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case EFBIG: return "EFBIG";
    case ENOMEM: return "ENOMEM";
    default: return "EIO";
    }
}

static const char* errno_text(int code)
{
    switch (code) {
    case ENOENT: return "no such file or directory";
    case EEXIST: return "already exists";
    case ENOTDIR: return "not a directory";
    case EISDIR: return "is a directory";
    case ENOTEMPTY: return "directory not empty";
    case EACCES: return "permission denied";
    case EINVAL: return "invalid argument";
    case EFBIG: return "file too large";
    case ENOMEM: return "out of memory";
    default: return "input/output error";
    }
}

/* A heap error text "ENAME: what: path" (`what` defaults to the errno's words; path optional). */
static const char* fail(int code, const char* what, const char* path)
{
    if (code == ENOMEM) {
        return oom_text;
    }
    if (!what) {
        what = errno_text(code);
    }
    const char* name = errno_name(code);
    const char* sep = path ? ": " : "";
    if (!path) {
        path = "";
    }
    int n = snprintf(NULL, 0, "%s: %s%s%s", name, what, sep, path);
    if (n < 0) {
        return oom_text;
    }
    char* s = malloc((size_t)n + 1);
    if (!s) {
        return oom_text;
    }
    snprintf(s, (size_t)n + 1, "%s: %s%s%s", name, what, sep, path);
    return s;
}

static int fill_info(const Node* n, FileInfoC* info)
{
    memset(info, 0, sizeof *info);
    info->Name = strdup(n->name);
    info->Size = n->is_dir ? 0 : (int64_t)n->size;
    info->Mode = n->mode;
    info->ModTime = n->mtime;
    info->IsDir = n->is_dir ? 1 : 0;
    info->MetaName = strdup(PLUGIN_NAME);
    info->MetaType = strdup(n->is_dir ? "dir" : "file");
    info->MetaContent = NULL;
    if (!info->Name || !info->MetaName || !info->MetaType) {
        free((void*)info->Name);
        free((void*)info->MetaName);
        free((void*)info->MetaType);
        memset(info, 0, sizeof *info);
        return ENOMEM;
    }
    return 0;
}

static void free_info_strings(FileInfoC* info)
{
    free((void*)info->Name);
    free((void*)info->MetaName);
    free((void*)info->MetaType);
    free((void*)info->MetaContent);
}

/* ------------------------------------------------------------------------------------------- */
/* Extensions                                                                                  */

uint32_t PFSPluginABIVersion(void) { return PFS_PLUGIN_ABI_VERSION; }

/* Every call works on memory under a short per-instance lock: nothing here blocks, so the host may
 * call it in place (build with -DMEMFS_C_BLOCKING to leave this out and compare). */
#ifndef MEMFS_C_BLOCKING
int PFSNonBlocking(void) { return 1; }
#endif

void PFSFree(void* plugin, void* ptr, uint32_t kind)
{
    (void)plugin; /* everything is plain heap memory: no instance needed (it may be NULL) */
    if (!ptr || ptr == (const void*)oom_text) {
        return;
    }
    switch (kind) {
    case PFS_FREE_BYTES:
        free(ptr);
        break;
    case PFS_FREE_FILEINFO:
        free_info_strings(ptr);
        free(ptr);
        break;
    case PFS_FREE_FILEINFO_ARRAY: {
        FileInfoArray* list = ptr;
        for (int i = 0; i < list->Count; i++) {
            free_info_strings(&list->Items[i]);
        }
        free(list->Items);
        free(list);
        break;
    }
    default:
        break; /* unknown kind: leaking beats freeing the wrong way */
    }
}

/* Resizes a file to `size` bytes (at most `limit`), zero-filling growth. 0, EFBIG or ENOMEM
 * (nothing changed). */
static int set_size(Node* n, uint64_t size, uint64_t limit)
{
    if (size > limit || size > MAX_FILE_SIZE) {
        return EFBIG;
    }
    if (size > n->cap) {
        size_t cap = n->cap ? n->cap : 64;
        while (cap < size) {
            cap = cap > MAX_FILE_SIZE / 2 ? (size_t)MAX_FILE_SIZE : cap * 2;
        }
        unsigned char* data = realloc(n->data, cap);
        if (!data) {
            return ENOMEM;
        }
        n->data = data;
        n->cap = cap;
    }
    if (size > n->size) {
        memset(n->data + n->size, 0, (size_t)size - n->size);
    }
    n->size = (size_t)size;
    return 0;
}

const char* PFSTruncate(void* plugin, const char* path, int64_t size)
{
    MemFs* fs = plugin;
    int rc = check_path(path);
    if (!fs || rc) {
        return fail(EINVAL, NULL, path);
    }
    if (size < 0) {
        return fail(EINVAL, "invalid argument (negative size)", path);
    }
    pthread_mutex_lock(&fs->lock);
    Node* n = NULL;
    rc = walk(fs, path, &n);
    if (rc == 0 && n->is_dir) {
        rc = EISDIR;
    }
    if (rc == 0) {
        rc = set_size(n, (uint64_t)size, fs->max_file_size);
    }
    if (rc == 0) {
        n->mtime = now();
    }
    pthread_mutex_unlock(&fs->lock);
    return rc ? fail(rc, NULL, path) : NULL;
}

/* The size of the largest file at or below `n` (recursion depth = tree depth). */
static uint64_t largest_file(const Node* n)
{
    if (!n->is_dir) {
        return n->size;
    }
    uint64_t max = 0;
    for (const Node* c = n->first_child; c; c = c->next) {
        uint64_t size = largest_file(c);
        max = size > max ? size : max;
    }
    return max;
}

/* (1.3) A new max_file_size on the mounted instance: the tree stays as it is. Rejected (EINVAL,
 * nothing changed) when it is not a whole number or is below the largest file held; amended when it
 * is above the most a file can hold (the config applied, with the most, goes back in
 * *amended_json: malloc'd, freed by PFSFree as PFS_FREE_BYTES); accepted otherwise. The old config
 * is not needed: the instance knows what it runs on. */
const char* PFSReconfigure(void* plugin, const char* old_config_json, const char* new_config_json,
                           const char** amended_json)
{
    MemFs* fs = plugin;
    (void)old_config_json;
    if (!fs || !new_config_json || !amended_json) {
        return fail(EINVAL, "invalid argument (NULL instance, config or amended_json)", NULL);
    }
    MemfsConfig cfg;
    const char* why = NULL;
    if (memfs_config_read(new_config_json, &cfg, &why)) {
        return fail(EINVAL, why, NULL);
    }
    /* Made before anything changes, so that running out of memory changes nothing. */
    char* applied = NULL;
    if (cfg.clamped && !(applied = memfs_config_applied(new_config_json, &cfg))) {
        return fail(ENOMEM, NULL, NULL);
    }
    pthread_mutex_lock(&fs->lock);
    uint64_t largest = largest_file(fs->root);
    if (cfg.max_file_size >= largest) {
        fs->max_file_size = cfg.max_file_size;
    }
    pthread_mutex_unlock(&fs->lock);
    if (cfg.max_file_size < largest) {
        free(applied);
        char what[160];
        snprintf(what, sizeof what,
                 "invalid config: max_file_size %llu is below the largest file this mount holds "
                 "(%llu bytes)",
                 (unsigned long long)cfg.max_file_size, (unsigned long long)largest);
        return fail(EINVAL, what, NULL);
    }
    *amended_json = applied; /* NULL: accepted as given */
    return NULL;
}

/* ------------------------------------------------------------------------------------------- */
/* v1: lifecycle                                                                               */

void* PluginNew(void)
{
    MemFs* fs = calloc(1, sizeof *fs);
    if (!fs) {
        return NULL;
    }
    fs->max_file_size = MAX_FILE_SIZE;
    fs->root = node_new("/", 1, 1, 0755);
    if (!fs->root || pthread_mutex_init(&fs->lock, NULL) != 0) {
        node_free(fs->root);
        free(fs);
        return NULL;
    }
    return fs;
}

void PluginFree(void* plugin)
{
    MemFs* fs = plugin;
    if (!fs) {
        return;
    }
    node_free(fs->root);
    pthread_mutex_destroy(&fs->lock);
    free(fs);
}

const char* PluginName(void* plugin)
{
    (void)plugin;
    return strdup(PLUGIN_NAME);
}

const char* PluginValidate(void* plugin, const char* config_json)
{
    (void)plugin;
    /* A JSON object whose max_file_size, if any, is a whole number; other keys are ignored. */
    MemfsConfig cfg;
    const char* why = NULL;
    return memfs_config_read(config_json, &cfg, &why) ? fail(EINVAL, why, NULL) : NULL;
}

const char* PluginInitialize(void* plugin, const char* config_json)
{
    MemFs* fs = plugin;
    MemfsConfig cfg;
    const char* why = NULL;
    if (!fs) {
        return fail(EINVAL, "invalid plugin instance", NULL);
    }
    if (memfs_config_read(config_json, &cfg, &why)) {
        return fail(EINVAL, why, NULL);
    }
    pthread_mutex_lock(&fs->lock);
    fs->max_file_size = cfg.max_file_size; /* more than the most was clamped */
    pthread_mutex_unlock(&fs->lock);
    return NULL;
}

const char* PluginShutdown(void* plugin)
{
    MemFs* fs = plugin;
    if (fs) {
        /* The content lives only as long as the mount: release it now. */
        pthread_mutex_lock(&fs->lock);
        node_clear(fs->root);
        pthread_mutex_unlock(&fs->lock);
    }
    return NULL;
}

const char* PluginGetReadme(void* plugin)
{
    (void)plugin;
    return strdup("# memfs-c\n"
                  "\n"
                  "A writable in-memory filesystem written in C. It implements every v1 function of\n"
                  "the pfs plugin ABI plus the extensions `PFSPluginABIVersion`, `PFSFree`,\n"
                  "`PFSTruncate`, `PFSNonBlocking` and `PFSReconfigure`.\n"
                  "\n"
                  "- Content lives in memory and is lost on unmount.\n"
                  "- Config: `max_file_size` (bytes, at most 2147483647, the default). It changes\n"
                  "  in place (`POST /api/v1/mounts/config`); below the largest file it is refused,\n"
                  "  above the most it is clamped (the answer shows the config applied).\n"
                  "- Files default to mode 0644, directories to the mode given to mkdir.\n"
                  "- Errors carry errno names (`ENOENT: ...`), so statuses are exact.\n");
}

/* ------------------------------------------------------------------------------------------- */
/* v1: filesystem                                                                              */

/* Creates `path` as an empty file or a directory. */
static const char* make_node(MemFs* fs, const char* path, int is_dir, uint32_t mode)
{
    if (!fs || check_path(path)) {
        return fail(EINVAL, NULL, path);
    }
    if (is_root(path)) {
        return fail(EEXIST, NULL, path);
    }
    pthread_mutex_lock(&fs->lock);
    Node* dir = NULL;
    const char* name = NULL;
    size_t len = 0;
    int rc = walk_parent(fs, path, &dir, &name, &len);
    if (rc == 0 && find_child(dir, name, len)) {
        rc = EEXIST;
    }
    if (rc == 0) {
        Node* n = node_new(name, len, is_dir, mode);
        if (!n) {
            rc = ENOMEM;
        } else {
            link_child(dir, n);
            dir->mtime = n->mtime;
        }
    }
    pthread_mutex_unlock(&fs->lock);
    return rc ? fail(rc, NULL, path) : NULL;
}

const char* FSCreate(void* plugin, const char* path) { return make_node(plugin, path, 0, 0644); }

const char* FSMkdir(void* plugin, const char* path, uint32_t mode)
{
    return make_node(plugin, path, 1, mode);
}

const char* FSRemove(void* plugin, const char* path)
{
    MemFs* fs = plugin;
    if (!fs || check_path(path)) {
        return fail(EINVAL, NULL, path);
    }
    if (is_root(path)) {
        return fail(EACCES, "permission denied (cannot remove the mount root)", path);
    }
    pthread_mutex_lock(&fs->lock);
    Node* n = NULL;
    int rc = walk(fs, path, &n);
    if (rc == 0 && n->is_dir && n->first_child) {
        rc = ENOTEMPTY;
    }
    if (rc == 0) {
        Node* dir = n->parent;
        unlink_child(n);
        node_free(n);
        dir->mtime = now();
    }
    pthread_mutex_unlock(&fs->lock);
    return rc ? fail(rc, NULL, path) : NULL;
}

const char* FSRemoveAll(void* plugin, const char* path)
{
    MemFs* fs = plugin;
    if (!fs || check_path(path)) {
        return fail(EINVAL, NULL, path);
    }
    pthread_mutex_lock(&fs->lock);
    Node* n = NULL;
    int rc = walk(fs, path, &n);
    if (rc == 0) {
        if (n == fs->root) {
            node_clear(n); /* "/" empties the mount */
            n->mtime = now();
        } else {
            Node* dir = n->parent;
            unlink_child(n);
            node_free(n);
            dir->mtime = now();
        }
    }
    pthread_mutex_unlock(&fs->lock);
    return rc ? fail(rc, NULL, path) : NULL;
}

const char* FSRead(void* plugin, const char* path, int64_t offset, int64_t size, int* out_len)
{
    MemFs* fs = plugin;
    if (!out_len) {
        return fail(EINVAL, "invalid argument (out_len is NULL)", path);
    }
    *out_len = -1;
    if (!fs || check_path(path)) {
        return fail(EINVAL, NULL, path);
    }
    if (offset < 0) {
        return fail(EINVAL, "invalid argument (negative offset)", path);
    }
    pthread_mutex_lock(&fs->lock);
    Node* n = NULL;
    int rc = walk(fs, path, &n);
    if (rc == 0 && n->is_dir) {
        rc = EISDIR;
    }
    char* buf = NULL;
    size_t len = 0;
    if (rc == 0 && (uint64_t)offset < n->size && size != 0) {
        len = n->size - (size_t)offset;
        if (size > 0 && (uint64_t)size < len) {
            len = (size_t)size;
        }
        if (len > INT_MAX) {
            len = INT_MAX; /* cannot happen: files are capped at INT_MAX bytes */
        }
        buf = malloc(len + 1);
        if (!buf) {
            rc = ENOMEM;
        } else {
            memcpy(buf, n->data + offset, len);
            buf[len] = '\0'; /* convenience for C callers; not part of the length */
        }
    }
    pthread_mutex_unlock(&fs->lock);
    if (rc) {
        return fail(rc, NULL, path);
    }
    *out_len = (int)len;
    return buf; /* NULL with *out_len == 0: empty (at or past the end, or size 0) */
}

int64_t FSWrite(void* plugin, const char* path, const char* data, int data_len, int64_t offset,
                uint32_t flags)
{
    MemFs* fs = plugin;
    if (!fs || check_path(path) || data_len < 0 || (data_len > 0 && !data)) {
        return -EINVAL;
    }
    flags &= ALL_WRITE_FLAGS; /* unknown bits are ignored */
    if (is_root(path)) {
        return -EISDIR;
    }
    pthread_mutex_lock(&fs->lock);
    Node* dir = NULL;
    const char* name = NULL;
    size_t name_len = 0;
    Node* n = NULL;
    int created = 0;
    int rc = walk_parent(fs, path, &dir, &name, &name_len);
    if (rc == 0) {
        n = find_child(dir, name, name_len);
        if (n) {
            const uint32_t excl = PFS_WRITE_CREATE | PFS_WRITE_EXCLUSIVE;
            if ((flags & excl) == excl) {
                rc = EEXIST;
            } else if (n->is_dir) {
                rc = EISDIR;
            }
        } else if (flags == 0 || (flags & PFS_WRITE_CREATE)) {
            n = node_new(name, name_len, 0, 0644);
            created = 1;
            if (!n) {
                rc = ENOMEM;
            }
        } else {
            rc = ENOENT;
        }
    }
    if (rc == 0) {
        /* Where the old content ends and where the data goes. */
        uint64_t keep = (flags & PFS_WRITE_TRUNCATE) ? 0 : n->size;
        uint64_t at;
        if (flags & PFS_WRITE_APPEND) {
            at = keep;
        } else if (offset < 0) {
            keep = 0; /* no offset: the data replaces the whole content */
            at = 0;
        } else {
            at = (uint64_t)offset;
        }
        uint64_t len = (uint64_t)data_len;
        uint64_t end = at + len;
        if (at > fs->max_file_size || end > fs->max_file_size) {
            rc = EFBIG;
        } else {
            /* Grow first (the only step that can fail), then commit. */
            size_t old = n->size;
            uint64_t new_size = end > keep ? end : keep;
            if (new_size > old) {
                rc = set_size(n, new_size, fs->max_file_size);
            }
            if (rc == 0) {
                if (at > keep && keep < old) {
                    /* The kept part ends before the write: zero the gap left from old bytes. */
                    size_t upto = (size_t)(at < old ? at : old);
                    memset(n->data + keep, 0, upto - (size_t)keep);
                }
                if (len > 0) {
                    memcpy(n->data + at, data, (size_t)len);
                }
                n->size = (size_t)new_size;
                n->mtime = now();
                if (created) {
                    link_child(dir, n);
                    dir->mtime = n->mtime;
                }
            }
        }
    }
    if (rc && created) {
        node_free(n);
    }
    pthread_mutex_unlock(&fs->lock);
    return rc ? -(int64_t)rc : (int64_t)data_len;
}

FileInfoArray* FSReadDir(void* plugin, const char* path, int* out_count)
{
    MemFs* fs = plugin;
    if (!out_count) {
        return NULL;
    }
    *out_count = -1;
    if (!fs || check_path(path)) {
        return NULL;
    }
    pthread_mutex_lock(&fs->lock);
    FileInfoArray* list = NULL;
    Node* n = NULL;
    int count = -1;
    if (walk(fs, path, &n) == 0 && n->is_dir) {
        count = 0;
        for (Node* c = n->first_child; c; c = c->next) {
            count++;
        }
        if (count > 0) {
            list = malloc(sizeof *list);
            FileInfoC* items = calloc((size_t)count, sizeof *items);
            int i = 0;
            if (list && items) {
                for (Node* c = n->first_child; c; c = c->next, i++) {
                    if (fill_info(c, &items[i]) != 0) {
                        break;
                    }
                }
            }
            if (!list || !items || i < count) {
                /* Out of memory: v1 has no way to say so; report a failed listing. */
                for (int j = 0; j < i; j++) {
                    free_info_strings(&items[j]);
                }
                free(items);
                free(list);
                list = NULL;
                count = -1;
            } else {
                list->Items = items;
                list->Count = count;
            }
        }
    }
    pthread_mutex_unlock(&fs->lock);
    *out_count = count;
    return list; /* NULL with *out_count == 0: an empty directory */
}

FileInfoC* FSStat(void* plugin, const char* path)
{
    MemFs* fs = plugin;
    if (!fs || check_path(path)) {
        return NULL;
    }
    pthread_mutex_lock(&fs->lock);
    Node* n = NULL;
    FileInfoC* info = NULL;
    if (walk(fs, path, &n) == 0) {
        info = malloc(sizeof *info);
        if (info && fill_info(n, info) != 0) {
            free(info);
            info = NULL;
        }
    }
    pthread_mutex_unlock(&fs->lock);
    return info; /* NULL: not found */
}

const char* FSRename(void* plugin, const char* old_path, const char* new_path)
{
    MemFs* fs = plugin;
    if (!fs || check_path(old_path) || check_path(new_path)) {
        return fail(EINVAL, NULL, old_path);
    }
    if (is_root(old_path) || is_root(new_path)) {
        return fail(EINVAL, "invalid argument (cannot rename the mount root)", old_path);
    }
    pthread_mutex_lock(&fs->lock);
    const char* err_path = old_path;
    const char* what = NULL;
    Node* src = NULL;
    Node* dir = NULL;
    const char* name = NULL;
    size_t name_len = 0;
    int rc = walk(fs, old_path, &src);
    if (rc == 0) {
        rc = walk_parent(fs, new_path, &dir, &name, &name_len);
        err_path = new_path;
    }
    Node* target = rc == 0 ? find_child(dir, name, name_len) : NULL;
    int same = rc == 0 && target == src; /* same path: nothing to do */
    if (rc == 0 && !same) {
        /* A directory cannot move below itself. */
        for (const Node* a = dir; a; a = a->parent) {
            if (a == src) {
                rc = EINVAL;
                what = "invalid argument (cannot move a directory into its own subtree)";
                err_path = old_path;
                break;
            }
        }
    }
    if (rc == 0 && !same && target) {
        if (src->is_dir && target->is_dir && target->first_child) {
            rc = ENOTEMPTY;
        } else if (!src->is_dir && target->is_dir) {
            rc = EISDIR;
        } else if (src->is_dir && !target->is_dir) {
            rc = ENOTDIR;
        }
    }
    char* new_name = NULL;
    if (rc == 0 && !same) {
        new_name = malloc(name_len + 1);
        if (!new_name) {
            rc = ENOMEM;
        }
    }
    if (rc == 0 && !same) {
        /* Every check passed: nothing below can fail. */
        memcpy(new_name, name, name_len);
        new_name[name_len] = '\0';
        if (target) {
            unlink_child(target);
            node_free(target);
        }
        Node* old_dir = src->parent;
        unlink_child(src);
        free(src->name);
        src->name = new_name;
        link_child(dir, src);
        src->mtime = now();
        old_dir->mtime = src->mtime;
        dir->mtime = src->mtime;
    }
    pthread_mutex_unlock(&fs->lock);
    return rc ? fail(rc, what, err_path) : NULL;
}

const char* FSChmod(void* plugin, const char* path, uint32_t mode)
{
    MemFs* fs = plugin;
    if (!fs || check_path(path)) {
        return fail(EINVAL, NULL, path);
    }
    pthread_mutex_lock(&fs->lock);
    Node* n = NULL;
    int rc = walk(fs, path, &n);
    if (rc == 0) {
        n->mode = mode & 07777u; /* permission bits only; the mtime stays (chmod is not a write) */
    }
    pthread_mutex_unlock(&fs->lock);
    return rc ? fail(rc, NULL, path) : NULL;
}
