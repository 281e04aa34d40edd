/* rollbar: the Rollbar target. Each error report in the spool becomes one
 * item, POSTed to {ROLLBAR_ENDPOINT}/api/1/item/ with the project token in
 * X-Rollbar-Access-Token. The item follows Rollbar's item API: environment,
 * level, timestamp, the report's uuid (Rollbar discards a second item with
 * the same uuid, so a re-send after a crash is harmless), body.trace
 * (frames, exception class and message) when the report has frames, else
 * body.message, request (already scrubbed in the spool), server, platform,
 * language "c", framework "fastcgi", context (the route), notifier,
 * fingerprint, and under custom the trace and span ids, so that an item
 * links to its trace in Honeycomb.
 *
 * Items larger than the payload limit are cut down before sending, as
 * Rollbar's own notifiers do: frames first (the outermost and innermost ten
 * kept), then long strings (to 1024, 512, 256 bytes), then the request and
 * custom data. Sits behind the delivery engine (export.c), which reads the
 * spool and sends; rollbar.c only encodes and classifies answers. */
#ifndef CRUDDUR_EXPORT_ROLLBAR_H
#define CRUDDUR_EXPORT_ROLLBAR_H

#include <stddef.h>
#include "export/expcfg.h"
#include "export/export.h"
#include "util/buf.h"

#define ROLLBAR_DEFAULT_ENDPOINT "https://api.rollbar.com"
#define ROLLBAR_MAX_PAYLOAD (512 * 1024)   /* bytes of JSON per item */

typedef struct rollbar_config {
    char *url;                      /* .../api/1/item/ */
    char *environment;              /* ROLLBAR_ENVIRONMENT, default "production" */
    char *code_version;             /* ROLLBAR_CODE_VERSION, else the resource's service.version */
    char *root;                     /* ROLLBAR_ROOT: the code root, for Rollbar's frame display */
    expcfg_headers headers;         /* Content-Type and X-Rollbar-Access-Token */
    size_t max_payload;             /* ROLLBAR_MAX_PAYLOAD_BYTES, default ROLLBAR_MAX_PAYLOAD */
} rollbar_config;

/* Reads ROLLBAR_ACCESS_TOKEN (required), ROLLBAR_ENDPOINT,
 * ROLLBAR_ENVIRONMENT, ROLLBAR_CODE_VERSION, ROLLBAR_ROOT and
 * ROLLBAR_MAX_PAYLOAD_BYTES. 0, or -1 with a message (nothing to free then). */
int rollbar_config_from_env(rollbar_config *c, char *err, size_t err_size);
void rollbar_config_free(rollbar_config *c);

/* Sets t's stream, URL, headers, limits and functions; c must outlive t.
 * The caller sets exporter and label. */
void rollbar_target_init(export_target *t, rollbar_config *c);

/* The item for one error report (resource_json: the report's resource, may
 * be NULL), at most c->max_payload bytes. 0, 1 when it cannot be made to
 * fit (*why says so), -1 on allocation failure. */
int rollbar_item(buf_t *out, const rollbar_config *c, const spool_error *e,
                 const char *resource_json, const char **why);

/* Classifies an answer of the item API (see export.h). */
void rollbar_classify(const httpc_response *r, export_answer *a);

#endif
