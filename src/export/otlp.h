/* otlp: the OTLP/HTTP target (Honeycomb, or any collector): spans from the
 * spool to POST /v1/traces as an ExportTraceServiceRequest, and log records
 * to POST /v1/logs as an ExportLogsServiceRequest, in the JSON encoding the
 * OTLP specification defines: lowerCamelCase field names, trace and span ids
 * as hex strings, enums as integers, 64-bit integers (times, intValue) as
 * decimal strings, attributes as KeyValue lists of typed AnyValue, records
 * grouped by resource and instrumentation scope.
 *
 * It sits between the delivery engine (export.c), which reads the spool and
 * sends, and the spool's JSON (docs/spool.md, "Attribute JSON"), which it
 * translates: string -> stringValue, integer -> intValue, number with '.' or
 * an exponent -> doubleValue, true/false -> boolValue, array -> arrayValue,
 * object -> kvlistValue; a null attribute is dropped and counted in
 * droppedAttributesCount. A record whose stored JSON cannot be read is not
 * sent: it goes to dead_letter with the reason. */
#ifndef CRUDDUR_EXPORT_OTLP_H
#define CRUDDUR_EXPORT_OTLP_H

#include <stdint.h>
#include "export/export.h"
#include "util/buf.h"

typedef enum otlp_signal { OTLP_TRACES = 0, OTLP_LOGS = 1 } otlp_signal;

/* Sets t's stream and encode/build/classify functions for the signal; the
 * caller sets exporter, label, url, headers (which must include
 * "Content-Type: application/json"), gzip and the limits. */
void otlp_target_init(export_target *t, otlp_signal sig);

/* ---- the translation, public for tests ------------------------------------ */

/* Appends the KeyValue list ("[...]") for a spool attribute object; *dropped
 * (may be NULL) += null-valued attributes left out. Returns 0, 1 when json
 * is not a JSON object (nothing useful appended), -1 on allocation failure. */
int otlp_attributes(buf_t *out, const char *json, uint32_t *dropped);
/* Appends the AnyValue for one JSON value. 0, 1 (not JSON), -1. */
int otlp_any_value(buf_t *out, const char *json);
/* Appends one Span object for a spool span. 0, 1 (the record cannot be
 * encoded: *why says why), -1. */
int otlp_span(buf_t *out, const spool_span *sp, const char **why);
/* Appends one LogRecord object. 0, 1, -1 as above. */
int otlp_log(buf_t *out, const spool_log *lg, const char **why);

/* Classifies an OTLP/HTTP answer (see export.h); n: records in the request. */
void otlp_classify(otlp_signal sig, const httpc_response *r, size_t n, export_answer *a);

#endif
