/* sampler: the OpenTelemetry samplers (always_on/off, traceidratio and their
 * parent-based forms), deciding per request before any span is recorded. */
#include "telemetry/sampler.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static const struct {
    const char *name;
    sampler_kind kind;
} kinds[] = {
    {"always_on", SAMPLER_ALWAYS_ON},
    {"always_off", SAMPLER_ALWAYS_OFF},
    {"traceidratio", SAMPLER_TRACEIDRATIO},
    {"parentbased_always_on", SAMPLER_PARENTBASED_ALWAYS_ON},
    {"parentbased_always_off", SAMPLER_PARENTBASED_ALWAYS_OFF},
    {"parentbased_traceidratio", SAMPLER_PARENTBASED_TRACEIDRATIO},
};

static void set_ratio(sampler_t *s, double ratio)
{
    s->ratio = ratio;
    s->all = ratio >= 1.0;
    /* ratio < 1 here, so ratio * 2^64 < 2^64 fits. */
    s->bound = s->all ? UINT64_MAX : (uint64_t)ldexp(ratio, 64);
}

int sampler_configure(sampler_t *s, const char *name, const char *arg,
                      char *warn, size_t warn_size)
{
    int rc = 0;
    if (warn_size > 0)
        warn[0] = '\0';
    s->kind = SAMPLER_PARENTBASED_ALWAYS_ON;
    set_ratio(s, 1.0);

    if (name != NULL && name[0] != '\0') {
        size_t i;
        for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (strcasecmp(name, kinds[i].name) == 0)
                break;
        if (i < sizeof kinds / sizeof kinds[0]) {
            s->kind = kinds[i].kind;
        } else {
            snprintf(warn, warn_size,
                     "OTEL_TRACES_SAMPLER=%.40s is not supported; using parentbased_always_on",
                     name);
            return 1;
        }
    }
    bool uses_ratio = s->kind == SAMPLER_TRACEIDRATIO || s->kind == SAMPLER_PARENTBASED_TRACEIDRATIO;
    if (uses_ratio && arg != NULL && arg[0] != '\0') {
        char *end;
        errno = 0;
        double r = strtod(arg, &end);
        while (*end == ' ' || *end == '\t')
            end++;
        if (errno != 0 || end == arg || *end != '\0' || !(r >= 0.0 && r <= 1.0)) {
            snprintf(warn, warn_size,
                     "OTEL_TRACES_SAMPLER_ARG=%.40s is not a ratio in [0, 1]; using 1.0", arg);
            rc = 1;
        } else {
            set_ratio(s, r);
        }
    }
    return rc;
}

int sampler_from_env(sampler_t *s, char *warn, size_t warn_size)
{
    return sampler_configure(s, getenv("OTEL_TRACES_SAMPLER"), getenv("OTEL_TRACES_SAMPLER_ARG"),
                             warn, warn_size);
}

bool sampler_ratio_decides(const sampler_t *s, const uint8_t trace_id[TRACEID_SIZE])
{
    if (s->all)
        return true;
    uint64_t v = 0;
    for (int i = 8; i < 16; i++)
        v = v << 8 | trace_id[i];
    return v < s->bound;
}

static bool root_decides(const sampler_t *s, const uint8_t trace_id[TRACEID_SIZE])
{
    switch (s->kind) {
    case SAMPLER_ALWAYS_ON:
    case SAMPLER_PARENTBASED_ALWAYS_ON:
        return true;
    case SAMPLER_ALWAYS_OFF:
    case SAMPLER_PARENTBASED_ALWAYS_OFF:
        return false;
    case SAMPLER_TRACEIDRATIO:
    case SAMPLER_PARENTBASED_TRACEIDRATIO:
        return sampler_ratio_decides(s, trace_id);
    }
    return true;
}

bool sampler_should_sample(const sampler_t *s, const uint8_t trace_id[TRACEID_SIZE],
                           bool has_parent, int parent_sampled)
{
    bool parent_based = s->kind == SAMPLER_PARENTBASED_ALWAYS_ON ||
                        s->kind == SAMPLER_PARENTBASED_ALWAYS_OFF ||
                        s->kind == SAMPLER_PARENTBASED_TRACEIDRATIO;
    if (parent_based && has_parent && parent_sampled >= 0)
        return parent_sampled == 1;
    return root_decides(s, trace_id);
}

const char *sampler_name(const sampler_t *s)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].kind == s->kind)
            return kinds[i].name;
    return "?";
}
