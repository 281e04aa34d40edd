/* cors: which origins may call the API (FRONTEND_URL and BACKEND_URL, exact
 * match as browsers send them) and the headers that say so. */
#ifndef CRUDDUR_HTTP_CORS_H
#define CRUDDUR_HTTP_CORS_H

#include <stdbool.h>
#include "http/response.h"

typedef struct cors_policy cors_policy;

/* Builds a policy from up to two allowed origins (either may be NULL or "";
 * a trailing slash on a configured origin is ignored). Returns NULL on
 * allocation failure. Free with cors_policy_free. */
cors_policy *cors_policy_new(const char *frontend_url, const char *backend_url);
void cors_policy_free(cors_policy *p);

bool cors_origin_allowed(const cors_policy *p, const char *origin);

/* Adds the CORS headers for an allowed origin to resp (nothing for an
 * absent or refused one). preflight adds the Allow-Methods, Allow-Headers
 * and Max-Age headers of a preflight answer. Returns 0, or -1 on failure. */
int cors_apply(const cors_policy *p, const char *origin, bool preflight, http_response *resp);

#endif
