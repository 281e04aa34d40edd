/* export: the delivery engine shared by every exporter target: batches read
 * past a cursor, requests, classified answers, retries with backoff, the
 * splitting of refused batches, and acknowledgements in id order. See
 * export.h for the rules; the targets (otlp.c, rollbar.c) only encode and
 * classify. */
#include "export/export.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "export/backoff.h"
#include "spool/journal.h"
#include "util/rng.h"
#include "util/tstamp.h"

#define DEFAULT_BATCH 512
#define DEFAULT_MAX_BYTES (4u << 20)
#define ACK_TRIES 5
#define DEAD_PAYLOAD_MAX 65536          /* bytes of a record kept in dead_letter */

/* ---- the batch ------------------------------------------------------------ */

void export_batch_init(export_batch *b, size_t max_items, size_t max_bytes)
{
    memset(b, 0, sizeof *b);
    b->max_items = max_items;
    b->max_bytes = max_bytes;
}

static void free_groups(export_batch *b)
{
    for (size_t i = 0; i < b->n_groups; i++) {
        free(b->groups[i].resource_json);
        free(b->groups[i].scope_name);
        free(b->groups[i].scope_version);
    }
    b->n_groups = 0;
}

void export_batch_reset(export_batch *b)
{
    free_groups(b);
    b->n = 0;
    buf_reset(&b->arena);
    buf_reset(&b->reasons);
}

void export_batch_free(export_batch *b)
{
    free_groups(b);
    free(b->groups);
    free(b->items);
    buf_free(&b->arena);
    buf_free(&b->reasons);
    memset(b, 0, sizeof *b);
}

static int same_str(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static char *dup_or_null(const char *s, int *failed)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *failed = 1;
    return d;
}

int64_t export_batch_group(export_batch *b, const spool_origin *o)
{
    /* The last group first: consecutive records mostly share it. */
    for (size_t k = b->n_groups; k > 0; k--) {
        const export_group *g = &b->groups[k - 1];
        if (g->resource_id == o->resource_id && same_str(g->scope_name, o->scope_name) &&
            same_str(g->scope_version, o->scope_version))
            return (int64_t)(k - 1);
    }
    if (b->n_groups == b->cap_groups) {
        size_t cap = b->cap_groups ? b->cap_groups * 2 : 8;
        export_group *g = realloc(b->groups, cap * sizeof *g);
        if (g == NULL)
            return -1;
        b->groups = g;
        b->cap_groups = cap;
    }
    int failed = 0;
    export_group g = {
        .resource_id = o->resource_id,
        .resource_json = dup_or_null(o->resource_json ? o->resource_json : "{}", &failed),
        .scope_name = dup_or_null(o->scope_name, &failed),
        .scope_version = dup_or_null(o->scope_version, &failed),
    };
    if (failed) {
        free(g.resource_json);
        free(g.scope_name);
        free(g.scope_version);
        return -1;
    }
    b->groups[b->n_groups] = g;
    return (int64_t)b->n_groups++;
}

static export_item *new_item(export_batch *b, int64_t id)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        export_item *it = realloc(b->items, cap * sizeof *it);
        if (it == NULL)
            return NULL;
        b->items = it;
        b->cap = cap;
    }
    export_item *it = &b->items[b->n];
    memset(it, 0, sizeof *it);
    it->id = id;
    return it;
}

int export_batch_add(export_batch *b, int64_t id, size_t start, uint32_t group, const char *key)
{
    export_item *it = new_item(b, id);
    if (it == NULL)
        return -1;
    it->off = start;
    it->len = b->arena.len - start;
    it->group = group;
    if (key != NULL)
        snprintf(it->key, sizeof it->key, "%s", key);
    b->n++;
    return 0;
}

static int set_reason(export_batch *b, export_item *it, const char *reason)
{
    size_t at = b->reasons.len;
    if (buf_puts(&b->reasons, reason ? reason : "refused") != 0 ||
        buf_putc(&b->reasons, '\0') != 0)
        return -1;
    it->skip = 1;
    it->reason = at;
    return 0;
}

int export_batch_add_bad(export_batch *b, int64_t id, const char *reason)
{
    export_item *it = new_item(b, id);
    if (it == NULL || set_reason(b, it, reason) != 0)
        return -1;
    it->off = b->arena.len;
    b->n++;
    return 0;
}

int export_batch_full(const export_batch *b)
{
    return (b->max_items > 0 && b->n >= b->max_items) ||
           (b->max_bytes > 0 && b->arena.len >= b->max_bytes);
}

const char *export_item_reason(const export_batch *b, const export_item *it)
{
    return (it->skip || it->retry) && b->reasons.data != NULL ? b->reasons.data + it->reason
                                                              : NULL;
}

int export_item_live(const export_batch *b, size_t i)
{
    return i < b->n && !b->items[i].skip && !b->items[i].done;
}

int export_item_refuse(export_batch *b, size_t i, const char *reason)
{
    if (!export_item_live(b, i))
        return 0;
    b->items[i].retry = 0;
    return set_reason(b, &b->items[i], reason);
}

int export_item_retry(export_batch *b, size_t i, const char *reason)
{
    if (!export_item_live(b, i))
        return 0;
    export_item *it = &b->items[i];
    size_t at = b->reasons.len;
    if (buf_puts(&b->reasons, reason ? reason : "retry") != 0 || buf_putc(&b->reasons, '\0') != 0)
        return -1;
    it->retry = 1;
    it->reason = at;
    return 0;
}

/* ---- the engine ----------------------------------------------------------- */

typedef struct engine {
    spool *s;
    httpc *h;
    const export_options *o;
    export_stats *st;
    FILE *log, *out;
    const char *exporter;
    rng_t rng;
    export_batch bb[2];             /* the batch being sent, and the next one read meanwhile */
    export_batch *b;                /* the one being sent */
    int prestarted;                 /* its request is already in flight (httpc_start) */
    buf_t body;
    httpc_response resp;
    spool_dead_letter *dead;
    size_t n_dead, cap_dead;
    int64_t failures;               /* consecutive failures, as export_state has them */
    int64_t waited_ms;              /* --once: time spent waiting for retries */
    int64_t not_before_ns;          /* monotonic: a rate-limit pause */
    int64_t dry_cursor[SPOOL_STREAM_COUNT];
    /* parallel requests of the batch being sent (fan_out) */
    struct slot {
        httpc *h;
        httpc_response resp;
        buf_t body;
        size_t lo, hi;
    } slots[EXPORT_MAX_PARALLEL];
    size_t n_slots;                 /* clients made so far */
    size_t fan_lo;                  /* next item to put in a request */
    size_t fan_started, fan_done;   /* requests of this batch */
    int fan_on;                     /* a fan-out is under way for e->b */
    int fan_reauthorized;           /* it already fetched new credentials */
} engine;

/* Results of the inner steps beyond the exit codes. */
#define STEP_OK 0
#define STEP_STOPPED (-100)         /* *stop became nonzero */

static int stopped(const engine *e)
{
    return e->o->stop != NULL && *e->o->stop != 0;
}

static void say(engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(engine *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(e->log, "cruddur-export: %s: ", e->exporter);
    vfprintf(e->log, fmt, ap);
    fputc('\n', e->log);
    fflush(e->log);
    va_end(ap);
}

static void set_status(engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_status(engine *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->st->status, sizeof e->st->status, fmt, ap);
    va_end(ap);
}

/* Sleeps ms milliseconds in short steps; 1 when stopped meanwhile. */
static int nap(engine *e, int64_t ms)
{
    int64_t end = tstamp_mono_ns() + ms * 1000000;
    for (;;) {
        if (stopped(e))
            return 1;
        int64_t left = end - tstamp_mono_ns();
        if (left <= 0)
            return 0;
        if (left > 100000000)
            left = 100000000;
        struct timespec ts = { (time_t)(left / 1000000000), (long)(left % 1000000000) };
        nanosleep(&ts, NULL);
    }
}

static void utc(int64_t ns, char out[TSTAMP_ISO_SIZE])
{
    if (tstamp_iso8601(ns / 1000, out) != 0)
        snprintf(out, TSTAMP_ISO_SIZE, "%" PRId64, ns);
    else
        out[19] = '\0';  /* seconds are enough for people */
}

static int spool_trouble(engine *e, const char *what)
{
    say(e, "spool: %s: %s", what, spool_errmsg(e->s));
    set_status(e, "spool error (%s): %s", what, spool_errmsg(e->s));
    return EXPORT_EXIT_SOFTWARE;
}

/* ---- reading ------------------------------------------------------------- */

typedef struct reader {
    export_target *t;
    export_batch *b;
    int failed;
} reader;

static int take(reader *r, const void *rec, const spool_origin *o)
{
    if (export_batch_full(r->b))
        return 1;
    if (r->t->encode(r->t->ctx, r->b, rec, o) != 0) {
        r->failed = 1;
        return 1;
    }
    return 0;
}

static int take_span(void *c, const spool_span *r, const spool_origin *o) { return take(c, r, o); }
static int take_log(void *c, const spool_log *r, const spool_origin *o) { return take(c, r, o); }
static int take_error(void *c, const spool_error *r, const spool_origin *o) { return take(c, r, o); }

static size_t batch_size(const engine *e, const export_target *t)
{
    size_t n = e->o->batch_size ? e->o->batch_size : DEFAULT_BATCH;
    if (t->max_batch > 0 && n > t->max_batch)
        n = t->max_batch;
    return n;
}

static int read_batch(engine *e, export_target *t, int64_t cursor, export_batch *b)
{
    export_batch_reset(b);
    b->max_items = batch_size(e, t);
    b->max_bytes = t->max_bytes ? t->max_bytes : DEFAULT_MAX_BYTES;
    reader r = { t, b, 0 };
    int rc;
    switch (t->stream) {
    case SPOOL_STREAM_SPAN:
        rc = spool_read_spans(e->s, cursor, b->max_items, take_span, &r, NULL);
        break;
    case SPOOL_STREAM_LOG:
        rc = spool_read_logs(e->s, cursor, b->max_items, take_log, &r, NULL);
        break;
    default:
        rc = spool_read_errors(e->s, cursor, b->max_items, take_error, &r, NULL);
        break;
    }
    if (rc != SPOOL_OK)
        return spool_trouble(e, "read");
    if (r.failed) {
        say(e, "out of memory encoding a batch");
        set_status(e, "out of memory");
        return EXPORT_EXIT_SOFTWARE;
    }
    return STEP_OK;
}

/* ---- acknowledging --------------------------------------------------------- */

static int add_dead(engine *e, int64_t id, const char *reason, const char *payload)
{
    if (e->n_dead == e->cap_dead) {
        size_t cap = e->cap_dead ? e->cap_dead * 2 : 16;
        spool_dead_letter *d = realloc(e->dead, cap * sizeof *d);
        if (d == NULL)
            return -1;
        e->dead = d;
        e->cap_dead = cap;
    }
    e->dead[e->n_dead++] = (spool_dead_letter){ id, reason, payload };
    return 0;
}

/* Copies of item payloads for dead letters: NUL-terminated, bounded. */
static char *item_payload(const export_batch *b, const export_item *it)
{
    if (it->len == 0)
        return NULL;
    size_t n = it->len < DEAD_PAYLOAD_MAX ? it->len : DEAD_PAYLOAD_MAX;
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, b->arena.data + it->off, n);
        p[n] = '\0';
    }
    return p;
}

/* Acknowledges the items [lo, hi): the cursor moves to the last one, the
 * skipped ones become dead letters, `rejected` more were refused without
 * being named (summary: one dead letter for them). */
static int ack(engine *e, export_target *t, size_t lo, size_t hi, int64_t rejected,
               const char *summary)
{
    export_batch *b = e->b;
    int64_t live = 0, skipped = 0, done = 0;
    e->n_dead = 0;
    char **payloads = calloc(hi - lo, sizeof *payloads);
    int rc = payloads == NULL ? -1 : 0;
    int64_t first_live = -1;
    for (size_t i = lo; i < hi && rc == 0; i++) {
        const export_item *it = &b->items[i];
        if (it->done) {
            done++;
            continue;
        }
        if (!it->skip) {
            live++;
            if (first_live < 0)
                first_live = it->id;
            continue;
        }
        skipped++;
        payloads[i - lo] = item_payload(b, it);
        rc = add_dead(e, it->id, export_item_reason(b, it), payloads[i - lo]);
    }
    if (rejected > live)
        rejected = live;
    if (rc == 0 && rejected > 0 && summary != NULL)
        rc = add_dead(e, first_live >= 0 ? first_live : b->items[lo].id, summary, NULL);
    int status = EXPORT_EXIT_OK;
    if (rc != 0) {
        set_status(e, "out of memory");
        status = EXPORT_EXIT_SOFTWARE;
    } else if (!e->o->dry_run) {
        spool_delivery d = {
            .exporter = t->exporter,
            .stream = t->stream,
            .last_id = b->items[hi - 1].id,
            .sent = done + live - rejected,
            .rejected = rejected + skipped,
            .dead = e->dead,
            .n_dead = e->n_dead,
        };
        int src = SPOOL_ERROR;
        for (int k = 0; k < ACK_TRIES && !stopped(e); k++) {
            if ((src = spool_ack(e->s, &d)) != SPOOL_BUSY)
                break;
            nap(e, 200);
        }
        if (src != SPOOL_OK) {
            status = spool_trouble(e, "acknowledging a delivery (it will be sent again)");
        } else {
            e->failures = 0;
        }
    } else {
        e->dry_cursor[t->stream] = b->items[hi - 1].id;
    }
    if (status == EXPORT_EXIT_OK) {
        e->st->sent += done + live - rejected;
        e->st->rejected += rejected + skipped;
        e->st->dead_lettered += (int64_t)e->n_dead;
        if (e->o->verbose && e->n_dead > 0)
            for (size_t i = 0; i < e->n_dead; i++)
                say(e, "%s: record %" PRId64 " dead-lettered: %s", t->label, e->dead[i].record_id,
                    e->dead[i].reason);
    }
    for (size_t i = 0; payloads != NULL && i < hi - lo; i++)
        free(payloads[i]);
    free(payloads);
    e->n_dead = 0;
    return status;
}

/* ---- sending --------------------------------------------------------------- */

static size_t live_count(const export_batch *b, size_t lo, size_t hi)
{
    size_t n = 0;
    for (size_t i = lo; i < hi; i++)
        n += (size_t)export_item_live(b, i);
    return n;
}

static int hexish(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-';
}

/* True when key appears in message as a whole word: an id inside a longer
 * id (a span id among a trace id's zeros) does not count. */
static int names(const char *message, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = strstr(message, key); p != NULL; p = strstr(p + 1, key))
        if ((p == message || !hexish(p[-1])) && !hexish(p[n]))
            return 1;
    return 0;
}

/* Marks the live items of [lo, hi) that the message names (by key); at most
 * `limit` of them. Returns how many, or -1. */
static int64_t mark_named(engine *e, size_t lo, size_t hi, const char *message, int64_t limit)
{
    int64_t n = 0;
    for (size_t i = lo; i < hi && n < limit; i++) {
        export_item *it = &e->b->items[i];
        if (!export_item_live(e->b, i) || it->key[0] == '\0' || !names(message, it->key))
            continue;
        if (set_reason(e->b, it, message) != 0)
            return -1;
        n++;
    }
    return n;
}

static void print_request(engine *e, const export_target *t, size_t n)
{
    FILE *f = e->out;
    fprintf(f, "POST %s\n", t->url);
    for (size_t i = 0; t->headers != NULL && t->headers[i] != NULL; i++) {
        const char *hdr = t->headers[i];
        const char *colon = strchr(hdr, ':');
        size_t nl = colon ? (size_t)(colon - hdr) : strlen(hdr);
        int shown = (nl == 12 && strncasecmp(hdr, "Content-Type", 12) == 0) ||
                    (nl == 6 && strncasecmp(hdr, "Accept", 6) == 0) ||
                    (nl == 12 && strncasecmp(hdr, "X-Amz-Target", 12) == 0);
        if (shown)
            fprintf(f, "%s\n", hdr);
        else
            fprintf(f, "%.*s: [REDACTED]\n", (int)nl, hdr);
    }
    if (t->gzip)
        fprintf(f, "Content-Encoding: gzip\n");
    fprintf(f, "X-Cruddur-Records: %zu\n\n", n);
    fwrite(e->body.data, 1, e->body.len, f);
    fputs("\n\n", f);
    fflush(f);
}

/* Waits for a retry. STEP_OK to try again, STEP_STOPPED, or TEMPFAIL. */
static int retry_wait(engine *e, export_target *t, const export_answer *a, long status)
{
    e->failures++;
    e->st->retries++;
    int64_t delay = a->wait_ms >= 0 ? a->wait_ms : backoff_delay_ms(e->failures, rng_next(&e->rng));
    int64_t retry_at = tstamp_now_ns() + delay * 1000000;
    char err[600];
    if (status > 0)
        snprintf(err, sizeof err, "%s: HTTP %ld: %s", t->label, status, a->message);
    else
        snprintf(err, sizeof err, "%s: %s", t->label, a->message);
    if (spool_export_failed(e->s, t->exporter, err, retry_at) != SPOOL_OK)
        return spool_trouble(e, "recording a failure");
    char when[TSTAMP_ISO_SIZE];
    utc(retry_at, when);
    if (e->o->follow || e->waited_ms + delay <= e->o->max_wait_ms) {
        if (e->o->verbose)
            say(e, "%s; retrying in %" PRId64 " ms", err, delay);
        e->waited_ms += e->o->follow ? 0 : delay;
        return nap(e, delay) ? STEP_STOPPED : STEP_OK;
    }
    say(e, "%s; next attempt after %sZ", err, when);
    set_status(e, "backend unavailable, next attempt after %sZ", when);
    return EXPORT_EXIT_TEMPFAIL;
}

static int refused(engine *e, export_target *t, const export_answer *a, long status)
{
    char err[600];
    snprintf(err, sizeof err, "%s: HTTP %ld: %s", t->label, status, a->message);
    if (spool_export_failed(e->s, t->exporter, err, 0) != SPOOL_OK)
        return spool_trouble(e, "recording a failure");
    say(e, "%s (%s)", err, a->verdict == EXPORT_AUTH ? "credentials refused" : "check the configuration");
    set_status(e, "%s", a->verdict == EXPORT_AUTH ? "credentials refused" : "configuration error");
    return EXPORT_EXIT_CONFIG;
}

/* Splits [lo, hi) (with live >= 2 items) at a point with live items on both sides. */
static size_t split_point(const export_batch *b, size_t lo, size_t hi, size_t live)
{
    size_t want = live / 2, seen = 0;
    for (size_t i = lo; i < hi; i++) {
        seen += (size_t)export_item_live(b, i);
        if (seen == want)
            return i + 1;
    }
    return lo + (hi - lo) / 2;
}

typedef struct range { size_t lo, hi; } range;

/* No usable credentials: stop, as for refused ones. */
static int no_credentials(engine *e, export_target *t, const char *why)
{
    char err[600];
    snprintf(err, sizeof err, "%s: credentials: %s", t->label, why);
    if (spool_export_failed(e->s, t->exporter, err, 0) != SPOOL_OK)
        return spool_trouble(e, "recording a failure");
    say(e, "%s", err);
    set_status(e, "no usable credentials");
    return EXPORT_EXIT_CONFIG;
}

/* The target's authorize hook before a request. STEP_OK to send, else a
 * retry wait was done (*again set: try again) or an exit code. */
static int authorize(engine *e, export_target *t, int *again)
{
    *again = 0;
    if (t->authorize == NULL || e->o->dry_run)
        return STEP_OK;
    char err[512] = "";
    int rc = t->authorize(t->ctx, e->h, 0, err, sizeof err);
    if (rc == EXPORT_EXIT_OK)
        return STEP_OK;
    if (rc == EXPORT_EXIT_TEMPFAIL) {
        export_answer a;
        memset(&a, 0, sizeof a);
        a.verdict = EXPORT_RETRY;
        a.wait_ms = -1;
        /* the message may be cut: the reason stays readable */
        snprintf(a.message, sizeof a.message, "credentials: %.*s",
                 (int)(sizeof a.message - sizeof "credentials: "), err);
        int w = retry_wait(e, t, &a, 0);
        *again = w == STEP_OK;
        return w;
    }
    return no_credentials(e, t, err);
}

/* After an EXPORT_OK from classify_items: the unmarked live items of r
 * are done; those marked for retry are sent again after a backoff, alone.
 * Acknowledges what it can. *next is set to the range still to send
 * (lo == hi: none). STEP_OK or an exit code. */
static int settle_items(engine *e, export_target *t, range r, range *next)
{
    export_batch *b = e->b;
    size_t pending = 0, first = r.hi;
    int attempts = 0;
    const char *why = NULL;
    next->lo = next->hi = r.hi;
    for (size_t i = r.lo; i < r.hi; i++) {
        export_item *it = &b->items[i];
        if (!export_item_live(b, i))
            continue;
        if (!it->retry) {
            it->done = 1;
            continue;
        }
        it->retry = 0;
        if (++it->attempts > EXPORT_ITEM_RETRIES) {
            it->skip = 1;  /* its reason is already in place */
            continue;
        }
        if (why == NULL)
            why = b->reasons.data + it->reason;
        if (first == r.hi)
            first = i;
        if (it->attempts > attempts)
            attempts = it->attempts;
        pending++;
    }
    if (pending == 0)
        return ack(e, t, r.lo, r.hi, 0, NULL);
    if (first > r.lo) {
        int64_t failures = e->failures;
        int rc = ack(e, t, r.lo, first, 0, NULL);
        e->failures = failures;
        if (rc != EXPORT_EXIT_OK)
            return rc;
    }
    export_answer a;
    memset(&a, 0, sizeof a);
    a.verdict = EXPORT_RETRY;
    a.wait_ms = -1;
    snprintf(a.message, sizeof a.message, "%zu records not processed (%s)", pending,
             why ? why : "retry");
    /* A record the service could not take now is not an outage: short
     * waits, growing with that record's own attempts, with full jitter. */
    int64_t base = e->o->item_retry_ms > 0 ? e->o->item_retry_ms : 100;
    int64_t ceiling = base << (attempts < 10 ? attempts : 10);
    if (ceiling > 5000)
        ceiling = 5000;
    a.wait_ms = (int64_t)(rng_next(&e->rng) % (uint64_t)ceiling) + 1;
    int rc = retry_wait(e, t, &a, 0);
    if (rc != STEP_OK)
        return rc;
    next->lo = first;
    next->hi = r.hi;
    return STEP_OK;
}

/* Delivers [lo, hi) of the batch: requests, retries, splits and acks. */
static int send_range(engine *e, export_target *t, size_t lo0, size_t hi0)
{
    export_batch *b = e->b;
    range *stack = NULL;
    size_t n_stack = 0, cap_stack = 0;
    int status = STEP_OK;
#define PUSH(a, z)                                                                  \
    do {                                                                            \
        if (n_stack == cap_stack) {                                                 \
            size_t nc = cap_stack ? cap_stack * 2 : 16;                             \
            range *ns = realloc(stack, nc * sizeof *ns);                            \
            if (ns == NULL) {                                                       \
                status = EXPORT_EXIT_SOFTWARE;                                      \
                set_status(e, "out of memory");                                     \
                goto out;                                                           \
            }                                                                       \
            stack = ns;                                                             \
            cap_stack = nc;                                                         \
        }                                                                           \
        stack[n_stack++] = (range){ (a), (z) };                                     \
    } while (0)
    PUSH(lo0, hi0);
    while (n_stack > 0) {
        range r = stack[--n_stack];
        size_t live = live_count(b, r.lo, r.hi);
        if (live == 0) {
            if ((status = ack(e, t, r.lo, r.hi, 0, NULL)) != EXPORT_EXIT_OK)
                goto out;
            continue;
        }
        if (!e->prestarted) {
            buf_reset(&e->body);
            if (t->build(t->ctx, b, r.lo, r.hi, &e->body) != 0) {
                set_status(e, "out of memory building a request");
                status = EXPORT_EXIT_SOFTWARE;
                goto out;
            }
        }
        if (e->o->dry_run) {
            print_request(e, t, live);
            e->st->requests++;
            if ((status = ack(e, t, r.lo, r.hi, 0, NULL)) != EXPORT_EXIT_OK)
                goto out;
            continue;
        }
        int agains = 0, reauthorized = 0;
        for (;;) {
            int64_t now = tstamp_mono_ns();
            if (!e->prestarted && e->not_before_ns > now) {
                int64_t ms = (e->not_before_ns - now) / 1000000 + 1;
                if (!e->o->follow && e->waited_ms + ms > e->o->max_wait_ms) {
                    say(e, "%s: rate limit reached; stopping until it resets in %" PRId64 " ms",
                        t->label, ms);
                    set_status(e, "rate limited");
                    status = EXPORT_EXIT_TEMPFAIL;
                    goto out;
                }
                e->waited_ms += e->o->follow ? 0 : ms;
                if (nap(e, ms)) {
                    status = STEP_STOPPED;
                    goto out;
                }
            }
            if (!e->prestarted) {
                int again;
                if ((status = authorize(e, t, &again)) != STEP_OK)
                    goto out;
                if (again)
                    continue;
            }
            int64_t t0 = tstamp_mono_ns();
            int prc;
            if (e->prestarted) {
                /* the answer to the request sent while this batch was read */
                e->prestarted = 0;
                prc = httpc_finish(e->h);
            } else if (t->send != NULL) {
                httpc_response_free(&e->resp);
                httpc_response_init(&e->resp);
                prc = t->send(t->ctx, e->body.data, e->body.len, &e->resp);
            } else {
                prc = httpc_post(e->h, t->url, t->headers, e->body.data, e->body.len, t->gzip,
                                 &e->resp);
            }
            if (prc < 0) {
                set_status(e, "out of memory sending a request");
                status = EXPORT_EXIT_SOFTWARE;
                goto out;
            }
            e->st->requests++;
            e->st->bytes += (int64_t)e->resp.sent_bytes;
            export_answer a;
            memset(&a, 0, sizeof a);
            a.wait_ms = -1;
            if (prc > 0) {
                if (e->resp.aborted || stopped(e)) {
                    status = STEP_STOPPED;
                    goto out;
                }
                a.verdict = EXPORT_RETRY;
                snprintf(a.message, sizeof a.message, "%s", e->resp.error);
            } else if (t->classify_items != NULL) {
                t->classify_items(t->ctx, &e->resp, b, r.lo, r.hi, &a);
            } else {
                t->classify(t->ctx, &e->resp, live, &a);
            }
            if (e->o->verbose)
                say(e, "%s: POST %zu records, %zu bytes -> %ld%s%s in %.1f ms", t->label, live,
                    e->resp.sent_bytes, e->resp.status, a.message[0] ? ": " : "", a.message,
                    (double)(tstamp_mono_ns() - t0) / 1e6);
            if (a.verdict == EXPORT_AGAIN) {
                if (++agains <= 3)
                    continue;
                a.verdict = EXPORT_RETRY;
            }
            if (a.verdict == EXPORT_OK && t->classify_items != NULL) {
                range next;
                if ((status = settle_items(e, t, r, &next)) != STEP_OK)
                    goto out;
                if (next.lo < next.hi)
                    PUSH(next.lo, next.hi);
                break;
            }
            if (a.verdict == EXPORT_OK) {
                char summary[700];
                int64_t rej = a.rejected > (int64_t)live ? (int64_t)live : a.rejected;
                int64_t named = rej > 0 ? mark_named(e, r.lo, r.hi, a.message, rej) : 0;
                if (named < 0) {
                    set_status(e, "out of memory");
                    status = EXPORT_EXIT_SOFTWARE;
                    goto out;
                }
                snprintf(summary, sizeof summary,
                         "partial success: %" PRId64 " of %zu records refused, not named: %s",
                         rej - named, live, a.message);
                if ((status = ack(e, t, r.lo, r.hi, rej - named, summary)) != EXPORT_EXIT_OK)
                    goto out;
                if (a.wait_ms > 0)
                    e->not_before_ns = tstamp_mono_ns() + a.wait_ms * 1000000;
                break;
            }
            if (a.verdict == EXPORT_RETRY) {
                if ((status = retry_wait(e, t, &a, e->resp.status)) != STEP_OK)
                    goto out;
                continue;
            }
            if (a.verdict == EXPORT_AUTH && t->authorize != NULL && !reauthorized) {
                char err[512] = "";
                reauthorized = 1;
                int arc = t->authorize(t->ctx, e->h, 1, err, sizeof err);
                if (arc == EXPORT_EXIT_OK) {
                    if (e->o->verbose)
                        say(e, "%s: credentials refused (%s); sending once more with fresh ones",
                            t->label, a.message);
                    continue;
                }
                if (arc == EXPORT_EXIT_TEMPFAIL) {
                    /* the credential source is down for now: not a reason to stop */
                    char why[sizeof a.message];
                    snprintf(why, sizeof why, "credentials refused (%.200s); fetching new ones: %.250s",
                             a.message, err);
                    snprintf(a.message, sizeof a.message, "%s", why);
                    a.verdict = EXPORT_RETRY;
                    a.wait_ms = -1;
                    if ((status = retry_wait(e, t, &a, 0)) != STEP_OK)
                        goto out;
                    reauthorized = 0;
                    continue;
                }
            }
            if (a.verdict == EXPORT_AUTH || a.verdict == EXPORT_CONFIG) {
                status = refused(e, t, &a, e->resp.status);
                goto out;
            }
            /* EXPORT_REJECT: set aside what the answer names, else split. */
            if (a.message[0] == '\0')
                snprintf(a.message, sizeof a.message, "HTTP %ld", e->resp.status);
            int64_t named = mark_named(e, r.lo, r.hi, a.message, (int64_t)live);
            if (named < 0) {
                set_status(e, "out of memory");
                status = EXPORT_EXIT_SOFTWARE;
                goto out;
            }
            if (named > 0) {
                PUSH(r.lo, r.hi);
            } else if (live == 1) {
                for (size_t i = r.lo; i < r.hi; i++)
                    if (!b->items[i].skip && set_reason(b, &b->items[i], a.message) != 0) {
                        set_status(e, "out of memory");
                        status = EXPORT_EXIT_SOFTWARE;
                        goto out;
                    }
                PUSH(r.lo, r.hi);
            } else {
                size_t mid = split_point(b, r.lo, r.hi, live);
                PUSH(mid, r.hi);
                PUSH(r.lo, mid);
            }
            break;
        }
    }
out:
#undef PUSH
    free(stack);
    return status;
}

static int get_cursor(engine *e, export_target *t, int64_t *cursor)
{
    if (e->o->dry_run && e->dry_cursor[t->stream] >= 0) {
        *cursor = e->dry_cursor[t->stream];
        return STEP_OK;
    }
    int rc = spool_cursor_get(e->s, t->exporter, t->stream, cursor);
    if (rc == SPOOL_NOTFOUND) {
        *cursor = 0;
        /* Registering holds back pruning from the first run on. */
        if (!e->o->dry_run && spool_cursor_set(e->s, t->exporter, t->stream, 0) != SPOOL_OK)
            return spool_trouble(e, "registering the cursor");
        return STEP_OK;
    }
    return rc == SPOOL_OK ? STEP_OK : spool_trouble(e, "reading the cursor");
}

static int batches_left(const engine *e)
{
    return !stopped(e) && !(e->o->max_batches > 0 && e->st->batches >= e->o->max_batches);
}

static size_t request_end(const export_target *t, const export_batch *b, size_t lo)
{
    if (t->next_request != NULL) {
        size_t hi = t->next_request(t->ctx, b, lo, b->n);
        return hi > lo && hi <= b->n ? hi : b->n;
    }
    size_t per = t->per_request ? t->per_request : b->n;
    return lo + per < b->n ? lo + per : b->n;
}

/* ---- parallel requests ------------------------------------------------------ */

static size_t fan_width(const engine *e, const export_target *t)
{
    size_t p = e->o->parallel ? e->o->parallel : t->parallel;
    if (p > EXPORT_MAX_PARALLEL)
        p = EXPORT_MAX_PARALLEL;
    if (p < 2 || t->classify_items == NULL || t->send != NULL || e->o->dry_run)
        return 0;
    return p;
}

/* The answer to a request of the fan-out: the records it took are done,
 * those it refused for good keep their mark (dead letters at the ack);
 * everything else stays live for send_range, which has the rules for
 * retries, splits and credentials. */
static void fan_settle(engine *e, export_target *t, struct slot *s, int prc)
{
    export_batch *b = e->b;
    export_answer a;
    memset(&a, 0, sizeof a);
    a.wait_ms = -1;
    e->st->requests++;
    e->st->bytes += (int64_t)s->resp.sent_bytes;
    if (prc == 0) {
        t->classify_items(t->ctx, &s->resp, b, s->lo, s->hi, &a);
    } else {
        a.verdict = EXPORT_RETRY;
        snprintf(a.message, sizeof a.message, "%s", s->resp.error);
    }
    if (e->o->verbose)
        say(e, "%s: POST %zu records (parallel), %zu bytes -> %ld%s%s", t->label,
            live_count(b, s->lo, s->hi), s->resp.sent_bytes, s->resp.status,
            a.message[0] ? ": " : "", a.message);
    for (size_t i = s->lo; i < s->hi; i++) {
        export_item *it = &b->items[i];
        if (!export_item_live(b, i))
            continue;
        if (a.verdict == EXPORT_OK && !it->retry)
            it->done = 1;
        it->retry = 0;
    }
    if (a.verdict == EXPORT_OK && a.wait_ms > 0)
        e->not_before_ns = tstamp_mono_ns() + a.wait_ms * 1000000;
    /* Credentials refused: fetch new ones once for the whole fan-out, so
     * that send_range's request carries them. */
    if (a.verdict == EXPORT_AUTH && t->authorize != NULL && !e->fan_reauthorized) {
        char err[512];
        e->fan_reauthorized = 1;
        if (t->authorize(t->ctx, e->h, 1, err, sizeof err) == EXPORT_EXIT_OK && e->o->verbose)
            say(e, "%s: credentials refused (%s); sending once more with fresh ones", t->label,
                a.message);
    }
}

/* Starts requests of e->b until `width` are in flight or the batch is all
 * out. Stops starting, without an error, when a request cannot be
 * authorized or a rate limit is on: send_range deals with those. 0 or -1. */
static int fan_fill(engine *e, export_target *t, size_t width)
{
    export_batch *b = e->b;
    while (e->fan_lo < b->n && e->fan_started - e->fan_done < width && !stopped(e)) {
        if (e->not_before_ns > tstamp_mono_ns()) {
            e->fan_lo = b->n;
            break;
        }
        size_t lo = e->fan_lo, hi = request_end(t, b, lo);
        e->fan_lo = hi;
        if (live_count(b, lo, hi) == 0)
            continue;
        size_t k = e->fan_started % width;
        struct slot *s = &e->slots[k];
        if (s->h == NULL) {
            if (httpc_new_like(&s->h, e->h) != 0)
                return -1;
            httpc_response_init(&s->resp);
            if (k + 1 > e->n_slots)
                e->n_slots = k + 1;
        }
        if (t->authorize != NULL) {
            char err[512];
            if (t->authorize(t->ctx, s->h, 0, err, sizeof err) != EXPORT_EXIT_OK) {
                e->fan_lo = b->n;
                break;
            }
        }
        buf_reset(&s->body);
        if (t->build(t->ctx, b, lo, hi, &s->body) != 0 ||
            httpc_start(s->h, t->url, t->headers, s->body.data, s->body.len, t->gzip, &s->resp) != 0)
            return -1;
        s->lo = lo;
        s->hi = hi;
        e->fan_started++;
    }
    return 0;
}

/* Sends the requests of e->b several at a time (the target's parallel).
 * all = 0: only fills the window (the next batch is read meanwhile);
 * all = 1: goes on until every request of the batch has its answer. */
static int fan_out(engine *e, export_target *t, int all)
{
    size_t width = fan_width(e, t);
    if (width == 0)
        return STEP_OK;
    if (!e->fan_on) {
        e->fan_on = 1;
        e->fan_lo = 0;
        e->fan_started = e->fan_done = 0;
        e->fan_reauthorized = 0;
    }
    for (;;) {
        if (fan_fill(e, t, width) != 0) {
            set_status(e, "out of memory sending requests");
            return EXPORT_EXIT_SOFTWARE;
        }
        if (!all || e->fan_done == e->fan_started)
            break;
        struct slot *s = &e->slots[e->fan_done % width];
        int prc = httpc_finish(s->h);
        e->fan_done++;
        if (prc < 0) {
            set_status(e, "out of memory sending requests");
            return EXPORT_EXIT_SOFTWARE;
        }
        fan_settle(e, t, s, prc);
    }
    if (all)
        e->fan_on = 0;
    return STEP_OK;
}

/* Sends the request for the whole of e->b now and returns without its
 * answer, so that the next batch is read while the service works;
 * send_range then waits for that answer instead of posting. */
static int prestart(engine *e, export_target *t)
{
    if (fan_width(e, t) > 0)
        return fan_out(e, t, 0);
    if (e->o->dry_run || t->send != NULL || e->not_before_ns > tstamp_mono_ns())
        return STEP_OK;
    size_t hi = request_end(t, e->b, 0);
    if (live_count(e->b, 0, hi) == 0)
        return STEP_OK;
    if (t->authorize != NULL) {
        char err[512];
        if (t->authorize(t->ctx, e->h, 0, err, sizeof err) != EXPORT_EXIT_OK)
            return STEP_OK;  /* send_range deals with it */
    }
    buf_reset(&e->body);
    if (t->build(t->ctx, e->b, 0, hi, &e->body) != 0 ||
        httpc_start(e->h, t->url, t->headers, e->body.data, e->body.len, t->gzip, &e->resp) != 0) {
        set_status(e, "out of memory building a request");
        return EXPORT_EXIT_SOFTWARE;
    }
    e->prestarted = 1;
    return STEP_OK;
}

/* Drains one target: batch after batch until none is left (or
 * --max-batches, or stop). *got = records read. */
static int drain(engine *e, export_target *t, size_t *got)
{
    int64_t cursor;
    *got = 0;
    if (!batches_left(e))
        return STEP_OK;
    int rc = get_cursor(e, t, &cursor);
    if (rc != STEP_OK)
        return rc;
    int cur = 0;
    e->b = &e->bb[cur];
    if ((rc = read_batch(e, t, cursor, e->b)) != STEP_OK)
        return rc;
    while (e->b->n > 0) {
        export_batch *next = &e->bb[1 - cur];
        *got += e->b->n;
        e->st->batches++;
        if ((rc = prestart(e, t)) != STEP_OK)
            return rc;
        int read_rc = STEP_OK;
        export_batch_reset(next);
        if (batches_left(e))
            read_rc = read_batch(e, t, e->b->items[e->b->n - 1].id, next);
        if ((rc = fan_out(e, t, 1)) != STEP_OK)
            return rc;
        for (size_t lo = 0, hi; lo < e->b->n; lo = hi) {
            hi = request_end(t, e->b, lo);
            /* runs of requests with nothing left to send: one ack */
            while (hi < e->b->n && live_count(e->b, lo, hi) == 0) {
                size_t next_hi = request_end(t, e->b, hi);
                if (live_count(e->b, hi, next_hi) > 0)
                    break;
                hi = next_hi;
            }
            if ((rc = send_range(e, t, lo, hi)) != STEP_OK)
                return rc;
            if (stopped(e))
                return STEP_STOPPED;
        }
        if (read_rc != STEP_OK)
            return read_rc;
        cur = 1 - cur;
        e->b = next;
    }
    return STEP_OK;
}

static int check_backoff(engine *e)
{
    spool_export_state es;
    int rc = spool_export_state_get(e->s, e->exporter, &es);
    if (rc == SPOOL_NOTFOUND)
        return STEP_OK;
    if (rc != SPOOL_OK)
        return spool_trouble(e, "reading the exporter state");
    e->failures = es.failures;
    int64_t now = tstamp_now_ns();
    if (es.retry_at_ns <= now || e->o->dry_run)
        return STEP_OK;
    char when[TSTAMP_ISO_SIZE];
    utc(es.retry_at_ns, when);
    if (!e->o->follow) {
        say(e, "in backoff after %" PRId64 " failures until %sZ (last error: %s)", es.failures,
            when, es.last_error);
        set_status(e, "in backoff until %sZ", when);
        return EXPORT_EXIT_TEMPFAIL;
    }
    if (e->o->verbose)
        say(e, "in backoff until %sZ: waiting", when);
    return nap(e, (es.retry_at_ns - now) / 1000000 + 1) ? STEP_STOPPED : STEP_OK;
}

static void backlog(engine *e, export_target *const *targets, size_t n)
{
    e->st->backlog = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t cursor = 0, rows = 0;
        if (e->o->dry_run && e->dry_cursor[targets[i]->stream] >= 0)
            cursor = e->dry_cursor[targets[i]->stream];
        else if (spool_cursor_get(e->s, targets[i]->exporter, targets[i]->stream, &cursor) ==
                 SPOOL_ERROR)
            continue;
        if (spool_count_after(e->s, targets[i]->stream, cursor, &rows) == SPOOL_OK)
            e->st->backlog += rows;
    }
}

int export_run(spool *s, httpc *h, export_target *const *targets, size_t n_targets,
               const export_options *o, export_stats *st)
{
    memset(st, 0, sizeof *st);
    int64_t t0 = tstamp_mono_ns();
    engine e;
    memset(&e, 0, sizeof e);
    e.s = s;
    e.h = h;
    e.o = o;
    e.st = st;
    e.log = o->log ? o->log : stderr;
    e.out = o->out ? o->out : stdout;
    e.exporter = n_targets > 0 ? targets[0]->exporter : "?";
    for (int k = 0; k < SPOOL_STREAM_COUNT; k++)
        e.dry_cursor[k] = o->dry_run && o->dry_from_id > 0 ? o->dry_from_id - 1 : -1;
    rng_seed_with(&e.rng, o->seed ? o->seed : (uint64_t)t0 ^ ((uint64_t)getpid() << 32));
    httpc_response_init(&e.resp);
    export_batch_init(&e.bb[0], 0, 0);
    export_batch_init(&e.bb[1], 0, 0);
    e.b = &e.bb[0];

    int rc = check_backoff(&e);
    int64_t last_checkpoint = tstamp_mono_ns();
    while (rc == STEP_OK) {
        size_t got_any = 0;
        for (size_t i = 0; i < n_targets && rc == STEP_OK && !stopped(&e); i++) {
            size_t got;
            rc = drain(&e, targets[i], &got);
            got_any += got;
        }
        if (rc != STEP_OK || stopped(&e) || !o->follow ||
            (o->max_batches > 0 && st->batches >= o->max_batches))
            break;
        if (o->checkpoint_ms > 0 && tstamp_mono_ns() - last_checkpoint > o->checkpoint_ms * 1000000) {
            spool_checkpoint(s, NULL);
            /* telemetry of workers that died and were not restarted */
            if (o->journals_of != NULL && !o->dry_run)
                spool_journal_recover(s, o->journals_of, 200000000, NULL);
            last_checkpoint = tstamp_mono_ns();
        }
        if (got_any == 0 && nap(&e, o->poll_ms > 0 ? o->poll_ms : 1000))
            break;
    }
    if (rc == STEP_STOPPED || (rc == STEP_OK && stopped(&e))) {
        rc = EXPORT_EXIT_OK;
        set_status(&e, "stopped");
    } else if (rc == STEP_OK) {
        set_status(&e, o->dry_run ? "dry run, nothing changed" : "done");
    }
    backlog(&e, targets, n_targets);
    st->elapsed_ns = tstamp_mono_ns() - t0;
    if (e.prestarted)
        httpc_finish(h);  /* only after a failure between start and answer */
    for (size_t i = 0; i < e.n_slots; i++) {
        httpc_free(e.slots[i].h);  /* abandons a request still in flight */
        httpc_response_free(&e.slots[i].resp);
        buf_free(&e.slots[i].body);
    }
    export_batch_free(&e.bb[0]);
    export_batch_free(&e.bb[1]);
    buf_free(&e.body);
    httpc_response_free(&e.resp);
    free(e.dead);
    return rc;
}

void export_stats_line(const char *exporter, const export_stats *st, char *out, size_t size)
{
    snprintf(out, size,
             "%s: sent %" PRId64 ", batches %" PRId64 ", rejected %" PRId64
             ", dead-lettered %" PRId64 ", backlog %" PRId64 ", %.3f s: %s",
             exporter, st->sent, st->batches, st->rejected, st->dead_lettered, st->backlog,
             (double)st->elapsed_ns / 1e9, st->status[0] ? st->status : "done");
}

int export_reset_cursor(spool *s, const char *exporter, spool_stream stream, int64_t from_id)
{
    return spool_cursor_set(s, exporter, stream, from_id > 0 ? from_id - 1 : 0);
}
