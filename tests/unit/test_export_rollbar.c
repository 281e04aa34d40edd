/* Unit tests for rollbar: configuration from the environment, the item a
 * report becomes (trace or message body, uuid, request, server, custom with
 * the trace id), cutting oversized items down, and the item API's answers
 * (rate-limit headers included). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "export/rollbar.h"

static rollbar_config cfg;

static void setup(void)
{
    setenv("ROLLBAR_ACCESS_TOKEN", "tok123", 1);
    setenv("ROLLBAR_ENDPOINT", "http://127.0.0.1:9/", 1);
    unsetenv("ROLLBAR_ENVIRONMENT");
    unsetenv("ROLLBAR_CODE_VERSION");
    setenv("ROLLBAR_ROOT", "/srv/cruddur", 1);
    unsetenv("ROLLBAR_MAX_PAYLOAD_BYTES");
    char err[200];
    ck_assert_int_eq(rollbar_config_from_env(&cfg, err, sizeof err), 0);
}

static void teardown(void)
{
    rollbar_config_free(&cfg);
}

static spool_error report(void)
{
    spool_error e;
    memset(&e, 0, sizeof e);
    strcpy(e.uuid, "0f8fad5b-d9cb-469f-a165-70867728950e");
    e.time_ns = 1700000000123456789;
    e.level = "error";
    e.class_name = "AppDbBusy";
    e.message = "database is locked";
    e.frames_json = "[{\"filename\":\"/srv/cruddur/src/app/db.c\",\"lineno\":42,\"method\":\"app_db_exec\"},"
                    "{\"filename\":\"./cruddur-api\",\"method\":\"main\"}]";
    e.request_json = "{\"method\":\"GET\",\"url\":\"http://x/api/activities/home\","
                     "\"headers\":{\"Authorization\":\"[REDACTED]\"},\"user_ip\":\"10.0.0.7\"}";
    e.context = "GET /api/activities/home";
    e.fingerprint = "0123456789abcdef";
    e.custom_json = "{\"route\":\"/api/activities/home\"}";
    strcpy(e.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    strcpy(e.span_id, "00f067aa0ba902b7");
    return e;
}

static const char *RES = "{\"service.name\":\"cruddur-api\",\"service.version\":\"0.1.0\","
                         "\"host.name\":\"web1\",\"process.pid\":4242}";

static json_t *item(const spool_error *e, const char *res)
{
    buf_t b = BUF_INIT;
    const char *why;
    ck_assert_int_eq(rollbar_item(&b, &cfg, e, res, &why), 0);
    json_error_t err;
    json_t *j = json_loads(b.data, 0, &err);
    ck_assert_msg(j != NULL, "not JSON: %s", err.text);
    ck_assert_uint_le(b.len, cfg.max_payload);
    buf_free(&b);
    return j;
}

static const char *sget(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

START_TEST(config_from_env)
{
    ck_assert_str_eq(cfg.url, "http://127.0.0.1:9/api/1/item/");
    ck_assert_str_eq(cfg.environment, "production");
    ck_assert_str_eq(cfg.root, "/srv/cruddur");
    ck_assert_ptr_null(cfg.code_version);
    ck_assert_uint_eq(cfg.max_payload, ROLLBAR_MAX_PAYLOAD);
    ck_assert_str_eq(expcfg_headers_get(&cfg.headers, "X-Rollbar-Access-Token"), "tok123");
    ck_assert_str_eq(expcfg_headers_get(&cfg.headers, "Content-Type"), "application/json");
    rollbar_config c2;
    char err[200];
    unsetenv("ROLLBAR_ACCESS_TOKEN");
    ck_assert_int_eq(rollbar_config_from_env(&c2, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "ROLLBAR_ACCESS_TOKEN"));
    setenv("ROLLBAR_ACCESS_TOKEN", "bad token", 1);
    ck_assert_int_eq(rollbar_config_from_env(&c2, err, sizeof err), -1);
    setenv("ROLLBAR_ACCESS_TOKEN", "t", 1);
    setenv("ROLLBAR_ENDPOINT", "ftp://x", 1);
    ck_assert_int_eq(rollbar_config_from_env(&c2, err, sizeof err), -1);
    unsetenv("ROLLBAR_ENDPOINT");
    setenv("ROLLBAR_MAX_PAYLOAD_BYTES", "12", 1);
    ck_assert_int_eq(rollbar_config_from_env(&c2, err, sizeof err), -1);
    unsetenv("ROLLBAR_MAX_PAYLOAD_BYTES");
    setenv("ROLLBAR_ENVIRONMENT", "staging", 1);
    ck_assert_int_eq(rollbar_config_from_env(&c2, err, sizeof err), 0);
    ck_assert_str_eq(c2.url, "https://api.rollbar.com/api/1/item/");
    ck_assert_str_eq(c2.environment, "staging");
    rollbar_config_free(&c2);
}
END_TEST

START_TEST(item_with_trace)
{
    spool_error e = report();
    json_t *j = item(&e, RES);
    json_t *d = json_object_get(j, "data");
    ck_assert_ptr_null(json_object_get(j, "access_token"));   /* the token travels in the header only */
    ck_assert_str_eq(sget(d, "environment"), "production");
    ck_assert_str_eq(sget(d, "level"), "error");
    ck_assert_int_eq(json_integer_value(json_object_get(d, "timestamp")), 1700000000);
    ck_assert_str_eq(sget(d, "uuid"), "0f8fad5b-d9cb-469f-a165-70867728950e");
    ck_assert_str_eq(sget(d, "platform"), "linux");
    ck_assert_str_eq(sget(d, "language"), "c");
    ck_assert_str_eq(sget(d, "framework"), "fastcgi");
    ck_assert_str_eq(sget(d, "context"), "GET /api/activities/home");
    ck_assert_str_eq(sget(d, "fingerprint"), "0123456789abcdef");
    ck_assert_str_eq(sget(d, "code_version"), "0.1.0");
    json_t *tr = json_object_get(json_object_get(d, "body"), "trace");
    ck_assert_ptr_nonnull(tr);
    ck_assert_ptr_null(json_object_get(json_object_get(d, "body"), "message"));
    json_t *fr = json_object_get(tr, "frames");
    ck_assert_uint_eq(json_array_size(fr), 2);
    ck_assert_str_eq(sget(json_array_get(fr, 0), "filename"), "/srv/cruddur/src/app/db.c");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(fr, 0), "lineno")), 42);
    ck_assert_str_eq(sget(json_array_get(fr, 1), "method"), "main");
    ck_assert_str_eq(sget(json_object_get(tr, "exception"), "class"), "AppDbBusy");
    ck_assert_str_eq(sget(json_object_get(tr, "exception"), "message"), "database is locked");
    json_t *req = json_object_get(d, "request");
    ck_assert_str_eq(sget(req, "method"), "GET");
    ck_assert_str_eq(sget(json_object_get(req, "headers"), "Authorization"), "[REDACTED]");
    json_t *srv = json_object_get(d, "server");
    ck_assert_str_eq(sget(srv, "host"), "web1");
    ck_assert_str_eq(sget(srv, "root"), "/srv/cruddur");
    ck_assert_str_eq(sget(srv, "code_version"), "0.1.0");
    ck_assert_int_eq(json_integer_value(json_object_get(srv, "pid")), 4242);
    json_t *cu = json_object_get(d, "custom");
    ck_assert_str_eq(sget(cu, "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
    ck_assert_str_eq(sget(cu, "span_id"), "00f067aa0ba902b7");
    ck_assert_str_eq(sget(cu, "route"), "/api/activities/home");
    ck_assert_str_eq(sget(cu, "service.name"), "cruddur-api");
    ck_assert_str_eq(sget(json_object_get(d, "notifier"), "name"), "cruddur-export");
    json_decref(j);
}
END_TEST

START_TEST(item_with_message)
{
    spool_error e = report();
    e.frames_json = "[]";
    e.level = "warning";
    e.request_json = NULL;
    e.custom_json = NULL;
    e.fingerprint = NULL;
    e.trace_id[0] = '\0';
    e.span_id[0] = '\0';
    e.message = "bad \xff byte";
    json_t *j = item(&e, NULL);
    json_t *d = json_object_get(j, "data");
    ck_assert_ptr_null(json_object_get(json_object_get(d, "body"), "trace"));
    ck_assert_str_eq(sget(json_object_get(json_object_get(d, "body"), "message"), "body"),
                     "AppDbBusy: bad \xEF\xBF\xBD byte");
    ck_assert_str_eq(sget(d, "level"), "warning");
    ck_assert_ptr_null(json_object_get(d, "request"));
    ck_assert_ptr_null(json_object_get(d, "fingerprint"));
    ck_assert_ptr_null(json_object_get(d, "code_version"));
    ck_assert_uint_eq(json_object_size(json_object_get(d, "custom")), 0);
    json_decref(j);
}
END_TEST

START_TEST(oversized_items_are_cut)
{
    rollbar_config_free(&cfg);
    setenv("ROLLBAR_MAX_PAYLOAD_BYTES", "8192", 1);
    char err[200];
    ck_assert_int_eq(rollbar_config_from_env(&cfg, err, sizeof err), 0);
    spool_error e = report();
    /* 200 frames and a 20 kB message */
    buf_t fr = BUF_INIT;
    buf_putc(&fr, '[');
    for (int i = 0; i < 200; i++)
        buf_printf(&fr, "%s{\"filename\":\"f%03d.c\",\"lineno\":%d,\"method\":\"m\"}", i ? "," : "", i, i);
    buf_putc(&fr, ']');
    e.frames_json = fr.data;
    static char big[20001];
    memset(big, 'x', 20000);
    e.message = big;
    json_t *j = item(&e, RES);
    json_t *d = json_object_get(j, "data");
    json_t *frames = json_object_get(json_object_get(json_object_get(d, "body"), "trace"), "frames");
    ck_assert_uint_eq(json_array_size(frames), 20);
    ck_assert_str_eq(sget(json_array_get(frames, 0), "filename"), "f000.c");
    ck_assert_str_eq(sget(json_array_get(frames, 9), "filename"), "f009.c");
    ck_assert_str_eq(sget(json_array_get(frames, 10), "filename"), "f190.c");
    ck_assert_str_eq(sget(json_array_get(frames, 19), "filename"), "f199.c");
    const char *m = sget(json_object_get(json_object_get(json_object_get(d, "body"), "trace"), "exception"),
                         "message");
    ck_assert_uint_eq(strlen(m), 1024);
    ck_assert_str_eq(sget(d, "uuid"), "0f8fad5b-d9cb-469f-a165-70867728950e");
    json_decref(j);
    buf_free(&fr);
}
END_TEST

static void answer(long status, const char *body, int64_t remaining, int64_t remaining_s,
                   int64_t retry_after, export_answer *a)
{
    httpc_response r;
    httpc_response_init(&r);
    r.status = status;
    buf_puts(&r.body, body);
    r.rate_remaining = remaining;
    r.rate_remaining_s = remaining_s;
    r.retry_after_ms = retry_after;
    rollbar_classify(&r, a);
    httpc_response_free(&r);
}

START_TEST(answers)
{
    export_answer a;
    answer(200, "{\"err\":0,\"result\":{\"id\":null,\"uuid\":\"x\"}}", 10, 30, -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_OK);
    ck_assert_int_eq(a.wait_ms, 0);
    answer(200, "{\"err\":0}", 0, 30, -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_OK);
    ck_assert_int_eq(a.wait_ms, 30000);   /* quota used up: pause until the window ends */
    answer(429, "{\"err\":1,\"message\":\"rate limit\"}", 0, 12, -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_RETRY);
    ck_assert_int_eq(a.wait_ms, 12000);
    ck_assert_str_eq(a.message, "rate limit");
    answer(429, "", -1, -1, 5000, &a);
    ck_assert_int_eq(a.wait_ms, 5000);
    answer(422, "{\"err\":1,\"message\":\"Invalid format. data.body: required\"}", -1, -1, -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_REJECT);
    ck_assert_str_eq(a.message, "Invalid format. data.body: required");
    answer(400, "{\"err\":1,\"message\":\"invalid JSON\"}", -1, -1, -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_REJECT);
    answer(413, "", -1, -1, -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_REJECT);
    ck_assert_str_eq(a.message, "HTTP 413");
    answer(403, "{\"err\":1,\"message\":\"invalid access token\"}", -1, -1, -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_AUTH);
    answer(401, "", -1, -1, -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_AUTH);
    answer(503, "", -1, -1, 2000, &a);
    ck_assert_int_eq(a.verdict, EXPORT_RETRY);
    ck_assert_int_eq(a.wait_ms, 2000);
    answer(500, "", -1, -1, -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_RETRY);
    answer(404, "", -1, -1, -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_CONFIG);
}
END_TEST

START_TEST(target_sends_one_item_a_request)
{
    export_target t;
    memset(&t, 0, sizeof t);
    rollbar_target_init(&t, &cfg);
    ck_assert_int_eq(t.stream, SPOOL_STREAM_ERROR);
    ck_assert_uint_eq(t.per_request, 1);
    ck_assert_int_eq(t.gzip, 0);
    ck_assert_str_eq(t.url, "http://127.0.0.1:9/api/1/item/");
    export_batch b;
    export_batch_init(&b, 10, 0);
    spool_error e = report();
    spool_origin o = { 5, 1, RES, NULL, NULL };
    ck_assert_int_eq(t.encode(t.ctx, &b, &e, &o), 0);
    ck_assert_uint_eq(b.n, 1);
    ck_assert_str_eq(b.items[0].key, "0f8fad5b-d9cb-469f-a165-70867728950e");
    buf_t body = BUF_INIT;
    ck_assert_int_eq(t.build(t.ctx, &b, 0, 1, &body), 0);
    ck_assert_uint_eq(body.len, b.items[0].len);
    ck_assert_ptr_nonnull(strstr(body.data, "\"uuid\":\"0f8fad5b-d9cb-469f-a165-70867728950e\""));
    buf_free(&body);
    export_batch_free(&b);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("export_rollbar");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, config_from_env);
    tcase_add_test(tc, item_with_trace);
    tcase_add_test(tc, item_with_message);
    tcase_add_test(tc, oversized_items_are_cut);
    tcase_add_test(tc, answers);
    tcase_add_test(tc, target_sends_one_item_a_request);
    suite_add_tcase(s, tc);
    return s;
}
