/* expcfg: the exporters' configuration plumbing: env files (cron runs
 * programs with an almost empty environment), OTLP header lists in the
 * OTEL_EXPORTER_OTLP_HEADERS form ("key=value,key2=value2", percent-encoded
 * values), and signal URLs built from a base endpoint. Used by
 * cruddur-export.c before the delivery engine (export.c) starts. */
#ifndef CRUDDUR_EXPORT_EXPCFG_H
#define CRUDDUR_EXPORT_EXPCFG_H

#include <stddef.h>

/* Reads NAME=VALUE lines from path ("export " prefix, blank lines and
 * '#' comments allowed; a value may be in single or double quotes) and sets
 * each variable that the environment does not already have: what the
 * caller's environment says wins. Returns the number of variables set, or
 * -1 with a message in err (unreadable file, or a malformed line: line
 * number given). */
int expcfg_load_env_file(const char *path, char *err, size_t err_size);

/* A list of HTTP headers as "Name: value" strings, NULL-terminated (v[n] is
 * NULL), ready for httpc_post. Owns its strings. */
typedef struct expcfg_headers {
    char **v;
    size_t n, cap;
} expcfg_headers;

#define EXPCFG_HEADERS_INIT {NULL, 0, 0}

/* Adds or replaces (names compare without case) a header. 0 or -1. */
int expcfg_headers_set(expcfg_headers *h, const char *name, const char *value);
/* Removes a header (names compare without case): 1, or 0 when absent. */
int expcfg_headers_remove(expcfg_headers *h, const char *name);
/* The value of a header, or NULL. */
const char *expcfg_headers_get(const expcfg_headers *h, const char *name);
/* Adds the "k=v,k2=v2" list (keys and values trimmed, values
 * percent-decoded), replacing headers of the same name. 0, or -1 with a
 * message (entry without '=', empty key, bad escape, a control character;
 * nothing added then). */
int expcfg_headers_parse(expcfg_headers *h, const char *spec, char *err, size_t err_size);
void expcfg_headers_free(expcfg_headers *h);

/* base + "/" + path with exactly one slash between them (malloc'd, NULL on
 * allocation failure). */
char *expcfg_join_url(const char *base, const char *path);

#endif
