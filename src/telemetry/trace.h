/* trace: the per-request telemetry collector. A worker owns one
 * trace_request and reuses it for every request:
 *
 *   trace_request_begin(tr, start, &incoming)     after propagation
 *   s = trace_span_start(tr, TRACE_SPAN_NONE, "GET /api/activities/home", SPOOL_KIND_SERVER, 0)
 *   ... child spans, attributes, events, logs, error reports ...
 *   trace_request_end(tr, end)                    after the response is complete
 *   trace_request_to_batch(tr, &batch); spool_write(spool, &batch, budget)
 *
 * Spans are small integer handles into arrays that are kept across requests:
 * once warm, a request allocates nothing for its spans, attributes, events or
 * logs. Every function accepts TRACE_SPAN_NONE (or a stale or out-of-range
 * handle), and the span, log and error functions a NULL collector, and then
 * do nothing, so instrumentation never needs checks.
 *
 * Unsampled requests still get a trace id and span ids (they are propagated
 * and written on log records and error reports), but span attributes and
 * events are not recorded and the batch holds no spans. Logs and error
 * reports do not depend on sampling.
 *
 * Logs use the OpenTelemetry severity numbers; records below the threshold
 * (CRUDDUR_LOG_LEVEL, default INFO) are dropped, and WARN and worse are also
 * written as one line to stderr (where the web server's error log catches
 * them). Error reports carry a uuid, a level, class and message, the C
 * backtrace as Rollbar-style frames (outermost first; function names need
 * -rdynamic), the request (method, URL, headers, client address: secrets
 * redacted), the route, a fingerprint and the trace and span ids.
 *
 * Times are Unix nanoseconds; 0 means "now". */
#ifndef CRUDDUR_TELEMETRY_TRACE_H
#define CRUDDUR_TELEMETRY_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spool/spool.h"
#include "telemetry/attrs.h"
#include "telemetry/crash.h"
#include "telemetry/propagation.h"
#include "telemetry/redact.h"
#include "telemetry/sampler.h"
#include "util/rng.h"

typedef int trace_span;
#define TRACE_SPAN_NONE (-1)

/* OpenTelemetry severity numbers (the first of each range). */
enum {
    TRACE_SEV_TRACE = 1,
    TRACE_SEV_DEBUG = 5,
    TRACE_SEV_INFO = 9,
    TRACE_SEV_WARN = 13,
    TRACE_SEV_ERROR = 17,
    TRACE_SEV_FATAL = 21,
};

#define TRACE_DEFAULT_MAX_SPANS 512
#define TRACE_DEFAULT_MAX_LOGS 256
#define TRACE_DEFAULT_MAX_ERRORS 16
#define TRACE_MAX_EVENTS 128        /* per span */
#define TRACE_MAX_FRAMES 64         /* per error report */
#define TRACE_MAX_TEXT 8192         /* log bodies, messages, names: longer is cut */

typedef struct trace_config {
    const char *resource_json;   /* borrowed (resource_build, once per process); NULL: {} */
    const char *scope_name;      /* default "cruddur" */
    const char *scope_version;   /* default the package version */
    const char *program;         /* stderr prefix, default "cruddur-api" */
    const sampler_t *sampler;    /* borrowed; NULL: parentbased_always_on */
    const redact_t *redact;      /* borrowed; NULL: the default rules (built by _new) */
    rng_t *rng;                  /* borrowed, this worker's generator; required */
    int log_threshold;           /* severity number; default TRACE_SEV_INFO */
    int stderr_fd;               /* for WARN and worse; default 2, -1: none */
    size_t max_spans, max_logs, max_errors;   /* per request */
    size_t attr_count_limit;     /* per span / event / log record, default 128 */
    size_t attr_value_limit;     /* bytes per string value, default 4096 */
} trace_config;

/* The defaults above (rng left NULL). */
void trace_config_defaults(trace_config *c);
/* Applies CRUDDUR_LOG_LEVEL (trace, debug, info, warn, error, fatal, or a
 * severity number 1..24), OTEL_ATTRIBUTE_COUNT_LIMIT and
 * OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT from env (NULL-terminated "NAME=value"
 * array, NULL: the process environment). Returns 0, or 1 with a warning in
 * warn[warn_size] when a value was invalid and left at its default. */
int trace_config_from_env(trace_config *c, char **env, char *warn, size_t warn_size);
/* A CRUDDUR_LOG_LEVEL value as a severity number, or -1. */
int trace_severity_parse(const char *s);
/* "TRACE" .. "FATAL" for a severity number (its range). */
const char *trace_severity_text(int severity);

typedef struct trace_request trace_request;

/* A collector for one worker; cfg is copied (what it points to is borrowed
 * and must outlive the collector). NULL on allocation failure or no rng. */
trace_request *trace_request_new(const trace_config *cfg);
void trace_request_free(trace_request *tr);

/* Starts a request: forgets the previous one (its batch view becomes
 * invalid), takes the trace id and remote parent from incoming (NULL or
 * PROP_NONE: a new trace id made from start_ns's seconds) and asks the
 * sampler. */
void trace_request_begin(trace_request *tr, int64_t start_ns, const prop_context *incoming);
bool trace_request_sampled(const trace_request *tr);
const uint8_t *trace_request_trace_id(const trace_request *tr);     /* 16 bytes */
const char *trace_request_trace_id_hex(const trace_request *tr);    /* 32 hex */
const prop_context *trace_request_incoming(const trace_request *tr);

/* Where error reports find the request. The strings and header_src are
 * borrowed until trace_request_end; headers are read only when a report is
 * filed. each_header calls fn(arg, name, value) for every header and stops
 * when fn returns non-zero (http_request_each_header has this shape). */
typedef int (*trace_header_fn)(void *arg, const char *name, const char *value);
typedef struct trace_http_info {
    const char *method;
    const char *target;           /* request target as sent: "/path?query" (redacted here) */
    const char *scheme;           /* "http" or "https"; may be NULL */
    const char *host;             /* server name; may be NULL */
    const char *client_address;   /* may be NULL */
    int (*each_header)(const void *src, trace_header_fn fn, void *arg);   /* may be NULL */
    const void *header_src;
} trace_http_info;
void trace_request_set_http(trace_request *tr, const trace_http_info *info);
/* The route ("GET /api/activities/@{handle}"): the error reports' context. Copied. */
void trace_request_set_route(trace_request *tr, const char *route);

/* ---- spans ------------------------------------------------------------ */

/* Starts a span under parent (TRACE_SPAN_NONE: under the incoming remote
 * parent, or a root span). kind is SPOOL_KIND_*. Returns the handle, or
 * TRACE_SPAN_NONE past max_spans (counted in trace_request_dropped). */
trace_span trace_span_start(trace_request *tr, trace_span parent, const char *name, int kind,
                            int64_t start_ns);
void trace_span_end(trace_request *tr, trace_span s, int64_t end_ns);
/* The most recently started span that has not ended (the one new work
 * belongs under), or TRACE_SPAN_NONE. */
trace_span trace_span_current(const trace_request *tr);
void trace_span_set_name(trace_request *tr, trace_span s, const char *name);
/* code is SPOOL_STATUS_*; message (may be NULL) is kept for ERROR only. */
void trace_span_set_status(trace_request *tr, trace_span s, int code, const char *message);

/* Attributes (no-ops when the request is not sampled). */
void trace_span_set_str(trace_request *tr, trace_span s, const char *key, const char *value);
void trace_span_set_int(trace_request *tr, trace_span s, const char *key, int64_t value);
void trace_span_set_double(trace_request *tr, trace_span s, const char *key, double value);
void trace_span_set_bool(trace_request *tr, trace_span s, const char *key, bool value);
void trace_span_set_str_array(trace_request *tr, trace_span s, const char *key,
                              const char *const *values, size_t n);
void trace_span_set_int_array(trace_request *tr, trace_span s, const char *key,
                              const int64_t *values, size_t n);
/* The span's own list, for the other types; NULL when not recording. */
attrs_t *trace_span_attrs(trace_request *tr, trace_span s);

/* A list to build event or log attributes in: emptied by each call, reused. */
attrs_t *trace_scratch_attrs(trace_request *tr);
/* Adds an event; attrs may be NULL. 0, 1 if not recorded, -1 no memory. */
int trace_span_add_event(trace_request *tr, trace_span s, const char *name, int64_t time_ns,
                         const attrs_t *attrs);
/* Adds the OpenTelemetry `exception` event (exception.type, .message,
 * .stacktrace); stacktrace NULL: the current C backtrace. */
int trace_span_record_exception(trace_request *tr, trace_span s, const char *type,
                                const char *message, const char *stacktrace);

/* The span's id (8 bytes) and hex form; zeros / "" for TRACE_SPAN_NONE. */
void trace_span_id(const trace_request *tr, trace_span s, uint8_t out[SPANID_SIZE]);
void trace_span_id_hex(const trace_request *tr, trace_span s, char out[SPANID_HEX_SIZE]);
/* The traceparent to send on an outgoing call made inside span s. */
void trace_span_traceparent(const trace_request *tr, trace_span s,
                            char out[PROP_TRACEPARENT_SIZE]);

/* ---- logs ------------------------------------------------------------- */

bool trace_log_enabled(const trace_request *tr, int severity);
/* A log record tied to span s (TRACE_SPAN_NONE: the trace only); attrs may
 * be NULL. Returns 0, 1 if below the threshold or over max_logs, -1 no memory. */
int trace_log(trace_request *tr, trace_span s, int severity, const char *body,
              const attrs_t *attrs);
int trace_logf(trace_request *tr, trace_span s, int severity, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The access record of a request (INFO): body
 * "<client> <method> <scheme> <target> <status> <bytes> <ms>ms" and the
 * matching attributes; the target's query is redacted. */
typedef struct trace_access {
    const char *client_address, *method, *scheme, *target, *user_agent;
    int status;
    int64_t bytes;          /* response body bytes, -1 unknown */
    int64_t duration_ns;
} trace_access;
int trace_access_log(trace_request *tr, trace_span s, const trace_access *a);

/* ---- error reports ---------------------------------------------------- */

/* Files an error report at level ("critical", "error", "warning", "info",
 * "debug") with the current C backtrace, minus `skip` innermost frames of
 * the caller's own (0: the report starts at the caller). Returns 0, 1 if
 * over max_errors, -1 no memory. */
int trace_error(trace_request *tr, trace_span s, const char *level, const char *class_name,
                const char *message, int skip);
/* A caught failure in span s, the usual way: status ERROR with message, an
 * `exception` event, and an "error" report, all from one backtrace. */
int trace_fail(trace_request *tr, trace_span s, const char *class_name, const char *message);
/* A crash record from crash_recover as a `critical` report and a FATAL log
 * record, with the crashed request's trace id. The report's uuid is derived
 * from the record, so a record delivered twice is stored once. Call it
 * between trace_request_begin and trace_request_to_batch. */
int trace_add_crash(trace_request *tr, const crash_record *rec);

/* ---- the batch -------------------------------------------------------- */

/* Ends the spans still open at end_ns. */
void trace_request_end(trace_request *tr, int64_t end_ns);
/* Fills b with views of the request's records (spans only if sampled); they
 * stay valid until the next trace_request_begin or _free. Returns 0, or -1 on
 * allocation failure (b is then empty). */
int trace_request_to_batch(trace_request *tr, spool_batch *b);
/* Records refused by the bounds during this request (spans, logs, errors,
 * events, attributes): worth counting in the spool. */
size_t trace_request_dropped(const trace_request *tr);

#endif
