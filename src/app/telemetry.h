/* telemetry: a worker's instrumentation of the API. It opens the spool,
 * installs the crash recorder (and moves earlier crashes into the spool),
 * starts each request's trace from the incoming headers, names the SERVER
 * span after the route, turns statements into CLIENT spans, and, after the
 * response has left, writes the request's records to the spool within a
 * time budget. A spool that cannot take them never fails a request: the
 * records are dropped, counted, and a warning goes to stderr. */
#ifndef CRUDDUR_APP_TELEMETRY_H
#define CRUDDUR_APP_TELEMETRY_H

#include <stdbool.h>

#include "app/config.h"
#include "app/db.h"
#include "http/request.h"
#include "http/response.h"
#include "http/router.h"
#include "telemetry/trace.h"
#include "util/rng.h"

typedef struct telemetry telemetry;

/* Builds a worker's telemetry. cfg and rng are borrowed and must outlive it.
 * With CRUDDUR_TELEMETRY=off, *out is NULL and 0 is returned: every other
 * function accepts a NULL telemetry and does nothing. Returns -1 with err set
 * only when memory runs out; a missing or unwritable spool is not an error. */
int telemetry_new(const app_config *cfg, rng_t *rng, telemetry **out, char *err,
                  size_t err_size);
void telemetry_free(telemetry *t);

/* The statement observer for app_db_set_observer (arg: the telemetry). */
void telemetry_db_observer(void *arg, const app_db_exec *exec);

/* The request's collector, for service spans; NULL when off. */
trace_request *telemetry_trace(telemetry *t);

/* Starts a request's trace and its SERVER span. */
void telemetry_begin(telemetry *t, const http_request *req);
/* Names the SERVER span after the matched route (m may be a 404/405 miss). */
void telemetry_route(telemetry *t, const http_request *req, const route_match *m);
/* A caught failure: the SERVER span's status, an exception event and an
 * error report with the detail (never shown to the client). */
void telemetry_fail(telemetry *t, const char *class_name, const char *detail);
/* A report of the given level without failing the request (/rollbar/test). */
void telemetry_report(telemetry *t, const char *level, const char *message);
/* Before the answer leaves: response attributes, X-Amzn-Trace-Id, and for a
 * 5xx without a recorded failure, the ERROR status and a report. */
void telemetry_respond(telemetry *t, const http_request *req, http_response *resp);
/* After the answer has left: ends the trace, writes the access record and
 * the whole request to the spool, or, once the worker has reported an idle
 * moment, to its journal (one write; the records survive the worker's death
 * from then on), copied into the spool when the worker is idle again or
 * enough has gathered. */
void telemetry_finish(telemetry *t, const http_request *req, const http_response *resp);

/* The worker is idle (no request waiting): from now on requests go through
 * journals; what waits in one is copied into the spool (by the copier
 * thread, unless CRUDDUR_SPOOL_COPY=inline), and now and then the journals
 * of dead workers. A FastCGI loop calls this before it sleeps; plain CGI
 * never does. Returns -1, or, when records still wait for the copier to
 * finish its copy, the milliseconds after which to call it again even if
 * no request comes (server_idle_fn). NULL is fine. */
int telemetry_idle(telemetry *t);

/* False when the last attempt to write the spool failed (health check). */
bool telemetry_spool_ok(const telemetry *t);

#endif
