/* redact: keeps secrets out of the spool. Header values and query parameters
 * that look like credentials are replaced by "[REDACTED]" before a URL, a
 * query string or a request's headers reach a span attribute, a log record
 * or an error report.
 *
 * Headers: Authorization, Cookie, Set-Cookie, Proxy-Authorization, X-Api-Key,
 * X-Honeycomb-Team, X-Rollbar-Access-Token, plus the comma-separated names in
 * CRUDDUR_REDACT_HEADERS. Names compare case-insensitively with '-' and '_'
 * equal, so the CGI form (HTTP_X_API_KEY) matches too.
 * Query parameters: those whose name (percent-decoded) contains token,
 * password, secret, key or auth, case-insensitively, plus the substrings in
 * CRUDDUR_REDACT_QUERY. The name and the order of parameters are kept:
 * "a=1&api_key=xyz" becomes "a=1&api_key=[REDACTED]". */
#ifndef CRUDDUR_TELEMETRY_REDACT_H
#define CRUDDUR_TELEMETRY_REDACT_H

#include <stdbool.h>
#include <stddef.h>
#include "util/buf.h"

#define REDACT_MARK "[REDACTED]"

typedef struct redact redact_t;

/* A rule set with the defaults plus extra_headers and extra_query (comma
 * lists; NULL or "" add nothing; blanks around names are ignored). Returns a
 * new object (free with redact_free) or NULL on allocation failure. */
redact_t *redact_new(const char *extra_headers, const char *extra_query);
/* Same with CRUDDUR_REDACT_HEADERS and CRUDDUR_REDACT_QUERY. */
redact_t *redact_from_env(void);
void redact_free(redact_t *r);

bool redact_header_is_secret(const redact_t *r, const char *name);
/* value, or REDACT_MARK if the header is a secret one (never NULL unless
 * value is NULL). */
const char *redact_header_value(const redact_t *r, const char *name, const char *value);

/* True if a query parameter with this raw (still percent-encoded) name must
 * have its value hidden. */
bool redact_param_is_secret(const redact_t *r, const char *name, size_t len);

/* Appends query[0..len) (no leading '?') to out with secret values replaced.
 * Returns 0, or -1 on allocation failure. */
int redact_query(const redact_t *r, const char *query, size_t len, buf_t *out);

/* Appends a URL or a request target ("/path?query#frag", "https://u:p@h/p?q")
 * with its query redacted and any userinfo password replaced. Returns 0, or -1
 * on allocation failure. */
int redact_url(const redact_t *r, const char *url, buf_t *out);

#endif
