/* propagation: trace context in and out of HTTP headers. An incoming request's
 * traceparent/tracestate (W3C Trace Context, Level 1) or X-Amzn-Trace-Id (AWS
 * X-Ray) become a prop_context that the sampler and the collector start from;
 * the answer carries X-Amzn-Trace-Id back, and outgoing calls would carry a
 * traceparent. Invalid headers are ignored (a new trace starts), never fatal.
 *
 * Rules, from the W3C Trace Context recommendation:
 * - traceparent: optional whitespace (SP, HTAB) around the value is ignored.
 *   "version-traceid-parentid-flags", lowercase hex only. Version 00 must be
 *   exactly 55 characters: anything after the flags makes it invalid. Version
 *   ff is invalid. A higher version is read for its first four fields if it is
 *   at least 55 characters and the flags end the value or are followed by '-';
 *   only its sampled bit is used. All-zero trace or parent ids are invalid.
 * - tracestate is read only when traceparent was valid. Members are
 *   "key=value" separated by ',' with optional whitespace; empty members are
 *   skipped. Keys: simple-key (lcalpha then up to 255 of a-z 0-9 _ - * /) or
 *   tenant@system (tenant: a-z0-9 then up to 240 more, system: lcalpha then up
 *   to 13 more). Values: 1 to 256 chars of 0x20-0x7E except ',' and '=', not
 *   ending in a space. If any member is invalid, a key repeats, or there are
 *   more than 32 members, the whole tracestate is discarded (the spec's
 *   "failure to parse"; its test suite expects exactly that).
 *   What is kept is re-joined without whitespace ("a=1,b=2"); if that is
 *   longer than PROP_TRACESTATE_MAX_LEN, whole members are dropped as the spec
 *   says: those over 128 characters first, then from the end.
 * - X-Amzn-Trace-Id: "Root=1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx;Parent=<16
 *   hex>;Sampled=0|1|?" plus any other keys (Self, Lineage, ...), which are
 *   kept in order. Fields are separated by ';'; whitespace around ';' and '='
 *   is ignored; key names are case-sensitive as in the X-Ray SDKs. Hex may be
 *   either case (it is stored lowercase). No valid Root means the whole header
 *   is ignored; an invalid Parent means "no parent"; a Sampled other than 0 or
 *   1 means "no decision" ('?' asks the receiver to decide and say so).
 * - When both a valid traceparent and a valid X-Amzn-Trace-Id come,
 *   traceparent wins. */
#ifndef CRUDDUR_TELEMETRY_PROPAGATION_H
#define CRUDDUR_TELEMETRY_PROPAGATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "telemetry/traceid.h"

#define PROP_TRACEPARENT_LEN 55
#define PROP_TRACEPARENT_SIZE 56
#define PROP_TRACESTATE_MAX_MEMBERS 32
#define PROP_TRACESTATE_MAX_LEN 1024
#define PROP_TRACESTATE_SIZE (PROP_TRACESTATE_MAX_LEN + 1)
#define PROP_XRAY_EXTRA_SIZE 512    /* the other X-Ray keys, whole entries only */
#define PROP_XRAY_SIZE (8 + TRACEID_XRAY_LEN + 8 + 16 + 10 + PROP_XRAY_EXTRA_SIZE)

#define PROP_FLAG_SAMPLED 0x01

typedef enum prop_source {
    PROP_NONE = 0,   /* no usable incoming context: start a new trace */
    PROP_W3C = 1,
    PROP_XRAY = 2,
} prop_source;

typedef enum prop_sampled {
    PROP_SAMPLED_UNKNOWN = -1,   /* the caller made no decision */
    PROP_SAMPLED_NO = 0,
    PROP_SAMPLED_YES = 1,
} prop_sampled;

typedef struct prop_context {
    prop_source source;
    uint8_t trace_id[TRACEID_SIZE];
    uint8_t parent_id[SPANID_SIZE];     /* the caller's span; zeros if none */
    bool has_parent;
    int sampled;                        /* prop_sampled */
    bool sampled_requested;             /* X-Ray "Sampled=?": answer with the decision */
    uint8_t flags;                      /* W3C trace-flags (sampled bit only for versions > 00) */
    char tracestate[PROP_TRACESTATE_SIZE];   /* normalized, "" if none */
    char xray_extra[PROP_XRAY_EXTRA_SIZE];   /* "Self=...;Lineage=..." or "" */
} prop_context;

/* Empties ctx (source PROP_NONE). */
void prop_context_init(prop_context *ctx);

/* Parses a traceparent value (NULL is invalid). Returns 0 and fills the ids
 * and flags, or -1 (outputs untouched). */
int prop_parse_traceparent(const char *value, uint8_t trace_id[TRACEID_SIZE],
                           uint8_t parent_id[SPANID_SIZE], uint8_t *flags);

/* Parses and normalizes a tracestate value into out[out_size] (at least
 * PROP_TRACESTATE_SIZE is enough). Returns the number of members kept (0 for
 * NULL or an empty list), or -1 if it is invalid; out is "" then. */
int prop_parse_tracestate(const char *value, char *out, size_t out_size);

/* "00-<trace>-<span>-<flags>" into out[PROP_TRACEPARENT_SIZE]. */
void prop_format_traceparent(const uint8_t trace_id[TRACEID_SIZE],
                             const uint8_t span_id[SPANID_SIZE], bool sampled,
                             char out[PROP_TRACEPARENT_SIZE]);

/* Parses an X-Amzn-Trace-Id value into ctx (source PROP_XRAY, tracestate "").
 * Returns 0, or -1 (ctx emptied) when there is no valid Root. */
int prop_parse_xray(const char *value, prop_context *ctx);

/* Prints "Root=...[;Parent=...][;Sampled=0|1][;extra]" into out[size]:
 * parent_id may be NULL, sampled is a prop_sampled (unknown prints nothing),
 * extra may be NULL or "". Returns the length, or -1 if it does not fit. */
int prop_format_xray(const uint8_t trace_id[TRACEID_SIZE], const uint8_t *parent_id,
                     int sampled, const char *extra, char *out, size_t size);

/* The X-Amzn-Trace-Id a response carries, as the X-Ray middleware sends it:
 * "Root=<trace>", plus ";Sampled=0|1" when the request asked with
 * "Sampled=?" (in may be NULL). Returns the length, or -1 if out is too small. */
int prop_xray_response(const prop_context *in, const uint8_t trace_id[TRACEID_SIZE],
                       bool sampled, char *out, size_t size);

/* Reads the incoming context from the three header values (any may be NULL):
 * a valid traceparent (with its tracestate) wins, else a valid
 * X-Amzn-Trace-Id, else none. Returns ctx->source. */
prop_source prop_extract(const char *traceparent, const char *tracestate,
                         const char *xamzn_trace_id, prop_context *ctx);

#endif
