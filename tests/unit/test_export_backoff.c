/* Unit tests for backoff: the full-jitter bounds, and the parsing of the
 * waits services ask for (Retry-After as seconds or an HTTP-date). */
#include <stdint.h>

#include "check_main.h"
#include "export/backoff.h"

START_TEST(delay_stays_within_the_ceiling)
{
    /* ceiling for n failures: min(cap, base * 2^(n-1)) */
    static const int64_t ceiling[] = { 0, 1000, 2000, 4000, 8000, 16000, 32000, 64000,
                                       128000, 256000, 300000, 300000 };
    for (int64_t n = 1; n <= 11; n++) {
        int64_t lo = INT64_MAX, hi = 0;
        for (uint64_t r = 0; r < 5000; r++) {
            int64_t d = backoff_delay_ms(n, r * 2654435761u);
            ck_assert_int_ge(d, BACKOFF_FLOOR_MS);
            ck_assert_int_le(d, ceiling[n]);
            if (d < lo)
                lo = d;
            if (d > hi)
                hi = d;
        }
        /* full jitter: the draws cover the range, not just its top */
        ck_assert_int_eq(lo, BACKOFF_FLOOR_MS);
        ck_assert_int_gt(hi, ceiling[n] * 9 / 10);
    }
    ck_assert_int_le(backoff_delay_ms(1000000, UINT64_MAX), BACKOFF_CAP_MS);
    ck_assert_int_le(backoff_delay_ms(0, 999), 1000);
}
END_TEST

START_TEST(delay_is_exact_for_a_given_random)
{
    ck_assert_int_eq(backoff_delay_ms(1, 500), 500);
    ck_assert_int_eq(backoff_delay_ms(1, 1000), 1000);
    ck_assert_int_eq(backoff_delay_ms(1, 1001), 100);  /* 1001 % 1001 = 0 -> floor */
    ck_assert_int_eq(backoff_delay_ms(3, 4000), 4000);
    ck_assert_int_eq(backoff_delay_ms(3, 4001), 100);
}
END_TEST

START_TEST(retry_after_seconds)
{
    ck_assert_int_eq(backoff_parse_retry_after("0", 0), 0);
    ck_assert_int_eq(backoff_parse_retry_after("1", 0), 1000);
    ck_assert_int_eq(backoff_parse_retry_after(" 120 ", 0), 120000);
    ck_assert_int_eq(backoff_parse_retry_after("999999", 0), BACKOFF_MAX_ASKED_MS);
    ck_assert_int_eq(backoff_parse_retry_after("", 0), -1);
    ck_assert_int_eq(backoff_parse_retry_after("-5", 0), -1);
    ck_assert_int_eq(backoff_parse_retry_after("1.5", 0), -1);
    ck_assert_int_eq(backoff_parse_retry_after("soon", 0), -1);
    ck_assert_int_eq(backoff_parse_retry_after(NULL, 0), -1);
    ck_assert_int_eq(backoff_parse_retry_after("99999999999999999999999", 0), -1);
}
END_TEST

START_TEST(retry_after_http_date)
{
    /* Wed, 21 Oct 2015 07:28:00 GMT = 1445412480 */
    int64_t t = 1445412480;
    ck_assert_int_eq(backoff_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", t - 30), 30000);
    ck_assert_int_eq(backoff_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", t + 30), 0);
    ck_assert_int_eq(backoff_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 2), 2000);
    ck_assert_int_eq(backoff_parse_retry_after("Thu, 29 Feb 2024 00:00:00 GMT", 1709164800 - 1), 1000);
    ck_assert_int_eq(backoff_parse_retry_after("Wed, 21 Oct 2015 07:28:00 UTC", 0), -1);
    ck_assert_int_eq(backoff_parse_retry_after("Wed, 21 Foo 2015 07:28:00 GMT", 0), -1);
    ck_assert_int_eq(backoff_parse_retry_after("Wed, 32 Oct 2015 07:28:00 GMT", 0), -1);
    ck_assert_int_eq(backoff_parse_retry_after("Wed 21 Oct 2015", 0), -1);
}
END_TEST

START_TEST(uint_values)
{
    ck_assert_int_eq(backoff_parse_uint("0"), 0);
    ck_assert_int_eq(backoff_parse_uint("42\r\n"), 42);
    ck_assert_int_eq(backoff_parse_uint("\t7"), 7);
    ck_assert_int_eq(backoff_parse_uint("4 2"), -1);
    ck_assert_int_eq(backoff_parse_uint("x"), -1);
    ck_assert_int_eq(backoff_parse_uint(""), -1);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("export_backoff");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, delay_stays_within_the_ceiling);
    tcase_add_test(tc, delay_is_exact_for_a_given_random);
    tcase_add_test(tc, retry_after_seconds);
    tcase_add_test(tc, retry_after_http_date);
    tcase_add_test(tc, uint_values);
    suite_add_tcase(s, tc);
    return s;
}
