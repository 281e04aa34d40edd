/* Unit tests for otlp: the spool JSON to OTLP/JSON translation (AnyValue
 * types, dropped nulls, ids, 64-bit integers as strings, events, links,
 * status), request grouping by resource and scope, and the classification
 * of collector answers (partial success, Status bodies, retryable codes). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "export/otlp.h"

static char *attrs(const char *json, uint32_t *dropped, int *rc)
{
    buf_t b = BUF_INIT;
    *rc = otlp_attributes(&b, json, dropped);
    return buf_steal(&b);
}

START_TEST(attributes_every_type)
{
    uint32_t dropped = 0;
    int rc;
    char *s = attrs("{\"s\":\"x\\\"y\",\"i\":-42,\"d\":0.5,\"e\":1e-9,\"t\":true,\"f\":false,"
                    "\"a\":[\"p\",\"q\"],\"n\":[1,2],\"z\":null}", &dropped, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(s,
        "[{\"key\":\"s\",\"value\":{\"stringValue\":\"x\\\"y\"}},"
        "{\"key\":\"i\",\"value\":{\"intValue\":\"-42\"}},"
        "{\"key\":\"d\",\"value\":{\"doubleValue\":0.5}},"
        "{\"key\":\"e\",\"value\":{\"doubleValue\":1e-9}},"
        "{\"key\":\"t\",\"value\":{\"boolValue\":true}},"
        "{\"key\":\"f\",\"value\":{\"boolValue\":false}},"
        "{\"key\":\"a\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"p\"},{\"stringValue\":\"q\"}]}}},"
        "{\"key\":\"n\",\"value\":{\"arrayValue\":{\"values\":[{\"intValue\":\"1\"},{\"intValue\":\"2\"}]}}}]");
    ck_assert_uint_eq(dropped, 1);
    free(s);
}
END_TEST

START_TEST(attributes_edges)
{
    uint32_t dropped = 0;
    int rc;
    char *s = attrs("{}", &dropped, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(s, "[]");
    free(s);
    /* int64 limits stay integers, beyond them doubles */
    s = attrs("{\"max\":9223372036854775807,\"min\":-9223372036854775808,\"big\":9223372036854775808}",
              &dropped, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(s, "[{\"key\":\"max\",\"value\":{\"intValue\":\"9223372036854775807\"}},"
                        "{\"key\":\"min\",\"value\":{\"intValue\":\"-9223372036854775808\"}},"
                        "{\"key\":\"big\",\"value\":{\"doubleValue\":9223372036854775808}}]");
    free(s);
    /* nested objects become kvlistValue, empty arrays an empty arrayValue */
    s = attrs(" { \"o\" : { \"k\" : [ ] , \"n\" : null } } ", &dropped, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(s, "[{\"key\":\"o\",\"value\":{\"kvlistValue\":{\"values\":"
                        "[{\"key\":\"k\",\"value\":{\"arrayValue\":{}}}]}}}]");
    free(s);
    /* bytes that are not UTF-8 become U+FFFD */
    s = attrs("{\"u\":\"a\xff" "b\"}", &dropped, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(s, "[{\"key\":\"u\",\"value\":{\"stringValue\":\"a\xEF\xBF\xBD" "b\"}}]");
    free(s);
}
END_TEST

START_TEST(attributes_refuse_what_is_not_an_object)
{
    static const char *const bad[] = {
        "[]", "\"x\"", "{", "{\"a\":}", "{\"a\":1,}", "{\"a\":01}", "{\"a\":tru}", "{\"a\":1} x",
        "{\"a\":\"\\q\"}", "{\"a\":\"\x01\"}", "{\"a\":1.}", "{\"a\":-}", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buf_t b = BUF_INIT;
        buf_puts(&b, "keep");
        ck_assert_msg(otlp_attributes(&b, bad[i], NULL) == 1, "accepted %s", bad[i]);
        ck_assert_str_eq(b.data, "keep");
        buf_free(&b);
    }
    /* too deep */
    char deep[200] = "{\"a\":";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    buf_t b = BUF_INIT;
    ck_assert_int_eq(otlp_attributes(&b, deep, NULL), 1);
    buf_free(&b);
}
END_TEST

START_TEST(any_values)
{
    buf_t b = BUF_INIT;
    ck_assert_int_eq(otlp_any_value(&b, "null"), 0);
    ck_assert_str_eq(b.data, "{}");
    buf_reset(&b);
    ck_assert_int_eq(otlp_any_value(&b, "[1.5,\"x\",[true]]"), 0);
    ck_assert_str_eq(b.data, "{\"arrayValue\":{\"values\":[{\"doubleValue\":1.5},{\"stringValue\":\"x\"},"
                             "{\"arrayValue\":{\"values\":[{\"boolValue\":true}]}}]}}");
    buf_reset(&b);
    ck_assert_int_eq(otlp_any_value(&b, "1 2"), 1);
    buf_free(&b);
}
END_TEST

static spool_span base_span(void)
{
    spool_span sp;
    memset(&sp, 0, sizeof sp);
    strcpy(sp.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    strcpy(sp.span_id, "00f067aa0ba902b7");
    sp.name = "GET /api/activities/home";
    sp.kind = 2;
    sp.start_ns = 1700000000123456789;
    sp.end_ns = 1700000000223456789;
    sp.attributes_json = "{}";
    sp.events_json = "[]";
    sp.links_json = "[]";
    sp.flags = 1;
    return sp;
}

START_TEST(span_minimal)
{
    spool_span sp = base_span();
    buf_t b = BUF_INIT;
    const char *why;
    ck_assert_int_eq(otlp_span(&b, &sp, &why), 0);
    ck_assert_str_eq(b.data, "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba902b7\","
                             "\"flags\":1,\"name\":\"GET /api/activities/home\",\"kind\":2,"
                             "\"startTimeUnixNano\":\"1700000000123456789\","
                             "\"endTimeUnixNano\":\"1700000000223456789\"}");
    buf_free(&b);
}
END_TEST

START_TEST(span_full)
{
    spool_span sp = base_span();
    strcpy(sp.parent_span_id, "1111111111111111");
    sp.trace_state = "vendor=x";
    sp.kind = 3;
    sp.status_code = 2;
    sp.status_message = "db \"busy\"";
    sp.attributes_json = "{\"db.system.name\":\"sqlite\",\"gone\":null}";
    sp.events_json = "[{\"name\":\"exception\",\"time_ns\":1700000000200000000,"
                     "\"attributes\":{\"exception.type\":\"AppDbBusy\"}}]";
    sp.links_json = "[{\"trace_id\":\"5bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"2222222222222222\","
                    "\"trace_state\":\"\",\"attributes\":{}}]";
    buf_t b = BUF_INIT;
    const char *why;
    ck_assert_int_eq(otlp_span(&b, &sp, &why), 0);
    ck_assert_str_eq(b.data,
        "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba902b7\","
        "\"traceState\":\"vendor=x\",\"parentSpanId\":\"1111111111111111\",\"flags\":1,"
        "\"name\":\"GET /api/activities/home\",\"kind\":3,"
        "\"startTimeUnixNano\":\"1700000000123456789\",\"endTimeUnixNano\":\"1700000000223456789\","
        "\"attributes\":[{\"key\":\"db.system.name\",\"value\":{\"stringValue\":\"sqlite\"}}],"
        "\"droppedAttributesCount\":1,"
        "\"events\":[{\"timeUnixNano\":\"1700000000200000000\",\"name\":\"exception\","
        "\"attributes\":[{\"key\":\"exception.type\",\"value\":{\"stringValue\":\"AppDbBusy\"}}]}],"
        "\"links\":[{\"traceId\":\"5bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"2222222222222222\","
        "\"traceState\":\"\"}],"
        "\"status\":{\"message\":\"db \\\"busy\\\"\",\"code\":2}}");
    /* and it is JSON */
    json_t *j = json_loads(b.data, 0, NULL);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
    buf_free(&b);
}
END_TEST

START_TEST(span_refusals)
{
    const char *why;
    buf_t b = BUF_INIT;
    spool_span sp = base_span();
    strcpy(sp.trace_id, "00000000000000000000000000000000");
    ck_assert_int_eq(otlp_span(&b, &sp, &why), 1);
    ck_assert_str_eq(why, "invalid trace id");
    sp = base_span();
    strcpy(sp.span_id, "00f067aa0ba902");
    ck_assert_int_eq(otlp_span(&b, &sp, &why), 1);
    ck_assert_str_eq(why, "invalid span id");
    sp = base_span();
    sp.events_json = "[1]";
    ck_assert_int_eq(otlp_span(&b, &sp, &why), 1);
    ck_assert_str_eq(why, "events are not readable");
    sp = base_span();
    sp.events_json = "[{\"name\":\"e\",\"time_ns\":-5}]";
    ck_assert_int_eq(otlp_span(&b, &sp, &why), 1);
    sp = base_span();
    sp.links_json = "[{\"trace_id\":\"xyz\",\"span_id\":\"2222222222222222\"}]";
    ck_assert_int_eq(otlp_span(&b, &sp, &why), 1);
    ck_assert_str_eq(why, "links are not readable");
    sp = base_span();
    sp.attributes_json = "[]";
    ck_assert_int_eq(otlp_span(&b, &sp, &why), 1);
    ck_assert_str_eq(why, "attributes are not a JSON object");
    sp = base_span();
    sp.kind = 9;
    ck_assert_int_eq(otlp_span(&b, &sp, &why), 1);
    /* nothing left behind by the refusals */
    ck_assert_uint_eq(b.len, 0);
    buf_free(&b);
}
END_TEST

START_TEST(log_records)
{
    spool_log lg;
    memset(&lg, 0, sizeof lg);
    lg.time_ns = 1700000000000000001;
    lg.observed_ns = 1700000000000000002;
    lg.severity_number = 9;
    lg.severity_text = "INFO";
    lg.body = "GET /api/activities/home 200";
    lg.attributes_json = "{\"http.response.status_code\":200}";
    strcpy(lg.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    strcpy(lg.span_id, "00f067aa0ba902b7");
    lg.flags = 1;
    buf_t b = BUF_INIT;
    const char *why;
    ck_assert_int_eq(otlp_log(&b, &lg, &why), 0);
    ck_assert_str_eq(b.data,
        "{\"observedTimeUnixNano\":\"1700000000000000002\",\"timeUnixNano\":\"1700000000000000001\","
        "\"severityNumber\":9,\"severityText\":\"INFO\","
        "\"body\":{\"stringValue\":\"GET /api/activities/home 200\"},"
        "\"attributes\":[{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"200\"}}],"
        "\"flags\":1,\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba902b7\"}");
    buf_reset(&b);
    /* outside a trace: no ids, no flags */
    lg.trace_id[0] = lg.span_id[0] = '\0';
    lg.flags = 0;
    lg.body = NULL;
    lg.attributes_json = "{}";
    lg.severity_text = NULL;
    ck_assert_int_eq(otlp_log(&b, &lg, &why), 0);
    ck_assert_str_eq(b.data, "{\"observedTimeUnixNano\":\"1700000000000000002\","
                             "\"timeUnixNano\":\"1700000000000000001\",\"severityNumber\":9}");
    buf_free(&b);
}
END_TEST

/* Two resources, two scopes, interleaved: one ResourceSpans per resource in
 * the order they appear, one ScopeSpans per scope, records in id order. */
START_TEST(requests_group_by_resource_and_scope)
{
    export_target t;
    memset(&t, 0, sizeof t);
    otlp_target_init(&t, OTLP_TRACES);
    ck_assert_int_eq(t.stream, SPOOL_STREAM_SPAN);
    export_batch b;
    export_batch_init(&b, 100, 0);
    spool_origin o[4] = {
        { 1, 7, "{\"service.name\":\"a\"}", "cruddur", "1" },
        { 2, 8, "{\"service.name\":\"b\"}", "cruddur", "1" },
        { 3, 7, "{\"service.name\":\"a\"}", "other", NULL },
        { 4, 7, "{\"service.name\":\"a\"}", "cruddur", "1" },
    };
    for (int i = 0; i < 4; i++) {
        spool_span sp = base_span();
        snprintf(sp.span_id, sizeof sp.span_id, "000000000000000%d", i + 1);
        sp.name = "n";
        ck_assert_int_eq(t.encode(t.ctx, &b, &sp, &o[i]), 0);
    }
    ck_assert_uint_eq(b.n, 4);
    ck_assert_uint_eq(b.n_groups, 3);
    ck_assert_str_eq(b.items[2].key, "0000000000000003");
    buf_t body = BUF_INIT;
    ck_assert_int_eq(t.build(t.ctx, &b, 0, 4, &body), 0);
    json_error_t err;
    json_t *j = json_loads(body.data, 0, &err);
    ck_assert_msg(j != NULL, "not JSON: %s", err.text);
    json_t *rs = json_object_get(j, "resourceSpans");
    ck_assert_uint_eq(json_array_size(rs), 2);
    json_t *r0 = json_array_get(rs, 0);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(
        json_object_get(r0, "resource"), "attributes"), 0), "value"), "stringValue")), "a");
    json_t *ss = json_object_get(r0, "scopeSpans");
    ck_assert_uint_eq(json_array_size(ss), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(ss, 0), "scope"), "name")),
                     "cruddur");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(ss, 0), "scope"), "version")),
                     "1");
    json_t *spans = json_object_get(json_array_get(ss, 0), "spans");
    ck_assert_uint_eq(json_array_size(spans), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(spans, 0), "spanId")), "0000000000000001");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(spans, 1), "spanId")), "0000000000000004");
    json_t *sc1 = json_object_get(json_array_get(ss, 1), "scope");
    ck_assert_str_eq(json_string_value(json_object_get(sc1, "name")), "other");
    ck_assert_ptr_null(json_object_get(sc1, "version"));
    ck_assert_uint_eq(json_array_size(json_object_get(json_array_get(json_object_get(
        json_array_get(rs, 1), "scopeSpans"), 0), "spans")), 1);
    json_decref(j);
    /* a skipped record is left out, and a sub-range builds alone */
    b.items[0].skip = 1;
    buf_reset(&body);
    ck_assert_int_eq(t.build(t.ctx, &b, 0, 2, &body), 0);
    j = json_loads(body.data, 0, &err);
    ck_assert_ptr_nonnull(j);
    rs = json_object_get(j, "resourceSpans");
    ck_assert_uint_eq(json_array_size(rs), 1);
    ck_assert_ptr_nonnull(strstr(body.data, "\"service.name\",\"value\":{\"stringValue\":\"b\"}"));
    json_decref(j);
    buf_free(&body);
    export_batch_free(&b);
}
END_TEST

static void classify(long status, const char *ctype, const char *body, int64_t retry_after,
                     export_answer *a)
{
    httpc_response r;
    httpc_response_init(&r);
    r.status = status;
    snprintf(r.content_type, sizeof r.content_type, "%s", ctype);
    buf_puts(&r.body, body);
    r.retry_after_ms = retry_after;
    otlp_classify(OTLP_TRACES, &r, 10, a);
    httpc_response_free(&r);
}

START_TEST(answers)
{
    export_answer a;
    classify(200, "application/json", "{}", -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_OK);
    ck_assert_int_eq(a.rejected, 0);
    classify(200, "application/json; charset=utf-8",
             "{\"partialSuccess\":{\"rejectedSpans\":\"3\",\"errorMessage\":\"dropped a, b\"}}", -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_OK);
    ck_assert_int_eq(a.rejected, 3);
    ck_assert_str_eq(a.message, "dropped a, b");
    classify(200, "application/json", "{\"partialSuccess\":{\"rejectedSpans\":2}}", -1, &a);
    ck_assert_int_eq(a.rejected, 2);
    classify(200, "application/x-protobuf", "\x0a\x02", -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_OK);
    ck_assert_int_eq(a.rejected, 0);
    classify(400, "application/json", "{\"code\":3,\"message\":\"invalid span\"}", -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_REJECT);
    ck_assert_str_eq(a.message, "invalid span");
    classify(413, "text/plain", "too big\n", -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_REJECT);
    ck_assert_str_eq(a.message, "too big ");
    classify(401, "application/json", "{\"message\":\"invalid API key\"}", -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_AUTH);
    classify(403, "", "", -1, &a);
    ck_assert_int_eq(a.verdict, EXPORT_AUTH);
    classify(429, "application/json", "{}", 7000, &a);
    ck_assert_int_eq(a.verdict, EXPORT_RETRY);
    ck_assert_int_eq(a.wait_ms, 7000);
    static const long retry[] = { 408, 500, 502, 503, 504 };
    for (size_t i = 0; i < 5; i++) {
        classify(retry[i], "", "", -1, &a);
        ck_assert_int_eq(a.verdict, EXPORT_RETRY);
        ck_assert_int_eq(a.wait_ms, -1);
    }
    static const long config[] = { 301, 404, 405, 415 };
    for (size_t i = 0; i < 4; i++) {
        classify(config[i], "", "", -1, &a);
        ck_assert_int_eq(a.verdict, EXPORT_CONFIG);
    }
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("export_otlp");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, attributes_every_type);
    tcase_add_test(tc, attributes_edges);
    tcase_add_test(tc, attributes_refuse_what_is_not_an_object);
    tcase_add_test(tc, any_values);
    tcase_add_test(tc, span_minimal);
    tcase_add_test(tc, span_full);
    tcase_add_test(tc, span_refusals);
    tcase_add_test(tc, log_records);
    tcase_add_test(tc, requests_group_by_resource_and_scope);
    tcase_add_test(tc, answers);
    suite_add_tcase(s, tc);
    return s;
}
