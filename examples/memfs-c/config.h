/*
 * config.h — memfs-c's config: one key, max_file_size, read from the JSON object text the host
 * passes to PluginValidate, PluginInitialize and PFSReconfigure. Internal to the plugin: nothing
 * here is exported from memfs-c.so.
 */
#ifndef MEMFS_C_CONFIG_H
#define MEMFS_C_CONFIG_H

#include <stdint.h>

#if defined(__GNUC__)
#define MEMFS_INTERNAL __attribute__((visibility("hidden")))
#else
#define MEMFS_INTERNAL
#endif

/* The largest max_file_size: FSRead reports lengths in a 32-bit int, so no file can be larger. */
#define MEMFS_MAX_FILE_SIZE ((uint64_t)2147483647)

typedef struct {
    uint64_t max_file_size; /* in force: at most MEMFS_MAX_FILE_SIZE */
    int clamped;            /* the config asked for more than MEMFS_MAX_FILE_SIZE */
    /* Where the value is in the text (both NULL when the key is absent), to rewrite it. */
    const char* value_start;
    const char* value_end;
} MemfsConfig;

/* Reads `json` (NULL or a JSON object text). 0 with *out filled; or EINVAL with *why set to a
 * static reason (not a JSON object; max_file_size not a whole number of bytes). An absent key
 * means MEMFS_MAX_FILE_SIZE. Other keys are ignored. */
MEMFS_INTERNAL int memfs_config_read(const char* json, MemfsConfig* out, const char** why);

/* A malloc'd copy of `json` (the text `cfg` was read from) with max_file_size's value replaced by
 * cfg->max_file_size: the config as applied. NULL when out of memory. */
MEMFS_INTERNAL char* memfs_config_applied(const char* json, const MemfsConfig* cfg);

#endif /* MEMFS_C_CONFIG_H */
