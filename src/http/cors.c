/* cors: the cross-origin policy. The handlers ask it, for every answer,
 * whether the request's Origin may read the answer and add the headers that
 * say so (errors included, or a browser reports a network error instead). */
#include "http/cors.h"

#include <stdlib.h>
#include <string.h>

#define ORIGIN_MAX 2048

struct cors_policy {
    char *origins[2];   /* NULL when not configured */
};

/* A copy without one trailing '/', or NULL for an unset or empty value. */
static char *origin_dup(const char *url, bool *failed)
{
    if (url == NULL)
        return NULL;
    size_t n = strlen(url);
    if (n > 0 && url[n - 1] == '/')
        n--;
    if (n == 0 || n > ORIGIN_MAX)
        return NULL;
    char *s = malloc(n + 1);
    if (s == NULL) {
        *failed = true;
        return NULL;
    }
    memcpy(s, url, n);
    s[n] = '\0';
    return s;
}

cors_policy *cors_policy_new(const char *frontend_url, const char *backend_url)
{
    cors_policy *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    bool failed = false;
    p->origins[0] = origin_dup(frontend_url, &failed);
    p->origins[1] = origin_dup(backend_url, &failed);
    if (failed) {
        cors_policy_free(p);
        return NULL;
    }
    return p;
}

void cors_policy_free(cors_policy *p)
{
    if (p == NULL)
        return;
    free(p->origins[0]);
    free(p->origins[1]);
    free(p);
}

bool cors_origin_allowed(const cors_policy *p, const char *origin)
{
    if (p == NULL || origin == NULL || *origin == '\0' || strcmp(origin, "null") == 0)
        return false;
    for (int i = 0; i < 2; i++) {
        if (p->origins[i] != NULL && strcmp(p->origins[i], origin) == 0)
            return true;
    }
    return false;
}

int cors_apply(const cors_policy *p, const char *origin, bool preflight, http_response *resp)
{
    if (origin == NULL)
        return 0;
    /* Caches must not reuse an answer made for another origin. */
    if (!cors_origin_allowed(p, origin))
        return http_response_header(resp, "Vary", "Origin");
    if (http_response_header(resp, "Access-Control-Allow-Origin", origin) != 0 ||
        http_response_header(resp, "Vary", "Origin") != 0 ||
        http_response_header(resp, "Access-Control-Expose-Headers", "location, link") != 0)
        return -1;
    if (preflight &&
        (http_response_header(resp, "Access-Control-Allow-Methods", "OPTIONS, GET, HEAD, POST") != 0 ||
         http_response_header(resp, "Access-Control-Allow-Headers",
                              "content-type, if-modified-since, traceparent, tracestate") != 0 ||
         http_response_header(resp, "Access-Control-Max-Age", "600") != 0))
        return -1;
    return 0;
}
