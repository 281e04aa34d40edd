/* Unit tests for xray: configuration from the environment, the segment
 * documents of a realistic trace (a SERVER span with HTTP attributes and an
 * exception, an INTERNAL span, a CLIENT sqlite span) read back field by
 * field, trace id and annotation key conversion, names, trimming to 64 kB,
 * the request body, PutTraceSegments answers (unprocessed segments,
 * throttling, credentials with clock skew), signing headers, and the daemon's
 * UDP datagrams read back from a socket. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "check_main.h"
#include "export/xray.h"

static xray_config cfg;

static void env_clean(void)
{
    static const char *const vars[] = {
        "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_XRAY",
        "AWS_XRAY_DAEMON_ADDRESS", "CRUDDUR_XRAY_ANNOTATIONS", "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static void setup(void)
{
    env_clean();
    setenv("AWS_REGION", "eu-west-1", 1);
    setenv("AWS_ENDPOINT_URL_XRAY", "http://127.0.0.1:9/", 1);
    char err[256];
    ck_assert_msg(xray_config_from_env(&cfg, 0, NULL, err, sizeof err) == 0, "%s", err);
}

static void teardown(void)
{
    xray_config_free(&cfg);
}

/* ---- a request's trace, as the API records it ------------------------------- */

#define TRACE "5759e988bd862e3fe1be46a994272793"
#define SERVER_ID "53995c3f42cd8ad8"
#define INTERNAL_ID "0f8fad5bd9cb469f"
#define CLIENT_ID "a16570867728950e"
#define REMOTE_PARENT "00f067aa0ba902b7"

static const char *RES = "{\"service.name\":\"cruddur-api\",\"service.version\":\"0.1.0\","
                         "\"host.name\":\"web1\",\"process.pid\":4242,\"cloud.platform\":\"aws_ec2\"}";

static spool_span server_span(void)
{
    spool_span s;
    memset(&s, 0, sizeof s);
    strcpy(s.trace_id, TRACE);
    strcpy(s.span_id, SERVER_ID);
    strcpy(s.parent_span_id, REMOTE_PARENT);
    s.name = "GET /api/activities/home";
    s.kind = SPOOL_KIND_SERVER;
    s.start_ns = 1700000000123456789LL;
    s.end_ns = 1700000000223456000LL;
    s.status_code = SPOOL_STATUS_ERROR;
    s.status_message = "HTTP 500";
    s.attributes_json =
        "{\"http.request.method\":\"GET\",\"url.path\":\"/api/activities/home\","
        "\"url.query\":\"limit=5\",\"url.scheme\":\"http\",\"server.address\":\"localhost\","
        "\"server.port\":4567,\"client.address\":\"10.0.0.7\",\"client.port\":51234,"
        "\"user_agent.original\":\"curl/8.5.0\",\"network.protocol.version\":\"1.1\","
        "\"http.route\":\"/api/activities/home\",\"http.response.status_code\":500,"
        "\"error.type\":\"500\",\"http.response.body.size\":42,\"enduser.id\":\"andrewbrown\"}";
    s.events_json =
        "[{\"name\":\"exception\",\"time_ns\":1700000000200000000,\"attributes\":{"
        "\"exception.type\":\"AppDbBusy\",\"exception.message\":\"database is locked\","
        "\"exception.stacktrace\":\"./cruddur-api(app_db_exec+0x1c) [0x55d0c0de1000]\\n"
        "/lib/x86_64-linux-gnu/libc.so.6(+0x29d90) [0x7f0000029d90]\\n"
        "./cruddur-api(main+0x42) [0x55d0c0de0042]\"}}]";
    s.links_json = "[]";
    s.flags = 1;
    return s;
}

static spool_span internal_span(void)
{
    spool_span s;
    memset(&s, 0, sizeof s);
    strcpy(s.trace_id, TRACE);
    strcpy(s.span_id, INTERNAL_ID);
    strcpy(s.parent_span_id, SERVER_ID);
    s.name = "activities.home";
    s.kind = SPOOL_KIND_INTERNAL;
    s.start_ns = 1700000000130000000LL;
    s.end_ns = 1700000000190000000LL;
    s.attributes_json = "{\"app.result_length\":3,\"app.user_ids\":[\"a\",\"b\"]}";
    s.events_json = "[]";
    s.links_json = "[]";
    return s;
}

static spool_span client_span(void)
{
    spool_span s;
    memset(&s, 0, sizeof s);
    strcpy(s.trace_id, TRACE);
    strcpy(s.span_id, CLIENT_ID);
    strcpy(s.parent_span_id, INTERNAL_ID);
    s.name = "SELECT activities";
    s.kind = SPOOL_KIND_CLIENT;
    s.start_ns = 1700000000140000000LL;
    s.end_ns = 1700000000150000500LL;
    s.status_code = SPOOL_STATUS_ERROR;
    s.status_message = "database is locked";
    s.attributes_json =
        "{\"db.system.name\":\"sqlite\",\"db.operation.name\":\"SELECT\","
        "\"db.collection.name\":\"activities\","
        "\"db.query.text\":\"SELECT uuid, message FROM activities WHERE expires_at > ?\","
        "\"db.response.status_code\":\"5\",\"error.type\":\"database is locked\"}";
    s.events_json = "[]";
    s.links_json = "[]";
    return s;
}

static json_t *doc_of(const spool_span *s, const char *res, buf_t *raw)
{
    buf_t b = BUF_INIT;
    const char *why = NULL;
    ck_assert_int_eq(xray_segment(&b, &cfg, s, res, &why), 0);
    ck_assert_ptr_null(why);
    ck_assert_uint_le(b.len, cfg.max_document);
    ck_assert_ptr_null(memchr(b.data, '\n', b.len));
    json_error_t err;
    json_t *j = json_loadb(b.data, b.len, 0, &err);
    ck_assert_msg(j != NULL, "not JSON: %s: %s", err.text, b.data);
    if (raw != NULL) {
        buf_reset(raw);
        buf_append(raw, b.data, b.len);
    }
    buf_free(&b);
    return j;
}

static const char *sget(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }
static json_t *get(json_t *o, const char *path)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", path);
    json_t *v = o;
    for (char *save = NULL, *k = strtok_r(tmp, "/", &save); k && v; k = strtok_r(NULL, "/", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(k)) : json_object_get(v, k);
    return v;
}
static const char *pstr(json_t *o, const char *path) { return json_string_value(get(o, path)); }

static int is_hex16(const char *s)
{
    if (s == NULL || strlen(s) != 16)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

/* ---- configuration --------------------------------------------------------- */

START_TEST(config_from_env)
{
    ck_assert_str_eq(cfg.url, "http://127.0.0.1:9/TraceSegments");
    ck_assert_str_eq(cfg.region, "eu-west-1");
    ck_assert_int_eq(cfg.daemon, 0);
    ck_assert_int_eq(cfg.sock, -1);
    ck_assert_uint_eq(cfg.max_document, XRAY_MAX_DOCUMENT);
    ck_assert_str_eq(expcfg_headers_get(&cfg.headers, "Content-Type"), "application/json");
    ck_assert_uint_eq(cfg.n_annotations, 5);
    ck_assert_str_eq(cfg.annotations[0], "http.route");

    xray_config c2;
    char err[256];
    setenv("CRUDDUR_XRAY_ANNOTATIONS", " app.tenant , ,http.route,", 1);
    unsetenv("AWS_ENDPOINT_URL_XRAY");
    ck_assert_int_eq(xray_config_from_env(&c2, 0, NULL, err, sizeof err), 0);
    ck_assert_uint_eq(c2.n_annotations, 2);
    ck_assert_str_eq(c2.annotations[0], "app.tenant");
    ck_assert_str_eq(c2.annotations[1], "http.route");
    ck_assert_str_eq(c2.url, "https://xray.eu-west-1.amazonaws.com/TraceSegments");
    xray_config_free(&c2);

    setenv("CRUDDUR_XRAY_ANNOTATIONS", "", 1);
    ck_assert_int_eq(xray_config_from_env(&c2, 0, NULL, err, sizeof err), 0);
    ck_assert_uint_eq(c2.n_annotations, 0);
    xray_config_free(&c2);

    setenv("AWS_ENDPOINT_URL_XRAY", "ftp://example.com", 1);
    ck_assert_int_eq(xray_config_from_env(&c2, 0, NULL, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "http"));
}
END_TEST

START_TEST(target_init_api)
{
    export_target t;
    memset(&t, 0, sizeof t);
    xray_target_init(&t, &cfg);
    ck_assert_int_eq(t.stream, SPOOL_STREAM_SPAN);
    ck_assert_str_eq(t.url, cfg.url);
    ck_assert_uint_eq(t.per_request, 50);
    ck_assert_uint_gt(t.max_bytes, 0);
    ck_assert_ptr_nonnull(t.encode);
    ck_assert_ptr_nonnull(t.build);
    ck_assert_ptr_nonnull(t.classify_items);
    ck_assert_ptr_nonnull(t.authorize);
    ck_assert_ptr_null(t.send);
    ck_assert_int_eq(t.gzip, 0);
}
END_TEST

START_TEST(authorize_keeps_headers_current)
{
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLETOKEN", 1);
    xray_config c2;
    char err[256];
    ck_assert_int_eq(xray_config_from_env(&c2, 0, NULL, err, sizeof err), 0);
    export_target t;
    memset(&t, 0, sizeof t);
    xray_target_init(&t, &c2);
    ck_assert_int_eq(curl_global_init(CURL_GLOBAL_DEFAULT), 0);
    httpc *h;
    ck_assert_int_eq(httpc_new(&h, 1000, 1000, NULL), 0);
    ck_assert_int_eq(t.authorize(t.ctx, h, 0, err, sizeof err), EXPORT_EXIT_OK);
    /* The list may have moved when the token header was added. */
    ck_assert_ptr_eq(t.headers, (const char *const *)c2.headers.v);
    int token = 0, type = 0;
    for (size_t i = 0; t.headers[i] != NULL; i++) {
        token += strncasecmp(t.headers[i], "X-Amz-Security-Token:", 21) == 0;
        type += strcmp(t.headers[i], "Content-Type: application/json") == 0;
    }
    ck_assert_int_eq(token, 1);
    ck_assert_int_eq(type, 1);
    httpc_free(h);
    curl_global_cleanup();
    xray_config_free(&c2);
}
END_TEST

/* ---- ids, keys, names ------------------------------------------------------- */

START_TEST(trace_id_conversion)
{
    char out[36];
    ck_assert_int_eq(xray_trace_id(TRACE, out), 0);
    ck_assert_str_eq(out, "1-5759e988-bd862e3fe1be46a994272793");
    ck_assert_int_eq(xray_trace_id("5759E988BD862E3FE1BE46A994272793", out), 0);
    ck_assert_str_eq(out, "1-5759e988-bd862e3fe1be46a994272793");
    ck_assert_int_eq(xray_trace_id("00000000000000000000000000000000", out), -1);
    ck_assert_int_eq(xray_trace_id("5759e988bd862e3fe1be46a99427279", out), -1);
    ck_assert_int_eq(xray_trace_id("5759e988bd862e3fe1be46a99427279x", out), -1);
    ck_assert_int_eq(xray_trace_id("", out), -1);

    /* a span with a bad id never reaches the service */
    spool_span s = internal_span();
    strcpy(s.trace_id, "nothex");
    buf_t b = BUF_INIT;
    const char *why = NULL;
    ck_assert_int_eq(xray_segment(&b, &cfg, &s, RES, &why), 1);
    ck_assert_ptr_nonnull(strstr(why, "trace id"));
    s = internal_span();
    strcpy(s.span_id, "0000000000000000");
    ck_assert_int_eq(xray_segment(&b, &cfg, &s, RES, &why), 1);
    ck_assert_ptr_nonnull(strstr(why, "span id"));
    s = internal_span();
    s.attributes_json = "[1,2]";
    ck_assert_int_eq(xray_segment(&b, &cfg, &s, RES, &why), 1);
    ck_assert_str_eq(why, "attributes are not readable");
    ck_assert_uint_eq(b.len, 0);
    buf_free(&b);
}
END_TEST

START_TEST(annotation_keys)
{
    char k[600];
    ck_assert_uint_eq(xray_annotation_key("http.route", k, sizeof k), 10);
    ck_assert_str_eq(k, "http_route");
    xray_annotation_key("http.response.status_code", k, sizeof k);
    ck_assert_str_eq(k, "http_response_status_code");
    xray_annotation_key("a-b c/d:e", k, sizeof k);
    ck_assert_str_eq(k, "a_b_c_d_e");
    xray_annotation_key("Tenant_ID9", k, sizeof k);
    ck_assert_str_eq(k, "Tenant_ID9");
    /* one underscore per character, not per byte */
    xray_annotation_key("\xc3\xbc" "ber.x", k, sizeof k);
    ck_assert_str_eq(k, "_ber_x");
    ck_assert_uint_eq(xray_annotation_key("...", k, sizeof k), 0);
    ck_assert_str_eq(k, "");
    char longname[700];
    memset(longname, 'a', 699);
    longname[699] = '\0';
    ck_assert_uint_eq(xray_annotation_key(longname, k, sizeof k), 500);
    ck_assert_uint_eq(strlen(k), 500);
    char small[8];
    ck_assert_uint_eq(xray_annotation_key("http.route", small, sizeof small), 7);
    ck_assert_str_eq(small, "http_ro");
}
END_TEST

START_TEST(names_are_made_valid)
{
    spool_span s = internal_span();
    s.name = "GET /api/{handle}?x=<y> \xe2\x80\x94 caf\xc3\xa9 \xe2\x9c\x93";
    json_t *d = doc_of(&s, RES, NULL);
    ck_assert_str_eq(sget(d, "name"), "GET /api/handlex=y  caf\xc3\xa9");
    json_decref(d);

    /* letters outside ASCII stay; punctuation of other scripts goes */
    s.name = "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\xd8\x8c \xe6\x97\xa5\xe3\x80\x82";
    d = doc_of(&s, RES, NULL);
    ck_assert_str_eq(sget(d, "name"), "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xe6\x97\xa5");
    json_decref(d);

    s.name = "{}[]!?";
    d = doc_of(&s, RES, NULL);
    ck_assert_str_eq(sget(d, "name"), "span");
    json_decref(d);

    /* a segment is named after the service, at most 200 characters */
    char res[600], svc[400];
    memset(svc, 'x', 300);
    svc[300] = '\0';
    snprintf(res, sizeof res, "{\"service.name\":\"%s\"}", svc);
    spool_span sv = server_span();
    d = doc_of(&sv, res, NULL);
    ck_assert_uint_eq(strlen(sget(d, "name")), 200);
    json_decref(d);
    d = doc_of(&sv, NULL, NULL);
    ck_assert_str_eq(sget(d, "name"), XRAY_DEFAULT_SERVICE);
    ck_assert_ptr_null(json_object_get(d, "origin"));
    json_decref(d);
}
END_TEST

/* ---- the documents of one trace ----------------------------------------------- */

START_TEST(server_span_is_a_segment)
{
    spool_span s = server_span();
    buf_t raw = BUF_INIT;
    json_t *d = doc_of(&s, RES, &raw);
    ck_assert_str_eq(sget(d, "trace_id"), "1-5759e988-bd862e3fe1be46a994272793");
    ck_assert_str_eq(sget(d, "id"), SERVER_ID);
    ck_assert_str_eq(sget(d, "parent_id"), REMOTE_PARENT);
    ck_assert_str_eq(sget(d, "name"), "cruddur-api");
    ck_assert_ptr_null(json_object_get(d, "type"));
    ck_assert_ptr_null(json_object_get(d, "namespace"));
    /* epoch seconds with exactly six decimals (microseconds) */
    ck_assert_ptr_nonnull(strstr(raw.data, "\"start_time\":1700000000.123456,"));
    ck_assert_ptr_nonnull(strstr(raw.data, "\"end_time\":1700000000.223456,"));
    ck_assert(json_is_real(json_object_get(d, "start_time")));
    ck_assert(json_is_false(json_object_get(d, "in_progress")));
    ck_assert_str_eq(sget(d, "origin"), "AWS::EC2::Instance");
    ck_assert_str_eq(sget(d, "user"), "andrewbrown");
    ck_assert_str_eq(pstr(d, "service/version"), "0.1.0");

    ck_assert_str_eq(pstr(d, "http/request/method"), "GET");
    ck_assert_str_eq(pstr(d, "http/request/url"), "http://localhost:4567/api/activities/home?limit=5");
    ck_assert_str_eq(pstr(d, "http/request/user_agent"), "curl/8.5.0");
    ck_assert_str_eq(pstr(d, "http/request/client_ip"), "10.0.0.7");
    ck_assert_ptr_null(get(d, "http/request/x_forwarded_for"));
    ck_assert_int_eq(json_integer_value(get(d, "http/response/status")), 500);
    ck_assert_int_eq(json_integer_value(get(d, "http/response/content_length")), 42);

    ck_assert(json_is_true(json_object_get(d, "fault")));
    ck_assert_ptr_null(json_object_get(d, "error"));
    ck_assert_ptr_null(json_object_get(d, "throttle"));

    json_t *exc = get(d, "cause/exceptions");
    ck_assert_uint_eq(json_array_size(exc), 1);
    json_t *e0 = json_array_get(exc, 0);
    ck_assert(is_hex16(sget(e0, "id")));
    ck_assert_str_eq(sget(e0, "type"), "AppDbBusy");
    ck_assert_str_eq(sget(e0, "message"), "database is locked");
    ck_assert_ptr_null(json_object_get(e0, "remote"));
    ck_assert_uint_eq(json_array_size(json_object_get(e0, "stack")), 3);
    ck_assert_str_eq(pstr(e0, "stack/0/path"), "./cruddur-api");
    ck_assert_str_eq(pstr(e0, "stack/0/label"), "app_db_exec");
    ck_assert_str_eq(pstr(e0, "stack/1/path"), "/lib/x86_64-linux-gnu/libc.so.6");
    ck_assert_ptr_null(get(e0, "stack/1/label"));
    ck_assert_str_eq(pstr(e0, "stack/2/label"), "main");
    ck_assert_ptr_null(json_object_get(e0, "truncated"));

    ck_assert_str_eq(pstr(d, "aws/xray/sdk"), "cruddur-export");
    ck_assert_ptr_nonnull(pstr(d, "aws/xray/sdk_version"));

    json_t *ann = json_object_get(d, "annotations");
    ck_assert_uint_eq(json_object_size(ann), 5);
    ck_assert_str_eq(sget(ann, "http_route"), "/api/activities/home");
    ck_assert_str_eq(sget(ann, "http_request_method"), "GET");
    ck_assert_int_eq(json_integer_value(json_object_get(ann, "http_response_status_code")), 500);
    ck_assert_str_eq(sget(ann, "enduser_id"), "andrewbrown");
    ck_assert_str_eq(sget(ann, "error_type"), "500");

    json_t *md = get(d, "metadata/default");
    ck_assert_int_eq(json_integer_value(json_object_get(md, "client.port")), 51234);
    ck_assert_str_eq(sget(md, "network.protocol.version"), "1.1");
    ck_assert_str_eq(sget(md, "otel.resource.host.name"), "web1");
    ck_assert_int_eq(json_integer_value(json_object_get(md, "otel.resource.process.pid")), 4242);
    /* what became annotations or the http block is not repeated */
    ck_assert_ptr_null(json_object_get(md, "http.route"));
    ck_assert_ptr_null(json_object_get(md, "url.path"));
    ck_assert_ptr_null(json_object_get(md, "http.response.status_code"));
    ck_assert_ptr_null(json_object_get(md, "enduser.id"));
    ck_assert_ptr_null(json_object_get(d, "sql"));
    json_decref(d);
    buf_free(&raw);
}
END_TEST

START_TEST(internal_span_is_a_subsegment)
{
    spool_span s = internal_span();
    json_t *d = doc_of(&s, RES, NULL);
    ck_assert_str_eq(sget(d, "type"), "subsegment");
    ck_assert_str_eq(sget(d, "trace_id"), "1-5759e988-bd862e3fe1be46a994272793");
    ck_assert_str_eq(sget(d, "id"), INTERNAL_ID);
    ck_assert_str_eq(sget(d, "parent_id"), SERVER_ID);
    ck_assert_str_eq(sget(d, "name"), "activities.home");
    ck_assert(json_is_false(json_object_get(d, "in_progress")));
    ck_assert_ptr_null(json_object_get(d, "namespace"));
    ck_assert_ptr_null(json_object_get(d, "http"));
    ck_assert_ptr_null(json_object_get(d, "aws"));
    ck_assert_ptr_null(json_object_get(d, "origin"));
    ck_assert_ptr_null(json_object_get(d, "fault"));
    ck_assert_ptr_null(json_object_get(d, "cause"));
    ck_assert_ptr_null(json_object_get(d, "annotations"));
    json_t *md = get(d, "metadata/default");
    ck_assert_int_eq(json_integer_value(json_object_get(md, "app.result_length")), 3);
    ck_assert_str_eq(pstr(md, "app.user_ids/1"), "b");
    ck_assert_ptr_null(json_object_get(md, "otel.resource.host.name"));
    json_decref(d);

    /* a span without a parent stands alone as a segment */
    s.parent_span_id[0] = '\0';
    d = doc_of(&s, RES, NULL);
    ck_assert_ptr_null(json_object_get(d, "type"));
    ck_assert_ptr_null(json_object_get(d, "parent_id"));
    ck_assert_str_eq(sget(d, "name"), "cruddur-api");
    json_decref(d);
}
END_TEST

START_TEST(client_sqlite_span_is_a_remote_subsegment)
{
    spool_span s = client_span();
    json_t *d = doc_of(&s, RES, NULL);
    ck_assert_str_eq(sget(d, "type"), "subsegment");
    ck_assert_str_eq(sget(d, "parent_id"), INTERNAL_ID);
    ck_assert_str_eq(sget(d, "name"), "SELECT activities");
    ck_assert_str_eq(sget(d, "namespace"), "remote");
    ck_assert_str_eq(pstr(d, "sql/database_type"), "sqlite");
    ck_assert_str_eq(pstr(d, "sql/sanitized_query"),
                     "SELECT uuid, message FROM activities WHERE expires_at > ?");
    ck_assert(json_is_true(json_object_get(d, "fault")));
    ck_assert_ptr_null(json_object_get(d, "error"));
    json_t *e0 = get(d, "cause/exceptions/0");
    ck_assert(is_hex16(sget(e0, "id")));
    ck_assert_str_eq(sget(e0, "message"), "database is locked");
    ck_assert_str_eq(sget(e0, "type"), "database is locked");
    ck_assert(json_is_true(json_object_get(e0, "remote")));
    ck_assert_ptr_null(json_object_get(d, "http"));
    ck_assert_str_eq(pstr(d, "annotations/error_type"), "database is locked");
    json_t *md = get(d, "metadata/default");
    ck_assert_str_eq(sget(md, "db.operation.name"), "SELECT");
    ck_assert_str_eq(sget(md, "db.collection.name"), "activities");
    ck_assert_str_eq(sget(md, "db.response.status_code"), "5");
    ck_assert_ptr_null(json_object_get(md, "db.query.text"));
    ck_assert_ptr_null(json_object_get(md, "db.system.name"));
    ck_assert_ptr_null(json_object_get(md, "error.type"));
    /* sub-microsecond digits are dropped, not rounded into another second */
    buf_t raw = BUF_INIT;
    json_decref(doc_of(&s, RES, &raw));
    ck_assert_ptr_nonnull(strstr(raw.data, "\"end_time\":1700000000.150000,"));
    buf_free(&raw);
    json_decref(d);
}
END_TEST

START_TEST(exception_ids_are_stable_and_distinct)
{
    spool_span s = server_span();
    s.events_json = "[{\"name\":\"exception\",\"time_ns\":1,\"attributes\":{\"exception.type\":\"A\"}},"
                    "{\"name\":\"log\",\"time_ns\":2,\"attributes\":{}},"
                    "{\"name\":\"exception\",\"time_ns\":3,\"attributes\":{\"exception.type\":\"B\","
                    "\"exception.message\":\"b\"}}]";
    json_t *d1 = doc_of(&s, RES, NULL), *d2 = doc_of(&s, RES, NULL);
    json_t *x = get(d1, "cause/exceptions");
    ck_assert_uint_eq(json_array_size(x), 2);
    ck_assert_str_eq(pstr(x, "0/type"), "A");
    ck_assert_str_eq(pstr(x, "1/type"), "B");
    ck_assert_str_ne(pstr(x, "0/id"), pstr(x, "1/id"));
    ck_assert_str_eq(pstr(x, "0/id"), pstr(d2, "cause/exceptions/0/id"));
    json_decref(d1);
    json_decref(d2);
}
END_TEST

START_TEST(http_status_sets_error_throttle_fault)
{
    spool_span s = server_span();
    s.status_code = SPOOL_STATUS_UNSET;
    s.events_json = "[]";
    s.attributes_json = "{\"http.request.method\":\"POST\",\"http.response.status_code\":404}";
    json_t *d = doc_of(&s, RES, NULL);
    ck_assert(json_is_true(json_object_get(d, "error")));
    ck_assert_ptr_null(json_object_get(d, "fault"));
    ck_assert_ptr_null(json_object_get(d, "throttle"));
    ck_assert_ptr_null(json_object_get(d, "cause"));
    ck_assert_str_eq(pstr(d, "http/request/method"), "POST");
    ck_assert_ptr_null(get(d, "http/request/url"));
    json_decref(d);

    s.attributes_json = "{\"http.request.method\":\"POST\",\"http.response.status_code\":429}";
    d = doc_of(&s, RES, NULL);
    ck_assert(json_is_true(json_object_get(d, "error")));
    ck_assert(json_is_true(json_object_get(d, "throttle")));
    ck_assert_ptr_null(json_object_get(d, "fault"));
    json_decref(d);

    s.attributes_json = "{\"http.request.method\":\"GET\",\"http.response.status_code\":200,"
                        "\"url.scheme\":\"https\",\"server.address\":\"api.example.com\","
                        "\"server.port\":443,\"url.path\":\"/x\","
                        "\"http.request.header.x-forwarded-for\":[\"203.0.113.9, 10.0.0.1\"],"
                        "\"client.address\":\"10.0.0.1\"}";
    d = doc_of(&s, RES, NULL);
    ck_assert_ptr_null(json_object_get(d, "error"));
    ck_assert_ptr_null(json_object_get(d, "fault"));
    ck_assert_str_eq(pstr(d, "http/request/url"), "https://api.example.com/x");
    ck_assert_str_eq(pstr(d, "http/request/client_ip"), "203.0.113.9");
    ck_assert(json_is_true(get(d, "http/request/x_forwarded_for")));
    json_decref(d);

    /* request strings stay within 250 characters */
    char attrs[2000], ua[700];
    memset(ua, 'u', 600);
    ua[600] = '\0';
    snprintf(attrs, sizeof attrs, "{\"http.request.method\":\"GET\",\"user_agent.original\":\"%s\","
             "\"url.full\":\"https://example.com/%s\"}", ua, ua);
    s.attributes_json = attrs;
    d = doc_of(&s, RES, NULL);
    ck_assert_uint_eq(strlen(pstr(d, "http/request/user_agent")), 250);
    ck_assert_uint_eq(strlen(pstr(d, "http/request/url")), 250);
    json_decref(d);
}
END_TEST

START_TEST(annotation_values_follow_the_rules)
{
    setenv("CRUDDUR_XRAY_ANNOTATIONS", "app.tenant,app.n,app.ok,app.ratio,app.list,app-tenant,missing", 1);
    xray_config c2;
    char err[256];
    ck_assert_int_eq(xray_config_from_env(&c2, 0, NULL, err, sizeof err), 0);
    char big[3000];
    memset(big, 'v', 2000);
    big[2000] = '\0';
    char attrs[3500];
    snprintf(attrs, sizeof attrs,
             "{\"app.tenant\":\"%s\",\"app.n\":7,\"app.ok\":true,\"app.ratio\":0.5,"
             "\"app.list\":[1,2],\"app-tenant\":\"dup\"}", big);
    spool_span s = internal_span();
    s.attributes_json = attrs;
    buf_t b = BUF_INIT;
    const char *why;
    ck_assert_int_eq(xray_segment(&b, &c2, &s, RES, &why), 0);
    json_t *d = json_loads(b.data, 0, NULL);
    ck_assert_ptr_nonnull(d);
    json_t *ann = json_object_get(d, "annotations");
    ck_assert_uint_eq(strlen(sget(ann, "app_tenant")), 1000);
    ck_assert_int_eq(json_integer_value(json_object_get(ann, "app_n")), 7);
    ck_assert(json_is_true(json_object_get(ann, "app_ok")));
    ck_assert(json_real_value(json_object_get(ann, "app_ratio")) == 0.5);
    /* arrays cannot be annotations; a key that collides keeps the first */
    ck_assert_ptr_null(json_object_get(ann, "app_list"));
    ck_assert_uint_eq(json_object_size(ann), 4);
    ck_assert_ptr_nonnull(get(d, "metadata/default/app.list"));
    ck_assert_ptr_null(get(d, "metadata/default/app.tenant"));
    json_decref(d);
    buf_free(&b);
    xray_config_free(&c2);
}
END_TEST

/* ---- reading the spool's JSON --------------------------------------------------- */

/* The document of s (attributes attrs), or NULL when refused (*why). */
static json_t *doc_with(const char *attrs, const char *events, const char **why)
{
    spool_span s = internal_span();
    s.attributes_json = attrs;
    s.events_json = events;
    buf_t b = BUF_INIT;
    *why = NULL;
    int rc = xray_segment(&b, &cfg, &s, RES, why);
    ck_assert_int_ge(rc, 0);
    json_t *d = rc == 0 ? json_loadb(b.data, b.len, 0, NULL) : NULL;
    ck_assert(rc != 0 || d != NULL);
    ck_assert(rc == 0 || b.len == 0);
    buf_free(&b);
    return d;
}

START_TEST(attributes_are_read_as_jansson_reads_them)
{
    const char *why;
    /* escapes are decoded, and written again as JSON needs them */
    json_t *d = doc_with("{\"app.s\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" a\\\\b\\/c\\n\\t\\u0001\","
                         " \"k\\u00e9y\" : [ 1 , -0 , 2.50 , 1e2 , true , null , {\"x\":\"y\"} ] }",
                         "[ ]", &why);
    ck_assert_ptr_nonnull(d);
    json_t *md = get(d, "metadata/default");
    ck_assert_str_eq(sget(md, "app.s"), "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" a\\b/c\n\t\x01");
    json_t *arr = json_object_get(md, "k\xc3\xa9y");
    ck_assert_uint_eq(json_array_size(arr), 7);
    ck_assert(json_is_integer(json_array_get(arr, 1)));
    ck_assert_int_eq(json_integer_value(json_array_get(arr, 1)), 0);
    ck_assert(json_real_value(json_array_get(arr, 2)) == 2.5);
    ck_assert(json_real_value(json_array_get(arr, 3)) == 100.0);
    ck_assert_str_eq(pstr(md, "k\xc3\xa9y/6/x"), "y");
    json_decref(d);

    /* a key given twice: the last value, at the first place (jansson's rule) */
    d = doc_with("{\"app.a\":1,\"app.b\":2,\"app.a\":\"last\"}", "[]", &why);
    md = get(d, "metadata/default");
    ck_assert_str_eq(sget(md, "app.a"), "last");
    ck_assert_uint_eq(json_object_size(md), 2);
    ck_assert_str_eq(json_object_iter_key(json_object_iter(md)), "app.a");
    json_decref(d);

    /* an integer beyond 64 bits: every number is read as a real, as before */
    spool_span s = server_span();
    s.attributes_json = "{\"http.request.method\":\"GET\",\"http.response.status_code\":503,"
                        "\"app.big\":123456789012345678901234567890}";
    d = doc_of(&s, RES, NULL);
    ck_assert_int_eq(json_integer_value(get(d, "http/response/status")), 503);
    ck_assert(json_is_true(json_object_get(d, "fault")));
    ck_assert(json_is_real(get(d, "metadata/default/app.big")));
    json_decref(d);

    /* a container nested 8 deep in a metadata value becomes null */
    d = doc_with("{\"app.deep\":[[[[[[[[[1]]]]]]]]]}", "[]", &why);
    ck_assert(json_is_null(get(d, "metadata/default/app.deep/0/0/0/0/0/0/0/0")));
    json_decref(d);

    /* what jansson refuses is refused, whichever the reason */
    static const char *const bad[] = {
        "{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\xff\"}", "{\"a\":\"x\x01\"}",
        "{\"a\":01}", "{\"a\":1.}", "{\"a\":1e999}", "{\"a\":tru}", "{\"a\":1} x", "{\"a\":1,}",
        "{\"a\" 1}", "{", "", "[1]", "\"x\"", "{\"a\":\"\\x\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(doc_with(bad[i], "[]", &why) == NULL, "%s", bad[i]);
        ck_assert_str_eq(why, "attributes are not readable");
    }
    ck_assert_ptr_null(doc_with("{}", "{\"name\":\"exception\"}", &why));
    ck_assert_str_eq(why, "events are not readable");
    ck_assert_ptr_null(doc_with("{}", "[1,", &why));
    ck_assert_str_eq(why, "events are not readable");

    /* none at all: an empty object and no events */
    d = doc_with(NULL, NULL, &why);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_null(json_object_get(d, "metadata"));
    json_decref(d);
}
END_TEST

START_TEST(each_segment_carries_its_own_resource)
{
    /* more resources than are kept read, in turn, twice over */
    char res[12][200];
    for (int i = 0; i < 12; i++)
        snprintf(res[i], sizeof res[i], "{\"service.name\":\"svc-%d\",\"service.version\":\"1.%d\","
                                        "\"process.pid\":%d%s}", i, i, 1000 + i,
                 i % 3 == 0 ? ",\"cloud.platform\":\"aws_ecs\"" : "");
    spool_span s = server_span();
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 12; i++) {
            json_t *d = doc_of(&s, res[i], NULL);
            char want[32];
            snprintf(want, sizeof want, "svc-%d", i);
            ck_assert_str_eq(sget(d, "name"), want);
            snprintf(want, sizeof want, "1.%d", i);
            ck_assert_str_eq(pstr(d, "service/version"), want);
            ck_assert_int_eq(json_integer_value(get(d, "metadata/default/otel.resource.process.pid")),
                             1000 + i);
            if (i % 3 == 0)
                ck_assert_str_eq(sget(d, "origin"), "AWS::ECS::Container");
            else
                ck_assert_ptr_null(json_object_get(d, "origin"));
            json_decref(d);
        }
    }
    /* a resource that is not JSON, or not an object, is no resource */
    static const char *const odd[] = {"{\"service.name\":", "[\"service.name\"]", "{}"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        json_t *d = doc_of(&s, odd[i], NULL);
        ck_assert_str_eq(sget(d, "name"), XRAY_DEFAULT_SERVICE);
        ck_assert_ptr_null(json_object_get(d, "service"));
        ck_assert_ptr_null(get(d, "metadata/default/otel.resource.service.name"));
        json_decref(d);
    }
    /* tighter limits cut the resource's strings too */
    char big[700];
    snprintf(big, sizeof big, "{\"service.name\":\"svc\",\"host.name\":\"%0600d\"}", 7);
    xray_config small = cfg;
    small.max_document = 900;
    buf_t b = BUF_INIT;
    const char *why;
    ck_assert_int_eq(xray_segment(&b, &small, &s, big, &why), 0);
    json_t *d = json_loadb(b.data, b.len, 0, NULL);
    const char *host = pstr(d, "metadata/default/otel.resource.host.name");
    ck_assert(host == NULL || strlen(host) < 600);
    json_decref(d);
    buf_free(&b);
}
END_TEST

START_TEST(a_config_without_scratch_gives_the_same_documents)
{
    xray_config bare = cfg;
    bare.scratch = NULL;
    spool_span spans[3] = {server_span(), internal_span(), client_span()};
    for (int i = 0; i < 3; i++) {
        buf_t a = BUF_INIT, b = BUF_INIT;
        const char *why;
        ck_assert_int_eq(xray_segment(&a, &cfg, &spans[i], RES, &why), 0);
        ck_assert_int_eq(xray_segment(&b, &bare, &spans[i], RES, &why), 0);
        ck_assert_uint_eq(a.len, b.len);
        ck_assert_int_eq(memcmp(a.data, b.data, a.len), 0);
        buf_free(&a);
        buf_free(&b);
    }
}
END_TEST

/* ---- size -------------------------------------------------------------------- */

START_TEST(large_documents_are_trimmed_to_64k)
{
    /* 40 attributes of 4000 bytes and a 200-frame stack: about 190 kB */
    buf_t a = BUF_INIT, st = BUF_INIT, ev = BUF_INIT;
    buf_puts(&a, "{\"http.route\":\"/api/x\"");
    for (int i = 0; i < 40; i++) {
        buf_printf(&a, ",\"app.blob%d\":\"", i);
        for (int k = 0; k < 4000; k++)
            buf_putc(&a, (char)('a' + k % 26));
        buf_putc(&a, '"');
    }
    buf_putc(&a, '}');
    for (int i = 0; i < 200; i++)
        buf_printf(&st, "%s./cruddur-api(function_number_%d+0x10) [0x%x]", i ? "\\n" : "", i, i);
    buf_printf(&ev, "[{\"name\":\"exception\",\"time_ns\":1,\"attributes\":{\"exception.type\":\"Big\","
                    "\"exception.stacktrace\":\"%s\"}}]", st.data);
    spool_span s = server_span();
    s.attributes_json = a.data;
    s.events_json = ev.data;
    buf_t raw = BUF_INIT;
    json_t *d = doc_of(&s, RES, &raw);
    ck_assert_uint_le(raw.len, XRAY_MAX_DOCUMENT);
    ck_assert_uint_gt(raw.len, 8000);
    /* ids and times are never touched */
    ck_assert_str_eq(sget(d, "id"), SERVER_ID);
    ck_assert_str_eq(sget(d, "parent_id"), REMOTE_PARENT);
    ck_assert_str_eq(sget(d, "trace_id"), "1-5759e988-bd862e3fe1be46a994272793");
    ck_assert_ptr_nonnull(strstr(raw.data, "\"start_time\":1700000000.123456,"));
    ck_assert_str_eq(pstr(d, "annotations/http_route"), "/api/x");
    json_t *md = get(d, "metadata/default");
    ck_assert_ptr_nonnull(md);
    ck_assert_uint_le(strlen(sget(md, "app.blob0")), 1024);
    json_t *e0 = get(d, "cause/exceptions/0");
    size_t frames = json_array_size(json_object_get(e0, "stack"));
    ck_assert_uint_lt(frames, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(e0, "truncated")), (json_int_t)(200 - frames));
    json_decref(d);

    /* what cannot fit even trimmed is refused, and dead-lettered by encode */
    xray_config small = cfg;
    small.max_document = 300;
    buf_t b = BUF_INIT;
    const char *why = NULL;
    ck_assert_int_eq(xray_segment(&b, &small, &s, RES, &why), 1);
    ck_assert_ptr_nonnull(strstr(why, "larger"));
    ck_assert_uint_eq(b.len, 0);
    export_target t;
    memset(&t, 0, sizeof t);
    xray_target_init(&t, &small);
    export_batch batch;
    export_batch_init(&batch, 10, 0);
    spool_origin o = {7, 1, RES, "cruddur", "0.1.0"};
    ck_assert_int_eq(t.encode(t.ctx, &batch, &s, &o), 0);
    ck_assert_uint_eq(batch.n, 1);
    ck_assert_int_eq(batch.items[0].skip, 1);
    ck_assert_int_eq(batch.items[0].id, 7);
    ck_assert_ptr_nonnull(strstr(export_item_reason(&batch, &batch.items[0]), "larger"));
    export_batch_free(&batch);
    buf_free(&b);
    buf_free(&raw);
    buf_free(&a);
    buf_free(&st);
    buf_free(&ev);
}
END_TEST

/* ---- requests and answers -------------------------------------------------------- */

/* A batch of the three spans of the trace, encoded by the target. */
static void encode_trace(export_target *t, export_batch *b)
{
    spool_span s[3] = {server_span(), internal_span(), client_span()};
    export_batch_init(b, 100, 0);
    for (int i = 0; i < 3; i++) {
        spool_origin o = {100 + i, 1, RES, "cruddur", "0.1.0"};
        ck_assert_int_eq(t->encode(t->ctx, b, &s[i], &o), 0);
    }
    ck_assert_uint_eq(b->n, 3);
    ck_assert_str_eq(b->items[0].key, SERVER_ID);
    ck_assert_str_eq(b->items[2].key, CLIENT_ID);
}

START_TEST(request_body_is_put_trace_segments)
{
    export_target t;
    memset(&t, 0, sizeof t);
    xray_target_init(&t, &cfg);
    export_batch b;
    encode_trace(&t, &b);
    buf_t body = BUF_INIT;
    ck_assert_int_eq(t.build(t.ctx, &b, 0, 3, &body), 0);
    json_t *j = json_loads(body.data, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_uint_eq(json_object_size(j), 1);
    json_t *docs = json_object_get(j, "TraceSegmentDocuments");
    ck_assert_uint_eq(json_array_size(docs), 3);
    static const char *const ids[] = {SERVER_ID, INTERNAL_ID, CLIENT_ID};
    for (size_t i = 0; i < 3; i++) {
        const char *text = json_string_value(json_array_get(docs, i));
        ck_assert_ptr_nonnull(text);
        json_t *d = json_loads(text, 0, NULL);
        ck_assert_ptr_nonnull(d);
        ck_assert_str_eq(sget(d, "id"), ids[i]);
        json_decref(d);
    }
    json_decref(j);

    /* a document with quotes, backslashes and escapes of its own comes
     * back byte for byte from the body */
    export_batch b2;
    export_batch_init(&b2, 10, 0);
    spool_span s = internal_span();
    s.name = "C:\\dir \"quoted\"";
    s.attributes_json = "{\"app.q\":\"say \\\"hi\\\" \\\\ \\n \\u0007 caf\xc3\xa9\"}";
    spool_origin o = {1, 1, RES, "cruddur", "0.1.0"};
    ck_assert_int_eq(t.encode(t.ctx, &b2, &s, &o), 0);
    buf_reset(&body);
    ck_assert_int_eq(t.build(t.ctx, &b2, 0, 1, &body), 0);
    j = json_loads(body.data, 0, NULL);
    ck_assert_ptr_nonnull(j);
    json_t *doc = json_array_get(json_object_get(j, "TraceSegmentDocuments"), 0);
    ck_assert_uint_eq(json_string_length(doc), b2.items[0].len);
    ck_assert_int_eq(memcmp(json_string_value(doc), b2.arena.data + b2.items[0].off, b2.items[0].len), 0);
    json_t *d = json_loads(json_string_value(doc), 0, NULL);
    ck_assert_str_eq(sget(d, "name"), "C:\\dir quoted");
    ck_assert_str_eq(pstr(d, "metadata/default/app.q"), "say \"hi\" \\ \n \a caf\xc3\xa9");
    json_decref(d);
    json_decref(j);
    export_batch_free(&b2);

    /* items done or skipped are left out */
    b.items[1].done = 1;
    buf_reset(&body);
    ck_assert_int_eq(t.build(t.ctx, &b, 0, 3, &body), 0);
    j = json_loads(body.data, 0, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "TraceSegmentDocuments")), 2);
    json_decref(j);
    buf_free(&body);
    export_batch_free(&b);
}
END_TEST

static void answer(httpc_response *r, long status, const char *type, const char *body)
{
    httpc_response_init(r);
    r->status = status;
    if (type != NULL)
        snprintf(r->amzn_error_type, sizeof r->amzn_error_type, "%s", type);
    if (body != NULL)
        buf_puts(&r->body, body);
}

START_TEST(unprocessed_segments_retry_or_refuse)
{
    export_target t;
    memset(&t, 0, sizeof t);
    xray_target_init(&t, &cfg);
    export_batch b;
    encode_trace(&t, &b);
    httpc_response r;
    answer(&r, 200, NULL,
           "{\"UnprocessedTraceSegments\":["
           "{\"Id\":\"" INTERNAL_ID "\",\"ErrorCode\":\"ThrottledException\",\"Message\":\"Rate exceeded\"},"
           "{\"Id\":\"" CLIENT_ID "\",\"ErrorCode\":\"InvalidSegment\","
           "\"Message\":\"Trace Size Exceeded.\"},"
           "{\"Id\":\"ffffffffffffffff\",\"ErrorCode\":\"InternalFailure\"}]}");
    export_answer a;
    memset(&a, 0, sizeof a);
    t.classify_items(t.ctx, &r, &b, 0, 3, &a);
    ck_assert_int_eq(a.verdict, EXPORT_OK);
    /* the server segment was taken */
    ck_assert(export_item_live(&b, 0));
    ck_assert_int_eq(b.items[0].retry, 0);
    /* throttled: sent again */
    ck_assert(export_item_live(&b, 1));
    ck_assert_int_eq(b.items[1].retry, 1);
    ck_assert_str_eq(export_item_reason(&b, &b.items[1]), "ThrottledException: Rate exceeded");
    /* invalid: refused for good */
    ck_assert(!export_item_live(&b, 2));
    ck_assert_int_eq(b.items[2].skip, 1);
    ck_assert_str_eq(export_item_reason(&b, &b.items[2]), "InvalidSegment: Trace Size Exceeded.");
    ck_assert_ptr_nonnull(strstr(a.message, "3 segments unprocessed"));
    httpc_response_free(&r);
    export_batch_free(&b);

    /* unknown codes and internal errors are retried; an empty list is success */
    encode_trace(&t, &b);
    answer(&r, 200, NULL,
           "{\"UnprocessedTraceSegments\":[{\"Id\":\"" SERVER_ID "\",\"ErrorCode\":\"SomethingNew\"},"
           "{\"Id\":\"" INTERNAL_ID "\",\"ErrorCode\":\"SegmentTooLarge\","
           "\"Message\":\"Invalid segment. ErrorCode: SegmentTooLarge, Cause: null\"},"
           "{\"Id\":\"" CLIENT_ID "\",\"ErrorCode\":\"InternalFailure\",\"Message\":\"x\"}]}");
    t.classify_items(t.ctx, &r, &b, 0, 3, &a);
    ck_assert_int_eq(a.verdict, EXPORT_OK);
    ck_assert_int_eq(b.items[0].retry, 1);
    ck_assert_str_eq(export_item_reason(&b, &b.items[0]), "SomethingNew");
    ck_assert_int_eq(b.items[1].skip, 1);
    ck_assert_int_eq(b.items[2].retry, 1);
    httpc_response_free(&r);
    export_batch_free(&b);

    encode_trace(&t, &b);
    answer(&r, 200, NULL, "{\"UnprocessedTraceSegments\":[]}");
    t.classify_items(t.ctx, &r, &b, 0, 3, &a);
    ck_assert_int_eq(a.verdict, EXPORT_OK);
    ck_assert_str_eq(a.message, "");
    for (int i = 0; i < 3; i++)
        ck_assert(export_item_live(&b, (size_t)i) && b.items[i].retry == 0);
    httpc_response_free(&r);

    /* a 200 that is not the API's answer is a wrong endpoint */
    answer(&r, 200, NULL, "<html>hello</html>");
    t.classify_items(t.ctx, &r, &b, 0, 3, &a);
    ck_assert_int_eq(a.verdict, EXPORT_CONFIG);
    httpc_response_free(&r);
    export_batch_free(&b);
}
END_TEST

START_TEST(http_errors)
{
    export_target t;
    memset(&t, 0, sizeof t);
    xray_target_init(&t, &cfg);
    export_batch b;
    encode_trace(&t, &b);
    export_answer a;
    httpc_response r;

    answer(&r, 400, "ThrottledException:http://internal.amazon.com/coral/com.amazonaws.xray/",
           "{\"message\":\"Rate exceeded\"}");
    r.retry_after_ms = 2000;
    t.classify_items(t.ctx, &r, &b, 0, 3, &a);
    ck_assert_int_eq(a.verdict, EXPORT_RETRY);
    ck_assert_int_eq(a.wait_ms, 2000);
    ck_assert_str_eq(a.message, "ThrottledException: Rate exceeded");
    httpc_response_free(&r);

    answer(&r, 429, NULL, "{\"__type\":\"ThrottlingException\",\"message\":\"slow down\"}");
    t.classify_items(t.ctx, &r, &b, 0, 3, &a);
    ck_assert_int_eq(a.verdict, EXPORT_RETRY);
    ck_assert_int_eq(a.wait_ms, -1);
    httpc_response_free(&r);

    answer(&r, 503, NULL, NULL);
    t.classify_items(t.ctx, &r, &b, 0, 3, &a);
    ck_assert_int_eq(a.verdict, EXPORT_RETRY);
    ck_assert_str_eq(a.message, "HTTP 503");
    httpc_response_free(&r);

    answer(&r, 400, "InvalidRequestException", "{\"message\":\"Exceeding maximum segment count: 50\"}");
    t.classify_items(t.ctx, &r, &b, 0, 3, &a);
    ck_assert_int_eq(a.verdict, EXPORT_REJECT);
    ck_assert_ptr_nonnull(strstr(a.message, "InvalidRequestException"));
    httpc_response_free(&r);

    answer(&r, 413, NULL, NULL);
    t.classify_items(t.ctx, &r, &b, 0, 3, &a);
    ck_assert_int_eq(a.verdict, EXPORT_REJECT);
    httpc_response_free(&r);

    answer(&r, 404, NULL, "not found");
    t.classify_items(t.ctx, &r, &b, 0, 3, &a);
    ck_assert_int_eq(a.verdict, EXPORT_CONFIG);
    httpc_response_free(&r);

    answer(&r, 403, NULL, "{\"__type\":\"UnrecognizedClientException\","
                          "\"message\":\"The security token included in the request is invalid.\"}");
    t.classify_items(t.ctx, &r, &b, 0, 3, &a);
    ck_assert_int_eq(a.verdict, EXPORT_AUTH);
    ck_assert_ptr_null(strstr(a.message, "skew"));
    httpc_response_free(&r);

    answer(&r, 400, "ExpiredTokenException", "{\"message\":\"The security token included in the request is expired\"}");
    t.classify_items(t.ctx, &r, &b, 0, 3, &a);
    ck_assert_int_eq(a.verdict, EXPORT_AUTH);
    httpc_response_free(&r);
    /* nothing was marked by an error answer */
    for (int i = 0; i < 3; i++)
        ck_assert(export_item_live(&b, (size_t)i) && b.items[i].retry == 0);
    export_batch_free(&b);
}
END_TEST

START_TEST(signature_expired_names_the_skew)
{
    export_target t;
    memset(&t, 0, sizeof t);
    xray_target_init(&t, &cfg);
    export_batch b;
    encode_trace(&t, &b);
    httpc_response r;
    answer(&r, 403, NULL,
           "{\"__type\":\"InvalidSignatureException\",\"message\":\"Signature expired: "
           "20231114T221320Z is now earlier than 20231114T223820Z (20231114T224320Z - 5 min.)\"}");
    struct timeval tv;
    gettimeofday(&tv, NULL);
    r.date_ns = ((int64_t)tv.tv_sec - 1500) * 1000000000LL;
    export_answer a;
    memset(&a, 0, sizeof a);
    t.classify_items(t.ctx, &r, &b, 0, 3, &a);
    ck_assert_int_eq(a.verdict, EXPORT_AUTH);
    ck_assert_ptr_nonnull(strstr(a.message, "InvalidSignatureException: Signature expired"));
    ck_assert_ptr_nonnull(strstr(a.message, "clock skew"));
    int64_t skew = aws_clock_skew_s(&r);
    ck_assert(skew >= 1499 && skew <= 1501);
    char want[64];
    snprintf(want, sizeof want, "%" PRId64 " s ahead", skew);
    ck_assert_msg(strstr(a.message, want) != NULL, "%s", a.message);
    httpc_response_free(&r);
    export_batch_free(&b);
}
END_TEST

/* ---- the daemon ------------------------------------------------------------------- */

static int udp_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    int big = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

START_TEST(daemon_address_forms)
{
    xray_config c;
    char err[256];
    ck_assert_int_eq(xray_config_from_env(&c, 1, NULL, err, sizeof err), 0);
    ck_assert_str_eq(c.url, "udp://127.0.0.1:2000");
    ck_assert_int_ge(c.sock, 0);
    ck_assert_int_eq(c.have_signer, 0);
    xray_config_free(&c);

    setenv("AWS_XRAY_DAEMON_ADDRESS", "tcp:127.0.0.1:2000 udp:127.0.0.2:2001", 1);
    ck_assert_int_eq(xray_config_from_env(&c, 1, NULL, err, sizeof err), 0);
    ck_assert_str_eq(c.url, "udp://127.0.0.2:2001");
    xray_config_free(&c);

    setenv("AWS_XRAY_DAEMON_ADDRESS", "udp:127.0.0.3:2002 tcp:127.0.0.1:2000", 1);
    ck_assert_int_eq(xray_config_from_env(&c, 1, NULL, err, sizeof err), 0);
    ck_assert_str_eq(c.url, "udp://127.0.0.3:2002");
    xray_config_free(&c);

    setenv("AWS_XRAY_DAEMON_ADDRESS", "localhost:3000", 1);
    ck_assert_int_eq(xray_config_from_env(&c, 1, NULL, err, sizeof err), 0);
    ck_assert_str_eq(c.url, "udp://localhost:3000");
    xray_config_free(&c);

    static const char *const bad[] = {"tcp:127.0.0.1:2000", "127.0.0.1", "127.0.0.1:0",
                                      "127.0.0.1:65536", "127.0.0.1:20x", ":2000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("AWS_XRAY_DAEMON_ADDRESS", bad[i], 1);
        ck_assert_msg(xray_config_from_env(&c, 1, NULL, err, sizeof err) == -1, "%s", bad[i]);
        ck_assert_ptr_nonnull(strstr(err, "AWS_XRAY_DAEMON_ADDRESS"));
    }
}
END_TEST

START_TEST(daemon_datagrams)
{
    int port;
    int fd = udp_listener(&port);
    char spec[64];
    snprintf(spec, sizeof spec, "tcp:127.0.0.1:1 udp:127.0.0.1:%d", port);
    setenv("AWS_XRAY_DAEMON_ADDRESS", spec, 1);
    xray_config c;
    char err[256];
    ck_assert_msg(xray_config_from_env(&c, 1, NULL, err, sizeof err) == 0, "%s", err);
    export_target t;
    memset(&t, 0, sizeof t);
    xray_target_init(&t, &c);
    ck_assert_ptr_nonnull(t.send);
    ck_assert_ptr_null(t.authorize);

    /* the trace, plus a span large enough to be trimmed */
    export_batch b;
    encode_trace(&t, &b);
    buf_t a = BUF_INIT;
    buf_puts(&a, "{\"x\":0");
    for (int i = 0; i < 30; i++) {
        buf_printf(&a, ",\"app.blob%d\":\"", i);
        for (int k = 0; k < 4000; k++)
            buf_putc(&a, 'z');
        buf_putc(&a, '"');
    }
    buf_putc(&a, '}');
    spool_span big = internal_span();
    strcpy(big.span_id, "1111111111111111");
    big.attributes_json = a.data;
    spool_origin o = {200, 1, RES, "cruddur", "0.1.0"};
    ck_assert_int_eq(t.encode(t.ctx, &b, &big, &o), 0);
    b.items[1].done = 1;   /* taken earlier: not sent again */

    buf_t body = BUF_INIT;
    ck_assert_int_eq(t.build(t.ctx, &b, 0, 4, &body), 0);
    httpc_response r;
    httpc_response_init(&r);
    ck_assert_int_eq(t.send(t.ctx, body.data, body.len, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_gt(r.sent_bytes, 0);

    static const char *const ids[] = {SERVER_ID, CLIENT_ID, "1111111111111111"};
    const char *hdr = "{\"format\": \"json\", \"version\": 1}\n";
    size_t total = 0;
    for (int i = 0; i < 3; i++) {
        static char dgram[70000];
        ssize_t n = recv(fd, dgram, sizeof dgram - 1, 0);
        ck_assert_int_gt(n, 0);
        ck_assert_int_le(n, 65507);
        total += (size_t)n;
        dgram[n] = '\0';
        ck_assert_int_eq(strncmp(dgram, hdr, strlen(hdr)), 0);
        ck_assert_ptr_null(strchr(dgram + strlen(hdr), '\n'));
        json_t *d = json_loads(dgram + strlen(hdr), 0, NULL);
        ck_assert_msg(d != NULL, "datagram %d is not header + document", i);
        ck_assert_str_eq(sget(d, "id"), ids[i]);
        ck_assert_uint_le((size_t)n - strlen(hdr), XRAY_MAX_DOCUMENT);
        json_decref(d);
    }
    ck_assert_uint_eq(total, r.sent_bytes);

    /* UDP has no answer: everything sent is done */
    export_answer ans;
    memset(&ans, 0, sizeof ans);
    t.classify_items(t.ctx, &r, &b, 0, 4, &ans);
    ck_assert_int_eq(ans.verdict, EXPORT_OK);
    ck_assert_int_eq(b.items[0].retry, 0);

    httpc_response_free(&r);
    buf_free(&body);
    buf_free(&a);
    export_batch_free(&b);
    xray_config_free(&c);
    close(fd);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("export_xray");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, config_from_env);
    tcase_add_test(tc, target_init_api);
    tcase_add_test(tc, authorize_keeps_headers_current);
    tcase_add_test(tc, trace_id_conversion);
    tcase_add_test(tc, annotation_keys);
    tcase_add_test(tc, names_are_made_valid);
    tcase_add_test(tc, server_span_is_a_segment);
    tcase_add_test(tc, internal_span_is_a_subsegment);
    tcase_add_test(tc, client_sqlite_span_is_a_remote_subsegment);
    tcase_add_test(tc, exception_ids_are_stable_and_distinct);
    tcase_add_test(tc, http_status_sets_error_throttle_fault);
    tcase_add_test(tc, annotation_values_follow_the_rules);
    tcase_add_test(tc, attributes_are_read_as_jansson_reads_them);
    tcase_add_test(tc, each_segment_carries_its_own_resource);
    tcase_add_test(tc, a_config_without_scratch_gives_the_same_documents);
    tcase_add_test(tc, large_documents_are_trimmed_to_64k);
    tcase_add_test(tc, request_body_is_put_trace_segments);
    tcase_add_test(tc, unprocessed_segments_retry_or_refuse);
    tcase_add_test(tc, http_errors);
    tcase_add_test(tc, signature_expired_names_the_skew);
    tcase_add_test(tc, daemon_address_forms);
    tcase_add_test(tc, daemon_datagrams);
    suite_add_tcase(s, tc);
    return s;
}
