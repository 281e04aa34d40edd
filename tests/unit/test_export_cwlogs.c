/* Unit tests for cwlogs: configuration from the environment, stream names,
 * the event a log record becomes (read back with jansson), the age rules,
 * truncation of oversized messages, the order and the cutting of requests
 * (10,000 events, 1,048,576 bytes with 26 per event, one stream and day,
 * 24 hours), rejectedLogEventsInfo mapped back through the sort, the
 * verdicts on error answers, creating a missing group and stream against
 * a scripted server, and one run of the engine with the target. */
#include <curl/curl.h>
#include <ftw.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "export/cwlogs.h"
#include "export_testsrv.h"
#include "util/tstamp.h"
#include "util/utf8.h"

#define D0 1795478400000LL                      /* 2026-11-24T00:00:00Z */
#define NOW (D0 + 12 * 3600 * 1000LL)
#define DAY (24 * 3600 * 1000LL)
#define RES_A "{\"service.name\":\"cruddur-api\",\"host.name\":\"web-1\",\"process.pid\":11}"
#define RES_A2 "{\"service.name\":\"cruddur-api\",\"host.name\":\"web-1\",\"process.pid\":12}"
#define RES_B "{\"service.name\":\"cruddur-api\",\"host.name\":\"web:2*\",\"process.pid\":13}"

static cwlogs_config cfg;
static int have_cfg;
static export_target tgt;
static export_batch bat;

static void clear_env(void)
{
    static const char *const names[] = {
        "CRUDDUR_CW_LOG_GROUP", "CRUDDUR_CW_LOG_STREAM", "CRUDDUR_CW_RETENTION_DAYS",
        "CRUDDUR_CW_MAX_EVENT_BYTES", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", NULL,
    };
    for (int i = 0; names[i]; i++)
        unsetenv(names[i]);
    setenv("AWS_REGION", "us-west-2", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "http://127.0.0.1:9", 1);
}

/* (Re)reads the configuration from the environment as it is now. */
static void configure(void)
{
    char err[300];
    if (have_cfg)
        cwlogs_config_free(&cfg);
    int rc = cwlogs_config_from_env(&cfg, NULL, err, sizeof err);
    ck_assert_msg(rc == 0, "config: %s", err);
    have_cfg = 1;
    cfg.now_ms = NOW;
    memset(&tgt, 0, sizeof tgt);
    cwlogs_target_init(&tgt, &cfg);
    tgt.exporter = "cloudwatch";
    tgt.label = "cloudwatch logs";
    export_batch_reset(&bat);
}

static void setup(void)
{
    clear_env();
    export_batch_init(&bat, 0, 0);
    have_cfg = 0;
    configure();
}

static void teardown(void)
{
    if (have_cfg)
        cwlogs_config_free(&cfg);
    have_cfg = 0;
    export_batch_free(&bat);
}

/* Encodes one log record: id, time, body, resource (id and JSON). */
static void add_full(int64_t id, int64_t ms, const char *body, int64_t rid, const char *res,
                     const char *trace, const char *span, const char *attrs)
{
    spool_log lg;
    memset(&lg, 0, sizeof lg);
    lg.time_ns = ms * 1000000 + 123456;
    lg.severity_number = 9;
    lg.severity_text = "INFO";
    lg.body = body;
    lg.attributes_json = attrs;
    if (trace)
        snprintf(lg.trace_id, sizeof lg.trace_id, "%s", trace);
    if (span)
        snprintf(lg.span_id, sizeof lg.span_id, "%s", span);
    spool_origin o = { id, rid, res, "cruddur", "1" };
    ck_assert_int_eq(tgt.encode(tgt.ctx, &bat, &lg, &o), 0);
}

static void add(int64_t id, int64_t ms, const char *body)
{
    add_full(id, ms, body, 1, RES_A, NULL, NULL, "{\"k\":1}");
}

static json_t *item_json(size_t i)
{
    const export_item *it = &bat.items[i];
    ck_assert(!it->skip);
    json_error_t e;
    json_t *j = json_loadb(bat.arena.data + it->off, it->len, 0, &e);
    ck_assert_msg(j != NULL, "event is not JSON: %s", e.text);
    return j;
}

/* The message object of item i. */
static json_t *message_of(size_t i, size_t *len)
{
    json_t *ev = item_json(i);
    json_t *m = json_object_get(ev, "message");
    ck_assert(json_is_string(m));
    if (len)
        *len = json_string_length(m);
    ck_assert(utf8_valid(json_string_value(m), json_string_length(m)));
    json_error_t e;
    json_t *obj = json_loadb(json_string_value(m), json_string_length(m), 0, &e);
    ck_assert_msg(json_is_object(obj), "message is not a JSON object: %s", e.text);
    json_decref(ev);
    return obj;
}

/* What the service counts for item i: message bytes + 26. */
static size_t counted(size_t i)
{
    size_t len;
    json_decref(message_of(i, &len));
    return len + CWLOGS_EVENT_OVERHEAD;
}

static const char *sget(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_t *build_json(size_t lo, size_t hi)
{
    buf_t body = BUF_INIT;
    ck_assert_int_eq(tgt.build(tgt.ctx, &bat, lo, hi, &body), 0);
    json_error_t e;
    json_t *j = json_loadb(body.data, body.len, 0, &e);
    ck_assert_msg(j != NULL, "body is not JSON: %s", e.text);
    buf_free(&body);
    return j;
}

static void fake(httpc_response *r, long status, const char *type, const char *body)
{
    httpc_response_init(r);
    r->status = status;
    if (type)
        snprintf(r->amzn_error_type, sizeof r->amzn_error_type, "%s", type);
    if (body)
        buf_puts(&r->body, body);
}

/* ---- configuration ----------------------------------------------------------------- */

START_TEST(config_defaults)
{
    ck_assert_str_eq(cfg.url, "http://127.0.0.1:9/");
    ck_assert_str_eq(cfg.log_group, "cruddur");
    ck_assert_ptr_null(cfg.log_stream);
    ck_assert_int_eq(cfg.retention_days, 0);
    ck_assert_uint_eq(cfg.max_message, 1048576 - 26);
    ck_assert_str_eq(expcfg_headers_get(&cfg.headers, "Content-Type"), "application/x-amz-json-1.1");
    ck_assert_str_eq(expcfg_headers_get(&cfg.headers, "X-Amz-Target"), "Logs_20140328.PutLogEvents");
    ck_assert_int_eq(tgt.stream, SPOOL_STREAM_LOG);
    ck_assert_str_eq(tgt.url, "http://127.0.0.1:9/");
    ck_assert_uint_eq(tgt.max_batch, 10000);
    ck_assert_ptr_nonnull(tgt.next_request);
    ck_assert_ptr_nonnull(tgt.classify_items);
    ck_assert_ptr_nonnull(tgt.authorize);
    ck_assert(cfg.hostname[0] != '\0');
    ck_assert_ptr_null(strpbrk(cfg.hostname, ":*"));

    setenv("CRUDDUR_CW_LOG_GROUP", "/cruddur/prod_1.#x-y", 1);
    setenv("CRUDDUR_CW_LOG_STREAM", "all of it/é", 1);
    setenv("CRUDDUR_CW_RETENTION_DAYS", "3653", 1);
    setenv("CRUDDUR_CW_MAX_EVENT_BYTES", "262144", 1);
    configure();
    ck_assert_str_eq(cfg.log_group, "/cruddur/prod_1.#x-y");
    ck_assert_str_eq(cfg.log_stream, "all of it/é");
    ck_assert_int_eq(cfg.retention_days, 3653);
    ck_assert_uint_eq(cfg.max_message, 262144 - 26);
}
END_TEST

START_TEST(config_refused)
{
    static const char *const bad[][2] = {
        { "CRUDDUR_CW_LOG_GROUP", "has space" },
        { "CRUDDUR_CW_LOG_GROUP", "colon:no" },
        { "CRUDDUR_CW_LOG_STREAM", "host:1" },
        { "CRUDDUR_CW_LOG_STREAM", "star*" },
        { "CRUDDUR_CW_LOG_STREAM", "bad\xff" },
        { "CRUDDUR_CW_RETENTION_DAYS", "31" },
        { "CRUDDUR_CW_RETENTION_DAYS", "0" },
        { "CRUDDUR_CW_RETENTION_DAYS", "7d" },
        { "CRUDDUR_CW_MAX_EVENT_BYTES", "1023" },
        { "CRUDDUR_CW_MAX_EVENT_BYTES", "1048577" },
        { "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "ftp://x" },
    };
    char long_group[600];
    memset(long_group, 'g', 513);
    long_group[513] = '\0';
    for (size_t i = 0; i <= sizeof bad / sizeof *bad; i++) {
        clear_env();
        if (i < sizeof bad / sizeof *bad)
            setenv(bad[i][0], bad[i][1], 1);
        else
            setenv("CRUDDUR_CW_LOG_GROUP", long_group, 1);
        cwlogs_config c;
        char err[300] = "";
        ck_assert_msg(cwlogs_config_from_env(&c, NULL, err, sizeof err) == -1, "accepted case %zu", i);
        ck_assert(err[0] != '\0');
    }
    static const char *const good[] = { "1", "3", "5", "7", "14", "30", "60", "90", "120", "150", "180",
                                        "365", "400", "545", "731", "1096", "1827", "2192", "2557",
                                        "2922", "3288", "3653" };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        clear_env();
        setenv("CRUDDUR_CW_RETENTION_DAYS", good[i], 1);
        cwlogs_config c;
        char err[300];
        ck_assert_int_eq(cwlogs_config_from_env(&c, NULL, err, sizeof err), 0);
        ck_assert_int_eq(c.retention_days, atoi(good[i]));
        cwlogs_config_free(&c);
    }
}
END_TEST

START_TEST(stream_names)
{
    char out[600];
    ck_assert_int_eq(cwlogs_stream_name(&cfg, "web-1", D0 + 5, out, sizeof out), 0);
    ck_assert_str_eq(out, "web-1/2026-11-24");
    ck_assert_int_eq(cwlogs_stream_name(&cfg, "web-1", D0 - 1, out, sizeof out), 0);
    ck_assert_str_eq(out, "web-1/2026-11-23");
    ck_assert_int_eq(cwlogs_stream_name(&cfg, "a:b*c\x01\xff", D0, out, sizeof out), 0);
    ck_assert_str_eq(out, "a_b_c__/2026-11-24");
    ck_assert_int_eq(cwlogs_stream_name(&cfg, "", D0, out, sizeof out), 0);
    ck_assert_str_eq(out, "unknown/2026-11-24");
    ck_assert_int_eq(cwlogs_stream_name(&cfg, NULL, D0, out, sizeof out), 0);
    ck_assert(strncmp(out, cfg.hostname, strlen(cfg.hostname)) == 0);
    /* a long name is cut at 255 bytes, between characters */
    char host[400];
    host[0] = 'h';
    for (int i = 0; i < 150; i++)
        memcpy(host + 1 + 2 * i, "\xc3\xa9", 2);
    host[301] = '\0';
    ck_assert_int_eq(cwlogs_stream_name(&cfg, host, D0, out, sizeof out), 0);
    ck_assert_uint_eq(strlen(out), 255 + 11);
    ck_assert(utf8_valid(out, strlen(out)));
    ck_assert_int_eq(cwlogs_stream_name(&cfg, "web-1", D0, out, 10), -1);

    setenv("CRUDDUR_CW_LOG_STREAM", "fixed", 1);
    configure();
    ck_assert_int_eq(cwlogs_stream_name(&cfg, "web-1", D0, out, sizeof out), 0);
    ck_assert_str_eq(out, "fixed");
}
END_TEST

/* ---- events -------------------------------------------------------------------------- */

START_TEST(event_json)
{
    add_full(7, D0 + 3723456, "user \"andrew\" logged in\n", 1, RES_A,
             "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7",
             "{\"http.route\":\"/api/activities/home\",\"n\":3,\"ok\":true}");
    add_full(8, D0 + 1, "no trace", 1, RES_A, NULL, NULL, NULL);
    ck_assert_uint_eq(bat.n, 2);
    ck_assert_int_eq(bat.items[0].id, 7);

    json_t *ev = item_json(0);
    ck_assert_uint_eq(json_object_size(ev), 2);
    ck_assert(json_is_integer(json_object_get(ev, "timestamp")));
    ck_assert_int_eq(json_integer_value(json_object_get(ev, "timestamp")), D0 + 3723456);
    json_decref(ev);

    json_t *m = message_of(0, NULL);
    ck_assert_str_eq(sget(m, "time"), "2026-11-24T01:02:03.456Z");
    ck_assert_str_eq(sget(m, "level"), "INFO");
    ck_assert_str_eq(sget(m, "message"), "user \"andrew\" logged in\n");
    json_t *at = json_object_get(m, "attributes");
    ck_assert(json_is_object(at));
    ck_assert_str_eq(sget(at, "http.route"), "/api/activities/home");
    ck_assert_int_eq(json_integer_value(json_object_get(at, "n")), 3);
    ck_assert_str_eq(sget(m, "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
    ck_assert_str_eq(sget(m, "xray_trace_id"), "1-4bf92f35-77b34da6a3ce929d0e0e4736");
    ck_assert_str_eq(sget(m, "span_id"), "00f067aa0ba902b7");
    json_decref(m);

    m = message_of(1, NULL);
    ck_assert_str_eq(sget(m, "time"), "2026-11-24T00:00:00.001Z");
    ck_assert_str_eq(sget(m, "message"), "no trace");
    ck_assert(json_is_object(json_object_get(m, "attributes")));
    ck_assert_uint_eq(json_object_size(json_object_get(m, "attributes")), 0);
    ck_assert_ptr_null(json_object_get(m, "trace_id"));
    ck_assert_ptr_null(json_object_get(m, "xray_trace_id"));
    ck_assert_ptr_null(json_object_get(m, "span_id"));
    json_decref(m);
}
END_TEST

START_TEST(event_edge_cases)
{
    spool_log lg;
    memset(&lg, 0, sizeof lg);
    lg.time_ns = 0;
    lg.observed_ns = (D0 + 42) * 1000000;   /* no event time: the observed one */
    lg.severity_number = 17;
    lg.body = "bad \xff byte";
    strcpy(lg.trace_id, "00000000000000000000000000000000");  /* an invalid id counts as none */
    spool_origin o = { 1, 1, RES_A, NULL, NULL };
    ck_assert_int_eq(tgt.encode(tgt.ctx, &bat, &lg, &o), 0);
    json_t *m = message_of(0, NULL);
    ck_assert_str_eq(sget(m, "level"), "ERROR");
    ck_assert_str_eq(sget(m, "time"), "2026-11-24T00:00:00.042Z");
    ck_assert_str_eq(sget(m, "message"), "bad \xef\xbf\xbd byte");
    ck_assert_ptr_null(json_object_get(m, "trace_id"));
    json_decref(m);

    lg.attributes_json = "[1,2]";
    o.id = 2;
    ck_assert_int_eq(tgt.encode(tgt.ctx, &bat, &lg, &o), 0);
    ck_assert(bat.items[1].skip);
    ck_assert_str_eq(export_item_reason(&bat, &bat.items[1]), "attributes are not a JSON object");

    lg.attributes_json = NULL;
    lg.observed_ns = 0;
    o.id = 3;
    ck_assert_int_eq(tgt.encode(tgt.ctx, &bat, &lg, &o), 0);
    ck_assert(bat.items[2].skip);
    ck_assert_str_eq(export_item_reason(&bat, &bat.items[2]), "no timestamp");
}
END_TEST

START_TEST(attributes_accepted_as_jansson_reads_them)
{
    /* Plain texts are read by the encoder's scanner, the rest by jansson:
     * either way a record is sent exactly when jansson reads an object,
     * and its attributes are sent as written (outer white space trimmed). */
    static const char *const texts[] = {
        "{}", " {\"a\":1} ", "\t{\"a\" : [1, 2.5, -0, 1e5, 1E-2, true, false, null, {\"b\":{}}]}\n",
        "{\"k\":\"caf\xc3\xa9 \\u00e9\\n\\t\\\"\\\\\\/\"}", "{\"k\":\"\\ud83d\\ude00\"}", "{\"a\":1,\"a\":2}",
        "{\"n\":123456789012345678}", "{\"n\":1234567890123456789}", "{\"n\":1.5e99}", "{\"a\":\n1}",
        "{\"k\":\"\\u0000\"}", "{\"k\":\"\\ud83d\"}", "{\"k\":\"\\uDC00\"}", "{\"n\":123456789012345678901234567890}",
        "{\"n\":1e400}", "{\"n\":01}", "{\"a\":1,}", "{\"a\":1}x", "{\"a\":tru}", "{\"a\":\"x\x01y\"}",
        "{\"a\":\"\\x\"}", "{\"a\":1.}", "{\"a\":-}", "{\"a\":.5}", "{\"a\":1e}", "{\"k\":\"\\u12\"}",
        "{\"\\u0000\":1}", "{\"a\":1} {\"b\":2}", "", "[1]", "\"s\"", "{\"a\":\"\xff\"}", "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":\"\xc3\"}", "{\"a\":" "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":1}}}}}}}}}",
    };
    char deep[3 * 200 + 8];
    size_t n = 0;
    for (int k = 0; k < 100; k++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "{\"a\":");
    n += (size_t)snprintf(deep + n, sizeof deep - n, "1");
    for (int k = 0; k < 100; k++)
        deep[n++] = '}';
    deep[n] = '\0';
    size_t count = sizeof texts / sizeof *texts + 1;
    for (size_t i = 0; i < count; i++) {
        const char *t = i < count - 1 ? texts[i] : deep;
        json_t *j = json_loads(t, 0, NULL);
        int object = json_is_object(j);
        json_decref(j);
        export_batch_reset(&bat);
        add_full(1, D0 + 5, "m", 1, RES_A, NULL, NULL, t);
        ck_assert_msg(bat.items[0].skip == !object, "text %zu: %s", i, t);
        if (!object) {
            ck_assert_str_eq(export_item_reason(&bat, &bat.items[0]), "attributes are not a JSON object");
            continue;
        }
        json_t *ev = item_json(0);
        const char *msg = sget(ev, "message");
        const char *b = t + strspn(t, " \t\r\n");
        size_t len = strlen(b);
        while (len > 0 && strchr(" \t\r\n", b[len - 1]) != NULL)
            len--;
        const char *at = strstr(msg, ",\"attributes\":");
        ck_assert_msg(at != NULL && strncmp(at + 14, b, len) == 0 && at[14 + len] == '}',
                      "text %zu: %s", i, msg);
        json_decref(ev);
    }
}
END_TEST

START_TEST(times_across_days)
{
    add(1, D0 - 1, "a");
    add(2, D0 + 7199999, "b");
    add(3, D0 - 86400000 + 45296789, "c");
    add(4, D0, "d");
    static const char *const want[] = {
        "2026-11-23T23:59:59.999Z", "2026-11-24T01:59:59.999Z", "2026-11-23T12:34:56.789Z",
        "2026-11-24T00:00:00.000Z",
    };
    for (size_t i = 0; i < 4; i++) {
        json_t *m = message_of(i, NULL);
        ck_assert_str_eq(sget(m, "time"), want[i]);
        json_decref(m);
    }
}
END_TEST

START_TEST(age_rules)
{
    add(1, NOW - CWLOGS_MAX_AGE_MS - 1, "too old");
    add(2, NOW - CWLOGS_MAX_AGE_MS, "just in");
    add(3, NOW + CWLOGS_MAX_AHEAD_MS, "just in");
    add(4, NOW + CWLOGS_MAX_AHEAD_MS + 1, "too new");
    ck_assert_uint_eq(bat.n, 4);
    ck_assert(bat.items[0].skip);
    ck_assert_str_eq(export_item_reason(&bat, &bat.items[0]), "older than 14 days");
    ck_assert(!bat.items[1].skip);
    ck_assert(!bat.items[2].skip);
    ck_assert(bat.items[3].skip);
    ck_assert_str_eq(export_item_reason(&bat, &bat.items[3]), "more than 2 hours ahead");
    /* never sent: the requests carry the two others only (two days) */
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 0, bat.n), 2);
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 2, bat.n), 4);
    json_t *j = build_json(0, 2);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "logEvents")), 1);
    json_decref(j);
    j = build_json(2, 4);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "logEvents")), 1);
    json_decref(j);
}
END_TEST

/* ---- truncation ------------------------------------------------------------------- */

/* The message's body is a prefix of the original (whole characters), then
 * the marker naming how many bytes were cut. */
static void check_cut(size_t i, const char *orig, size_t max)
{
    size_t len;
    json_t *m = message_of(i, &len);
    ck_assert_uint_le(len, max);
    const char *b = sget(m, "message");
    ck_assert_ptr_nonnull(b);
    const char *mark = strstr(b, "\xE2\x80\xA6[truncated ");
    ck_assert_ptr_nonnull(mark);
    size_t kept = (size_t)(mark - b);
    unsigned long cut = strtoul(mark + strlen("\xE2\x80\xA6[truncated "), NULL, 10);
    ck_assert_uint_eq(kept + cut, strlen(orig));
    ck_assert(memcmp(b, orig, kept) == 0);
    ck_assert_str_eq(b + strlen(b) - 7, " bytes]");
    /* not much room left unused */
    ck_assert_uint_ge(len + 8, max);
    ck_assert_str_eq(sget(m, "level"), "INFO");
    ck_assert(json_is_object(json_object_get(m, "attributes")));
    json_decref(m);
}

START_TEST(truncation_keeps_utf8_and_json)
{
    setenv("CRUDDUR_CW_MAX_EVENT_BYTES", "1024", 1);
    configure();
    size_t max = 1024 - 26;
    static const char *const units[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\"", "\n", "a" };
    char body[4000];
    int id = 1;
    for (size_t u = 0; u < sizeof units / sizeof *units; u++)
        for (int shift = 0; shift < 4; shift++) {
            /* shift the cut across every byte of a character */
            size_t n = 0;
            for (int k = 0; k < shift; k++)
                body[n++] = 'x';
            while (n + 4 < 3000) {
                memcpy(body + n, units[u], strlen(units[u]));
                n += strlen(units[u]);
            }
            body[n] = '\0';
            add(id++, NOW, body);
            check_cut(bat.n - 1, body, max);
        }
    /* a body that fits is left alone */
    add(id++, NOW, "short");
    json_t *m = message_of(bat.n - 1, NULL);
    ck_assert_str_eq(sget(m, "message"), "short");
    json_decref(m);
}
END_TEST

START_TEST(truncation_at_default_limit)
{
    size_t n = 1100000;
    char *body = malloc(n + 1);
    memset(body, 'x', n);
    body[n] = '\0';
    add(1, NOW, body);
    check_cut(0, body, CWLOGS_MAX_EVENT_BYTES - CWLOGS_EVENT_OVERHEAD);
    ck_assert_uint_le(counted(0), CWLOGS_MAX_REQUEST_BYTES);
    /* alone it fits in one request */
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 0, 1), 1);
    free(body);
}
END_TEST

START_TEST(truncation_drops_huge_attributes)
{
    setenv("CRUDDUR_CW_MAX_EVENT_BYTES", "1024", 1);
    configure();
    char attrs[3000];
    snprintf(attrs, sizeof attrs, "{\"big\":\"%02000d\"}", 0);
    add_full(1, NOW, "body", 1, RES_A, NULL, NULL, attrs);
    size_t len;
    json_t *m = message_of(0, &len);
    ck_assert_uint_le(len, 1024 - 26);
    ck_assert_uint_eq(json_object_size(json_object_get(m, "attributes")), 0);
    ck_assert(json_is_true(json_object_get(m, "attributes_dropped")));
    ck_assert_str_eq(sget(m, "message"), "body");
    json_decref(m);
}
END_TEST

/* ---- order and requests ------------------------------------------------------------- */

START_TEST(sorted_by_time_then_id)
{
    /* two workers' records interleaved in id order, times out of order */
    static const int64_t ts[] = { 50, 10, 30, 20, 60, 40, 20, 20 };
    static const int rid[] = { 1, 2, 1, 2, 1, 2, 1, 2 };
    char body[16];
    for (int i = 0; i < 8; i++) {
        snprintf(body, sizeof body, "r%d", i + 1);
        add_full(i + 1, D0 + ts[i], body, rid[i], rid[i] == 1 ? RES_A : RES_A2, NULL, NULL, "{}");
    }
    /* one host: one request */
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 0, bat.n), 8);
    json_t *j = build_json(0, 8);
    ck_assert_str_eq(sget(j, "logGroupName"), "cruddur");
    ck_assert_str_eq(sget(j, "logStreamName"), "web-1/2026-11-24");
    json_t *evs = json_object_get(j, "logEvents");
    ck_assert_uint_eq(json_array_size(evs), 8);
    static const char *const want[] = { "r2", "r4", "r7", "r8", "r3", "r6", "r1", "r5" };
    for (size_t k = 0; k < 8; k++) {
        json_t *ev = json_array_get(evs, k);
        json_t *m = json_loads(sget(ev, "message"), 0, NULL);
        ck_assert_str_eq(sget(m, "message"), want[k]);
        if (k > 0)
            ck_assert_int_le(json_integer_value(json_object_get(json_array_get(evs, k - 1), "timestamp")),
                             json_integer_value(json_object_get(ev, "timestamp")));
        json_decref(m);
    }
    json_decref(j);
}
END_TEST

START_TEST(split_at_10000_events)
{
    /* small events (about 90 bytes as counted): the count limit comes first */
    spool_log lg;
    memset(&lg, 0, sizeof lg);
    lg.body = "m";
    for (int i = 0; i < 10001; i++) {
        lg.time_ns = (NOW - i) * 1000000;
        spool_origin o = { i + 1, 1, RES_A, NULL, NULL };
        ck_assert_int_eq(tgt.encode(tgt.ctx, &bat, &lg, &o), 0);
    }
    ck_assert_uint_lt(counted(0) * 10000, CWLOGS_MAX_REQUEST_BYTES);
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 0, bat.n), 10000);
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 10000, bat.n), 10001);
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 1, bat.n), 10001);
    /* skipped records do not count */
    bat.items[5].skip = 1;
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 0, bat.n), 10001);
}
END_TEST

/* Eight records with bodies full of characters JSON escapes (and so
 * count differently in the request than in the message); the last one ends
 * with pad 'x'. Returns the service's count for the eight. */
static size_t fill(size_t pad)
{
    static char body[250001];
    export_batch_reset(&bat);
    size_t total = 0;
    for (int i = 0; i < 8; i++) {
        size_t n = i < 7 ? 90000 : 1000;
        for (size_t k = 0; k < n; k++)
            body[k] = "ab\"\\\n\t/c"[k % 8];
        memcpy(body, "\xc3\xa9\xe2\x82\xac!", 6);
        if (i == 7) {
            memset(body + n, 'x', pad);
            n += pad;
        }
        body[n] = '\0';
        add(i + 1, NOW - 8 + i, body);
        total += counted((size_t)i);
    }
    return total;
}

START_TEST(split_at_1mib_exactly)
{
    size_t total = fill(0);
    ck_assert_uint_lt(total, CWLOGS_MAX_REQUEST_BYTES);
    size_t pad = CWLOGS_MAX_REQUEST_BYTES - total;
    total = fill(pad);
    ck_assert_uint_eq(total, CWLOGS_MAX_REQUEST_BYTES);
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 0, bat.n), 8);
    total = fill(pad + 1);
    ck_assert_uint_eq(total, CWLOGS_MAX_REQUEST_BYTES + 1);
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 0, bat.n), 7);
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 7, bat.n), 8);
}
END_TEST

START_TEST(split_at_day_and_host)
{
    add_full(1, D0 - 1, "last of the 23rd", 1, RES_A, NULL, NULL, "{}");
    add_full(2, D0, "first of the 24th", 1, RES_A, NULL, NULL, "{}");
    add_full(3, D0 + 5, "same host, other process", 2, RES_A2, NULL, NULL, "{}");
    add_full(4, D0 + 6, "other host", 3, RES_B, NULL, NULL, "{}");
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 0, 4), 1);
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 1, 4), 3);
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 3, 4), 4);
    json_t *j = build_json(0, 1);
    ck_assert_str_eq(sget(j, "logStreamName"), "web-1/2026-11-23");
    json_decref(j);
    j = build_json(1, 3);
    ck_assert_str_eq(sget(j, "logStreamName"), "web-1/2026-11-24");
    json_decref(j);
    j = build_json(3, 4);
    ck_assert_str_eq(sget(j, "logStreamName"), "web_2_/2026-11-24");
    json_decref(j);
}
END_TEST

START_TEST(one_stream_keeps_under_24_hours)
{
    setenv("CRUDDUR_CW_LOG_STREAM", "everything", 1);
    configure();
    add_full(1, D0 - 5 * DAY, "a", 1, RES_A, NULL, NULL, "{}");
    add_full(2, D0 - 4 * DAY - 1, "24 h less 1 ms later", 3, RES_B, NULL, NULL, "{}");
    add_full(3, D0 - 5 * DAY + 10, "back in time", 1, RES_A, NULL, NULL, "{}");
    add_full(4, D0 - 4 * DAY + 10, "24 h after the earliest", 1, RES_A, NULL, NULL, "{}");
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 0, 4), 3);
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 3, 4), 4);
    json_t *j = build_json(0, 3);
    ck_assert_str_eq(sget(j, "logStreamName"), "everything");
    ck_assert_uint_eq(json_array_size(json_object_get(j, "logEvents")), 3);
    json_decref(j);
    /* exactly 24 hours apart is refused too */
    export_batch_reset(&bat);
    add(1, D0 - 3 * DAY, "a");
    add(2, D0 - 2 * DAY, "b");
    ck_assert_uint_eq(tgt.next_request(tgt.ctx, &bat, 0, 2), 1);
}
END_TEST

START_TEST(three_days_shuffled)
{
    uint64_t x = 88172645463325252ULL;
    char body[64];
    int n = 3000;
    for (int i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* from the start of the 22nd to 2 hours past NOW on the 24th */
        int64_t ts = D0 - 2 * DAY + (int64_t)(x % (uint64_t)(2 * DAY + 14 * 3600000));
        snprintf(body, sizeof body, "event %d", i);
        int host = (int)(x >> 40) % 3;
        add_full(i + 1, ts, body, host + 1, host == 0 ? RES_A : host == 1 ? RES_A2 : RES_B, NULL, NULL,
                 "{}");
    }
    size_t requests = 0, events = 0;
    for (size_t lo = 0, hi; lo < bat.n; lo = hi) {
        hi = tgt.next_request(tgt.ctx, &bat, lo, bat.n);
        ck_assert_uint_gt(hi, lo);
        json_t *j = build_json(lo, hi);
        const char *stream = sget(j, "logStreamName");
        json_t *evs = json_object_get(j, "logEvents");
        size_t bytes = 0;
        int64_t prev = 0;
        for (size_t k = 0; k < json_array_size(evs); k++) {
            json_t *ev = json_array_get(evs, k);
            int64_t ts = json_integer_value(json_object_get(ev, "timestamp"));
            ck_assert_int_ge(ts, prev);
            prev = ts;
            bytes += json_string_length(json_object_get(ev, "message")) + 26;
        }
        for (size_t i = lo; i < hi; i++) {
            json_t *ev = item_json(i);
            char want[600];
            int64_t ts = json_integer_value(json_object_get(ev, "timestamp"));
            uint32_t g = bat.items[i].group;
            const char *res = bat.groups[g].resource_json;
            json_t *r = json_loads(res, 0, NULL);
            ck_assert_int_eq(cwlogs_stream_name(&cfg, sget(r, "host.name"), ts, want, sizeof want), 0);
            ck_assert_str_eq(stream, want);
            json_decref(r);
            json_decref(ev);
        }
        ck_assert_uint_le(json_array_size(evs), 10000);
        ck_assert_uint_le(bytes, CWLOGS_MAX_REQUEST_BYTES);
        ck_assert_int_le(prev - json_integer_value(json_object_get(json_array_get(evs, 0), "timestamp")),
                         DAY - 1);
        events += json_array_size(evs);
        requests++;
        json_decref(j);
    }
    ck_assert_uint_eq(events, (size_t)n);
    ck_assert_uint_gt(requests, 9);
}
END_TEST

/* ---- answers --------------------------------------------------------------------------- */

START_TEST(rejected_info_maps_through_the_sort)
{
    /* ids 1..6 with times that sort them as 4, 2, 6, 1, 5, 3 */
    static const int64_t ts[] = { 40, 20, 60, 10, 50, 30 };
    for (int i = 0; i < 6; i++)
        add(i + 1, D0 + ts[i], "x");
    add(7, NOW - CWLOGS_MAX_AGE_MS - 1, "dead already");
    httpc_response r;
    fake(&r, 200, NULL,
         "{\"nextSequenceToken\":\"49590\",\"rejectedLogEventsInfo\":{\"tooOldLogEventEndIndex\":1,"
         "\"expiredLogEventEndIndex\":2,\"tooNewLogEventStartIndex\":5}}");
    export_answer a;
    memset(&a, 0, sizeof a);
    tgt.classify_items(tgt.ctx, &r, &bat, 0, bat.n, &a);
    ck_assert_int_eq(a.verdict, EXPORT_OK);
    /* sorted: [0]=id4 too old, [1]=id2 expired, [5]=id3 too new */
    ck_assert(bat.items[3].skip);
    ck_assert_ptr_nonnull(strstr(export_item_reason(&bat, &bat.items[3]), "older than 14 days"));
    ck_assert(bat.items[1].skip);
    ck_assert_ptr_nonnull(strstr(export_item_reason(&bat, &bat.items[1]), "retention"));
    ck_assert(bat.items[2].skip);
    ck_assert_ptr_nonnull(strstr(export_item_reason(&bat, &bat.items[2]), "2 hours ahead"));
    ck_assert(!bat.items[0].skip && !bat.items[4].skip && !bat.items[5].skip);
    ck_assert_str_eq(export_item_reason(&bat, &bat.items[6]), "older than 14 days");
    httpc_response_free(&r);

    /* tooNew at 0: everything; no info: nothing */
    export_batch_reset(&bat);
    for (int i = 0; i < 3; i++)
        add(i + 1, D0 + i, "x");
    fake(&r, 200, NULL, "{\"rejectedLogEventsInfo\":{\"tooNewLogEventStartIndex\":0}}");
    tgt.classify_items(tgt.ctx, &r, &bat, 0, bat.n, &a);
    ck_assert_int_eq(a.verdict, EXPORT_OK);
    for (int i = 0; i < 3; i++)
        ck_assert(bat.items[i].skip);
    httpc_response_free(&r);
    export_batch_reset(&bat);
    add(1, D0, "x");
    fake(&r, 200, NULL, "{}");
    tgt.classify_items(tgt.ctx, &r, &bat, 0, bat.n, &a);
    ck_assert_int_eq(a.verdict, EXPORT_OK);
    ck_assert(!bat.items[0].skip);
    httpc_response_free(&r);
}
END_TEST

static export_verdict verdict(long status, const char *type, const char *body, char *msg, size_t size)
{
    httpc_response r;
    export_answer a;
    memset(&a, 0, sizeof a);
    fake(&r, status, type, body);
    if (strstr(body ? body : "", "Signature expired") != NULL)
        r.date_ns = tstamp_now_ns() - 900 * 1000000000LL - 500000000LL;
    tgt.classify_items(tgt.ctx, &r, &bat, 0, bat.n, &a);
    if (msg)
        snprintf(msg, size, "%s", a.message);
    httpc_response_free(&r);
    return a.verdict;
}

START_TEST(error_verdicts)
{
    add(1, D0, "x");
    char msg[600];
    ck_assert_int_eq(verdict(400, "ThrottlingException", "{\"message\":\"Rate exceeded\"}", msg, sizeof msg),
                     EXPORT_RETRY);
    ck_assert_str_eq(msg, "ThrottlingException: Rate exceeded");
    ck_assert_int_eq(verdict(503, "ServiceUnavailableException", "{}", NULL, 0), EXPORT_RETRY);
    ck_assert_int_eq(verdict(500, NULL, "", NULL, 0), EXPORT_RETRY);
    ck_assert_int_eq(verdict(400, NULL, "{\"__type\":\"com.amazonaws.logs#InvalidParameterException\","
                                        "\"message\":\"Log events must be in chronological order\"}",
                             msg, sizeof msg),
                     EXPORT_REJECT);
    ck_assert_str_eq(msg, "InvalidParameterException: Log events must be in chronological order");
    ck_assert_int_eq(verdict(400, "DataAlreadyAcceptedException", "{}", NULL, 0), EXPORT_OK);
    ck_assert_int_eq(verdict(400, "InvalidSequenceTokenException", "{}", NULL, 0), EXPORT_CONFIG);
    ck_assert_int_eq(verdict(400, "UnrecognizedClientException", "{}", NULL, 0), EXPORT_AUTH);
    ck_assert_int_eq(verdict(400, "AccessDeniedException", "{}", NULL, 0), EXPORT_AUTH);
    ck_assert_int_eq(verdict(400, "ExpiredTokenException", "{}", NULL, 0), EXPORT_AUTH);
    ck_assert_int_eq(verdict(403, NULL, "", NULL, 0), EXPORT_AUTH);
    ck_assert_int_eq(verdict(400, "InvalidSignatureException",
                             "{\"message\":\"Signature expired: 20261124T115000Z is now earlier than "
                             "20261124T115500Z\"}",
                             msg, sizeof msg),
                     EXPORT_AUTH);
    ck_assert_msg(strstr(msg, "clock is 900 s ahead") != NULL, "no skew in: %s", msg);
    ck_assert_int_eq(verdict(404, NULL, "", NULL, 0), EXPORT_CONFIG);
    ck_assert_int_eq(verdict(413, NULL, "", NULL, 0), EXPORT_REJECT);
    ck_assert(!bat.items[0].skip);
}
END_TEST

/* ---- creating what is missing --------------------------------------------------------- */

static tsrv srv;

static void start_server(const char *retention)
{
    char ep[64];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    tsrv_start(&srv);
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", srv.port);
    setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", ep, 1);
    if (retention)
        setenv("CRUDDUR_CW_RETENTION_DAYS", retention, 1);
    configure();
}

static void stop_server(void)
{
    tsrv_stop(&srv);
    curl_global_cleanup();
}

#define ERR(status, type, message)                                                              \
    (tsrv_reply){ status, "X-Amzn-ErrorType: " type ":http://internal.amazon.com/\r\n",      \
                  "{\"__type\":\"" type "\",\"message\":\"" message "\"}", 0 }
#define OK_EMPTY (tsrv_reply){ 200, "", "", 0 }

static export_verdict not_found(const char *what, char *msg, size_t size)
{
    char body[200];
    snprintf(body, sizeof body, "{\"__type\":\"ResourceNotFoundException\",\"message\":\"%s\"}", what);
    return verdict(400, "ResourceNotFoundException", body, msg, size);
}

static void check_request(int k, const char *action, const char *body_has)
{
    char target[80];
    snprintf(target, sizeof target, "X-Amz-Target: Logs_20140328.%s", action);
    ck_assert_msg(strcasestr(srv.req_head[k], target) != NULL, "request %d is not %s: %s", k, action,
                  srv.req_head[k]);
    ck_assert_ptr_nonnull(strcasestr(srv.req_head[k], "Content-Type: application/x-amz-json-1.1"));
    ck_assert_ptr_nonnull(strstr(srv.req_head[k], "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
    ck_assert_ptr_nonnull(strstr(srv.req_head[k], "/us-west-2/logs/aws4_request"));
    ck_assert_ptr_null(strstr(srv.req_head[k], "wJalrXUtnFEMI"));
    ck_assert_msg(strstr(srv.req_body[k], body_has) != NULL, "request %d body: %s", k, srv.req_body[k]);
}

START_TEST(missing_group_and_stream_are_created)
{
    start_server("30");
    add(1, D0 + 1000, "x");
    tsrv_script(&srv, ERR(400, "ResourceNotFoundException", "The specified log group does not exist."));
    tsrv_script(&srv, OK_EMPTY);   /* CreateLogGroup */
    tsrv_script(&srv, OK_EMPTY);   /* PutRetentionPolicy */
    tsrv_script(&srv, OK_EMPTY);   /* CreateLogStream */
    char msg[600];
    /* the answer names the stream: the stream is tried first, and its
     * creation says the group is missing */
    ck_assert_int_eq(not_found("The specified log stream does not exist.", msg, sizeof msg), EXPORT_AGAIN);
    ck_assert_int_eq(tsrv_requests(&srv), 4);
    check_request(0, "CreateLogStream", "\"logStreamName\":\"web-1/2026-11-24\"");
    check_request(1, "CreateLogGroup", "{\"logGroupName\":\"cruddur\"}");
    check_request(2, "PutRetentionPolicy", "{\"logGroupName\":\"cruddur\",\"retentionInDays\":30}");
    check_request(3, "CreateLogStream", "{\"logGroupName\":\"cruddur\",\"logStreamName\":\"web-1/2026-11-24\"}");
    ck_assert(!bat.items[0].skip && !bat.items[0].done);

    /* the stream is known now; "not found" again means the group went:
     * the group first (it exists: no retention set), then the stream */
    tsrv_script(&srv, ERR(400, "ResourceAlreadyExistsException", "The specified log group already exists"));
    tsrv_script(&srv, OK_EMPTY);
    ck_assert_int_eq(not_found("The specified log stream does not exist.", msg, sizeof msg), EXPORT_AGAIN);
    ck_assert_int_eq(tsrv_requests(&srv), 6);
    check_request(4, "CreateLogGroup", "cruddur");
    check_request(5, "CreateLogStream", "web-1/2026-11-24");

    /* a stream that exists already is fine */
    export_batch_reset(&bat);
    add(2, D0 - 1, "yesterday");
    tsrv_script(&srv, ERR(400, "ResourceAlreadyExistsException", "The specified log stream already exists"));
    ck_assert_int_eq(not_found("The specified log stream does not exist.", msg, sizeof msg), EXPORT_AGAIN);
    ck_assert_int_eq(tsrv_requests(&srv), 7);
    check_request(6, "CreateLogStream", "web-1/2026-11-23");
    /* once it worked, nothing more is created for that stream */
    ck_assert_int_eq(verdict(200, NULL, "{}", NULL, 0), EXPORT_OK);
    ck_assert_int_eq(tsrv_requests(&srv), 7);
    stop_server();
}
END_TEST

START_TEST(failed_creations)
{
    start_server(NULL);
    add(1, D0, "x");
    char msg[600];
    tsrv_script(&srv, ERR(400, "AccessDeniedException", "not authorized to perform logs:CreateLogStream"));
    ck_assert_int_eq(not_found("The specified log stream does not exist.", msg, sizeof msg), EXPORT_AUTH);
    ck_assert_ptr_nonnull(strstr(msg, "CreateLogStream: AccessDeniedException"));
    tsrv_script(&srv, ERR(400, "ThrottlingException", "Rate exceeded"));
    ck_assert_int_eq(not_found("The specified log stream does not exist.", msg, sizeof msg), EXPORT_RETRY);
    tsrv_script(&srv, ERR(503, "ServiceUnavailableException", "try later"));
    ck_assert_int_eq(not_found("The specified log group does not exist.", msg, sizeof msg), EXPORT_RETRY);
    ck_assert_ptr_nonnull(strstr(msg, "CreateLogGroup"));
    tsrv_script(&srv, ERR(400, "LimitExceededException", "Resource limit exceeded."));
    ck_assert_int_eq(not_found("The specified log group does not exist.", msg, sizeof msg), EXPORT_CONFIG);
    tsrv_script(&srv, ERR(400, "InvalidParameterException", "bad name"));
    ck_assert_int_eq(not_found("The specified log stream does not exist.", msg, sizeof msg), EXPORT_CONFIG);
    int n = tsrv_requests(&srv);
    stop_server();
    /* nobody listening: try later */
    ck_assert_int_eq(not_found("The specified log stream does not exist.", msg, sizeof msg), EXPORT_RETRY);
    ck_assert_int_eq(n, 5);
}
END_TEST

/* ---- with the engine --------------------------------------------------------------- */

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

START_TEST(engine_run_creates_the_stream_and_delivers)
{
    char dir[64], path[128], err[200];
    strcpy(dir, "/tmp/test_cwlogs.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/spool.db", dir);
    spool *sp;
    ck_assert_int_eq(spool_open(path, SPOOL_CREATE, 0, &sp, err, sizeof err), SPOOL_OK);
    start_server(NULL);
    cfg.now_ms = 0;   /* the real clock, as the spool's records are recent */
    int64_t now_ns = tstamp_now_ns();
    spool_log logs[5];
    memset(logs, 0, sizeof logs);
    for (int i = 0; i < 5; i++) {
        logs[i].time_ns = now_ns - (5 - i) * 1000000LL;
        logs[i].severity_text = "INFO";
        logs[i].body = "hello";
        logs[i].attributes_json = "{}";
    }
    logs[2].time_ns = now_ns - 15 * DAY * 1000000LL;   /* too old: dead-lettered */
    spool_batch sb = { RES_A, "cruddur", "1", NULL, 0, logs, 5, NULL, 0 };
    ck_assert_int_eq(spool_write(sp, &sb, 0), SPOOL_OK);

    tsrv_script(&srv, ERR(400, "ResourceNotFoundException", "The specified log stream does not exist."));
    tsrv_script(&srv, OK_EMPTY);   /* CreateLogStream */
    tsrv_script(&srv, (tsrv_reply){ 200, "", "{\"nextSequenceToken\":\"1\"}", 0 });
    httpc *hc;
    volatile sig_atomic_t stop = 0;
    ck_assert_int_eq(httpc_new(&hc, 2000, 2000, &stop), 0);
    export_options o;
    memset(&o, 0, sizeof o);
    o.max_wait_ms = 2000;
    o.log = stderr;
    o.stop = &stop;
    o.seed = 1;
    export_stats st;
    export_target *ts[1] = { &tgt };
    int rc = export_run(sp, hc, ts, 1, &o, &st);
    ck_assert_msg(rc == EXPORT_EXIT_OK, "run: %d %s", rc, st.status);
    ck_assert_int_eq(st.sent, 4);
    ck_assert_int_eq(st.dead_lettered, 1);
    ck_assert_int_eq(tsrv_requests(&srv), 3);
    ck_assert_ptr_nonnull(strcasestr(srv.req_head[0], "Logs_20140328.PutLogEvents"));
    ck_assert_ptr_nonnull(strcasestr(srv.req_head[1], "Logs_20140328.CreateLogStream"));
    ck_assert_ptr_nonnull(strcasestr(srv.req_head[2], "Logs_20140328.PutLogEvents"));
    ck_assert_str_eq(srv.req_body[0], srv.req_body[2]);
    ck_assert_int_eq(tsrv_count(srv.req_body[2], "\"timestamp\""), 4);
    int64_t cur = -1;
    ck_assert_int_eq(spool_cursor_get(sp, "cloudwatch", SPOOL_STREAM_LOG, &cur), SPOOL_OK);
    ck_assert_int_eq(cur, 5);
    httpc_free(hc);
    stop_server();
    spool_close(sp);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("export_cwlogs");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, config_defaults);
    tcase_add_test(tc, config_refused);
    tcase_add_test(tc, stream_names);
    tcase_add_test(tc, event_json);
    tcase_add_test(tc, event_edge_cases);
    tcase_add_test(tc, attributes_accepted_as_jansson_reads_them);
    tcase_add_test(tc, times_across_days);
    tcase_add_test(tc, age_rules);
    tcase_add_test(tc, truncation_keeps_utf8_and_json);
    tcase_add_test(tc, truncation_at_default_limit);
    tcase_add_test(tc, truncation_drops_huge_attributes);
    tcase_add_test(tc, sorted_by_time_then_id);
    tcase_add_test(tc, split_at_10000_events);
    tcase_add_test(tc, split_at_1mib_exactly);
    tcase_add_test(tc, split_at_day_and_host);
    tcase_add_test(tc, one_stream_keeps_under_24_hours);
    tcase_add_test(tc, three_days_shuffled);
    tcase_add_test(tc, rejected_info_maps_through_the_sort);
    tcase_add_test(tc, error_verdicts);
    tcase_add_test(tc, missing_group_and_stream_are_created);
    tcase_add_test(tc, failed_creations);
    tcase_add_test(tc, engine_run_creates_the_stream_and_delivers);
    suite_add_tcase(s, tc);
    return s;
}
