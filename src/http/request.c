/* request: turns the CGI/FastCGI parameters the web server hands over into
 * an http_request (method, decoded path, query, headers), rejecting malformed
 * request lines before anything is routed. Also the percent-decoding and
 * query-string helpers the handlers use. */
#include "http/request.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/utf8.h"

/* Longest header name looked up or reported; longer ones are not headers we
 * care about. */
#define HEADER_NAME_MAX 256

static const struct {
    const char *name;
    http_method method;
} methods[] = {
    {"GET", HTTP_GET},       {"HEAD", HTTP_HEAD},     {"POST", HTTP_POST},
    {"OPTIONS", HTTP_OPTIONS}, {"PUT", HTTP_PUT},     {"DELETE", HTTP_DELETE},
    {"PATCH", HTTP_PATCH},
};

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes into dst (room for len bytes). Returns the decoded length, or -1
 * on a bad escape or a NUL byte (encoded or not). */
static long pct_decode_into(const char *in, size_t len, bool plus_is_space, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%') {
            if (len - i < 3)
                return -1;
            int hi = hexval((unsigned char)in[i + 1]), lo = hexval((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == '\0')
            return -1;
        dst[o++] = (char)c;
    }
    return (long)o;
}

int http_pct_decode(const char *in, size_t len, bool plus_is_space, char **out, size_t *out_len)
{
    *out = NULL;
    if (len > LONG_MAX - 1)
        return -1;
    char *dst = malloc(len + 1);
    if (dst == NULL)
        return -1;
    long n = pct_decode_into(in, len, plus_is_space, dst);
    if (n < 0) {
        free(dst);
        return -1;
    }
    dst[n] = '\0';
    *out = dst;
    if (out_len != NULL)
        *out_len = (size_t)n;
    return 0;
}

/* Value of "name=value" in env, or NULL. */
static const char *env_get(char **env, const char *name)
{
    if (env == NULL)
        return NULL;
    size_t n = strlen(name);
    for (char **e = env; *e != NULL; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    }
    return NULL;
}

const char *http_request_param(const http_request *r, const char *name)
{
    return env_get(r->env, name);
}

/* A port number, or 0 if absent or not one. */
static int parse_port(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (*p - '0');
        if (v > 65535)
            return 0;
    }
    return (int)v;
}

/* Rejects "." and ".." segments: the path must name what it says. */
static bool has_dot_segment(const char *path)
{
    const char *p = path;
    while (*p) {
        if (*p == '/') {
            p++;
            continue;
        }
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return true;
        p += n;
    }
    return false;
}

/* An absolute-form target ("http://host/path?q") keeps only its path. */
static const char *skip_authority(const char *uri)
{
    const char *p = NULL;
    if (strncasecmp(uri, "http://", 7) == 0)
        p = uri + 7;
    else if (strncasecmp(uri, "https://", 8) == 0)
        p = uri + 8;
    if (p == NULL)
        return uri;
    return p + strcspn(p, "/?");
}

/* Builds raw_uri, raw_path and query. raw_uri is allocated as
 * "<uri>\0<path part>\0" so that raw_uri stays as sent and raw_path is a
 * string of its own. Returns 0 or 500. */
static int set_uri(http_request *r, const char *uri, size_t uri_len, const char *qs)
{
    size_t qs_len = qs ? strlen(qs) : 0;
    size_t full = uri_len + (qs_len ? 1 + qs_len : 0);
    char *mem = malloc(2 * full + 2);
    if (mem == NULL)
        return 500;
    memcpy(mem, uri, uri_len);
    if (qs_len) {
        mem[uri_len] = '?';
        memcpy(mem + uri_len + 1, qs, qs_len);
    }
    mem[full] = '\0';
    const char *target = skip_authority(mem);
    const char *q = strchr(target, '?');
    size_t path_len = q ? (size_t)(q - target) : strlen(target);
    char *path = mem + full + 1;
    memcpy(path, target, path_len);
    path[path_len] = '\0';
    r->raw_uri = mem;
    r->raw_path = path;
    r->query = q ? q + 1 : "";
    return 0;
}

int http_request_init(http_request *r, char **env)
{
    memset(r, 0, sizeof *r);
    r->env = env;
    r->method_name = "";
    r->raw_path = "";
    r->query = "";
    r->scheme = "http";
    r->server_name = "";
    r->remote_addr = "";
    r->content_length = -1;

    const char *m = env_get(env, "REQUEST_METHOD");
    if (m != NULL) {
        r->method_name = m;
        for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
            if (strcmp(m, methods[i].name) == 0) {
                r->method = methods[i].method;
                break;
            }
        }
    }

    const char *s = env_get(env, "REQUEST_SCHEME");
    if (s != NULL && *s != '\0') {
        r->scheme = strcasecmp(s, "https") == 0 ? "https" : "http";
    } else {
        s = env_get(env, "HTTPS");
        if (s != NULL && (strcasecmp(s, "on") == 0 || strcmp(s, "1") == 0))
            r->scheme = "https";
    }
    if ((s = env_get(env, "SERVER_NAME")) != NULL)
        r->server_name = s;
    r->server_port = parse_port(env_get(env, "SERVER_PORT"));
    if ((s = env_get(env, "REMOTE_ADDR")) != NULL)
        r->remote_addr = s;
    r->remote_port = parse_port(env_get(env, "REMOTE_PORT"));

    /* Web servers pass an empty CONTENT_TYPE/CONTENT_LENGTH for "absent". */
    s = env_get(env, "CONTENT_TYPE");
    r->content_type = (s != NULL && *s != '\0') ? s : NULL;
    s = env_get(env, "CONTENT_LENGTH");
    if (s != NULL && *s != '\0') {
        long long v = 0;
        for (const char *p = s; *p; p++) {
            if (*p < '0' || *p > '9')
                return 400;
            if (v > (LLONG_MAX - 9) / 10)
                return 400;
            v = v * 10 + (*p - '0');
        }
        r->content_length = v;
    }

    const char *uri = env_get(env, "REQUEST_URI");
    bool decoded_already = false;
    int rc;
    if (uri != NULL) {
        size_t n = strlen(uri);
        if (n > HTTP_MAX_URI)
            return 414;
        rc = set_uri(r, uri, n, NULL);
    } else {
        /* Plain CGI without REQUEST_URI: SCRIPT_NAME and PATH_INFO arrive
         * decoded already (RFC 3875), so they are not decoded again. */
        const char *sn = env_get(env, "SCRIPT_NAME");
        const char *pi = env_get(env, "PATH_INFO");
        const char *qs = env_get(env, "QUERY_STRING");
        size_t sn_len = sn ? strlen(sn) : 0, pi_len = pi ? strlen(pi) : 0;
        size_t qs_len = qs ? strlen(qs) : 0;
        if (sn_len + pi_len + qs_len + 1 > HTTP_MAX_URI)
            return 414;
        char tmp[HTTP_MAX_URI + 1];
        if (sn_len)
            memcpy(tmp, sn, sn_len);
        if (pi_len)
            memcpy(tmp + sn_len, pi, pi_len);
        tmp[sn_len + pi_len] = '\0';
        if (strchr(tmp, '?') != NULL)
            return 400;   /* would split wrongly; cannot come from a real request */
        rc = set_uri(r, tmp, sn_len + pi_len, qs);
        decoded_already = true;
    }
    if (rc != 0)
        return rc;

    if (r->raw_path[0] != '/')
        return 400;
    size_t plen = strlen(r->raw_path);
    char *path = malloc(plen + 1);
    if (path == NULL)
        return 500;
    if (decoded_already) {
        memcpy(path, r->raw_path, plen + 1);
    } else {
        long n = pct_decode_into(r->raw_path, plen, false, path);
        if (n < 0) {
            free(path);
            return 400;
        }
        path[n] = '\0';
    }
    /* Paths end up in JSON (telemetry, error reports): keep them UTF-8. */
    if (has_dot_segment(path) || !utf8_valid(path, strlen(path))) {
        free(path);
        return 400;
    }
    r->path = path;
    return 0;
}

void http_request_free(http_request *r)
{
    free(r->path);
    free(r->raw_uri);
    free(r->body);
    r->path = NULL;
    r->raw_uri = NULL;
    r->body = NULL;
    r->body_len = 0;
    r->raw_path = "";
    r->query = "";
}

void http_request_set_body(http_request *r, char *body, size_t len)
{
    free(r->body);
    r->body = body;
    r->body_len = len;
}

const char *http_request_header(const http_request *r, const char *name)
{
    char key[5 + HEADER_NAME_MAX + 1];
    size_t n = strlen(name);
    if (n == 0 || n > HEADER_NAME_MAX)
        return NULL;
    const char *v;
    if (strcasecmp(name, "Content-Type") == 0 || strcasecmp(name, "Content-Length") == 0) {
        v = env_get(r->env, tolower((unsigned char)name[8]) == 't' ? "CONTENT_TYPE"
                                                                   : "CONTENT_LENGTH");
        return (v != NULL && *v != '\0') ? v : NULL;
    }
    memcpy(key, "HTTP_", 5);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '=')
            return NULL;
        key[5 + i] = c == '-' ? '_' : (char)toupper(c);
    }
    key[5 + n] = '\0';
    return env_get(r->env, key);
}

int http_request_each_header(const http_request *r, http_header_fn fn, void *arg)
{
    if (r->env == NULL)
        return 0;
    char name[HEADER_NAME_MAX + 1];
    for (char **e = r->env; *e != NULL; e++) {
        const char *entry = *e, *src;
        const char *eq = strchr(entry, '=');
        if (eq == NULL)
            continue;
        if (strncmp(entry, "HTTP_", 5) == 0) {
            src = entry + 5;
        } else if (strncmp(entry, "CONTENT_TYPE=", 13) == 0 ||
                   strncmp(entry, "CONTENT_LENGTH=", 15) == 0) {
            if (eq[1] == '\0')
                continue;
            src = entry;
        } else {
            continue;
        }
        size_t n = (size_t)(eq - src);
        if (n == 0 || n > HEADER_NAME_MAX)
            continue;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)src[i];
            name[i] = c == '_' ? '-' : (char)tolower(c);
        }
        name[n] = '\0';
        int rc = fn(arg, name, eq + 1);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Compares the encoded key k[0..klen) with name after decoding, without
 * allocating. A key with a bad escape matches nothing. */
static bool key_equals(const char *k, size_t klen, const char *name)
{
    size_t j = 0;
    for (size_t i = 0; i < klen; i++) {
        int c = (unsigned char)k[i];
        if (c == '%') {
            if (klen - i < 3)
                return false;
            int hi = hexval((unsigned char)k[i + 1]), lo = hexval((unsigned char)k[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = hi << 4 | lo;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == '\0' || name[j] == '\0' || (unsigned char)name[j] != c)
            return false;
        j++;
    }
    return name[j] == '\0';
}

int http_query_get(const char *query, const char *name, char **out)
{
    *out = NULL;
    if (query == NULL || name == NULL)
        return 1;
    const char *p = query;
    while (*p) {
        size_t n = strcspn(p, "&");
        if (n > 0) {
            const char *eq = memchr(p, '=', n);
            size_t klen = eq ? (size_t)(eq - p) : n;
            if (key_equals(p, klen, name)) {
                const char *v = eq ? eq + 1 : p + n;
                size_t vlen = (size_t)(p + n - v);
                return http_pct_decode(v, vlen, true, out, NULL) == 0 ? 0 : -1;
            }
        }
        p += n;
        if (*p == '&')
            p++;
    }
    return 1;
}

bool http_is_json_type(const char *ct)
{
    if (ct == NULL)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, "application/", 12) != 0)
        return false;
    const char *sub = ct + 12;
    size_t n = strcspn(sub, "; \t");
    const char *rest = sub + n;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (*rest != '\0' && *rest != ';')
        return false;
    if (n == 4 && strncasecmp(sub, "json", 4) == 0)
        return true;
    return n > 5 && strncasecmp(sub + n - 5, "+json", 5) == 0;
}
