/* sampler: decides whether a request's spans are recorded, as the
 * OpenTelemetry SDK samplers do, configured by OTEL_TRACES_SAMPLER and
 * OTEL_TRACES_SAMPLER_ARG. The collector asks it once per request, after
 * propagation. Logs and error reports do not depend on the decision.
 *
 * The ratio decision is a pure function of the trace id: bytes 8..15 read as
 * a big-endian unsigned integer are sampled when below ratio * 2^64. (Bytes
 * 0..3 of our ids are the time, so only the random tail is used; this is the
 * rule of the OpenTelemetry Go SDK's TraceIDRatioBased.) So every worker and
 * every process decides the same trace the same way.
 *
 * Parent-based samplers follow the remote parent's decision when the incoming
 * context has a parent and a known sampled flag; otherwise (no context, or an
 * X-Ray header without Parent, or with "Sampled=?") the root sampler decides. */
#ifndef CRUDDUR_TELEMETRY_SAMPLER_H
#define CRUDDUR_TELEMETRY_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "telemetry/traceid.h"

typedef enum sampler_kind {
    SAMPLER_ALWAYS_ON,
    SAMPLER_ALWAYS_OFF,
    SAMPLER_TRACEIDRATIO,
    SAMPLER_PARENTBASED_ALWAYS_ON,     /* the default */
    SAMPLER_PARENTBASED_ALWAYS_OFF,
    SAMPLER_PARENTBASED_TRACEIDRATIO,
} sampler_kind;

typedef struct sampler {
    sampler_kind kind;
    double ratio;          /* used by the *traceidratio kinds, in [0, 1] */
    uint64_t bound;        /* ids with tail < bound are sampled (if !all) */
    bool all;              /* ratio == 1: every id */
} sampler_t;

#define SAMPLER_WARN_SIZE 160

/* Configures s from the two settings (either may be NULL or "": the
 * defaults are parentbased_always_on and ratio 1.0). An unknown name falls
 * back to the default, an invalid or out-of-range ratio to 1.0; in both cases
 * a warning is written to warn[warn_size] (else warn is ""), and the return
 * is 1 instead of 0. The names are case-insensitive. */
int sampler_configure(sampler_t *s, const char *name, const char *arg,
                      char *warn, size_t warn_size);

/* Same from the environment (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG). */
int sampler_from_env(sampler_t *s, char *warn, size_t warn_size);

/* The ratio rule alone: true if trace_id falls in the sampled fraction. */
bool sampler_ratio_decides(const sampler_t *s, const uint8_t trace_id[TRACEID_SIZE]);

/* The decision for a request. has_parent: the incoming context named a remote
 * parent span; parent_sampled: its flag (prop_sampled: -1 unknown, 0, 1). */
bool sampler_should_sample(const sampler_t *s, const uint8_t trace_id[TRACEID_SIZE],
                           bool has_parent, int parent_sampled);

/* The configured name, e.g. "parentbased_traceidratio". */
const char *sampler_name(const sampler_t *s);

#endif
