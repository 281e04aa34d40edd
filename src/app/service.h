/* service: what every Cruddur service call gets (the per-request context)
 * and what it returns. Services build JSON with jansson; handlers turn the
 * status into an HTTP answer. */
#ifndef CRUDDUR_APP_SERVICE_H
#define CRUDDUR_APP_SERVICE_H

#include <jansson.h>
#include <stdint.h>
#include "app/db.h"
#include "util/rng.h"

typedef enum svc_status {
    SVC_OK = 200,
    SVC_NOT_FOUND = 404,
    SVC_INVALID = 422,        /* *out is a JSON array of validation codes */
    SVC_ERROR = 500,
    SVC_UNAVAILABLE = 503,    /* database busy past its timeout */
} svc_status;

struct trace_request;         /* request telemetry (src/telemetry), may be NULL */

typedef struct svc_ctx {
    app_db *db;
    rng_t *rng;
    const char *user_handle;  /* the acting user: the one place sign-in will replace */
    int64_t now_us;           /* the request's "now", Unix microseconds */
    struct trace_request *trace;
} svc_ctx;

/* The service status for an app_db status. */
svc_status svc_from_db(int db_status);

/* A new JSON string from a text column (null for NULL). Database text goes
 * into JSON unchecked: it was checked as UTF-8 on its way in (the request's
 * JSON parser refuses anything else). */
json_t *svc_json_column(sqlite3_stmt *st, int col);
/* A new JSON string with the API's ISO 8601 form of a Unix time in
 * microseconds (null if out of range). */
json_t *svc_json_time(int64_t unix_us);

#endif
