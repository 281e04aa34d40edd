/* telemetry: between the API and the telemetry core. handlers.c calls it
 * at the edges of each request; the server loop's after-hook calls
 * telemetry_finish once the web server has the whole answer, so the spool
 * write never delays a response.
 *
 * A FastCGI worker (one whose loop reports when it is idle) does not write
 * each request to the spool in a transaction of its own: that costs about
 * as much as the request. It appends the request's batch to its journal
 * (spool/journal.h: one write, safe from the worker's death from then on),
 * and when it is idle, or once FLUSH_BATCHES, FLUSH_BYTES or FLUSH_AGE_NS
 * have gathered while requests kept it busy, gives that journal to its
 * copier thread (spool/copier.h), which copies it into the spool in one
 * transaction, and appends to a second journal meanwhile: a copy (a lock
 * wait, a page cache emptied by the other worker's commit) never holds up a
 * request. When the copier still has the other journal and this one has
 * reached TAKEOVER_BYTES or TAKEOVER_AGE_NS, the worker copies it itself, as
 * CRUDDUR_SPOOL_COPY=inline does each time. Checkpoints run in a thread too
 * (spool/checkpointer.h). A copy that fails drops and counts what it held,
 * as a failed direct write does; lost records are counted by whichever
 * handle writes next (the copier's, when there is one). Plain CGI writes
 * each request directly. */
#include "app/telemetry.h"

#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "spool/checkpointer.h"
#include "spool/copier.h"
#include "spool/journal.h"
#include "spool/spool.h"
#include "telemetry/crash.h"
#include "telemetry/propagation.h"
#include "telemetry/redact.h"
#include "telemetry/resource.h"
#include "telemetry/sampler.h"
#include "util/buf.h"
#include "util/tstamp.h"

/* A spool that could not be opened is tried again after this long. */
#define REOPEN_INTERVAL_NS 5000000000LL
/* At most one warning about dropped records per this long, per worker. */
#define WARN_INTERVAL_NS 10000000000LL
/* A busy worker copies its journal into the spool at the latest when this
 * many batches (requests), bytes or this much time (or the gather time, if
 * longer) have gathered. An idle one waits for the gather time
 * (CRUDDUR_SPOOL_GATHER_MS): a copy per request, when requests come one
 * at a time, costs more CPU than the requests (docs/performance.md). */
#define FLUSH_BATCHES 128
#define FLUSH_BYTES (1u << 20)
#define FLUSH_AGE_NS 50000000LL
/* While the copier still has the other journal, the worker copies this one
 * itself once it holds this much or its oldest batch waited this long: a
 * slow copy must not let the journal (4 MiB) fill. */
#define TAKEOVER_BYTES (2u << 20)
#define TAKEOVER_AGE_NS 1000000000LL
/* An idle worker whose copier still has a journal looks again this often. */
#define IDLE_AGAIN_MS 5
/* Journals left by dead workers are looked for when idle, at most this often. */
#define RECOVER_INTERVAL_NS 2000000000LL

struct telemetry {
    const app_config *cfg;
    char *resource_json;
    sampler_t sampler;
    redact_t *redact;
    trace_request *tr;
    crash_recorder *crash;

    spool *sp;                 /* NULL while it cannot be opened */
    spool_journal *jn;         /* the journal appended to (with sp); NULL: write directly */
    spool_journal *spare;      /* the other one, empty, while not with the copier */
    bool queueing;             /* the loop reports idle moments: journal, copy then */
    bool no_journal;           /* it could not be created: write directly */
    spool_checkpointer *ckpt;  /* with sp when queueing: checkpoints off the request path */
    bool no_ckpt_thread;       /* it could not be started: sp checkpoints itself */
    spool_copier *copier;      /* with sp when queueing, unless "inline" */
    bool no_copier;            /* it could not be started: the worker copies */
    int64_t budget_ns;         /* CRUDDUR_SPOOL_BUDGET_MS */
    int64_t gather_ns;         /* CRUDDUR_SPOOL_GATHER_MS */
    int64_t flush_age_ns;      /* FLUSH_AGE_NS, or gather_ns if longer */
    int64_t recover_at_ns;     /* next look for dead workers' journals */
    int64_t reopen_at_ns;
    int64_t unspooled_drops;   /* dropped while no spool was open */
    int last_status;           /* of the last spool open or write */
    bool recovered;            /* earlier crashes moved into the spool */
    int64_t warn_at_ns;
    int64_t warn_suppressed;

    /* the request in hand */
    bool begun;
    bool failed;               /* telemetry_fail was called */
    int64_t start_ns;
    int64_t start_mono_ns;
    trace_span server;
    buf_t scratch;
};

static void warn_drop(telemetry *t, int status, size_t n)
{
    int64_t now = tstamp_mono_ns();
    if (now < t->warn_at_ns) {
        t->warn_suppressed += (int64_t)n;
        return;
    }
    fprintf(stderr,
            "cruddur-api: telemetry spool %s: %s; dropped %zu record(s)"
            " (%lld more since the last warning)\n",
            t->cfg->spool_path, spool_strstatus(status), n, (long long)t->warn_suppressed);
    t->warn_suppressed = 0;
    t->warn_at_ns = now + WARN_INTERVAL_NS;
}

/* Records lost: counted by the handle that writes next. */
static void note_dropped(telemetry *t, int64_t n)
{
    if (t->copier != NULL)
        spool_copier_note_dropped(t->copier, n);
    else if (t->sp != NULL)
        spool_note_dropped(t->sp, n);
    else
        t->unspooled_drops += n;
}

/* A queueing worker's checkpoints run in a thread of their own (their fsyncs
 * take milliseconds), and so do its copies unless CRUDDUR_SPOOL_COPY says
 * "inline"; the worker's handle then never checkpoints. */
static void start_threads(telemetry *t)
{
    if (!t->queueing || t->sp == NULL)
        return;
    char err[256];
    if (t->ckpt == NULL && !t->no_ckpt_thread) {
        if (spool_checkpointer_start(t->cfg->spool_path, &t->ckpt, err, sizeof err) != SPOOL_OK) {
            fprintf(stderr, "cruddur-api: %s; checkpointing the spool after requests\n", err);
            t->no_ckpt_thread = true;
            t->ckpt = NULL;
        } else {
            spool_set_no_checkpoint(t->sp, 1);
        }
    }
    if (t->copier == NULL && !t->no_copier && t->cfg->spool_copy != CONFIG_COPY_INLINE) {
        if (spool_copier_start(t->cfg->spool_path, t->budget_ns, t->ckpt, &t->copier, err,
                               sizeof err) != SPOOL_OK) {
            fprintf(stderr, "cruddur-api: %s; copying the journal between requests\n", err);
            t->no_copier = true;
            t->copier = NULL;
        }
    }
}

/* Closes the spool, its journals and threads; the copier finishes the copy
 * in hand first. When `reopen` (the spool failed), lost records not yet
 * counted are kept for the next open. Otherwise (the worker stops) what
 * waits in the journals goes into the spool now, with those counts. A
 * journal still holding batches is left in its file for recovery. The
 * worker's handle checkpoints again: the last one to close copies and
 * removes the WAL. */
static void close_spool(telemetry *t, bool reopen)
{
    int64_t dropped = 0;
    spool_journal *held = spool_copier_stop(t->copier, NULL, &dropped);
    t->copier = NULL;
    if (reopen) {
        t->unspooled_drops += dropped + spool_take_dropped(t->sp);
    } else if (t->sp != NULL) {
        spool_note_dropped(t->sp, dropped);     /* written with a flush, or by spool_close */
        spool_journal *js[3] = {held, t->spare, t->jn};
        for (int i = 0; i < 3; i++)
            if (js[i] != NULL && spool_journal_batches(js[i]) > 0)
                spool_journal_flush(js[i], t->sp, t->budget_ns);
    }
    spool_checkpointer_stop(t->ckpt);
    t->ckpt = NULL;
    spool_journal_close(held, t->sp);
    spool_journal_close(t->spare, t->sp);
    t->spare = NULL;
    spool_journal_close(t->jn, t->sp);
    t->jn = NULL;
    spool_set_no_checkpoint(t->sp, 0);
    spool_close(t->sp);
    t->sp = NULL;
}

/* Opens the spool if it is not open and a try is due. */
static bool spool_ready(telemetry *t)
{
    if (t->sp != NULL)
        return true;
    int64_t now = tstamp_mono_ns();
    if (now < t->reopen_at_ns)
        return false;
    char err[256];
    int rc = spool_open(t->cfg->spool_path, SPOOL_CREATE | SPOOL_SMALL_CACHE, 0, &t->sp, err,
                       sizeof err);
    t->last_status = rc;
    if (rc != SPOOL_OK) {
        t->sp = NULL;
        t->reopen_at_ns = now + REOPEN_INTERVAL_NS;
        return false;
    }
    spool_set_budget(t->sp, t->budget_ns);
    start_threads(t);
    if (t->unspooled_drops > 0) {
        int64_t n = t->unspooled_drops;
        t->unspooled_drops = 0;
        note_dropped(t, n);
    }
    return true;
}

static size_t batch_records(const spool_batch *b)
{
    return b->n_spans + b->n_logs + b->n_errors;
}

static int spool_crash(void *arg, const crash_record *rec);

/* Moves the crash files of dead workers into the spool, once per process
 * (a worker restarted after a crash reports it with its first request). */
static void recover_crashes(telemetry *t)
{
    crash_recover_stats st;
    t->recovered = true;
    if (crash_recover(t->cfg->crash_dir, spool_crash, t, &st) == 0 && st.files_kept > 0)
        fprintf(stderr, "cruddur-api: %zu crash file(s) kept in %s for a later start\n",
                st.files_kept, t->cfg->crash_dir);
}

/* After a write or copy failed with rc: a file that went away or became
 * unwritable is reopened later; a busy one is just tried again next time. */
static void after_failure(telemetry *t, int rc)
{
    if (rc == SPOOL_BUSY || rc == SPOOL_FULL || rc == SPOOL_INVALID)
        return;
    close_spool(t, true);
    t->reopen_at_ns = tstamp_mono_ns() + REOPEN_INTERVAL_NS;
}

/* After a copy of j (by the worker or the copier) ended with rc: on
 * failure its batches are dropped and counted. */
static void copy_done(telemetry *t, spool_journal *j, int rc)
{
    t->last_status = rc;
    if (rc == SPOOL_OK) {
        if (!t->recovered)
            recover_crashes(t);
        return;
    }
    size_t n = spool_journal_discard(j);
    note_dropped(t, (int64_t)n);
    warn_drop(t, rc, n);
    after_failure(t, rc);
}

/* Copies journal j into the spool in this thread. */
static void flush_here(telemetry *t, spool_journal *j)
{
    if (j == NULL || t->sp == NULL || spool_journal_batches(j) == 0)
        return;
    int rc = spool_journal_flush(j, t->sp, t->budget_ns);
    if (rc == SPOOL_OK)
        spool_checkpointer_poke(t->ckpt, spool_wal_pages(t->sp));
    copy_done(t, j, rc);
}

/* Takes back the journal the copier is done with, if it is. */
static void collect_copy(telemetry *t)
{
    int rc = SPOOL_ERROR;
    spool_journal *j = spool_copier_collect(t->copier, 0, &rc);
    if (j == NULL)
        return;
    t->spare = j;
    copy_done(t, j, rc);        /* may close the spool, spare included */
}

/* Gives the copier the journal appended to, which the (empty) spare then
 * replaces. False when the copier still has the other one, or there is no
 * spare to switch to. */
static bool give_copy(telemetry *t)
{
    collect_copy(t);
    if (t->copier == NULL || spool_copier_holds(t->copier))
        return false;
    if (spool_journal_batches(t->jn) == 0)
        return true;
    if (t->spare == NULL) {
        char err[256];
        if (spool_journal_open(t->cfg->spool_path, 0, &t->spare, err, sizeof err) != SPOOL_OK) {
            t->spare = NULL;
            return false;
        }
    }
    if (spool_copier_give(t->copier, t->jn) != SPOOL_OK)
        return false;
    t->jn = t->spare;
    t->spare = NULL;
    return true;
}

/* Copies what the journal appended to holds: through the copier when it
 * can take it, here when there is no copier or when `must` (it is late). */
static void flush_journal(telemetry *t, bool must)
{
    if (t->jn == NULL || t->sp == NULL)
        return;
    if (t->copier != NULL && give_copy(t))
        return;
    if (t->copier == NULL || must)
        flush_here(t, t->jn);
}

static bool flush_due(const telemetry *t)
{
    return spool_journal_batches(t->jn) >= FLUSH_BATCHES ||
           spool_journal_bytes(t->jn) >= FLUSH_BYTES ||
           tstamp_mono_ns() - spool_journal_oldest_ns(t->jn) >= t->flush_age_ns;
}

/* Milliseconds until an idle worker's journal has gathered long enough to
 * be copied: 0 when it has (or is due anyway). */
static int gather_left_ms(const telemetry *t)
{
    if (flush_due(t))
        return 0;
    int64_t left = spool_journal_oldest_ns(t->jn) + t->gather_ns - tstamp_mono_ns();
    return left <= 0 ? 0 : (int)((left + 999999) / 1000000);
}

static bool journal_waits(const telemetry *t)
{
    return t->jn != NULL && spool_journal_batches(t->jn) > 0;
}

/* The copier still has the other journal and this one is filling up. */
static bool takeover_due(const telemetry *t)
{
    return spool_journal_bytes(t->jn) >= TAKEOVER_BYTES ||
           tstamp_mono_ns() - spool_journal_oldest_ns(t->jn) >= TAKEOVER_AGE_NS;
}

/* The journal, created with the first request that wants it. */
static bool journal_ready(telemetry *t)
{
    if (t->jn != NULL)
        return true;
    if (t->no_journal)
        return false;
    char err[256];
    if (spool_journal_open(t->cfg->spool_path, 0, &t->jn, err, sizeof err) != SPOOL_OK) {
        fprintf(stderr, "cruddur-api: %s; writing each request to the spool directly\n", err);
        t->no_journal = true;
        t->jn = NULL;
        return false;
    }
    return true;
}

/* Copies the journals of dead workers into the spool, now and then. */
static void recover_journals(telemetry *t)
{
    int64_t now = tstamp_mono_ns();
    if (t->sp == NULL || now < t->recover_at_ns)
        return;
    t->recover_at_ns = now + RECOVER_INTERVAL_NS;
    spool_journal_recovery st;
    spool_journal_recover(t->sp, t->cfg->spool_path, SPOOL_DEFAULT_OP_BUDGET_NS, &st);
    if (st.journals > 0)
        fprintf(stderr, "cruddur-api: copied %zu record(s) from %zu journal(s) of stopped"
                " workers into the spool\n", st.records, st.journals);
}

int telemetry_idle(telemetry *t)
{
    if (t == NULL)
        return -1;
    t->queueing = true;
    start_threads(t);
    int gather_ms = journal_waits(t) ? gather_left_ms(t) : 0;
    /* late batches (no spare journal to switch to, say) are copied here */
    if (gather_ms == 0)
        flush_journal(t, journal_waits(t) && takeover_due(t));
    recover_journals(t);
    /* records still gathering, or that could not be given (the copier
     * still had the other journal): look again soon, so that they never
     * wait for a request */
    if (gather_ms > 0)
        return gather_ms;
    return journal_waits(t) || spool_copier_holds(t->copier) ? IDLE_AGAIN_MS : -1;
}

/* Writes the collector's records; counts them as dropped on failure. */
static int write_batch(telemetry *t)
{
    spool_batch b;
    if (trace_request_to_batch(t->tr, &b) != 0)
        return SPOOL_ERROR;
    size_t n = batch_records(&b);
    size_t bounded = trace_request_dropped(t->tr);
    if (!spool_ready(t)) {
        t->unspooled_drops += (int64_t)(n + bounded);
        warn_drop(t, t->last_status, n);
        return t->last_status;
    }
    if (bounded > 0)
        note_dropped(t, (int64_t)bounded);
    if (n > 0 && t->queueing && journal_ready(t) &&
        spool_journal_append(t->jn, &b) == SPOOL_OK) {
        if (flush_due(t))
            flush_journal(t, takeover_due(t));
        return t->last_status;
    }
    /* no journal, or it did not take the batch: straight into the spool */
    int rc = n == 0 ? SPOOL_OK : spool_write(t->sp, &b, t->budget_ns);
    t->last_status = rc;
    if (rc == SPOOL_OK)
        spool_checkpointer_poke(t->ckpt, spool_wal_pages(t->sp));
    if (rc == SPOOL_OK && !t->recovered)
        recover_crashes(t);
    if (rc != SPOOL_OK) {
        note_dropped(t, (int64_t)n);
        warn_drop(t, rc, n);
        after_failure(t, rc);
    }
    return rc;
}

/* Moves one crash record into the spool as a critical report. */
static int spool_crash(void *arg, const crash_record *rec)
{
    telemetry *t = arg;
    trace_request_begin(t->tr, 0, NULL);
    if (trace_add_crash(t->tr, rec) != 0)
        return -1;
    trace_request_end(t->tr, 0);
    spool_batch b;
    if (trace_request_to_batch(t->tr, &b) != 0 || !spool_ready(t))
        return -1;
    return spool_write(t->sp, &b, SPOOL_DEFAULT_OP_BUDGET_NS) == SPOOL_OK ? 0 : -1;
}

static void install_crash_recorder(telemetry *t)
{
    char err[256];
    if (mkdir(t->cfg->crash_dir, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "cruddur-api: cannot create %s: %s; crashes will not be recorded\n",
                t->cfg->crash_dir, strerror(errno));
        return;
    }
    t->crash = crash_install(t->cfg->crash_dir, err, sizeof err);
    if (t->crash == NULL)
        fprintf(stderr, "cruddur-api: crash recorder not installed: %s\n", err);
}

int telemetry_new(const app_config *cfg, rng_t *rng, telemetry **out, char *err,
                  size_t err_size)
{
    *out = NULL;
    if (!cfg->telemetry)
        return 0;
    telemetry *t = calloc(1, sizeof *t);
    if (t == NULL)
        goto oom;
    t->cfg = cfg;
    t->budget_ns = (int64_t)cfg->spool_budget_ms * 1000000LL;
    t->gather_ns = (int64_t)cfg->spool_gather_ms * 1000000LL;
    t->flush_age_ns = t->gather_ns > FLUSH_AGE_NS ? t->gather_ns : FLUSH_AGE_NS;
    t->server = TRACE_SPAN_NONE;

    char warn[256];
    if (resource_build(NULL, &t->resource_json, warn, sizeof warn) != 0)
        goto oom;
    if (warn[0] != '\0')
        fprintf(stderr, "cruddur-api: %s\n", warn);
    if (sampler_from_env(&t->sampler, warn, sizeof warn) != 0)
        fprintf(stderr, "cruddur-api: %s\n", warn);
    if ((t->redact = redact_from_env()) == NULL)
        goto oom;

    trace_config tc;
    trace_config_defaults(&tc);
    if (trace_config_from_env(&tc, NULL, warn, sizeof warn) != 0)
        fprintf(stderr, "cruddur-api: %s\n", warn);
    tc.resource_json = t->resource_json;
    tc.sampler = &t->sampler;
    tc.redact = t->redact;
    tc.rng = rng;
    if ((t->tr = trace_request_new(&tc)) == NULL)
        goto oom;

    /* The spool is opened, and earlier crashes moved into it, with the first
     * request's records: after its answer, so that neither delays it. */
    t->last_status = SPOOL_OK;
    install_crash_recorder(t);
    *out = t;
    return 0;

oom:
    snprintf(err, err_size, "out of memory setting up telemetry");
    telemetry_free(t);
    return -1;
}

void telemetry_free(telemetry *t)
{
    if (t == NULL)
        return;
    crash_uninstall(t->crash);
    close_spool(t, false);
    trace_request_free(t->tr);
    redact_free(t->redact);
    free(t->resource_json);
    buf_free(&t->scratch);
    free(t);
}

trace_request *telemetry_trace(telemetry *t)
{
    return t != NULL ? t->tr : NULL;
}

bool telemetry_spool_ok(const telemetry *t)
{
    return t == NULL || t->last_status == SPOOL_OK;
}

static int each_header(const void *src, trace_header_fn fn, void *arg)
{
    return http_request_each_header(src, fn, arg);
}

static const char *known_method(const char *m)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                        "OPTIONS", "CONNECT", "TRACE"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(m, known[i]) == 0)
            return known[i];
    return NULL;
}

void telemetry_begin(telemetry *t, const http_request *req)
{
    if (t == NULL)
        return;
    trace_request *tr = t->tr;
    t->begun = true;
    t->failed = false;
    t->start_ns = tstamp_now_ns();
    t->start_mono_ns = tstamp_mono_ns();

    prop_context in;
    prop_extract(http_request_header(req, "traceparent"), http_request_header(req, "tracestate"),
                 http_request_header(req, "X-Amzn-Trace-Id"), &in);
    trace_request_begin(tr, t->start_ns, &in);

    const char *method_name = req->method_name != NULL ? req->method_name : "";
    const char *method = known_method(method_name);
    trace_http_info info = {method_name,        req->raw_uri != NULL ? req->raw_uri : "",
                            req->scheme,        req->server_name,
                            req->remote_addr,   each_header,
                            req};
    trace_request_set_http(tr, &info);
    /* Named "{METHOD}" until the route is known (semantic conventions). */
    t->server = trace_span_start(tr, TRACE_SPAN_NONE, method != NULL ? method : "HTTP",
                                 SPOOL_KIND_SERVER, t->start_ns);

    /* A crash from here on carries the request line, secrets removed. */
    buf_reset(&t->scratch);
    if (buf_printf(&t->scratch, "%.16s ", method_name) == 0 &&
        redact_url(t->redact, req->raw_uri != NULL ? req->raw_uri : "", &t->scratch) == 0) {
        char span_hex[SPANID_HEX_SIZE];
        trace_span_id_hex(tr, t->server, span_hex);
        crash_set_request(t->crash, t->scratch.data, trace_request_trace_id_hex(tr), span_hex);
    }

    if (!trace_request_sampled(tr))
        return;
    trace_span s = t->server;
    trace_span_set_str(tr, s, "http.request.method", method != NULL ? method : "_OTHER");
    if (method == NULL)
        trace_span_set_str(tr, s, "http.request.method_original", method_name);
    if (req->raw_path != NULL) {
        size_t plen = strlen(req->raw_path);
        if (req->query != NULL && req->query[0] != '\0' && plen > 0 && req->raw_path[plen - 1] == '?')
            plen--;
        buf_reset(&t->scratch);
        if (buf_append(&t->scratch, req->raw_path, plen) == 0)
            trace_span_set_str(tr, s, "url.path", t->scratch.data != NULL ? t->scratch.data : "");
    }
    if (req->query != NULL && req->query[0] != '\0') {
        buf_reset(&t->scratch);
        if (redact_query(t->redact, req->query, strlen(req->query), &t->scratch) == 0)
            trace_span_set_str(tr, s, "url.query", t->scratch.data != NULL ? t->scratch.data : "");
    }
    trace_span_set_str(tr, s, "url.scheme", req->scheme != NULL ? req->scheme : "http");
    /* The name the client asked for (Host), as the conventions want; the
     * web server's own name only when there is none. */
    const char *host = http_request_header(req, "Host");
    if (host != NULL && host[0] != '\0') {
        size_t hl = strlen(host);
        const char *colon = strrchr(host, ':');
        if (colon != NULL && strchr(colon, ']') == NULL)
            hl = (size_t)(colon - host);
        buf_reset(&t->scratch);
        if (buf_append(&t->scratch, host, hl) == 0 && t->scratch.data != NULL)
            trace_span_set_str(tr, s, "server.address", t->scratch.data);
    } else if (req->server_name != NULL && req->server_name[0] != '\0') {
        trace_span_set_str(tr, s, "server.address", req->server_name);
    }
    if (req->server_port > 0)
        trace_span_set_int(tr, s, "server.port", req->server_port);
    if (req->remote_addr != NULL && req->remote_addr[0] != '\0')
        trace_span_set_str(tr, s, "client.address", req->remote_addr);
    if (req->remote_port > 0)
        trace_span_set_int(tr, s, "client.port", req->remote_port);
    const char *ua = http_request_header(req, "User-Agent");
    if (ua != NULL)
        trace_span_set_str(tr, s, "user_agent.original", ua);
    const char *proto = http_request_param(req, "SERVER_PROTOCOL");
    if (proto != NULL && strncmp(proto, "HTTP/", 5) == 0)
        trace_span_set_str(tr, s, "network.protocol.version", proto + 5);
}

void telemetry_route(telemetry *t, const http_request *req, const route_match *m)
{
    if (t == NULL || m->template == NULL)
        return;
    const char *method = req->method_name != NULL ? known_method(req->method_name) : NULL;
    buf_reset(&t->scratch);
    if (buf_printf(&t->scratch, "%s %s", method != NULL ? method : "HTTP", m->template) != 0)
        return;
    trace_span_set_name(t->tr, t->server, t->scratch.data);
    trace_request_set_route(t->tr, t->scratch.data);
    trace_span_set_str(t->tr, t->server, "http.route", m->template);
}

void telemetry_fail(telemetry *t, const char *class_name, const char *detail)
{
    if (t == NULL || !t->begun)
        return;
    t->failed = true;
    trace_fail(t->tr, t->server, class_name, detail);
}

void telemetry_report(telemetry *t, const char *level, const char *message)
{
    if (t == NULL || !t->begun)
        return;
    trace_error(t->tr, t->server, level, NULL, message, 0);
}

void telemetry_respond(telemetry *t, const http_request *req, http_response *resp)
{
    if (t == NULL)
        return;
    if (!t->begun)
        telemetry_begin(t, req);
    trace_request *tr = t->tr;
    char xray[128];
    if (prop_xray_response(trace_request_incoming(tr), trace_request_trace_id(tr),
                           trace_request_sampled(tr), xray, sizeof xray) > 0)
        http_response_header(resp, "X-Amzn-Trace-Id", xray);
    trace_span_set_int(tr, t->server, "http.response.status_code", resp->status);
    if (resp->status >= 500) {
        if (!t->failed) {
            char msg[64];
            snprintf(msg, sizeof msg, "HTTP %d", resp->status);
            telemetry_fail(t, resp->status == 503 ? "ServiceUnavailable" : "InternalServerError",
                           msg);
        }
        trace_span_set_str(tr, t->server, "error.type", resp->status == 503 ? "503" : "500");
    }
}

void telemetry_finish(telemetry *t, const http_request *req, const http_response *resp)
{
    if (t == NULL)
        return;
    if (req == NULL || resp == NULL)
        return;
    trace_request *tr = t->tr;
    /* A request refused before the handler ran (a malformed request line)
     * still gets its trace and access record. */
    if (!t->begun)
        telemetry_respond(t, req, (http_response *)resp);
    int64_t end_ns = t->start_ns + (tstamp_mono_ns() - t->start_mono_ns);
    int64_t body = (int64_t)resp->body.len;
    trace_span_set_int(tr, t->server, "http.response.body.size", body);
    trace_span_end(tr, t->server, end_ns);

    trace_access a = {req->remote_addr,
                      req->method_name != NULL ? req->method_name : "",
                      req->scheme != NULL ? req->scheme : "http",
                      req->raw_uri != NULL ? req->raw_uri : "",
                      http_request_header(req, "User-Agent"),
                      resp->status,
                      resp->omit_body ? 0 : body,
                      end_ns - t->start_ns};
    trace_access_log(tr, t->server, &a);
    trace_request_end(tr, end_ns);
    write_batch(t);
    crash_clear_request(t->crash);
    t->begun = false;
    t->server = TRACE_SPAN_NONE;
}

void telemetry_db_observer(void *arg, const app_db_exec *e)
{
    telemetry *t = arg;
    if (t == NULL || !t->begun || !trace_request_sampled(t->tr))
        return;
    trace_request *tr = t->tr;
    const app_query *q = e->query;
    const char *op = q != NULL && q->operation != NULL ? q->operation : "SQL";
    const char *table = q != NULL ? q->table : NULL;
    buf_reset(&t->scratch);
    if ((table != NULL ? buf_printf(&t->scratch, "%s %s", op, table)
                       : buf_puts(&t->scratch, op)) != 0)
        return;
    trace_span s = trace_span_start(tr, trace_span_current(tr), t->scratch.data, SPOOL_KIND_CLIENT,
                                    e->start_ns);
    trace_span_set_str(tr, s, "db.system.name", "sqlite");
    trace_span_set_str(tr, s, "db.operation.name", op);
    if (table != NULL)
        trace_span_set_str(tr, s, "db.collection.name", table);
    if (q != NULL && q->sql != NULL)
        trace_span_set_str(tr, s, "db.query.text", q->sql);
    if (e->rc != SQLITE_OK && e->rc != SQLITE_ROW && e->rc != SQLITE_DONE) {
        char code[16];
        snprintf(code, sizeof code, "%d", e->rc);
        trace_span_set_str(tr, s, "db.response.status_code", code);
        trace_span_set_str(tr, s, "error.type", sqlite3_errstr(e->rc));
        trace_span_set_status(tr, s, SPOOL_STATUS_ERROR, sqlite3_errstr(e->rc));
    }
    trace_span_end(tr, s, e->end_ns);
}
