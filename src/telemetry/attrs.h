/* attrs: a typed attribute list (string, int64, double, bool, and homogeneous
 * arrays of these) for spans, events, log records and the resource, and its
 * serialization to the spool's attribute JSON: one flat object, integers as
 * JSON integers, doubles always with '.' or an exponent, booleans, arrays.
 *
 * A list keeps its memory across attrs_reset, so a collector that reuses its
 * lists allocates nothing per request once warm. Setting a key that is
 * already there replaces its value in place (order is first insertion).
 *
 * Bounds: at most max_count attributes (default 128; more are dropped and
 * counted), string values cut to max_value_len bytes (default 4096) at a
 * UTF-8 character boundary, arrays to ATTRS_MAX_ARRAY elements, keys to
 * ATTRS_MAX_KEY bytes, and ATTRS_MAX_ARENA bytes of text per list.
 *
 * JSON text is always valid: '"', '\\' and control characters are escaped,
 * bytes that are not well-formed UTF-8 (and NUL, which jansson rejects by
 * default) become U+FFFD. Non-finite doubles are stored as the strings
 * "NaN", "Infinity" and "-Infinity" (the proto3 JSON spelling); an array
 * holding one is dropped. */
#ifndef CRUDDUR_TELEMETRY_ATTRS_H
#define CRUDDUR_TELEMETRY_ATTRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/buf.h"

#define ATTRS_DEFAULT_MAX_COUNT 128
#define ATTRS_DEFAULT_MAX_VALUE_LEN 4096
#define ATTRS_MAX_ARRAY 1024
#define ATTRS_MAX_KEY 256
#define ATTRS_MAX_ARENA (1u << 20)

typedef enum attrs_type {
    ATTRS_STRING,
    ATTRS_INT,
    ATTRS_DOUBLE,
    ATTRS_BOOL,
    ATTRS_STRING_ARRAY,
    ATTRS_INT_ARRAY,
    ATTRS_DOUBLE_ARRAY,
    ATTRS_BOOL_ARRAY,
} attrs_type;

/* One attribute. Fields are private to attrs.c except through attrs_get_*. */
typedef struct attrs_entry {
    uint32_t key_off, key_len;   /* in the arena */
    uint32_t val_off, val_len;   /* strings: bytes; arrays: element count */
    attrs_type type;
    union {
        int64_t i;
        double d;
        bool b;
    } v;
} attrs_entry;

typedef struct attrs {
    attrs_entry *e;
    size_t n, cap;
    buf_t arena;           /* keys, string values, array data */
    size_t max_count;
    size_t max_value_len;
    size_t dropped;        /* attributes refused since the last reset */
} attrs_t;

/* max_count / max_value_len 0 mean the defaults. No allocation. */
void attrs_init(attrs_t *a, size_t max_count, size_t max_value_len);
/* Empties the list, keeping its memory. */
void attrs_reset(attrs_t *a);
void attrs_free(attrs_t *a);

/* Setters return 0 when stored, 1 when dropped by a bound (or an empty key,
 * or a NULL value), -1 on allocation failure (the list is unchanged).
 * Strings are copied; a NULL string is dropped. */
int attrs_set_str(attrs_t *a, const char *key, const char *value);
int attrs_set_strn(attrs_t *a, const char *key, const char *value, size_t len);
int attrs_set_int(attrs_t *a, const char *key, int64_t value);
int attrs_set_double(attrs_t *a, const char *key, double value);
int attrs_set_bool(attrs_t *a, const char *key, bool value);
int attrs_set_str_array(attrs_t *a, const char *key, const char *const *values, size_t n);
int attrs_set_int_array(attrs_t *a, const char *key, const int64_t *values, size_t n);
int attrs_set_double_array(attrs_t *a, const char *key, const double *values, size_t n);
int attrs_set_bool_array(attrs_t *a, const char *key, const bool *values, size_t n);

size_t attrs_count(const attrs_t *a);
size_t attrs_dropped(const attrs_t *a);

/* Lookups (for tests and for code that reads back what it set). */
const attrs_entry *attrs_find(const attrs_t *a, const char *key);
/* The string of an ATTRS_STRING entry (NUL-terminated, valid until the next
 * change to the list) and its length. */
const char *attrs_get_str(const attrs_t *a, const attrs_entry *e, size_t *len);

/* Appends the list as a JSON object ("{}" when empty). 0 or -1. */
int attrs_to_json(const attrs_t *a, buf_t *out);

/* JSON building blocks shared by the telemetry modules. */
/* Appends s[0..len) as a quoted, escaped JSON string. 0 or -1. */
int attrs_json_string(buf_t *out, const char *s, size_t len);
/* Same for a NUL-terminated string; NULL appends null. */
int attrs_json_cstr(buf_t *out, const char *s);
/* A finite double in its shortest round-trip form, always with '.' or an
 * exponent ("1.0", "0.25", "1e+300"); a non-finite one as null. 0 or -1. */
int attrs_json_double(buf_t *out, double d);

/* Length of the longest prefix of s[0..len) that is at most max bytes and
 * does not end inside a UTF-8 sequence. */
size_t attrs_utf8_cut(const char *s, size_t len, size_t max);

#endif
