/* Unit tests for http/cors: which origins pass and the exact header lines. */
#include <string.h>

#include "check_main.h"
#include "http/cors.h"

#define SIMPLE_HEADERS(origin)                          \
    "Access-Control-Allow-Origin: " origin "\r\n"       \
    "Vary: Origin\r\n"                                  \
    "Access-Control-Expose-Headers: location, link\r\n"

#define PREFLIGHT_HEADERS                                                             \
    "Access-Control-Allow-Methods: OPTIONS, GET, HEAD, POST\r\n"                      \
    "Access-Control-Allow-Headers: content-type, if-modified-since, traceparent, "    \
    "tracestate\r\n"                                                                  \
    "Access-Control-Max-Age: 600\r\n"

static const struct {
    const char *frontend, *backend, *origin;
    bool allowed;
} cases[] = {
    {"http://localhost:3000", "http://localhost:4567", "http://localhost:3000", true},
    {"http://localhost:3000", "http://localhost:4567", "http://localhost:4567", true},
    {"https://3000-x.gitpod.io/", NULL, "https://3000-x.gitpod.io", true},  /* one '/' ignored */
    {"https://app.example.org//", NULL, "https://app.example.org/", true},  /* only one */
    {"https://app.example.org//", NULL, "https://app.example.org", false},
    {"http://localhost:3000", "http://localhost:4567", "http://localhost:3000/", false},
    {"http://localhost:3000", "http://localhost:4567", "http://localhost:3001", false},
    {"http://localhost:3000", "http://localhost:4567", "https://localhost:3000", false},
    {"http://localhost:3000", "http://localhost:4567", "http://localhost", false},
    {"http://localhost:3000", "http://localhost:4567", "http://localhost:30000", false},
    {"http://localhost:3000", "http://localhost:4567", "http://localhost:300", false},
    {"http://localhost:3000", "http://localhost:4567", "http://LOCALHOST:3000", false},
    {"http://localhost:3000", "http://localhost:4567", "http://evil.com", false},
    {"http://localhost:3000", "http://localhost:4567", "http://localhost:3000.evil.com", false},
    {"http://localhost:3000", "http://localhost:4567", "", false},
    {"http://localhost:3000", "http://localhost:4567", "null", false},
    {"null", NULL, "null", false},                                 /* never, even configured */
    {"", "", "", false},
    {"", NULL, "http://localhost:3000", false},
    {NULL, NULL, "http://localhost:3000", false},
    {"/", NULL, "", false},
    {"/", NULL, "/", false},
    {NULL, "http://localhost:4567", "http://localhost:4567", true},
    {"", "http://localhost:4567/", "http://localhost:4567", true},
};

START_TEST(test_allowed_table)
{
    cors_policy *p = cors_policy_new(cases[_i].frontend, cases[_i].backend);
    ck_assert_ptr_nonnull(p);
    ck_assert_msg(cors_origin_allowed(p, cases[_i].origin) == cases[_i].allowed,
                  "case %d: origin \"%s\"", _i, cases[_i].origin);
    cors_policy_free(p);
}
END_TEST

START_TEST(test_null_origin_and_policy)
{
    cors_policy *p = cors_policy_new("http://a", "http://b");
    ck_assert(!cors_origin_allowed(p, NULL));
    ck_assert(!cors_origin_allowed(NULL, "http://a"));
    cors_policy_free(p);
    cors_policy_free(NULL);
}
END_TEST

START_TEST(test_simple_headers)
{
    cors_policy *p = cors_policy_new("http://localhost:3000/", "http://localhost:4567");
    http_response r;
    http_response_init(&r);
    ck_assert_int_eq(cors_apply(p, "http://localhost:3000", false, &r), 0);
    ck_assert_str_eq(r.headers.data, SIMPLE_HEADERS("http://localhost:3000"));
    http_response_free(&r);
    cors_policy_free(p);
}
END_TEST

START_TEST(test_preflight_headers)
{
    cors_policy *p = cors_policy_new("http://localhost:3000", "http://localhost:4567");
    http_response r;
    http_response_init(&r);
    ck_assert_int_eq(cors_apply(p, "http://localhost:4567", true, &r), 0);
    ck_assert_str_eq(r.headers.data, SIMPLE_HEADERS("http://localhost:4567") PREFLIGHT_HEADERS);
    http_response_free(&r);
    cors_policy_free(p);
}
END_TEST

START_TEST(test_refused_gets_only_vary)
{
    cors_policy *p = cors_policy_new("http://localhost:3000", NULL);
    http_response r;
    http_response_init(&r);
    ck_assert_int_eq(cors_apply(p, "http://evil.example", true, &r), 0);
    ck_assert_str_eq(r.headers.data, "Vary: Origin\r\n");
    http_response_reset(&r);
    ck_assert_int_eq(cors_apply(p, "null", false, &r), 0);
    ck_assert_str_eq(r.headers.data, "Vary: Origin\r\n");
    http_response_free(&r);
    cors_policy_free(p);
}
END_TEST

START_TEST(test_absent_origin_adds_nothing)
{
    cors_policy *p = cors_policy_new("http://localhost:3000", NULL);
    http_response r;
    http_response_init(&r);
    ck_assert_int_eq(cors_apply(p, NULL, true, &r), 0);
    ck_assert_uint_eq(r.headers.len, 0);
    http_response_free(&r);
    cors_policy_free(p);
}
END_TEST

START_TEST(test_origin_with_crlf_is_refused)
{
    cors_policy *p = cors_policy_new("http://localhost:3000", NULL);
    http_response r;
    http_response_init(&r);
    ck_assert_int_eq(cors_apply(p, "http://localhost:3000\r\nX-Evil: 1", false, &r), 0);
    ck_assert_str_eq(r.headers.data, "Vary: Origin\r\n");
    http_response_free(&r);
    cors_policy_free(p);
}
END_TEST

START_TEST(test_after_a_body)
{
    cors_policy *p = cors_policy_new("http://localhost:3000", NULL);
    http_response r;
    http_response_init(&r);
    http_response_error(&r, 404, "not_found", "Not found");
    ck_assert_int_eq(cors_apply(p, "http://localhost:3000", false, &r), 0);
    ck_assert_str_eq(r.headers.data, "Content-Type: application/json; charset=utf-8\r\n"
                                     SIMPLE_HEADERS("http://localhost:3000"));
    http_response_free(&r);
    cors_policy_free(p);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("cors");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_allowed_table, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, test_null_origin_and_policy);
    tcase_add_test(tc, test_simple_headers);
    tcase_add_test(tc, test_preflight_headers);
    tcase_add_test(tc, test_refused_gets_only_vary);
    tcase_add_test(tc, test_absent_origin_adds_nothing);
    tcase_add_test(tc, test_origin_with_crlf_is_refused);
    tcase_add_test(tc, test_after_a_body);
    suite_add_tcase(s, tc);
    return s;
}
