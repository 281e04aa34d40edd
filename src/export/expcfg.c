/* expcfg: env files, OTLP header lists and endpoint URLs for
 * cruddur-export. See expcfg.h. */
#include "export/expcfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_LEN 8192

static void put_err(char *err, size_t size, const char *msg, const char *path, int line)
{
    if (err == NULL || size == 0)
        return;
    if (line > 0)
        snprintf(err, size, "%s:%d: %s", path, line, msg);
    else
        snprintf(err, size, "%s: %s", path, msg);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

static int valid_name(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return 0;
    return 1;
}

int expcfg_load_env_file(const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        put_err(err, err_size, strerror(errno), path, 0);
        return -1;
    }
    char *line = malloc(LINE_MAX_LEN);
    if (line == NULL) {
        fclose(f);
        put_err(err, err_size, "out of memory", path, 0);
        return -1;
    }
    int n_set = 0, lineno = 0, rc = 0;
    while (fgets(line, LINE_MAX_LEN, f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            put_err(err, err_size, "line too long", path, lineno);
            rc = -1;
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        if (strncmp(s, "export ", 7) == 0)
            s = trim(s + 7);
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            put_err(err, err_size, "expected NAME=VALUE", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        if (!valid_name(name)) {
            put_err(err, err_size, "not a variable name", path, lineno);
            rc = -1;
            break;
        }
        size_t vl = strlen(value);
        if (vl >= 2 && (value[0] == '"' || value[0] == '\'') && value[vl - 1] == value[0]) {
            value[vl - 1] = '\0';
            value++;
        } else if (vl > 0 && (value[0] == '"' || value[0] == '\'')) {
            put_err(err, err_size, "unterminated quote", path, lineno);
            rc = -1;
            break;
        }
        if (getenv(name) != NULL)
            continue;
        if (setenv(name, value, 0) != 0) {
            put_err(err, err_size, strerror(errno), path, lineno);
            rc = -1;
            break;
        }
        n_set++;
    }
    if (rc == 0 && ferror(f)) {
        put_err(err, err_size, "read error", path, 0);
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc == 0 ? n_set : -1;
}

/* ---- headers ------------------------------------------------------------- */

/* Header values can be secrets (API keys, session tokens): wiped before
 * they are freed. */
static void free_header(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static size_t name_len(const char *hdr)
{
    const char *c = strchr(hdr, ':');
    return c ? (size_t)(c - hdr) : strlen(hdr);
}

int expcfg_headers_set(expcfg_headers *h, const char *name, const char *value)
{
    size_t nl = strlen(name);
    size_t len = nl + 2 + strlen(value) + 1;
    char *s = malloc(len);
    if (s == NULL)
        return -1;
    snprintf(s, len, "%s: %s", name, value);
    for (size_t i = 0; i < h->n; i++) {
        if (name_len(h->v[i]) == nl && strncasecmp(h->v[i], name, nl) == 0) {
            free_header(h->v[i]);
            h->v[i] = s;
            return 0;
        }
    }
    if (h->n + 1 >= h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        char **v = realloc(h->v, cap * sizeof *v);
        if (v == NULL) {
            free(s);
            return -1;
        }
        h->v = v;
        h->cap = cap;
    }
    h->v[h->n++] = s;
    h->v[h->n] = NULL;
    return 0;
}

int expcfg_headers_remove(expcfg_headers *h, const char *name)
{
    size_t nl = strlen(name), out = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (name_len(h->v[i]) == nl && strncasecmp(h->v[i], name, nl) == 0)
            free_header(h->v[i]);
        else
            h->v[out++] = h->v[i];
    }
    int removed = out < h->n;
    h->n = out;
    if (h->v != NULL)
        h->v[h->n] = NULL;
    return removed;
}

const char *expcfg_headers_get(const expcfg_headers *h, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < h->n; i++)
        if (name_len(h->v[i]) == nl && strncasecmp(h->v[i], name, nl) == 0)
            return h->v[i] + nl + 2;
    return NULL;
}

void expcfg_headers_free(expcfg_headers *h)
{
    for (size_t i = 0; i < h->n; i++)
        free_header(h->v[i]);
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s in place. 0, or -1 on a bad escape or a control character. */
static int pct_decode(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '%') {
            int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
            if (hi < 0 || lo < 0)
                return -1;
            *w = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w = *r;
        }
        if ((unsigned char)*w < 0x20 || *w == 0x7f)
            return -1;
        w++;
    }
    *w = '\0';
    return 0;
}

static int token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

int expcfg_headers_parse(expcfg_headers *h, const char *spec, char *err, size_t err_size)
{
    if (spec == NULL || *spec == '\0')
        return 0;
    char *copy = strdup(spec);
    if (copy == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    /* Check everything first, so that a bad list adds nothing. */
    expcfg_headers tmp = EXPCFG_HEADERS_INIT;
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item != NULL && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (trim(item)[0] == '\0')
            continue;
        if (eq == NULL) {
            snprintf(err, err_size, "header entry without '=': %.60s", trim(item));
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(item), *value = trim(eq + 1);
        int ok = *key != '\0';
        for (const char *k = key; ok && *k; k++)
            ok = token_char((unsigned char)*k);
        if (!ok) {
            snprintf(err, err_size, "bad header name: %.60s", key);
            rc = -1;
        } else if (pct_decode(value) != 0) {
            snprintf(err, err_size, "bad value for header %.60s (percent-escape or control character)",
                     key);
            rc = -1;
        } else if (expcfg_headers_set(&tmp, key, value) != 0) {
            snprintf(err, err_size, "out of memory");
            rc = -1;
        }
    }
    for (size_t i = 0; rc == 0 && i < tmp.n; i++) {
        size_t nl = name_len(tmp.v[i]);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(nl < 255 ? nl : 255), tmp.v[i]);
        if (expcfg_headers_set(h, name, tmp.v[i] + nl + 2) != 0) {
            snprintf(err, err_size, "out of memory");
            rc = -1;
        }
    }
    expcfg_headers_free(&tmp);
    free(copy);
    return rc;
}

char *expcfg_join_url(const char *base, const char *path)
{
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    while (*path == '/')
        path++;
    size_t len = bl + 1 + strlen(path) + 1;
    char *u = malloc(len);
    if (u != NULL)
        snprintf(u, len, "%.*s/%s", (int)bl, base, path);
    return u;
}
