/*
 * config.c — reads memfs-c's one config key, max_file_size, from a JSON object text.
 *
 * Not a JSON library: it walks the text just far enough to find the top-level members and to skip
 * any value (strings with escapes, numbers, literals, nested objects and arrays up to a fixed
 * depth), so that a key inside a nested object or a string is never mistaken for the real one.
 * The host sends compact, valid JSON (serde_json's); anything this walk cannot follow is refused
 * as "not a JSON object" rather than guessed at.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */

#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KEY "max_file_size"
#define MAX_DEPTH 64

static const char* skip_ws(const char* s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
        s++;
    }
    return s;
}

/* `s` at an opening quote: returns the position after the closing one, or NULL. */
static const char* skip_string(const char* s)
{
    for (s++; *s != '"'; s++) {
        if (*s == '\0') {
            return NULL;
        }
        if (*s == '\\' && *++s == '\0') {
            return NULL;
        }
    }
    return s + 1;
}

/* Skips one value; returns the position after it, or NULL when it cannot be followed. */
static const char* skip_value(const char* s, int depth)
{
    s = skip_ws(s);
    if (*s == '"') {
        return skip_string(s);
    }
    if (*s == '{' || *s == '[') {
        const char close = *s == '{' ? '}' : ']';
        if (depth >= MAX_DEPTH) {
            return NULL;
        }
        s = skip_ws(s + 1);
        if (*s == close) {
            return s + 1;
        }
        for (;;) {
            if (close == '}') {
                s = *s == '"' ? skip_string(s) : NULL;
                s = s ? skip_ws(s) : NULL;
                if (!s || *s != ':') {
                    return NULL;
                }
                s++;
            }
            s = skip_value(s, depth + 1);
            if (!s) {
                return NULL;
            }
            s = skip_ws(s);
            if (*s == close) {
                return s + 1;
            }
            if (*s != ',') {
                return NULL;
            }
            s = skip_ws(s + 1);
        }
    }
    /* A number or a literal: up to the next delimiter. */
    const char* start = s;
    while (*s != '\0' && !strchr(",}] \t\r\n", *s)) {
        s++;
    }
    return s > start ? s : NULL;
}

/* Finds the last top-level member named KEY of the object `json`: 0 (the value's span in
 * start and end, both NULL when absent) or EINVAL when `json` is not an object this walk follows. */
static int find_key(const char* json, const char** start, const char** end)
{
    *start = *end = NULL;
    const char* s = skip_ws(json);
    if (*s != '{') {
        return EINVAL;
    }
    s = skip_ws(s + 1);
    if (*s == '}') {
        return *skip_ws(s + 1) == '\0' ? 0 : EINVAL;
    }
    for (;;) {
        if (*s != '"') {
            return EINVAL;
        }
        const char* key = s + 1;
        s = skip_string(s);
        if (!s) {
            return EINVAL;
        }
        size_t key_len = (size_t)(s - 1 - key);
        s = skip_ws(s);
        if (*s != ':') {
            return EINVAL;
        }
        const char* value = skip_ws(s + 1);
        s = skip_value(value, 1);
        if (!s) {
            return EINVAL;
        }
        if (key_len == strlen(KEY) && memcmp(key, KEY, key_len) == 0) {
            *start = value;
            *end = s;
        }
        s = skip_ws(s);
        if (*s == '}') {
            return *skip_ws(s + 1) == '\0' ? 0 : EINVAL;
        }
        if (*s != ',') {
            return EINVAL;
        }
        s = skip_ws(s + 1);
    }
}

int memfs_config_read(const char* json, MemfsConfig* out, const char** why)
{
    memset(out, 0, sizeof *out);
    out->max_file_size = MEMFS_MAX_FILE_SIZE;
    if (!json || *skip_ws(json) == '\0') {
        return 0; /* no config at all: the defaults */
    }
    if (find_key(json, &out->value_start, &out->value_end) != 0) {
        *why = "invalid config (expected a JSON object)";
        return EINVAL;
    }
    if (!out->value_start) {
        return 0;
    }
    /* Digits only: no sign, fraction, exponent or quotes. Past the largest size, clamped. */
    uint64_t n = 0;
    for (const char* p = out->value_start; p < out->value_end; p++) {
        if (*p < '0' || *p > '9') {
            *why = "invalid config: max_file_size must be a whole number of bytes (a JSON number "
                   "such as 1048576)";
            return EINVAL;
        }
        if (n <= MEMFS_MAX_FILE_SIZE) {
            n = n * 10 + (uint64_t)(*p - '0');
        }
    }
    if (n > MEMFS_MAX_FILE_SIZE) {
        n = MEMFS_MAX_FILE_SIZE;
        out->clamped = 1;
    }
    out->max_file_size = n;
    return 0;
}

char* memfs_config_applied(const char* json, const MemfsConfig* cfg)
{
    if (!cfg->value_start) {
        return strdup(json);
    }
    char digits[24];
    size_t dlen = 0;
    uint64_t v = cfg->max_file_size;
    do {
        digits[dlen++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    size_t head = (size_t)(cfg->value_start - json);
    size_t tail = strlen(cfg->value_end);
    char* out = malloc(head + dlen + tail + 1);
    if (!out) {
        return NULL;
    }
    memcpy(out, json, head);
    for (size_t i = 0; i < dlen; i++) {
        out[head + i] = digits[dlen - 1 - i];
    }
    memcpy(out + head + dlen, cfg->value_end, tail + 1);
    return out;
}
