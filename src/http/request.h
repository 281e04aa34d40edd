/* request: one HTTP request as the web server handed it over, built from the
 * CGI/FastCGI parameters (REQUEST_METHOD, REQUEST_URI, HTTP_*, ...). The
 * body is read by the server loop and attached with http_request_set_body. */
#ifndef CRUDDUR_HTTP_REQUEST_H
#define CRUDDUR_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

typedef enum http_method {
    HTTP_OTHER = 0,
    HTTP_GET = 1 << 0,
    HTTP_HEAD = 1 << 1,
    HTTP_POST = 1 << 2,
    HTTP_OPTIONS = 1 << 3,
    HTTP_PUT = 1 << 4,
    HTTP_DELETE = 1 << 5,
    HTTP_PATCH = 1 << 6,
} http_method;

/* Limits on what is accepted before routing (bigger means 400/414/431). */
#define HTTP_MAX_URI 8192

typedef struct http_request {
    http_method method;
    const char *method_name;   /* as sent, e.g. "GET" (borrowed from env) */
    char *path;                /* percent-decoded path, owned; never has NUL or ".." segments */
    const char *raw_path;      /* REQUEST_URI up to '?' (points into raw_uri) */
    char *raw_uri;             /* REQUEST_URI as sent, owned */
    const char *query;         /* raw query after '?', "" if none (into raw_uri) */
    const char *scheme;        /* "http" or "https" */
    const char *server_name;   /* SERVER_NAME or "" */
    int server_port;           /* SERVER_PORT or 0 */
    const char *remote_addr;   /* REMOTE_ADDR or "" */
    int remote_port;           /* REMOTE_PORT or 0 */
    const char *content_type;  /* CONTENT_TYPE or NULL */
    long long content_length;  /* CONTENT_LENGTH, or -1 when absent */
    char *body;                /* owned, NUL-terminated; NULL before set_body */
    size_t body_len;
    bool body_too_large;       /* set by the server loop: over the body limit, not read */
    bool body_incomplete;      /* set by the server loop: the client sent less than announced */
    char **env;                /* the parameter array, borrowed */
} http_request;

/* Fills r from a NULL-terminated "NAME=value" array (FCGX envp or environ),
 * which must outlive r. Returns 0 on success, or the HTTP status to answer
 * with: 400 for a malformed request line (a percent-encoded NUL, bad %-escape,
 * a ".." segment), 414 for a URI over HTTP_MAX_URI. r is always safe to
 * pass to http_request_free afterwards. */
int http_request_init(http_request *r, char **env);
void http_request_free(http_request *r);

/* Takes ownership of body (malloc'd, NUL-terminated at body[len]). */
void http_request_set_body(http_request *r, char *body, size_t len);

/* A CGI parameter by exact name, or NULL. */
const char *http_request_param(const http_request *r, const char *name);
/* A request header by its HTTP name, any case ("Content-Type", "traceparent"),
 * or NULL. Content-Type and Content-Length are found too. */
const char *http_request_header(const http_request *r, const char *name);

/* Calls fn for each request header with its name in lowercase HTTP form
 * ("user-agent"); stops early when fn returns non-zero. */
typedef int (*http_header_fn)(void *arg, const char *name, const char *value);
int http_request_each_header(const http_request *r, http_header_fn fn, void *arg);

/* Looks up a query parameter (first occurrence) and decodes it ('+' is a
 * space). Returns 0 and a malloc'd value in *out, 1 if absent (*out = NULL),
 * or -1 if its encoding is bad or it decodes to a NUL byte. */
int http_query_get(const char *query, const char *name, char **out);

/* Percent-decodes in[0..len) into a malloc'd NUL-terminated string.
 * plus_is_space: '+' becomes ' ' (query strings). Returns 0, or -1 on a bad
 * escape, a decoded NUL, or allocation failure. */
int http_pct_decode(const char *in, size_t len, bool plus_is_space, char **out, size_t *out_len);

/* True if the Content-Type names JSON (application/json, any parameters,
 * any case, or application/<x>+json). */
bool http_is_json_type(const char *content_type);

#endif
