/* Unit tests for httpc: POSTs over a kept-alive connection, gzip bodies,
 * the headers the engine acts on (Retry-After, X-Rate-Limit-*), bounded
 * answers, timeouts, refused connections, and stopping mid-request. */
#include <curl/curl.h>
#include <signal.h>
#include <string.h>

#include "check_main.h"
#include "export/httpc.h"
#include "export_testsrv.h"

static tsrv srv;
static httpc *hc;
static char url[100];
static volatile sig_atomic_t stop_flag;

static void setup(void)
{
    tsrv_start(&srv);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/traces", srv.port);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    stop_flag = 0;
    ck_assert_int_eq(httpc_new(&hc, 2000, 2000, &stop_flag), 0);
}

static void teardown(void)
{
    httpc_free(hc);
    curl_global_cleanup();
    tsrv_stop(&srv);
}

static const char *const hdrs[] = { "Content-Type: application/json", "X-Key: k", NULL };

START_TEST(posts_and_reads_the_answer)
{
    tsrv_script(&srv, (tsrv_reply){ 202, "X-Rate-Limit-Remaining: 0\r\nX-Rate-Limit-Remaining-Seconds: 17\r\n",
                                    "{\"ok\":true}", 0 });
    httpc_response r;
    httpc_response_init(&r);
    ck_assert_int_eq(httpc_post(hc, url, hdrs, "{\"a\":1}", 7, 0, &r), 0);
    ck_assert_int_eq(r.status, 202);
    ck_assert_str_eq(r.body.data, "{\"ok\":true}");
    ck_assert_str_eq(r.content_type, "application/json");
    ck_assert_int_eq(r.rate_remaining, 0);
    ck_assert_int_eq(r.rate_remaining_s, 17);
    ck_assert_int_eq(r.retry_after_ms, -1);
    ck_assert_uint_eq(r.sent_bytes, 7);
    ck_assert_int_eq(tsrv_requests(&srv), 1);
    ck_assert_str_eq(srv.req_body[0], "{\"a\":1}");
    ck_assert_ptr_nonnull(strstr(srv.req_head[0], "POST /v1/traces HTTP/1.1\r\n"));
    ck_assert_ptr_nonnull(strstr(srv.req_head[0], "X-Key: k\r\n"));
    ck_assert_ptr_nonnull(strstr(srv.req_head[0], "User-Agent: cruddur-export/"));
    ck_assert_ptr_null(strcasestr(srv.req_head[0], "Expect:"));
    /* the next answer's headers do not inherit the last one's */
    tsrv_script(&srv, (tsrv_reply){ 503, "Retry-After: 3\r\n", "", 0 });
    ck_assert_int_eq(httpc_post(hc, url, hdrs, "x", 1, 0, &r), 0);
    ck_assert_int_eq(r.status, 503);
    ck_assert_int_eq(r.retry_after_ms, 3000);
    ck_assert_int_eq(r.rate_remaining, -1);
    ck_assert_uint_eq(r.body.len, 0);
    httpc_response_free(&r);
}
END_TEST

START_TEST(gzip_bodies)
{
    static char big[100000];
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = "{\"spanId\":\"00f067aa0ba902b7\"},"[i % 30];
    httpc_response r;
    httpc_response_init(&r);
    ck_assert_int_eq(httpc_post(hc, url, hdrs, big, sizeof big - 1, 1, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_lt(r.sent_bytes, 5000);
    ck_assert_ptr_nonnull(strstr(srv.req_head[0], "Content-Encoding: gzip\r\n"));
    ck_assert_uint_eq(strlen(srv.req_body[0]), sizeof big - 1);
    ck_assert_int_eq(memcmp(srv.req_body[0], big, sizeof big - 1), 0);
    httpc_response_free(&r);
}
END_TEST

START_TEST(keeps_the_connection)
{
    httpc_response r;
    httpc_response_init(&r);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(httpc_post(hc, url, hdrs, "x", 1, 0, &r), 0);
    ck_assert_int_eq(tsrv_requests(&srv), 5);
    httpc_response_free(&r);
}
END_TEST

START_TEST(answers_are_bounded)
{
    static char big[HTTPC_MAX_BODY * 2];
    memset(big, 'a', sizeof big - 1);
    tsrv_script(&srv, (tsrv_reply){ 400, "", big, 0 });
    httpc_response r;
    httpc_response_init(&r);
    ck_assert_int_eq(httpc_post(hc, url, hdrs, "x", 1, 0, &r), 0);
    ck_assert_int_eq(r.status, 400);
    ck_assert_uint_eq(r.body.len, HTTPC_MAX_BODY);
    httpc_response_free(&r);
}
END_TEST

START_TEST(timeouts_and_refusals)
{
    httpc_set_timeouts(hc, 1000, 300);
    tsrv_script(&srv, (tsrv_reply){ 200, "", "{}", 1000 });
    httpc_response r;
    httpc_response_init(&r);
    ck_assert_int_eq(httpc_post(hc, url, hdrs, "x", 1, 0, &r), 1);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(r.timed_out, 1);
    ck_assert_int_eq(r.aborted, 0);
    ck_assert_str_ne(r.error, "");
    /* nothing listens on the port of a closed socket */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    char dead[100];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    close(fd);
    ck_assert_int_eq(httpc_post(hc, dead, hdrs, "x", 1, 0, &r), 1);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_ne(r.transport_error, 0);
    ck_assert_int_eq(httpc_post(hc, "ftp://127.0.0.1/", hdrs, "x", 1, 0, &r), 1);
    httpc_response_free(&r);
}
END_TEST

static void *set_stop(void *arg)
{
    struct timespec ts = { 0, 200000000 };
    nanosleep(&ts, NULL);
    stop_flag = 1;
    return arg;
}

START_TEST(stop_aborts_a_request)
{
    tsrv_script(&srv, (tsrv_reply){ 200, "", "{}", 1500 });
    pthread_t th;
    pthread_create(&th, NULL, set_stop, NULL);
    httpc_response r;
    httpc_response_init(&r);
    ck_assert_int_eq(httpc_post(hc, url, hdrs, "x", 1, 0, &r), 1);
    pthread_join(th, NULL);
    ck_assert_int_eq(r.aborted, 1);
    httpc_response_free(&r);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("export_httpc");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, posts_and_reads_the_answer);
    tcase_add_test(tc, gzip_bodies);
    tcase_add_test(tc, keeps_the_connection);
    tcase_add_test(tc, answers_are_bounded);
    tcase_add_test(tc, timeouts_and_refusals);
    tcase_add_test(tc, stop_aborts_a_request);
    suite_add_tcase(s, tc);
    return s;
}
