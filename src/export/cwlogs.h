/* cwlogs: the CloudWatch Logs target. Log records in the spool become log
 * events, POSTed to the PutLogEvents action of the JSON 1.1 protocol
 * (X-Amz-Target: Logs_20140328.PutLogEvents) and signed with SigV4 (aws.h).
 *
 * Each event is {"timestamp": ms, "message": TEXT} where TEXT is one JSON
 * object: time (ISO 8601 UTC, milliseconds), level, message (the body),
 * attributes, and when the record belongs to a trace trace_id, xray_trace_id
 * ("1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx") and span_id. A message over the
 * event limit has its body cut, at a character boundary, and ends with
 * "…[truncated N bytes]" (N bytes of the body were cut); it stays one valid
 * JSON object. Attributes too large for even an empty body become {} with
 * "attributes_dropped": true.
 *
 * Events go to the log group CRUDDUR_CW_LOG_GROUP (default "cruddur"), in
 * one stream per host and UTC day, "<host.name>/<YYYY-MM-DD>", or all in
 * CRUDDUR_CW_LOG_STREAM. The service's limits are kept in the encoder:
 * records older than 14 days or more than 2 hours ahead are dead-lettered
 * without sending; a request holds at most 10,000 events, at most 1,048,576
 * bytes counted as the service counts them (each message's UTF-8 bytes plus
 * 26), the events of one stream only, spanning less than 24 hours, in
 * chronological order. A missing group or stream is created (with the
 * retention CRUDDUR_CW_RETENTION_DAYS when the group is new) and the request
 * sent again. Sits behind the delivery engine (export.c), which reads the
 * spool and sends; cwlogs.c encodes, cuts requests and reads answers. */
#ifndef CRUDDUR_EXPORT_CWLOGS_H
#define CRUDDUR_EXPORT_CWLOGS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "export/aws.h"
#include "export/expcfg.h"
#include "export/export.h"

#define CWLOGS_DEFAULT_GROUP "cruddur"
#define CWLOGS_MAX_EVENTS 10000                 /* events per PutLogEvents */
#define CWLOGS_MAX_REQUEST_BYTES 1048576        /* sum of (message bytes + overhead) */
#define CWLOGS_EVENT_OVERHEAD 26                /* bytes counted per event */
#define CWLOGS_MAX_EVENT_BYTES 1048576          /* one event, overhead included (1 MB
                                                   since April 2025; 256 KB before) */
#define CWLOGS_MIN_EVENT_BYTES 1024             /* the smallest CRUDDUR_CW_MAX_EVENT_BYTES */
#define CWLOGS_MAX_AGE_MS (14LL * 24 * 3600 * 1000)
#define CWLOGS_MAX_AHEAD_MS (2LL * 3600 * 1000)
#define CWLOGS_MAX_SPAN_MS (24LL * 3600 * 1000)  /* a request spans less than this */

/* What the target keeps between calls (known streams, the client for
 * CreateLogGroup / CreateLogStream). Opaque. */
typedef struct cwlogs_state cwlogs_state;

typedef struct cwlogs_config {
    char *url;                      /* the endpoint and "/" */
    char *log_group;
    char *log_stream;               /* one fixed stream; NULL: "<host>/<YYYY-MM-DD>" */
    int retention_days;             /* set on a group it creates; 0: none */
    size_t max_message;             /* bytes of one message (event limit - overhead) */
    char hostname[256];             /* for records whose resource has no host.name */
    expcfg_headers headers;         /* Content-Type, X-Amz-Target (+ X-Amz-Security-Token) */
    aws_signer signer;
    int64_t now_ms;                 /* the time the age rules use; 0: the clock (tests set it) */
    cwlogs_state *state;            /* owned */
} cwlogs_config;

/* Reads CRUDDUR_CW_LOG_GROUP, CRUDDUR_CW_LOG_STREAM, CRUDDUR_CW_RETENTION_DAYS
 * (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
 * 1827, 2192, 2557, 2922, 3288 or 3653), CRUDDUR_CW_MAX_EVENT_BYTES
 * (CWLOGS_MIN_EVENT_BYTES to CWLOGS_MAX_EVENT_BYTES, the default), the region
 * and endpoint (aws_region, aws_endpoint "CLOUDWATCH_LOGS") and prepares
 * signing. stop (may be NULL) aborts the target's own requests. 0, or -1
 * with a message (nothing to free then). */
int cwlogs_config_from_env(cwlogs_config *c, const volatile sig_atomic_t *stop, char *err,
                           size_t err_size);
void cwlogs_config_free(cwlogs_config *c);

/* Sets t's stream (log records), URL, headers, limits and functions (encode,
 * next_request, build, classify_items, authorize); c must outlive t, and t
 * must stay where it is (authorize updates t->headers). The caller sets
 * exporter and label. */
void cwlogs_target_init(export_target *t, cwlogs_config *c);

/* The stream name for events of host at the UTC day of ms (the fixed
 * stream when there is one), into out; host NULL: c->hostname. Characters
 * CloudWatch refuses in stream names (':', '*', control characters) become
 * '_'. 0, or -1 when out is too small. */
int cwlogs_stream_name(const cwlogs_config *c, const char *host, int64_t ms, char *out,
                       size_t size);

#endif
