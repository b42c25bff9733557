/*
 * test_driver — drives an external plugin through the C ABI the way the pfs host does, without the
 * Rust host, so valgrind can check the C side alone.
 *
 *   test_driver PATH/TO/plugin.so
 *
 * It dlopens the library, checks PFSPluginABIVersion when present, probes the name on a throw-away
 * instance, then runs one mount's lifecycle: PluginNew → PluginName → PluginValidate →
 * PluginInitialize → FS calls → PluginShutdown → PluginFree, and finally dlclose.
 *
 * Memory follows the header's rule: when the plugin exports PFSFree, every non-NULL pointer it
 * returns is handed back exactly once (so valgrind must see zero leaks); without PFSFree (v1)
 * nothing is freed (leaks are expected, only invalid accesses count).
 *
 * Scenarios are chosen by plugin name: "memfs-c" gets the writable scenario (it needs PFSFree,
 * PFSTruncate and PFSReconfigure) plus a two-instance concurrency run; "hellofs-c" gets the
 * read-only v1 scenario.
 * Exit status: 0 when every assertion holds, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pfs_plugin.h"

_Static_assert(sizeof(void (*)(void)) == sizeof(void*), "function pointers fit in void*");

/* ------------------------------------------------------------------------------------------- */
/* Symbols                                                                                     */

typedef struct {
    void* lib;
    void* (*New)(void);
    void (*Free)(void*);
    const char* (*Name)(void*);
    const char* (*Validate)(void*, const char*);
    const char* (*Initialize)(void*, const char*);
    const char* (*Shutdown)(void*);
    const char* (*GetReadme)(void*);
    const char* (*Create)(void*, const char*);
    const char* (*Mkdir)(void*, const char*, uint32_t);
    const char* (*Remove)(void*, const char*);
    const char* (*RemoveAll)(void*, const char*);
    const char* (*Read)(void*, const char*, int64_t, int64_t, int*);
    int64_t (*Write)(void*, const char*, const char*, int, int64_t, uint32_t);
    FileInfoArray* (*ReadDir)(void*, const char*, int*);
    FileInfoC* (*Stat)(void*, const char*);
    const char* (*Rename)(void*, const char*, const char*);
    const char* (*Chmod)(void*, const char*, uint32_t);
    uint32_t (*AbiVersion)(void);
    void (*PFree)(void*, void*, uint32_t);
    const char* (*Truncate)(void*, const char*, int64_t);
    const char* (*Reconfigure)(void*, const char*, const char*, const char**);
} Api;

static Api A;
static atomic_int failures;

#define LOAD(field, sym)                                                                           \
    do {                                                                                           \
        void* s_ = dlsym(A.lib, sym);                                                              \
        memcpy(&A.field, &s_, sizeof s_);                                                          \
    } while (0)

static void load_symbols(void)
{
    LOAD(New, "PluginNew");
    LOAD(Free, "PluginFree");
    LOAD(Name, "PluginName");
    LOAD(Validate, "PluginValidate");
    LOAD(Initialize, "PluginInitialize");
    LOAD(Shutdown, "PluginShutdown");
    LOAD(GetReadme, "PluginGetReadme");
    LOAD(Create, "FSCreate");
    LOAD(Mkdir, "FSMkdir");
    LOAD(Remove, "FSRemove");
    LOAD(RemoveAll, "FSRemoveAll");
    LOAD(Read, "FSRead");
    LOAD(Write, "FSWrite");
    LOAD(ReadDir, "FSReadDir");
    LOAD(Stat, "FSStat");
    LOAD(Rename, "FSRename");
    LOAD(Chmod, "FSChmod");
    LOAD(AbiVersion, "PFSPluginABIVersion");
    LOAD(PFree, "PFSFree");
    LOAD(Truncate, "PFSTruncate");
    LOAD(Reconfigure, "PFSReconfigure");
}

/* ------------------------------------------------------------------------------------------- */
/* Assertions and the host side of memory ownership                                            */

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            atomic_fetch_add(&failures, 1);                                                        \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* Hands a returned pointer back to the plugin (exactly once) when it can free memory. */
static void release(void* inst, const void* p, uint32_t kind)
{
    if (A.PFree && p) {
        A.PFree(inst, (void*)p, kind);
    }
}

static int is_ok(const char* r) { return r == NULL || r[0] == '\0'; }

#define EXPECT_OK(inst, call)                                                                      \
    do {                                                                                           \
        const char* r_ = (call);                                                                   \
        CHECK(is_ok(r_), "%s -> %s", #call, r_);                                                   \
        release(inst, r_, PFS_FREE_BYTES);                                                         \
    } while (0)

/* The call must fail with a text containing `needle` (an errno prefix for memfs-c). */
#define EXPECT_ERR(inst, call, needle)                                                             \
    do {                                                                                           \
        const char* r_ = (call);                                                                   \
        CHECK(!is_ok(r_) && strstr(r_, needle) != NULL, "%s -> %s (wanted %s)", #call,             \
              r_ ? r_ : "(null)", needle);                                                         \
        release(inst, r_, PFS_FREE_BYTES);                                                         \
    } while (0)

#define EXPECT_WRITE(inst, path, data, len, off, flags, want)                                      \
    do {                                                                                           \
        int64_t n_ = A.Write(inst, path, data, len, off, flags);                                   \
        CHECK(n_ == (want), "FSWrite(%s) = %lld, wanted %lld", path, (long long)n_,                \
              (long long)(want));                                                                  \
    } while (0)

/* Reads and compares with `want` (want_len bytes); want_len < 0 expects a failure containing
 * `want` as error text. */
static void expect_read(void* inst, const char* path, int64_t off, int64_t size, const char* want,
                        int want_len, int line)
{
    int len = -12345;
    const char* r = A.Read(inst, path, off, size, &len);
    if (want_len < 0) {
        if (len >= 0 || !r || !strstr(r, want)) {
            atomic_fetch_add(&failures, 1);
            fprintf(stderr, "FAIL line %d: FSRead(%s) len=%d text=%s, wanted error %s\n", line,
                    path, len, len < 0 && r ? r : "(data)", want);
        }
    } else if (len != want_len || (len > 0 && (!r || memcmp(r, want, (size_t)len) != 0))) {
        atomic_fetch_add(&failures, 1);
        fprintf(stderr, "FAIL line %d: FSRead(%s, %lld, %lld) len=%d, wanted %d bytes\n", line,
                path, (long long)off, (long long)size, len, want_len);
    }
    release(inst, r, PFS_FREE_BYTES);
}
#define EXPECT_READ(inst, path, off, size, want, want_len)                                         \
    expect_read(inst, path, off, size, want, want_len, __LINE__)

typedef struct {
    int found;
    char name[256];
    int64_t size;
    uint32_t mode;
    int64_t mtime;
    int is_dir;
    char meta_name[64];
} Info;

static Info stat_path(void* inst, const char* path)
{
    Info out;
    memset(&out, 0, sizeof out);
    FileInfoC* fi = A.Stat(inst, path);
    if (fi) {
        out.found = 1;
        snprintf(out.name, sizeof out.name, "%s", fi->Name ? fi->Name : "");
        out.size = fi->Size;
        out.mode = fi->Mode;
        out.mtime = fi->ModTime;
        out.is_dir = fi->IsDir;
        snprintf(out.meta_name, sizeof out.meta_name, "%s", fi->MetaName ? fi->MetaName : "");
    }
    release(inst, fi, PFS_FREE_FILEINFO);
    return out;
}

/* Lists `path` into "name,name,..." (dirs get a trailing '/'); returns *out_count. */
static int list(void* inst, const char* path, char* buf, size_t cap)
{
    int count = -12345;
    FileInfoArray* arr = A.ReadDir(inst, path, &count);
    buf[0] = '\0';
    if (arr && count > 0) {
        CHECK(arr->Count == count, "Count %d vs out_count %d", arr->Count, count);
        size_t used = 0;
        for (int i = 0; i < count; i++) {
            const FileInfoC* it = &arr->Items[i];
            int n = snprintf(buf + used, cap - used, "%s%s%s", i ? "," : "", it->Name,
                             it->IsDir ? "/" : "");
            if (n < 0 || (size_t)n >= cap - used) {
                break;
            }
            used += (size_t)n;
        }
    }
    if (count <= 0) {
        CHECK(arr == NULL || count == 0, "ReadDir(%s) returned entries with count %d", path,
              count);
    }
    release(inst, arr, PFS_FREE_FILEINFO_ARRAY);
    return count;
}

/* ------------------------------------------------------------------------------------------- */
/* memfs-c: the writable scenario                                                              */

/* PFSReconfigure on memfs-c's max_file_size: accepted, rejected (nothing changes), amended (the
 * config applied comes back and is released through PFSFree); writes follow the cap in force. */
static void scenario_reconfigure(void* p)
{
    const char* old = "{\"mount_path\":\"/mnt\"}";
    const char* amended = NULL;

    /* Accepted: a 10-byte cap holds for the next write and truncate. */
    EXPECT_OK(p, A.Reconfigure(p, old, "{\"mount_path\":\"/mnt\",\"max_file_size\":10}", &amended));
    CHECK(amended == NULL, "accepted: nothing amended");
    EXPECT_WRITE(p, "/cap", "0123456789", 10, -1, 0, 10);
    EXPECT_WRITE(p, "/cap", "x", 1, -1, PFS_WRITE_APPEND, -27);
    EXPECT_ERR(p, A.Truncate(p, "/cap", 11), "EFBIG");
    EXPECT_READ(p, "/cap", 0, -1, "0123456789", 10);

    /* Rejected: below the largest file held, or not a whole number; nothing changes. */
    EXPECT_ERR(p, A.Reconfigure(p, old, "{\"max_file_size\":5}", &amended),
               "EINVAL: invalid config: max_file_size 5 is below the largest file this mount "
               "holds (10 bytes)");
    static const char* const bad[] = {"{\"max_file_size\":\"2KB\"}", "{\"max_file_size\":-1}",
                                      "{\"max_file_size\":1.5}", "{\"max_file_size\":null}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        EXPECT_ERR(p, A.Reconfigure(p, old, bad[i], &amended),
                   "EINVAL: invalid config: max_file_size must be a whole number of bytes");
        EXPECT_ERR(p, A.Validate(p, bad[i]), "must be a whole number of bytes");
    }
    EXPECT_ERR(p, A.Reconfigure(p, old, "[1]", &amended), "expected a JSON object");
    EXPECT_ERR(p, A.Reconfigure(p, old, "{\"max_file_size\":7", &amended), "expected a JSON object");
    CHECK(amended == NULL, "a refusal amends nothing");
    EXPECT_WRITE(p, "/cap", "x", 1, -1, PFS_WRITE_APPEND, -27);

    /* Only the top-level key counts: not one in a nested object, nor one inside a string. */
    EXPECT_OK(p, A.Reconfigure(p, old,
                               "{\"n\":{\"max_file_size\":\"no\"},\"s\":\"\\\"max_file_size\\\":1\","
                               " \"max_file_size\" : 20 }",
                               &amended));
    CHECK(amended == NULL, "accepted: nothing amended");
    EXPECT_WRITE(p, "/cap", "01234567890123456789", 20, -1, 0, 20);
    EXPECT_WRITE(p, "/cap", "x", 1, -1, PFS_WRITE_APPEND, -27);

    /* Amended: more than a file can hold is clamped, and the config applied says so. */
    EXPECT_OK(p, A.Reconfigure(p, old,
                               "{\"a\":[1,{\"b\":null}],\"max_file_size\":99999999999999999999,"
                               "\"z\":true}",
                               &amended));
    CHECK(amended && strcmp(amended, "{\"a\":[1,{\"b\":null}],\"max_file_size\":2147483647,"
                                     "\"z\":true}") == 0,
          "amended: %s", amended ? amended : "(null)");
    release(p, amended, PFS_FREE_BYTES);
    amended = NULL;
    EXPECT_WRITE(p, "/cap", "0123456789012345678901", 22, -1, 0, 22);

    /* No key: the default again. */
    EXPECT_OK(p, A.Reconfigure(p, old, old, &amended));
    CHECK(amended == NULL, "accepted: nothing amended");
    EXPECT_OK(p, A.Remove(p, "/cap"));

    /* A cap from the mount's own config, on an instance of its own. */
    void* q = A.New();
    CHECK(q != NULL, "PluginNew");
    if (q) {
        EXPECT_OK(q, A.Initialize(q, "{\"mount_path\":\"/q\",\"max_file_size\":4}"));
        EXPECT_WRITE(q, "/f", "12345", 5, -1, 0, -27);
        EXPECT_WRITE(q, "/f", "1234", 4, -1, 0, 4);
        release(q, A.Shutdown(q), PFS_FREE_BYTES);
        A.Free(q);
    }
}

static void scenario_memfs(void* p)
{
    char buf[1024];
    const uint32_t C = PFS_WRITE_CREATE, X = PFS_WRITE_EXCLUSIVE, T = PFS_WRITE_TRUNCATE,
                   APP = PFS_WRITE_APPEND;

    CHECK(A.PFree && A.Truncate && A.AbiVersion && A.Reconfigure,
          "memfs-c must export every extension");
    if (!A.PFree || !A.Truncate || !A.Reconfigure) {
        return;
    }

    /* The root. */
    Info root = stat_path(p, "/");
    CHECK(root.found && root.is_dir && strcmp(root.name, "/") == 0 && root.mode == 0755,
          "root: found=%d dir=%d name=%s mode=%o", root.found, root.is_dir, root.name, root.mode);
    CHECK(strcmp(root.meta_name, "memfs-c") == 0, "meta name %s", root.meta_name);
    CHECK(list(p, "/", buf, sizeof buf) == 0, "empty root lists nothing: %s", buf);

    /* Whole writes, ranges, EOF. */
    EXPECT_WRITE(p, "/a.txt", "hello world", 11, -1, 0, 11);
    EXPECT_READ(p, "/a.txt", 0, -1, "hello world", 11);
    EXPECT_READ(p, "/a.txt", 2, 3, "llo", 3);
    EXPECT_READ(p, "/a.txt", 8, 100, "rld", 3);
    EXPECT_READ(p, "/a.txt", 11, -1, "", 0);
    EXPECT_READ(p, "/a.txt", 500, 10, "", 0);
    EXPECT_READ(p, "/a.txt", 0, 0, "", 0);
    EXPECT_WRITE(p, "/a.txt", "bye", 3, -1, 0, 3);
    EXPECT_READ(p, "/a.txt", 0, -1, "bye", 3);

    /* Positional writes, zero fill, append, truncate flag. */
    EXPECT_WRITE(p, "/a.txt", "hello world", 11, -1, 0, 11);
    EXPECT_WRITE(p, "/a.txt", "J", 1, 0, 0, 1);
    EXPECT_WRITE(p, "/a.txt", "W", 1, 6, 0, 1);
    EXPECT_READ(p, "/a.txt", 0, -1, "Jello World", 11);
    EXPECT_WRITE(p, "/a.txt", "xy", 2, 13, 0, 2);
    EXPECT_READ(p, "/a.txt", 0, -1, "Jello World\0\0xy", 15);
    EXPECT_WRITE(p, "/a.txt", "!", 1, 0, APP, 1);
    EXPECT_WRITE(p, "/a.txt", "?", 1, -1, APP, 1);
    EXPECT_READ(p, "/a.txt", 0, -1, "Jello World\0\0xy!?", 17);
    EXPECT_WRITE(p, "/a.txt", "new", 3, 0, T, 3);
    EXPECT_READ(p, "/a.txt", 0, -1, "new", 3);
    EXPECT_WRITE(p, "/a.txt", "z", 1, 2, T, 1);
    EXPECT_READ(p, "/a.txt", 0, -1, "\0\0z", 3);
    EXPECT_WRITE(p, "/a.txt", "", 0, 3, 0, 0); /* a touch changes no byte */
    EXPECT_READ(p, "/a.txt", 0, -1, "\0\0z", 3);

    /* Binary content with NUL bytes round-trips. */
    static const char bin[] = {0, 1, 2, 0, (char)0xff, 0};
    EXPECT_WRITE(p, "/bin", bin, (int)sizeof bin, -1, C, (int64_t)sizeof bin);
    EXPECT_READ(p, "/bin", 0, -1, bin, (int)sizeof bin);
    Info bi = stat_path(p, "/bin");
    CHECK(bi.found && !bi.is_dir && bi.size == 6 && bi.mode == 0644 && bi.mtime > 0,
          "stat /bin: size=%lld mode=%o", (long long)bi.size, bi.mode);

    /* Creation flags. */
    EXPECT_WRITE(p, "/absent", "x", 1, -1, T, -2);
    CHECK(!stat_path(p, "/absent").found, "a refused write created the file");
    EXPECT_WRITE(p, "/absent", "x", 1, -1, PFS_WRITE_SYNC, -2);
    EXPECT_WRITE(p, "/excl", "first", 5, -1, C | X, 5);
    EXPECT_WRITE(p, "/excl", "second", 6, -1, C | X, -17);
    EXPECT_READ(p, "/excl", 0, -1, "first", 5);
    EXPECT_WRITE(p, "/no/parent", "x", 1, -1, 0, -2);
    EXPECT_WRITE(p, "/a.txt/child", "x", 1, -1, 0, -20);
    EXPECT_WRITE(p, "/", "x", 1, -1, 0, -21);
    EXPECT_WRITE(p, "/bad", NULL, 3, -1, 0, -22);

    /* FSCreate. */
    EXPECT_OK(p, A.Create(p, "/created"));
    CHECK(stat_path(p, "/created").size == 0, "created file is empty");
    EXPECT_ERR(p, A.Create(p, "/created"), "EEXIST");
    EXPECT_ERR(p, A.Create(p, "/missing/x"), "ENOENT");
    EXPECT_ERR(p, A.Create(p, "/"), "EEXIST");

    /* Directories. */
    EXPECT_OK(p, A.Mkdir(p, "/d", 0750));
    Info d = stat_path(p, "/d");
    CHECK(d.found && d.is_dir && d.mode == 0750 && d.size == 0 && strcmp(d.name, "d") == 0,
          "stat /d: dir=%d mode=%o name=%s", d.is_dir, d.mode, d.name);
    EXPECT_ERR(p, A.Mkdir(p, "/d", 0755), "EEXIST");
    EXPECT_ERR(p, A.Mkdir(p, "/a.txt", 0755), "EEXIST");
    EXPECT_ERR(p, A.Mkdir(p, "/no/such", 0755), "ENOENT");
    EXPECT_ERR(p, A.Mkdir(p, "/a.txt/sub", 0755), "ENOTDIR");
    EXPECT_OK(p, A.Mkdir(p, "/d/sub", 0100755)); /* type bits are dropped */
    CHECK(stat_path(p, "/d/sub").mode == 0755, "mkdir masks the mode");
    EXPECT_WRITE(p, "/d", "x", 1, -1, 0, -21);
    EXPECT_READ(p, "/d", 0, -1, "EISDIR", -1);
    EXPECT_READ(p, "/nothing", 0, -1, "ENOENT", -1);
    EXPECT_READ(p, "/a.txt/x", 0, -1, "ENOTDIR", -1);
    CHECK(list(p, "/a.txt", buf, sizeof buf) < 0, "listing a file fails");
    CHECK(list(p, "/nothing", buf, sizeof buf) < 0, "listing a missing path fails");
    CHECK(list(p, "/d/sub", buf, sizeof buf) == 0, "empty dir lists nothing");
    EXPECT_WRITE(p, "/d/sub/deep", "d", 1, -1, 0, 1);
    EXPECT_WRITE(p, "/d/b", "22", 2, -1, 0, 2);
    EXPECT_OK(p, A.Create(p, "/d/a"));
    CHECK(list(p, "/d", buf, sizeof buf) == 3 && strcmp(buf, "a,b,sub/") == 0, "list /d: %s",
          buf);
    CHECK(!stat_path(p, "/a.txt/x").found, "stat below a file");

    /* Rename. */
    EXPECT_ERR(p, A.Rename(p, "/d", "/d/sub/moved"), "EINVAL");
    EXPECT_OK(p, A.Rename(p, "/d", "/d")); /* the same path: nothing happens */
    EXPECT_ERR(p, A.Rename(p, "/ghost", "/ghost"), "ENOENT");
    EXPECT_OK(p, A.Rename(p, "/d", "/e"));
    CHECK(!stat_path(p, "/d").found && !stat_path(p, "/d/b").found, "old subtree gone");
    EXPECT_READ(p, "/e/sub/deep", 0, -1, "d", 1);
    EXPECT_READ(p, "/e/b", 0, -1, "22", 2);
    EXPECT_WRITE(p, "/old.txt", "old", 3, -1, 0, 3);
    EXPECT_WRITE(p, "/new.txt", "new", 3, -1, 0, 3);
    EXPECT_OK(p, A.Rename(p, "/new.txt", "/old.txt"));
    EXPECT_READ(p, "/old.txt", 0, -1, "new", 3);
    CHECK(!stat_path(p, "/new.txt").found, "renamed source gone");
    EXPECT_ERR(p, A.Rename(p, "/old.txt", "/e"), "EISDIR");
    EXPECT_ERR(p, A.Rename(p, "/e", "/old.txt"), "ENOTDIR");
    EXPECT_OK(p, A.Mkdir(p, "/full", 0755));
    EXPECT_OK(p, A.Create(p, "/full/x"));
    EXPECT_ERR(p, A.Rename(p, "/e", "/full"), "ENOTEMPTY");
    EXPECT_OK(p, A.Mkdir(p, "/empty", 0755));
    EXPECT_OK(p, A.Rename(p, "/full", "/empty")); /* an empty directory target is replaced */
    CHECK(stat_path(p, "/empty/x").found, "directory replaced its empty target");
    EXPECT_ERR(p, A.Rename(p, "/ghost", "/g2"), "ENOENT");
    EXPECT_ERR(p, A.Rename(p, "/old.txt", "/no/where"), "ENOENT");
    EXPECT_ERR(p, A.Rename(p, "/", "/x"), "EINVAL");
    EXPECT_OK(p, A.Rename(p, "/old.txt", "/e/sub/old.txt"));
    EXPECT_READ(p, "/e/sub/old.txt", 0, -1, "new", 3);

    /* Truncate. */
    EXPECT_WRITE(p, "/t", "abcdef", 6, -1, 0, 6);
    EXPECT_OK(p, A.Truncate(p, "/t", 2));
    EXPECT_READ(p, "/t", 0, -1, "ab", 2);
    EXPECT_OK(p, A.Truncate(p, "/t", 4));
    EXPECT_READ(p, "/t", 0, -1, "ab\0\0", 4);
    EXPECT_ERR(p, A.Truncate(p, "/nope", 1), "ENOENT");
    EXPECT_ERR(p, A.Truncate(p, "/e", 1), "EISDIR");
    EXPECT_ERR(p, A.Truncate(p, "/t", -1), "EINVAL");
    EXPECT_ERR(p, A.Truncate(p, "/t", (int64_t)1 << 40), "EFBIG");

    /* Chmod. */
    EXPECT_OK(p, A.Chmod(p, "/t", 0600));
    CHECK(stat_path(p, "/t").mode == 0600, "chmod 0600");
    EXPECT_OK(p, A.Chmod(p, "/t", 0104644));
    CHECK(stat_path(p, "/t").mode == 04644, "chmod keeps 07777 bits only");
    EXPECT_ERR(p, A.Chmod(p, "/nope", 0600), "ENOENT");

    /* Special names. */
    static const char* const specials[] = {"/a b.txt", "/hash#tag", "/100%", "/what?",
                                           "/this&that", "/plus+eq=", "/\xc3\xbcn\xc3\xaf \xe2\x9c\x93"};
    for (size_t i = 0; i < sizeof specials / sizeof *specials; i++) {
        const char* s = specials[i];
        int n = (int)strlen(s);
        EXPECT_WRITE(p, s, s, n, -1, 0, n);
        EXPECT_READ(p, s, 0, -1, s, n);
        CHECK(strcmp(stat_path(p, s).name, s + 1) == 0, "name of %s", s);
    }

    /* Removal. */
    EXPECT_ERR(p, A.Remove(p, "/e"), "ENOTEMPTY");
    EXPECT_ERR(p, A.Remove(p, "/"), "EACCES");
    EXPECT_ERR(p, A.Remove(p, "/ghost"), "ENOENT");
    EXPECT_OK(p, A.Remove(p, "/e/b"));
    EXPECT_OK(p, A.RemoveAll(p, "/e"));
    CHECK(!stat_path(p, "/e").found && !stat_path(p, "/e/sub/deep").found, "subtree removed");
    EXPECT_ERR(p, A.RemoveAll(p, "/e"), "ENOENT");
    EXPECT_OK(p, A.Mkdir(p, "/gone", 0755));
    EXPECT_OK(p, A.Remove(p, "/gone"));
    EXPECT_OK(p, A.Remove(p, "/t"));
    CHECK(list(p, "/", buf, sizeof buf) > 0, "root still has entries");
    EXPECT_OK(p, A.RemoveAll(p, "/"));
    CHECK(list(p, "/", buf, sizeof buf) == 0, "RemoveAll(/) empties the mount: %s", buf);
    CHECK(stat_path(p, "/").found, "root survives RemoveAll(/)");

    scenario_reconfigure(p);

    /* Leave something behind so Shutdown/PluginFree release a non-empty tree. */
    EXPECT_OK(p, A.Mkdir(p, "/left", 0755));
    EXPECT_WRITE(p, "/left/over", "x", 1, -1, 0, 1);
}

/* Two instances (two mounts) on two threads at once: state must be per instance. */
static void* concurrent_mount(void* arg)
{
    const char* tag = arg;
    void* p = A.New();
    CHECK(p != NULL, "PluginNew");
    if (!p) {
        return NULL;
    }
    EXPECT_OK(p, A.Initialize(p, "{\"mount_path\":\"/m\"}"));
    char data[64];
    char want[64];
    for (int i = 0; i < 300; i++) {
        int n = snprintf(data, sizeof data, "%s-%d", tag, i);
        EXPECT_WRITE(p, "/f", data, n, -1, 0, n);
        EXPECT_WRITE(p, "/log", data, n, -1, PFS_WRITE_APPEND | PFS_WRITE_CREATE, n);
        int len = 0;
        const char* r = A.Read(p, "/f", 0, -1, &len);
        int same = len == n && r && memcmp(r, data, (size_t)n) == 0;
        CHECK(same, "%s: read back %.*s", tag, len > 0 ? len : 0, r ? r : "");
        release(p, r, PFS_FREE_BYTES);
    }
    snprintf(want, sizeof want, "%s-299", tag);
    EXPECT_READ(p, "/f", 0, -1, want, (int)strlen(want));
    release(p, A.Shutdown(p), PFS_FREE_BYTES);
    A.Free(p);
    return NULL;
}

static void concurrency_memfs(void)
{
    pthread_t t1, t2;
    char a[] = "alpha", b[] = "beta";
    CHECK(pthread_create(&t1, NULL, concurrent_mount, a) == 0, "pthread_create");
    CHECK(pthread_create(&t2, NULL, concurrent_mount, b) == 0, "pthread_create");
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
}

/* ------------------------------------------------------------------------------------------- */
/* hellofs-c: the read-only v1 scenario                                                        */

static void scenario_hellofs(void* p)
{
    char buf[1024];
    static const char hello[] = "Hello from C plugin!\n";
    const int hlen = (int)sizeof hello - 1;

    CHECK(!A.PFree && !A.Truncate && !A.AbiVersion && !A.Reconfigure, "hellofs-c must be v1 only");
    Info root = stat_path(p, "/");
    CHECK(root.found && root.is_dir, "root is a directory");
    Info h = stat_path(p, "/hello");
    CHECK(h.found && !h.is_dir && h.size == hlen && h.mode == 0644, "stat /hello size=%lld",
          (long long)h.size);
    CHECK(strcmp(h.name, "hello") == 0, "name %s", h.name);
    CHECK(!stat_path(p, "/missing").found, "stat of a missing path is NULL");

    EXPECT_READ(p, "/hello", 0, -1, hello, hlen);
    EXPECT_READ(p, "/hello", 6, 4, "from", 4);
    EXPECT_READ(p, "/hello", 16, 100, "gin!\n", 5);
    EXPECT_READ(p, "/hello", 0, 0, "", 0);
    EXPECT_READ(p, "/hello", 100, -1, "", 0);
    EXPECT_READ(p, "/missing", 0, -1, "file not found", -1);
    EXPECT_READ(p, "/", 0, -1, "is a directory", -1);

    CHECK(list(p, "/", buf, sizeof buf) == 1 && strcmp(buf, "hello") == 0, "list /: %s", buf);
    CHECK(list(p, "/hello", buf, sizeof buf) < 0, "listing /hello fails");
    CHECK(list(p, "/missing", buf, sizeof buf) < 0, "listing a missing path fails");

    const char* ro = "read-only";
    EXPECT_ERR(p, A.Create(p, "/x"), ro);
    EXPECT_ERR(p, A.Mkdir(p, "/x", 0755), ro);
    EXPECT_ERR(p, A.Remove(p, "/hello"), ro);
    EXPECT_ERR(p, A.RemoveAll(p, "/"), ro);
    EXPECT_ERR(p, A.Rename(p, "/hello", "/bye"), ro);
    EXPECT_ERR(p, A.Chmod(p, "/hello", 0600), ro);
    EXPECT_WRITE(p, "/hello", "x", 1, -1, 0, -1);
    EXPECT_READ(p, "/hello", 0, -1, hello, hlen);
}

/* ------------------------------------------------------------------------------------------- */

int main(int argc, char** argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PLUGIN.so\n", argv[0]);
        return 2;
    }
    A.lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!A.lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    load_symbols();
    if (!A.New) {
        fprintf(stderr, "%s: PluginNew is missing\n", argv[1]);
        dlclose(A.lib);
        return 1;
    }
    /* Every FS symbol both scenarios call must be there. */
    CHECK(A.Free && A.Name && A.Validate && A.Initialize && A.Shutdown && A.GetReadme && A.Create &&
              A.Mkdir && A.Remove && A.RemoveAll && A.Read && A.Write && A.ReadDir && A.Stat &&
              A.Rename && A.Chmod,
          "every v1 symbol is exported");
    if (atomic_load(&failures)) {
        dlclose(A.lib);
        return 1;
    }

    /* The handshake, before any other call. */
    if (A.AbiVersion) {
        uint32_t v = A.AbiVersion();
        CHECK(v >> 16 == PFS_PLUGIN_ABI_MAJOR, "plugin ABI %u.%u, host supports %u", v >> 16,
              v & 0xffffu, PFS_PLUGIN_ABI_MAJOR);
    }

    /* The load-time probe: the name of a throw-away instance, released after that instance. */
    void* probe = A.New();
    CHECK(probe != NULL, "PluginNew (probe)");
    const char* name = A.Name(probe);
    char plugin_name[64];
    snprintf(plugin_name, sizeof plugin_name, "%s", name ? name : "");
    A.Free(probe);
    release(NULL, name, PFS_FREE_BYTES);
    printf("plugin %s (%s)\n", plugin_name,
           A.PFree ? "frees through PFSFree" : "v1: returned memory is never freed");

    /* One mount. */
    void* p = A.New();
    CHECK(p != NULL, "PluginNew");
    if (p) {
        const char* n2 = A.Name(p);
        CHECK(n2 && strcmp(n2, plugin_name) == 0, "stable name");
        release(p, n2, PFS_FREE_BYTES);
        const char* cfg = "{\"mount_path\":\"/mnt\",\"greeting\":\"hi\"}";
        EXPECT_OK(p, A.Validate(p, cfg));
        EXPECT_OK(p, A.Initialize(p, cfg));
        const char* readme = A.GetReadme(p);
        CHECK(readme && readme[0] == '#', "README is Markdown");
        release(p, readme, PFS_FREE_BYTES);

        if (strcmp(plugin_name, "memfs-c") == 0) {
            EXPECT_ERR(p, A.Validate(p, "[1,2]"), "EINVAL");
            scenario_memfs(p);
        } else if (strcmp(plugin_name, "hellofs-c") == 0) {
            scenario_hellofs(p);
        } else {
            CHECK(0, "no scenario for plugin %s", plugin_name);
        }

        release(p, A.Shutdown(p), PFS_FREE_BYTES);
        A.Free(p);
    }
    if (strcmp(plugin_name, "memfs-c") == 0) {
        concurrency_memfs();
    }

    dlclose(A.lib);
    int f = atomic_load(&failures);
    printf("%s: %s (%d failure%s)\n", plugin_name, f ? "FAILED" : "ok", f, f == 1 ? "" : "s");
    return f ? 1 : 0;
}
