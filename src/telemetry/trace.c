/* trace: the per-request collector. Routes and services record spans, events,
 * logs and error reports here while a request runs; after the response is
 * complete the server loop turns it into a spool_batch (views into the
 * collector's own buffers) and hands that to spool_write. All storage is
 * kept across requests, so a warm worker allocates nothing per span. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "telemetry/trace.h"

#include <errno.h>
#include <execinfo.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/tstamp.h"
#include "util/uuid.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.0.0"
#endif

#define MAX_HEADERS_IN_REPORT 64
#define MAX_HEADER_VALUE 1024
#define STDERR_LINE_MAX 2048
#define FINGERPRINT_FRAMES 3

typedef struct span_rec {
    uint8_t id[SPANID_SIZE];
    int parent;              /* index, or -1: under the incoming context */
    int kind;
    int status;
    bool ended;
    int64_t start_ns, end_ns;
    size_t n_events;
    buf_t name;
    buf_t status_msg;
    attrs_t attrs;
    buf_t events;            /* event objects joined by ',' */
    buf_t attrs_json;        /* built by to_batch */
    buf_t events_json;       /* built by to_batch */
} span_rec;

typedef struct log_rec {
    int64_t time_ns;
    int severity;
    int span;                /* index or -1 */
    bool own_ids;            /* trace_id/span_id below instead of the request's */
    char trace_id[TRACEID_HEX_SIZE];
    char span_id[SPANID_HEX_SIZE];
    buf_t body;
    buf_t attrs_json;
} log_rec;

typedef struct err_rec {
    char uuid[UUID_STR_SIZE];
    int64_t time_ns;
    char level[12];
    char trace_id[TRACEID_HEX_SIZE];
    char span_id[SPANID_HEX_SIZE];
    buf_t class_name, message, frames_json, request_json, context, fingerprint;
} err_rec;

struct trace_request {
    trace_config cfg;
    redact_t *own_redact;
    sampler_t default_sampler;

    /* the request */
    uint8_t trace_id[TRACEID_SIZE];
    char trace_hex[TRACEID_HEX_SIZE];
    prop_context incoming;
    bool sampled;
    bool has_http;
    trace_http_info http;
    buf_t route;
    size_t dropped;

    span_rec *spans;
    size_t n_spans, cap_spans;
    log_rec *logs;
    size_t n_logs, cap_logs;
    err_rec *errs;
    size_t n_errs, cap_errs;

    attrs_t scratch;         /* handed out by trace_scratch_attrs */
    attrs_t tmp;             /* internal: exception events, access log */
    buf_t tmpbuf;            /* internal: formatting */
    buf_t tmpbuf2;           /* internal: a second one, for the access log body */

    /* batch views */
    spool_span *out_spans;
    size_t cap_out_spans;
    spool_log *out_logs;
    size_t cap_out_logs;
    spool_error *out_errs;
    size_t cap_out_errs;
};

static const char *bstr(const buf_t *b)
{
    return b->data ? b->data : "";
}

/* Replaces b's content with s cut to max bytes at a UTF-8 boundary. */
static int bset(buf_t *b, const char *s, size_t max)
{
    buf_reset(b);
    if (s == NULL)
        return 0;
    size_t n = attrs_utf8_cut(s, strlen(s), max);
    return buf_append(b, s, n);
}

static int64_t now_or(int64_t t)
{
    return t != 0 ? t : tstamp_now_ns();
}

/* ---- configuration ---------------------------------------------------- */

void trace_config_defaults(trace_config *c)
{
    memset(c, 0, sizeof *c);
    c->scope_name = "cruddur";
    c->scope_version = PACKAGE_VERSION;
    c->program = "cruddur-api";
    c->log_threshold = TRACE_SEV_INFO;
    c->stderr_fd = 2;
    c->max_spans = TRACE_DEFAULT_MAX_SPANS;
    c->max_logs = TRACE_DEFAULT_MAX_LOGS;
    c->max_errors = TRACE_DEFAULT_MAX_ERRORS;
    c->attr_count_limit = ATTRS_DEFAULT_MAX_COUNT;
    c->attr_value_limit = ATTRS_DEFAULT_MAX_VALUE_LEN;
}

static const struct {
    const char *name;
    int sev;
} severities[] = {
    {"trace", TRACE_SEV_TRACE}, {"debug", TRACE_SEV_DEBUG}, {"info", TRACE_SEV_INFO},
    {"warn", TRACE_SEV_WARN},   {"warning", TRACE_SEV_WARN}, {"error", TRACE_SEV_ERROR},
    {"fatal", TRACE_SEV_FATAL}, {"critical", TRACE_SEV_FATAL},
};

int trace_severity_parse(const char *s)
{
    if (s == NULL || *s == '\0')
        return -1;
    for (size_t i = 0; i < sizeof severities / sizeof severities[0]; i++)
        if (strcasecmp(s, severities[i].name) == 0)
            return severities[i].sev;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno == 0 && *end == '\0' && v >= 1 && v <= 24)
        return (int)v;
    return -1;
}

const char *trace_severity_text(int severity)
{
    if (severity >= TRACE_SEV_FATAL)
        return "FATAL";
    if (severity >= TRACE_SEV_ERROR)
        return "ERROR";
    if (severity >= TRACE_SEV_WARN)
        return "WARN";
    if (severity >= TRACE_SEV_INFO)
        return "INFO";
    if (severity >= TRACE_SEV_DEBUG)
        return "DEBUG";
    return "TRACE";
}

static const char *env_get(char **env, const char *name)
{
    if (env == NULL)
        return getenv(name);
    size_t n = strlen(name);
    for (char **e = env; *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static int env_size(char **env, const char *name, size_t lo, size_t hi, size_t *out,
                    char *warn, size_t warn_size)
{
    const char *v = env_get(env, name);
    if (v == NULL || *v == '\0')
        return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || v[0] == '-' || x < lo || x > hi) {
        snprintf(warn, warn_size, "%s=%.40s is not a number in %zu..%zu; using %zu", name, v, lo,
                 hi, *out);
        return 1;
    }
    *out = (size_t)x;
    return 0;
}

int trace_config_from_env(trace_config *c, char **env, char *warn, size_t warn_size)
{
    int rc = 0;
    if (warn_size > 0)
        warn[0] = '\0';
    const char *lvl = env_get(env, "CRUDDUR_LOG_LEVEL");
    if (lvl != NULL && *lvl != '\0') {
        int sev = trace_severity_parse(lvl);
        if (sev < 0) {
            snprintf(warn, warn_size, "CRUDDUR_LOG_LEVEL=%.40s is not a level; using %s", lvl,
                     trace_severity_text(c->log_threshold));
            rc = 1;
        } else {
            c->log_threshold = sev;
        }
    }
    if (rc == 0)
        rc = env_size(env, "OTEL_ATTRIBUTE_COUNT_LIMIT", 1, 4096, &c->attr_count_limit, warn,
                      warn_size);
    else
        env_size(env, "OTEL_ATTRIBUTE_COUNT_LIMIT", 1, 4096, &c->attr_count_limit, NULL, 0);
    if (rc == 0)
        rc = env_size(env, "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", 1, ATTRS_MAX_ARENA / 4,
                      &c->attr_value_limit, warn, warn_size);
    else
        env_size(env, "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", 1, ATTRS_MAX_ARENA / 4,
                 &c->attr_value_limit, NULL, 0);
    return rc;
}

/* ---- life cycle ------------------------------------------------------- */

trace_request *trace_request_new(const trace_config *cfg)
{
    if (cfg == NULL || cfg->rng == NULL)
        return NULL;
    trace_request *tr = calloc(1, sizeof *tr);
    if (tr == NULL)
        return NULL;
    tr->cfg = *cfg;
    if (tr->cfg.scope_name == NULL)
        tr->cfg.scope_name = "cruddur";
    if (tr->cfg.scope_version == NULL)
        tr->cfg.scope_version = PACKAGE_VERSION;
    if (tr->cfg.program == NULL)
        tr->cfg.program = "cruddur-api";
    if (tr->cfg.max_spans == 0)
        tr->cfg.max_spans = TRACE_DEFAULT_MAX_SPANS;
    if (tr->cfg.max_logs == 0)
        tr->cfg.max_logs = TRACE_DEFAULT_MAX_LOGS;
    if (tr->cfg.max_errors == 0)
        tr->cfg.max_errors = TRACE_DEFAULT_MAX_ERRORS;
    if (tr->cfg.log_threshold <= 0)
        tr->cfg.log_threshold = TRACE_SEV_INFO;
    if (tr->cfg.sampler == NULL) {
        sampler_configure(&tr->default_sampler, NULL, NULL, NULL, 0);
        tr->cfg.sampler = &tr->default_sampler;
    }
    if (tr->cfg.redact == NULL) {
        tr->own_redact = redact_new(NULL, NULL);
        if (tr->own_redact == NULL) {
            free(tr);
            return NULL;
        }
        tr->cfg.redact = tr->own_redact;
    }
    attrs_init(&tr->scratch, cfg->attr_count_limit, cfg->attr_value_limit);
    attrs_init(&tr->tmp, cfg->attr_count_limit, cfg->attr_value_limit);
    prop_context_init(&tr->incoming);
    trace_request_begin(tr, 0, NULL);
    return tr;
}

void trace_request_free(trace_request *tr)
{
    if (tr == NULL)
        return;
    for (size_t i = 0; i < tr->cap_spans; i++) {
        span_rec *s = &tr->spans[i];
        buf_free(&s->name);
        buf_free(&s->status_msg);
        attrs_free(&s->attrs);
        buf_free(&s->events);
        buf_free(&s->attrs_json);
        buf_free(&s->events_json);
    }
    for (size_t i = 0; i < tr->cap_logs; i++) {
        buf_free(&tr->logs[i].body);
        buf_free(&tr->logs[i].attrs_json);
    }
    for (size_t i = 0; i < tr->cap_errs; i++) {
        err_rec *e = &tr->errs[i];
        buf_free(&e->class_name);
        buf_free(&e->message);
        buf_free(&e->frames_json);
        buf_free(&e->request_json);
        buf_free(&e->context);
        buf_free(&e->fingerprint);
    }
    free(tr->spans);
    free(tr->logs);
    free(tr->errs);
    free(tr->out_spans);
    free(tr->out_logs);
    free(tr->out_errs);
    attrs_free(&tr->scratch);
    attrs_free(&tr->tmp);
    buf_free(&tr->tmpbuf);
    buf_free(&tr->tmpbuf2);
    buf_free(&tr->route);
    redact_free(tr->own_redact);
    free(tr);
}

/* Makes room for one more element (zeroed when new) in a reused array. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem, size_t max)
{
    if (n < *cap)
        return 0;
    if (n >= max)
        return 1;
    size_t nc = *cap ? *cap * 2 : 8;
    if (nc > max)
        nc = max;
    void *p = realloc(*arr, nc * elem);
    if (p == NULL)
        return -1;
    memset((char *)p + *cap * elem, 0, (nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return 0;
}

void trace_request_begin(trace_request *tr, int64_t start_ns, const prop_context *incoming)
{
    start_ns = now_or(start_ns);
    tr->n_spans = tr->n_logs = tr->n_errs = 0;
    tr->dropped = 0;
    tr->has_http = false;
    buf_reset(&tr->route);
    if (incoming != NULL && incoming->source != PROP_NONE) {
        tr->incoming = *incoming;
        memcpy(tr->trace_id, incoming->trace_id, TRACEID_SIZE);
    } else {
        prop_context_init(&tr->incoming);
        traceid_new_trace(tr->cfg.rng, start_ns / 1000000000LL, tr->trace_id);
    }
    traceid_to_hex(tr->trace_id, TRACEID_SIZE, tr->trace_hex);
    tr->sampled = sampler_should_sample(tr->cfg.sampler, tr->trace_id, tr->incoming.has_parent,
                                        tr->incoming.sampled);
}

bool trace_request_sampled(const trace_request *tr)
{
    return tr->sampled;
}

const uint8_t *trace_request_trace_id(const trace_request *tr)
{
    return tr->trace_id;
}

const char *trace_request_trace_id_hex(const trace_request *tr)
{
    return tr->trace_hex;
}

const prop_context *trace_request_incoming(const trace_request *tr)
{
    return &tr->incoming;
}

void trace_request_set_http(trace_request *tr, const trace_http_info *info)
{
    tr->has_http = info != NULL;
    if (info != NULL)
        tr->http = *info;
}

void trace_request_set_route(trace_request *tr, const char *route)
{
    bset(&tr->route, route, TRACE_MAX_TEXT);
}

size_t trace_request_dropped(const trace_request *tr)
{
    size_t n = tr->dropped;
    for (size_t i = 0; i < tr->n_spans; i++)
        n += attrs_dropped(&tr->spans[i].attrs);
    return n;
}

/* ---- spans ------------------------------------------------------------ */

static span_rec *span_get(trace_request *tr, trace_span s)
{
    if (tr == NULL || s < 0 || (size_t)s >= tr->n_spans)
        return NULL;
    return &tr->spans[s];
}

static const span_rec *span_cget(const trace_request *tr, trace_span s)
{
    if (tr == NULL || s < 0 || (size_t)s >= tr->n_spans)
        return NULL;
    return &tr->spans[s];
}

/* The span if attributes and events are being recorded for it. */
static span_rec *span_rec_if_recording(trace_request *tr, trace_span s)
{
    span_rec *sp = span_get(tr, s);
    return (sp != NULL && tr->sampled && !sp->ended) ? sp : NULL;
}

trace_span trace_span_start(trace_request *tr, trace_span parent, const char *name, int kind,
                            int64_t start_ns)
{
    if (tr == NULL)
        return TRACE_SPAN_NONE;
    size_t old_cap = tr->cap_spans;
    if (grow((void **)&tr->spans, &tr->cap_spans, tr->n_spans, sizeof *tr->spans,
             tr->cfg.max_spans) != 0) {
        tr->dropped++;
        return TRACE_SPAN_NONE;
    }
    for (size_t i = old_cap; i < tr->cap_spans; i++)
        attrs_init(&tr->spans[i].attrs, tr->cfg.attr_count_limit, tr->cfg.attr_value_limit);
    span_rec *sp = &tr->spans[tr->n_spans];
    traceid_new_span(tr->cfg.rng, sp->id);
    sp->parent = span_get(tr, parent) ? parent : -1;
    sp->kind = kind;
    sp->status = SPOOL_STATUS_UNSET;
    sp->ended = false;
    sp->start_ns = now_or(start_ns);
    sp->end_ns = 0;
    sp->n_events = 0;
    bset(&sp->name, name, TRACE_MAX_TEXT);
    buf_reset(&sp->status_msg);
    attrs_reset(&sp->attrs);
    buf_reset(&sp->events);
    return (trace_span)tr->n_spans++;
}

trace_span trace_span_current(const trace_request *tr)
{
    if (tr == NULL)
        return TRACE_SPAN_NONE;
    for (size_t i = tr->n_spans; i-- > 0;)
        if (!tr->spans[i].ended)
            return (trace_span)i;
    return TRACE_SPAN_NONE;
}

void trace_span_end(trace_request *tr, trace_span s, int64_t end_ns)
{
    span_rec *sp = span_get(tr, s);
    if (sp == NULL || sp->ended)
        return;
    sp->end_ns = now_or(end_ns);
    if (sp->end_ns < sp->start_ns)
        sp->end_ns = sp->start_ns;
    sp->ended = true;
}

void trace_span_set_name(trace_request *tr, trace_span s, const char *name)
{
    span_rec *sp = span_get(tr, s);
    if (sp != NULL)
        bset(&sp->name, name, TRACE_MAX_TEXT);
}

void trace_span_set_status(trace_request *tr, trace_span s, int code, const char *message)
{
    span_rec *sp = span_get(tr, s);
    if (sp == NULL || code < SPOOL_STATUS_UNSET || code > SPOOL_STATUS_ERROR)
        return;
    /* OK is final; ERROR may be overridden only by OK (OTel API rules). */
    if (sp->status == SPOOL_STATUS_OK)
        return;
    sp->status = code;
    bset(&sp->status_msg, code == SPOOL_STATUS_ERROR ? message : NULL, TRACE_MAX_TEXT);
}

attrs_t *trace_span_attrs(trace_request *tr, trace_span s)
{
    span_rec *sp = span_rec_if_recording(tr, s);
    return sp ? &sp->attrs : NULL;
}

void trace_span_set_str(trace_request *tr, trace_span s, const char *key, const char *value)
{
    attrs_t *a = trace_span_attrs(tr, s);
    if (a != NULL)
        attrs_set_str(a, key, value);
}

void trace_span_set_int(trace_request *tr, trace_span s, const char *key, int64_t value)
{
    attrs_t *a = trace_span_attrs(tr, s);
    if (a != NULL)
        attrs_set_int(a, key, value);
}

void trace_span_set_double(trace_request *tr, trace_span s, const char *key, double value)
{
    attrs_t *a = trace_span_attrs(tr, s);
    if (a != NULL)
        attrs_set_double(a, key, value);
}

void trace_span_set_bool(trace_request *tr, trace_span s, const char *key, bool value)
{
    attrs_t *a = trace_span_attrs(tr, s);
    if (a != NULL)
        attrs_set_bool(a, key, value);
}

void trace_span_set_str_array(trace_request *tr, trace_span s, const char *key,
                              const char *const *values, size_t n)
{
    attrs_t *a = trace_span_attrs(tr, s);
    if (a != NULL)
        attrs_set_str_array(a, key, values, n);
}

void trace_span_set_int_array(trace_request *tr, trace_span s, const char *key,
                              const int64_t *values, size_t n)
{
    attrs_t *a = trace_span_attrs(tr, s);
    if (a != NULL)
        attrs_set_int_array(a, key, values, n);
}

attrs_t *trace_scratch_attrs(trace_request *tr)
{
    attrs_reset(&tr->scratch);
    return &tr->scratch;
}

int trace_span_add_event(trace_request *tr, trace_span s, const char *name, int64_t time_ns,
                         const attrs_t *attrs)
{
    span_rec *sp = span_rec_if_recording(tr, s);
    if (sp == NULL)
        return 1;
    if (sp->n_events >= TRACE_MAX_EVENTS) {
        tr->dropped++;
        return 1;
    }
    buf_t *b = &sp->events;
    size_t mark = b->len;
    int rc = 0;
    if (sp->n_events > 0)
        rc |= buf_putc(b, ',');
    rc |= buf_puts(b, "{\"name\":");
    rc |= attrs_json_cstr(b, name ? name : "");
    rc |= buf_printf(b, ",\"time_ns\":%" PRId64 ",\"attributes\":", now_or(time_ns));
    if (attrs != NULL)
        rc |= attrs_to_json(attrs, b);
    else
        rc |= buf_puts(b, "{}");
    rc |= buf_putc(b, '}');
    if (rc != 0) {
        b->len = mark;
        if (b->data != NULL)
            b->data[mark] = '\0';
        return -1;
    }
    sp->n_events++;
    return 0;
}

/* ---- backtraces ------------------------------------------------------- */

typedef struct bt {
    void *frames[TRACE_MAX_FRAMES];
    int n;
    char **syms;     /* from backtrace_symbols (one malloc), or NULL */
} bt;

/* Captures the stack from the frame that returns to `from` (the public
 * function's return address, so the report starts in its caller), minus
 * `skip` more frames. Matching the address rather than counting frames
 * keeps this right when a sanitizer adds frames of its own. */
static __attribute__((noinline)) void bt_capture(bt *b, const void *from, int skip)
{
    void *all[TRACE_MAX_FRAMES + 16];
    int n = backtrace(all, TRACE_MAX_FRAMES + 16);
    int start = -1;
    for (int i = 0; i < n && start < 0; i++)
        if (all[i] == from)
            start = i;
    if (start < 0)
        start = 2;   /* this function and the public one */
    start += skip;
    if (start > n)
        start = n;
    b->n = n - start;
    if (b->n > TRACE_MAX_FRAMES)
        b->n = TRACE_MAX_FRAMES;
    memcpy(b->frames, all + start, (size_t)b->n * sizeof(void *));
    b->syms = b->n > 0 ? backtrace_symbols(b->frames, b->n) : NULL;
}

static void bt_free(bt *b)
{
    free(b->syms);
    b->syms = NULL;
}

/* Splits "file(func+0x1a) [0xaddr]" into the file and "func+0x1a". */
static void parse_symbol(const char *line, const char **file, size_t *flen, const char **meth,
                         size_t *mlen)
{
    const char *open = strchr(line, '(');
    const char *close = open ? strchr(open, ')') : NULL;
    *file = line;
    if (open != NULL && close != NULL) {
        *flen = (size_t)(open - line);
        *meth = open + 1;
        *mlen = (size_t)(close - open - 1);
        return;
    }
    const char *sp = strstr(line, " [");
    *flen = sp ? (size_t)(sp - line) : strlen(line);
    *meth = "";
    *mlen = 0;
}

static void fnv(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= c[i];
        *h *= 0x100000001b3ULL;
    }
}

/* Rollbar frames, outermost call first, from symbol lines given innermost
 * first; also folds the innermost frames into the fingerprint hash. */
static int frames_json(buf_t *out, const char *const *syms, size_t n, uint64_t *fp)
{
    int rc = buf_putc(out, '[');
    for (size_t k = 0; k < n && rc == 0; k++) {
        const char *line = syms[n - 1 - k];
        const char *file, *meth;
        size_t fl, ml;
        parse_symbol(line, &file, &fl, &meth, &ml);
        if (k > 0)
            rc |= buf_putc(out, ',');
        rc |= buf_puts(out, "{\"filename\":");
        rc |= attrs_json_string(out, fl ? file : "?", fl ? fl : 1);
        if (ml > 0) {
            rc |= buf_puts(out, ",\"method\":");
            rc |= attrs_json_string(out, meth, ml);
        }
        rc |= buf_putc(out, '}');
    }
    rc |= buf_putc(out, ']');
    for (size_t i = 0; i < n && i < FINGERPRINT_FRAMES; i++) {
        const char *file, *meth;
        size_t fl, ml;
        parse_symbol(syms[i], &file, &fl, &meth, &ml);
        /* The file's base name only: install paths differ between hosts. */
        const char *base = file;
        for (size_t j = 0; j < fl; j++)
            if (file[j] == '/')
                base = file + j + 1;
        fnv(fp, base, fl - (size_t)(base - file));
        fnv(fp, "(", 1);
        fnv(fp, meth, ml);
        fnv(fp, ")", 1);
    }
    return rc ? -1 : 0;
}

static int stacktrace_text(buf_t *out, const char *const *syms, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((i > 0 && buf_putc(out, '\n') != 0) || buf_puts(out, syms[i]) != 0)
            return -1;
    return 0;
}

static int exception_event(trace_request *tr, trace_span s, const char *type, const char *message,
                           const char *stacktrace)
{
    if (span_rec_if_recording(tr, s) == NULL)
        return 1;
    attrs_t *a = &tr->tmp;
    attrs_reset(a);
    if (attrs_set_str(a, "exception.type", type ? type : "") < 0 ||
        attrs_set_str(a, "exception.message", message ? message : "") < 0 ||
        (stacktrace != NULL && attrs_set_str(a, "exception.stacktrace", stacktrace) < 0))
        return -1;
    return trace_span_add_event(tr, s, "exception", 0, a);
}

int trace_span_record_exception(trace_request *tr, trace_span s, const char *type,
                                const char *message, const char *stacktrace)
{
    if (span_rec_if_recording(tr, s) == NULL)
        return 1;
    if (stacktrace != NULL)
        return exception_event(tr, s, type, message, stacktrace);
    bt b;
    bt_capture(&b, __builtin_return_address(0), 0);
    buf_reset(&tr->tmpbuf);
    int rc = -1;
    if (b.syms == NULL || stacktrace_text(&tr->tmpbuf, (const char *const *)b.syms, (size_t)b.n) == 0)
        rc = exception_event(tr, s, type, message, bstr(&tr->tmpbuf));
    bt_free(&b);
    return rc;
}

void trace_span_id(const trace_request *tr, trace_span s, uint8_t out[SPANID_SIZE])
{
    const span_rec *sp = span_cget(tr, s);
    if (sp != NULL)
        memcpy(out, sp->id, SPANID_SIZE);
    else
        memset(out, 0, SPANID_SIZE);
}

void trace_span_id_hex(const trace_request *tr, trace_span s, char out[SPANID_HEX_SIZE])
{
    const span_rec *sp = span_cget(tr, s);
    if (sp != NULL)
        traceid_to_hex(sp->id, SPANID_SIZE, out);
    else
        out[0] = '\0';
}

void trace_span_traceparent(const trace_request *tr, trace_span s, char out[PROP_TRACEPARENT_SIZE])
{
    uint8_t id[SPANID_SIZE];
    trace_span_id(tr, s, id);
    if (traceid_is_zero(id, SPANID_SIZE)) {
        /* No span: pass the incoming parent on unchanged if there is one. */
        if (tr->incoming.has_parent)
            memcpy(id, tr->incoming.parent_id, SPANID_SIZE);
        else
            id[SPANID_SIZE - 1] = 1;
    }
    prop_format_traceparent(tr->trace_id, id, tr->sampled, out);
}

/* ---- logs ------------------------------------------------------------- */

bool trace_log_enabled(const trace_request *tr, int severity)
{
    return tr != NULL && severity >= tr->cfg.log_threshold;
}

/* One line on stderr: "<time> <program>[<pid>]: WARN <body> trace_id=... span_id=...". */
static void stderr_line(trace_request *tr, const log_rec *l)
{
    if (tr->cfg.stderr_fd < 0)
        return;
    char line[STDERR_LINE_MAX];
    char when[TSTAMP_ISO_SIZE];
    if (tstamp_iso8601(l->time_ns / 1000, when) != 0)
        strcpy(when, "-");
    int n = snprintf(line, sizeof line, "%s %s[%ld]: %s ", when, tr->cfg.program, (long)getpid(),
                     trace_severity_text(l->severity));
    if (n < 0)
        return;
    size_t o = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    const char *body = bstr(&l->body);
    size_t tail = 120;   /* room kept for the ids and the newline */
    for (size_t i = 0; body[i] != '\0' && o + 4 < sizeof line - tail; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c == '\n' || c == '\r' || c == '\t') {
            line[o++] = '\\';
            line[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c < 0x20 || c == 0x7F) {
            line[o++] = '?';
        } else {
            line[o++] = (char)c;
        }
    }
    const char *tid = l->own_ids ? l->trace_id : tr->trace_hex;
    char sid[SPANID_HEX_SIZE];
    if (l->own_ids)
        memcpy(sid, l->span_id, sizeof sid);
    else
        trace_span_id_hex(tr, l->span, sid);
    n = snprintf(line + o, sizeof line - o, "%s%s%s%s\n", tid[0] ? " trace_id=" : "", tid,
                 sid[0] ? " span_id=" : "", sid);
    if (n > 0)
        o += (size_t)n < sizeof line - o ? (size_t)n : sizeof line - o - 1;
    ssize_t w;
    do
        w = write(tr->cfg.stderr_fd, line, o);
    while (w < 0 && errno == EINTR);
}

static log_rec *log_new(trace_request *tr, int severity)
{
    if (!trace_log_enabled(tr, severity))
        return NULL;
    if (grow((void **)&tr->logs, &tr->cap_logs, tr->n_logs, sizeof *tr->logs, tr->cfg.max_logs) != 0) {
        tr->dropped++;
        return NULL;
    }
    log_rec *l = &tr->logs[tr->n_logs];
    l->time_ns = tstamp_now_ns();
    l->severity = severity;
    l->span = -1;
    l->own_ids = false;
    buf_reset(&l->body);
    buf_reset(&l->attrs_json);
    return l;
}

static int log_finish(trace_request *tr, log_rec *l, const char *body, const attrs_t *attrs)
{
    if (bset(&l->body, body ? body : "", TRACE_MAX_TEXT) != 0 ||
        (attrs ? attrs_to_json(attrs, &l->attrs_json) : buf_puts(&l->attrs_json, "{}")) != 0)
        return -1;
    tr->n_logs++;
    if (l->severity >= TRACE_SEV_WARN)
        stderr_line(tr, l);
    return 0;
}

int trace_log(trace_request *tr, trace_span s, int severity, const char *body, const attrs_t *attrs)
{
    if (tr == NULL)
        return 1;
    log_rec *l = log_new(tr, severity);
    if (l == NULL)
        return 1;
    l->span = span_get(tr, s) ? s : -1;
    return log_finish(tr, l, body, attrs);
}

int trace_logf(trace_request *tr, trace_span s, int severity, const char *fmt, ...)
{
    if (!trace_log_enabled(tr, severity))
        return 1;
    va_list ap;
    va_start(ap, fmt);
    buf_reset(&tr->tmpbuf);
    int rc = buf_vprintf(&tr->tmpbuf, fmt, ap);
    va_end(ap);
    if (rc != 0)
        return -1;
    return trace_log(tr, s, severity, bstr(&tr->tmpbuf), NULL);
}

int trace_access_log(trace_request *tr, trace_span s, const trace_access *a)
{
    if (!trace_log_enabled(tr, TRACE_SEV_INFO))
        return 1;
    buf_t *target = &tr->tmpbuf;
    buf_reset(target);
    if (redact_url(tr->cfg.redact, a->target ? a->target : "", target) != 0)
        return -1;
    const char *t = bstr(target);
    attrs_t *at = &tr->tmp;
    attrs_reset(at);
    size_t plen = strcspn(t, "?#");
    int rc = 0;
    if (a->client_address && *a->client_address)
        rc |= attrs_set_str(at, "client.address", a->client_address) < 0;
    if (a->method)
        rc |= attrs_set_str(at, "http.request.method", a->method) < 0;
    if (a->scheme)
        rc |= attrs_set_str(at, "url.scheme", a->scheme) < 0;
    rc |= attrs_set_strn(at, "url.path", t, plen) < 0;
    if (t[plen] == '?')
        rc |= attrs_set_strn(at, "url.query", t + plen + 1, strcspn(t + plen + 1, "#")) < 0;
    rc |= attrs_set_int(at, "http.response.status_code", a->status) < 0;
    if (a->bytes >= 0)
        rc |= attrs_set_int(at, "http.response.body.size", a->bytes) < 0;
    if (a->user_agent)
        rc |= attrs_set_str(at, "user_agent.original", a->user_agent) < 0;
    rc |= attrs_set_double(at, "http.server.request.duration", (double)a->duration_ns / 1e9) < 0;
    if (rc != 0)
        return -1;

    /* The body quotes the redacted target, which lives in tmpbuf. */
    buf_t *body = &tr->tmpbuf2;
    buf_reset(body);
    char bytes[24];
    if (a->bytes >= 0)
        snprintf(bytes, sizeof bytes, "%" PRId64, a->bytes);
    else
        strcpy(bytes, "-");
    if (buf_printf(body, "%s %s %s %s %d %s %.3fms",
                   a->client_address && *a->client_address ? a->client_address : "-",
                   a->method ? a->method : "-", a->scheme ? a->scheme : "-", t, a->status, bytes,
                   (double)a->duration_ns / 1e6) != 0)
        return -1;
    return trace_log(tr, s, TRACE_SEV_INFO, bstr(body), at);
}

/* ---- error reports ---------------------------------------------------- */

static const char *const levels[] = {"critical", "error", "warning", "info", "debug"};

typedef struct hdr_ctx {
    trace_request *tr;
    buf_t *out;
    int count;
    int rc;
} hdr_ctx;

static int add_header(void *arg, const char *name, const char *value)
{
    hdr_ctx *h = arg;
    if (h->count >= MAX_HEADERS_IN_REPORT)
        return 1;
    const char *v = redact_header_value(h->tr->cfg.redact, name, value ? value : "");
    if ((h->count > 0 && buf_putc(h->out, ',') != 0) || attrs_json_cstr(h->out, name) != 0 ||
        buf_putc(h->out, ':') != 0 ||
        attrs_json_string(h->out, v, attrs_utf8_cut(v, strlen(v), MAX_HEADER_VALUE)) != 0) {
        h->rc = -1;
        return 1;
    }
    h->count++;
    return 0;
}

/* {"method","url","query_string","headers","user_ip"}, all redacted. */
static int request_json(trace_request *tr, buf_t *out)
{
    const trace_http_info *h = &tr->http;
    buf_t *url = &tr->tmpbuf;
    buf_reset(url);
    int rc = 0;
    if (h->scheme && h->host && *h->host)
        rc |= buf_printf(url, "%s://%s", h->scheme, h->host);
    rc |= redact_url(tr->cfg.redact, h->target ? h->target : "", url);
    if (rc != 0)
        return -1;
    const char *u = bstr(url);
    rc |= buf_puts(out, "{\"method\":");
    rc |= attrs_json_cstr(out, h->method ? h->method : "");
    rc |= buf_puts(out, ",\"url\":");
    rc |= attrs_json_cstr(out, u);
    const char *q = strchr(u, '?');
    if (q != NULL) {
        rc |= buf_puts(out, ",\"query_string\":");
        rc |= attrs_json_string(out, q + 1, strcspn(q + 1, "#"));
    }
    rc |= buf_puts(out, ",\"headers\":{");
    if (rc == 0 && h->each_header != NULL) {
        hdr_ctx hc = {tr, out, 0, 0};
        h->each_header(h->header_src, add_header, &hc);
        rc |= hc.rc;
    }
    rc |= buf_putc(out, '}');
    if (h->client_address && *h->client_address) {
        rc |= buf_puts(out, ",\"user_ip\":");
        rc |= attrs_json_cstr(out, h->client_address);
    }
    rc |= buf_putc(out, '}');
    return rc ? -1 : 0;
}

static err_rec *err_new(trace_request *tr)
{
    if (grow((void **)&tr->errs, &tr->cap_errs, tr->n_errs, sizeof *tr->errs, tr->cfg.max_errors) != 0) {
        tr->dropped++;
        return NULL;
    }
    err_rec *e = &tr->errs[tr->n_errs];
    buf_reset(&e->class_name);
    buf_reset(&e->message);
    buf_reset(&e->frames_json);
    buf_reset(&e->request_json);
    buf_reset(&e->context);
    buf_reset(&e->fingerprint);
    e->time_ns = tstamp_now_ns();
    strcpy(e->level, "error");
    e->trace_id[0] = e->span_id[0] = '\0';
    return e;
}

static void set_level(err_rec *e, const char *level)
{
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (level != NULL && strcmp(level, levels[i]) == 0)
            strcpy(e->level, levels[i]);
}

static int file_error(trace_request *tr, trace_span s, const char *level, const char *class_name,
                      const char *message, const bt *b)
{
    err_rec *e = err_new(tr);
    if (e == NULL)
        return 1;
    set_level(e, level);
    const char *cls = class_name && *class_name ? class_name : "Error";
    uint64_t fp = 0xcbf29ce484222325ULL;
    fnv(&fp, cls, strlen(cls));
    int rc = 0;
    rc |= bset(&e->class_name, cls, TRACE_MAX_TEXT);
    rc |= bset(&e->message, message ? message : "", TRACE_MAX_TEXT);
    if (b->syms != NULL) {
        rc |= frames_json(&e->frames_json, (const char *const *)b->syms, (size_t)b->n, &fp);
    } else {
        rc |= buf_puts(&e->frames_json, "[]");
        if (message != NULL)
            fnv(&fp, message, strlen(message));
    }
    rc |= buf_printf(&e->fingerprint, "%016" PRIx64, fp);
    if (tr->has_http)
        rc |= request_json(tr, &e->request_json);
    rc |= buf_append(&e->context, bstr(&tr->route), tr->route.len);
    if (rc != 0)
        return -1;
    uuid_v4(tr->cfg.rng, e->uuid);
    memcpy(e->trace_id, tr->trace_hex, sizeof e->trace_id);
    trace_span_id_hex(tr, s, e->span_id);
    tr->n_errs++;
    return 0;
}

int trace_error(trace_request *tr, trace_span s, const char *level, const char *class_name,
                const char *message, int skip)
{
    if (tr == NULL)
        return 1;
    bt b;
    bt_capture(&b, __builtin_return_address(0), skip > 0 ? skip : 0);
    int rc = file_error(tr, s, level, class_name, message, &b);
    bt_free(&b);
    return rc;
}

int trace_fail(trace_request *tr, trace_span s, const char *class_name, const char *message)
{
    if (tr == NULL)
        return 1;
    bt b;
    bt_capture(&b, __builtin_return_address(0), 0);
    trace_span_set_status(tr, s, SPOOL_STATUS_ERROR, message);
    int rc = 0;
    if (span_rec_if_recording(tr, s) != NULL) {
        buf_t st = BUF_INIT;
        if (b.syms != NULL && stacktrace_text(&st, (const char *const *)b.syms, (size_t)b.n) != 0)
            rc = -1;
        if (rc == 0 && exception_event(tr, s, class_name, message, b.syms ? bstr(&st) : NULL) < 0)
            rc = -1;
        buf_free(&st);
    }
    int r2 = file_error(tr, s, "error", class_name, message, &b);
    bt_free(&b);
    return rc < 0 ? rc : r2;
}

/* A v4-shaped uuid that depends only on the crash record, so that a record
 * delivered twice (a failure between spool_write and the file's removal)
 * becomes the same spool row. */
static void crash_uuid(const crash_record *r, char out[UUID_STR_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t h1 = 0xcbf29ce484222325ULL, h2 = 0x84222325cbf29ce4ULL;
    int64_t fields[5] = {r->pid, r->time_ns, r->signo, r->code, (int64_t)r->addr};
    fnv(&h1, fields, sizeof fields);
    fnv(&h1, r->request, strlen(r->request));
    fnv(&h2, &h1, sizeof h1);
    fnv(&h2, fields, sizeof fields);
    unsigned char b[16];
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(h1 >> (8 * i));
        b[8 + i] = (unsigned char)(h2 >> (8 * i));
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0x0F];
    }
    out[o] = '\0';
}

int trace_add_crash(trace_request *tr, const crash_record *rec)
{
    const char *cls = rec->signame[0] ? rec->signame : "SIGNAL";
    buf_t msg = BUF_INIT;
    int rc = buf_printf(&msg, "worker %ld died of %s (signal %d, code %d) at 0x%" PRIx64, rec->pid,
                        cls, rec->signo, rec->code, rec->addr);
    if (rec->request[0] != '\0') {
        /* "METHOD target": the target was redacted when it was noted, but
         * scrub again in case the rules changed since. */
        size_t ml = strcspn(rec->request, " ");
        const char *target = rec->request + ml + (rec->request[ml] == ' ');
        rc |= buf_printf(&msg, " while serving \"%.*s ", (int)ml, rec->request);
        rc |= redact_url(tr->cfg.redact, target, &msg);
        rc |= buf_putc(&msg, '"');
    }
    if (!rec->complete)
        rc |= buf_puts(&msg, " (crash record truncated)");
    if (rc != 0) {
        buf_free(&msg);
        return -1;
    }

    err_rec *e = err_new(tr);
    if (e == NULL) {
        buf_free(&msg);
        return 1;
    }
    set_level(e, "critical");
    uint64_t fp = 0xcbf29ce484222325ULL;
    fnv(&fp, cls, strlen(cls));
    rc |= bset(&e->class_name, cls, TRACE_MAX_TEXT);
    rc |= bset(&e->message, bstr(&msg), TRACE_MAX_TEXT);
    rc |= frames_json(&e->frames_json, rec->frames, rec->n_frames, &fp);
    rc |= buf_printf(&e->fingerprint, "%016" PRIx64, fp);
    if (rec->request[0] != '\0') {
        /* "METHOD target": the target was redacted when it was noted, but
         * scrub again in case the rules changed since. */
        size_t ml = strcspn(rec->request, " ");
        const char *target = rec->request + ml + (rec->request[ml] == ' ');
        buf_t *url = &tr->tmpbuf;
        buf_reset(url);
        rc |= redact_url(tr->cfg.redact, target, url);
        rc |= buf_puts(&e->request_json, "{\"method\":");
        rc |= attrs_json_string(&e->request_json, rec->request, ml);
        rc |= buf_puts(&e->request_json, ",\"url\":");
        rc |= attrs_json_cstr(&e->request_json, bstr(url));
        rc |= buf_putc(&e->request_json, '}');
        rc |= buf_append(&e->context, rec->request, ml);
        rc |= buf_putc(&e->context, ' ');
        rc |= buf_append(&e->context, target, strcspn(target, "?#"));
    }
    if (rc != 0) {
        buf_free(&msg);
        return -1;
    }
    crash_uuid(rec, e->uuid);
    e->time_ns = rec->time_ns > 0 ? rec->time_ns : tstamp_now_ns();
    memcpy(e->trace_id, rec->trace_id, sizeof e->trace_id);
    memcpy(e->span_id, rec->span_id, sizeof e->span_id);
    tr->n_errs++;

    log_rec *l = log_new(tr, TRACE_SEV_FATAL);
    if (l != NULL) {
        l->time_ns = e->time_ns;
        l->own_ids = true;
        memcpy(l->trace_id, rec->trace_id, sizeof l->trace_id);
        memcpy(l->span_id, rec->span_id, sizeof l->span_id);
        attrs_t *a = &tr->tmp;
        attrs_reset(a);
        attrs_set_str(a, "exception.type", cls);
        attrs_set_str(a, "error.report.uuid", e->uuid);
        rc = log_finish(tr, l, bstr(&msg), a) < 0 ? -1 : 0;
    }
    buf_free(&msg);
    return rc;
}

/* ---- the batch -------------------------------------------------------- */

void trace_request_end(trace_request *tr, int64_t end_ns)
{
    end_ns = now_or(end_ns);
    for (size_t i = 0; i < tr->n_spans; i++)
        trace_span_end(tr, (trace_span)i, end_ns);
}

static int ensure(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n <= *cap)
        return 0;
    void *p = realloc(*arr, n * elem);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = n;
    return 0;
}

int trace_request_to_batch(trace_request *tr, spool_batch *b)
{
    memset(b, 0, sizeof *b);
    size_t n_spans = tr->sampled ? tr->n_spans : 0;
    if (ensure((void **)&tr->out_spans, &tr->cap_out_spans, n_spans, sizeof *tr->out_spans) != 0 ||
        ensure((void **)&tr->out_logs, &tr->cap_out_logs, tr->n_logs, sizeof *tr->out_logs) != 0 ||
        ensure((void **)&tr->out_errs, &tr->cap_out_errs, tr->n_errs, sizeof *tr->out_errs) != 0)
        return -1;

    int64_t now = 0;
    for (size_t i = 0; i < n_spans; i++) {
        span_rec *sp = &tr->spans[i];
        spool_span *o = &tr->out_spans[i];
        memset(o, 0, sizeof *o);
        if (!sp->ended) {
            if (now == 0)
                now = tstamp_now_ns();
            trace_span_end(tr, (trace_span)i, now);
        }
        buf_reset(&sp->attrs_json);
        buf_reset(&sp->events_json);
        if (attrs_to_json(&sp->attrs, &sp->attrs_json) != 0 || buf_putc(&sp->events_json, '[') != 0 ||
            buf_append(&sp->events_json, bstr(&sp->events), sp->events.len) != 0 ||
            buf_putc(&sp->events_json, ']') != 0)
            return -1;
        memcpy(o->trace_id, tr->trace_hex, sizeof o->trace_id);
        traceid_to_hex(sp->id, SPANID_SIZE, o->span_id);
        if (sp->parent >= 0)
            traceid_to_hex(tr->spans[sp->parent].id, SPANID_SIZE, o->parent_span_id);
        else if (tr->incoming.has_parent)
            traceid_to_hex(tr->incoming.parent_id, SPANID_SIZE, o->parent_span_id);
        else
            o->parent_span_id[0] = '\0';
        o->name = bstr(&sp->name);
        o->kind = sp->kind;
        o->start_ns = sp->start_ns;
        o->end_ns = sp->end_ns;
        o->status_code = sp->status;
        o->status_message = sp->status == SPOOL_STATUS_ERROR && sp->status_msg.len > 0
                                ? sp->status_msg.data : NULL;
        o->attributes_json = bstr(&sp->attrs_json);
        o->events_json = bstr(&sp->events_json);
        o->links_json = NULL;
        o->trace_state = tr->incoming.tracestate[0] ? tr->incoming.tracestate : NULL;
        o->flags = PROP_FLAG_SAMPLED;
    }
    for (size_t i = 0; i < tr->n_logs; i++) {
        log_rec *l = &tr->logs[i];
        spool_log *o = &tr->out_logs[i];
        memset(o, 0, sizeof *o);
        o->time_ns = l->time_ns;
        o->observed_ns = l->time_ns;
        o->severity_number = l->severity;
        o->severity_text = trace_severity_text(l->severity);
        o->body = bstr(&l->body);
        o->attributes_json = bstr(&l->attrs_json);
        if (l->own_ids) {
            memcpy(o->trace_id, l->trace_id, sizeof o->trace_id);
            memcpy(o->span_id, l->span_id, sizeof o->span_id);
            o->flags = 0;
        } else {
            memcpy(o->trace_id, tr->trace_hex, sizeof o->trace_id);
            trace_span_id_hex(tr, l->span, o->span_id);
            o->flags = tr->sampled ? PROP_FLAG_SAMPLED : 0;
        }
    }
    for (size_t i = 0; i < tr->n_errs; i++) {
        err_rec *e = &tr->errs[i];
        spool_error *o = &tr->out_errs[i];
        memset(o, 0, sizeof *o);
        memcpy(o->uuid, e->uuid, sizeof o->uuid);
        o->time_ns = e->time_ns;
        o->level = e->level;
        o->class_name = bstr(&e->class_name);
        o->message = bstr(&e->message);
        o->frames_json = bstr(&e->frames_json);
        o->request_json = e->request_json.len ? e->request_json.data : NULL;
        o->context = e->context.len ? e->context.data : NULL;
        o->fingerprint = e->fingerprint.len ? e->fingerprint.data : NULL;
        o->custom_json = NULL;
        memcpy(o->trace_id, e->trace_id, sizeof o->trace_id);
        memcpy(o->span_id, e->span_id, sizeof o->span_id);
    }
    b->resource_json = tr->cfg.resource_json;
    b->scope_name = tr->cfg.scope_name;
    b->scope_version = tr->cfg.scope_version;
    b->spans = n_spans ? tr->out_spans : NULL;
    b->n_spans = n_spans;
    b->logs = tr->n_logs ? tr->out_logs : NULL;
    b->n_logs = tr->n_logs;
    b->errors = tr->n_errs ? tr->out_errs : NULL;
    b->n_errors = tr->n_errs;
    return 0;
}
