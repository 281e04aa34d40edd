/* Unit tests for export (the delivery engine), with the OTLP target against
 * a scripted HTTP server on loopback and a real spool in a temporary
 * directory: delivery in batches, retries and stored backoff, refused
 * credentials, dead letters (named, isolated by splitting, partial success,
 * unreadable records), dry runs, --max-batches, stopping, and --follow. */
#include <curl/curl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "export/export.h"
#include "export/httpc.h"
#include "export/otlp.h"
#include "export_testsrv.h"
#include "util/tstamp.h"

static char dir[64];
static char path[128];
static char url[128];
static tsrv srv;
static spool *sp;
static httpc *hc;
static export_target target;
static export_target *targets[1];
static volatile sig_atomic_t stop_flag;
static const char *const headers[] = { "Content-Type: application/json", "x-test-key: s3cret", NULL };

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void setup(void)
{
    strcpy(dir, "/tmp/test_export.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/spool.db", dir);
    char err[200];
    ck_assert_int_eq(spool_open(path, SPOOL_CREATE, 0, &sp, err, sizeof err), SPOOL_OK);
    tsrv_start(&srv);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/traces", srv.port);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    stop_flag = 0;
    ck_assert_int_eq(httpc_new(&hc, 2000, 2000, &stop_flag), 0);
    memset(&target, 0, sizeof target);
    otlp_target_init(&target, OTLP_TRACES);
    target.exporter = "honeycomb";
    target.label = "traces";
    target.url = url;
    target.headers = headers;
    target.gzip = 1;
    targets[0] = &target;
}

static void teardown(void)
{
    httpc_free(hc);
    curl_global_cleanup();
    tsrv_stop(&srv);
    spool_close(sp);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void span_id_of(int i, char out[17])
{
    snprintf(out, 17, "%016x", i + 1);
}

/* n spans, ids 1..n, names "span-<i>", written 50 a transaction. */
static void seed(int n, const char *events_json_for_7)
{
    static char names[50][32];
    spool_span spans[50];
    for (int done = 0; done < n;) {
        int k = n - done < 50 ? n - done : 50;
        memset(spans, 0, sizeof spans);
        for (int j = 0; j < k; j++) {
            int i = done + j;
            spool_span *s = &spans[j];
            snprintf(s->trace_id, sizeof s->trace_id, "65000000%024x", i / 4 + 1);
            span_id_of(i, s->span_id);
            snprintf(names[j], sizeof names[j], "span-%d;", i);
            s->name = names[j];
            s->kind = 2;
            s->start_ns = 1700000000000000000 + i;
            s->end_ns = s->start_ns + 1000;
            s->attributes_json = "{\"http.response.status_code\":200}";
            s->events_json = i == 7 && events_json_for_7 ? events_json_for_7 : "[]";
            s->flags = 1;
        }
        spool_batch b = { "{\"service.name\":\"test\"}", "cruddur", "1", spans, (size_t)k, NULL, 0, NULL, 0 };
        ck_assert_int_eq(spool_write(sp, &b, 0), SPOOL_OK);
        done += k;
    }
}

static export_options opts(void)
{
    export_options o;
    memset(&o, 0, sizeof o);
    o.batch_size = 100;
    o.max_wait_ms = 5000;
    o.poll_ms = 20;
    o.log = stderr;
    o.stop = &stop_flag;
    o.seed = 42;
    return o;
}

static int run(export_options *o, export_stats *st)
{
    return export_run(sp, hc, targets, 1, o, st);
}

static int64_t cursor(void)
{
    int64_t c = -1;
    spool_cursor_get(sp, "honeycomb", SPOOL_STREAM_SPAN, &c);
    return c;
}

static int64_t sql_int(const char *q)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* How many spans the server received, over all requests. */
static int spans_received(void)
{
    int n = 0;
    for (int i = 0; i < srv.n_req; i++)
        n += tsrv_count(srv.req_body[i], "\"spanId\":");
    return n;
}

START_TEST(delivers_everything_once)
{
    seed(1000, NULL);
    export_options o = opts();
    o.batch_size = 300;
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 1000);
    ck_assert_int_eq(st.batches, 4);
    ck_assert_int_eq(st.requests, 4);
    ck_assert_int_eq(st.backlog, 0);
    ck_assert_str_eq(st.status, "done");
    ck_assert_int_eq(tsrv_requests(&srv), 4);
    ck_assert_int_eq(spans_received(), 1000);
    ck_assert_ptr_nonnull(strstr(srv.req_head[0], "POST /v1/traces HTTP/1.1"));
    ck_assert_ptr_nonnull(strcasestr(srv.req_head[0], "x-test-key: s3cret"));
    ck_assert_ptr_nonnull(strcasestr(srv.req_head[0], "Content-Encoding: gzip"));
    ck_assert_ptr_nonnull(strstr(srv.req_body[0], "\"spanId\":\"0000000000000001\""));
    ck_assert_ptr_nonnull(strstr(srv.req_body[3], "\"spanId\":\"00000000000003e8\""));
    ck_assert_int_eq(cursor(), 1000);
    spool_export_state es;
    ck_assert_int_eq(spool_export_state_get(sp, "honeycomb", &es), SPOOL_OK);
    ck_assert_int_eq(es.sent, 1000);
    ck_assert_int_eq(es.failures, 0);
    ck_assert_int_gt(es.last_ok_ns, 0);
    /* a second run finds nothing to send */
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.requests, 0);
    ck_assert_int_eq(tsrv_requests(&srv), 4);
    char line[300];
    export_stats_line("honeycomb", &st, line, sizeof line);
    ck_assert_ptr_nonnull(strstr(line, "honeycomb: sent 0, batches 0, rejected 0, dead-lettered 0, backlog 0, "));
}
END_TEST

START_TEST(retries_then_delivers)
{
    seed(100, NULL);
    tsrv_script(&srv, (tsrv_reply){ 503, "Retry-After: 0\r\n", "{\"code\":14,\"message\":\"busy\"}", 0 });
    tsrv_script(&srv, (tsrv_reply){ 0, NULL, NULL, 0 });   /* connection closed, no answer */
    tsrv_script(&srv, (tsrv_reply){ 502, "", "", 0 });
    export_options o = opts();
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 100);
    /* libcurl itself retries once on a kept-alive connection found closed
     * before any answer came: four requests, three of them failed, two seen
     * by the engine */
    ck_assert_int_eq(st.retries, 2);
    ck_assert_int_eq(tsrv_requests(&srv), 4);
    /* the same request each time */
    ck_assert_str_eq(srv.req_body[0], srv.req_body[3]);
    spool_export_state es;
    ck_assert_int_eq(spool_export_state_get(sp, "honeycomb", &es), SPOOL_OK);
    ck_assert_int_eq(es.failures, 0);
    ck_assert_int_eq(es.retry_at_ns, 0);
    ck_assert_ptr_nonnull(strstr(es.last_error, "HTTP 502"));
    ck_assert_int_eq(cursor(), 100);
}
END_TEST

START_TEST(backoff_is_stored_and_honoured)
{
    seed(10, NULL);
    tsrv_script(&srv, (tsrv_reply){ 429, "Retry-After: 120\r\n", "{\"message\":\"slow down\"}", 0 });
    export_options o = opts();
    o.max_wait_ms = 0;
    export_stats st;
    int64_t before = tstamp_now_ns();
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_TEMPFAIL);
    ck_assert_int_eq(st.sent, 0);
    ck_assert_ptr_nonnull(strstr(st.status, "backend unavailable"));
    spool_export_state es;
    ck_assert_int_eq(spool_export_state_get(sp, "honeycomb", &es), SPOOL_OK);
    ck_assert_int_eq(es.failures, 1);
    ck_assert_int_ge(es.retry_at_ns, before + 120 * 1000000000LL);
    ck_assert_int_le(es.retry_at_ns, tstamp_now_ns() + 120 * 1000000000LL);
    ck_assert_ptr_nonnull(strstr(es.last_error, "HTTP 429: slow down"));
    ck_assert_int_eq(cursor(), 0);
    /* the next run (cron, a minute later) sends nothing */
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_TEMPFAIL);
    ck_assert_ptr_nonnull(strstr(st.status, "in backoff until"));
    ck_assert_int_eq(st.requests, 0);
    ck_assert_int_eq(tsrv_requests(&srv), 1);
    ck_assert_int_eq(st.backlog, 10);
    /* once the time has come it goes on, and success clears the state */
    ck_assert_int_eq(spool_export_failed(sp, "honeycomb", "test", 1), SPOOL_OK);
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 10);
    ck_assert_int_eq(spool_export_state_get(sp, "honeycomb", &es), SPOOL_OK);
    ck_assert_int_eq(es.failures, 0);
    ck_assert_int_eq(es.retry_at_ns, 0);
}
END_TEST

START_TEST(backoff_grows_without_retry_after)
{
    seed(5, NULL);
    for (int i = 0; i < 3; i++)
        tsrv_script(&srv, (tsrv_reply){ 503, "", "", 0 });
    export_options o = opts();
    o.max_wait_ms = 0;
    export_stats st;
    int64_t prev_wait = 0;
    for (int i = 1; i <= 3; i++) {
        /* let the run start at once (this counts one more failure, as a real one would) */
        ck_assert_int_eq(spool_export_failed(sp, "honeycomb", "clear", 1), SPOOL_OK);
        int64_t t0 = tstamp_now_ns();
        ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_TEMPFAIL);
        spool_export_state es;
        ck_assert_int_eq(spool_export_state_get(sp, "honeycomb", &es), SPOOL_OK);
        int64_t wait_ms = (es.retry_at_ns - t0) / 1000000;
        int64_t ceiling = 1000LL << (es.failures - 1);
        ck_assert_int_le(wait_ms, ceiling + 50);
        ck_assert_int_ge(wait_ms, 50);
        prev_wait = wait_ms;
    }
    ck_assert_int_gt(prev_wait, 0);
    ck_assert_int_eq(tsrv_requests(&srv), 3);
}
END_TEST

START_TEST(refused_credentials_stop_everything)
{
    seed(50, NULL);
    tsrv_script(&srv, (tsrv_reply){ 401, "", "{\"code\":16,\"message\":\"invalid API key\"}", 0 });
    export_options o = opts();
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_CONFIG);
    ck_assert_str_eq(st.status, "credentials refused");
    ck_assert_int_eq(tsrv_requests(&srv), 1);
    ck_assert_int_eq(cursor(), 0);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM dead_letter"), 0);
    spool_export_state es;
    ck_assert_int_eq(spool_export_state_get(sp, "honeycomb", &es), SPOOL_OK);
    ck_assert_ptr_nonnull(strstr(es.last_error, "HTTP 401: invalid API key"));
    ck_assert_int_eq(es.dead_lettered, 0);
    /* a wrong endpoint is a configuration error too */
    tsrv_script(&srv, (tsrv_reply){ 404, "", "404 page not found", 0 });
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_CONFIG);
    ck_assert_int_eq(cursor(), 0);
}
END_TEST

START_TEST(named_record_is_dead_lettered)
{
    seed(100, NULL);
    char sid[17], msg[200];
    span_id_of(36, sid);   /* record 37 */
    snprintf(msg, sizeof msg, "{\"code\":3,\"message\":\"span %s: invalid attribute\"}", sid);
    tsrv_script(&srv, (tsrv_reply){ 400, "", msg, 0 });
    export_options o = opts();
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 99);
    ck_assert_int_eq(st.rejected, 1);
    ck_assert_int_eq(st.dead_lettered, 1);
    ck_assert_int_eq(tsrv_requests(&srv), 2);
    ck_assert_int_eq(tsrv_count(srv.req_body[1], "\"spanId\":"), 99);
    char field[40];
    snprintf(field, sizeof field, "\"spanId\":\"%s\"", sid);
    ck_assert_ptr_nonnull(strstr(srv.req_body[0], field));
    ck_assert_ptr_null(strstr(srv.req_body[1], field));
    ck_assert_int_eq(cursor(), 100);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM dead_letter"), 1);
    ck_assert_int_eq(sql_int("SELECT record_id FROM dead_letter"), 37);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM dead_letter WHERE exporter = 'honeycomb' AND stream = 'span'"
                             " AND reason LIKE '%invalid attribute%' AND payload LIKE '%\"name\":\"span-36;\"%'"), 1);
    ck_assert_int_eq(sql_int("SELECT dead_lettered FROM export_state"), 1);
    ck_assert_int_eq(sql_int("SELECT rejected FROM export_state"), 1);
}
END_TEST

START_TEST(splitting_isolates_an_unnamed_bad_record)
{
    seed(200, NULL);
    srv.reject_marker = "span-137;";
    srv.reject_status = 400;
    export_options o = opts();
    o.batch_size = 200;
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 199);
    ck_assert_int_eq(st.dead_lettered, 1);
    ck_assert_int_eq(sql_int("SELECT record_id FROM dead_letter"), 138);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM dead_letter WHERE reason = 'bad data'"), 1);
    /* halving: about 2 log2(200) requests, not 200 */
    ck_assert_int_le(st.requests, 18);
    /* every good span arrived exactly once */
    int got = 0;
    for (int i = 0; i < srv.n_req; i++)
        if (strstr(srv.req_body[i], "span-137;") == NULL)
            got += tsrv_count(srv.req_body[i], "\"spanId\":");
    ck_assert_int_eq(got, 199);
    ck_assert_int_eq(cursor(), 200);
}
END_TEST

START_TEST(too_large_is_split_too)
{
    seed(40, NULL);
    srv.reject_marker = "span-3;";
    srv.reject_status = 413;
    export_options o = opts();
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 39);
    ck_assert_int_eq(sql_int("SELECT record_id FROM dead_letter"), 4);
}
END_TEST

START_TEST(partial_success_named)
{
    seed(50, NULL);
    char a[17], b[17], body[300];
    span_id_of(9, a);
    span_id_of(19, b);
    snprintf(body, sizeof body,
             "{\"partialSuccess\":{\"rejectedSpans\":\"2\",\"errorMessage\":\"dropped %s and %s: too old\"}}", a, b);
    tsrv_script(&srv, (tsrv_reply){ 200, "", body, 0 });
    export_options o = opts();
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(tsrv_requests(&srv), 1);   /* never re-sent */
    ck_assert_int_eq(st.sent, 48);
    ck_assert_int_eq(st.rejected, 2);
    ck_assert_int_eq(st.dead_lettered, 2);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM dead_letter WHERE record_id IN (10, 20)"), 2);
    ck_assert_int_eq(sql_int("SELECT sent FROM export_state"), 48);
    ck_assert_int_eq(sql_int("SELECT rejected FROM export_state"), 2);
    ck_assert_int_eq(cursor(), 50);
}
END_TEST

START_TEST(partial_success_unnamed)
{
    seed(50, NULL);
    tsrv_script(&srv, (tsrv_reply){ 200, "",
                                    "{\"partialSuccess\":{\"rejectedSpans\":3,\"errorMessage\":\"over quota\"}}", 0 });
    export_options o = opts();
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(tsrv_requests(&srv), 1);
    ck_assert_int_eq(st.sent, 47);
    ck_assert_int_eq(st.rejected, 3);
    ck_assert_int_eq(st.dead_lettered, 1);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM dead_letter WHERE record_id = 1 AND reason LIKE "
                             "'partial success: 3 of 50 records refused, not named: over quota'"), 1);
    ck_assert_int_eq(sql_int("SELECT rejected FROM export_state"), 3);
    ck_assert_int_eq(cursor(), 50);
}
END_TEST

START_TEST(timeouts_are_retried)
{
    seed(20, NULL);
    httpc_set_timeouts(hc, 1000, 300);
    tsrv_script(&srv, (tsrv_reply){ 200, "", "{}", 800 });
    export_options o = opts();
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.retries, 1);
    ck_assert_int_eq(st.sent, 20);
    ck_assert_int_eq(cursor(), 20);
    ck_assert_int_eq(sql_int("SELECT last_error LIKE '%timed out%' FROM export_state"), 1);
}
END_TEST

START_TEST(unreadable_record_is_dead_lettered_unsent)
{
    seed(20, "[1]");
    export_options o = opts();
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 19);
    ck_assert_int_eq(st.dead_lettered, 1);
    ck_assert_int_eq(tsrv_requests(&srv), 1);
    ck_assert_int_eq(spans_received(), 19);
    ck_assert_int_eq(sql_int("SELECT record_id FROM dead_letter WHERE reason = 'events are not readable'"), 8);
    ck_assert_int_eq(cursor(), 20);
}
END_TEST

START_TEST(dry_run_changes_nothing)
{
    seed(30, NULL);
    char out_path[160];
    snprintf(out_path, sizeof out_path, "%s/out.txt", dir);
    FILE *f = fopen(out_path, "w+");
    ck_assert_ptr_nonnull(f);
    export_options o = opts();
    o.dry_run = 1;
    o.batch_size = 20;
    o.out = f;
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 30);
    ck_assert_int_eq(st.batches, 2);
    ck_assert_int_eq(tsrv_requests(&srv), 0);
    int64_t c = 7;
    ck_assert_int_eq(spool_cursor_get(sp, "honeycomb", SPOOL_STREAM_SPAN, &c), SPOOL_NOTFOUND);
    ck_assert_int_eq(spool_export_state_get(sp, "honeycomb", &(spool_export_state){0}), SPOOL_NOTFOUND);
    fseek(f, 0, SEEK_SET);
    static char text[200000];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    ck_assert_int_eq(tsrv_count(text, "POST http://127.0.0.1:"), 2);
    ck_assert_ptr_nonnull(strstr(text, "x-test-key: [REDACTED]"));
    ck_assert_ptr_null(strstr(text, "s3cret"));
    ck_assert_int_eq(tsrv_count(text, "\"spanId\":"), 30);
}
END_TEST

START_TEST(max_batches_and_backlog)
{
    seed(1000, NULL);
    export_options o = opts();
    o.max_batches = 3;
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 300);
    ck_assert_int_eq(st.batches, 3);
    ck_assert_int_eq(st.backlog, 700);
    ck_assert_int_eq(cursor(), 300);
}
END_TEST

START_TEST(stop_before_start_sends_nothing)
{
    seed(10, NULL);
    stop_flag = 1;
    export_options o = opts();
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_str_eq(st.status, "stopped");
    ck_assert_int_eq(tsrv_requests(&srv), 0);
}
END_TEST

static void *stop_later(void *arg)
{
    spool *s2 = NULL;
    char err[200];
    /* another writer adds records while the exporter follows */
    struct timespec ts = { 0, 150000000 };
    nanosleep(&ts, NULL);
    if (spool_open(path, 0, 0, &s2, err, sizeof err) == SPOOL_OK) {
        spool_span one;
        memset(&one, 0, sizeof one);
        strcpy(one.trace_id, "7700000000000000000000000000000a");
        strcpy(one.span_id, "00000000000000ff");
        one.name = "late";
        one.end_ns = one.start_ns = 1;
        spool_batch b = { NULL, "cruddur", NULL, &one, 1, NULL, 0, NULL, 0 };
        spool_write(s2, &b, 0);
        spool_close(s2);
    }
    nanosleep(&ts, NULL);
    nanosleep(&ts, NULL);
    stop_flag = 1;
    return arg;
}

START_TEST(follow_picks_up_new_records_until_stopped)
{
    seed(10, NULL);
    pthread_t th;
    pthread_create(&th, NULL, stop_later, NULL);
    export_options o = opts();
    o.follow = 1;
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    pthread_join(th, NULL);
    ck_assert_str_eq(st.status, "stopped");
    ck_assert_int_eq(st.sent, 11);
    ck_assert_int_eq(cursor(), 11);
}
END_TEST

/* ---- the optional hooks, on a target wrapping the OTLP one ---------------- */

typedef struct hooked {
    export_target otlp;             /* the wrapped target */
    int retry_once_idx;             /* span index (0-based) answered "retry" once, -1 none */
    int retry_always_idx;           /* answered "retry" every time, -1 none */
    int refuse_idx;                 /* refused for good, -1 none */
    int again_left;                 /* EXPORT_AGAIN answers still to give */
    size_t per;                     /* next_request: records per request */
    int auth_calls, auth_forced, auth_fresh;  /* authorize */
    int sends;                      /* send hook */
    size_t send_bytes;
} hooked;

static hooked hk;

static int hk_encode(void *ctx, export_batch *b, const void *rec, const spool_origin *o)
{
    return hk.otlp.encode(hk.otlp.ctx, b, rec, o);
}

static int hk_build(void *ctx, const export_batch *b, size_t lo, size_t hi, buf_t *body)
{
    return hk.otlp.build(hk.otlp.ctx, b, lo, hi, body);
}

static void hk_classify_items(void *ctx, const httpc_response *r, export_batch *b, size_t lo,
                              size_t hi, export_answer *a)
{
    memset(a, 0, sizeof *a);
    a->wait_ms = -1;
    if (hk.again_left > 0) {
        hk.again_left--;
        a->verdict = EXPORT_AGAIN;
        return;
    }
    if (r->status == 403) {
        a->verdict = EXPORT_AUTH;
        snprintf(a->message, sizeof a->message, "expired token");
        return;
    }
    if (r->status >= 500) {
        a->verdict = EXPORT_RETRY;
        snprintf(a->message, sizeof a->message, "busy");
        return;
    }
    a->verdict = EXPORT_OK;
    for (size_t i = lo; i < hi; i++) {
        if (!export_item_live(b, i))
            continue;
        int idx = (int)b->items[i].id - 1;
        if (idx == hk.retry_once_idx) {
            ck_assert_int_eq(export_item_retry(b, i, "ThrottledException: slow"), 0);
            hk.retry_once_idx = -1;
        } else if (idx == hk.retry_always_idx) {
            ck_assert_int_eq(export_item_retry(b, i, "InternalFailure: again"), 0);
        } else if (idx == hk.refuse_idx) {
            ck_assert_int_eq(export_item_refuse(b, i, "InvalidTraceId: bad id"), 0);
        }
    }
}

static size_t hk_next_request(void *ctx, const export_batch *b, size_t lo, size_t hi)
{
    return lo + hk.per < hi ? lo + hk.per : hi;
}

static int hk_authorize(void *ctx, httpc *h, int after_auth_error, char *err, size_t size)
{
    hk.auth_calls++;
    if (after_auth_error) {
        hk.auth_forced++;
        if (!hk.auth_fresh) {
            snprintf(err, size, "no fresher credentials");
            return EXPORT_EXIT_CONFIG;
        }
    }
    return EXPORT_EXIT_OK;
}

static int hk_send(void *ctx, const void *body, size_t len, httpc_response *r)
{
    hk.sends++;
    hk.send_bytes += len;
    r->status = 200;
    return 0;
}

static void hook_target(void)
{
    memset(&hk, 0, sizeof hk);
    hk.otlp = target;
    hk.retry_once_idx = hk.retry_always_idx = hk.refuse_idx = -1;
    target.encode = hk_encode;
    target.build = hk_build;
    target.classify = NULL;
    target.classify_items = hk_classify_items;
}

START_TEST(item_retry_sends_only_that_record_again)
{
    seed(100, NULL);
    hook_target();
    hk.retry_once_idx = 41;
    export_options o = opts();
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 100);
    ck_assert_int_eq(st.retries, 1);
    ck_assert_int_eq(tsrv_requests(&srv), 2);
    ck_assert_int_eq(spans_received(), 101);
    /* the second request carries record 42 alone */
    ck_assert_int_eq(tsrv_count(srv.req_body[1], "\"spanId\":"), 1);
    ck_assert_ptr_nonnull(strstr(srv.req_body[1], "\"spanId\":\"000000000000002a\""));
    ck_assert_int_eq(cursor(), 100);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM dead_letter"), 0);
}
END_TEST

START_TEST(item_refused_is_dead_lettered_rest_done)
{
    seed(60, NULL);
    hook_target();
    hk.refuse_idx = 9;
    export_options o = opts();
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 59);
    ck_assert_int_eq(st.rejected, 1);
    ck_assert_int_eq(st.dead_lettered, 1);
    ck_assert_int_eq(tsrv_requests(&srv), 1);
    ck_assert_int_eq(sql_int("SELECT record_id FROM dead_letter WHERE reason LIKE 'InvalidTraceId%'"), 10);
    ck_assert_int_eq(cursor(), 60);
}
END_TEST

START_TEST(item_retries_run_out_into_dead_letter)
{
    seed(20, NULL);
    hook_target();
    hk.retry_always_idx = 4;
    export_options o = opts();
    o.item_retry_ms = 1;
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 19);
    ck_assert_int_eq(st.dead_lettered, 1);
    ck_assert_int_eq(tsrv_requests(&srv), 1 + EXPORT_ITEM_RETRIES);
    ck_assert_int_eq(sql_int("SELECT record_id FROM dead_letter WHERE reason LIKE 'InternalFailure%'"), 5);
    ck_assert_int_eq(cursor(), 20);
}
END_TEST

START_TEST(again_resends_at_once_without_a_retry)
{
    seed(30, NULL);
    hook_target();
    hk.again_left = 2;
    export_options o = opts();
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 30);
    ck_assert_int_eq(st.retries, 0);
    ck_assert_int_eq(tsrv_requests(&srv), 3);
    /* more than three in a row count as failures */
    seed(10, NULL);
    hk.again_left = 4;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.retries, 1);
    ck_assert_int_eq(cursor(), 40);
}
END_TEST

START_TEST(next_request_splits_each_batch)
{
    seed(100, NULL);
    hook_target();
    target.next_request = hk_next_request;
    hk.per = 7;
    export_options o = opts();
    o.batch_size = 50;
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 100);
    ck_assert_int_eq(st.requests, 2 * 8);    /* 50 = 7 * 7 + 1, twice */
    ck_assert_int_eq(tsrv_requests(&srv), 16);
    ck_assert_int_eq(tsrv_count(srv.req_body[7], "\"spanId\":"), 1);
    ck_assert_int_eq(spans_received(), 100);
}
END_TEST

START_TEST(authorize_before_each_request_and_once_after_refusal)
{
    seed(30, NULL);
    hook_target();
    target.authorize = hk_authorize;
    hk.auth_fresh = 1;
    tsrv_script(&srv, (tsrv_reply){ 403, "", "{\"message\":\"expired\"}", 0 });
    export_options o = opts();
    o.batch_size = 10;
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 30);
    ck_assert_int_eq(hk.auth_forced, 1);
    ck_assert_int_eq(tsrv_requests(&srv), 4);
    ck_assert_int_ge(hk.auth_calls, 4 + 1);
    /* refused again with nothing fresher: stop, nothing touched */
    seed(5, NULL);
    hk.auth_fresh = 0;
    tsrv_script(&srv, (tsrv_reply){ 403, "", "{\"message\":\"expired\"}", 0 });
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_CONFIG);
    ck_assert_int_eq(cursor(), 30);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM dead_letter"), 0);
}
END_TEST

START_TEST(send_hook_replaces_http)
{
    seed(25, NULL);
    hook_target();
    target.send = hk_send;
    target.classify_items = NULL;
    target.classify = hk.otlp.classify;
    export_options o = opts();
    o.batch_size = 10;
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 25);
    ck_assert_int_eq(hk.sends, 3);
    ck_assert_int_gt(hk.send_bytes, 0);
    ck_assert_int_eq(tsrv_requests(&srv), 0);
    ck_assert_int_eq(cursor(), 25);
}
END_TEST

START_TEST(parallel_requests_deliver_everything_once)
{
    seed(300, NULL);
    hook_target();
    target.next_request = hk_next_request;
    target.parallel = 4;
    hk.per = 10;
    hk.retry_once_idx = 123;
    /* one of the parallel requests fails: it goes again, alone, after the fan-out */
    tsrv_script(&srv, (tsrv_reply){ 200, "", "{}", 0 });
    tsrv_script(&srv, (tsrv_reply){ 503, "", "{\"message\":\"busy\"}", 0 });
    export_options o = opts();
    o.batch_size = 100;
    o.item_retry_ms = 1;
    export_stats st;
    ck_assert_int_eq(run(&o, &st), EXPORT_EXIT_OK);
    ck_assert_int_eq(st.sent, 300);
    ck_assert_int_eq(cursor(), 300);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM dead_letter"), 0);
    /* 30 requests, one repeated after the 503, one for the record answered "retry" */
    ck_assert_int_eq(tsrv_requests(&srv), 32);
    ck_assert_int_eq(spans_received(), 300 + 10 + 1);
    int per_span[300] = { 0 };
    for (int i = 0; i < srv.n_req; i++)
        for (int k = 0; k < 300; k++) {
            char needle[40];
            snprintf(needle, sizeof needle, "\"spanId\":\"%016x\"", k + 1);
            if (strstr(srv.req_body[i], needle) != NULL)
                per_span[k]++;
        }
    int twice = 0;
    for (int k = 0; k < 300; k++) {
        ck_assert_int_ge(per_span[k], 1);
        twice += per_span[k] > 1;
    }
    ck_assert_int_eq(twice, 10 + 1);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("export_engine");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, delivers_everything_once);
    tcase_add_test(tc, retries_then_delivers);
    tcase_add_test(tc, backoff_is_stored_and_honoured);
    tcase_add_test(tc, backoff_grows_without_retry_after);
    tcase_add_test(tc, refused_credentials_stop_everything);
    tcase_add_test(tc, named_record_is_dead_lettered);
    tcase_add_test(tc, splitting_isolates_an_unnamed_bad_record);
    tcase_add_test(tc, too_large_is_split_too);
    tcase_add_test(tc, partial_success_named);
    tcase_add_test(tc, partial_success_unnamed);
    tcase_add_test(tc, timeouts_are_retried);
    tcase_add_test(tc, unreadable_record_is_dead_lettered_unsent);
    tcase_add_test(tc, dry_run_changes_nothing);
    tcase_add_test(tc, max_batches_and_backlog);
    tcase_add_test(tc, stop_before_start_sends_nothing);
    tcase_add_test(tc, follow_picks_up_new_records_until_stopped);
    tcase_add_test(tc, item_retry_sends_only_that_record_again);
    tcase_add_test(tc, item_refused_is_dead_lettered_rest_done);
    tcase_add_test(tc, item_retries_run_out_into_dead_letter);
    tcase_add_test(tc, again_resends_at_once_without_a_retry);
    tcase_add_test(tc, next_request_splits_each_batch);
    tcase_add_test(tc, authorize_before_each_request_and_once_after_refusal);
    tcase_add_test(tc, send_hook_replaces_http);
    tcase_add_test(tc, parallel_requests_deliver_everything_once);
    suite_add_tcase(s, tc);
    return s;
}
