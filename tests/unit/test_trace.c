/* Unit tests for telemetry/trace: the span tree and its ids, sampling's
 * effect on the batch, events and the exception event, logs (threshold,
 * stderr), error reports (frames, request redaction, fingerprint), crash
 * records, bounds, and a batch the real spool accepts. */
#include "check_main.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "telemetry/trace.h"
#include "util/uuid.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID "00f067aa0ba902b7"

static rng_t rng;

static trace_request *new_collector(trace_config *cfg)
{
    trace_config c;
    if (cfg == NULL) {
        trace_config_defaults(&c);
        c.stderr_fd = -1;
        cfg = &c;
    }
    rng_seed_with(&rng, 7);
    cfg->rng = &rng;
    trace_request *tr = trace_request_new(cfg);
    ck_assert_ptr_nonnull(tr);
    return tr;
}

static json_t *parse(const char *s)
{
    json_error_t err;
    ck_assert_ptr_nonnull(s);
    json_t *j = json_loads(s, 0, &err);
    ck_assert_msg(j != NULL, "%s: %s", err.text, s);
    return j;
}

static void incoming(prop_context *c, const char *flags)
{
    char tp[64];
    snprintf(tp, sizeof tp, "00-" TID "-" PID "-%s", flags);
    ck_assert_int_eq(prop_extract(tp, "congo=t61rcWkgMzE", NULL, c), PROP_W3C);
}

START_TEST(span_tree_and_batch)
{
    trace_request *tr = new_collector(NULL);
    prop_context in;
    incoming(&in, "01");
    int64_t t0 = 1700000000000000000LL;
    trace_request_begin(tr, t0, &in);
    ck_assert(trace_request_sampled(tr));
    ck_assert_str_eq(trace_request_trace_id_hex(tr), TID);

    trace_span srv = trace_span_start(tr, TRACE_SPAN_NONE, "GET", SPOOL_KIND_SERVER, t0);
    trace_span_set_name(tr, srv, "GET /api/activities/home");
    trace_span_set_str(tr, srv, "http.request.method", "GET");
    trace_span_set_int(tr, srv, "http.response.status_code", 200);
    trace_span_set_double(tr, srv, "ratio", 1.0);
    trace_span_set_bool(tr, srv, "ok", true);
    trace_span s1 = trace_span_start(tr, srv, "home-activities-span", SPOOL_KIND_INTERNAL, t0 + 10);
    const char *ids[] = {"andrewbrown", "worf"};
    trace_span_set_str_array(tr, s1, "app.user_ids", ids, 2);
    const int64_t ns[] = {1, 2};
    trace_span_set_int_array(tr, s1, "app.ns", ns, 2);
    attrs_set_int(trace_span_attrs(tr, s1), "app.result_length", 5);
    trace_span s2 = trace_span_start(tr, s1, "SELECT activities", SPOOL_KIND_CLIENT, t0 + 20);
    trace_span_set_str(tr, s2, "db.system.name", "sqlite");
    trace_span_end(tr, s2, t0 + 30);
    trace_span_end(tr, s1, t0 + 40);
    trace_span_set_status(tr, srv, SPOOL_STATUS_OK, "ignored for OK");
    attrs_t *ea = trace_scratch_attrs(tr);
    attrs_set_str(ea, "k", "v");
    ck_assert_int_eq(trace_span_add_event(tr, srv, "cache.miss", t0 + 5, ea), 0);
    trace_request_end(tr, t0 + 50);
    /* Ended spans take no more attributes. */
    trace_span_set_str(tr, s1, "late", "x");

    spool_batch b;
    ck_assert_int_eq(trace_request_to_batch(tr, &b), 0);
    ck_assert_uint_eq(b.n_spans, 3);
    ck_assert_str_eq(b.scope_name, "cruddur");
    const spool_span *sp = b.spans;
    char h0[17], h1[17], h2[17];
    trace_span_id_hex(tr, srv, h0);
    trace_span_id_hex(tr, s1, h1);
    trace_span_id_hex(tr, s2, h2);
    ck_assert_str_eq(sp[0].span_id, h0);
    ck_assert_str_eq(sp[0].parent_span_id, PID);   /* the remote caller */
    ck_assert_str_eq(sp[1].parent_span_id, h0);
    ck_assert_str_eq(sp[2].parent_span_id, h1);
    ck_assert_str_eq(sp[2].span_id, h2);
    ck_assert(strcmp(h0, h1) != 0 && strcmp(h1, h2) != 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(sp[i].trace_id, TID);
        ck_assert_str_eq(sp[i].trace_state, "congo=t61rcWkgMzE");
        ck_assert_uint_eq(sp[i].flags, 1);
        ck_assert_uint_eq(strlen(sp[i].span_id), 16);
    }
    ck_assert_str_eq(sp[0].name, "GET /api/activities/home");
    ck_assert_int_eq(sp[0].kind, SPOOL_KIND_SERVER);
    ck_assert_int_eq(sp[1].kind, SPOOL_KIND_INTERNAL);
    ck_assert_int_eq(sp[2].kind, SPOOL_KIND_CLIENT);
    ck_assert(sp[0].start_ns == t0 && sp[0].end_ns == t0 + 50);
    ck_assert(sp[1].start_ns == t0 + 10 && sp[1].end_ns == t0 + 40);
    ck_assert(sp[2].start_ns == t0 + 20 && sp[2].end_ns == t0 + 30);
    ck_assert_int_eq(sp[0].status_code, SPOOL_STATUS_OK);
    ck_assert_ptr_null(sp[0].status_message);

    json_t *a = parse(sp[0].attributes_json);
    ck_assert_str_eq(json_string_value(json_object_get(a, "http.request.method")), "GET");
    ck_assert_int_eq(json_integer_value(json_object_get(a, "http.response.status_code")), 200);
    ck_assert(json_is_real(json_object_get(a, "ratio")));
    ck_assert(json_is_true(json_object_get(a, "ok")));
    json_decref(a);
    a = parse(sp[1].attributes_json);
    ck_assert_uint_eq(json_array_size(json_object_get(a, "app.user_ids")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(a, "app.result_length")), 5);
    ck_assert_ptr_null(json_object_get(a, "late"));
    json_decref(a);
    json_t *ev = parse(sp[0].events_json);
    ck_assert_uint_eq(json_array_size(ev), 1);
    json_t *e0 = json_array_get(ev, 0);
    ck_assert_str_eq(json_string_value(json_object_get(e0, "name")), "cache.miss");
    ck_assert(json_integer_value(json_object_get(e0, "time_ns")) == t0 + 5);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e0, "attributes"), "k")), "v");
    json_decref(ev);
    ev = parse(sp[2].events_json);
    ck_assert_uint_eq(json_array_size(ev), 0);
    json_decref(ev);

    /* The traceparent for an outgoing call from the client span. */
    char tp[PROP_TRACEPARENT_SIZE];
    trace_span_traceparent(tr, s2, tp);
    char want[64];
    snprintf(want, sizeof want, "00-" TID "-%s-01", h2);
    ck_assert_str_eq(tp, want);

    /* The next request starts clean, with a new trace when nothing came in. */
    trace_request_begin(tr, t0 + 1000000000LL, NULL);
    ck_assert(strcmp(trace_request_trace_id_hex(tr), TID) != 0);
    ck_assert(strncmp(trace_request_trace_id_hex(tr), "6553f101", 8) == 0);   /* t0 + 1 s */
    trace_span r = trace_span_start(tr, TRACE_SPAN_NONE, "root", SPOOL_KIND_SERVER, 0);
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(trace_request_to_batch(tr, &b), 0);
    ck_assert_uint_eq(b.n_spans, 1);
    ck_assert_str_eq(b.spans[0].parent_span_id, "");
    ck_assert_ptr_null(b.spans[0].trace_state);
    ck_assert_int_gt(b.spans[0].end_ns, 0);   /* ended by to_batch */
    ck_assert_uint_eq(b.n_logs, 0);
    ck_assert_uint_eq(b.n_errors, 0);
    trace_request_free(tr);
}
END_TEST

START_TEST(unsampled_keeps_logs_and_errors)
{
    trace_request *tr = new_collector(NULL);
    prop_context in;
    incoming(&in, "00");   /* the caller did not sample: parent-based says no */
    trace_request_begin(tr, 0, &in);
    ck_assert(!trace_request_sampled(tr));
    trace_span srv = trace_span_start(tr, TRACE_SPAN_NONE, "GET /x", SPOOL_KIND_SERVER, 0);
    ck_assert_int_ne(srv, TRACE_SPAN_NONE);   /* ids still exist */
    trace_span_set_str(tr, srv, "k", "v");     /* ignored */
    ck_assert_ptr_null(trace_span_attrs(tr, srv));
    ck_assert_int_eq(trace_span_add_event(tr, srv, "e", 0, NULL), 1);
    ck_assert_int_eq(trace_log(tr, srv, TRACE_SEV_INFO, "HomeActivities", NULL), 0);
    ck_assert_int_eq(trace_error(tr, srv, "error", "Boom", "it broke", 0), 0);
    char sh[17];
    trace_span_id_hex(tr, srv, sh);
    char tp[PROP_TRACEPARENT_SIZE];
    trace_span_traceparent(tr, srv, tp);
    ck_assert_str_eq(tp + 53, "00");

    spool_batch b;
    ck_assert_int_eq(trace_request_to_batch(tr, &b), 0);
    ck_assert_uint_eq(b.n_spans, 0);
    ck_assert_ptr_null(b.spans);
    ck_assert_uint_eq(b.n_logs, 1);
    ck_assert_str_eq(b.logs[0].trace_id, TID);
    ck_assert_str_eq(b.logs[0].span_id, sh);
    ck_assert_str_eq(b.logs[0].body, "HomeActivities");
    ck_assert_uint_eq(b.logs[0].flags, 0);
    ck_assert_uint_eq(b.n_errors, 1);
    ck_assert_str_eq(b.errors[0].trace_id, TID);
    ck_assert_str_eq(b.errors[0].span_id, sh);
    trace_request_free(tr);
}
END_TEST

/* A header source for error reports: name/value pairs. */
typedef struct hdrs {
    const char *const *kv;
} hdrs;

static int each_header(const void *src, trace_header_fn fn, void *arg)
{
    const hdrs *h = src;
    for (size_t i = 0; h->kv[i] != NULL; i += 2)
        if (fn(arg, h->kv[i], h->kv[i + 1]) != 0)
            return 1;
    return 0;
}

/* Not static: -rdynamic names it in the report's frames. */
__attribute__((noinline)) int failing_service(trace_request *tr, trace_span s)
{
    volatile int rc = trace_fail(tr, s, "sqlite3.OperationalError", "no such table: activities");
    return rc;   /* not a tail call: this frame stays on the stack */
}

START_TEST(exception_event_and_error_report)
{
    trace_request *tr = new_collector(NULL);
    trace_request_begin(tr, 0, NULL);
    static const char *const kv[] = {
        "user-agent", "curl/8.0", "authorization", "Bearer s3cret", "cookie", "session=abc",
        "accept", "*/*", NULL,
    };
    hdrs h = {kv};
    trace_http_info info = {
        .method = "GET", .target = "/api/activities/home?limit=5&access_token=xyz",
        .scheme = "https", .host = "api.example.com", .client_address = "192.0.2.7",
        .each_header = each_header, .header_src = &h,
    };
    trace_request_set_http(tr, &info);
    trace_request_set_route(tr, "GET /api/activities/home");
    trace_span srv = trace_span_start(tr, TRACE_SPAN_NONE, "GET /api/activities/home", SPOOL_KIND_SERVER, 0);
    for (volatile int i = 0; i < 2; i++)   /* the same place twice: the same fingerprint */
        ck_assert_int_eq(failing_service(tr, srv), 0);
    ck_assert_int_eq(trace_span_record_exception(tr, srv, "ValueError", "given", "line 1\nline 2"), 0);

    spool_batch b;
    ck_assert_int_eq(trace_request_to_batch(tr, &b), 0);
    ck_assert_uint_eq(b.n_spans, 1);
    ck_assert_int_eq(b.spans[0].status_code, SPOOL_STATUS_ERROR);
    ck_assert_str_eq(b.spans[0].status_message, "no such table: activities");
    json_t *ev = parse(b.spans[0].events_json);
    ck_assert_uint_eq(json_array_size(ev), 3);
    json_t *ex = json_object_get(json_array_get(ev, 0), "attributes");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ev, 0), "name")), "exception");
    ck_assert_str_eq(json_string_value(json_object_get(ex, "exception.type")), "sqlite3.OperationalError");
    ck_assert_str_eq(json_string_value(json_object_get(ex, "exception.message")), "no such table: activities");
    const char *st = json_string_value(json_object_get(ex, "exception.stacktrace"));
    ck_assert_ptr_nonnull(st);
    ck_assert_msg(strncmp(strstr(st, "(") ? strstr(st, "(") : "", "(failing_service+", 17) == 0,
                  "stacktrace starts in the caller: %s", st);
    ex = json_object_get(json_array_get(ev, 2), "attributes");
    ck_assert_str_eq(json_string_value(json_object_get(ex, "exception.stacktrace")), "line 1\nline 2");
    json_decref(ev);

    ck_assert_uint_eq(b.n_errors, 2);
    const spool_error *e = &b.errors[0];
    ck_assert(uuid_is_valid(e->uuid));
    ck_assert_int_eq(e->uuid[14], '4');
    ck_assert(strcmp(b.errors[0].uuid, b.errors[1].uuid) != 0);
    ck_assert_str_eq(e->level, "error");
    ck_assert_str_eq(e->class_name, "sqlite3.OperationalError");
    ck_assert_str_eq(e->message, "no such table: activities");
    ck_assert_str_eq(e->context, "GET /api/activities/home");
    ck_assert_uint_eq(strlen(e->fingerprint), 16);
    ck_assert_str_eq(b.errors[0].fingerprint, b.errors[1].fingerprint);
    ck_assert_str_eq(e->trace_id, trace_request_trace_id_hex(tr));
    char sh[17];
    trace_span_id_hex(tr, srv, sh);
    ck_assert_str_eq(e->span_id, sh);

    json_t *fr = parse(e->frames_json);
    size_t n = json_array_size(fr);
    ck_assert_uint_gt(n, 2);
    /* Outermost first: the last frame is the caller of trace_fail. */
    json_t *last = json_array_get(fr, n - 1);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(last, "filename")));
    ck_assert_msg(strncmp(json_string_value(json_object_get(last, "method")), "failing_service+", 16) == 0,
                  "%s", e->frames_json);
    json_decref(fr);

    json_t *rq = parse(e->request_json);
    ck_assert_str_eq(json_string_value(json_object_get(rq, "method")), "GET");
    ck_assert_str_eq(json_string_value(json_object_get(rq, "url")),
                     "https://api.example.com/api/activities/home?limit=5&access_token=[REDACTED]");
    ck_assert_str_eq(json_string_value(json_object_get(rq, "query_string")), "limit=5&access_token=[REDACTED]");
    ck_assert_str_eq(json_string_value(json_object_get(rq, "user_ip")), "192.0.2.7");
    json_t *hd = json_object_get(rq, "headers");
    ck_assert_str_eq(json_string_value(json_object_get(hd, "user-agent")), "curl/8.0");
    ck_assert_str_eq(json_string_value(json_object_get(hd, "authorization")), "[REDACTED]");
    ck_assert_str_eq(json_string_value(json_object_get(hd, "cookie")), "[REDACTED]");
    ck_assert_str_eq(json_string_value(json_object_get(hd, "accept")), "*/*");
    json_decref(rq);
    ck_assert_ptr_null(strstr(e->request_json, "s3cret"));
    ck_assert_ptr_null(strstr(e->request_json, "xyz"));

    /* A different class is a different group. */
    trace_error(tr, srv, "warning", "Other", "m", 0);
    trace_request_to_batch(tr, &b);
    ck_assert_str_eq(b.errors[2].level, "warning");
    ck_assert(strcmp(b.errors[2].fingerprint, b.errors[0].fingerprint) != 0);
    trace_request_free(tr);
}
END_TEST

START_TEST(logs_threshold_and_stderr)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    trace_config cfg;
    trace_config_defaults(&cfg);
    cfg.stderr_fd = fds[1];
    char *env[] = {"CRUDDUR_LOG_LEVEL=warn", NULL};
    char w[128];
    ck_assert_int_eq(trace_config_from_env(&cfg, env, w, sizeof w), 0);
    ck_assert_int_eq(cfg.log_threshold, TRACE_SEV_WARN);
    trace_request *tr = new_collector(&cfg);
    trace_request_begin(tr, 0, NULL);
    trace_span s = trace_span_start(tr, TRACE_SPAN_NONE, "GET /x", SPOOL_KIND_SERVER, 0);

    ck_assert(!trace_log_enabled(tr, TRACE_SEV_INFO));
    ck_assert_int_eq(trace_log(tr, s, TRACE_SEV_INFO, "dropped", NULL), 1);
    ck_assert_int_eq(trace_logf(tr, s, TRACE_SEV_DEBUG, "dropped %d", 1), 1);
    attrs_t *a = trace_scratch_attrs(tr);
    attrs_set_int(a, "app.count", 3);
    ck_assert_int_eq(trace_log(tr, s, TRACE_SEV_WARN, "slow query\nsecond line", a), 0);
    ck_assert_int_eq(trace_logf(tr, TRACE_SPAN_NONE, TRACE_SEV_ERROR, "code %d", 42), 0);

    spool_batch b;
    trace_request_to_batch(tr, &b);
    ck_assert_uint_eq(b.n_logs, 2);
    ck_assert_int_eq(b.logs[0].severity_number, 13);
    ck_assert_str_eq(b.logs[0].severity_text, "WARN");
    ck_assert_str_eq(b.logs[0].body, "slow query\nsecond line");
    ck_assert_str_eq(b.logs[0].attributes_json, "{\"app.count\":3}");
    ck_assert_uint_eq(b.logs[0].flags, 1);
    ck_assert_int_gt(b.logs[0].time_ns, 0);
    ck_assert_str_eq(b.logs[1].severity_text, "ERROR");
    ck_assert_str_eq(b.logs[1].body, "code 42");
    ck_assert_str_eq(b.logs[1].span_id, "");
    ck_assert_str_eq(b.logs[1].attributes_json, "{}");

    /* Two lines on "stderr", one per record, newlines escaped. */
    char out[2048] = {0};
    close(fds[1]);
    ssize_t n = read(fds[0], out, sizeof out - 1);
    close(fds[0]);
    ck_assert_int_gt(n, 0);
    char want[160];
    snprintf(want, sizeof want, "cruddur-api[%ld]: WARN slow query\\nsecond line trace_id=%s span_id=",
             (long)getpid(), trace_request_trace_id_hex(tr));
    ck_assert_msg(strstr(out, want) != NULL, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, ": ERROR code 42 trace_id="));
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 2);
    trace_request_free(tr);

    ck_assert_int_eq(trace_severity_parse("DEBUG"), 5);
    ck_assert_int_eq(trace_severity_parse("warning"), 13);
    ck_assert_int_eq(trace_severity_parse("17"), 17);
    ck_assert_int_eq(trace_severity_parse("25"), -1);
    ck_assert_int_eq(trace_severity_parse("loud"), -1);
    ck_assert_str_eq(trace_severity_text(10), "INFO");
    ck_assert_str_eq(trace_severity_text(24), "FATAL");
    char *bad[] = {"CRUDDUR_LOG_LEVEL=loud", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=12", NULL};
    trace_config_defaults(&cfg);
    ck_assert_int_eq(trace_config_from_env(&cfg, bad, w, sizeof w), 1);
    ck_assert_ptr_nonnull(strstr(w, "CRUDDUR_LOG_LEVEL"));
    ck_assert_int_eq(cfg.log_threshold, TRACE_SEV_INFO);
    ck_assert_uint_eq(cfg.attr_value_limit, 12);
}
END_TEST

START_TEST(access_log_record)
{
    trace_request *tr = new_collector(NULL);
    trace_request_begin(tr, 0, NULL);
    trace_span s = trace_span_start(tr, TRACE_SPAN_NONE, "GET /api/activities/home", SPOOL_KIND_SERVER, 0);
    trace_access a = {
        .client_address = "192.0.2.7", .method = "GET", .scheme = "http",
        .target = "/api/activities/home?password=pw&limit=2", .user_agent = "curl/8.0",
        .status = 200, .bytes = 1234, .duration_ns = 1500000,
    };
    ck_assert_int_eq(trace_access_log(tr, s, &a), 0);
    spool_batch b;
    trace_request_to_batch(tr, &b);
    ck_assert_uint_eq(b.n_logs, 1);
    ck_assert_str_eq(b.logs[0].body,
                     "192.0.2.7 GET http /api/activities/home?password=[REDACTED]&limit=2 200 1234 1.500ms");
    json_t *j = parse(b.logs[0].attributes_json);
    ck_assert_str_eq(json_string_value(json_object_get(j, "url.path")), "/api/activities/home");
    ck_assert_str_eq(json_string_value(json_object_get(j, "url.query")), "password=[REDACTED]&limit=2");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "http.response.status_code")), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "http.response.body.size")), 1234);
    ck_assert(json_real_value(json_object_get(j, "http.server.request.duration")) == 0.0015);
    ck_assert_str_eq(json_string_value(json_object_get(j, "client.address")), "192.0.2.7");
    json_decref(j);
    trace_request_free(tr);
}
END_TEST

START_TEST(crash_record_becomes_a_critical_report)
{
    trace_request *tr = new_collector(NULL);
    crash_record rec;
    memset(&rec, 0, sizeof rec);
    rec.signo = 11;
    strcpy(rec.signame, "SIGSEGV");
    rec.code = 1;
    rec.pid = 4242;
    rec.time_ns = 1700000000123456789LL;
    strcpy(rec.request, "GET /api/test/crash?token=abc");
    strcpy(rec.trace_id, TID);
    strcpy(rec.span_id, PID);
    rec.frames[0] = "/usr/lib/cgi-bin/cruddur-api(crash_handler+0x10) [0x1]";
    rec.frames[1] = "/usr/lib/cgi-bin/cruddur-api(route_crash+0x22) [0x2]";
    rec.frames[2] = "/usr/lib/cgi-bin/cruddur-api(main+0x33) [0x3]";
    rec.n_frames = 3;
    rec.complete = true;

    char uuid1[37];
    for (int round = 0; round < 2; round++) {
        trace_request_begin(tr, 0, NULL);
        ck_assert_int_eq(trace_add_crash(tr, &rec), 0);
        spool_batch b;
        ck_assert_int_eq(trace_request_to_batch(tr, &b), 0);
        ck_assert_uint_eq(b.n_errors, 1);
        const spool_error *e = &b.errors[0];
        ck_assert_str_eq(e->level, "critical");
        ck_assert_str_eq(e->class_name, "SIGSEGV");
        ck_assert_str_eq(e->message, "worker 4242 died of SIGSEGV (signal 11, code 1) at 0x0 while "
                                     "serving \"GET /api/test/crash?token=[REDACTED]\"");
        ck_assert_str_eq(e->trace_id, TID);
        ck_assert_str_eq(e->span_id, PID);
        ck_assert(e->time_ns == rec.time_ns);
        ck_assert_str_eq(e->context, "GET /api/test/crash");
        ck_assert(uuid_is_valid(e->uuid));
        if (round == 0)
            strcpy(uuid1, e->uuid);
        else
            ck_assert_str_eq(e->uuid, uuid1);   /* the same record, the same uuid */
        json_t *fr = parse(e->frames_json);
        ck_assert_uint_eq(json_array_size(fr), 3);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(fr, 0), "method")), "main+0x33");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(fr, 2), "filename")),
                         "/usr/lib/cgi-bin/cruddur-api");
        json_decref(fr);
        json_t *rq = parse(e->request_json);
        ck_assert_str_eq(json_string_value(json_object_get(rq, "url")), "/api/test/crash?token=[REDACTED]");
        json_decref(rq);
        ck_assert_uint_eq(b.n_logs, 1);
        ck_assert_int_eq(b.logs[0].severity_number, TRACE_SEV_FATAL);
        ck_assert_str_eq(b.logs[0].trace_id, TID);
        ck_assert_str_eq(b.logs[0].span_id, PID);
    }
    rec.time_ns++;
    trace_request_begin(tr, 0, NULL);
    trace_add_crash(tr, &rec);
    spool_batch b;
    trace_request_to_batch(tr, &b);
    ck_assert(strcmp(b.errors[0].uuid, uuid1) != 0);
    trace_request_free(tr);
}
END_TEST

START_TEST(bounds_and_bad_handles)
{
    trace_config cfg;
    trace_config_defaults(&cfg);
    cfg.stderr_fd = -1;
    cfg.max_spans = 3;
    cfg.max_logs = 2;
    cfg.max_errors = 1;
    trace_request *tr = new_collector(&cfg);
    for (int round = 0; round < 3; round++) {
        trace_request_begin(tr, 0, NULL);
        ck_assert_int_eq(trace_span_start(tr, TRACE_SPAN_NONE, "a", 1, 0), 0);
        ck_assert_int_eq(trace_span_start(tr, 0, "b", 1, 0), 1);
        ck_assert_int_eq(trace_span_start(tr, 1, "c", 1, 0), 2);
        ck_assert_int_eq(trace_span_start(tr, 2, "d", 1, 0), TRACE_SPAN_NONE);
        trace_log(tr, 0, TRACE_SEV_INFO, "1", NULL);
        trace_log(tr, 0, TRACE_SEV_INFO, "2", NULL);
        ck_assert_int_eq(trace_log(tr, 0, TRACE_SEV_INFO, "3", NULL), 1);
        trace_error(tr, 0, "error", "A", "a", 0);
        ck_assert_int_eq(trace_error(tr, 0, "error", "B", "b", 0), 1);
        ck_assert_uint_eq(trace_request_dropped(tr), 3);
        spool_batch b;
        trace_request_to_batch(tr, &b);
        ck_assert_uint_eq(b.n_spans, 3);
        ck_assert_uint_eq(b.n_logs, 2);
        ck_assert_uint_eq(b.n_errors, 1);
    }
    /* Every call takes a bad handle quietly. */
    trace_span_end(tr, TRACE_SPAN_NONE, 0);
    trace_span_end(tr, 99, 0);
    trace_span_set_status(tr, -5, SPOOL_STATUS_ERROR, "x");
    trace_span_set_str(tr, 99, "k", "v");
    trace_span_set_name(tr, TRACE_SPAN_NONE, "n");
    ck_assert_ptr_null(trace_span_attrs(tr, 99));
    ck_assert_int_eq(trace_span_add_event(tr, TRACE_SPAN_NONE, "e", 0, NULL), 1);
    ck_assert_int_eq(trace_span_record_exception(tr, 99, "T", "m", NULL), 1);
    char h[17] = "x";
    trace_span_id_hex(tr, TRACE_SPAN_NONE, h);
    ck_assert_str_eq(h, "");
    trace_request_free(tr);
    trace_request_free(NULL);

    trace_config_defaults(&cfg);
    ck_assert_ptr_null(trace_request_new(&cfg));   /* no rng */
}
END_TEST

START_TEST(batch_is_accepted_by_the_spool)
{
    char dir[] = "/tmp/test_trace_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[64], err[256];
    snprintf(path, sizeof path, "%s/spool.db", dir);
    spool *sp = NULL;
    int rc = spool_open(path, SPOOL_CREATE, 0, &sp, err, sizeof err);
    ck_assert_msg(rc == SPOOL_OK, "%s", err);

    trace_request *tr = new_collector(NULL);
    prop_context in;
    incoming(&in, "01");
    trace_request_begin(tr, 0, &in);
    trace_span srv = trace_span_start(tr, TRACE_SPAN_NONE, "GET /api/activities/home", SPOOL_KIND_SERVER, 0);
    trace_span_set_str(tr, srv, "http.request.method", "GET");
    trace_span_set_double(tr, srv, "d", 1.0);
    trace_span db = trace_span_start(tr, srv, "SELECT", SPOOL_KIND_CLIENT, 0);
    trace_span_end(tr, db, 0);
    trace_fail(tr, srv, "Boom", "bad \"thing\"\n");
    trace_log(tr, srv, TRACE_SEV_INFO, "HomeActivities", NULL);
    trace_request_end(tr, 0);
    spool_batch b;
    ck_assert_int_eq(trace_request_to_batch(tr, &b), 0);
    rc = spool_write(sp, &b, 0);
    ck_assert_msg(rc == SPOOL_OK, "%s: %s", spool_strstatus(rc), spool_errmsg(sp));
    spool_close(sp);
    trace_request_free(tr);
    unlink(path);
    char side[80];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    rmdir(dir);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, span_tree_and_batch);
    tcase_add_test(tc, unsampled_keeps_logs_and_errors);
    tcase_add_test(tc, exception_event_and_error_report);
    tcase_add_test(tc, logs_threshold_and_stderr);
    tcase_add_test(tc, access_log_record);
    tcase_add_test(tc, crash_record_becomes_a_critical_report);
    tcase_add_test(tc, bounds_and_bad_handles);
    tcase_add_test(tc, batch_is_accepted_by_the_spool);
    suite_add_tcase(s, tc);
    return s;
}
