/* Unit tests for http/request: parameters, headers, path decoding, query. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "http/request.h"

/* A request from a REQUEST_URI alone (GET). Returns init's answer. */
static int init_uri(http_request *r, char **env, char *slot, size_t slot_size, const char *uri)
{
    snprintf(slot, slot_size, "REQUEST_URI=%s", uri);
    env[0] = "REQUEST_METHOD=GET";
    env[1] = slot;
    env[2] = NULL;
    return http_request_init(r, env);
}

START_TEST(test_params)
{
    char *env[] = {
        "REQUEST_METHOD=POST",
        "REQUEST_URI=/api/activities?x=1",
        "SERVER_NAME=example.org",
        "SERVER_PORT=4567",
        "REMOTE_ADDR=192.0.2.7",
        "REMOTE_PORT=51000",
        "CONTENT_TYPE=application/json",
        "CONTENT_LENGTH=42",
        "HTTP_USER_AGENT=curl/8.0",
        NULL,
    };
    http_request r;
    ck_assert_int_eq(http_request_init(&r, env), 0);
    ck_assert_int_eq(r.method, HTTP_POST);
    ck_assert_str_eq(r.method_name, "POST");
    ck_assert_str_eq(r.path, "/api/activities");
    ck_assert_str_eq(r.raw_path, "/api/activities");
    ck_assert_str_eq(r.raw_uri, "/api/activities?x=1");
    ck_assert_str_eq(r.query, "x=1");
    ck_assert_str_eq(r.scheme, "http");
    ck_assert_str_eq(r.server_name, "example.org");
    ck_assert_int_eq(r.server_port, 4567);
    ck_assert_str_eq(r.remote_addr, "192.0.2.7");
    ck_assert_int_eq(r.remote_port, 51000);
    ck_assert_str_eq(r.content_type, "application/json");
    ck_assert_int_eq(r.content_length, 42);
    ck_assert_ptr_null(r.body);
    ck_assert_ptr_eq(r.env, env);
    ck_assert_str_eq(http_request_param(&r, "SERVER_NAME"), "example.org");
    ck_assert_ptr_null(http_request_param(&r, "SERVER"));
    ck_assert_ptr_null(http_request_param(&r, "NOPE"));
    http_request_free(&r);
}
END_TEST

START_TEST(test_defaults)
{
    char *env[] = {"REQUEST_URI=/", NULL};
    http_request r;
    ck_assert_int_eq(http_request_init(&r, env), 0);
    ck_assert_int_eq(r.method, HTTP_OTHER);
    ck_assert_str_eq(r.method_name, "");
    ck_assert_str_eq(r.path, "/");
    ck_assert_str_eq(r.query, "");
    ck_assert_str_eq(r.scheme, "http");
    ck_assert_str_eq(r.server_name, "");
    ck_assert_int_eq(r.server_port, 0);
    ck_assert_str_eq(r.remote_addr, "");
    ck_assert_int_eq(r.remote_port, 0);
    ck_assert_ptr_null(r.content_type);
    ck_assert_int_eq(r.content_length, -1);
    http_request_free(&r);
}
END_TEST

START_TEST(test_empty_content_headers_mean_absent)
{
    /* nginx's fastcgi_params always sends both, empty when absent. */
    char *env[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/", "CONTENT_TYPE=", "CONTENT_LENGTH=",
                   NULL};
    http_request r;
    ck_assert_int_eq(http_request_init(&r, env), 0);
    ck_assert_ptr_null(r.content_type);
    ck_assert_int_eq(r.content_length, -1);
    ck_assert_ptr_null(http_request_header(&r, "Content-Type"));
    ck_assert_ptr_null(http_request_header(&r, "content-length"));
    http_request_free(&r);
}
END_TEST

static const struct {
    const char *value;
    int status;
    long long length;
} lengths[] = {
    {"0", 0, 0},
    {"65536", 0, 65536},
    {"007", 0, 7},
    {"9223372036854775799", 0, 9223372036854775799LL},
    {"99999999999999999999", 400, -1},
    {"-1", 400, -1},
    {"+5", 400, -1},
    {" 5", 400, -1},
    {"5 ", 400, -1},
    {"1e3", 400, -1},
    {"0x10", 400, -1},
};

START_TEST(test_content_length)
{
    char cl[64];
    snprintf(cl, sizeof cl, "CONTENT_LENGTH=%s", lengths[_i].value);
    char *env[] = {"REQUEST_METHOD=POST", "REQUEST_URI=/api/activities", cl, NULL};
    http_request r;
    ck_assert_int_eq(http_request_init(&r, env), lengths[_i].status);
    if (lengths[_i].status == 0)
        ck_assert_int_eq(r.content_length, lengths[_i].length);
    http_request_free(&r);
}
END_TEST

static const struct {
    const char *name;
    http_method method;
} methods[] = {
    {"GET", HTTP_GET},         {"HEAD", HTTP_HEAD},     {"POST", HTTP_POST},
    {"OPTIONS", HTTP_OPTIONS}, {"PUT", HTTP_PUT},       {"DELETE", HTTP_DELETE},
    {"PATCH", HTTP_PATCH},     {"get", HTTP_OTHER},     {"Get", HTTP_OTHER},
    {"GETX", HTTP_OTHER},      {"GE", HTTP_OTHER},      {"BREW", HTTP_OTHER},
    {"", HTTP_OTHER},
};

START_TEST(test_methods)
{
    char m[64];
    snprintf(m, sizeof m, "REQUEST_METHOD=%s", methods[_i].name);
    char *env[] = {m, "REQUEST_URI=/", NULL};
    http_request r;
    ck_assert_int_eq(http_request_init(&r, env), 0);
    ck_assert_int_eq(r.method, methods[_i].method);
    ck_assert_str_eq(r.method_name, methods[_i].name);
    http_request_free(&r);
}
END_TEST

static const struct {
    const char *request_scheme, *https, *want;
} schemes[] = {
    {NULL, NULL, "http"},
    {"https", NULL, "https"},
    {"http", "on", "http"},    /* REQUEST_SCHEME wins */
    {NULL, "on", "https"},
    {NULL, "ON", "https"},
    {NULL, "off", "http"},
    {NULL, "", "http"},
    {"HTTPS", NULL, "https"},
};

START_TEST(test_scheme)
{
    char a[64], b[64];
    char *env[5] = {"REQUEST_URI=/", NULL, NULL, NULL, NULL};
    int n = 1;
    if (schemes[_i].request_scheme) {
        snprintf(a, sizeof a, "REQUEST_SCHEME=%s", schemes[_i].request_scheme);
        env[n++] = a;
    }
    if (schemes[_i].https) {
        snprintf(b, sizeof b, "HTTPS=%s", schemes[_i].https);
        env[n++] = b;
    }
    http_request r;
    ck_assert_int_eq(http_request_init(&r, env), 0);
    ck_assert_str_eq(r.scheme, schemes[_i].want);
    http_request_free(&r);
}
END_TEST

START_TEST(test_ports)
{
    char *env[] = {"REQUEST_URI=/", "SERVER_PORT=70000", "REMOTE_PORT=8o", NULL};
    http_request r;
    ck_assert_int_eq(http_request_init(&r, env), 0);
    ck_assert_int_eq(r.server_port, 0);
    ck_assert_int_eq(r.remote_port, 0);
    http_request_free(&r);
}
END_TEST

START_TEST(test_header_lookup)
{
    char *env[] = {
        "REQUEST_METHOD=GET",
        "REQUEST_URI=/",
        "HTTP_USER_AGENT=curl/8.0",
        "HTTP_TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "HTTP_X_AMZN_TRACE_ID=Root=1-5759e988-bd862e3fe1be46a994272793",
        "HTTP_ORIGIN=",
        "CONTENT_TYPE=application/json; charset=utf-8",
        "CONTENT_LENGTH=12",
        "SERVER_NAME=x",
        NULL,
    };
    http_request r;
    ck_assert_int_eq(http_request_init(&r, env), 0);
    ck_assert_str_eq(http_request_header(&r, "User-Agent"), "curl/8.0");
    ck_assert_str_eq(http_request_header(&r, "user-agent"), "curl/8.0");
    ck_assert_str_eq(http_request_header(&r, "USER-AGENT"), "curl/8.0");
    ck_assert_str_eq(http_request_header(&r, "traceparent"),
                     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    ck_assert_str_eq(http_request_header(&r, "X-Amzn-Trace-Id"),
                     "Root=1-5759e988-bd862e3fe1be46a994272793");
    ck_assert_str_eq(http_request_header(&r, "Origin"), "");
    ck_assert_str_eq(http_request_header(&r, "Content-Type"), "application/json; charset=utf-8");
    ck_assert_str_eq(http_request_header(&r, "content-length"), "12");
    ck_assert_ptr_null(http_request_header(&r, "User"));
    ck_assert_ptr_null(http_request_header(&r, "Server-Name"));
    ck_assert_ptr_null(http_request_header(&r, "Missing"));
    ck_assert_ptr_null(http_request_header(&r, ""));
    ck_assert_ptr_null(http_request_header(&r, "User-Agent=curl/8.0"));
    char longname[400];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_ptr_null(http_request_header(&r, longname));
    http_request_free(&r);
}
END_TEST

struct seen {
    char text[512];
    int calls;
    int stop_after;
};

static int collect(void *arg, const char *name, const char *value)
{
    struct seen *s = arg;
    size_t n = strlen(s->text);
    snprintf(s->text + n, sizeof s->text - n, "%s=%s;", name, value);
    s->calls++;
    return s->calls == s->stop_after ? 7 : 0;
}

START_TEST(test_each_header)
{
    char *env[] = {
        "REQUEST_METHOD=GET",
        "HTTP_USER_AGENT=curl",
        "REQUEST_URI=/",
        "CONTENT_TYPE=text/plain",
        "CONTENT_LENGTH=",
        "HTTP_X_FORWARDED_FOR=1.2.3.4",
        "HTTPS=on",
        "HTTP_=odd",
        NULL,
    };
    http_request r;
    ck_assert_int_eq(http_request_init(&r, env), 0);
    struct seen s = {"", 0, 0};
    ck_assert_int_eq(http_request_each_header(&r, collect, &s), 0);
    ck_assert_str_eq(s.text, "user-agent=curl;content-type=text/plain;x-forwarded-for=1.2.3.4;");
    struct seen t = {"", 0, 2};
    ck_assert_int_eq(http_request_each_header(&r, collect, &t), 7);
    ck_assert_str_eq(t.text, "user-agent=curl;content-type=text/plain;");
    http_request_free(&r);
}
END_TEST

static const struct {
    const char *uri;
    int status;
    const char *path;    /* decoded, when status is 0 */
    const char *query;
} paths[] = {
    {"/", 0, "/", ""},
    {"/api/activities/home", 0, "/api/activities/home", ""},
    {"/api/activities/%40andrewbrown", 0, "/api/activities/@andrewbrown", ""},
    {"/a%20b", 0, "/a b", ""},
    {"/a+b", 0, "/a+b", ""},                 /* no '+' rule in paths */
    {"/a%2Bb", 0, "/a+b", ""},
    {"/a%2fb", 0, "/a/b", ""},
    {"/caf%C3%A9", 0, "/caf\xc3\xa9", ""},
    {"/a%3Fb?c=d", 0, "/a?b", "c=d"},
    {"/a?", 0, "/a", ""},
    {"/a?b?c", 0, "/a", "b?c"},
    {"/a?x=%zz", 0, "/a", "x=%zz"},          /* the query is decoded later, per value */
    {"/a/..b/...", 0, "/a/..b/...", ""},
    {"/a/.b", 0, "/a/.b", ""},
    {"//a//", 0, "//a//", ""},
    {"http://example.org/api/x?y=1", 0, "/api/x", "y=1"},
    {"/%00", 400, NULL, NULL},
    {"/a%00b", 400, NULL, NULL},
    {"/%zz", 400, NULL, NULL},
    {"/%4", 400, NULL, NULL},
    {"/%", 400, NULL, NULL},
    {"/a%g0", 400, NULL, NULL},
    {"/..", 400, NULL, NULL},
    {"/../etc/passwd", 400, NULL, NULL},
    {"/a/../b", 400, NULL, NULL},
    {"/a/.", 400, NULL, NULL},
    {"/./a", 400, NULL, NULL},
    {"/a/./", 400, NULL, NULL},
    {"/%2e%2e/x", 400, NULL, NULL},
    {"/%2E%2E", 400, NULL, NULL},
    {"/a/.%2e/b", 400, NULL, NULL},
    {"/a/%2e", 400, NULL, NULL},
    {"/a%2f..%2fb", 400, NULL, NULL},       /* an encoded slash still makes a segment */
    {"/%ff", 400, NULL, NULL},               /* not UTF-8 */
    {"/%c0%af", 400, NULL, NULL},
    {"api/activities", 400, NULL, NULL},
    {"", 400, NULL, NULL},
    {"*", 400, NULL, NULL},
};

START_TEST(test_path_decoding)
{
    char *env[3];
    char slot[256];
    http_request r;
    int rc = init_uri(&r, env, slot, sizeof slot, paths[_i].uri);
    ck_assert_msg(rc == paths[_i].status, "%s: %d", paths[_i].uri, rc);
    if (rc == 0) {
        ck_assert_str_eq(r.path, paths[_i].path);
        ck_assert_str_eq(r.query, paths[_i].query);
        ck_assert_str_eq(r.raw_uri, paths[_i].uri);
    } else {
        ck_assert_ptr_null(r.path);
    }
    http_request_free(&r);
}
END_TEST

START_TEST(test_raw_path_and_uri)
{
    char *env[3];
    char slot[256];
    http_request r;
    ck_assert_int_eq(init_uri(&r, env, slot, sizeof slot, "/api/%40x?term=a%20b"), 0);
    ck_assert_str_eq(r.raw_uri, "/api/%40x?term=a%20b");
    ck_assert_str_eq(r.raw_path, "/api/%40x");
    ck_assert_str_eq(r.path, "/api/@x");
    ck_assert_str_eq(r.query, "term=a%20b");
    http_request_free(&r);
}
END_TEST

START_TEST(test_uri_too_long)
{
    size_t size = 16 + HTTP_MAX_URI + 2;
    char *slot = malloc(size);
    char *env[3];
    http_request r;

    char *uri = malloc(HTTP_MAX_URI + 2);
    uri[0] = '/';
    memset(uri + 1, 'a', HTTP_MAX_URI);
    uri[HTTP_MAX_URI + 1] = '\0';    /* one over */
    ck_assert_int_eq(init_uri(&r, env, slot, size, uri), 414);
    ck_assert_ptr_null(r.path);
    http_request_free(&r);

    uri[HTTP_MAX_URI] = '\0';        /* exactly the limit */
    ck_assert_int_eq(init_uri(&r, env, slot, size, uri), 0);
    ck_assert_uint_eq(strlen(r.path), HTTP_MAX_URI);
    http_request_free(&r);
    free(uri);
    free(slot);
}
END_TEST

START_TEST(test_cgi_without_request_uri)
{
    char *env[] = {
        "REQUEST_METHOD=GET",
        "SCRIPT_NAME=",
        "PATH_INFO=/api/activities/@worf",
        "QUERY_STRING=term=a%20b",
        NULL,
    };
    http_request r;
    ck_assert_int_eq(http_request_init(&r, env), 0);
    ck_assert_str_eq(r.path, "/api/activities/@worf");
    ck_assert_str_eq(r.raw_path, "/api/activities/@worf");
    ck_assert_str_eq(r.raw_uri, "/api/activities/@worf?term=a%20b");
    ck_assert_str_eq(r.query, "term=a%20b");
    http_request_free(&r);

    /* PATH_INFO arrives decoded already: a '%' in it is a '%'. */
    char *env2[] = {"SCRIPT_NAME=/cgi", "PATH_INFO=/100%25", NULL};
    ck_assert_int_eq(http_request_init(&r, env2), 0);
    ck_assert_str_eq(r.path, "/cgi/100%25");
    ck_assert_str_eq(r.query, "");
    ck_assert_str_eq(r.raw_uri, "/cgi/100%25");
    http_request_free(&r);

    char *env3[] = {"SCRIPT_NAME=", "PATH_INFO=/a/../b", NULL};
    ck_assert_int_eq(http_request_init(&r, env3), 400);
    http_request_free(&r);

    char *env4[] = {"REQUEST_METHOD=GET", NULL};
    ck_assert_int_eq(http_request_init(&r, env4), 400);
    http_request_free(&r);
}
END_TEST

START_TEST(test_set_body)
{
    char *env[] = {"REQUEST_METHOD=POST", "REQUEST_URI=/api/messages", NULL};
    http_request r;
    ck_assert_int_eq(http_request_init(&r, env), 0);
    char *b = strdup("{\"a\":1}");
    http_request_set_body(&r, b, 7);
    ck_assert_ptr_eq(r.body, b);
    ck_assert_uint_eq(r.body_len, 7);
    http_request_set_body(&r, strdup("{}"), 2);   /* replaces and frees the old one */
    ck_assert_str_eq(r.body, "{}");
    http_request_free(&r);
    ck_assert_ptr_null(r.body);
    http_request_free(&r);   /* twice is harmless */
}
END_TEST

static const struct {
    const char *query, *name;
    int rc;
    const char *value;
} queries[] = {
    {"term=cloud", "term", 0, "cloud"},
    {"a=1&b=2&a=3", "a", 0, "1"},            /* first occurrence */
    {"a=1&b=2&a=3", "b", 0, "2"},
    {"a=1&b=2", "c", 1, NULL},
    {"", "a", 1, NULL},
    {"a=", "a", 0, ""},
    {"a", "a", 0, ""},                       /* no '=' */
    {"ab=1&a=2", "a", 0, "2"},
    {"a=1", "ab", 1, NULL},
    {"&&a=1&&b=2&&", "b", 0, "2"},
    {"&&&", "a", 1, NULL},
    {"term=hello+world%21", "term", 0, "hello world!"},
    {"term=%23cloud", "term", 0, "#cloud"},
    {"term=%40worf", "term", 0, "@worf"},
    {"term=a%2Bb", "term", 0, "a+b"},
    {"term=caf%C3%A9", "term", 0, "caf\xc3\xa9"},
    {"term=a=b", "term", 0, "a=b"},
    {"te%72m=x", "term", 0, "x"},            /* encoded name */
    {"%74%65%72%6D=y", "term", 0, "y"},
    {"my+key=z", "my key", 0, "z"},
    {"%zz=1&a=2", "a", 0, "2"},              /* a bad name is skipped */
    {"%zz=1", "%zz", 1, NULL},
    {"a=%zz", "a", -1, NULL},
    {"a=%4", "a", -1, NULL},
    {"a=%00", "a", -1, NULL},
    {"a=x%00", "a", -1, NULL},
    {"a%00=1", "a", 1, NULL},
    {"b=%zz&a=1", "a", 0, "1"},              /* only the value asked for is decoded */
    {"=x", "", 0, "x"},
    {"limit=20", "limit", 0, "20"},
};

START_TEST(test_query_get)
{
    char *out = (char *)"untouched";
    int rc = http_query_get(queries[_i].query, queries[_i].name, &out);
    ck_assert_msg(rc == queries[_i].rc, "%s [%s]: rc %d", queries[_i].query, queries[_i].name, rc);
    if (queries[_i].value != NULL)
        ck_assert_str_eq(out, queries[_i].value);
    else
        ck_assert_ptr_null(out);
    free(out);
}
END_TEST

START_TEST(test_query_get_long)
{
    /* Many empty pairs and a long value: linear work, exact result. */
    size_t n = 200000;
    char *q = malloc(n + 32);
    memset(q, '&', n);
    strcpy(q + n, "x=1&term=%41");
    char *out;
    ck_assert_int_eq(http_query_get(q, "term", &out), 0);
    ck_assert_str_eq(out, "A");
    free(out);
    ck_assert_int_eq(http_query_get(q, "nope", &out), 1);
    ck_assert_int_eq(http_query_get(NULL, "nope", &out), 1);
    free(q);
}
END_TEST

START_TEST(test_pct_decode)
{
    char *out;
    size_t len = 99;
    ck_assert_int_eq(http_pct_decode("a+b%20c", 7, true, &out, &len), 0);
    ck_assert_str_eq(out, "a b c");
    ck_assert_uint_eq(len, 5);
    free(out);
    ck_assert_int_eq(http_pct_decode("a+b%20c", 7, false, &out, &len), 0);
    ck_assert_str_eq(out, "a+b c");
    free(out);
    ck_assert_int_eq(http_pct_decode("abc%41", 3, false, &out, NULL), 0);   /* length bound */
    ck_assert_str_eq(out, "abc");
    free(out);
    ck_assert_int_eq(http_pct_decode("abc%41", 6, false, &out, NULL), 0);
    ck_assert_str_eq(out, "abcA");
    free(out);
    ck_assert_int_eq(http_pct_decode("abc%41", 4, false, &out, NULL), -1);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(http_pct_decode("abc%41", 5, false, &out, NULL), -1);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(http_pct_decode("", 0, true, &out, &len), 0);
    ck_assert_str_eq(out, "");
    ck_assert_uint_eq(len, 0);
    free(out);
    ck_assert_int_eq(http_pct_decode("%7e%7E", 6, false, &out, &len), 0);
    ck_assert_str_eq(out, "~~");
    free(out);
    ck_assert_int_eq(http_pct_decode("%00", 3, false, &out, &len), -1);
    ck_assert_int_eq(http_pct_decode("a\0b", 3, false, &out, &len), -1);
    ck_assert_int_eq(http_pct_decode("%-1", 3, false, &out, &len), -1);
    ck_assert_int_eq(http_pct_decode("% 1", 3, false, &out, &len), -1);
}
END_TEST

static const struct {
    const char *type;
    bool json;
} types[] = {
    {"application/json", true},
    {"application/json; charset=utf-8", true},
    {"application/json;charset=UTF-8", true},
    {"APPLICATION/JSON", true},
    {"Application/Json ; charset=utf-8", true},
    {" application/json", true},
    {"application/ld+json", true},
    {"application/vnd.api+json", true},
    {"application/problem+JSON; q=1", true},
    {"application/+json", false},
    {"application/jsonx", false},
    {"application/json-patch", false},
    {"application/json x", false},
    {"application/xjson", false},
    {"text/json", false},
    {"text/plain", false},
    {"application/x-www-form-urlencoded", false},
    {"multipart/form-data; boundary=x", false},
    {"json", false},
    {"", false},
    {"application/", false},
};

START_TEST(test_is_json_type)
{
    ck_assert_msg(http_is_json_type(types[_i].type) == types[_i].json, "\"%s\"", types[_i].type);
}
END_TEST

START_TEST(test_is_json_type_null)
{
    ck_assert(!http_is_json_type(NULL));
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("request");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_params);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_empty_content_headers_mean_absent);
    tcase_add_loop_test(tc, test_content_length, 0, (int)(sizeof lengths / sizeof lengths[0]));
    tcase_add_loop_test(tc, test_methods, 0, (int)(sizeof methods / sizeof methods[0]));
    tcase_add_loop_test(tc, test_scheme, 0, (int)(sizeof schemes / sizeof schemes[0]));
    tcase_add_test(tc, test_ports);
    tcase_add_test(tc, test_header_lookup);
    tcase_add_test(tc, test_each_header);
    tcase_add_loop_test(tc, test_path_decoding, 0, (int)(sizeof paths / sizeof paths[0]));
    tcase_add_test(tc, test_raw_path_and_uri);
    tcase_add_test(tc, test_uri_too_long);
    tcase_add_test(tc, test_cgi_without_request_uri);
    tcase_add_test(tc, test_set_body);
    tcase_add_loop_test(tc, test_query_get, 0, (int)(sizeof queries / sizeof queries[0]));
    tcase_add_test(tc, test_query_get_long);
    tcase_add_test(tc, test_pct_decode);
    tcase_add_loop_test(tc, test_is_json_type, 0, (int)(sizeof types / sizeof types[0]));
    tcase_add_test(tc, test_is_json_type_null);
    suite_add_tcase(s, tc);
    return s;
}
