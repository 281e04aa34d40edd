/* Unit tests for util/tstamp. Expected values come from Python's datetime. */
#include <stdint.h>
#include <string.h>

#include "check_main.h"
#include "util/tstamp.h"

static const struct {
    int64_t us;
    const char *iso;
} known[] = {
    {0, "1970-01-01T00:00:00.000000+00:00"},
    {1, "1970-01-01T00:00:00.000001+00:00"},
    {-1, "1969-12-31T23:59:59.999999+00:00"},
    {-1000000, "1969-12-31T23:59:59.000000+00:00"},
    {-1000001, "1969-12-31T23:59:58.999999+00:00"},
    {1678096555982931LL, "2023-03-06T09:55:55.982931+00:00"},
    {1709208000000000LL, "2024-02-29T12:00:00.000000+00:00"},
    {951868799500000LL, "2000-02-29T23:59:59.500000+00:00"},
    {-2203891200000000LL, "1900-03-01T00:00:00.000000+00:00"},
    {-14182940000000LL, "1969-07-20T20:17:40.000000+00:00"},
    {-11670976371999999LL, "1600-02-29T06:07:08.000001+00:00"},
    {-62135596800000000LL, "0001-01-01T00:00:00.000000+00:00"},
    {253402300799999999LL, "9999-12-31T23:59:59.999999+00:00"},
};

START_TEST(test_format_known)
{
    char out[TSTAMP_ISO_SIZE];
    memset(out, 'x', sizeof out);
    ck_assert_int_eq(tstamp_iso8601(known[_i].us, out), 0);
    ck_assert_str_eq(out, known[_i].iso);
    ck_assert_uint_eq(strlen(out), TSTAMP_ISO_SIZE - 1);
}
END_TEST

START_TEST(test_parse_known)
{
    int64_t us = 42;
    ck_assert_int_eq(tstamp_parse_iso8601(known[_i].iso, &us), 0);
    ck_assert_int_eq(us, known[_i].us);
}
END_TEST

START_TEST(test_format_out_of_range)
{
    char out[TSTAMP_ISO_SIZE];
    ck_assert_int_eq(tstamp_iso8601(-62135596800000001LL, out), -1);
    ck_assert_int_eq(tstamp_iso8601(253402300800000000LL, out), -1);
    ck_assert_int_eq(tstamp_iso8601(INT64_MIN, out), -1);
    ck_assert_int_eq(tstamp_iso8601(INT64_MAX, out), -1);
}
END_TEST

START_TEST(test_parse_variants)
{
    int64_t us;
    ck_assert_int_eq(tstamp_parse_iso8601("2023-03-06T09:55:55Z", &us), 0);
    ck_assert_int_eq(us, 1678096555000000LL);
    ck_assert_int_eq(tstamp_parse_iso8601("2023-03-06T09:55:55+00:00", &us), 0);
    ck_assert_int_eq(us, 1678096555000000LL);
    ck_assert_int_eq(tstamp_parse_iso8601("2023-03-06T09:55:55.9Z", &us), 0);
    ck_assert_int_eq(us, 1678096555900000LL);
    ck_assert_int_eq(tstamp_parse_iso8601("2023-03-06T09:55:55.98293+00:00", &us), 0);
    ck_assert_int_eq(us, 1678096555982930LL);
}
END_TEST

static const char *const bad[] = {
    "",
    "2023",
    "2023-03-06",
    "2023-03-06T09:55:55",              /* no offset */
    "2023-03-06T09:55:55.+00:00",       /* empty fraction */
    "2023-03-06T09:55:55.1234567+00:00", /* 7 digits */
    "2023-03-06T09:55:55+01:00",        /* not UTC */
    "2023-03-06T09:55:55-00:00",
    "2023-03-06T09:55:55+00:00 ",
    "2023-03-06T09:55:55z",
    "2023-03-06 09:55:55Z",
    "2023-13-06T09:55:55Z",
    "2023-00-06T09:55:55Z",
    "2023-03-00T09:55:55Z",
    "2023-02-29T09:55:55Z",             /* not a leap year */
    "1900-02-29T00:00:00Z",
    "2023-04-31T00:00:00Z",
    "2023-03-06T24:00:00Z",
    "2023-03-06T23:60:00Z",
    "2023-03-06T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "+2023-03-06T09:55:55Z",
    "2023-3-06T09:55:55Z",
    "2023-03-06T09:55:5aZ",
};

START_TEST(test_parse_bad)
{
    int64_t us = 7;
    ck_assert_msg(tstamp_parse_iso8601(bad[_i], &us) == -1, "accepted \"%s\"", bad[_i]);
    ck_assert_int_eq(us, 7);
}
END_TEST

START_TEST(test_parse_null)
{
    int64_t us = 7;
    ck_assert_int_eq(tstamp_parse_iso8601(NULL, &us), -1);
}
END_TEST

START_TEST(test_round_trip)
{
    /* A spread of instants on both sides of 1970, every day for 800 years. */
    char out[TSTAMP_ISO_SIZE];
    for (int64_t us = -62135596800000000LL; us < 253402300799999999LL;
         us += 86400000000LL * 365 + 12345678901LL) {
        int64_t back;
        ck_assert_int_eq(tstamp_iso8601(us, out), 0);
        ck_assert_int_eq(tstamp_parse_iso8601(out, &back), 0);
        ck_assert_int_eq(back, us);
    }
}
END_TEST

START_TEST(test_clocks)
{
    int64_t us = tstamp_now_us();
    int64_t ns = tstamp_now_ns();
    /* After 2020-01-01 and consistent with each other. */
    ck_assert_int_gt(us, 1577836800000000LL);
    ck_assert_int_ge(ns / 1000, us);
    ck_assert_int_lt(ns / 1000 - us, 10000000);
    int64_t m1 = tstamp_mono_ns();
    int64_t m2 = tstamp_mono_ns();
    ck_assert_int_gt(m1, 0);
    ck_assert_int_ge(m2, m1);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("tstamp");
    TCase *tc = tcase_create("core");
    int nknown = (int)(sizeof known / sizeof known[0]);
    tcase_add_loop_test(tc, test_format_known, 0, nknown);
    tcase_add_loop_test(tc, test_parse_known, 0, nknown);
    tcase_add_test(tc, test_format_out_of_range);
    tcase_add_test(tc, test_parse_variants);
    tcase_add_loop_test(tc, test_parse_bad, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_parse_null);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_clocks);
    suite_add_tcase(s, tc);
    return s;
}
