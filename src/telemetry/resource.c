/* resource: builds the process's OpenTelemetry resource (service, host,
 * process, SDK, OTEL_RESOURCE_ATTRIBUTES) once per worker, for the spool. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "telemetry/resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "telemetry/attrs.h"
#include "util/buf.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.0.0"
#endif

#define RESOURCE_MAX_VALUE 4096

static const char *env_get(char **env, const char *name)
{
    if (env == NULL)
        return getenv(name);
    size_t n = strlen(name);
    for (char **e = env; *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
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

/* Trims blanks and percent-decodes s[0..len) into out (reset first).
 * Returns 0, 1 on a bad escape, -1 on allocation failure. */
static int decode(const char *s, size_t len, buf_t *out)
{
    buf_reset(out);
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
                return 1;
            c = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
            i += 2;
        }
        if (buf_putc(out, c) != 0)
            return -1;
    }
    if (buf_putc(out, '\0') != 0)   /* make data non-NULL even when empty */
        return -1;
    out->len--;
    return 0;
}

/* Adds OTEL_RESOURCE_ATTRIBUTES to a. Returns 0, 1 if it is malformed (a is
 * then unchanged), -1 on allocation failure. */
static int add_env_attrs(attrs_t *a, const char *list, bool keep_service_name)
{
    buf_t k = BUF_INIT, v = BUF_INIT;
    int rc = 0;
    /* First pass validates, second pass stores: all or nothing. */
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        const char *s = list;
        for (;;) {
            const char *end = strchr(s, ',');
            size_t len = end ? (size_t)(end - s) : strlen(s);
            size_t blank = strspn(s, " \t");
            if (blank < len) {
                const char *eq = memchr(s, '=', len);
                if (eq == NULL) {
                    rc = 1;
                    break;
                }
                int d1 = decode(s, (size_t)(eq - s), &k);
                int d2 = d1 == 0 ? decode(eq + 1, len - (size_t)(eq - s) - 1, &v) : d1;
                if (d1 != 0 || d2 != 0) {
                    rc = d1 != 0 ? d1 : d2;
                    break;
                }
                if (k.len == 0) {
                    rc = 1;
                    break;
                }
                if (pass == 1 && !(keep_service_name && strcmp(k.data, "service.name") == 0) &&
                    attrs_set_strn(a, k.data, v.data, v.len) < 0) {
                    rc = -1;
                    break;
                }
            }
            if (end == NULL)
                break;
            s = end + 1;
        }
    }
    buf_free(&k);
    buf_free(&v);
    return rc;
}

int resource_build(char **env, char **json, char *warn, size_t warn_size)
{
    attrs_t a;
    buf_t out = BUF_INIT;
    char host[256];
    int rc = -1;

    if (warn_size > 0)
        warn[0] = '\0';
    *json = NULL;
    attrs_init(&a, 256, RESOURCE_MAX_VALUE);

    const char *svc = env_get(env, "OTEL_SERVICE_NAME");
    bool have_svc = svc != NULL && svc[0] != '\0';
    if (gethostname(host, sizeof host) != 0)
        host[0] = '\0';
    host[sizeof host - 1] = '\0';

    if (attrs_set_str(&a, "service.name", have_svc ? svc : RESOURCE_DEFAULT_SERVICE) < 0 ||
        attrs_set_str(&a, "service.version", PACKAGE_VERSION) < 0 ||
        (host[0] != '\0' && attrs_set_str(&a, "host.name", host) < 0) ||
        attrs_set_int(&a, "process.pid", (int64_t)getpid()) < 0 ||
        attrs_set_str(&a, "telemetry.sdk.name", "cruddur") < 0 ||
        attrs_set_str(&a, "telemetry.sdk.language", "c") < 0 ||
        attrs_set_str(&a, "telemetry.sdk.version", PACKAGE_VERSION) < 0)
        goto done;

    const char *list = env_get(env, "OTEL_RESOURCE_ATTRIBUTES");
    if (list != NULL && list[0] != '\0') {
        int r = add_env_attrs(&a, list, have_svc);
        if (r < 0)
            goto done;
        if (r > 0)
            snprintf(warn, warn_size,
                     "OTEL_RESOURCE_ATTRIBUTES is malformed (want key=value,... percent-encoded); ignored");
    }
    if (attrs_to_json(&a, &out) != 0)
        goto done;
    *json = buf_steal(&out);
    rc = *json ? 0 : -1;
done:
    attrs_free(&a);
    buf_free(&out);
    return rc;
}
