/*
 * crashy — a deliberately bad external plugin (v1 C ABI, AGFS-style), for tests only.
 *
 * It exists to prove isolation: loaded with `isolation: process`, each of its misbehaviours must
 * cost its own mount only (the plugin process dies or is killed, pfs restarts it) while the server
 * and every other mount carry on. NEVER load it in-process outside tests: reading most of its
 * files kills, hangs or exhausts the process that loaded it, i.e. the server itself.
 *
 * A read-only tree; listing and stat work for every name, only FSRead misbehaves:
 *
 *   /        a directory
 *   /ok      "still here\n": the control, a plugin that still answers
 *   /segv    writes through a null pointer: SIGSEGV
 *   /abort   abort(): SIGABRT
 *   /loop    spins forever on the CPU (no sleep, no I/O): only a call timeout or RLIMIT_CPU ends it
 *   /alloc   mallocs 64 MiB chunks and fills them, forever: only RLIMIT_AS or the OOM killer ends
 *            it (when malloc fails, it keeps what it holds and keeps asking)
 *   /exit    _exit(3): the process ends without a signal
 *
 * No mutation symbol is exported (the host answers them 501). Memory follows the v1 contract: the
 * host never frees what a plugin returns, so names and texts are literals and FSStat/FSReadDir
 * results are malloc'd per call and leak, as in examples/hellofs-c.
 */
#define _POSIX_C_SOURCE 200809L /* _exit */

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pfs_plugin.h"

#define NAME "crashy"
#define OK_CONTENT "still here\n"
#define OK_LEN ((int64_t)(sizeof(OK_CONTENT) - 1))
#define CHUNK ((size_t)64 << 20)

typedef enum { READ_OK, READ_SEGV, READ_ABORT, READ_LOOP, READ_ALLOC, READ_EXIT } Behaviour;

static const struct {
    const char* name;
    Behaviour what;
    const char* meta; /* meta.Content: what reading the file does */
} FILES[] = {
    {"ok", READ_OK, "{\"on_read\":\"returns its content\"}"},
    {"segv", READ_SEGV, "{\"on_read\":\"SIGSEGV (null pointer write)\"}"},
    {"abort", READ_ABORT, "{\"on_read\":\"SIGABRT (abort)\"}"},
    {"loop", READ_LOOP, "{\"on_read\":\"spins forever\"}"},
    {"alloc", READ_ALLOC, "{\"on_read\":\"allocates memory without bound\"}"},
    {"exit", READ_EXIT, "{\"on_read\":\"_exit(3)\"}"},
};
#define NFILES ((int)(sizeof FILES / sizeof FILES[0]))

typedef struct {
    time_t started; /* ModTime of every entry */
} Crashy;

/* The index of the file at `path` ("/ok" ...), or -1. */
static int file_index(const char* path)
{
    if (!path || path[0] != '/') {
        return -1;
    }
    for (int i = 0; i < NFILES; i++) {
        if (strcmp(path + 1, FILES[i].name) == 0) {
            return i;
        }
    }
    return -1;
}

static int is_root(const char* path) { return path && strcmp(path, "/") == 0; }

/* Fills `info` for the root (index -1) or FILES[index]; every string is a literal. */
static void fill_info(const Crashy* c, FileInfoC* info, int index)
{
    memset(info, 0, sizeof *info);
    info->Name = index < 0 ? "/" : FILES[index].name;
    /* A nonzero size for every file, so that no reader skips the read of an "empty" one. */
    info->Size = index < 0 ? 0 : (FILES[index].what == READ_OK ? OK_LEN : 1);
    info->Mode = index < 0 ? 0555u : 0444u;
    info->ModTime = (int64_t)c->started;
    info->IsDir = index < 0;
    info->MetaName = NAME;
    info->MetaType = index < 0 ? "directory" : "file";
    info->MetaContent = index < 0 ? NULL : FILES[index].meta;
}

/* ---- the misbehaviours ---- */

static _Noreturn void do_segv(void)
{
    /* Both volatile: the compiler can neither prove the pointer null nor drop the store. */
    volatile int* volatile p = NULL;
    *p = 1;
    abort(); /* not reached */
}

static _Noreturn void do_loop(void)
{
    volatile unsigned long spins = 0;
    for (;;) {
        spins++;
    }
}

/* The chunks do_alloc holds, chained through their first bytes. Volatile, so the compiler must
 * keep every malloc and memset. */
static void* volatile held;

static _Noreturn void do_alloc(void)
{
    for (;;) {
        void** p = malloc(CHUNK);
        if (p) {
            memset(p, 0xA5, CHUNK); /* a nonzero byte: every page becomes resident */
            *p = held;
            held = p;
        }
    }
}

/* ---- lifecycle ---- */

void* PluginNew(void)
{
    Crashy* c = calloc(1, sizeof *c);
    if (c) {
        c->started = time(NULL);
    }
    return c;
}

void PluginFree(void* plugin) { free(plugin); }

const char* PluginName(void* plugin)
{
    (void)plugin;
    return NAME;
}

const char* PluginValidate(void* plugin, const char* config_json)
{
    (void)plugin;
    (void)config_json;
    return NULL;
}

const char* PluginInitialize(void* plugin, const char* config_json)
{
    (void)config_json;
    return plugin ? NULL : "invalid plugin instance";
}

const char* PluginShutdown(void* plugin)
{
    (void)plugin;
    return NULL;
}

const char* PluginGetReadme(void* plugin)
{
    (void)plugin;
    return "# crashy\n"
           "\n"
           "A test plugin that misbehaves on purpose, to prove isolation. Reading `/ok` works;\n"
           "reading `/segv`, `/abort`, `/loop`, `/alloc` or `/exit` crashes, hangs, exhausts memory\n"
           "or exits the process that loaded it. Never load it in-process outside tests.\n";
}

/* ---- filesystem ---- */

const char* FSRead(void* plugin, const char* path, int64_t offset, int64_t size, int* out_len)
{
    (void)plugin;
    if (!out_len) {
        return "EINVAL: out_len is NULL";
    }
    *out_len = -1;
    if (is_root(path)) {
        return "EISDIR: is a directory";
    }
    int i = file_index(path);
    if (i < 0) {
        return "ENOENT: no such file or directory";
    }
    switch (FILES[i].what) {
    case READ_SEGV:
        do_segv();
    case READ_ABORT:
        abort();
    case READ_LOOP:
        do_loop();
    case READ_ALLOC:
        do_alloc();
    case READ_EXIT:
        _exit(3);
    case READ_OK:
        break;
    }
    if (offset < 0) {
        return "EINVAL: negative offset";
    }
    int64_t n = offset >= OK_LEN ? 0 : OK_LEN - offset;
    if (size >= 0 && size < n) {
        n = size;
    }
    *out_len = (int)n;
    return n > 0 ? OK_CONTENT + offset : NULL; /* a literal: a v1 host never frees it */
}

FileInfoC* FSStat(void* plugin, const char* path)
{
    const Crashy* c = plugin;
    int i = file_index(path);
    if (!c || (i < 0 && !is_root(path))) {
        return NULL; /* not found */
    }
    FileInfoC* info = malloc(sizeof *info);
    if (info) {
        fill_info(c, info, i);
    }
    return info;
}

FileInfoArray* FSReadDir(void* plugin, const char* path, int* out_count)
{
    const Crashy* c = plugin;
    if (!out_count) {
        return NULL;
    }
    if (!c || !is_root(path)) {
        *out_count = -1; /* a file is not a directory; anything else does not exist */
        return NULL;
    }
    FileInfoArray* list = malloc(sizeof *list);
    FileInfoC* items = malloc(NFILES * sizeof *items);
    if (!list || !items) {
        free(list);
        free(items);
        *out_count = -1;
        return NULL;
    }
    for (int i = 0; i < NFILES; i++) {
        fill_info(c, &items[i], i);
    }
    list->Items = items;
    list->Count = NFILES;
    *out_count = NFILES;
    return list;
}
