/* redact: header and query-parameter scrubbing applied before anything about
 * a request is written to the spool (span attributes, access log, error
 * reports). */
#include "telemetry/redact.h"

#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 128    /* longer configured names are ignored */
#define DECODE_MAX 512      /* longer parameter names are redacted outright */

static const char *const default_headers[] = {
    "authorization", "cookie", "set-cookie", "proxy-authorization",
    "x-api-key", "x-honeycomb-team", "x-rollbar-access-token",
};
static const char *const default_query[] = {"token", "password", "secret", "key", "auth"};

struct redact {
    char **headers;   /* lowercase, '_' folded to '-' */
    size_t n_headers;
    char **query;     /* lowercase substrings */
    size_t n_query;
};

static unsigned char fold(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return (unsigned char)(c - 'A' + 'a');
    if (c == '_')
        return '-';
    return c;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static int push(char ***arr, size_t *n, const char *s, size_t len, bool fold_dash)
{
    char **a = realloc(*arr, (*n + 1) * sizeof *a);
    if (a == NULL)
        return -1;
    *arr = a;
    char *c = malloc(len + 1);
    if (c == NULL)
        return -1;
    for (size_t i = 0; i < len; i++)
        c[i] = (char)(fold_dash ? fold((unsigned char)s[i]) : lower((unsigned char)s[i]));
    c[len] = '\0';
    a[(*n)++] = c;
    return 0;
}

static int push_list(char ***arr, size_t *n, const char *list, bool fold_dash)
{
    if (list == NULL)
        return 0;
    const char *s = list;
    for (;;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        while (len > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            len--;
        }
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len > 0 && len <= NAME_MAX_LEN && push(arr, n, s, len, fold_dash) != 0)
            return -1;
        if (end == NULL)
            return 0;
        s = end + 1;
    }
}

redact_t *redact_new(const char *extra_headers, const char *extra_query)
{
    redact_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof default_headers / sizeof default_headers[0]; i++)
        if (push(&r->headers, &r->n_headers, default_headers[i], strlen(default_headers[i]), true) != 0)
            goto fail;
    for (size_t i = 0; i < sizeof default_query / sizeof default_query[0]; i++)
        if (push(&r->query, &r->n_query, default_query[i], strlen(default_query[i]), false) != 0)
            goto fail;
    if (push_list(&r->headers, &r->n_headers, extra_headers, true) != 0 ||
        push_list(&r->query, &r->n_query, extra_query, false) != 0)
        goto fail;
    return r;
fail:
    redact_free(r);
    return NULL;
}

redact_t *redact_from_env(void)
{
    return redact_new(getenv("CRUDDUR_REDACT_HEADERS"), getenv("CRUDDUR_REDACT_QUERY"));
}

void redact_free(redact_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_headers; i++)
        free(r->headers[i]);
    for (size_t i = 0; i < r->n_query; i++)
        free(r->query[i]);
    free(r->headers);
    free(r->query);
    free(r);
}

bool redact_header_is_secret(const redact_t *r, const char *name)
{
    if (name == NULL)
        return false;
    /* CGI parameter names carry an HTTP_ prefix. */
    if (strncmp(name, "HTTP_", 5) == 0)
        name += 5;
    for (size_t i = 0; i < r->n_headers; i++) {
        const unsigned char *a = (const unsigned char *)r->headers[i];
        const unsigned char *b = (const unsigned char *)name;
        while (*a != '\0' && *a == fold(*b)) {
            a++;
            b++;
        }
        if (*a == '\0' && *b == '\0')
            return true;
    }
    return false;
}

const char *redact_header_value(const redact_t *r, const char *name, const char *value)
{
    if (value == NULL)
        return NULL;
    return redact_header_is_secret(r, name) ? REDACT_MARK : value;
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

bool redact_param_is_secret(const redact_t *r, const char *name, size_t len)
{
    char d[DECODE_MAX];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (n == sizeof d)
            return true;   /* absurdly long names: hide rather than guess */
        char c = name[i];
        if (c == '%' && i + 2 < len && hexval(name[i + 1]) >= 0 && hexval(name[i + 2]) >= 0) {
            c = (char)(hexval(name[i + 1]) << 4 | hexval(name[i + 2]));
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        d[n++] = (char)lower((unsigned char)c);
    }
    for (size_t q = 0; q < r->n_query; q++) {
        size_t ql = strlen(r->query[q]);
        if (ql == 0 || ql > n)
            continue;
        for (size_t i = 0; i + ql <= n; i++)
            if (memcmp(d + i, r->query[q], ql) == 0)
                return true;
    }
    return false;
}

int redact_query(const redact_t *r, const char *query, size_t len, buf_t *out)
{
    size_t i = 0;
    while (i <= len) {
        const char *p = query + i;
        const char *amp = memchr(p, '&', len - i);
        size_t plen = amp ? (size_t)(amp - p) : len - i;
        const char *eq = memchr(p, '=', plen);
        if (eq != NULL && redact_param_is_secret(r, p, (size_t)(eq - p))) {
            if (buf_append(out, p, (size_t)(eq - p) + 1) != 0 || buf_puts(out, REDACT_MARK) != 0)
                return -1;
        } else if (buf_append(out, p, plen) != 0) {
            return -1;
        }
        if (amp == NULL)
            break;
        if (buf_putc(out, '&') != 0)
            return -1;
        i += plen + 1;
    }
    return 0;
}

int redact_url(const redact_t *r, const char *url, buf_t *out)
{
    size_t len = strlen(url);
    size_t qpos = strcspn(url, "?#");
    size_t start = 0;

    /* scheme://user:password@host: hide the password. */
    const char *sep = strstr(url, "://");
    if (sep != NULL && (size_t)(sep - url) < qpos) {
        size_t auth = (size_t)(sep - url) + 3;
        size_t auth_end = auth + strcspn(url + auth, "/?#");
        const char *at = NULL;
        for (size_t i = auth; i < auth_end; i++)
            if (url[i] == '@')
                at = url + i;
        if (at != NULL) {
            const char *colon = memchr(url + auth, ':', (size_t)(at - (url + auth)));
            if (colon != NULL) {
                if (buf_append(out, url, (size_t)(colon - url) + 1) != 0 ||
                    buf_puts(out, REDACT_MARK) != 0)
                    return -1;
                start = (size_t)(at - url);
            }
        }
    }
    if (buf_append(out, url + start, qpos - start) != 0)
        return -1;
    if (qpos == len)
        return 0;
    if (url[qpos] == '?') {
        size_t qlen = strcspn(url + qpos + 1, "#");
        if (buf_putc(out, '?') != 0 || redact_query(r, url + qpos + 1, qlen, out) != 0)
            return -1;
        qpos += 1 + qlen;
    }
    return buf_append(out, url + qpos, len - qpos);
}
