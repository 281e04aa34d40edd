/* Unit tests for http/response: exact wire bytes. */
#include <string.h>

#include "check_main.h"
#include "http/response.h"

static void assert_wire(const http_response *r, const char *want)
{
    buf_t out = BUF_INIT;
    ck_assert_int_eq(http_response_serialize(r, &out), 0);
    ck_assert_str_eq(out.data, want);
    ck_assert_uint_eq(out.len, strlen(want));
    buf_free(&out);
}

START_TEST(test_json_exact_bytes)
{
    http_response r;
    http_response_init(&r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(http_response_header(&r, "X-Test", "1"), 0);
    json_t *j = json_pack("{s:i, s:s, s:[], s:b}", "zeta", 1, "alpha", "caf\xc3\xa9 / \"q\"",
                          "replies", "ok", 1);
    ck_assert_int_eq(http_response_json(&r, 200, j), 0);
    json_decref(j);
    ck_assert_int_eq(r.status, 200);
    /* Keys in insertion order, compact, UTF-8 and '/' left as they are. */
    assert_wire(&r, "Status: 200 OK\r\n"
                    "X-Test: 1\r\n"
                    "Content-Type: application/json; charset=utf-8\r\n"
                    "Content-Length: 57\r\n"
                    "\r\n"
                    "{\"zeta\":1,\"alpha\":\"caf\xc3\xa9 / \\\"q\\\"\",\"replies\":[],\"ok\":true}");
    http_response_free(&r);
}
END_TEST

START_TEST(test_head_omits_body_keeps_length)
{
    http_response r;
    http_response_init(&r);
    ck_assert_int_eq(http_response_text(&r, 200, "Hello World!"), 0);
    r.omit_body = true;
    assert_wire(&r, "Status: 200 OK\r\n"
                    "Content-Type: text/plain; charset=utf-8\r\n"
                    "Content-Length: 12\r\n"
                    "\r\n");
    r.omit_body = false;
    assert_wire(&r, "Status: 200 OK\r\n"
                    "Content-Type: text/plain; charset=utf-8\r\n"
                    "Content-Length: 12\r\n"
                    "\r\n"
                    "Hello World!");
    http_response_free(&r);
}
END_TEST

START_TEST(test_invalid_array)
{
    http_response r;
    http_response_init(&r);
    const char *const codes[] = {"message_blank", "message_exceed_max_chars", "ttl_blank"};
    ck_assert_int_eq(http_response_invalid(&r, codes, 3), 0);
    ck_assert_int_eq(r.status, 422);
    ck_assert_str_eq(r.body.data, "[\"message_blank\",\"message_exceed_max_chars\",\"ttl_blank\"]");
    assert_wire(&r, "Status: 422 Unprocessable Entity\r\n"
                    "Content-Type: application/json; charset=utf-8\r\n"
                    "Content-Length: 56\r\n"
                    "\r\n"
                    "[\"message_blank\",\"message_exceed_max_chars\",\"ttl_blank\"]");
    http_response_reset(&r);
    ck_assert_int_eq(http_response_invalid(&r, codes, 0), 0);
    ck_assert_str_eq(r.body.data, "[]");
    http_response_free(&r);
}
END_TEST

START_TEST(test_error_object)
{
    http_response r;
    http_response_init(&r);
    ck_assert_int_eq(http_response_header(&r, "Allow", "POST, OPTIONS"), 0);
    ck_assert_int_eq(http_response_error(&r, 405, "method_not_allowed", "Method not allowed"), 0);
    assert_wire(&r, "Status: 405 Method Not Allowed\r\n"
                    "Allow: POST, OPTIONS\r\n"
                    "Content-Type: application/json; charset=utf-8\r\n"
                    "Content-Length: 61\r\n"
                    "\r\n"
                    "{\"error\":\"method_not_allowed\",\"message\":\"Method not allowed\"}");
    http_response_free(&r);
}
END_TEST

START_TEST(test_replacing_the_body_keeps_one_content_type)
{
    http_response r;
    http_response_init(&r);
    http_response_header(&r, "Vary", "Origin");
    http_response_text(&r, 200, "first");
    http_response_header(&r, "X-After", "a");
    ck_assert_int_eq(http_response_error(&r, 500, "internal_error", "Internal error"), 0);
    assert_wire(&r, "Status: 500 Internal Server Error\r\n"
                    "Vary: Origin\r\n"
                    "X-After: a\r\n"
                    "Content-Type: application/json; charset=utf-8\r\n"
                    "Content-Length: 53\r\n"
                    "\r\n"
                    "{\"error\":\"internal_error\",\"message\":\"Internal error\"}");
    http_response_free(&r);
}
END_TEST

START_TEST(test_crlf_refused)
{
    http_response r;
    http_response_init(&r);
    ck_assert_int_eq(http_response_header(&r, "X-A", "1"), 0);
    ck_assert_int_eq(http_response_header(&r, "X-B", "a\r\nSet-Cookie: x=1"), -1);
    ck_assert_int_eq(http_response_header(&r, "X-B", "a\nb"), -1);
    ck_assert_int_eq(http_response_header(&r, "X-B", "a\rb"), -1);
    ck_assert_int_eq(http_response_header(&r, "X-B\r\nX-C", "1"), -1);
    ck_assert_int_eq(http_response_header(&r, "X-B\n", "1"), -1);
    ck_assert_int_eq(http_response_header(&r, "X:B", "1"), -1);
    ck_assert_int_eq(http_response_header(&r, "", "1"), -1);
    ck_assert_int_eq(http_response_header(&r, NULL, "1"), -1);
    ck_assert_int_eq(http_response_header(&r, "X-B", NULL), -1);
    ck_assert_int_eq(http_response_header(&r, "X-Empty", ""), 0);
    ck_assert_str_eq(r.headers.data, "X-A: 1\r\nX-Empty: \r\n");
    http_response_free(&r);
}
END_TEST

START_TEST(test_no_content)
{
    http_response r;
    http_response_init(&r);
    r.status = 204;
    http_response_header(&r, "Access-Control-Max-Age", "600");
    assert_wire(&r, "Status: 204 No Content\r\nAccess-Control-Max-Age: 600\r\n\r\n");
    http_response_free(&r);
}
END_TEST

START_TEST(test_empty_body)
{
    http_response r;
    http_response_init(&r);
    r.status = 200;
    assert_wire(&r, "Status: 200 OK\r\nContent-Length: 0\r\n\r\n");
    http_response_free(&r);
}
END_TEST

START_TEST(test_unset_status_is_500)
{
    http_response r;
    http_response_init(&r);
    assert_wire(&r, "Status: 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
    http_response_free(&r);
}
END_TEST

START_TEST(test_serialize_appends)
{
    http_response r;
    http_response_init(&r);
    http_response_text(&r, 404, "no");
    buf_t out = BUF_INIT;
    buf_puts(&out, "prefix|");
    ck_assert_int_eq(http_response_serialize(&r, &out), 0);
    ck_assert_str_eq(out.data, "prefix|Status: 404 Not Found\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 2\r\n\r\nno");
    buf_free(&out);
    http_response_free(&r);
}
END_TEST

START_TEST(test_reset)
{
    http_response r;
    http_response_init(&r);
    http_response_text(&r, 503, "x");
    r.omit_body = true;
    http_response_reset(&r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(r.headers.len, 0);
    ck_assert_uint_eq(r.body.len, 0);
    ck_assert(!r.omit_body);
    http_response_text(&r, 200, "y");
    assert_wire(&r, "Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    "Content-Length: 1\r\n\r\ny");
    http_response_free(&r);
}
END_TEST

START_TEST(test_json_scalar_and_bad_string)
{
    http_response r;
    http_response_init(&r);
    json_t *t = json_true();
    ck_assert_int_eq(http_response_json(&r, 200, t), 0);
    ck_assert_str_eq(r.body.data, "true");
    http_response_free(&r);
    http_response_init(&r);
    ck_assert_int_eq(http_response_error(&r, 404, NULL, "x"), -1);
    http_response_free(&r);
}
END_TEST

static const struct {
    int status;
    const char *text;
} texts[] = {
    {200, "OK"},
    {204, "No Content"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {413, "Payload Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {422, "Unprocessable Entity"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {503, "Service Unavailable"},
    {0, "Unknown"},
    {299, "Unknown"},
    {-1, "Unknown"},
};

START_TEST(test_status_text)
{
    ck_assert_str_eq(http_status_text(texts[_i].status), texts[_i].text);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("response");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_json_exact_bytes);
    tcase_add_test(tc, test_head_omits_body_keeps_length);
    tcase_add_test(tc, test_invalid_array);
    tcase_add_test(tc, test_error_object);
    tcase_add_test(tc, test_replacing_the_body_keeps_one_content_type);
    tcase_add_test(tc, test_crlf_refused);
    tcase_add_test(tc, test_no_content);
    tcase_add_test(tc, test_empty_body);
    tcase_add_test(tc, test_unset_status_is_500);
    tcase_add_test(tc, test_serialize_appends);
    tcase_add_test(tc, test_reset);
    tcase_add_test(tc, test_json_scalar_and_bad_string);
    tcase_add_loop_test(tc, test_status_text, 0, (int)(sizeof texts / sizeof texts[0]));
    suite_add_tcase(s, tc);
    return s;
}
