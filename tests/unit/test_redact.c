/* Unit tests for telemetry/redact: header names, query strings, URLs, and the
 * configurable lists. */
#include "check_main.h"

#include <stdlib.h>
#include <string.h>

#include "telemetry/redact.h"

START_TEST(default_headers)
{
    redact_t *r = redact_new(NULL, NULL);
    ck_assert_ptr_nonnull(r);
    static const char *const secret[] = {
        "Authorization", "authorization", "AUTHORIZATION", "Cookie", "Set-Cookie",
        "Proxy-Authorization", "X-Api-Key", "x-api-key", "X-Honeycomb-Team",
        "X-Rollbar-Access-Token", "HTTP_AUTHORIZATION", "HTTP_X_API_KEY", "x_api_key",
    };
    static const char *const plain[] = {
        "Accept", "User-Agent", "Authorization2", "X-Api", "Cookies", "", "Content-Type",
        "HTTP_USER_AGENT",
    };
    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++)
        ck_assert_msg(redact_header_is_secret(r, secret[i]), "%s", secret[i]);
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        ck_assert_msg(!redact_header_is_secret(r, plain[i]), "%s", plain[i]);
    ck_assert(!redact_header_is_secret(r, NULL));

    ck_assert_str_eq(redact_header_value(r, "Authorization", "Bearer abc"), "[REDACTED]");
    ck_assert_str_eq(redact_header_value(r, "Accept", "*/*"), "*/*");
    ck_assert_ptr_null(redact_header_value(r, "Cookie", NULL));
    redact_free(r);
}
END_TEST

static const struct {
    const char *in, *out;
} queries[] = {
    {"", ""},
    {"a=1", "a=1"},
    {"a=1&api_key=xyz", "a=1&api_key=[REDACTED]"},
    {"token=abc&b=2", "token=[REDACTED]&b=2"},
    {"access_token=abc&password=hunter2&user=bob", "access_token=[REDACTED]&password=[REDACTED]&user=bob"},
    {"Client_Secret=s&AUTH=x&Key=k", "Client_Secret=[REDACTED]&AUTH=[REDACTED]&Key=[REDACTED]"},
    {"monkey=banana", "monkey=[REDACTED]"},               /* substring rule, as configured */
    {"authorization_code=1", "authorization_code=[REDACTED]"},
    {"api%5Fkey=xyz", "api%5Fkey=[REDACTED]"},           /* the name is decoded to match */
    {"pass%77ord=x", "pass%77ord=[REDACTED]"},
    {"tok+en=x", "tok+en=x"},                             /* '+' is a space: "tok en" */
    {"token", "token"},                                   /* no value, nothing to hide */
    {"token=", "token=[REDACTED]"},
    {"a=1&&token=2&", "a=1&&token=[REDACTED]&"},
    {"q=token", "q=token"},                               /* values are not names */
    {"a=b=c&secret=d=e", "a=b=c&secret=[REDACTED]"},
};

START_TEST(query_table)
{
    redact_t *r = redact_new(NULL, NULL);
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        buf_t b = BUF_INIT;
        ck_assert_int_eq(redact_query(r, queries[i].in, strlen(queries[i].in), &b), 0);
        ck_assert_msg(strcmp(b.data ? b.data : "", queries[i].out) == 0, "%s -> %s", queries[i].in,
                      b.data ? b.data : "");
        buf_free(&b);
    }
    redact_free(r);
}
END_TEST

static const struct {
    const char *in, *out;
} urls[] = {
    {"/api/activities/home", "/api/activities/home"},
    {"/api/activities/home?limit=5&token=abc", "/api/activities/home?limit=5&token=[REDACTED]"},
    {"/x?password=1#frag", "/x?password=[REDACTED]#frag"},
    {"/x#frag?token=1", "/x#frag?token=1"},                   /* after '#', not a query */
    {"https://example.com/p?api_key=1&x=2", "https://example.com/p?api_key=[REDACTED]&x=2"},
    {"https://bob:hunter2@example.com/p", "https://bob:[REDACTED]@example.com/p"},
    {"https://bob@example.com/p", "https://bob@example.com/p"},
    {"http://u:p@h:8080/a?secret=s", "http://u:[REDACTED]@h:8080/a?secret=[REDACTED]"},
    {"/a?", "/a?"},
    {"", ""},
};

START_TEST(url_table)
{
    redact_t *r = redact_new(NULL, NULL);
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        buf_t b = BUF_INIT;
        ck_assert_int_eq(redact_url(r, urls[i].in, &b), 0);
        ck_assert_msg(strcmp(b.data ? b.data : "", urls[i].out) == 0, "%s -> %s", urls[i].in,
                      b.data ? b.data : "");
        buf_free(&b);
    }
    redact_free(r);
}
END_TEST

START_TEST(configured_lists)
{
    redact_t *r = redact_new(" X-Session , x-csrf-token,,", "sid, ssn ");
    ck_assert(redact_header_is_secret(r, "X-Session"));
    ck_assert(redact_header_is_secret(r, "HTTP_X_CSRF_TOKEN"));
    ck_assert(redact_header_is_secret(r, "Authorization"));   /* defaults stay */
    ck_assert(!redact_header_is_secret(r, "X-Sessions"));
    buf_t b = BUF_INIT;
    ck_assert_int_eq(redact_url(r, "/p?SID=1&ssn_last4=2&name=x&token=t", &b), 0);
    ck_assert_str_eq(b.data, "/p?SID=[REDACTED]&ssn_last4=[REDACTED]&name=x&token=[REDACTED]");
    buf_free(&b);
    redact_free(r);

    setenv("CRUDDUR_REDACT_HEADERS", "X-Internal", 1);
    setenv("CRUDDUR_REDACT_QUERY", "pin", 1);
    r = redact_from_env();
    ck_assert(redact_header_is_secret(r, "x-internal"));
    ck_assert(redact_param_is_secret(r, "PIN", 3));
    ck_assert(!redact_param_is_secret(r, "name", 4));
    redact_free(r);
    unsetenv("CRUDDUR_REDACT_HEADERS");
    unsetenv("CRUDDUR_REDACT_QUERY");
    redact_free(NULL);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("redact");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, default_headers);
    tcase_add_test(tc, query_table);
    tcase_add_test(tc, url_table);
    tcase_add_test(tc, configured_lists);
    suite_add_tcase(s, tc);
    return s;
}
